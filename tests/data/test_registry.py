"""The dataset registry: names and aliases, options, the cache, datasets registered at run time."""

import subprocess
import sys

import pytest

from emotune.config import DataConfig
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.data.pipeline import prepare_data
from emotune.data.registry import (
    REGISTRY,
    DatasetSpec,
    get_spec,
    list_datasets,
    load_dataset,
    register_dataset,
    unregister_dataset,
)
from emotune.errors import DataError
from tests.data.corpora import needs_data
from tests.fixtures import toy


@needs_data
def test_list_datasets():
    rows = list_datasets()
    assert {r["name"] for r in rows} == set(REGISTRY)
    assert {"name", "task", "labels", "rows", "licence", "folder"} <= set(rows[0])


def test_unknown_dataset_suggests():
    with pytest.raises(DataError, match="Unknown dataset 'goemotion'") as exc:
        load_dataset("goemotion")
    assert "goemotions" in str(exc.value)


@needs_data
def test_missing_data_dir_names_path(tmp_path):
    with pytest.raises(DataError, match="not found") as exc:
        load_dataset("isear", data_root=tmp_path)
    assert str(tmp_path / "isear") in str(exc.value)
    (tmp_path / "isear").mkdir()
    with pytest.raises(DataError, match="isear.csv"):
        load_dataset("isear", data_root=tmp_path)


@needs_data
def test_unknown_option_is_an_error():
    with pytest.raises(DataError, match="no option 'emotion'"):
        load_dataset("isear", emotion="anger")


@needs_data
def test_cache_returns_independent_copies():
    a = load_dataset("isear")
    a.frame.loc[0, "text"] = "changed"
    assert load_dataset("isear").frame.loc[0, "text"] != "changed"



def test_listing_imports_no_corpus_module():
    code = ("import sys; from emotune.data.registry import list_datasets; list_datasets(); "
            "print([m for m in sys.modules if m.startswith('emotune.data.corpora') or m == 'torch'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def _three_rows(data_root=None) -> EmotionDataset:
    ls = LabelSet(("joy", "sadness"), Task.SINGLE, "mine")
    frame = [("so happy", "joy", "train"), ("so sad", "sadness", "train"), ("happy again", "joy", "test")]
    ds = EmotionDataset.from_texts([t for t, _, _ in frame], [lab for _, lab, _ in frame], ls, name="mine")
    ds.frame["split"] = [s for _, _, s in frame]
    return ds


def test_register_load_and_unregister():
    spec = DatasetSpec("mine", "", Task.SINGLE, 2, "2 / - / 1", "test data", "three rows", _three_rows,
                       aliases=("my-data",))
    try:
        register_dataset(spec)
        assert get_spec("my_data") is spec and "mine" in {r["name"] for r in list_datasets()}
        assert load_dataset("my-data").texts == ["so happy", "so sad", "happy again"]
        with pytest.raises(DataError, match="already registered"):
            register_dataset(spec)
    finally:
        unregister_dataset("mine")
    assert "mine" not in REGISTRY
    with pytest.raises(DataError, match="Unknown dataset 'my-data'"):
        load_dataset("my-data")


def test_registered_toy_data_goes_through_the_pipeline_unchanged(toy_data):
    data = prepare_data(DataConfig(dataset="toy-single"))
    direct = toy.prepared("single")
    for split in ("train", "dev", "test"):
        assert getattr(data, split).texts == getattr(direct, split).texts
    assert data.notes["dedup_dropped"] == 0 and data.notes["steps"]


def test_standing_in_restores_the_built_in_spec():
    real = get_spec("goemotions")
    with toy.standing_in("goemotions", toy.single(1, seed=1, split="train")):
        assert get_spec("goemotions").loader is not real.loader
        assert len(load_dataset("goemotions")) == 7
    assert get_spec("goemotions") is real
    assert list(REGISTRY).index("goemotions") == 1  # back in its place in `emotune data list`
