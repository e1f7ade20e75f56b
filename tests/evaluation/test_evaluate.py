import json

import numpy as np
import pytest

from emotune.errors import DataError, ModelError
from emotune.evaluation.evaluate import evaluate_run, stored_metrics
from emotune.runs import Run
from tests.fixtures.toy import make_run


def test_evaluate_own_test_split_reproduces_the_stored_predictions(isear_tfidf_run, tmp_path):
    out = tmp_path / "m.json"
    res = evaluate_run(isear_tfidf_run, out=out, n_resamples=200)
    stored = json.loads((isear_tfidf_run / "metrics.json").read_text())["test"]
    assert res["n"] == 100 and res["split"] == "test" and res["dataset"] == "isear"
    assert res["metrics"]["f1_macro"] == pytest.approx(stored["f1_macro"])
    assert res["max_abs_diff_vs_stored"] < 1e-5
    ci = res["ci"]["f1_macro"]
    assert ci["low"] <= res["metrics"]["f1_macro"] <= ci["high"] and ci["n_resamples"] == 200
    assert set(res["ci"]) == {"f1_macro", "accuracy"}
    on_disk = json.loads(out.read_text())
    assert on_disk["report"]["joy"]["support"] == res["report"]["joy"]["support"]
    assert np.asarray(on_disk["confusion_matrix"]).sum() == 100


def test_evaluate_dev_split(isear_tfidf_run):
    res = evaluate_run(isear_tfidf_run, split="dev", n_resamples=50)
    assert res["metrics"]["f1_macro"] == pytest.approx(
        json.loads((isear_tfidf_run / "metrics.json").read_text())["dev"]["f1_macro"])


def test_unknown_split_is_a_clear_error(isear_tfidf_run):
    with pytest.raises(DataError, match="Unknown split 'validation'"):
        evaluate_run(isear_tfidf_run, split="validation")


def test_other_dataset_with_a_mapping_is_mapped(isear_tfidf_run):
    res = evaluate_run(isear_tfidf_run, dataset="dair-emotion", n_resamples=50)
    assert res["labels"] == ["anger", "disgust", "fear", "guilt", "joy", "sadness", "shame"]
    assert any("dair-6 -> isear-7" in n for n in res["notes"])
    # dair-emotion has no disgust/guilt/shame: said, and scored over the labels present too
    assert any("disgust, guilt, shame" in n for n in res["notes"])
    assert res["metrics"]["f1_macro_present_labels"] > res["metrics"]["f1_macro"]
    assert res["report"]["guilt"]["support"] == 0


def test_single_label_run_on_multi_label_gold_keeps_rows_with_one_mapped_label(isear_tfidf_run):
    res = evaluate_run(isear_tfidf_run, dataset="goemotions", n_resamples=50)
    assert res["labels"] == ["anger", "disgust", "fear", "guilt", "joy", "sadness", "shame"]
    note = next(n for n in res["notes"] if "goemotions-28 -> isear-7" in n)
    assert "with several mapped labels" in note and "exactly one" in note
    assert 0 < res["n"] < 5427 and sum(res["report"][n]["support"] for n in res["labels"]) == res["n"]


def test_single_label_run_on_gold_where_no_row_keeps_one_label_says_so(isear_tfidf_run):
    from emotune.data.dataset import EmotionDataset
    from emotune.data.labels import LabelSet, Task
    from emotune.data.taxonomies import GOEMOTIONS_28
    from tests.fixtures import toy

    gold = LabelSet(GOEMOTIONS_28, Task.MULTI, "goemotions-28")
    both = EmotionDataset.from_texts([f"text {i}" for i in range(4)], [["anger", "fear"]] * 4, gold, split="test")
    with toy.standing_in("goemotions", both), \
            pytest.raises(ModelError, match="none of its 4 row\\(s\\) keeps exactly one label"):
        evaluate_run(isear_tfidf_run, dataset="goemotions", n_resamples=20)


