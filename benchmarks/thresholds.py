"""How decision rules are chosen on dev, measured on finished runs' saved predictions.

    python benchmarks/thresholds.py NAME LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--note ...] [--chosen ...]

For each run (with ``predictions/dev.npz`` and ``predictions/test.npz``) it re-chooses the decision rule on
**dev** in several ways and scores them on dev (where the choice is made) and on test (shown, never used to
choose), without retraining anything. A multi-label run's per-label thresholds:

- ``0.05 grid`` - emotune's default: each label's best-F1 threshold among 0.05, 0.10, ..., 0.95;
- ``0.01 grid`` - the same on a grid five times finer;
- ``0.05 grid + quantiles`` - the default grid plus 100 quantiles of the label's own dev scores (for models
  whose scores sit in a narrow band, e.g. an under-trained head);
- ``jaccard`` - ``metrics.tune_thresholds(metric="jaccard_samples")``, SemEval E-c's ranking metric.

A single-label run's rule (macro-F1 is the ranking metric there, and argmax favours the frequent classes):

- ``argmax`` - emotune's rule, the most probable class;
- ``class offsets`` - argmax of log-probability plus a per-class offset, the offsets chosen on dev for
  macro-F1 by coordinate ascent (each class in turn over -2.0, -1.9, ..., 2.0; three rounds).

Choosing a way by its dev score favours the more flexible ones: they fit dev's own noise. Each row therefore
also carries a **cross-fitted** dev score: dev split in 5 folds, the rule chosen on 4, applied to the 5th, the
held-out decisions pooled over dev and scored once - what the way is worth on rows it did not see.

Writes ``benchmarks/results/recipes-NAME.json`` (one row per run and way, macro-F1 as the table's score,
sample Jaccard or accuracy in the row's text); ``python benchmarks/tables.py`` puts it into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn.metrics as skm

from emotune.errors import EmotuneError
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
        y = z["y_true"]  # multi-label: a 0/1 matrix; single-label: class indices
        return (y.astype(bool) if y.ndim == 2 else y.astype(int)), np.asarray(z["scores"], dtype=float)


def _macro_f1(y: np.ndarray, pred: np.ndarray, k: int) -> float:
    # from the confusion counts: the offset search scores ~750 candidate rules a fit, sklearn's checks dominate
    tp = np.bincount(y[y == pred], minlength=k)
    support, predicted = np.bincount(y, minlength=k), np.bincount(pred, minlength=k)
    denom = support + predicted
    return float(np.mean(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0)))


def class_offsets(y: np.ndarray, logp: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class offsets to the log-probabilities that maximise dev macro-F1 (coordinate ascent on a grid)."""
    k, grid = logp.shape[1], np.round(np.arange(-2.0, 2.01, 0.1), 1)
    offsets = np.zeros(k)
    best = _macro_f1(y, logp.argmax(1), k)
    for _ in range(rounds):
        for j in range(k):
            for g in grid:
                trial = offsets.copy()
                trial[j] = g
                f1 = _macro_f1(y, (logp + trial).argmax(1), k)
                if f1 > best + 1e-12:
                    best, offsets = f1, trial
    return offsets


SINGLE_WAYS = {"argmax": lambda y, logp: np.zeros(logp.shape[1]), "class offsets": class_offsets}


def single_label_rows(label: str, run: Run) -> list[dict]:
    from sklearn.model_selection import StratifiedKFold

    (yd, sd), (yt, st) = [(y, np.log(np.clip(s, 1e-12, 1.0)))
                          for y, s in (_load(run.path, "dev"), _load(run.path, "test"))]
    k, rows = sd.shape[1], []
    for way, choose in SINGLE_WAYS.items():
        off = choose(yd, sd)
        f1 = [_macro_f1(y, (s + off).argmax(1), k) for y, s in ((yd, sd), (yt, st))]
        acc = [float(np.mean((s + off).argmax(1) == y)) for y, s in ((yd, sd), (yt, st))]
        held_pred = np.zeros_like(yd)
        for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(sd, yd):
            held_pred[held] = (sd[held] + choose(yd[fit], sd[fit])).argmax(1)
        cf = _macro_f1(yd, held_pred, k)
        rows.append({"label": f"{label}: {way}", "run": run.path.name, "primary_metric": "f1_macro",
                     "changes": [f"decision: {way}", f"cross-fitted dev macro-F1 {cf:.3f}"]
                                + (["offsets " + ", ".join(f"{o:+.1f}" for o in off)] if off.any() else []),
                     "dev": f1[0], "test": f1[1], "accuracy": {"dev": acc[0], "test": acc[1]},
                     "dev_cross_fitted": {"f1_macro": cf}, "offsets": off.tolist(),
                     "epochs_trained": None, "best_epoch": None, "dev_curve": [], "fit_seconds": None,
                     "train_rows": (run.metrics.get("sizes") or {}).get("train")})
    return rows


def cross_fitted(y: np.ndarray, s: np.ndarray, choose, folds: int = 5) -> tuple[float, float]:
    """(macro-F1, sample Jaccard) of dev decisions whose thresholds were chosen on the other dev folds."""
    from sklearn.model_selection import KFold

    pred = np.zeros_like(y)
    for fit, held in KFold(folds, shuffle=True, random_state=0).split(s):
        pred[held] = s[held] >= choose(y[fit], s[fit])
    return skm.f1_score(y, pred, average="macro", zero_division=0), _jaccard_samples(y, pred)


def rows_for(label: str, run: Run) -> list[dict]:
    (yd, sd), (yt, st) = _load(run.path, "dev"), _load(run.path, "test")
    if yd.ndim == 1:  # single-label: class indices, one probability row per text
        return single_label_rows(label, run)
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
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results", help="where the JSON goes")
    args = ap.parse_args()
    rows = []
    for spec in args.runs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            ap.error(f"{spec!r}: write each run as LABEL=RUN_DIR")
        try:
            rows += rows_for(label, Run.open(path, finished=True))
        except EmotuneError as exc:  # a missing or unfinished run: its message, no traceback
            sys.exit(f"error: {exc}")
        except (OSError, KeyError, ValueError) as exc:  # no saved predictions, or not the arrays they hold
            sys.exit(f"error: {path}: cannot read predictions/dev.npz and test.npz ({exc})")
    record = {"recipes": args.name, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": machine_info(), "note": args.note, "chosen": args.chosen,
              "command": "python benchmarks/thresholds.py " + " ".join(sys.argv[1:]), "rows": rows}
    out = args.results / f"recipes-{args.name}.json"
    write_json(out, record)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
