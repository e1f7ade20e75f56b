"""Calibration: does a model's confidence match how often it is right?

Single-label models are judged on their top-label confidence (the max softmax probability
against whether the argmax was correct); multi-label models on every (text, label) probability
against whether the label is present. Reliability-diagram points come from scikit-learn's
``calibration_curve``; the expected calibration error (ECE) weighs each bin's gap
``|accuracy - confidence|`` by its share of the predictions (Guo et al., 2017).
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import calibration_curve

from emotune.data.labels import LabelSet, Task

DEFAULT_BINS = 10


def confidence_and_outcome(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
    """(confidence in [0, 1], 1 if that confident claim was right else 0), one entry per claim."""
    scores = np.clip(np.asarray(scores, dtype=float), 0.0, 1.0)
    y_true = np.asarray(y_true)
    if label_set.task == Task.SINGLE:
        return scores.max(axis=1), (scores.argmax(axis=1) == y_true).astype(int)
    if label_set.task == Task.MULTI:
        return scores.ravel(), y_true.astype(int).ravel()
    raise ValueError("Calibration needs a classification task")


def _bins(confidence: np.ndarray, n_bins: int) -> np.ndarray:
    # The same uniform binning as sklearn.calibration.calibration_curve, so counts line up with its points.
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], confidence)


def reliability(confidence: np.ndarray, outcome: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict:
    """Reliability-diagram data (non-empty bins only) and the ECE / maximum calibration error."""
    confidence = np.asarray(confidence, dtype=float)
    outcome = np.asarray(outcome, dtype=int)
    if len(confidence) == 0:
        return {"n_bins": n_bins, "prob_pred": [], "prob_true": [], "counts": [], "ece": float("nan"),
                "mce": float("nan"), "mean_confidence": float("nan"), "accuracy": float("nan")}
    # calibration_curve infers the positive class from the values present; with only one value
    # (every claim right, or every one wrong) pin it to 1.
    prob_true, prob_pred = calibration_curve(outcome, confidence, n_bins=n_bins, strategy="uniform", pos_label=1)
    counts = np.bincount(_bins(confidence, n_bins), minlength=n_bins)
    counts = counts[counts > 0]
    gaps = np.abs(prob_true - prob_pred)
    return {
        "n_bins": n_bins,
        "prob_pred": prob_pred.tolist(),
        "prob_true": prob_true.tolist(),
        "counts": counts.astype(int).tolist(),
        "ece": float(np.sum(counts / counts.sum() * gaps)),
        "mce": float(gaps.max()),
        "mean_confidence": float(confidence.mean()),
        "accuracy": float(outcome.mean()),
    }


def expected_calibration_error(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray,
                               n_bins: int = DEFAULT_BINS) -> float:
    conf, outcome = confidence_and_outcome(label_set, y_true, scores)
    return reliability(conf, outcome, n_bins)["ece"]


def calibration_summary(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray,
                        n_bins: int = DEFAULT_BINS) -> dict:
    """:func:`reliability` for a model's scores, plus what was measured (``kind``)."""
    conf, outcome = confidence_and_outcome(label_set, y_true, scores)
    out = reliability(conf, outcome, n_bins)
    out["kind"] = "top-label confidence" if label_set.task == Task.SINGLE else "per-label probability"
    return out
