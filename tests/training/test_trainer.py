import json

import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset, PreparedData
from emotune.errors import ConfigError, DataError, ModelError
from emotune import load_run
from emotune.models.tfidf import TfidfClassifier
from emotune import runs as rd
from emotune.config import RunConfig
from emotune.training.trainer import train
from tests.fixtures import toy


def _config(tmp_path, dataset="toy-single", **kw) -> RunConfig:
    return RunConfig(name="t", output_dir=str(tmp_path), data={"dataset": dataset}, **kw)


def test_writes_a_complete_run_dir(tmp_path, toy_data):
    res = train(_config(tmp_path), progress=False)
    run = res.run_dir
    assert run == tmp_path / "t"
    for name in ("config.yaml", "labels.json", "data.json", "history.jsonl", "metrics.json", "README.md",
                 "model/emotune_model.json", "predictions/dev.npz", "predictions/test.npz",
                 "predictions/test_texts.json"):
        assert (run / name).exists(), name
    assert not (run / "model.tmp").exists()
    metrics = rd.load_metrics(run)
    assert metrics["primary_metric"] == "f1_macro" and metrics["test"]["f1_macro"] > 0.9
    import sklearn  # the versions of the libraries that decide the scores travel with them

    assert metrics["machine"]["packages"]["scikit-learn"] == sklearn.__version__
    assert set(metrics["per_class"]["test"]) >= set(toy.ISEAR.names)
    assert rd.load_config(run).name == "t" and rd.load_labels(run) == toy.ISEAR
    assert rd.load_history(run)[0]["epoch"] == 1
    info = rd.load_data_info(run)
    assert info["sizes"] == {"train": 112, "dev": 28, "test": 28} and info["notes"]["dedup_dropped"] == 0
    card = (run / "README.md").read_text()
    for part in ("## Data", "## Recipe", "## Scores", "scikit-learn", "cores"):
        assert part in card

    pred = rd.load_predictions(run, "test")  # arrays only: loads with allow_pickle=False
    assert pred.scores.shape == (28, 7) and pred.y_true.shape == (28,) and len(pred.texts) == 28
    clf = load_run(run)
    np.testing.assert_allclose(clf.predict_proba(pred.texts), pred.scores, rtol=1e-5, atol=1e-6)


def test_finished_run_is_not_overwritten_by_accident(tmp_path, toy_data):
    train(_config(tmp_path), progress=False)
    with pytest.raises(ModelError, match="finished run") as exc:
        train(_config(tmp_path), progress=False)
    assert "--overwrite" in str(exc.value)
    res = train(_config(tmp_path), progress=False, overwrite=True)
    assert rd.is_finished(res.run_dir)


def test_overwrite_keeps_the_finished_run_until_the_new_one_is_ready(tmp_path, toy_data, monkeypatch):
    first = train(_config(tmp_path), progress=False)
    before = (first.run_dir / "metrics.json").read_text()
    with pytest.raises(DataError):  # a typo in data.dataset: nothing removed
        train(_config(tmp_path, dataset="toy-singel"), progress=False, overwrite=True)
    assert (first.run_dir / "metrics.json").read_text() == before and load_run(first.run_dir) is not None

    def crash(*a, **k):
        raise KeyboardInterrupt  # killed mid-training
    monkeypatch.setattr(TfidfClassifier, "fit", crash)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path), progress=False, overwrite=True)
    assert (first.run_dir / "metrics.json").read_text() == before
    monkeypatch.undo()

    res = train(_config(tmp_path), progress=False, overwrite=True)  # the leftover staging folder is reused
    assert res.run_dir == first.run_dir and rd.is_finished(res.run_dir)
    assert (res.run_dir / "metrics.json").read_text() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no staging or replaced folder left


def test_a_swap_cut_between_its_renames_is_undone(tmp_path, toy_data):
    res = train(_config(tmp_path), progress=False)
    res.run_dir.rename(tmp_path / ".t.replaced")  # killed after the first rename of the swap
    train(_config(tmp_path), progress=False, overwrite=True)
    assert rd.is_finished(res.run_dir) and not (tmp_path / ".t.replaced").exists()


def _spy_on_fit(monkeypatch) -> list:
    """The ``resume`` flag of every ``fit`` call from now on (the trainer's decision to resume or start over)."""
    calls = []
    real_fit = TfidfClassifier.fit

    def spy(self, train_ds, dev=None, *, output_dir=None, resume=False):
        calls.append(resume)
        return real_fit(self, train_ds, dev, output_dir=output_dir, resume=resume)

    monkeypatch.setattr(TfidfClassifier, "fit", spy)
    return calls


def test_unfinished_run_resumes_with_the_same_config(tmp_path, toy_data, monkeypatch):
    res = train(_config(tmp_path), progress=False)
    (res.run_dir / "metrics.json").unlink()  # as if killed before the end
    calls = _spy_on_fit(monkeypatch)
    train(_config(tmp_path), progress=False)
    assert calls == [True] and rd.is_finished(res.run_dir)
    assert len(rd.load_history(res.run_dir)) == 1  # the same epoch row is not appended twice

    (res.run_dir / "metrics.json").unlink()
    with pytest.raises(ConfigError, match=r"training.seed: 42 -> 7"):
        train(_config(tmp_path, training={"seed": 7}), progress=False)
    train(_config(tmp_path), progress=False, resume=False)  # --no-resume starts over
    assert calls[-1] is False and len(rd.load_history(res.run_dir)) == 1


