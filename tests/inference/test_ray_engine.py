"""The Ray engine against the local path, on one local Ray cluster (num_cpus=2) shared by the module."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from emotune.errors import ConfigError, DataError  # noqa: E402
from emotune.inference.annotate import annotate_file, load_annotators  # noqa: E402
from emotune.inference.predict import predict_file, read_output  # noqa: E402
from emotune.inference.ray_engine import RayJob, label_corpus, require_ray  # noqa: E402
from emotune.inference.shards import PARTIAL, final_path, read_output_dir  # noqa: E402
from emotune.runs import Run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["I passed my exam and I am so happy", "My dog died last week, and I cried",
         "He lied to me again\nand I was furious", "I heard footsteps behind me in the dark street", ""]
ROWS, SHARDS = 20_000, 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local cluster for the module; its address lets a CLI subprocess join it."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False,
                   logging_level="ERROR")
    yield ctx.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """20,000 rows as one CSV (the local path's input) and as 8 shards of it (Ray's)."""
    root = tmp_path_factory.mktemp("corpus")
    rows = [[f"r{i:05d}", TEXTS[i % 5] and f"{TEXTS[i % 5]} #{i % 7}"] for i in range(ROWS)]  # every 5th empty
    _write(root / "all.csv", rows)
    per = ROWS // SHARDS
    for s in range(SHARDS):
        _write(root / "shards" / f"part-{s}.csv", rows[s * per:(s + 1) * per])
    return root


def _write(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def local_output(tfidf_run, corpus):
    out = corpus / "local.csv"
    predict_file(Run.open(tfidf_run).load().view(), corpus / "all.csv", out, chunk_size=1000)
    return read_output(out)


def _same_as_local(frame, local, prob_cols):
    assert len(frame) == len(local)
    assert list(frame["id"]) == [r["id"] for r in local]  # same rows, input order
    assert list(frame["predicted"].fillna("")) == [r["predicted"] for r in local]
    for col in prob_cols:
        ray_p = np.array([np.nan if v in ("", None) else float(v) for v in frame[col]], dtype=float)
        loc_p = np.array([np.nan if v == "" else float(v) for v in (r[col] for r in local)], dtype=float)
        np.testing.assert_allclose(ray_p, loc_p, atol=1e-6, equal_nan=True)


def test_shards_on_ray_match_the_local_path(cluster, tfidf_run, corpus, local_output, tmp_path):
    out = tmp_path / "labelled.parquet"
    seen = []
    job = RayJob("predict", [str(tfidf_run)], str(out), "parquet", chunk_size=500)
    result = label_corpus(job, corpus / "shards", workers=2, on_progress=seen.append)
    assert result.shards == SHARDS and result.written == ROWS and result.workers == 2
    assert result.blank_rows == ROWS // 5 and sum(seen) == ROWS  # the progress saw every row
    frame = read_output_dir(out)
    assert frame["prob_joy"].dtype == np.float64 and frame["windows"].dtype == np.int64
    _same_as_local(frame, local_output, [c for c in local_output[0] if c.startswith("prob_")])
    assert not list((out / PARTIAL).iterdir())  # nothing half-done left behind

    again = label_corpus(job, corpus / "shards", workers=2)
    assert again.skipped_shards == SHARDS and again.written == 0


def test_onnx_int8_model_on_ray_matches_the_local_path(cluster, tiny_encoder_run, tmp_path):
    pytest.importorskip("onnxruntime")
    from emotune.export.onnx import export_onnx

    export_onnx(tiny_encoder_run, int8=True)
    # int8 graphs quantise activations per batch, and a chunk's texts are batched by length: with
    # chunks that are the shards, both paths batch the same texts together
    rows = [[f"r{i:03d}", TEXTS[i % 4] + f" {i}"] for i in range(192)]
    _write(tmp_path / "all.csv", rows)
    for s in range(2):
        _write(tmp_path / "in" / f"p{s}.csv", rows[s * 96:(s + 1) * 96])
    clf = Run.open(tiny_encoder_run).load(onnx=True, int8=True).view()
    predict_file(clf, tmp_path / "all.csv", tmp_path / "local.csv", batch_size=8, chunk_size=96)
    local = read_output(tmp_path / "local.csv")
    job = RayJob("predict", [str(tiny_encoder_run)], str(tmp_path / "out.csv"), "csv", onnx=True, int8=True,
                 batch_size=8, chunk_size=96)
    assert label_corpus(job, tmp_path / "in" / "p*.csv", workers=2).written == 192
    _same_as_local(read_output_dir(tmp_path / "out.csv"), local, [c for c in local[0] if c.startswith("prob_")])


def test_annotate_on_ray_matches_the_local_path(cluster, tfidf_run, multi_run, corpus, tmp_path):
    specs = [str(tfidf_run), str(multi_run)]
    local = tmp_path / "local.jsonl"
    annotate_file(load_annotators(specs), corpus / "shards" / "part-0.csv", local)
    job = RayJob("annotate", specs, str(tmp_path / "out.jsonl"), "jsonl")
    label_corpus(job, corpus / "shards" / "part-0.csv")
    # the same writer wrote both: byte-identical
    assert final_path(tmp_path / "out.jsonl", "part-0", "jsonl").read_bytes() == local.read_bytes()


def test_a_bad_row_fails_with_the_local_message(cluster, tfidf_run, tmp_path):
    _write(tmp_path / "in" / "a.csv", [["1", "fine"], ["2", "a NUL \x00 here"]])
    job = RayJob("predict", [str(tfidf_run)], str(tmp_path / "out"), "parquet")
    with pytest.raises(DataError, match=r"a\.csv, line 3 contains a NUL byte"):
        label_corpus(job, tmp_path / "in")
    assert not final_path(tmp_path / "out", "a", "parquet").exists()
    with pytest.raises(DataError, match="no column 'body'"):  # checked before Ray is asked for anything
        label_corpus(RayJob("predict", [str(tfidf_run)], str(tmp_path / "o2"), "parquet", text_col="body"),
                     tmp_path / "in")


def _largest_file(folder: Path) -> int:
    """Size of the largest file under ``folder`` (0 if none); files renamed away meanwhile are skipped."""
    sizes = [0]
    for p in folder.rglob("*") if folder.is_dir() else []:
        try:
            sizes.append(p.stat().st_size if p.is_file() else 0)
        except OSError:
            pass
    return max(sizes)


def test_killed_driver_then_rerun_loses_and_repeats_nothing(cluster, tfidf_run, corpus, local_output, tmp_path):
    out = tmp_path / "labelled.csv"
    cmd = [sys.executable, "-m", "emotune", "predict", str(tfidf_run), "--input", str(corpus / "shards"),
           "--output", str(out), "--engine", "ray", "--address", cluster, "--workers", "2", "--chunk-size", "50"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # a loaded machine starts the CLI and its actors slowly
        while time.monotonic() < deadline and proc.poll() is None:  # kill once some rows are written
            # a shard being written: predict_file's own hidden partial file inside the engine's .partial/
            if _largest_file(out / PARTIAL) > 2000:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        proc.send_signal(signal.SIGKILL)  # the driver only; the cluster lives on
        proc.wait(30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    finished = [p for p in out.glob("part-*.csv")]
    assert len(finished) < SHARDS  # it was stopped mid-way
    time.sleep(1)  # let the cluster drop the dead job's actors

    rerun = subprocess.run(cmd + ["--json"], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    info = json.loads(rerun.stdout)
    assert info["skipped_shards"] + info["resumed"] > 0 and info["written"] < ROWS  # it went on, not again
    frame = read_output_dir(out)
    _same_as_local(frame, local_output, [c for c in local_output[0] if c.startswith("prob_")])
    assert frame["id"].is_unique
    assert not list((out / PARTIAL).iterdir())


def test_a_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match="needs Ray Data") as exc:
        require_ray()
    assert "pip install 'emotune[ray]'" in exc.value.hint
