"""Metrics for the three tasks, calibration, multi-label thresholds, and scores from model outputs
(softmax, sigmoid, top-k): computed with numpy / scikit-learn / scipy, and the only copies.

``compute_metrics`` returns a flat dict (``{"f1_macro": ..., "accuracy": ...}``) so that the
trainer, the benchmark tables and the model card read the same keys.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

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


def ordinal_values(label_set: LabelSet) -> np.ndarray | None:
    """The class values of an ordinal single-label set - every name an integer, 3 classes or more (SemEval-2018
    EI-oc 0..3, V-oc -3..3) - in label order; None for any other label set."""
    if label_set.task != Task.SINGLE or len(label_set) < 3:
        return None
    try:
        values = [int(name) for name in label_set.names]
    except ValueError:
        return None
    return np.asarray(values, dtype=float) if len(set(values)) == len(values) else None


def expected_class(scores: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, the class value nearest the expected value of the class under the row's probabilities: the
    decision that fits an ordinal scale, where the argmax of a broad distribution falls on the common middle
    class (a model can rank valence well and still answer "0" for every text)."""
    p = np.clip(np.asarray(scores, dtype=float), 0, None)
    total = p.sum(axis=1, keepdims=True)
    p = np.divide(p, total, out=np.full_like(p, 1 / p.shape[1]), where=total > 0)
    mean = p @ values
    return values[np.abs(mean[:, None] - values[None, :]).argmin(axis=1)]


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r; 0 where either side is constant (a model that answers one class ranks nothing)."""
    return float(sps.pearsonr(a, b).statistic) if np.std(a) > 0 and np.std(b) > 0 else 0.0


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
        values = ordinal_values(label_set)
        if values is not None:  # ordinal classes: SemEval-2018 scores EI-oc and V-oc by Pearson's r over class values
            gold = values[np.asarray(y_true, dtype=int)]
            out["pearson_oc"] = _pearson(gold, values[y_pred])  # the argmax class
            out["pearson_oc_expected"] = _pearson(gold, expected_class(scores, values))
    elif label_set.task == Task.MULTI:
        out["jaccard_samples"] = skm.jaccard_score(y_true, y_pred, average="samples", zero_division=1)
        for avg in ("macro", "micro", "weighted"):
            out[f"f1_{avg}"] = skm.f1_score(y_true, y_pred, average=avg, zero_division=0)
        out["subset_accuracy"] = skm.accuracy_score(y_true, y_pred)
        out["hamming_loss"] = skm.hamming_loss(y_true, y_pred)
        # threshold-free ranking quality: 0.5 is a model whose scores rank nothing, whatever thresholds dev picks
        s = np.asarray(scores, dtype=float)
        aucs = [skm.roc_auc_score(y_true[:, j], s[:, j]) for j in range(y_true.shape[1])
                if 0 < y_true[:, j].sum() < len(y_true)  # a label with one class present has no AUC
                and np.isfinite(s[:, j]).all()]  # nor do non-finite scores (the other metrics still report)
        if aucs:
            out["roc_auc_macro"] = float(np.mean(aucs))
    else:
        y_true = y_true.reshape(len(y_true), -1)
        y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_pred), -1)
        pears, spears = [], []
        for j, name in enumerate(label_set.names):
            p = _pearson(y_true[:, j], y_pred[:, j])
            s = sps.spearmanr(y_true[:, j], y_pred[:, j]).statistic if np.std(y_pred[:, j]) > 0 else 0.0
            pears.append(p)
            spears.append(s)
            if len(label_set) > 1:
                out[f"pearson_{name}"] = float(p)
        out["pearson"] = float(np.mean(pears))
        out["spearman"] = float(np.mean(spears))
        out["mae"] = skm.mean_absolute_error(y_true, y_pred)
    return {k: float(v) for k, v in out.items()}


def grouped_metrics(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, groups: Sequence[str],
                    column: str, thresholds=None) -> dict:
    """The primary metric within each group and its mean over groups (``pearson_anger`` ...,
    ``pearson_mean_emotion``): SemEval-2018 EI-reg ranks by the average of per-emotion Pearsons,
    which a model trained on all emotions at once (``data.text_prefix_col``) must report too.
    Regression also gets ``spearman_<group>``."""
    groups = np.asarray([str(g) for g in groups])
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    primary = PRIMARY[label_set.task]
    keys = (primary, "spearman") if label_set.task == Task.REGRESSION else (primary,)
    out: dict[str, float] = {}
    values = []
    for g in sorted(set(groups.tolist())):
        mask = groups == g
        m = compute_metrics(label_set, y_true[mask], scores[mask], thresholds)
        for k in keys:
            out[f"{k}_{g}"] = m[k]
        values.append(m[primary])
    if values:
        out[f"{primary}_mean_{column}"] = float(np.mean(values))
    return out


# -- per-label detail -------------------------------------------------------------------------
def classification_report(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, thresholds=None) -> dict:
    """Per-label precision / recall / F1 / support plus the averages, keyed by label name.

    scikit-learn's ``classification_report(output_dict=True)``; single-label reports always
    carry ``accuracy`` and ``micro avg`` (sklearn prints one or the other). Regression: per
    target Pearson, Spearman and MAE.
    """
    y_true = np.asarray(y_true)
    if label_set.task == Task.REGRESSION:
        y_true = y_true.reshape(len(y_true), -1)
        y_pred = np.asarray(scores, dtype=float).reshape(len(y_true), -1)
        out = {}
        for j, name in enumerate(label_set.names):
            t, p = y_true[:, j], y_pred[:, j]
            ok = np.std(p) > 0 and np.std(t) > 0
            out[name] = {"pearson": float(sps.pearsonr(t, p).statistic) if ok else 0.0,
                         "spearman": float(sps.spearmanr(t, p).statistic) if ok else 0.0,
                         "mae": float(skm.mean_absolute_error(t, p)), "support": int(len(t))}
        return out
    y_pred = decide(label_set, scores, thresholds)
    labels = list(range(len(label_set)))
    rep = skm.classification_report(y_true, y_pred, labels=labels, target_names=list(label_set.names),
                                    output_dict=True, zero_division=0)
    if label_set.task == Task.SINGLE:
        acc = float(skm.accuracy_score(y_true, y_pred))
        rep["accuracy"] = acc
        if "micro avg" not in rep:
            rep["micro avg"] = {"precision": acc, "recall": acc, "f1-score": acc, "support": int(len(y_true))}
    for key, val in rep.items():
        if isinstance(val, dict):
            rep[key] = {k: (int(v) if k == "support" else float(v)) for k, v in val.items()}
    return rep


def per_label_scores(report: dict, label_set: LabelSet, key: str = "f1-score") -> dict[str, float]:
    """``{label: value}`` from a :func:`classification_report` (``key``: precision, recall, f1-score, pearson...)."""
    return {name: float(report[name][key]) for name in label_set.names}


def confusion(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, thresholds=None,
              normalize: str | None = None) -> np.ndarray:
    """Rows = true label, columns = predicted label.

    Single-label: scikit-learn's confusion matrix. Multi-label: how often a text with true label
    *i* was given label *j* (the diagonal counts hits), which shows the same confusions; with
    ``normalize="true"`` each row is divided by the number of texts carrying label *i*.
    """
    if label_set.task == Task.REGRESSION:
        raise ValueError("A confusion matrix needs a classification task")
    y_true = np.asarray(y_true)
    y_pred = decide(label_set, scores, thresholds)
    if label_set.task == Task.SINGLE:
        return skm.confusion_matrix(y_true, y_pred, labels=list(range(len(label_set))), normalize=normalize)
    cm = y_true.T.astype(float) @ y_pred.astype(float)
    if normalize == "true":
        support = y_true.sum(axis=0).astype(float)
        cm = np.divide(cm, support[:, None], out=np.zeros_like(cm), where=support[:, None] > 0)
    elif normalize is not None:
        raise ValueError(f"normalize must be None or 'true' for multi-label, got {normalize!r}")
    return cm


def confused_pairs(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, thresholds=None,
                   top: int = 10, examples: int = 3) -> list[dict]:
    """The most frequent (true -> predicted) mistakes, with the row indices of a few examples.

    Single-label: off-diagonal confusion-matrix cells. Multi-label: a text carrying *true* that
    was given *pred* although *pred* is not among its labels.
    """
    y_true = np.asarray(y_true)
    y_pred = decide(label_set, scores, thresholds)
    names = label_set.names
    k = len(names)
    if label_set.task == Task.SINGLE:
        true_ind = np.eye(k, dtype=int)[y_true]
        wrong_pred = np.eye(k, dtype=int)[y_pred] * (y_pred != y_true)[:, None]
    else:
        true_ind = y_true.astype(int)
        wrong_pred = y_pred.astype(int) * (1 - true_ind)
    counts = true_ind.T @ wrong_pred
    np.fill_diagonal(counts, 0)
    support = true_ind.sum(axis=0)
    order = np.argsort(-counts, axis=None, kind="stable")
    out = []
    for flat in order[:top]:
        i, j = divmod(int(flat), k)
        if counts[i, j] == 0:
            break
        rows = np.flatnonzero((true_ind[:, i] == 1) & (wrong_pred[:, j] == 1))
        out.append({"true": names[i], "pred": names[j], "count": int(counts[i, j]),
                    "rate": float(counts[i, j] / support[i]) if support[i] else 0.0,
                    "examples": rows[:examples].tolist()})
    return out


def evaluate_scores(label_set: LabelSet, y_true: np.ndarray, scores: np.ndarray, thresholds=None) -> dict:
    """Everything the evaluate command and the comparison report show for one set of predictions."""
    out = {"metrics": compute_metrics(label_set, y_true, scores, thresholds),
           "report": classification_report(label_set, y_true, scores, thresholds),
           "n": int(len(np.asarray(y_true)))}
    if label_set.is_classification:
        out["confusion_matrix"] = confusion(label_set, y_true, scores, thresholds).tolist()
        out["calibration"] = calibration_summary(label_set, y_true, scores)
    return out


# -- calibration: does a model's confidence match how often it is right? ----------------------
# Single-label models are judged on their top-label confidence (the max softmax probability
# against whether the argmax was correct); multi-label models on every (text, label) probability
# against whether the label is present. Reliability-diagram points come from scikit-learn's
# ``calibration_curve``; the expected calibration error (ECE) weighs each bin's gap
# ``|accuracy - confidence|`` by its share of the predictions (Guo et al., 2017).
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


# -- multi-label decision thresholds, tuned on dev (never on test) and stored with the model --
_GRID = np.round(np.arange(0.05, 0.951, 0.05), 2)


def _jaccard_samples(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Sample-averaged Jaccard as :func:`compute_metrics` reports it (an empty truth and prediction count 1).

    Vectorised here because the threshold search calls it a few thousand times; equal to
    ``sklearn.metrics.jaccard_score(average="samples", zero_division=1)`` (tests/test_metrics.py).
    """
    inter = np.logical_and(y_true, y_pred).sum(axis=1)
    union = np.logical_or(y_true, y_pred).sum(axis=1)
    return float(np.where(union == 0, 1.0, inter / np.maximum(union, 1)).mean())


