"""Texts/s of `predict` on 100,000 rows: the local path vs the Ray engine with 1 and 2 workers.

    taskset -c 0,1 .venv/bin/python benchmarks/bench_ray.py [--rows 100000] [--shards 8] \
        [--out benchmarks/results/ray.json]

The model is a TF-IDF run trained here on ISEAR (seconds), so the numbers measure the engine's
overhead, not a network's speed: with a MiniLM the model dominates and Ray's share shrinks. The
input is ISEAR's texts repeated to ``--rows``, as one CSV (the local path) and as ``--shards`` CSV
shards (Ray). Timed: the local ``predict_file`` (model loaded before); Ray's start
(``ray.init``, once) and, per worker count, ``label_corpus`` from the call to the last shard
published (actor start and model load included: that is what a user waits for). Labels are checked
identical between the paths. One pass each; the machine is shared, so the JSON records the CPU
affinity and the load average before and after.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from _machine import cpu_model  # benchmarks/ is the script's folder, so on sys.path


def machine() -> dict:
    import ray

    cpu = cpu_model()
    return {"cpu": cpu, "cores_visible": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)),
            "python": platform.python_version(), "ray": ray.__version__,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def write_csv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text"])
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--out", default="benchmarks/results/ray.json")
    args = ap.parse_args()

    import ray

    from emotune.data.registry import load_dataset
    from emotune.inference.predict import predict_file, read_output
    from emotune.inference.ray_engine import RayJob, label_corpus
    from emotune.inference.shards import read_output_dir
    from emotune.models.tfidf import TfidfClassifier
    from emotune.runs import Run

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    ds = load_dataset("isear")
    clf = TfidfClassifier(ds.label_set)
    clf.fit(ds)
    clf.save_pretrained(work / "isear-tfidf" / "model")
    texts = list(ds.texts)
    rows = [[f"r{i:06d}", texts[i % len(texts)]] for i in range(args.rows)]
    write_csv(work / "all.csv", rows)
    per = -(-args.rows // args.shards)
    for s in range(args.shards):
        write_csv(work / "shards" / f"part-{s:03d}.csv", rows[s * per:(s + 1) * per])
    load_before = os.getloadavg()

    local_clf = Run.open(work / "isear-tfidf").load().view()
    t = time.perf_counter()
    predict_file(local_clf, work / "all.csv", work / "local.csv")
    local_s = time.perf_counter() - t
    local_labels = [r["predicted"] for r in read_output(work / "local.csv")]

    t = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    init_s = time.perf_counter() - t
    results = {"local": {"seconds": round(local_s, 2), "texts_per_s": round(args.rows / local_s)}}
    for workers in (1, 2):
        out = work / f"ray-{workers}.parquet"
        job = RayJob("predict", [str(work / "isear-tfidf")], str(out), "parquet")
        t = time.perf_counter()
        res = label_corpus(job, work / "shards", workers=workers)
        secs = time.perf_counter() - t
        same = list(read_output_dir(out)["predicted"]) == local_labels
        results[f"ray_{workers}"] = {"seconds": round(secs, 2), "texts_per_s": round(args.rows / secs),
                                     "workers": res.workers, "labels_identical_to_local": same}
    ray.shutdown()
    report = {
        "command": "taskset -c 0,1 " + " ".join([sys.executable, *sys.argv]),
        "machine": machine(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "model": "TF-IDF run trained on ISEAR (engine overhead, not model speed)",
        "rows": args.rows, "shards": args.shards, "ray_init_seconds": round(init_s, 2), "results": results,
        "ray_overhead_1_worker_seconds": round(results["ray_1"]["seconds"] - local_s, 2),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
