import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Shared fixtures (small real runs, a live server, toy datasets), visible to every test folder.
from tests.fixtures.evaluation import *  # noqa: E402,F401,F403
from tests.fixtures.serving import *  # noqa: E402,F401,F403
from tests.fixtures.training import *  # noqa: E402,F401,F403
