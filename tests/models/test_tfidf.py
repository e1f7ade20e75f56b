import numpy as np
import pytest

from emotune.errors import ModelError
from emotune.models.base import load_classifier
from emotune.models.registry import backend_class
from emotune.models.tfidf import TfidfClassifier
from emotune.config import TfidfModelConfig
from tests.fixtures import toy


@pytest.mark.parametrize("task", ["single", "multi", "regression"])
def test_fit_predict_and_safe_files(tmp_path, task):
    """save -> load -> identical predictions: tests/models/test_conformance.py."""
    data = toy.prepared(task)
    clf = backend_class("tfidf")(data.label_set, TfidfModelConfig())
    history = clf.fit(data.train, data.dev)
    assert history and history[0]["epoch"] == 1
    scores = clf.predict_proba(data.test.texts)
    assert scores.shape == (len(data.test), len(data.label_set))
    if task == "single":
        np.testing.assert_allclose(scores.sum(axis=1), 1.0)
        assert np.mean(np.array(clf.predict(data.test.texts)) == np.array(data.test.labels)) > 0.9

    clf.save_pretrained(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert files == {"emotune_model.json", "vocabulary.json", "tfidf.safetensors"}  # no pickles


def test_multi_label_constant_label_gets_its_prior(tmp_path):
    data = toy.prepared("multi")
    never = data.train.with_frame(data.train.frame.assign(
        labels=[tuple(lab for lab in labs if lab != "surprise") for labs in data.train.frame["labels"]]))
    clf = TfidfClassifier(data.label_set)
    clf.fit(never)
    j = data.label_set.index("surprise")
    assert np.all(clf.predict_proba(["so surprised"])[:, j] == 0.0)
    clf.save_pretrained(tmp_path / "m")
    np.testing.assert_allclose(load_classifier(tmp_path / "m").predict_proba(data.dev.texts), clf.predict_proba(data.dev.texts))


def test_unfitted_model_says_so():
    clf = TfidfClassifier(toy.ISEAR)
    with pytest.raises(ModelError, match="not fitted"):
        clf.predict_proba(["hello"])


def test_one_class_train_is_refused():
    with pytest.raises(ModelError, match="single class"):
        TfidfClassifier(toy.ISEAR).fit(toy.single(5).subset(range(5)))
