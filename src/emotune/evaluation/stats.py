"""How sure are we? Bootstrap intervals, paired tests between models, mean ± std over seeds.

A metric is either a key of :func:`~emotune.metrics.compute_metrics` (``"f1_macro"``,
``"accuracy"``, ``"jaccard_samples"`` ...) or any callable ``metric(y_true, scores) -> float``.
Test rows are resampled with replacement (the same resamples for both models in a paired test).

For the common count-based metrics the resamples are evaluated all at once: resampling with
replacement equals weighting each row by how often it was drawn, so per-label true-positive /
predicted / true counts for 1,000 resamples are one matrix product (a second instead of the
minutes that 1,000 calls to scikit-learn take on GoEmotions). Those fast paths are checked
against scikit-learn in the tests; every other metric goes through the plain loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as sps

from emotune.data.labels import LabelSet, Task
from emotune.metrics import compute_metrics, decide

Metric = str | Callable[[np.ndarray, np.ndarray], float]

DEFAULT_RESAMPLES = 1000
_FAST = {Task.SINGLE: {"accuracy", "f1_macro", "f1_micro", "f1_weighted"},
         Task.MULTI: {"f1_macro", "f1_micro", "f1_weighted", "subset_accuracy", "hamming_loss", "jaccard_samples"}}


def metric_function(metric: Metric, label_set: LabelSet | None = None, thresholds=None) -> Callable:
    """A callable ``(y_true, scores) -> float`` for a metric name or a callable."""
    if callable(metric):
        return metric
    if label_set is None:
        raise ValueError(f"Metric '{metric}' is a compute_metrics key: pass the label set")

    def _named(y_true, scores):
        values = compute_metrics(label_set, y_true, scores, thresholds)
        if metric not in values:
            from emotune.errors import EmotuneError, did_you_mean

            raise EmotuneError(f"Unknown metric '{metric}' for a {label_set.task.value} task",
                               hint=did_you_mean(metric, values))
        return values[metric]

    return _named


def resample_indices(n: int, n_resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """(n_resamples, n) row indices drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _weights(idx: np.ndarray, n: int) -> np.ndarray:
    """How often each row occurs in each resample: (n_resamples, n)."""
    b = idx.shape[0]
    offsets = (np.arange(b)[:, None] * n + idx).ravel()
    return np.bincount(offsets, minlength=b * n).reshape(b, n).astype(float)


def _fast_values(metric: str, label_set: LabelSet, y_true, scores, thresholds, idx: np.ndarray) -> np.ndarray:
    n = len(y_true)
    y_pred = decide(label_set, scores, thresholds)
    if label_set.task == Task.SINGLE:
        k = len(label_set)
        true_ind = np.eye(k)[np.asarray(y_true, dtype=int)]
        pred_ind = np.eye(k)[y_pred]
        per_row = {"accuracy": (y_pred == y_true).astype(float)}
    else:
        true_ind = np.asarray(y_true, dtype=float)
        pred_ind = np.asarray(y_pred, dtype=float)
        inter = (true_ind * pred_ind).sum(axis=1)
        union = np.maximum(true_ind, pred_ind).sum(axis=1)
        per_row = {
            "subset_accuracy": (true_ind == pred_ind).all(axis=1).astype(float),
            "hamming_loss": (true_ind != pred_ind).mean(axis=1),
            # sklearn's jaccard_score(average="samples", zero_division=1): an empty/empty row scores 1
            "jaccard_samples": np.divide(inter, union, out=np.ones_like(inter), where=union > 0),
        }
    out = []
    for chunk in np.array_split(idx, max(1, int(np.ceil(idx.size / 5e6)))):
        w = _weights(chunk, n)
        if metric in per_row:
            out.append(w @ per_row[metric] / n)
            continue
        tp, n_pred, n_true = w @ (true_ind * pred_ind), w @ pred_ind, w @ true_ind
        if metric == "f1_micro":
            num, den = 2 * tp.sum(axis=1), n_pred.sum(axis=1) + n_true.sum(axis=1)
            out.append(np.divide(num, den, out=np.zeros_like(num), where=den > 0))
            continue
        f1 = np.divide(2 * tp, n_pred + n_true, out=np.zeros_like(tp), where=(n_pred + n_true) > 0)
        if metric == "f1_macro":
            out.append(f1.mean(axis=1))
        else:  # f1_weighted: weighted by true support
            tot = n_true.sum(axis=1)
            wsum = (f1 * n_true).sum(axis=1)
            out.append(np.divide(wsum, tot, out=np.zeros_like(wsum), where=tot > 0))
    return np.concatenate(out)


