"""WASSA-2017 and EmoBank: regression targets."""

import numpy as np
from emotune.data.registry import load_dataset
from tests.data.corpora import needs_data, split_counts

pytestmark = needs_data


def test_wassa_and_emobank():
    w = load_dataset("wassa2017", emotion="fear")
    assert split_counts(w) == {"train": 1147, "dev": 110, "test": 995}
    assert np.isclose(w.split("train").y().mean(), 0.496, atol=0.002)
    e = load_dataset("emobank")
    assert e.label_set.names == ("V", "A", "D")
    assert "easy_money_13624_13628" not in set(e.frame["source_id"])
    assert np.allclose(e.y().mean(axis=0), [2.98, 3.04, 3.06], atol=0.01)
