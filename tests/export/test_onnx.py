"""ONNX export: the exported graphs predict what torch predicts."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from emotune.errors import ModelError  # noqa: E402
from emotune.export.onnx import export_onnx  # noqa: E402
from emotune.models.onnx import OnnxClassifier  # noqa: E402
from emotune.runs import Run  # noqa: E402
from emotune.inference.predict import predict_texts  # noqa: E402
from emotune.serving.registry import ModelRegistry  # noqa: E402
from tests.fixtures.toy import toy_texts  # noqa: E402

TEXTS = toy_texts(3)[0] + ["short", "I was happy and then furious and then scared. " * 20]


def _check_parity(run):
    result = export_onnx(run, int8=True)
    assert (run / "onnx" / "model.onnx").is_file() and (run / "onnx" / "model.int8.onnx").is_file()
    torch_scores = Run.open(run).load().predict_proba(TEXTS)
    fp32 = Run.open(run).load(onnx=True).predict_proba(TEXTS, batch_size=4)  # several padded batches
    int8 = Run.open(run).load(onnx=True, int8=True).predict_proba(TEXTS)
    assert np.allclose(fp32, torch_scores, atol=1e-5)
    assert (fp32.argmax(1) == torch_scores.argmax(1)).all()
    # int8 moves scores a little; the decision must hold wherever torch is not near a tie
    assert np.abs(int8 - torch_scores).max() < 0.05
    top2 = np.sort(torch_scores, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 0.05
    assert (int8.argmax(1) == torch_scores.argmax(1))[clear].all()
    assert result.max_abs_diff["fp32"] < 1e-5
    return torch_scores


def test_tiny_encoder_export_matches_torch(tiny_encoder_run):
    _check_parity(tiny_encoder_run)
    mode = (tiny_encoder_run / "model" / "emotune_model.json").stat().st_mode & 0o777
    files = [p for d in ("model", "onnx") for p in (tiny_encoder_run / d).rglob("*") if p.is_file()]
    assert {p.name: p.stat().st_mode & 0o777 for p in files} == {p.name: mode for p in files}  # weights too
    reg = ModelRegistry([tiny_encoder_run], onnx=True)
    clf = reg.get()
    assert isinstance(clf, OnnxClassifier) and reg.models[reg.default_id].backend == "onnx"
    long_text = TEXTS[-1]
    [pred] = predict_texts(clf, [long_text])
    assert pred.windows > 1  # max_length 32: windowed, not truncated


def test_non_encoder_runs_are_refused(tfidf_run):
    with pytest.raises(ModelError, match="encoder runs only"):
        export_onnx(tfidf_run)


@pytest.mark.slow
def test_minilm_export_matches_torch(minilm_run):
    _check_parity(minilm_run)


def test_a_batch_of_mixed_lengths_runs_as_batches_of_similar_length(tiny_encoder_run):
    """A server's micro-batch of short and long texts is cut where padding would cost more than PAD_SLACK (on a
    CPU a padded token costs what a real one does); the scores are those of each text alone."""
    from emotune.models.onnx import PAD_SLACK

    export_onnx(tiny_encoder_run, check=False)
    clf = Run.open(tiny_encoder_run).load(onnx=True)
    shapes, forward = [], clf._forward
    clf._forward = lambda feeds: (shapes.append(feeds["input_ids"].shape), forward(feeds))[1]
    texts = ["joy", "I was happy and then furious and then scared today", "fear", "so angry at him and at her too",
             "sad", "I was happy and then furious and then scared too"]
    got = clf.predict_proba(texts, batch_size=32)
    lengths = [len(ids) for ids in clf.tokenizer(texts, truncation=True, max_length=32)["input_ids"]]
    assert sum(n for n, _ in shapes) == len(texts) and len(shapes) > 1
    assert sum(n * length for n, length in shapes) <= (1 + PAD_SLACK) * sum(lengths)
    alone = np.concatenate([clf.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(got, alone, atol=1e-5)
