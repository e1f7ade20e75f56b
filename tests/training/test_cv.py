import json

import pytest

from emotune.errors import ConfigError, DataError
from emotune.config import RunConfig
from emotune.training.cv import cross_validate
from emotune.data.dataset import PreparedData
from tests.fixtures import toy


def _config(tmp_path, dataset="toy-single", **kw):
    return RunConfig(name="c", output_dir=str(tmp_path), data={"dataset": dataset}, **kw)


@pytest.mark.parametrize("dataset", ["toy-single", "toy-multi"])
def test_cv_reports_mean_and_std_without_touching_test(tmp_path, toy_data, dataset):
    summary = cross_validate(_config(tmp_path, dataset), folds=3, progress=False)
    base = tmp_path / "c-cv3"
    assert summary.run_dir == base and len(summary.per_fold) == 3
    assert 0.5 < summary.mean["f1_macro"] <= 1.0 and summary.std["f1_macro"] >= 0.0
    saved = json.loads((base / "cv_summary.json").read_text())
    assert saved["folds"] == 3 and set(saved["mean"]) == set(saved["std"])
    assert "±" in (base / "cv_summary.md").read_text()
    data = toy.prepared(dataset.removeprefix("toy-"))
    held = sum(f["sizes"]["held_out"] for f in summary.per_fold)
    assert held == len(data.train) + len(data.dev)  # every train+dev row held out once, test never
    for i in range(3):
        assert (base / f"fold_{i}" / "metrics.json").exists()
        assert "test" not in json.loads((base / f"fold_{i}" / "metrics.json").read_text())


def test_cv_reuses_finished_folds_and_checks_their_config(tmp_path, toy_data):
    first = cross_validate(_config(tmp_path), folds=2, progress=False)
    again = cross_validate(_config(tmp_path), folds=2, progress=False)
    assert again.mean == first.mean
    with pytest.raises(ConfigError, match="model.C"):
        cross_validate(_config(tmp_path, model={"C": 1.0}), folds=2, progress=False)


def test_too_few_examples_for_k_folds(tmp_path):
    tiny = toy.single(2, seed=1, split="train")
    data = PreparedData(tiny, toy.single(1, seed=2, split="dev"), toy.single(1, seed=3, split="test"))
    with pytest.raises(DataError, match="Too few examples"):
        cross_validate(_config(tmp_path), folds=5, data=data, progress=False)


def test_folds_trained_in_parallel_score_as_one_after_the_other(tmp_path, toy_data):
    """jobs=2: the folds train in two pinned one-thread processes, to the same scores; resumable; --overwrite
    retrains them even though they are finished with the same config."""
    serial = cross_validate(_config(tmp_path / "serial"), folds=3, progress=False)
    said = []
    parallel = cross_validate(_config(tmp_path / "parallel"), folds=3, progress=False, jobs=2, say=said.append)
    assert parallel.mean == pytest.approx(serial.mean) and parallel.std == pytest.approx(serial.std)
    assert sum("done in" in s for s in said) == 3 and any("c-cv3/fold_0" in s for s in said)
    fold = tmp_path / "parallel" / "c-cv3" / "fold_0" / "metrics.json"
    stamp = fold.stat().st_mtime_ns
    said.clear()
    cross_validate(_config(tmp_path / "parallel"), folds=3, progress=False, jobs=2, say=said.append)
    assert not said and fold.stat().st_mtime_ns == stamp  # every fold finished: nothing trained
    cross_validate(_config(tmp_path / "parallel"), folds=3, progress=False, jobs=2, overwrite=True)
    assert fold.stat().st_mtime_ns != stamp


def test_a_failed_parallel_fold_is_one_clear_error(tmp_path, toy_data, monkeypatch):
    from emotune.errors import EmotuneError
    from emotune.training import cv

    def fake(todo, jobs, say):
        return {str(f.run_dir): ({"status": "failed", "error": "out of memory"} if i == 1 else {"status": "done"})
                for i, f in enumerate(todo)}

    monkeypatch.setattr(cv, "train_parallel", fake)
    with pytest.raises(EmotuneError, match=r"fold_1 failed: out of memory"):
        cross_validate(_config(tmp_path), folds=3, progress=False, jobs=2)
    with pytest.raises(ConfigError, match="--jobs must be at least 1"):
        cross_validate(_config(tmp_path), folds=3, progress=False, jobs=0)
