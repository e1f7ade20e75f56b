"""Faithfulness and latency of the word explanations (`emotune explain`), on ISEAR test texts.

    OMP_NUM_THREADS=1 taskset -c 0 .venv/bin/python benchmarks/bench_faithfulness.py \
        runs/isear-tfidf runs/isear-minilm [--n 300] [--out benchmarks/results/faithfulness.json]

For every run: the first ``--n`` texts of its test split, each explained toward its predicted
label with every method the backend supports plus occlusion; then the deletion curve (the mean
drop of that label's probability after deleting the k highest-scored words, k = 1..5) and its
AOPC, against deleting k random words (mean of ``--seeds`` seeded permutations). Latency is the
wall time of ``explain_texts`` per text (batches of 8, one core), after a warm-up on 4 texts.
Writes JSON with the command, machine and date, and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _machine import cpu_model  # benchmarks/ is the script's folder, so on sys.path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

K_MAX = 5


def machine() -> dict:
    import torch

    cpu = cpu_model()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores_used": cores, "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None}


def bench_run(run_dir: Path, n: int, seeds: int, batch_size: int) -> dict:
    from emotune.explain import explain_texts, supported_methods
    from emotune.explain.faithfulness import aopc, deletion_curve
    from emotune.runs import Run, load_splits

    run = Run.open(run_dir)
    clf = run.load().view()
    texts = list(load_splits(run_dir).test.texts)[:n]
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    out = {"run": str(run_dir), "backend": run.meta.get("backend"), "model": (run.meta.get("model") or {}).get("name"),
           "test_f1_macro": (metrics.get("test") or {}).get("f1_macro"), "epochs": run.config.training.epochs,
           "n_texts": len(texts), "methods": {}}
    explanations = None
    for method in supported_methods(clf):
        explain_texts(clf, texts[:4], method=method, batch_size=batch_size)  # warm-up
        started = time.perf_counter()
        explanations = explain_texts(clf, texts, method=method, batch_size=batch_size)
        seconds = time.perf_counter() - started
        curve = deletion_curve(clf, explanations, K_MAX, order="top", batch_size=64)
        out["methods"][method] = {"curve": curve, "aopc": aopc(curve), "ms_per_text": 1000 * seconds / len(texts)}
        print(f"  {run_dir.name} {method}: AOPC {aopc(curve):.4f}, {1000 * seconds / len(texts):.1f} ms/text",
              file=sys.stderr, flush=True)
    curves = [deletion_curve(clf, explanations, K_MAX, order="random", seed=s, batch_size=64) for s in range(seeds)]
    curve = [float(x) for x in np.mean(curves, axis=0)]
    out["methods"]["random"] = {"curve": curve, "aopc": aopc(curve), "ms_per_text": None, "seeds": seeds}
    return out


def table(results: list[dict]) -> str:
    head = "| run | method | " + " | ".join(f"k={k}" for k in range(1, K_MAX + 1)) + " | AOPC | ms / text |"
    lines = [head, "|" + "---|" * (K_MAX + 4)]
    for r in results:
        for method, m in r["methods"].items():
            ms = "-" if m["ms_per_text"] is None else f"{m['ms_per_text']:.1f}"
            lines.append(f"| {Path(r['run']).name} | {method} | " + " | ".join(f"{x:.3f}" for x in m["curve"])
                         + f" | {m['aopc']:.3f} | {ms} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/faithfulness.json"))
    args = ap.parse_args(argv)
    results = [bench_run(r, args.n, args.seeds, args.batch_size) for r in args.runs]
    doc = {"command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]), "machine": machine(),
           "k": list(range(1, K_MAX + 1)), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\n{doc['machine']['date']}, {doc['machine']['cpu']}, {doc['machine']['cores_used']} core(s)")


if __name__ == "__main__":
    main()
