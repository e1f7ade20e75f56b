import shutil

import numpy as np
import pytest

from emotune import load_run
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.base import load_classifier
from emotune.models.ensemble import EnsembleClassifier
from emotune.runs import Run
from emotune.config import EnsembleModelConfig, RunConfig
from emotune.training.trainer import train
from tests.fixtures import toy


@pytest.fixture(scope="module")
def member_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runs = {}
    for task in ("single", "multi"):
        data = toy.prepared(task)
        for name, model in (("tfidf", {"backend": "tfidf"}), ("lexicon", {"backend": "lexicon"}),
                            ("tfidf-c", {"backend": "tfidf", "C": 0.1})):
            cfg = RunConfig(name=f"{task}-{name}", output_dir=str(root), model=model)
            runs[(task, name)] = train(cfg, data=data, progress=False).run_dir
    return root, runs


def _ens(label_set, paths, combine="mean"):
    return EnsembleClassifier(label_set, EnsembleModelConfig(members=[str(p) for p in paths],
                                                     combine=combine))


@pytest.mark.parametrize("combine", ["mean", "vote"])
@pytest.mark.parametrize("task", ["single", "multi"])
def test_combines_members_and_round_trips(tmp_path, member_runs, task, combine):
    _, runs = member_runs
    data = toy.prepared(task)
    paths = [runs[(task, n)] for n in ("tfidf", "lexicon", "tfidf-c")]
    ens = _ens(data.label_set, paths, combine)
    history = ens.fit(data.train, data.dev)
    assert history[0]["trained"] is False and "dev_f1_macro" in history[0]
    scores = ens.predict_proba(data.test.texts)
    members = [load_run(p).predict_proba(data.test.texts) for p in paths]
    if combine == "mean":
        np.testing.assert_allclose(scores, np.mean(members, axis=0))
    elif task == "single":  # the majority label wins
        votes = np.stack([m.argmax(1) for m in members], axis=1)
        majority = [np.bincount(v, minlength=7).argmax() for v in votes]
        clear = [i for i, v in enumerate(votes) if np.bincount(v).max() >= 2]
        assert all(scores[i].argmax() == majority[i] for i in clear)
    ens.save_pretrained(tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    np.testing.assert_allclose(again.predict_proba(data.test.texts), scores)


def test_trainer_runs_an_ensemble_and_saves_relative_paths(tmp_path, member_runs):
    root, runs = member_runs
    data = toy.prepared("single")
    cfg = RunConfig(name="ens", output_dir=str(root),
                    model={"backend": "ensemble", "members": [str(runs[("single", "tfidf")]), str(runs[("single", "lexicon")])]})
    res = train(cfg, data=data, progress=False, overwrite=True)
    doc = (res.run_dir / "model" / "ensemble.json").read_text()
    assert '"relative": true' in doc and "../../single-tfidf" in doc
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)  # the whole runs/ folder moves: relative member paths still resolve
    shutil.rmtree(root / "ens")
    assert load_run(moved / "ens").predict_proba(["I was so happy"]).shape == (1, 7)


def test_mismatched_label_sets_are_listed(member_runs):
    _, runs = member_runs
    other = LabelSet(("anger", "joy", "love"), Task.SINGLE, "other")
    with pytest.raises(ModelError, match="only in the first: love.*only in the second: disgust"):
        _ens(other, [runs[("single", "tfidf")]]).fit(toy.prepared("single").train)


def test_needs_members():
    with pytest.raises(ModelError, match="model.members"):
        EnsembleClassifier(toy.ISEAR, EnsembleModelConfig())


def test_members_stored_scores_are_read_not_recomputed(tmp_path, member_runs, monkeypatch):
    """A member run's dev/test predictions stand in for its predict_proba on those texts; others are predicted."""
    _, runs = member_runs
    data = toy.prepared("single")
    paths = [runs[("single", n)] for n in ("tfidf", "tfidf-c")]
    ens = _ens(data.label_set, paths)
    members = ens.load_members()
    fresh = np.mean([m.predict_proba(data.test.texts) for m in members], axis=0)
    calls = []
    for m in members:
        original = m.predict_proba
        monkeypatch.setattr(m, "predict_proba",
                            lambda texts, batch_size=None, f=original: calls.append(len(texts)) or f(texts))
    ens.fit(data.train, data.dev)
    np.testing.assert_allclose(ens.predict_proba(data.test.texts), fresh, atol=1e-6)  # float32 on disk
    np.testing.assert_allclose(ens.predict_proba(data.test.texts[3:7]), fresh[3:7], atol=1e-6)
    assert calls == []  # dev (fit) and test, whole or in part: all read from the runs' predictions
    ens.predict_proba(["a text no run has scored", data.test.texts[0]])
    assert calls == [2, 2]  # one unseen text: every member predicts the request
    # a member that is a bare model directory (a saved ensemble's members) has nothing stored
    bare = _ens(data.label_set, [Run.open(p).model_dir for p in paths])
    assert bare._stored_scores(0) == {}
