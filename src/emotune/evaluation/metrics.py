"""Metrics for the three tasks, computed with scikit-learn / scipy (never re-implemented).

``compute_metrics`` returns a flat dict (``{"f1_macro": ..., "accuracy": ...}``) so that the
trainer, the benchmark tables and the model card read the same keys.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as sps
from sklearn import metrics as skm

from emotune.data.labels import LabelSet, Task

PRIMARY = {Task.SINGLE: "f1_macro", Task.MULTI: "f1_macro", Task.REGRESSION: "pearson"}


def decide(label_set: LabelSet, scores: np.ndarray, thresholds=None) -> np.ndarray:
    """Class ids (single), indicator matrix (multi) or values (regression) from model scores."""
    scores = np.asarray(scores, dtype=float)
    if label_set.task == Task.SINGLE:
        return scores.argmax(axis=1)
    if label_set.task == Task.MULTI:
        thr = np.full(scores.shape[1], 0.5) if thresholds is None else np.asarray(thresholds, dtype=float)
        return (scores >= thr).astype(int)
    return scores


def compute_metrics(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, thresholds=None) -> dict:
    y_true = np.asarray(y_true)
    y_pred = decide(label_set, scores, thresholds)
    out: dict[str, float] = {}
    if label_set.task == Task.SINGLE:
        labels = list(range(len(label_set)))
        out["accuracy"] = skm.accuracy_score(y_true, y_pred)
        for avg in ("macro", "weighted", "micro"):
            out[f"f1_{avg}"] = skm.f1_score(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out["precision_macro"] = skm.precision_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        out["recall_macro"] = skm.recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    elif label_set.task == Task.MULTI:
        out["jaccard_samples"] = skm.jaccard_score(y_true, y_pred, average="samples", zero_division=1)
        for avg in ("macro", "micro", "weighted"):
            out[f"f1_{avg}"] = skm.f1_score(y_true, y_pred, average=avg, zero_division=0)
        out["subset_accuracy"] = skm.accuracy_score(y_true, y_pred)
        out["hamming_loss"] = skm.hamming_loss(y_true, y_pred)
    else:
        y_true = y_true.reshape(len(y_true), -1)
        y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
        pears, spears = [], []
        for j, name in enumerate(label_set.names):
            p = sps.pearsonr(y_true[:, j], y_pred[:, j]).statistic if np.std(y_pred[:, j]) > 0 else 0.0
            s = sps.spearmanr(y_true[:, j], y_pred[:, j]).statistic if np.std(y_pred[:, j]) > 0 else 0.0
            pears.append(p)
            spears.append(s)
            if len(label_set) > 1:
                out[f"pearson_{name}"] = float(p)
        out["pearson"] = float(np.mean(pears))
        out["spearman"] = float(np.mean(spears))
        out["mae"] = skm.mean_absolute_error(y_true, y_pred)
    return {k: float(v) for k, v in out.items()}
