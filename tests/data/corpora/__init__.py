"""One test module per corpus family of :mod:`emotune.data.corpora`: counts and labels as in each SOURCE.md."""

from collections import Counter

import pytest

from emotune.paths import data_dir

needs_data = pytest.mark.skipif(not data_dir(must_exist=False).is_dir(), reason="datasets not available")


def split_counts(ds):
    return {s: int((ds.frame["split"] == s).sum()) for s in ds.split_names}


def label_counts(ds, split):
    part = ds.frame[ds.frame["split"] == split]
    return Counter(lab for labs in part["labels"] for lab in labs)
