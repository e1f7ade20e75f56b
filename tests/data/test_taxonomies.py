from collections import Counter

import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.data.registry import load_dataset
from emotune.data.splits import make_splits
from emotune.data.taxonomies import (MAPPINGS, TAXONOMIES, available_mappings, cap_label, get_taxonomy, map_dataset,
                                     merge_datasets)
from emotune.errors import DataError
from emotune.paths import data_dir

needs_data = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def test_taxonomies_exist():
    assert get_taxonomy("shared10").names == ("joy", "anger", "sadness", "fear", "surprise", "disgust", "love",
                                              "gratitude", "neutral", "pride")
    for name, n in [("isear-7", 7), ("ekman-6", 6), ("ekman-7", 7), ("plutchik-8", 8), ("goemotions-28", 28),
                    ("semeval-ec-11", 11), ("shared-10", 10)]:
        assert len(TAXONOMIES[name]) == n
    with pytest.raises(DataError, match="Unknown taxonomy"):
        get_taxonomy("ekmann-9")


def test_every_mapping_uses_known_labels():
    for (src, tgt), mapping in MAPPINGS.items():
        assert set(mapping) <= set(TAXONOMIES[src].names), (src, tgt)
        assert {t for ts in mapping.values() for t in ts} <= set(TAXONOMIES[tgt].names), (src, tgt)


def _ge(labels):
    ls = TAXONOMIES["goemotions-28"]
    return EmotionDataset.from_texts([f"t{i}" for i in range(len(labels))], labels, ls, name="goemotions")


def test_goemotions_to_ekman_and_shared10_drop_unmapped_rows():
    ds = _ge([["admiration", "neutral"], ["curiosity"], ["approval"], ["gratitude", "love"]])
    ek = map_dataset(ds, "ekman")
    assert ek.label_set.name == "ekman-7" and ek.task == Task.MULTI
    assert ek.labels == [["joy", "neutral"], ["surprise"], ["joy"], ["joy"]]
    sh = map_dataset(ds, "shared10")
    assert sh.labels == [["neutral"], ["love", "gratitude"]]  # curiosity/approval rows dropped
    assert sh.info["label_map"]["rows_dropped"] == 2
    assert "2 row(s) dropped" in sh.info["notes"][-1]


def test_single_label_mapping_and_dyads():
    ls = TAXONOMIES["emorynlp-7"]
    ds = EmotionDataset.from_texts(["a", "b", "c"], ["mad", "peaceful", "joyful"], ls)
    out = map_dataset(ds, "ekman")
    assert out.task == Task.SINGLE and out.labels == ["anger", "joy"]
    ec = EmotionDataset.from_texts(["x", "y"], [["love"], []], TAXONOMIES["semeval-ec-11"])
    pl = map_dataset(ec, "plutchik")
    assert pl.labels == [["joy", "trust"], []]  # unlabelled multi-label rows stay


def test_unknown_mapping_lists_available():
    ds = _ge([["joy"]])
    with pytest.raises(DataError, match="No label mapping 'valence'") as exc:
        map_dataset(ds, "valence")
    assert "goemotions-28->ekman-7" in str(exc.value)
    assert "goemotions-28->shared-10" in available_mappings("goemotions-28")


def test_cap_label():
    ls = LabelSet(("neutral", "joy"))
    ds = EmotionDataset.from_texts([f"t{i}" for i in range(30)], ["neutral"] * 20 + ["joy"] * 10, ls)
    out = cap_label(ds, "neutral", 5, seed=1)
    assert Counter(out.labels) == {"neutral": 5, "joy": 10}
    assert cap_label(ds, "neutral", 5, seed=1).texts == out.texts
    with pytest.raises(DataError, match="Unknown label 'neutrl'"):
        cap_label(ds, "neutrl", 5)


@needs_data
def test_real_goemotions_ekman_mapping_from_json():
    ds = map_dataset(load_dataset("goemotions"), "ekman")
    assert len(ds) == 54263  # every GoEmotions label has an Ekman counterpart (or is neutral)
    c = Counter(lab for labs in ds.frame["labels"] for lab in labs)
    assert c["neutral"] == 14219 + 1766 + 1787


@needs_data
def test_merge_goemotions_and_empathetic_on_shared10():
    merged = merge_datasets([load_dataset("goemotions"), load_dataset("empathetic-situations")], "shared10")
    assert merged.label_set.name == "shared-10" and set(merged.frame["source"]) == {"goemotions", "empathetic-situations"}
    out = make_splits(merged)
    assert set(out.split_names) == {"train", "dev", "test"}
    assert "cross-source duplicate" in merged.info["notes"][0]


def test_ekman_alias_falls_back_to_six_emotions():
    ds = EmotionDataset.from_texts(["a", "b"], ["guilt", "joy"], TAXONOMIES["isear-7"], name="isear")
    out = map_dataset(ds, "ekman")
    assert out.label_set.name == "ekman-6" and out.labels == ["joy"]


def test_labels_map_onto_a_target_by_synonym_where_no_curated_mapping_exists():
    # DailyDialog -> ISEAR has no curated table: happiness is joy, the other shared names map to themselves
    dd = TAXONOMIES["dailydialog-7"]
    ds = EmotionDataset.from_texts([f"text {i}" for i in range(7)], list(dd.names), dd)
    assert ("dailydialog-7", "isear-7") not in MAPPINGS
    with pytest.raises(DataError, match="No label mapping"):  # by name only when asked (data.label_map asks)
        map_dataset(ds, "isear")
    out = map_dataset(ds, "isear", synonyms=True)
    assert out.label_set.name == "isear-7" and out.task == Task.SINGLE
    assert sorted(labs[0] for labs in out.frame["labels"]) == ["anger", "disgust", "fear", "joy", "sadness"]
    assert out.info["label_map"]["rows_dropped"] == 2  # neutral and surprise have no ISEAR counterpart
    assert out.info["label_map"]["unmapped_label_counts"] == {"neutral": 1, "surprise": 1}
    with pytest.raises(DataError, match="no label shared"):
        map_dataset(EmotionDataset.from_texts(["a", "b"], [["positive"], ["negative"]], TAXONOMIES["sentiment-4"]),
                    "isear", synonyms=True)


def test_carer_maps_onto_the_four_isear_labels_it_shares():
    carer = TAXONOMIES["dair-6"]
    out = map_dataset(EmotionDataset.from_texts([f"t{i}" for i in range(6)], list(carer.names), carer), "isear")
    assert sorted(labs[0] for labs in out.frame["labels"]) == ["anger", "fear", "joy", "sadness"]
    assert out.label_set.names == TAXONOMIES["isear-7"].names and out.info["label_map"]["rows_dropped"] == 2
