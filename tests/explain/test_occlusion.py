"""Occlusion: the score of a word is what removing it costs the label."""

import shutil

import numpy as np
import pytest

from emotune.explain import explain_texts, supported_methods
from emotune.explain.occlusion import readable_chars
from emotune.explain.words import without_words, words_of
from emotune.runs import Run


def test_a_words_score_is_the_drop_when_it_is_removed(tfidf_run):
    clf = Run.open(tfidf_run).load()
    text = "We won the match, what a wonderful day."
    [e] = explain_texts(clf, [text], method="occlusion", label="joy")
    words = words_of(text)
    j = list(clf.label_set.names).index("joy")
    full = clf.predict_proba([text])[0, j]
    for i, w in enumerate(e.words):
        assert w["score"] == pytest.approx(full - clf.predict_proba([without_words(text, words, [i])])[0, j], abs=1e-6)


def test_words_past_the_models_length_limit_score_zero(tiny_encoder_run):
    clf = Run.open(tiny_encoder_run).load()  # reads 32 tokens
    text = " ".join(["happy"] * 10 + ["sad"] * 60)
    limit = readable_chars(clf, text)
    assert limit is not None and 0 < limit < len(text)
    [e] = explain_texts(clf, [text], method="occlusion")
    assert all(w["score"] == 0 for w in e.words if w["start"] >= limit)
    assert len(e.words) == 70


def test_onnx_models_are_explained_by_occlusion(tiny_encoder_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from emotune.export.onnx import export_onnx

    run = shutil.copytree(tiny_encoder_run, tmp_path / "run")
    export_onnx(run, check=False)
    clf = Run.open(run).load(onnx=True)
    assert supported_methods(clf) == ["occlusion"]
    [e] = explain_texts(clf, ["the dog barked and i was afraid"])
    torch_e = explain_texts(Run.open(run).load(), ["the dog barked and i was afraid"], method="occlusion")[0]
    np.testing.assert_allclose([w["score"] for w in e.words], [w["score"] for w in torch_e.words], atol=1e-3)
