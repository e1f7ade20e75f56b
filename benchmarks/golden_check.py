"""Golden check for refactors: the same presets give the same metrics and predictions.

Trains every preset in ``configs/`` through the command line (``emotune train``), the TF-IDF and
lexicon presets on their full data and every other preset on a small sample with a tiny random
model of its architecture (the same recipe as ``tests/training/test_every_preset_runs.py``), then
stores dev/test metrics and the test-set scores of each run in one JSON file. Run it before a
change (``--write``) and after it (``--check``): any metric or score that moved is listed.

    python benchmarks/golden_check.py --write benchmarks/results/golden.json --work /tmp/golden
    python benchmarks/golden_check.py --check benchmarks/results/golden.json --work /tmp/golden2

It only uses the command line and the files of a run directory (metrics.json,
predictions/test.npz), so it runs unchanged on the code before and after a redesign.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.tiny_models import build_tiny  # noqa: E402
from tests.training.test_every_preset_runs import ARCH  # noqa: E402  (zoo preset -> tiny stand-in)

SMALL = ["data.max_train=40", "data.max_eval=12", "training.epochs=1", "training.max_length=48",
         "training.batch_size=8", "training.eval_batch_size=16", "training.grad_accum=1",
         "training.early_stopping_patience=0", "training.precision=fp32", "training.threads=1"]
FULL_BACKENDS = {"tfidf", "lexicon"}


def overrides_for(path: Path, tiny_root: Path) -> list[str] | None:
    raw = yaml.safe_load(path.read_text()) or {}
    model = raw.get("model") or {}
    backend = model.get("backend", "tfidf")
    if backend in FULL_BACKENDS:
        return []
    if backend == "ensemble":
        return None  # needs member runs: covered by the test suite, not here
    out = list(SMALL)
    name = model.get("name")
    if name in ARCH:
        tiny = tiny_root / ARCH[name]
        if not tiny.exists():
            build_tiny(ARCH[name], tiny)
        out.append(f"model.name={tiny}")
    elif name is not None:
        return None  # a local/hub model that no tiny stand-in replaces
    if model.get("quantization", "none") != "none":
        out += ["model.quantization=none", "training.optimizer=adamw_torch_fused"]
    if backend == "instruct":
        out = [o for o in out if not o.startswith("training.max_length")]
        out.append("model.instruct.max_per_task=24")
    return out


def run_one(path: Path, work: Path, tiny_root: Path) -> dict | None:
    overrides = overrides_for(path, tiny_root)
    if overrides is None:
        return None
    run_dir = work / path.stem
    cmd = [sys.executable, "-m", "emotune", "train", str(path), "--run-dir", str(run_dir)]
    for o in overrides:
        cmd += ["--set", o]
    if not (run_dir / "metrics.json").is_file():
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout)[-800:]}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    pred = np.load(run_dir / "predictions" / "test.npz", allow_pickle=False)
    return {
        "primary_metric": metrics.get("primary_metric"),
        "dev": {k: v for k, v in (metrics.get("dev") or {}).items() if isinstance(v, (int, float))},
        "test": {k: v for k, v in (metrics.get("test") or {}).items() if isinstance(v, (int, float))},
        "test_scores": np.round(pred["scores"][:300].astype(float), 5).tolist(),  # the first 300 rows
    }


def compare(old: dict, new: dict, atol: float) -> list[str]:
    problems = []
    for name, a in old.items():
        b = new.get(name)
        if b is None:
            problems.append(f"{name}: missing after the change")
            continue
        if "error" in a or "error" in b:
            if ("error" in a) != ("error" in b):
                problems.append(f"{name}: error before={('error' in a)} after={('error' in b)}")
            continue
        for split in ("dev", "test"):
            for k, v in a[split].items():
                w = b[split].get(k)
                if w is None or not np.isclose(v, w, atol=atol, equal_nan=True):
                    problems.append(f"{name}: {split} {k} {v} -> {w}")
        sa, sb = np.asarray(a["test_scores"]), np.asarray(b["test_scores"])
        if sa.shape != sb.shape or not np.allclose(sa, sb, atol=max(atol, 2e-5), equal_nan=True):
            diff = float(np.nanmax(np.abs(sa - sb))) if sa.shape == sb.shape else "shape"
            problems.append(f"{name}: test scores changed (max abs diff {diff})")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path)
    group.add_argument("--check", type=Path)
    ap.add_argument("--work", type=Path, required=True, help="where the runs are trained (kept: rerun resumes)")
    ap.add_argument("--tiny", type=Path, help="folder of the tiny models (default WORK/_tiny); reuse the one of --write")
    ap.add_argument("--only", default="", help="comma-separated preset names")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--report", type=Path, help="with --check: also write the outcome as JSON")
    args = ap.parse_args()
    presets = sorted((ROOT / "configs").glob("*.yaml"))
    if args.only:
        keep = set(args.only.split(","))
        presets = [p for p in presets if p.stem in keep]
    args.work.mkdir(parents=True, exist_ok=True)
    results = {}
    for path in presets:
        res = run_one(path, args.work, args.tiny or args.work / "_tiny")
        if res is not None:
            results[path.stem] = res
            status = "error" if "error" in res else f"test {res['test'].get(res['primary_metric'])}"
            print(f"{path.stem}: {status}", flush=True)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(json.dumps(results, indent=1) + "\n")
        return 0
    old = json.loads(args.check.read_text())
    if args.only:
        old = {k: v for k, v in old.items() if k in results}
    problems = compare(old, results, args.atol)
    if args.report:
        import platform
        from datetime import datetime, timezone

        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        changed = sorted({p.split(":")[0] for p in problems})
        args.report.write_text(json.dumps({
            "command": " ".join(["python", "benchmarks/golden_check.py"] + sys.argv[1:]), "commit": commit,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, "
            f"{os.cpu_count()} cores", "baseline": str(args.check), "presets": len(old),
            "unchanged": sorted(set(old) - set(changed)), "changed": changed, "differences": problems}, indent=1) + "\n")
    print("\n".join(problems) if problems else f"golden check: {len(old)} presets unchanged")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
