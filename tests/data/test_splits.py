from collections import Counter

import numpy as np
import pytest

from emotune.data.cleaning import normalize_for_dedup
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.data.registry import REGISTRY, load_dataset
from emotune.data.splits import assert_no_leakage, dedup, kfold, make_splits
from emotune.errors import DataError
from emotune.paths import data_dir
from emotune.config import SplitConfig

needs_data = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def _sides(ds):
    return {s: {normalize_for_dedup(t) for t in ds.split(s).texts} for s in ds.split_names}


def _assert_disjoint(ds):
    sides = _sides(ds)
    names = list(sides)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            shared = sides[a] & sides[b]
            assert not shared, f"{ds.name}: {len(shared)} texts on both {a} and {b}, e.g. {sorted(shared)[:2]}"


@needs_data
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_no_normalised_text_on_two_sides_after_make_splits(name):
    out = make_splits(load_dataset(name))
    assert set(out.split_names) <= {"train", "dev", "test"} and len(out.split_names) >= 2
    _assert_disjoint(out)
    assert out.info["split_notes"]


@needs_data
def test_official_split_keeps_test_and_records_removals():
    ds = load_dataset("dair-emotion")
    out = make_splits(ds)
    assert out.split("test").texts == ds.split("test").texts  # test unchanged
    stats = out.info["split_stats"]
    assert stats["train_rows_removed"] == 16 and stats["dev_rows_removed"] == 3
    assert any("Leakage removed" in n for n in out.info["split_notes"])


@needs_data
def test_isear_split_is_stratified_and_deduplicated():
    ds = load_dataset("isear")
    out = make_splits(ds, SplitConfig(seed=1))
    counts = Counter(out.frame["split"])
    n = len(out)
    assert abs(counts["test"] / n - 0.1) < 0.01 and abs(counts["dev"] / n - 0.1) < 0.01
    test_labels = Counter(out.split("test").labels)
    assert max(test_labels.values()) - min(test_labels.values()) <= 5  # ~balanced like the source
    keys = [normalize_for_dedup(t) for t in out.texts]
    assert len(keys) == len(set(keys))
    assert out.info["split_stats"]["conflicting_texts"] > 0
    # deterministic
    assert make_splits(ds, SplitConfig(seed=1)).frame["split"].tolist() == out.frame["split"].tolist()
    assert make_splits(ds, SplitConfig(seed=2)).frame["split"].tolist() != out.frame["split"].tolist()


@needs_data
def test_group_by_keeps_respondents_on_one_side():
    out = make_splits(load_dataset("isear"), SplitConfig(group_by="respondent_id"))
    sides = out.frame.groupby("respondent_id")["split"].nunique()
    assert (sides == 1).all()
    assert 0.07 < (out.frame["split"] == "test").mean() < 0.13
    _assert_disjoint(out)


def test_group_by_unknown_column():
    ds = EmotionDataset.from_texts([f"t{i}" for i in range(10)], ["a"] * 10, LabelSet(("a",)))
    with pytest.raises(DataError, match="group_by column 'speakr'"):
        make_splits(ds, SplitConfig(group_by="speakr"))


def test_dedup_drops_conflicts_entirely():
    ls = LabelSet(("joy", "anger"))
    ds = EmotionDataset.from_texts(["Hello!", "hello", "Bad day", "bad day.", "ok"], ["joy", "joy", "joy", "anger", "joy"], ls)
    out, stats = dedup(ds)
    assert out.texts == ["Hello!", "ok"]
    assert stats == {"duplicates_dropped": 1, "conflicting_texts": 1, "conflicting_rows_dropped": 2}


def test_without_dedup_identical_texts_stay_together():
    ls = LabelSet(("joy", "anger"))
    texts = [f"text {i % 30}" for i in range(120)]
    ds = EmotionDataset.from_texts(texts, ["joy" if i % 2 else "anger" for i in range(120)], ls)
    out = make_splits(ds, SplitConfig(dedup=False))
    assert len(out) == 120
    _assert_disjoint(out)


def test_multilabel_and_regression_splits():
    rng = np.random.default_rng(0)
    names = ("a", "b", "c")
    labs = [[n for n in names if rng.random() < 0.4] for _ in range(300)]
    multi = EmotionDataset.from_texts([f"m{i}" for i in range(300)], labs, LabelSet(names, Task.MULTI))
    out = make_splits(multi)
    c = Counter(out.frame["split"])
    assert c["test"] == 30 and abs(c["dev"] - 30) <= 2 and c["train"] + c["dev"] == 270
    # iterative stratification: every label's share in test close to its share overall
    y_all, y_test = out.y().mean(axis=0), out.split("test").y().mean(axis=0)
    assert np.abs(y_all - y_test).max() < 0.05
    reg = EmotionDataset.from_texts([f"r{i}" for i in range(100)], rng.random(100), LabelSet(("v",), Task.REGRESSION))
    out = make_splits(reg, SplitConfig(dev=0.2, test=0.2))
    assert Counter(out.frame["split"]) == {"train": 60, "dev": 20, "test": 20}