def tune_thresholds(y_true: np.ndarray, scores: np.ndarray, mode: str = "per_label",
                    metric: str = "f1_macro") -> np.ndarray | None:
    """Decision thresholds chosen on the given (dev) data for ``metric``.

    ``metric="f1_macro"``: ``global`` is the one threshold for all labels that maximises macro-F1;
    ``per_label`` gives each label the threshold of its own best F1, which helps rare labels
    (GoEmotions: macro-F1 0.46 -> ~0.55 with per-label thresholds in the literature).
    ``metric="jaccard_samples"`` (SemEval-2018 E-c's official score): the one best threshold, or with
    ``per_label`` coordinate ascent on the sample Jaccard from the per-label F1 thresholds, label by
    label, two passes (Jaccard does not split into per-label terms, so each label is moved with the
    others fixed). ``mode="none"``: 0.5 everywhere (returns None).
    """
    if mode == "none":
        return None
    if metric not in ("f1_macro", "jaccard_samples"):
        raise ValueError(f"thresholds can be tuned for f1_macro or jaccard_samples, not {metric!r}")
    y_true = np.asarray(y_true).astype(bool)
    scores = np.asarray(scores, dtype=float)
    n_labels = scores.shape[1]

    # A grid search is all this needs; scikit-learn's TunedThresholdClassifierCV wraps an
    # estimator and refits it, which does not fit models trained outside scikit-learn.
    def score(th) -> float:
        pred = scores >= th
        if metric == "jaccard_samples":
            return _jaccard_samples(y_true, pred)
        return skm.f1_score(y_true, pred, average="macro", zero_division=0)

    best_global = float(_GRID[int(np.argmax([score(t) for t in _GRID]))])
    out = np.full(n_labels, best_global)
    if mode == "global":
        return out
    for j in range(n_labels):
        if y_true[:, j].sum() == 0:
            continue  # nothing to learn from dev: keep the global threshold
        f1s = [skm.f1_score(y_true[:, j], scores[:, j] >= t, zero_division=0) for t in _GRID]
        out[j] = float(_GRID[int(np.argmax(f1s))])
    if metric == "jaccard_samples":
        current = score(out)
        for _ in range(2):
            for j in range(n_labels):
                for t in _GRID:
                    trial = out.copy()
                    trial[j] = t
                    value = score(trial)
                    if value > current + 1e-12:
                        out, current = trial, value
    return out