def test_overwrite_resumes_an_unfinished_run_with_the_same_config(tmp_path, toy_data, monkeypatch):
    # the benchmark trains with overwrite=True: a killed suite must resume its runs, not start them over
    res = train(_config(tmp_path), progress=False)
    (res.run_dir / "metrics.json").unlink()
    calls = _spy_on_fit(monkeypatch)
    train(_config(tmp_path), progress=False, overwrite=True)
    assert calls == [True] and rd.is_finished(res.run_dir)

    (res.run_dir / "metrics.json").unlink()
    train(_config(tmp_path, training={"seed": 7}), progress=False, overwrite=True)  # another config: replaced
    assert calls[-1] is False and rd.load_config(res.run_dir).training.seed == 7


def test_refuses_to_empty_a_foreign_folder(tmp_path, toy_data):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "notes.txt").write_text("mine")
    with pytest.raises(ModelError, match="not an emotune run directory"):
        train(_config(tmp_path), progress=False, overwrite=True)
    assert (tmp_path / "t" / "notes.txt").exists()


def test_label_missing_from_train_is_named(tmp_path):
    data = toy.prepared("single")
    train_ds = data.train.subset(data.train.frame["labels"].map(lambda labs: labs[0] not in ("shame", "guilt")))
    bad = PreparedData(train_ds, data.dev, data.test)
    with pytest.raises(DataError, match="never occur in train: guilt, shame"):
        train(_config(tmp_path), data=bad, progress=False)


def test_train_test_overlap_is_refused(tmp_path):
    data = toy.prepared("single")
    leaked = EmotionDataset(data.test.name, data.test.frame.copy(), data.test.label_set)
    leaked.frame.loc[0, "text"] = data.train.frame.loc[3, "text"]
    with pytest.raises(DataError):
        train(_config(tmp_path), data=PreparedData(data.train, data.dev, leaked), progress=False)


def test_multi_label_thresholds_are_tuned_on_dev_and_saved(tmp_path, toy_data):
    res = train(_config(tmp_path, dataset="toy-multi"), progress=False)
    thr = res.metrics["thresholds"]
    assert thr is not None and len(thr) == len(toy.MULTI)
    clf = load_run(res.run_dir)
    np.testing.assert_allclose(clf.thresholds, thr, atol=1e-4)
    assert "thresholds" in np.load(res.run_dir / "predictions" / "dev.npz", allow_pickle=False).files


def test_thresholds_can_be_chosen_for_sample_jaccard(tmp_path, toy_data):
    by_f1 = train(_config(tmp_path, dataset="toy-multi"), progress=False)
    by_jac = train(_config(tmp_path / "j", dataset="toy-multi", training={"thresholds_metric": "jaccard_samples"}),
                   progress=False)
    assert by_jac.metrics["dev"]["jaccard_samples"] >= by_f1.metrics["dev"]["jaccard_samples"]
    np.testing.assert_allclose(load_run(by_jac.run_dir).thresholds, by_jac.metrics["thresholds"], atol=1e-4)


def test_regression_reports_pearson(tmp_path, toy_data):
    res = train(_config(tmp_path, dataset="toy-regression"), progress=False)
    assert res.primary == "pearson" and res.score("test") > 0.8


def test_unparsable_generated_answers_are_counted_per_split(tmp_path, toy_data, monkeypatch):
    """A backend that generates answers (instruct) counts the ones that did not parse: the trainer
    reports how many per split instead of letting the midpoint they are scored at pass unnoticed."""
    plain = TfidfClassifier.predict_proba

    def counting(self, texts, batch_size=None):
        stats = self.__dict__.setdefault("invalid_stats", {"answers": 0, "invalid": 0})
        stats["answers"] += len(texts)
        stats["invalid"] += len(texts) // 4  # a quarter of the answers were not numbers
        return plain(self, texts, batch_size=batch_size)

    monkeypatch.setattr(TfidfClassifier, "predict_proba", counting)
    monkeypatch.setattr(TfidfClassifier, "generation_stats", lambda self: dict(self.__dict__.get("invalid_stats", {})))
    res = train(_config(tmp_path, dataset="toy-regression"), progress=False)
    for split in ("dev", "test"):
        n = res.metrics["sizes"][split]
        assert res.metrics[split]["invalid"] == n // 4
        assert res.metrics[split]["invalid_rate"] == pytest.approx((n // 4) / n)


def test_out_of_memory_becomes_a_model_error(tmp_path, toy_data, monkeypatch):
    def boom(self, *a, **k):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(TfidfClassifier, "fit", boom)
    with pytest.raises(ModelError, match="does not fit") as exc:
        train(_config(tmp_path), progress=False)
    assert "QLoRA" in str(exc.value)


def test_load_splits_recreates_and_verifies(tmp_path, toy_data):
    res = train(_config(tmp_path), progress=False)
    splits = rd.load_splits(res.run_dir)
    assert splits.test.texts == json.loads((res.run_dir / "predictions" / "test_texts.json").read_text())
    toy.register("single", scale=2)  # the same dataset name now loads other texts
    with pytest.raises(ModelError, match="differs"):
        rd.load_splits(res.run_dir)


@pytest.mark.parametrize("rows, message", [
    ([("I passed my exam", "joy")], "Too few rows to train on"),
    ([("I passed my exam", "joy"), ("My dog died", "sadness")], "No dev or test rows to score the model on"),
    ([(f"I passed my exam {i}", "joy") for i in range(30)], "Train holds a single label"),
])
def test_tiny_datasets_are_refused_before_a_run_is_marked_finished(tmp_path, rows, message):
    import csv

    src = tmp_path / "tiny.csv"
    with open(src, "w", newline="") as fh:
        csv.writer(fh).writerows([("text", "label"), *rows])
    with pytest.raises(DataError, match=message) as exc:
        train(_config(tmp_path, dataset=str(src)), progress=False)
    assert "tiny.csv: train" in str(exc.value)
    assert not rd.is_finished(tmp_path / "t")