def test_official_train_test_only_gets_a_dev_carved_from_train():
    ls = LabelSet(("joy", "anger"))
    ds = EmotionDataset.from_texts([f"x{i}" for i in range(100)], ["joy", "anger"] * 50, ls)
    ds.frame["split"] = ["train"] * 80 + ["test"] * 20
    out = make_splits(ds)
    c = Counter(out.frame["split"])
    assert c["test"] == 20 and c["dev"] == 8 and c["train"] == 72


def test_use_official_false_resplits():
    ls = LabelSet(("joy", "anger"))
    ds = EmotionDataset.from_texts([f"x{i}" for i in range(100)], ["joy", "anger"] * 50, ls)
    ds.frame["split"] = ["train"] * 90 + ["test"] * 10
    out = make_splits(ds, SplitConfig(use_official=False, dev=0.2, test=0.2))
    assert Counter(out.frame["split"]) == {"train": 60, "dev": 20, "test": 20}


def test_bad_fractions_and_partial_split_column():
    ds = EmotionDataset.from_texts(["a", "b", "c"], ["x", "x", "x"], LabelSet(("x",)))
    with pytest.raises(DataError, match="must be >= 0 and < 1"):
        make_splits(ds, SplitConfig(dev=0.5, test=0.5))
    ds.frame["split"] = ["train", "", "test"]
    with pytest.raises(DataError, match="1 row\\(s\\) have no split value"):
        make_splits(ds)


def test_assert_no_leakage():
    ls = LabelSet(("x",))
    a = EmotionDataset.from_texts(["Hello, world!"], ["x"], ls, name="a")
    b = EmotionDataset.from_texts(["hello world"], ["x"], ls, name="b")
    with pytest.raises(DataError, match="1 normalised text\\(s\\) occur in both 'a' and 'b'"):
        assert_no_leakage(a, b)
    assert_no_leakage(a, EmotionDataset.from_texts(["other"], ["x"], ls))


def test_kfold_single_multi_regression():
    ls = LabelSet(("joy", "anger"))
    ds = EmotionDataset.from_texts([f"t{i}" for i in range(50)], ["joy", "anger"] * 25, ls)
    folds = kfold(ds, k=5, seed=0)
    assert len(folds) == 5
    assert sorted(t for _, te in folds for t in te.texts) == sorted(ds.texts)
    for tr, te in folds:
        assert_no_leakage(tr, te)
        assert Counter(te.labels) == {"joy": 5, "anger": 5}
    multi = EmotionDataset.from_texts([f"m{i}" for i in range(40)], [["a"], ["b"], ["a", "b"], []] * 10,
                                      LabelSet(("a", "b"), Task.MULTI))
    assert len(kfold(multi, k=4)) == 4
    reg = EmotionDataset.from_texts([f"r{i}" for i in range(20)], list(range(20)), LabelSet(("v",), Task.REGRESSION))
    assert [len(te) for _, te in kfold(reg, k=4)] == [5, 5, 5, 5]


def test_kfold_too_few_examples_names_the_class():
    ls = LabelSet(("joy", "anger", "fear"))
    ds = EmotionDataset.from_texts([f"t{i}" for i in range(23)], ["joy"] * 10 + ["anger"] * 10 + ["fear"] * 3, ls)
    with pytest.raises(DataError, match="class 'fear' has 3"):
        kfold(ds, k=5)


def test_carved_dev_keeps_duplicate_train_texts_together():
    ls = LabelSet(("joy", "anger"))
    texts = [f"dup {i % 20}" for i in range(80)] + [f"test {i}" for i in range(20)]
    ds = EmotionDataset.from_texts(texts, ["joy", "anger"] * 50, ls)
    ds.frame["split"] = ["train"] * 80 + ["test"] * 20
    out = make_splits(ds)
    assert set(out.split_names) == {"train", "dev", "test"}
    _assert_disjoint(out)


def test_train_only_split_column_gets_dev_and_test():
    ls = LabelSet(("joy", "anger"))
    ds = EmotionDataset.from_texts([f"x{i}" for i in range(100)], ["joy", "anger"] * 50, ls)
    ds.frame["split"] = "train"
    out = make_splits(ds)
    assert Counter(out.frame["split"]) == {"train": 80, "dev": 10, "test": 10}
