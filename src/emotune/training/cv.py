"""K-fold cross-validation: how much a score moves when the split changes.

Train and dev are merged and re-split into ``k`` folds (stratified for single-label, iterative
stratification for multi-label, grouped by ``data.split.group_by`` when set); the test split is
set aside untouched and unused, so cross-validation never spends it. Each fold is an ordinary run
directory (``fold_0``, ``fold_1``, ...) whose held-out part serves as dev and is what the fold
reports; ``cv_summary.json`` / ``.md`` hold the mean ± standard deviation of every metric.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.errors import ConfigError, EmotuneError
from emotune import runs as rd
from emotune.config import RunConfig
from emotune.training.parallel import FoldRun, train_parallel

SUMMARY_JSON = "cv_summary.json"
SUMMARY_MD = "cv_summary.md"


@dataclass
class CVSummary:
    run_dir: Path
    folds: int
    primary_metric: str
    per_fold: list[dict]  # {"fold", "run_dir", "sizes", "metrics"}
    mean: dict[str, float]
    std: dict[str, float]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"folds": self.folds, "primary_metric": self.primary_metric, "mean": self.mean, "std": self.std,
                "per_fold": self.per_fold, "notes": self.notes}

    def to_markdown(self) -> str:
        head = ["metric", "mean ± std"] + [f"fold {f['fold']}" for f in self.per_fold]
        lines = [f"# {self.folds}-fold cross-validation ({self.run_dir.name})", "",
                 f"Primary metric: **{self.primary_metric} = {self.mean[self.primary_metric]:.4f} ± "
                 f"{self.std[self.primary_metric]:.4f}** (mean ± sample std over {self.folds} folds)", "",
                 "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for key in self.mean:
            vals = [f"{f['metrics'].get(key, float('nan')):.4f}" for f in self.per_fold]
            lines.append(f"| {key} | {self.mean[key]:.4f} ± {self.std[key]:.4f} | " + " | ".join(vals) + " |")
        lines.append("")
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def summarise(per_fold: list[dict]) -> tuple[dict, dict]:
    keys = [k for k in per_fold[0]["metrics"] if all(k in f["metrics"] for f in per_fold)]
    values = {k: np.array([f["metrics"][k] for f in per_fold], dtype=float) for k in keys}
    mean = {k: float(v.mean()) for k, v in values.items()}
    std = {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}
    return mean, std


def plan_folds(config: RunConfig, folds: int = 5, run_dir: str | Path | None = None, *, overwrite: bool = False,
               data=None, held_out_as: str = "dev") -> tuple[Path, list[dict], list[FoldRun], object, int]:
    """The folds of a cross-validation: (base folder, per-fold entries, folds still to train, data, rows
    of train+dev). A finished fold with the same config is kept; one with another config is an error unless
    ``overwrite``. Nothing is trained here: :func:`train_folds` trains the returned :class:`FoldRun`\\ s."""
    if held_out_as not in ("dev", "test"):
        raise ConfigError(f"held_out_as must be 'dev' or 'test' (got {held_out_as!r})")
    from emotune.data.splits import kfold
    from emotune.data.dataset import PreparedData
    from emotune.data.pipeline import prepare_data
    from emotune.training.trainer import config_differences

    base = Path(run_dir) if run_dir is not None else Path(config.output_dir) / f"{config.name}-cv{folds}"
    if data is None:
        data = prepare_data(config.data)
    merged = data.train.with_frame(pd.concat([data.train.frame, data.dev.frame], ignore_index=True))
    merged.name = f"{config.data.dataset}:train+dev"
    fold_sets = kfold(merged, folds, seed=config.data.split.seed, group_by=config.data.split.group_by)
    base.mkdir(parents=True, exist_ok=True)

    per_fold, todo = [], []
    for i, (fold_train, held_out) in enumerate(fold_sets):
        fold_dir = base / f"fold_{i}"
        fold_config = config.model_copy(update={"name": f"{config.name}-fold{i}"}, deep=True)
        if rd.is_finished(fold_dir) and not overwrite:
            diffs = config_differences(rd.load_config(fold_dir), fold_config)
            if diffs:
                raise ConfigError(f"{fold_dir} was trained with a different config: " + "; ".join(diffs[:8]),
                                  hint="Pass --overwrite to retrain the folds, or choose another --run-dir.")
        else:
            held_out.frame["split"] = held_out_as
            fold_train.frame["split"] = "train"
            role = "both dev and the reported split" if held_out_as == "dev" else "the reported split; no dev set"
            notes = {**(data.notes or {}), "cross_validation": f"fold {i} of {folds}: trained on the other folds of "
                     f"train+dev; the held-out fold is {role}; test unused"}
            empty = held_out.subset(range(0))
            fold_data = (PreparedData(fold_train, held_out, empty, notes) if held_out_as == "dev"
                         else PreparedData(fold_train, empty, held_out, notes))
            todo.append(FoldRun(fold_config, fold_dir, fold_data, report_test=held_out_as == "test", overwrite=overwrite))
        per_fold.append({"fold": i, "run_dir": fold_dir.name, "sizes": {"train": len(fold_train), "held_out": len(held_out)}})
    return base, per_fold, todo, data, len(merged)


def train_folds(todo: Sequence[FoldRun], *, jobs: int = 1, overwrite: bool = False, progress: bool = True,
                say: Callable[[str], None] | None = None) -> None:
    """Train folds: one after the other in this process (``jobs=1``), or on ``jobs`` pinned one-thread
    worker processes (:mod:`emotune.training.parallel`, as the benchmark's runs). Every fold is resumable.
    Raises :class:`EmotuneError` naming the first fold that failed."""
    from emotune.training.trainer import train

    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1 (got {jobs})")
    if jobs == 1 or not todo:  # jobs > 1 trains even one fold on a pinned one-thread worker, as the others
        for fold in todo:
            train(fold.config, fold.run_dir, overwrite=overwrite, data=fold.data, progress=progress,
                  report_test=fold.report_test)
        return
    status = train_parallel(list(todo), jobs, say or (lambda msg: None))
    failed = [(k, v) for k, v in status.items() if v["status"] != "done"]
    if failed:
        where, what = failed[0]
        raise EmotuneError(f"Fold {where} failed: {what.get('error')}",
                           hint=f"{len(failed)} of {len(todo)} folds failed; the finished ones are kept: run again "
                                "to train only the missing ones.")


def cross_validate(config: RunConfig, folds: int = 5, run_dir: str | Path | None = None, *, overwrite: bool = False,
                   progress: bool = True, data=None, held_out_as: str = "dev", jobs: int = 1,
                   say: Callable[[str], None] | None = None) -> CVSummary:
    """Train ``folds`` runs of ``config`` on train+dev and summarise their held-out scores.

    Finished folds with the same config are reused (an interrupted CV continues where it
    stopped); ``overwrite`` retrains them. Raises :class:`DataError` when a class has fewer
    examples than folds. ``held_out_as="test"``: each fold's held-out part is its test split and
    the fold has no dev set (no epoch or threshold is chosen on the rows it predicts; the
    out-of-fold teacher predictions of :mod:`emotune.training.distill`). ``jobs`` > 1 trains that many
    folds at once, one pinned single-thread process each (the same scores as ``jobs=1``).
    """
    base, per_fold, todo, data, n_merged = plan_folds(config, folds, run_dir, overwrite=overwrite, data=data,
                                                      held_out_as=held_out_as)
    train_folds(todo, jobs=jobs, overwrite=overwrite, progress=progress, say=say)
    return summarise_folds(config, base, per_fold, data, n_merged, held_out_as)


def summarise_folds(config: RunConfig, base: Path, per_fold: list[dict], data, n_merged: int,
                    held_out_as: str = "dev") -> CVSummary:
    """Read every (finished) fold's held-out metrics and write ``cv_summary.json`` / ``.md``."""
    from emotune.metrics import PRIMARY

    folds = len(per_fold)
    for entry in per_fold:
        entry["metrics"] = rd.load_metrics(base / entry["run_dir"])[held_out_as]
    task = data.label_set.task
    mean, std = summarise(per_fold)
    notes = [f"Folds drawn from train+dev ({n_merged:,} rows before dedup) with seed {config.data.split.seed}"
             + (f", grouped by {config.data.split.group_by}" if config.data.split.group_by else "")
             + f"; the test split ({len(data.test):,} rows) was not used.",
             ("Each fold's held-out part also served as its dev set: backends that pick an epoch"
              + (" or decision thresholds" if task.value == "multi_label" else "")
              + " on dev score slightly optimistically; compare folds with each other, not with a test score."
              if held_out_as == "dev" else
              "Each fold had no dev set (fixed epochs, no early stopping): nothing was chosen on the rows it predicts.")]
    summary = CVSummary(base, folds, PRIMARY[task], per_fold, mean, std, notes)
    (base / SUMMARY_JSON).write_text(json.dumps({"name": config.name, **summary.to_dict()}, indent=2) + "\n",
                                     encoding="utf-8")
    (base / SUMMARY_MD).write_text(summary.to_markdown(), encoding="utf-8")
    return summary


cv = cross_validate