@pytest.mark.parametrize("dataset, renamed", [("meld", None), ("dailydialog", "happiness -> joy")])
def test_other_dataset_without_a_mapping_is_scored_on_the_shared_labels(isear_tfidf_run, dataset, renamed):
    res = evaluate_run(isear_tfidf_run, dataset=dataset, n_resamples=50)
    shared = ["anger", "disgust", "fear", "joy", "sadness"]
    assert res["labels"] == shared
    assert sum(res["report"][n]["support"] for n in shared) == res["n"] and res["dropped_rows"] > 0
    assert any(f"Dropped {res['dropped_rows']} of {res['n'] + res['dropped_rows']} rows" in n and "neutral" in n
               for n in res["notes"])
    assert any("never predicted" in n and "guilt, shame" in n for n in res["notes"])
    if renamed:
        assert any(renamed in n for n in res["notes"])
    assert np.asarray(res["confusion_matrix"]).shape == (5, 5)


def test_other_dataset_sharing_no_label_names_the_labels(isear_tfidf_run):
    from emotune.data.dataset import EmotionDataset
    from emotune.data.labels import LabelSet
    from tests.fixtures import toy

    polar = LabelSet(("positive", "negative"), name="polar-2")
    ds = EmotionDataset.from_texts([f"text {i}" for i in range(4)], ["positive", "negative"] * 2, polar,
                                   split="test")
    with toy.standing_in("meld", ds), pytest.raises(ModelError) as exc:
        evaluate_run(isear_tfidf_run, dataset="meld")
    msg = str(exc.value)
    assert "no mapping between them is known" in msg and "only in the data: positive, negative" in msg
    assert "only in the model: anger, disgust, fear, guilt, joy, sadness, shame" in msg


def test_missing_or_unfinished_runs(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        evaluate_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="not a run directory"):
        evaluate_run(tmp_path / "empty")


def test_run_reads_the_trainer_layout(isear_tfidf_run, tmp_path):
    rec = Run.open(isear_tfidf_run, finished=True)
    assert rec.backend == "tfidf" and rec.seed == 42 and rec.rows("train") == 300 and rec.rows("test") == 100
    assert rec.train_seconds is not None and rec.train_seconds >= 0
    p = rec.predictions("test")
    assert p.scores.shape == (100, 7) and len(p.texts) == 100
    assert stored_metrics(rec)["f1_macro"] == pytest.approx(rec.metrics["test"]["f1_macro"])
    fake = Run.open(make_run(tmp_path, "fake"), finished=True)
    assert fake.throughput == 850.0 and fake.train_seconds == 12.5


def test_a_hand_edited_label_set_is_a_message(isear_tfidf_run, tmp_path):
    import shutil

    run = tmp_path / "edited"
    shutil.copytree(isear_tfidf_run, run)
    labels = json.loads((run / "labels.json").read_text())
    (run / "labels.json").write_text(json.dumps({**labels, "names": labels["names"][:1]}))
    with pytest.raises(DataError, match="needs at least 2 labels, this one has 1"):
        evaluate_run(run, n_resamples=20)
    (run / "labels.json").write_text(json.dumps({**labels, "names": ["rage"] + labels["names"][1:]}))
    with pytest.raises(ModelError, match="labels.json does not match the model in .*the model was trained with"):
        evaluate_run(run, n_resamples=20)
    (run / "labels.json").write_text("{not json")
    with pytest.raises(DataError, match="labels.json: not a label set"):
        evaluate_run(run, n_resamples=20)


def test_an_unwritable_out_is_a_message(isear_tfidf_run, tmp_path):
    blocker = tmp_path / "a-file"  # as root chmod does not stop a write: a parent that is a file does
    blocker.write_text("x")
    with pytest.raises(DataError, match="Cannot write .*a-file/m.json"):
        evaluate_run(isear_tfidf_run, out=blocker / "m.json", n_resamples=20)
