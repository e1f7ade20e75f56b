import numpy as np
import pytest

from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError


def test_encodings_round_trip():
    ls = LabelSet(("joy", "anger", "fear"), Task.MULTI, name="t")
    ind = ls.encode_multi([["joy"], [], ["anger", "fear"]])
    assert ind.tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 1]]
    assert ls.decode_multi(ind) == [["joy"], [], ["anger", "fear"]]
    assert ls.encode_single(["fear", "joy"]).tolist() == [2, 0]
    assert ls.id2label[1] == "anger" and ls.label2id["fear"] == 2


def test_unknown_label_names_the_label_and_suggests(tmp_path):
    ls = LabelSet(("joy", "anger"), name="small")
    with pytest.raises(DataError) as exc:
        ls.index("angr", where="row 3")
    assert "angr" in str(exc.value) and "row 3" in str(exc.value) and "anger" in str(exc.value)


def test_duplicate_labels_rejected():
    with pytest.raises(DataError):
        LabelSet(("a", "a"))


def test_save_load(tmp_path):
    ls = LabelSet(("V", "A", "D"), Task.REGRESSION, name="vad")
    ls.save(tmp_path / "labels.json")
    back = LabelSet.load(tmp_path / "labels.json")
    assert back == ls and back.task is Task.REGRESSION and not back.is_classification
