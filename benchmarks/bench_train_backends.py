"""Training speed and peak memory of every offline backend on ISEAR, one ``emotune train`` each.

    .venv/bin/python benchmarks/bench_train_backends.py [--rows 800] [--only tfidf,minilm] [--out FILE]

Each backend runs its ISEAR preset as a separate ``emotune train`` process (so that one's memory
does not count against the next) on the standard split. The cheap backends train on the whole
train split; the transformer ones on a fixed-seed sample of ``--rows`` rows for one epoch (the
full 3-epoch MiniLM run is the README's main job and is timed on its own in BENCHMARKS.md).
Dev/test scoring is capped at 200 rows each: the scores printed here are a sanity check on a
small sample, not results.

Every run starts with an empty embedding cache (the prepared weights are shared). Reported per backend: train rows x epochs / fit seconds (examples/s, as the trainer timed ``fit``),
prediction texts/s (the trainer's timing of test scoring), and the peak resident memory of the
whole process (``wait4`` rusage: model loading, tokenisation, training and scoring included).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL_CAP = ("data.max_eval=200",)

# (key, preset, overrides for a benchmark-sized run, whether --rows applies)
BACKENDS = [
    ("tfidf", "isear-tfidf", (), False),
    ("lexicon", "isear-lexicon", (), False),
    ("embed-head", "isear-embed-head", (), False),
    ("encoder minilm", "isear-minilm", ("training.epochs=1",), True),
    ("encoder mpnet", "isear-mpnet", ("training.epochs=1",), True),
    ("causal-lm smollm2 LoRA", "isear-smollm2-lora", ("training.epochs=1",), True),
    ("prompt smollm2 zero-shot", "isear-smollm2-prompt", (), False),
]


def cold_cache(tmp: Path) -> dict:
    """Environment with an empty emotune cache that still sees the prepared weights.

    embed-head caches the embeddings of long text lists; a warm cache would time a file read.
    """
    from emotune.paths import cache_dir

    cold = tmp / "cache"
    cold.mkdir()
    (cold / "models").symlink_to(cache_dir() / "models", target_is_directory=True)
    return {**os.environ, "EMOTUNE_CACHE_DIR": str(cold)}


def run_one(preset: str, overrides: list[str], run_dir: Path, env: dict) -> dict:
    """``emotune train`` in a child process; its metrics.json plus the child's peak RSS."""
    cmd = [sys.executable, "-m", "emotune", "train", str(ROOT / "configs" / f"{preset}.yaml"),
           "--run-dir", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)
    # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the maximum over all children)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": err.strip().splitlines()[-1] if err.strip() else f"exit {status}", "wall_s": round(wall, 1)}
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {"metrics": metrics, "wall_s": round(wall, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=800, help="train sample for the transformer backends")
    ap.add_argument("--only", default=None, help="comma-separated keys (tfidf, lexicon, embed-head, minilm, ...)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench_out" / "train_backends.json")
    args = ap.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="emotune-bench-") as tmp:
        env = cold_cache(Path(tmp))
        for key, preset, extra, sampled in BACKENDS:
            if args.only and not any(k.strip() and k.strip() in key for k in args.only.split(",")):
                continue
            overrides = [*EVAL_CAP, *extra, *([f"data.max_train={args.rows}"] if sampled else [])]
            print(f"{key}: emotune train configs/{preset}.yaml " + " ".join(f"--set {o}" for o in overrides),
                  file=sys.stderr)
            res = run_one(preset, overrides, Path(tmp) / preset, env)
            row = {"backend": key, "preset": preset, "overrides": overrides, "wall_s": res["wall_s"]}
            if "error" in res:
                row["error"] = res["error"]
            else:
                m = res["metrics"]
                n_train = m["sizes"]["train"]  # one pass: the sampled runs train 1 epoch
                fit = m.get("fit_seconds") or 0.0
                row.update({"train_rows": n_train, "fit_s": fit,
                            "examples_per_s": round(n_train / fit, 1) if fit else None,
                            "predict_texts_per_s": m.get("predict_texts_per_s"),
                            "peak_rss_mib": res["peak_rss_mib"],
                            "test_f1_macro_sample": round(m["test"]["f1_macro"], 3)})
            print("  " + json.dumps({k: v for k, v in row.items() if k not in ("overrides", "preset")}), file=sys.stderr)
            rows.append(row)

    info = {"cpu_count": os.cpu_count(), "python": platform.python_version(),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average_after": os.getloadavg()}
    print(f"\nMachine: {info['cpu_count']} CPUs, Python {info['python']}; {info['date']}; "
          f"load average after {tuple(round(x, 2) for x in info['load_average_after'])}\n")
    print("| backend | train rows | fit s | examples/s | predict texts/s | peak RSS MiB | test macro-F1 (200-row sample) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if "error" in r:
            print(f"| {r['backend']} | failed: {r['error']} | | | | | |")
            continue
        print(f"| {r['backend']} | {r['train_rows']:,} | {r['fit_s']:.1f} | {r['examples_per_s']} | "
              f"{r['predict_texts_per_s']} | {r['peak_rss_mib']:,} | {r['test_f1_macro_sample']:.3f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
