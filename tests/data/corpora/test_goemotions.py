"""GoEmotions: the official label order and multi-label counts."""

from emotune.data.labels import Task
from emotune.data.registry import load_dataset
from tests.data.corpora import label_counts, needs_data

pytestmark = needs_data


def test_goemotions_labels_in_official_order():
    ds = load_dataset("goemotions")
    assert ds.label_set.names[0] == "admiration" and ds.label_set.names[-1] == "neutral"
    c = label_counts(ds, "train")
    assert c["admiration"] == 4130 and c["neutral"] == 14219 and c["grief"] == 77
    assert label_counts(ds, "test")["grief"] == 6
    assert ds.task == Task.MULTI
    assert sum(len(labs) > 1 for labs in ds.frame[ds.frame["split"] == "train"]["labels"]) == 7102
