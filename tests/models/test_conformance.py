"""Every registered backend keeps the classifier protocol (models/base.py), checked the same way.

Fit on toy data, predict shapes and ranges, ``decide`` / top-k consistent with the scores, and
save -> load -> identical predictions with safe files only. A new backend in models/registry.py
needs one entry in ``SETUPS`` below (the test says so); its own test file keeps what is specific
to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from emotune.config import (CausalLMModelConfig, EmbedHeadModelConfig, EncoderModelConfig, EnsembleModelConfig,
                            PromptModelConfig, RunConfig, Seq2SeqModelConfig, TfidfModelConfig, TrainingConfig)
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import Task
from emotune.models.base import MODEL_META, EmotionClassifier, load_classifier
from emotune.models.registry import BACKENDS, backend_class
from tests.fixtures import toy
from tests.fixtures.toy import templated as toy_dataset
from tests.tiny_models import build_tiny

# one thread and tiny steps: tiny matrices run fastest without OpenMP contention
FAST = dict(epochs=1, batch_size=8, eval_batch_size=16, learning_rate=5e-3, warmup_ratio=0.0, max_length=32,
            threads=1, logging_steps=5, early_stopping_patience=0)


@dataclass
class Case:
    clf: EmotionClassifier
    train: EmotionDataset
    dev: EmotionDataset | None
    texts: list[str]


def _hf_data(task: str = "single"):
    data = toy_dataset({"single": "single_label", "multi": "multi_label", "regression": "regression"}[task])
    return data, data.subset(range(0, len(data), 4))


def _tfidf(tmp, monkeypatch, task):
    data = toy.prepared(task)
    return Case(backend_class("tfidf")(data.label_set, TfidfModelConfig()), data.train, data.dev,
                data.test.texts)


def _lexicon(tmp, monkeypatch, task):
    data = toy.prepared(task)
    return Case(backend_class("lexicon")(data.label_set), data.train, data.dev, data.test.texts)


def _embed_head(head):
    def setup(tmp, monkeypatch, task):
        from emotune.models import embeddings
        from tests.models.test_embed_head import _fake_encode

        monkeypatch.setattr(embeddings, "encode", _fake_encode)
        data = toy.prepared(task)
        clf = backend_class("embed-head")(data.label_set, EmbedHeadModelConfig(head=head, head_hidden=16),
                                          TrainingConfig(epochs=3, batch_size=16, head_learning_rate=1e-2))
        return Case(clf, data.train, data.dev, data.test.texts)

    return setup


def _encoder(tmp, monkeypatch, task):
    data, dev = _hf_data(task)
    model = build_tiny("bert", tmp / "bert")
    clf = backend_class("encoder")(data.label_set, EncoderModelConfig(name=str(model)),
                                   TrainingConfig(**FAST))
    return Case(clf, data, dev, data.texts[:10])


def _causal_lm(tmp, monkeypatch, task):
    data, dev = _hf_data(task)
    model = build_tiny("llama", tmp / "llama")
    clf = backend_class("causal-lm")(data.label_set, CausalLMModelConfig(name=str(model)),
                                     TrainingConfig(**{**FAST, "max_steps": 3}))
    return Case(clf, data, dev, data.texts[:10])


def _seq2seq(tmp, monkeypatch, task):
    data, dev = _hf_data(task)
    model = build_tiny("t5", tmp / "t5")
    clf = backend_class("seq2seq")(data.label_set, Seq2SeqModelConfig(name=str(model)),
                                   TrainingConfig(**{**FAST, "learning_rate": 3e-3}))
    return Case(clf, data, dev, data.texts[:10])


def _prompt(tmp, monkeypatch, task):
    from emotune.config import PromptConfig

    data, _ = _hf_data(task)
    model = build_tiny("llama", tmp / "llama")
    clf = backend_class("prompt")(data.label_set, PromptModelConfig(name=str(model), prompt=PromptConfig(
        system="", instruction="Emotion ({labels})?")), TrainingConfig(seed=42))
    return Case(clf, data, None, data.texts[:10])


def _ensemble(tmp, monkeypatch, task):
    from emotune.training.trainer import train

    data = toy.prepared(task)
    runs = [train(RunConfig(name=name, output_dir=str(tmp), model=model), data=data, progress=False).run_dir
            for name, model in (("tfidf", {"backend": "tfidf"}), ("lexicon", {"backend": "lexicon"}))]
    clf = backend_class("ensemble")(data.label_set, EnsembleModelConfig(members=[str(p) for p in runs]))
    return Case(clf, data.train, data.dev, data.test.texts)


def _instruct(tmp, monkeypatch, task):
    from tests.models.test_instruct import ec_data, make

    clf = make(build_tiny("llama", tmp / "llama"), epochs=1, max_steps=1)
    return Case(clf, ec_data(), ec_data(split="dev").subset(range(4)), ["I am so happy today", "They cheated again"])


ALL = ("single", "multi", "regression")
# backend -> {variant: (setup, tasks)}: every task the backend supports, on data small enough for CI
SETUPS = {
    "tfidf": {"": (_tfidf, ALL)},
    "lexicon": {"": (_lexicon, ("single", "multi"))},
    "embed-head": {"logreg": (_embed_head("logreg"), ALL), "mlp": (_embed_head("mlp"), ALL)},
    "encoder": {"": (_encoder, ALL)},
    "causal-lm": {"": (_causal_lm, ("single",))},
    "seq2seq": {"": (_seq2seq, ("single", "multi"))},
    "prompt": {"": (_prompt, ("single",))},
    "ensemble": {"": (_ensemble, ("single", "multi"))},
    "instruct": {"ec": (_instruct, ("multi",))},
}
CASES = [pytest.param(backend, variant, task, id="-".join(x for x in (backend, variant, task) if x))
         for backend, variants in SETUPS.items() for variant, (_, tasks) in variants.items() for task in tasks]


def test_every_registered_backend_has_a_conformance_setup():
    assert set(SETUPS) == set(BACKENDS)


@pytest.mark.parametrize(("backend", "variant", "task"), CASES)
def test_backend_keeps_the_protocol(backend, variant, task, tmp_path, monkeypatch):
    setup, _ = SETUPS[backend][variant]
    case = setup(tmp_path, monkeypatch, task)
    clf, texts = case.clf, case.texts
    assert clf.backend == backend and isinstance(clf, backend_class(backend))
    history = clf.fit(case.train, case.dev)
    assert isinstance(history, list) and all(isinstance(row, dict) for row in history)

    names, k, n = clf.label_set.names, len(clf.label_set), len(texts)
    proba = clf.predict_proba(texts)
    assert proba.shape == (n, k) and np.isfinite(proba).all()
    if clf.task != Task.REGRESSION:
        assert ((proba >= 0) & (proba <= 1)).all()
    if clf.task == Task.SINGLE:
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)

    # decide / predict / top-k agree with the scores
    decided = clf.decide(proba)
    assert len(decided) == n and _same(clf.predict(texts), decided)
    top = clf.predict_top_k(texts, k=2)
    assert len(top) == n
    for row, pairs, label in zip(proba, top, decided):
        assert len(pairs) == min(2, k) and all(name in names for name, _ in pairs)
        scores = [s for _, s in pairs]
        if clf.task != Task.REGRESSION:
            assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(float(row.max()))
        if clf.task == Task.SINGLE:
            assert pairs[0][0] == label
        if clf.task == Task.REGRESSION:  # every target in its own order, not ranked
            assert [name for name, _ in pairs] == list(names[:2])
    assert [len(p) for p in clf.predict_top_k(texts[:1])] == [k]

    # the protocol's defaults: values always valid unless the backend generates them
    if clf.task == Task.REGRESSION:
        values, valid = clf.predict_values(texts)
        assert values.shape == (n, k) and valid.shape == (n,)

    # save -> load -> the same predictions, from safe files only
    path = clf.save_pretrained(tmp_path / "saved")
    assert (path / MODEL_META).is_file()
    assert not [p.name for p in path.rglob("*") if p.suffix in (".bin", ".pt", ".pkl", ".pickle", ".joblib")]
    again = load_classifier(path)
    assert type(again) is type(clf) and again.label_set == clf.label_set
    np.testing.assert_allclose(again.predict_proba(texts), proba, rtol=0, atol=1e-6)
    assert _same(again.predict(texts), decided)


def _same(a: list, b: list) -> bool:
    """Decisions are names, lists of names or value arrays (regression)."""
    return all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b, strict=True))