def resampled_values(y_true, scores, metric: Metric = "f1_macro", *, label_set: LabelSet | None = None,
                     thresholds=None, idx: np.ndarray) -> np.ndarray:
    """The metric on each resample ``idx[b]`` of the rows."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=float)
    if isinstance(metric, str) and label_set is not None and metric in _FAST.get(label_set.task, ()):
        return _fast_values(metric, label_set, y_true, scores, thresholds, idx)
    fn = metric_function(metric, label_set, thresholds)
    return np.array([fn(y_true[rows], scores[rows]) for rows in idx], dtype=float)


def bootstrap_ci(y_true, scores, metric: Metric = "f1_macro", *, label_set: LabelSet | None = None,
                 thresholds=None, n_resamples: int = DEFAULT_RESAMPLES, confidence: float = 0.95,
                 seed: int = 0) -> dict:
    """Percentile bootstrap interval of a metric on a test set.

    Returns ``{"metric", "value", "low", "high", "std", "confidence", "n_resamples", "n"}``;
    ``value`` is the metric on the full test set, ``std`` the bootstrap standard error.
    """
    y_true = np.asarray(y_true)
    n = len(y_true)
    if n == 0:
        raise ValueError("Cannot bootstrap an empty test set")
    value = float(metric_function(metric, label_set, thresholds)(y_true, np.asarray(scores, dtype=float)))
    vals = resampled_values(y_true, scores, metric, label_set=label_set, thresholds=thresholds,
                            idx=resample_indices(n, n_resamples, seed))
    alpha = (1 - confidence) / 2
    low, high = np.nanquantile(vals, [alpha, 1 - alpha])
    return {"metric": metric if isinstance(metric, str) else getattr(metric, "__name__", "metric"),
            "value": value, "low": float(low), "high": float(high), "std": float(np.nanstd(vals, ddof=1)),
            "confidence": confidence, "n_resamples": n_resamples, "n": n}


def paired_bootstrap(y_true, scores_a, scores_b, metric: Metric = "f1_macro", *, label_set: LabelSet | None = None,
                     thresholds_a=None, thresholds_b=None, n_resamples: int = DEFAULT_RESAMPLES,
                     confidence: float = 0.95, seed: int = 0) -> dict:
    """Is model A's metric different from model B's on the same test rows?

    Both models are scored on the same resamples. The two-sided p-value is the share of
    resampled differences at least as far from the observed difference as the observed
    difference is from zero (the bootstrap distribution shifted to the null; Koehn 2004,
    Berg-Kirkpatrick et al. 2012), with the usual +1 correction so it is never exactly 0.
    """
    y_true = np.asarray(y_true)
    n = len(y_true)
    if len(scores_a) != n or len(scores_b) != n:
        raise ValueError("Paired bootstrap needs both models' scores on the same test rows")
    idx = resample_indices(n, n_resamples, seed)
    fa = metric_function(metric, label_set, thresholds_a)
    fb = metric_function(metric, label_set, thresholds_b)
    va, vb = float(fa(y_true, np.asarray(scores_a, dtype=float))), float(fb(y_true, np.asarray(scores_b, dtype=float)))
    ra = resampled_values(y_true, scores_a, metric, label_set=label_set, thresholds=thresholds_a, idx=idx)
    rb = resampled_values(y_true, scores_b, metric, label_set=label_set, thresholds=thresholds_b, idx=idx)
    diffs = ra - rb
    observed = va - vb
    alpha = (1 - confidence) / 2
    low, high = np.quantile(diffs, [alpha, 1 - alpha])
    extreme = int(np.sum(np.abs(diffs - observed) >= abs(observed)))
    return {"metric": metric if isinstance(metric, str) else getattr(metric, "__name__", "metric"),
            "value_a": va, "value_b": vb, "diff": observed, "low": float(low), "high": float(high),
            "p_value": (extreme + 1) / (n_resamples + 1), "n_resamples": n_resamples, "n": n}


def correctness(label_set: LabelSet, y_true, scores, thresholds=None) -> np.ndarray:
    """Per text: 1 if the prediction is right (multi-label: the exact label set), else 0."""
    y_true = np.asarray(y_true)
    y_pred = decide(label_set, scores, thresholds)
    if label_set.task == Task.SINGLE:
        return (y_pred == y_true).astype(int)
    if label_set.task == Task.MULTI:
        return (y_pred == y_true).all(axis=1).astype(int)
    raise ValueError("McNemar's test needs a classification task")


def mcnemar(correct_a: Sequence[int], correct_b: Sequence[int], exact: bool | None = None) -> dict:
    """McNemar's test on paired right/wrong outcomes of two models on the same texts.

    Only the discordant pairs count: ``b`` = A right and B wrong, ``c`` = A wrong and B right.
    ``exact`` (the default when b + c < 25): two-sided binomial test of b out of b + c at 0.5;
    otherwise the chi-squared statistic with continuity correction, (|b - c| - 1)^2 / (b + c).
    """
    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    if a.shape != b_.shape:
        raise ValueError("McNemar's test needs both models' outcomes on the same texts")
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    if exact is None:
        exact = (b + c) < 25
    if b + c == 0:
        return {"b": 0, "c": 0, "statistic": 0.0, "p_value": 1.0, "method": "no discordant pairs"}
    if exact:
        res = sps.binomtest(b, b + c, 0.5, alternative="two-sided")
        return {"b": b, "c": c, "statistic": float(min(b, c)), "p_value": float(res.pvalue), "method": "exact binomial"}
    stat = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "statistic": float(stat), "p_value": float(sps.chi2.sf(stat, df=1)),
            "method": "chi-squared, continuity-corrected"}


# -- several seeds / folds --------------------------------------------------------------------
def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    arr = np.asarray([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def aggregate(rows: Sequence[Mapping[str, float]]) -> dict[str, dict]:
    """``{key: {"mean", "std", "n", "values"}}`` over metric dicts (one per seed or fold)."""
    keys = [k for k in dict.fromkeys(k for r in rows for k in r)
            if all(isinstance(r.get(k), (int, float)) for r in rows)]
    out = {}
    for k in keys:
        vals = [float(r[k]) for r in rows]
        m, s = mean_std(vals)
        out[k] = {"mean": m, "std": s, "n": len(vals), "values": vals}
    return out


def format_mean_std(mean: float, std: float | None = None, digits: int = 3) -> str:
    if mean is None or not np.isfinite(mean):
        return "–"
    if std is None or not np.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_ci(low: float, high: float, digits: int = 3) -> str:
    return f"[{low:.{digits}f}, {high:.{digits}f}]"
