import numpy as np
import pytest

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError


def _ds():
    ls = LabelSet(("joy", "anger"), name="two")
    ds = EmotionDataset.from_texts(["a", "b", "c", "d"], ["joy", "anger", "joy", "joy"], ls)
    ds.frame["split"] = ["train", "train", "dev", "test"]
    return ds


def test_splits_and_targets():
    ds = _ds()
    assert ds.split_names == ["train", "dev", "test"]
    train = ds.split("train")
    assert train.texts == ["a", "b"] and train.y().tolist() == [0, 1]
    assert ds.describe()["splits"]["train"]["label_counts"] == {"joy": 1, "anger": 1}


def test_missing_split_is_a_clear_error():
    ds = _ds()
    with pytest.raises(DataError, match="no 'validation' split"):
        ds.split("validation")


def test_from_texts_rejects_unknown_labels():
    with pytest.raises(DataError, match="Unknown label 'sad'"):
        EmotionDataset.from_texts(["x"], ["sad"], LabelSet(("joy",)))


def test_multi_and_regression_targets():
    multi = EmotionDataset.from_texts(["x", "y"], [["joy", "anger"], []], LabelSet(("joy", "anger"), Task.MULTI))
    assert multi.y().tolist() == [[1, 1], [0, 0]]
    reg = EmotionDataset.from_texts(["x", "y"], [[1.0, 2.0], [3.0, 4.0]], LabelSet(("V", "A"), Task.REGRESSION))
    assert np.allclose(reg.y(), [[1, 2], [3, 4]])
    assert reg.describe()["splits"]["all"]["mean"] == {"V": 2.0, "A": 3.0}
