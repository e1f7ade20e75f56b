"""Exact contributions: the word scores add up to the model's own score."""

import numpy as np
import pytest

from emotune.data.labels import Task
from emotune.explain import explain_texts
from emotune.explain.linear import lexicon_evidence, tfidf_contributions
from emotune.explain.words import words_of
from emotune.models.lexicon import NAME_WEIGHT, LexiconClassifier, category_counts, name_counts
from emotune.models.tfidf import TfidfClassifier
from tests.fixtures.toy import templated, templated_neighbours

TEXTS = ["I am so happy today, great news!", "don't  be ANGRY at me!!! ... ok", "Terrified: a dog chased me"]


def _fit(task):
    ds = templated(task) if task == "regression" else templated_neighbours(task=task)
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    return clf


def _score(clf, text: str, col: int) -> float:
    X = clf.features.transform([text])
    if clf.task == Task.MULTI:
        est = clf.estimators[col]
        return float(est.decision_function(X)[0])
    est = clf.estimators[0]
    if clf.task == Task.REGRESSION:
        return float(est.predict(X)[0, col])
    z = np.asarray(X @ est.coef_.T + est.intercept_)[0]
    return float(z[col] - z.mean())


@pytest.mark.parametrize("task", [Task.SINGLE, Task.MULTI, "regression"])
def test_tfidf_word_scores_add_up_to_the_models_score(task):
    clf = _fit(task)
    for text in TEXTS:
        words = words_of(text)
        for col in range(len(clf.label_set)):
            scores, rest, bias = tfidf_contributions(clf, text, words, col)
            assert scores.sum() + rest + bias == pytest.approx(_score(clf, text, col), abs=1e-9)


def test_tfidf_char_ngrams_of_punctuation_go_to_the_words_of_their_token():
    clf = _fit(Task.SINGLE)
    text = "happy!!! ..."
    scores, rest, _ = tfidf_contributions(clf, text, words_of(text), 0)
    assert len(scores) == 1 and scores[0] != 0
    # "..." has no word: whatever it contributes is the unattributed rest, and nothing else is
    assert rest == pytest.approx(tfidf_contributions(clf, "...", [], 0)[0].sum() + rest)


def test_tfidf_explanation_points_at_the_emotion_word():
    clf = _fit(Task.SINGLE)
    [e] = explain_texts(clf, ["We won the match, I am so happy"], label="joy")
    assert e.method == "linear" and e.label == "joy"
    best = max(e.words, key=lambda w: w["score"])
    assert best["word"] in {"won", "happy", "match"}


def test_lexicon_evidence_adds_up_to_the_models_raw_scores():
    ds = templated_neighbours()
    clf = LexiconClassifier(ds.label_set)
    clf.fit(ds)
    for text in [*TEXTS, "I am not happy, I am angry and sad", "so much anger and joy"]:
        words = words_of(text)
        evidence = lexicon_evidence(clf, text, words)
        raw = category_counts([text]) @ clf.weights + NAME_WEIGHT * name_counts([text], clf.label_set)
        # the lexicon's "none" category (no emotion word at all) belongs to no word
        none = category_counts([text])[0, -1] * clf.weights[-1]
        np.testing.assert_allclose(evidence.sum(axis=0) + none, raw[0], atol=1e-9)


def test_lexicon_scores_push_toward_and_away():
    ds = templated_neighbours()
    clf = LexiconClassifier(ds.label_set)
    clf.fit(ds)
    [e] = explain_texts(clf, ["I was happy but then angry"], label="joy")
    scores = {w["word"]: w["score"] for w in e.words}
    assert scores["happy"] > 0 > scores["angry"] and scores["was"] == 0
    [pos, neg] = explain_texts(clf, ["I was delighted", "I was not delighted"], label="joy")
    assert pos.words[-1]["score"] > 0
    assert neg.words[-1]["score"] == 0  # negated, as the model reads it
