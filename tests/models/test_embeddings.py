import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_minilm_gives_normalised_vectors_in_input_order():
    from emotune.models.embeddings import encode

    texts = ["I am so happy today!", "Furious. Absolutely furious at them.", "What a joyful, happy day", "ok"]
    emb = encode(texts, progress=False, batch_size=2)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sims = emb @ emb.T
    assert sims[0, 2] > sims[0, 1]  # the two happy sentences are closest
    # order is preserved despite length-sorted batching
    np.testing.assert_allclose(encode(texts[::-1], progress=False), emb[::-1], atol=1e-5)
    assert encode([], progress=False).shape == (0, 384)


def test_disk_cache_round_trip(tmp_path, monkeypatch):
    from emotune.models import embeddings

    monkeypatch.setenv("EMOTUNE_CACHE_DIR", str(tmp_path))
    texts = ["first text", "second text"]
    a = embeddings.encode(texts, progress=False, cache=True, normalize=False)
    files = list((tmp_path / "embeddings").glob("*.npy"))
    assert len(files) == 1
    b = embeddings.encode(texts, progress=False, cache=True, normalize=False)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(np.linalg.norm(a, axis=1), 1.0)
