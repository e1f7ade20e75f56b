"""Evaluation of an instruct run task by task (``emotune instruct evaluate``): regression views
report invalid generated answers explicitly."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import TASKS, parse_tasks
from emotune.errors import ModelError
from emotune.models.instruct import InstructClassifier


def evaluate_view(clf: InstructClassifier, ds: EmotionDataset, batch_size: int | None = None,
                  groups: Sequence[str] | None = None) -> dict:
    """Metrics of one task view on ``ds``; regression reports invalid answers explicitly.

    Regression headline (``metrics``): invalid answers scored at the worst case, the end of the
    value range farthest from the gold value. Also: ``metrics_as_served`` (invalid -> midpoint,
    what predict_proba returns), ``metrics_valid_only`` (invalid rows excluded, with their count).
    ``groups`` (one name per row, e.g. the emotion) adds ``per_group`` headline metrics computed
    from the same predictions.
    """
    from emotune.metrics import compute_metrics

    y = ds.y()
    out: dict = {"task": clf.task_name, "emotion": clf.emotion, "n": len(ds)}
    if not clf.spec.is_regression:
        scores = clf.predict_proba(ds.texts, batch_size=batch_size)
    else:
        values, valid = clf.predict_values(ds.texts, batch_size=batch_size)
        gold = np.asarray(y, dtype=float).reshape(-1)
        lo, hi = clf.spec.value_range
        worst = np.where(gold - lo > hi - gold, lo, hi)
        scores = np.where(valid, values, worst).reshape(-1, 1)
        out["invalid"] = int((~valid).sum())
        out["invalid_rate"] = float((~valid).mean()) if len(valid) else 0.0
        out["invalid_examples"] = [a for a, ok in zip(clf.last_answers, valid) if not ok][:5]
        out["metrics_as_served"] = compute_metrics(clf.label_set, y,
                                                   np.where(valid, values, (lo + hi) / 2).reshape(-1, 1))
        if valid.sum() >= 2:
            out["metrics_valid_only"] = compute_metrics(clf.label_set, y[valid], values[valid].reshape(-1, 1))
    out["metrics"] = compute_metrics(clf.label_set, y, scores, clf.thresholds)
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        out["per_group"] = {str(g): compute_metrics(clf.label_set, y[groups == g], scores[groups == g], clf.thresholds)
                            for g in dict.fromkeys(groups.tolist()) if (groups == g).sum() >= 2}
    return out


def evaluate_run(run: str | Path, tasks: str | Sequence[str] | None = None, *, split: str = "test",
                 max_rows: int | None = None, seed: int = 0, batch_size: int | None = None,
                 data_root: str | Path | None = None, on_task=None) -> dict:
    """Evaluate an instruct run task by task on the official SemEval-2018 ``split``.

    The weights load once; every task gets its classifier view. EI tasks are scored on all four
    emotions (texts as ``"anger: <tweet>"``), with per-emotion metrics too (the official EI score
    is the mean of the per-emotion Pearson correlations). ``max_rows`` scores a seeded sample.
    """
    from emotune.data.registry import load_dataset
    from emotune.runs import Run

    first = Run.open(run).load()
    if not isinstance(first, InstructClassifier):
        raise ModelError(f"{run} is not an instruct run (backend '{first.backend}')")
    names = parse_tasks(tasks) if tasks else list(first.trained_tasks or [first.primary_task])
    out: dict = {"run": str(run), "split": split, "max_rows": max_rows, "tasks": {}}
    for name in names:
        t = TASKS[name]
        ds = load_dataset(t.dataset, data_root=data_root) if data_root is not None else load_dataset(t.dataset)
        ds = ds.split(split)
        if max_rows is not None:
            ds = ds.sample(max_rows, seed=seed)
        if t.per_emotion and t.kind != "binary":
            frame = ds.frame.copy()
            frame["text"] = [f"{e}: {x}" for e, x in zip(frame["emotion"], frame["text"])]
            ds = ds.with_frame(frame)
        view = first.view(name)
        if on_task:
            on_task(name, len(ds))
        groups = ds.frame["emotion"].tolist() if t.per_emotion and t.kind != "binary" else None
        res = evaluate_view(view, ds, batch_size=batch_size, groups=groups)
        if groups is not None:  # the official EI score: mean of the per-emotion Pearson correlations
            key = "pearson" if t.is_regression else "f1_macro"
            per = [m[key] for m in res["per_group"].values() if key in m]
            res[f"{key}_mean_over_emotions"] = float(np.mean(per)) if per else None
        out["tasks"][name] = res
    return out
