"""Shard layout and resume rules, without Ray (the Ray engine's actors call these)."""

import csv
import json

import pytest

from emotune.errors import DataError
from emotune.inference.predict import predict_file, read_output
from emotune.inference.shards import (PARTIAL, Shard, final_path, find_shards, label_shard, partial_path, plan_shards,
                                      read_output_dir, shard_names)
from emotune.runs import Run


def _csv(path, texts):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows([i, t] for i, t in enumerate(texts))
    return path


def test_find_shards_takes_a_file_a_folder_or_a_glob(tmp_path):
    a, b = _csv(tmp_path / "in" / "b.csv", ["x"]), _csv(tmp_path / "in" / "a.jsonl", ["x"])
    (tmp_path / "in" / "notes.md").write_text("not data")
    assert find_shards(a) == [a]
    assert find_shards(tmp_path / "in") == [b, a]
    assert find_shards(str(tmp_path / "in" / "*.csv")) == [a]
    with pytest.raises(DataError, match="No file matches"):
        find_shards(str(tmp_path / "in" / "*.tsv"))
    with pytest.raises(DataError, match="Input not found"):
        find_shards(tmp_path / "nope.csv")


def test_repeated_stems_get_their_folder_in_the_name(tmp_path):
    files = [_csv(tmp_path / d / "part-0.csv", ["x"]) for d in ("2024", "2025")]
    assert shard_names(files) == ["2024__part-0", "2025__part-0"]


def test_output_folder_refuses_another_input_unless_overwritten(tmp_path):
    _csv(tmp_path / "in" / "a.csv", ["x"])
    plan = plan_shards(tmp_path / "in", tmp_path / "out.csv")
    assert plan.fmt == "csv" and [s.name for s in plan.pending] == ["a"]
    assert json.loads((tmp_path / "out.csv" / "_shards.json").read_text())["names"] == ["a"]
    _csv(tmp_path / "in" / "b.csv", ["y"])
    with pytest.raises(DataError, match="output of another input"):
        plan_shards(tmp_path / "in", tmp_path / "out.csv")
    assert [s.name for s in plan_shards(tmp_path / "in", tmp_path / "out.csv", overwrite=True).pending] == ["a", "b"]
    (tmp_path / "file.csv").write_text("id\n")
    with pytest.raises(DataError, match="is a file"):
        plan_shards(tmp_path / "in", tmp_path / "file.csv")


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_shard_is_published_only_when_complete_and_resumes_inside(tfidf_run, tmp_path, fmt):
    clf = Run.open(tfidf_run).load().view()
    texts = ["I passed my exam and I am so happy", "", "He lied to me again, and I was furious"] * 30
    shard = Shard(_csv(tmp_path / "in.csv", texts), "in")
    out = tmp_path / "out"
    (out / PARTIAL).mkdir(parents=True)
    predict_file(clf, shard.path, tmp_path / "whole.csv")
    whole = read_output(tmp_path / "whole.csv")
    # an earlier, killed run left the first 40 rows in the partial file
    predict_file(clf, _csv(tmp_path / "head.csv", texts[:40]), partial_path(out, "in", fmt))
    calls = []

    def label(inp, dst, **callbacks):
        assert not final_path(out, "in", fmt).exists()  # nothing under the final name while in progress
        result = predict_file(clf, inp, dst, chunk_size=16, **callbacks)
        calls.append(result)
        return result

    label_shard(label, shard, out, fmt, column_types=None)
    assert calls[0].skipped == 40 and calls[0].written == len(texts) - 40
    assert not partial_path(out, "in", fmt).exists()
    (out / "_shards.json").write_text(json.dumps({"format": fmt, "names": ["in"]}))
    frame = read_output_dir(out)
    assert list(frame["predicted"]) == [r["predicted"] for r in whole]
    assert [str(v) for v in frame["id"]] == [r["id"] for r in whole]
