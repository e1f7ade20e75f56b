"""The seq2seq backend on a tiny random T5: training, constrained prediction, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError, ModelError
from emotune.models.registry import backend_class
from emotune.models.seq2seq import Seq2SeqClassifier
from emotune.config import Seq2SeqModelConfig, TrainingConfig
from tests.fixtures.toy import toy_texts
from tests.tiny_models import build_tiny

LABELS = LabelSet(("joy", "sadness", "anger", "fear"), name="toy-4")


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory):
    return str(build_tiny("t5", tmp_path_factory.mktemp("t5")))


def _clf(t5_dir, label_set=LABELS, **training) -> Seq2SeqClassifier:
    training = {"epochs": 1, "batch_size": 8, "learning_rate": 3e-3, "logging_steps": 5, **training}
    return Seq2SeqClassifier(label_set, Seq2SeqModelConfig(name=t5_dir), TrainingConfig(**training))


def _toy(label_set=LABELS):
    texts, ys = toy_texts(10)  # 40 texts, 10 per label
    train = EmotionDataset.from_texts(texts, ys, label_set, split="train")
    dev = EmotionDataset.from_texts(texts[1::4], ys[1::4], label_set, split="dev")
    return train, dev


def test_registered():
    assert backend_class("seq2seq") is Seq2SeqClassifier


def test_train_predict_save_load(t5_dir, tmp_path):
    train, dev = _toy()
    clf = _clf(t5_dir)
    history = clf.fit(train, dev, output_dir=tmp_path / "ckpt")
    assert [row["epoch"] for row in history] == [1]
    assert {"train_loss", "dev_f1_macro", "dev_loss"} <= set(history[0])
    assert not list((tmp_path / "ckpt").glob("**/checkpoint-*"))  # removed after a successful run

    proba = clf.predict_proba(train.texts)
    assert proba.shape == (40, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    preds = clf.predict(train.texts + ["something never seen, with unknown words: zyxw!"])
    assert set(preds) <= set(LABELS.names)  # constrained: always a valid label

    clf.save_pretrained(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "emotune_model.json").read_text())
    assert meta["backend"] == "seq2seq" and meta["seq2seq"]["targets"] == list(LABELS.names)
    assert (tmp_path / "model" / "model.safetensors").is_file()  # reload: tests/models/test_conformance.py


def test_training_lowers_the_loss(t5_dir):
    train, _ = _toy()
    clf = _clf(t5_dir, epochs=2, batch_size=8, learning_rate=1e-2, class_weights=False, warmup_ratio=0)
    history = clf.fit(train)
    losses = [row["train_loss"] for row in history]
    assert len(losses) == 2 and losses[-1] < losses[0]


def test_multi_label(t5_dir, tmp_path):
    ls = LabelSet(("joy", "sadness", "anger"), task=Task.MULTI, name="toy-multi")
    texts, ys = toy_texts(6, labels=("joy", "sadness", "anger"))
    labels = [[y] for y in ys]
    labels[0] = ["joy", "anger"]
    labels[1] = []  # no emotion: trained on the "none" target
    train = EmotionDataset.from_texts(texts, labels, ls)
    clf = _clf(t5_dir, label_set=ls)
    assert clf.targets == ["joy", "sadness", "anger", "none"]
    clf.fit(train, train.subset(range(0, 18, 3)))
    proba = clf.predict_proba(texts)
    assert proba.shape == (18, 3)
    assert ((proba > 0) & (proba <= 1)).all()
    preds = clf.predict(texts)
    assert all(set(p) <= set(ls.names) for p in preds)  # save -> load: tests/models/test_conformance.py


def test_resume_after_interruption(t5_dir, tmp_path, monkeypatch):
    """A run stopped after epoch 1's checkpoint continues from it with ``resume=True``."""
    train, dev = _toy()
    calls = {"n": 0}
    real = Seq2SeqClassifier._dev_scorer

    def failing_scorer(self, dev_set):
        score = real(self, dev_set)

        def wrapped(model):
            calls["n"] += 1
            if calls["n"] == 2:
                raise KeyboardInterrupt("simulated interruption in epoch 2")
            return score(model)

        return wrapped

    monkeypatch.setattr(Seq2SeqClassifier, "_dev_scorer", failing_scorer)
    with pytest.raises(KeyboardInterrupt):
        _clf(t5_dir, epochs=2).fit(train, dev, output_dir=tmp_path)
    assert list(tmp_path.glob("**/checkpoint-*"))  # kept for resuming
    monkeypatch.setattr(Seq2SeqClassifier, "_dev_scorer", real)
    history = _clf(t5_dir, epochs=2).fit(train, dev, output_dir=tmp_path, resume=True)
    assert [row["epoch"] for row in history] == [1, 2]  # epoch 1 comes from the checkpoint's log


def test_rejects_regression_and_bad_template(t5_dir):
    with pytest.raises(ModelError, match="regression"):
        Seq2SeqClassifier(LabelSet(("valence",), task=Task.REGRESSION))
    with pytest.raises(ConfigError, match="text"):
        Seq2SeqClassifier(LABELS, Seq2SeqModelConfig(input_template="Classify emotion:"))


def test_predict_before_fit(t5_dir):
    with pytest.raises(ModelError, match="not been trained"):
        _clf(t5_dir).predict(["hello"])
