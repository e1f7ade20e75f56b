"""`data show` on a file: counts folded over chunks equal the whole file's, the sample is uniform-sized."""

import pandas as pd
import pytest

from emotune.data.describe import describe_chunks
from emotune.data.files import load_file, load_file_chunks
from emotune.errors import DataError


def _frame(n=250):
    return pd.DataFrame({"text": [f"text number {i}" if i % 17 else "" for i in range(n)],
                         "label": [["joy", "anger", "fear"][i % 3] if i % 5 else "joy,fear" for i in range(n)],
                         "split": [["train", "dev", "test"][i % 3] for i in range(n)],
                         "v": [i / 10 for i in range(n)]})


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_chunked_counts_equal_the_whole_file(tmp_path, suffix):
    frame = _frame()
    path = tmp_path / f"d{suffix}"
    if suffix == ".parquet":
        frame.to_parquet(path, row_group_size=40)
    elif suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    whole = load_file(path, split_col="split")
    chunked = describe_chunks(load_file_chunks(path, split_col="split", chunk_rows=60), n=7, seed=3)
    assert chunked.describe()["splits"] == whole.describe()["splits"]
    assert chunked.rows == len(whole) and chunked.task == whole.task
    assert len(chunked.sample) == 7 and all(r["text"] in set(whole.frame["text"]) for r in chunked.sample)
    assert any("empty text" in note for note in chunked.notes)
    dev = describe_chunks(load_file_chunks(path, split_col="split", chunk_rows=60), split="dev", n=0)
    assert dev.describe()["splits"] == whole.split("dev").describe()["splits"]
    with pytest.raises(DataError, match="no 'valid' split"):
        describe_chunks(load_file_chunks(path, split_col="split", chunk_rows=60), split="valid")


def test_chunked_regression_means_and_row_numbers_in_errors(tmp_path):
    frame = _frame()
    frame.to_parquet(tmp_path / "r.parquet", row_group_size=50)
    whole = load_file(tmp_path / "r.parquet", target_cols=["v"])
    chunked = describe_chunks(load_file_chunks(tmp_path / "r.parquet", target_cols=["v"], chunk_rows=64))
    assert chunked.describe()["splits"]["all"]["mean"]["v"] == pytest.approx(whole.describe()["splits"]["all"]["mean"]["v"])
    frame["v"] = frame["v"].astype(str)
    frame.loc[200, "v"] = "high"
    frame.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad\.csv, line 202: column 'v' has a non-numeric value"):
        describe_chunks(load_file_chunks(tmp_path / "bad.csv", target_cols=["v"], chunk_rows=64))
