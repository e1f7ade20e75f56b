"""Deleting the top-attributed words lowers the explained label more than deleting random ones."""

import numpy as np
import pytest

from emotune.explain import explain_texts
from emotune.explain.faithfulness import aopc, deletion_curve, top_words
from emotune.models.tfidf import TfidfClassifier
from tests.fixtures.toy import templated_neighbours, toy_texts


@pytest.fixture(scope="module")
def toy_tfidf():
    ds = templated_neighbours(12)
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    return clf


@pytest.mark.parametrize("method", ["linear", "occlusion"])
def test_top_words_beat_random_words(toy_tfidf, method):
    texts, _ = toy_texts(3)  # a small sample
    explanations = explain_texts(toy_tfidf, texts, method=method)
    top = deletion_curve(toy_tfidf, explanations, 5, order="top")
    rand = np.mean([deletion_curve(toy_tfidf, explanations, 5, order="random", seed=s) for s in range(3)], axis=0)
    assert len(top) == 5
    assert aopc(top) > aopc(rand) > aopc([0.0])
    assert top[0] > rand[0]


def test_top_words_are_ranked_by_score():
    class E:
        words = [{"score": 0.1}, {"score": -1.0}, {"score": 0.5}, {"score": 0.5}]

    assert top_words(E, 3) == [2, 3, 0]


def test_aopc_is_the_mean_drop():
    assert aopc([0.1, 0.2, 0.3]) == pytest.approx(0.2)