# -- scores from model outputs, ranking, decisions ----------------------------------------------
def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax in float64."""
    z = np.asarray(x, dtype=np.float64)
    z = np.exp(z - z.max(axis=axis, keepdims=True))
    return z / z.sum(axis=axis, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-z))


def scores_from_logits(task: Task, logits: np.ndarray) -> np.ndarray:
    """softmax (single), sigmoid (multi) or the raw values (regression), as float64 numpy."""
    if task == Task.SINGLE:
        return softmax(logits)
    if task == Task.MULTI:
        return sigmoid(logits)
    return np.asarray(logits, dtype=np.float64)


def top_k_order(task: Task, row: np.ndarray, k: int | None = None) -> np.ndarray:
    """Indices of one row of scores, best first (ties in label order), the first ``k`` of them.

    Regression: every target in its own order; a top-k of V/A/D values means nothing.
    """
    row = np.asarray(row, dtype=float)
    if task == Task.REGRESSION:
        return np.arange(len(row))
    order = np.argsort(-row, kind="stable")
    return order[:k] if k else order


def decide_names(label_set: LabelSet, scores: np.ndarray, thresholds=None) -> list:
    """:func:`decide` in label names: a name (single), a list of names (multi) or the values (regression)."""
    ids = decide(label_set, scores, thresholds)
    names = label_set.names
    if label_set.task == Task.SINGLE:
        return [names[i] for i in ids]
    if label_set.task == Task.MULTI:
        return [[names[j] for j in np.flatnonzero(row)] for row in ids]
    return [row for row in ids]


def top_k_pairs(label_set: LabelSet, scores: np.ndarray, k: int | None = None) -> list[list[tuple[str, float]]]:
    """Per row of scores, (label, score) pairs best first (:func:`top_k_order`); all labels when ``k`` is None."""
    names = label_set.names
    return [[(names[j], float(row[j])) for j in top_k_order(label_set.task, row, k)]
            for row in np.asarray(scores, dtype=float)]
