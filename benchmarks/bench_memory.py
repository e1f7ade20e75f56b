"""Peak memory of `emotune predict --input BIG --output OUT` (the local, streamed path) and `data show BIG`.

    taskset -c 0 .venv/bin/python benchmarks/bench_memory.py [--rows 2000000] [--out benchmarks/results/memory.json]

Writes a ``--rows`` CSV and the same rows as Parquet (ISEAR texts repeated), trains a TF-IDF run on
ISEAR (fast, so the time goes to reading and writing), then runs the real CLI on each input as a
subprocess and polls its resident memory (psutil, every 50 ms, the process and its children). The
goal: peak RSS under 1.5 GB on a 2-million-row CSV, i.e. the file is never loaded whole.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

GOAL_MB = 1536


def peak_rss(cmd: list[str], env: dict) -> tuple[float, float, int]:
    """(peak RSS in MB over the process tree, seconds, exit code)."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        try:
            procs = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in procs))
        except psutil.Error:
            pass
        time.sleep(0.05)
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode()[-2000:])
    return peak / 2**20, time.perf_counter() - start, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--out", default="benchmarks/results/memory.json")
    ap.add_argument("--inputs", default="csv,parquet,show",
                    help="which runs: csv / parquet (predict on that input), show (data show on the Parquet file)")
    args = ap.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from emotune.data.registry import load_dataset
    from emotune.models.tfidf import TfidfClassifier

    work = Path(tempfile.mkdtemp(prefix="bench-mem-"))
    ds = load_dataset("isear")
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    clf.save_pretrained(work / "isear-tfidf" / "model")
    texts = list(ds.texts)
    big_csv = work / "big.csv"
    if "csv" in args.inputs.split(","):
        with open(big_csv, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "text"])
            w.writerows([f"r{i:07d}", texts[i % len(texts)]] for i in range(args.rows))
    labels = [ls[0] for ls in ds.frame["labels"]]
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("label", pa.string())])
    with pq.ParquetWriter(work / "big.parquet", schema) as pw:
        for start in range(0, args.rows, 100_000):
            ids = range(start, min(args.rows, start + 100_000))
            pw.write_table(pa.table({"id": [f"r{i:07d}" for i in ids], "text": [texts[i % len(texts)] for i in ids],
                                     "label": [labels[i % len(texts)] for i in ids]}, schema=schema))

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "emotune"]
    runs = {}
    jobs = {"predict_csv": ["predict", str(work / "isear-tfidf"), "--input", str(big_csv),
                            "--output", str(work / "predict_csv.csv")],
            "predict_parquet": ["predict", str(work / "isear-tfidf"), "--input", str(work / "big.parquet"),
                                "--output", str(work / "predict_parquet.csv")],
            "show_parquet": ["data", "show", str(work / "big.parquet")]}
    wanted = {{"csv": "predict_csv", "parquet": "predict_parquet", "show": "show_parquet"}[k]
              for k in args.inputs.split(",")}
    for name, argv in jobs.items():
        if name not in wanted:
            continue
        src = big_csv if name == "predict_csv" else work / "big.parquet"
        cmd = [*base, *argv]
        mb, secs, rc = peak_rss(cmd, env)
        runs[name] = {"command": " ".join(cmd[1:]).replace(str(work), "$WORK"), "rows": args.rows, "input_mb": round(src.stat().st_size / 2**20),
                      "peak_rss_mb": round(mb), "seconds": round(secs, 1), "exit_code": rc,
                      "under_goal": mb < GOAL_MB}
        print(name, runs[name], flush=True)
    pinned = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    report = {"command": f"taskset -c {pinned} " + " ".join([sys.executable, *sys.argv]),
              "goal_mb": GOAL_MB, "machine": {"cpu_affinity": sorted(os.sched_getaffinity(0)),
                                              "cores_visible": os.cpu_count(), "python": platform.python_version(),
                                              "ram_gb": round(psutil.virtual_memory().total / 2**30),
                                              "load_average": os.getloadavg(),
                                              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")},
              "model": "TF-IDF run trained on ISEAR", "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    if Path(args.out).exists():  # runs made separately (another --inputs / --rows) are kept beside
        report["runs"] = {**json.loads(Path(args.out).read_text()).get("runs", {}), **runs}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    for p in work.glob("*.csv"):
        p.unlink()
    (work / "big.parquet").unlink()


if __name__ == "__main__":
    main()
