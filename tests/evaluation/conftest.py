import pytest

from emotune.training.config import RunConfig
from emotune.training.trainer import train
from tests.evaluation.fake_runs import CONFIGS


@pytest.fixture(scope="session")
def isear_tfidf_run(tmp_path_factory):
    """A real (small) ISEAR TF-IDF run: 300 train rows, 100 dev/test rows, a few seconds."""
    run = tmp_path_factory.mktemp("runs") / "isear-tfidf-small"
    cfg = RunConfig.load(CONFIGS / "isear-tfidf.yaml", ["data.max_train=300", "data.max_eval=100",
                                                        "model.max_features=20000", "name=isear-tfidf-small"])
    train(cfg, run, progress=False)
    return run
