"""ISEAR: labels, metadata and placeholder flags."""

from collections import Counter

from emotune.data.registry import load_dataset
from tests.data.corpora import needs_data

pytestmark = needs_data


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
