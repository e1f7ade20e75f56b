"""How multi-label decision thresholds are chosen on dev, measured on finished runs' saved predictions.

    python benchmarks/thresholds.py NAME LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--note ...]

For each run (multi-label, with ``predictions/dev.npz`` and ``predictions/test.npz``) it re-chooses the
per-label thresholds on **dev** in several ways and scores them on dev (where the choice is made) and on
test (shown, never used to choose), without retraining anything:

- ``0.05 grid`` - emotune's default: each label's best-F1 threshold among 0.05, 0.10, ..., 0.95;
- ``0.01 grid`` - the same on a grid five times finer;
- ``0.05 grid + quantiles`` - the default grid plus 100 quantiles of the label's own dev scores (for models
  whose scores sit in a narrow band, e.g. an under-trained head);
- ``jaccard`` - ``metrics.tune_thresholds(metric="jaccard_samples")``, SemEval E-c's ranking metric.

Choosing a way by its dev score favours the finer ones: they fit dev's own noise. Each row therefore also
carries a **cross-fitted** dev score: dev split in 5 folds, thresholds chosen on 4, applied to the 5th, the
held-out decisions pooled over dev and scored once - what the way is worth on rows it did not see.

Writes ``benchmarks/results/recipes-NAME.json`` (one row per run and way, macro-F1 as the table's score,
sample Jaccard in the row's text); ``python benchmarks/tables.py`` puts it into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn.metrics as skm

from emotune.metrics import _GRID, _jaccard_samples, tune_thresholds
from emotune.runs import Run, write_json
from emotune.training.trainer import machine_info

ROOT = Path(__file__).resolve().parent.parent


def _per_label_f1(y: np.ndarray, s: np.ndarray, candidates) -> np.ndarray:
    out = np.full(s.shape[1], 0.5)
    for j in range(s.shape[1]):
        grid = candidates(s[:, j])
        f1 = [skm.f1_score(y[:, j], s[:, j] >= t, zero_division=0) for t in grid]
        out[j] = grid[int(np.argmax(f1))] if y[:, j].any() else 0.5
    return out


WAYS = {
    "0.05 grid": lambda y, s: _per_label_f1(y, s, lambda _: _GRID),
    "0.01 grid": lambda y, s: _per_label_f1(y, s, lambda _: np.round(np.arange(0.01, 0.991, 0.01), 2)),
    "0.05 grid + quantiles": lambda y, s: _per_label_f1(
        y, s, lambda col: np.unique(np.concatenate([_GRID, np.quantile(col, np.linspace(0.5, 0.995, 100))]))),
    "jaccard": lambda y, s: tune_thresholds(y, s, "per_label", "jaccard_samples"),
}


def _load(run: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(run / "predictions" / f"{split}.npz", allow_pickle=False) as z:
        return z["y_true"].astype(bool), np.asarray(z["scores"], dtype=float)


def cross_fitted(y: np.ndarray, s: np.ndarray, choose, folds: int = 5) -> tuple[float, float]:
    """(macro-F1, sample Jaccard) of dev decisions whose thresholds were chosen on the other dev folds."""
    from sklearn.model_selection import KFold

    pred = np.zeros_like(y)
    for fit, held in KFold(folds, shuffle=True, random_state=0).split(s):
        pred[held] = s[held] >= choose(y[fit], s[fit])
    return skm.f1_score(y, pred, average="macro", zero_division=0), _jaccard_samples(y, pred)


def rows_for(label: str, run: Run) -> list[dict]:
    (yd, sd), (yt, st) = _load(run.path, "dev"), _load(run.path, "test")
    rows = []
    for way, choose in WAYS.items():
        th = choose(yd, sd)
        f1 = [skm.f1_score(y, s >= th, average="macro", zero_division=0) for y, s in ((yd, sd), (yt, st))]
        jac = [_jaccard_samples(y, s >= th) for y, s in ((yd, sd), (yt, st))]
        cf = cross_fitted(yd, sd, choose)
        rows.append({"label": f"{label}: {way}", "run": run.path.name, "primary_metric": "f1_macro",
                     "changes": [f"thresholds: {way}", f"cross-fitted dev macro-F1 {cf[0]:.3f} / Jaccard {cf[1]:.3f}",
                                 f"sample Jaccard dev {jac[0]:.3f} / test {jac[1]:.3f}"],
                     "dev": f1[0], "test": f1[1], "jaccard_samples": {"dev": jac[0], "test": jac[1]},
                     "dev_cross_fitted": {"f1_macro": cf[0], "jaccard_samples": cf[1]},
                     "epochs_trained": None, "best_epoch": None, "dev_curve": [], "fit_seconds": None,
                     "train_rows": (run.metrics.get("sizes") or {}).get("train")})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    ap.add_argument("--note", default="")
    ap.add_argument("--chosen", default=None)
    args = ap.parse_args()
    rows = []
    for label, path in (r.split("=", 1) for r in args.runs):
        rows += rows_for(label, Run.open(path, finished=True))
    record = {"recipes": args.name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "note": args.note, "chosen": args.chosen,
              "command": "python benchmarks/thresholds.py " + " ".join(sys.argv[1:]), "rows": rows}
    out = ROOT / "benchmarks" / "results" / f"recipes-{args.name}.json"
    write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
