import pytest

from emotune.data.dataset import PreparedData
from emotune.data.pipeline import prepare_data, stratified_sample
from emotune.data.splits import assert_no_leakage
from emotune.paths import data_dir
from emotune.config import DataConfig

pytestmark = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def test_isear_defaults():
    d = prepare_data(DataConfig())
    assert isinstance(d, PreparedData)
    assert len(d.train) > 5500 and 700 < len(d.dev) < 800 and 700 < len(d.test) < 800
    assert not d.train.frame["is_placeholder"].any()
    assert_no_leakage(d.train, d.test)
    assert_no_leakage(d.train, d.dev)
    assert_no_leakage(d.dev, d.test)
    joined = "\n".join(d.notes["steps"])
    assert "placeholder" in joined and "Dedup" in joined and "Rows per split" in joined
    assert set(d.full.frame["split"]) == {"train", "dev", "test"}


def test_label_map_cap_and_samples():
    cfg = DataConfig(dataset="goemotions", label_map="ekman", cap={"neutral": 3000}, max_train=1500, max_eval=300)
    d = prepare_data(cfg)
    assert d.counts() == {"train": 1500, "dev": 300, "test": 300}
    assert d.train.label_set.name == "ekman-7"
    joined = "\n".join(d.notes["steps"])
    assert "Capped 'neutral'" in joined and "sampled to 1,500" in joined and "goemotions-28 -> ekman-7" in joined
    # fixed seed: same sample twice
    assert prepare_data(cfg).train.texts == d.train.texts


def test_context_after_split_uses_previous_turns_only():
    d = prepare_data(DataConfig(dataset="meld", context={"window": 2}, max_eval=200))
    first = d.train.frame.iloc[0]
    assert first["text"].startswith(">> ")
    row = d.train.frame[d.train.frame["turn"] == 3].iloc[0]
    assert row["text"].count(" </s> ") == 2 and ">> " in row["text"].split(" </s> ")[-1]
    assert "Conversation context" in "\n".join(d.notes["steps"])


def test_stratified_sample_keeps_every_class():
    d = prepare_data(DataConfig())
    s = stratified_sample(d.train, 70, seed=1)
    assert len(s) == 70 and len(set(s.labels)) == 7


def test_exclude_texts_of_drops_rows_another_dataset_holds(tmp_path, toy_data):
    from emotune.config import DataConfig
    from emotune.data.pipeline import prepare_data

    plain = prepare_data(DataConfig(dataset="toy-single"))
    path = tmp_path / "other.csv"
    taken = plain.test.texts[:3] + plain.train.texts[:2]
    path.write_text("text,label\n" + "".join(f'"{t.upper()}  ",joy\n' for t in taken))  # normalised: same texts
    data = prepare_data(DataConfig(dataset="toy-single", exclude_texts_of=[str(path)]))
    assert len(data.train) + len(data.dev) + len(data.test) == len(plain.train) + len(plain.dev) + len(plain.test) - 5
    assert not set(data.test.texts) & set(taken) and any("Dropped 5 row(s)" in s for s in data.notes["steps"])
