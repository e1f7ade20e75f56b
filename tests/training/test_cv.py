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
