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

from emotune.metrics import compute_metrics
from emotune.runs import Run, write_json
from emotune.training.trainer import config_differences, machine_info

ROOT = Path(__file__).resolve().parent.parent


def _scores(run: Run, metric: str) -> tuple[float | None, float | None]:
    """(dev, test) of ``metric``: from the run's metrics.json, else recomputed from its stored predictions
    (a metric added after the run trained, e.g. the ordinal Pearson of V-oc). A split the run has no rows of
    (a cross-validation fold: its held-out part is dev, test is empty) is None."""
    stored = tuple((run.metrics.get(split) or {}).get(metric) for split in ("dev", "test"))
    if None not in stored:
        return stored
    out = []
    for split, value in zip(("dev", "test"), stored):
        if value is None and not (run.metrics.get("sizes") or {}).get(split):
            out.append(None)
            continue
        p = run.predictions(split)
        out.append(compute_metrics(run.label_set, p.y_true, p.scores, p.thresholds).get(metric))
    return tuple(out)


def row(label: str, run: Run, base: Run | None, metric: str | None = None, also: tuple[str, ...] = ()) -> dict:
    pm = metric or run.metrics.get("primary_metric", "f1_macro")
    hist = run.history
    best = max(hist, key=lambda h: h.get(f"dev_{pm}", float("-inf"))) if hist else {}
    changed = [] if base is None else [d for d in config_differences(base.config, run.config)
                                       if not d.startswith(("name:", "description:", "output_dir:"))]
    dev, test = _scores(run, pm)
    return {"label": label, "run": run.path.name, "changes": changed, "primary_metric": pm,
            "dev": dev, "test": test,
            "epochs_trained": max((h.get("epoch") or 0 for h in hist), default=None), "best_epoch": best.get("epoch"),
            "dev_curve": [h.get(f"dev_{pm}") for h in hist], "fit_seconds": run.train_seconds,
            "train_rows": (run.metrics.get("sizes") or {}).get("train"),
            "torch_threads": (run.metrics.get("machine") or {}).get("torch_threads"),
            **{m: dict(zip(("dev", "test"), _scores(run, m))) for m in also}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR, the baseline first")
    ap.add_argument("--note", default="", help="how the runs were made (machine load, cores)")
    ap.add_argument("--chosen", default=None, help="the label chosen (by dev) for the preset")
    ap.add_argument("--metric", default=None, help="score the rows by this metric (default: the runs' primary)")
    ap.add_argument("--also", default="", help="comma-separated metrics recorded beside it in each row")
    args = ap.parse_args()
    pairs = [r.split("=", 1) for r in args.runs]
    runs = [(label, Run.open(path, finished=True)) for label, path in pairs]
    base = runs[0][1]
    record = {"recipes": args.name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "note": args.note, "chosen": args.chosen,
              "command": "python benchmarks/recipes.py " + " ".join(sys.argv[1:]),
              "rows": [row(label, run, None if i == 0 else base, args.metric, tuple(m for m in args.also.split(",") if m))
                       for i, (label, run) in enumerate(runs)]}
    missing = [f"{r['run']} ({m})" for r in record["rows"] for m in (r["primary_metric"], *args.also.split(","))
               if m and (r.get("dev") if m == r["primary_metric"] else (r.get(m) or {}).get("dev")) is None]
    if missing:
        print(f"error: no dev score for {', '.join(missing)}: not a metric of these runs", file=sys.stderr)
        return 2
    out = ROOT / "benchmarks" / "results" / f"recipes-{args.name}.json"
    write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
