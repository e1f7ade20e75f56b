"""MELD, EmoryNLP and DailyDialog: dialogues, speakers, labels."""

from emotune.data.registry import load_dataset
from tests.data.corpora import label_counts, needs_data

pytestmark = needs_data


def test_meld_dialogues_and_sentiment():
    ds = load_dataset("meld")
    f = ds.frame
    assert f[f.split == "train"]["dialogue_id"].nunique() == 1038
    assert f[f.split == "test"]["dialogue_id"].nunique() == 280
    assert label_counts(ds, "train")["neutral"] == 4710
    assert (f[f.split == "train"]["sentiment"] == "negative").sum() == 2945
    assert ds.is_conversational and {"turn", "speaker"} <= set(f.columns)


def test_emorynlp_speakers_and_scenes():
    ds = load_dataset("emorynlp")
    f = ds.frame
    assert [f[f.split == s]["dialogue_id"].nunique() for s in ("train", "dev", "test")] == [659, 89, 79]
    assert f["speaker"].iloc[0] == "Monica Geller"
    assert label_counts(ds, "train")["joyful"] == 1677


def test_dailydialog_emotions():
    ds = load_dataset("dailydialog")
    dev, test = label_counts(ds, "dev"), label_counts(ds, "test")
    assert dev["neutral"] == 7108 and dev["happiness"] == 684 and test["disgust"] == 47
    assert ds.label_set.names[0] == "neutral"
    assert ds.frame[ds.frame.split == "dev"]["dialogue_id"].nunique() == 1000
