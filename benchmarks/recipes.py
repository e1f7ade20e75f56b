"""Record what each recipe change did to dev score and speed, as data (benchmarks/results/recipes-NAME.json).

    python benchmarks/recipes.py isear-minilm --note "one core each, machine shared" \
        baseline=/path/runs/isear-minilm A=/path/runs/isear-minilm-A B=/path/runs/isear-minilm-B

The first run is the baseline; every other row lists the config keys it changed against it (read
from the runs' own config.yaml), its dev score (what the choice is made on), its test score (shown,
never used to choose), the epochs it trained and its fit time. ``python benchmarks/tables.py`` puts
the table into BENCHMARKS.md ("What we learned").
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

from emotune.runs import Run, write_json
from emotune.training.trainer import config_differences, machine_info

ROOT = Path(__file__).resolve().parent.parent


def row(label: str, run: Run, base: Run | None) -> dict:
    pm = run.metrics.get("primary_metric", "f1_macro")
    hist = run.history
    best = max(hist, key=lambda h: h.get(f"dev_{pm}", float("-inf"))) if hist else {}
    changed = [] if base is None else [d for d in config_differences(base.config, run.config)
                                       if not d.startswith(("name:", "description:", "output_dir:"))]
    return {"label": label, "run": run.path.name, "changes": changed, "primary_metric": pm,
            "dev": (run.metrics.get("dev") or {}).get(pm), "test": (run.metrics.get("test") or {}).get(pm),
            "epochs_trained": max((h.get("epoch") or 0 for h in hist), default=None), "best_epoch": best.get("epoch"),
            "dev_curve": [h.get(f"dev_{pm}") for h in hist], "fit_seconds": run.train_seconds,
            "train_rows": (run.metrics.get("sizes") or {}).get("train"),
            "torch_threads": (run.metrics.get("machine") or {}).get("torch_threads")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR, the baseline first")
    ap.add_argument("--note", default="", help="how the runs were made (machine load, cores)")
    ap.add_argument("--chosen", default=None, help="the label chosen (by dev) for the preset")
    args = ap.parse_args()
    pairs = [r.split("=", 1) for r in args.runs]
    runs = [(label, Run.open(path, finished=True)) for label, path in pairs]
    base = runs[0][1]
    record = {"recipes": args.name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "note": args.note, "chosen": args.chosen,
              "command": "python benchmarks/recipes.py " + " ".join(sys.argv[1:]),
              "rows": [row(label, run, None if i == 0 else base) for i, (label, run) in enumerate(runs)]}
    out = ROOT / "benchmarks" / "results" / f"recipes-{args.name}.json"
    write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
