import numpy as np
import pytest

from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.lexicon import CATEGORIES, LexiconClassifier, category_counts, default_mapping
from tests.fixtures import toy

pytest.importorskip("nrclex")


def test_counts_lexicon_words_with_inflections_and_negation():
    counts = category_counts(["I was scared and furious", "The table is square", "I was not afraid",
                              "Such wonderful days"])
    col = {c: j for j, c in enumerate(CATEGORIES)}
    assert counts[0, col["fear"]] >= 1 and counts[0, col["anger"]] >= 1
    assert counts[2, col["fear"]] == 0  # "not afraid" is skipped
    assert counts[3, col["joy"]] >= 1
    assert counts[0, col["fear"]] >= 1  # "scared" found as "scare"
    assert counts[1, col["none"]] == 1  # no emotion word at all


@pytest.mark.parametrize("task", ["single", "multi"])
def test_predicts_from_the_lexicon(task):  # save -> load: tests/models/test_conformance.py
    data = toy.prepared(task)
    clf = LexiconClassifier(data.label_set)
    history = clf.fit(data.train, data.dev)
    assert history[0]["trained"] is False
    scores = clf.predict_proba(data.test.texts)
    if task == "single":
        np.testing.assert_allclose(scores.sum(axis=1), 1.0)
        pred = np.array(clf.predict(["I was so happy and delighted", "I was terrified of the danger"]))
        assert list(pred) == ["joy", "fear"]
        assert history[0]["dev_f1_macro"] > 0.4
        assert clf.predict(["I felt deeply ashamed"]) == ["shame"]  # the label's own name counts
    else:
        assert ((scores >= 0) & (scores <= 1)).all()


def test_unmapped_labels_live_on_the_prior():
    clf = LexiconClassifier(toy.ISEAR)
    assert set(clf.unmapped) == {"shame", "guilt"}
    p = clf.predict_proba(["nothing to see here at all"])[0]
    np.testing.assert_allclose(p, np.full(7, 1 / 7))  # no evidence: the (uniform) prior


def test_known_taxonomies_map():
    for names in [("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"),  # Ekman / MELD
                  ("sadness", "joy", "love", "anger", "fear", "surprise"),  # dair-emotion
                  ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness",
                   "surprise", "trust")]:  # SemEval E-c
        assert set(default_mapping(LabelSet(names))) == set(names)


def test_no_mappable_label_is_an_error_naming_them():
    with pytest.raises(ModelError, match="positive_sentiment, negative_sentiment"):
        LexiconClassifier(LabelSet(("positive_sentiment", "negative_sentiment"), Task.SINGLE))
    with pytest.raises(ModelError, match="regression"):
        LexiconClassifier(LabelSet(("valence",), Task.REGRESSION))
