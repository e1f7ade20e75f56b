"""The contract of explain_texts, shared with the API and the page."""

import numpy as np
import pytest

from emotune.data.labels import LabelSet, Task
from emotune.explain import ExplainError, explain_texts, resolve_method, supported_methods
from emotune.models.inputs import InputSpec, TextPrefix
from emotune.models.lexicon import LexiconClassifier
from emotune.models.tfidf import TfidfClassifier
from emotune.runs import Run
from tests.fixtures.toy import templated, templated_neighbours


def test_an_explanation_covers_every_word_in_order(tfidf_run):
    clf = Run.open(tfidf_run).load()
    text = "  We won the match,   what a wonderful day! "
    [e] = explain_texts(clf, [text])
    d = e.to_dict()
    assert set(d) == {"text", "label", "probability", "method", "words"}
    assert d["text"] == "We won the match, what a wonderful day!"  # cleaned as predict cleans it
    assert [w["word"] for w in d["words"]] == ["We", "won", "the", "match", "what", "a", "wonderful", "day"]
    assert all(d["text"][w["start"]:w["end"]] == w["word"] for w in d["words"])
    assert d["label"] == clf.predict([text])[0] and d["method"] == "linear"
    j = list(clf.label_set.names).index(d["label"])
    assert d["probability"] == pytest.approx(clf.predict_proba([text])[0, j], abs=1e-6)


def test_a_given_label_is_explained_and_bad_options_name_their_field(tfidf_run):
    clf = Run.open(tfidf_run).load()
    [e] = explain_texts(clf, ["We won the match"], label="fear")
    assert e.label == "fear"
    with pytest.raises(ExplainError) as bad_label:
        explain_texts(clf, ["x"], label="hunger")
    assert bad_label.value.field == "label" and "fear" in bad_label.value.hint
    with pytest.raises(ExplainError) as bad_method:
        explain_texts(clf, ["x"], method="integrated-gradients")
    assert bad_method.value.field == "method" and "linear" in bad_method.value.hint
    with pytest.raises(ExplainError):
        resolve_method(clf, "shap")


def test_auto_picks_the_faithful_method_each_backend_supports(tfidf_run, tiny_encoder_run):
    ds = templated_neighbours()
    assert supported_methods(Run.open(tfidf_run).load()) == ["linear", "occlusion"]
    assert supported_methods(LexiconClassifier(ds.label_set)) == ["linear", "occlusion"]
    assert supported_methods(Run.open(tiny_encoder_run).load()) == ["integrated-gradients", "occlusion"]


def test_multi_label_and_regression_explain_the_labels_output(multi_run):
    multi = Run.open(multi_run).load()
    [e] = explain_texts(multi, ["We won the match and I was afraid"], label="fear")
    assert e.probability == pytest.approx(multi.predict_proba(["We won the match and I was afraid"])[0, 3], abs=1e-6)
    data = templated("regression")
    reg = TfidfClassifier(data.label_set)
    reg.fit(data)
    [r] = explain_texts(reg, ["what a wonderful day"], label="arousal")
    assert r.label == "arousal"
    assert r.probability == pytest.approx(reg.predict_proba(["what a wonderful day"])[0, 1], abs=1e-6)


def test_prefixed_runs_are_explained_on_the_text_words_only():
    data = templated("regression")
    one = LabelSet(("intensity",), Task.REGRESSION, "toy")
    texts = [f"{e}: {t}" for e, t in zip(["anger", "joy"] * len(data.texts), data.texts)]
    from emotune.data.dataset import EmotionDataset

    ds = EmotionDataset.from_texts(texts, [[v] for v in data.y()[:, 0]], one)
    clf = TfidfClassifier(one)
    clf.fit(ds)
    clf.input_spec = InputSpec(text_prefix=TextPrefix(column="emotion", values=("anger", "joy")))
    view = clf.view()
    [e] = explain_texts(view, ["what a wonderful day"], label="joy")
    assert [w["word"] for w in e.words] == ["what", "a", "wonderful", "day"]  # not "joy"
    assert e.probability == pytest.approx(clf.predict_proba(["joy: what a wonderful day"])[0, 0], abs=1e-6)
    [o] = explain_texts(view, ["what a wonderful day"], label="joy", method="occlusion")
    assert np.isfinite([w["score"] for w in o.words]).all()


def test_empty_input_and_texts_without_words():
    ds = templated_neighbours()
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    assert explain_texts(clf, []) == []
    [e] = explain_texts(clf, ["!!!"], method="occlusion")
    assert e.words == []
