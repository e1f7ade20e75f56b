import pandas as pd
import pytest

from emotune.data.context import add_context
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet
from emotune.errors import DataError
from emotune.config import ContextConfig


def _dialogue():
    frame = pd.DataFrame({
        "text": ["Hi.", "Hello there.", "How are you?", "Fine.", "Other dialogue."],
        "text_original": ["Hi.", "Hello there.", "How are you?", "Fine.", "Other dialogue."],
        "labels": [("neutral",)] * 5,
        "split": ["train"] * 5,
        "dialogue_id": ["d1", "d1", "d1", "d1", "d2"],
        "turn": [0, 1, 2, 3, 0],
        "speaker": ["Ross", "Rachel", "Ross", "Rachel", "Joey"],
    })
    return EmotionDataset("toy", frame, LabelSet(("neutral",)))


def test_previous_turns_only_same_dialogue():
    out = add_context(_dialogue(), ContextConfig(window=2))
    texts = out.texts
    assert texts[0] == ">> Ross: Hi."
    assert texts[3] == "Rachel: Hello there. </s> Ross: How are you? </s> >> Rachel: Fine."
    assert texts[4] == ">> Joey: Other dialogue."  # nothing from d1
    assert out.frame["utterance"].tolist()[3] == "Fine."


def test_window_zero_and_no_speaker_and_separator():
    ds = _dialogue()
    assert add_context(ds, ContextConfig(window=0)).texts == ds.texts
    out = add_context(ds, ContextConfig(window=1, speaker=False, separator=" | ", target_marker="* "))
    assert out.texts[2] == "Hello there. | * How are you?"


def test_source_supplies_turns_removed_from_ds():
    ds = _dialogue()
    part = ds.subset([3])  # turn 3 only, e.g. after dedup removed earlier turns
    out = add_context(part, ContextConfig(window=3), source=ds)
    assert out.texts[0].startswith("Ross: Hi. </s> Rachel: Hello there.")


def test_missing_columns_name_the_column_and_row():
    ds = _dialogue()
    ds.frame = ds.frame.drop(columns=["speaker"])
    with pytest.raises(DataError, match="'speaker' column"):
        add_context(ds, ContextConfig(window=2))
    ds = _dialogue()
    ds.frame["turn"] = pd.Series([0, 1, None, 3, 0], dtype=object)
    with pytest.raises(DataError, match="row 3 has no 'turn' value"):
        add_context(ds, ContextConfig(window=2))


def test_non_dialogue_dataset():
    ds = EmotionDataset.from_texts(["a"], ["x"], LabelSet(("x",)))
    with pytest.raises(DataError, match="has no dialogues"):
        add_context(ds, ContextConfig(window=1))
