import json

import pytest

from emotune.data.audit import audit_dataset
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.data.registry import load_dataset
from emotune.paths import data_dir

needs_data = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def _toy():
    ls = LabelSet(("joy", "anger"))
    texts = ["Hello!", "hello", "Hello!", "bad day", "Bad day.", "fine", "other", "[ No response.]", "..."]
    labels = ["joy", "joy", "joy", "joy", "anger", "joy", "anger", "joy", "joy"]
    ds = EmotionDataset.from_texts(texts, labels, ls, name="toy")
    ds.frame["split"] = ["train", "train", "test", "train", "dev", "train", "test", "train", "dev"]
    ds.frame["is_placeholder"] = [t == "[ No response.]" for t in texts]
    return ds


def test_counts_within_and_across_splits():
    r = audit_dataset(_toy(), after=False)
    assert r.rows_per_split == {"train": 5, "dev": 2, "test": 2}
    assert r.exact_duplicates["train"] == 0 and r.normalised_duplicates["train"] == 1  # Hello! ~ hello
    assert r.exact_across["train|test"] == 1  # "Hello!" on both sides
    assert r.normalised_across["train|dev"] == 1  # "bad day" ~ "Bad day."
    assert r.conflicting_texts == 1 and r.conflicting_rows == 2  # bad day: joy vs anger
    assert r.placeholders["train"] == 1 and r.empty["dev"] == 1  # "..." has no word left
    assert r.class_balance["train"] == {"joy": 5, "anger": 0}
    assert r.examples["conflicts"][0]["labels"] == ["anger", "joy"]


def test_after_split_has_no_cross_split_texts_and_serialises():
    r = audit_dataset(_toy())
    assert r.texts_across_after == 0
    assert r.after_split["rows_per_split"]["test"] == 2  # test untouched
    d = r.to_dict()
    json.dumps(d)
    assert d["after_split"]["notes"]


def test_regression_audit():
    ds = EmotionDataset.from_texts(["a", "b", "a"], [0.1, 0.2, 0.3], LabelSet(("v",), Task.REGRESSION))
    r = audit_dataset(ds)
    assert r.conflicting_texts == 0 and r.normalised_duplicates["all"] == 1
    assert "v mean" in r.class_balance["all"]
    assert r.texts_across_after == 0


@needs_data
def test_dair_emotion_matches_source_md():
    r = audit_dataset(load_dataset("dair-emotion"))
    assert r.exact_duplicates == {"train": 31, "dev": 2, "test": 0}
    assert r.conflicting_texts == 51
    assert sum(r.normalised_across.values()) > 0 and r.texts_across_after == 0


@needs_data
def test_isear_matches_source_md():
    r = audit_dataset(load_dataset("isear"))
    assert r.exact_duplicates == {"all": 164}
    assert r.placeholders["all"] >= 104
    assert r.texts_across_after == 0 and set(r.after_split["rows_per_split"]) == {"train", "dev", "test"}
