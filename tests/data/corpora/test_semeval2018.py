"""SemEval-2018 Task 1: E-c, EI-reg / EI-oc with the emotion option, V-oc."""

import pytest

from emotune.data.registry import load_dataset
from emotune.errors import DataError
from tests.data.corpora import label_counts, needs_data, split_counts

pytestmark = needs_data


def test_semeval_ec_all_zero_rows_have_no_label():
    ds = load_dataset("semeval-ec")
    c = label_counts(ds, "train")
    assert c["anger"] == 2544 and c["trust"] == 357
    empty = [len(labs) == 0 for labs in ds.frame["labels"]]
    assert sum(e for e, s in zip(empty, ds.frame["split"]) if s == "train") == 204
    assert sum(e for e, s in zip(empty, ds.frame["split"]) if s == "test") == 75


def test_semeval_ei_reg_options():
    ds = load_dataset("semeval-ei-reg")
    assert ds.label_set.names == ("intensity",) and set(ds.frame["emotion"]) == {"anger", "fear", "joy", "sadness"}
    anger = load_dataset("semeval-ei-reg", emotion="anger")
    assert split_counts(anger) == {"train": 1701, "dev": 388, "test": 1002}
    y = ds.y()
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(DataError, match="Unknown emotion 'angr'") as exc:
        load_dataset("semeval-ei-reg", emotion="angr")
    assert "anger" in str(exc.value)


def test_semeval_oc_classes():
    oc = load_dataset("semeval-ei-oc", emotion="anger")
    c = label_counts(oc, "train")
    assert [c[k] for k in "0123"] == [445, 322, 507, 427]
    v = load_dataset("semeval-v-oc")
    c = label_counts(v, "train")
    assert c["-3"] == 129 and c["0"] == 341 and c["3"] == 125
