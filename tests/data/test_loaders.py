"""Every built-in dataset loads with the row and label counts stated in its SOURCE.md."""

from collections import Counter

import numpy as np
import pytest

from emotune.data.labels import Task
from emotune.data.registry import REGISTRY, list_datasets, load_dataset
from emotune.errors import DataError
from emotune.paths import data_dir

pytestmark = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def _split_counts(ds):
    return {s: int((ds.frame["split"] == s).sum()) for s in ds.split_names}


def _label_counts(ds, split):
    part = ds.frame[ds.frame["split"] == split]
    return Counter(lab for labs in part["labels"] for lab in labs)


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
    counts = _split_counts(ds) if ds.split_names else {"": len(ds)}
    assert counts == EXPECTED[name]
    assert {"text", "text_original", "split", "is_placeholder"} <= set(ds.frame.columns)
    assert (ds.frame["text"].str.len() > 0).all() or name == "isear"
    spec = REGISTRY[name]
    assert ds.task == spec.task and len(ds.label_set) == spec.n_labels
    if ds.task != Task.REGRESSION:
        ds.y()  # every label is in the label set


def test_isear_metadata():
    ds = load_dataset("isear")
    f = ds.frame
    assert dict(Counter(lab[0] for lab in f["labels"])) == {"anger": 1096, "sadness": 1096, "disgust": 1096,
                                                           "shame": 1096, "fear": 1095, "joy": 1094, "guilt": 1093}
    assert f["intensity"].isna().sum() == 178 and f["intensity"].min() == 1
    assert f["gender"].isna().sum() == 7 and (f["gender"] == "female").sum() == 4201
    assert f["respondent_id"].nunique() == 1096
    assert f["country"].nunique() == 16
    assert f["is_placeholder"].sum() >= 104  # the source's 104 flags + a few more non-answers
    assert ds.split_names == []


def test_goemotions_labels_in_official_order():
    ds = load_dataset("goemotions")
    assert ds.label_set.names[0] == "admiration" and ds.label_set.names[-1] == "neutral"
    c = _label_counts(ds, "train")
    assert c["admiration"] == 4130 and c["neutral"] == 14219 and c["grief"] == 77
    assert _label_counts(ds, "test")["grief"] == 6
    assert ds.task == Task.MULTI
    assert sum(len(labs) > 1 for labs in ds.frame[ds.frame["split"] == "train"]["labels"]) == 7102


def test_semeval_ec_all_zero_rows_have_no_label():
    ds = load_dataset("semeval-ec")
    c = _label_counts(ds, "train")
    assert c["anger"] == 2544 and c["trust"] == 357
    empty = [len(labs) == 0 for labs in ds.frame["labels"]]
    assert sum(e for e, s in zip(empty, ds.frame["split"]) if s == "train") == 204
    assert sum(e for e, s in zip(empty, ds.frame["split"]) if s == "test") == 75


def test_semeval_ei_reg_options():
    ds = load_dataset("semeval-ei-reg")
    assert ds.label_set.names == ("intensity",) and set(ds.frame["emotion"]) == {"anger", "fear", "joy", "sadness"}
    anger = load_dataset("semeval-ei-reg", emotion="anger")
    assert _split_counts(anger) == {"train": 1701, "dev": 388, "test": 1002}
    y = ds.y()
    assert y.min() >= 0 and y.max() <= 1
    with pytest.raises(DataError, match="Unknown emotion 'angr'") as exc:
        load_dataset("semeval-ei-reg", emotion="angr")
    assert "anger" in str(exc.value)


def test_semeval_oc_classes():
    oc = load_dataset("semeval-ei-oc", emotion="anger")
    c = _label_counts(oc, "train")
    assert [c[k] for k in "0123"] == [445, 322, 507, 427]
    v = load_dataset("semeval-v-oc")
    c = _label_counts(v, "train")
    assert c["-3"] == 129 and c["0"] == 341 and c["3"] == 125


def test_dair_counts():
    c = _label_counts(load_dataset("dair-emotion"), "train")
    assert c == {"joy": 5362, "sadness": 4666, "anger": 2159, "fear": 1937, "love": 1304, "surprise": 572}


def test_meld_dialogues_and_sentiment():
    ds = load_dataset("meld")
    f = ds.frame
    assert f[f.split == "train"]["dialogue_id"].nunique() == 1038
    assert f[f.split == "test"]["dialogue_id"].nunique() == 280
    assert _label_counts(ds, "train")["neutral"] == 4710
    assert (f[f.split == "train"]["sentiment"] == "negative").sum() == 2945
    assert ds.is_conversational and {"turn", "speaker"} <= set(f.columns)


def test_emorynlp_speakers_and_scenes():
    ds = load_dataset("emorynlp")
    f = ds.frame
    assert [f[f.split == s]["dialogue_id"].nunique() for s in ("train", "dev", "test")] == [659, 89, 79]
    assert f["speaker"].iloc[0] == "Monica Geller"
    assert _label_counts(ds, "train")["joyful"] == 1677


def test_dailydialog_emotions():
    ds = load_dataset("dailydialog")
    dev, test = _label_counts(ds, "dev"), _label_counts(ds, "test")
    assert dev["neutral"] == 7108 and dev["happiness"] == 684 and test["disgust"] == 47
    assert ds.label_set.names[0] == "neutral"
    assert ds.frame[ds.frame.split == "dev"]["dialogue_id"].nunique() == 1000


def test_empathetic_labels_and_aug_text():
    ds = load_dataset("empathetic-situations")
    assert len(ds.label_set) == 32 and ds.label_set.names[:3] == ("sad", "trusting", "terrified")
    c = _label_counts(ds, "train")
    assert c["surprised"] == 922 and c["faithful"] == 325
    aug = load_dataset("empathetic-situations", use_aug_text=True)
    assert len(aug) == 2 * len(ds) and aug.frame["augmented"].sum() == len(ds)


def test_wassa_and_emobank():
    w = load_dataset("wassa2017", emotion="fear")
    assert _split_counts(w) == {"train": 1147, "dev": 110, "test": 995}
    assert np.isclose(w.split("train").y().mean(), 0.496, atol=0.002)
    e = load_dataset("emobank")
    assert e.label_set.names == ("V", "A", "D")
    assert "easy_money_13624_13628" not in set(e.frame["source_id"])
    assert np.allclose(e.y().mean(axis=0), [2.98, 3.04, 3.06], atol=0.01)


def test_list_datasets():
    rows = list_datasets()
    assert {r["name"] for r in rows} == set(REGISTRY)
    assert {"name", "task", "labels", "rows", "licence", "folder"} <= set(rows[0])


def test_unknown_dataset_suggests():
    with pytest.raises(DataError, match="Unknown dataset 'goemotion'") as exc:
        load_dataset("goemotion")
    assert "goemotions" in str(exc.value)


def test_missing_data_dir_names_path(tmp_path):
    with pytest.raises(DataError, match="not found") as exc:
        load_dataset("isear", data_root=tmp_path)
    assert str(tmp_path / "isear") in str(exc.value)
    (tmp_path / "isear").mkdir()
    with pytest.raises(DataError, match="isear.csv"):
        load_dataset("isear", data_root=tmp_path)


def test_unknown_option_is_an_error():
    with pytest.raises(DataError, match="no option 'emotion'"):
        load_dataset("isear", emotion="anger")


def test_cache_returns_independent_copies():
    a = load_dataset("isear")
    a.frame.loc[0, "text"] = "changed"
    assert load_dataset("isear").frame.loc[0, "text"] != "changed"
