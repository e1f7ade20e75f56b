"""Every built-in dataset loads with the row and label counts stated in its SOURCE.md."""

import pytest

from emotune.data.labels import Task
from emotune.data.registry import REGISTRY, load_dataset
from tests.data.corpora import needs_data, split_counts

pytestmark = needs_data


# (name, options) -> expected rows per split (SOURCE.md)
EXPECTED = {
    "isear": {"": 7666},
    "goemotions": {"train": 43410, "dev": 5426, "test": 5427},
    "semeval-ec": {"train": 6838, "dev": 886, "test": 3259},
    "semeval-ei-reg": {"train": 7102, "dev": 1464, "test": 4068},
    "semeval-ei-oc": {"train": 7102, "dev": 1464, "test": 4068},
    "semeval-v-reg": {"train": 1181, "dev": 449, "test": 937},
    "semeval-v-oc": {"train": 1181, "dev": 449, "test": 937},
    "dair-emotion": {"train": 16000, "dev": 2000, "test": 2000},
    "meld": {"train": 9989, "dev": 1109, "test": 2610},
    "emorynlp": {"train": 7551, "dev": 954, "test": 984},
    "dailydialog": {"dev": 8069, "test": 7740},
    "empathetic-situations": {"train": 17802, "dev": 2761, "test": 2541},
    "wassa2017": {"train": 3613, "dev": 347, "test": 3142},
    "emobank": {"train": 8062, "dev": 999, "test": 1000},  # the one empty-text dev row is dropped
}


def test_every_registered_dataset_has_expected_counts():
    assert set(EXPECTED) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_row_counts_match_source(name):
    ds = load_dataset(name)
    counts = split_counts(ds) if ds.split_names else {"": len(ds)}
    assert counts == EXPECTED[name]
    assert {"text", "text_original", "split", "is_placeholder"} <= set(ds.frame.columns)
    assert (ds.frame["text"].str.len() > 0).all() or name == "isear"
    spec = REGISTRY[name]
    assert ds.task == spec.task and len(ds.label_set) == spec.n_labels
    if ds.task != Task.REGRESSION:
        ds.y()  # every label is in the label set
