"""The figures of both reports in one style: matplotlib (Agg backend), one PNG each, plain data in.

This module holds the shared look (:data:`DPI`, the rcParams, :func:`palette`, :func:`save`) and the
comparison report's figures; :mod:`emotune.reports.eda_figures` draws the EDA report's with the same
helpers. Every function takes plain numbers (no run directories), writes ``path`` and returns it, so
the report decides what to plot and these only decide how.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=True)  # no display here, and never one in a server process
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110
plt.rcParams.update({"figure.dpi": DPI, "axes.spines.top": False, "axes.spines.right": False,
                     "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
                     "legend.fontsize": 8})
# Distinct colours dark enough for text: tab10, then Dark2, Set1 and the dark half of tab20b
# (tab20's light shades vanish on white); they repeat beyond 37 groups.
_PALETTE = ([plt.get_cmap("tab10")(i) for i in range(10)] + [plt.get_cmap("Dark2")(i) for i in range(8)]
            + [plt.get_cmap("Set1")(i) for i in (0, 1, 2, 3, 4, 6, 7, 8)]
            + [plt.get_cmap("tab20b")(i) for i in range(0, 20, 2)])


def color(i: int):
    return _PALETTE[i % len(_PALETTE)]


def palette(n: int) -> list:
    return [color(i) for i in range(n)]


def save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return path


def grid(n: int, ncols: int = 4) -> tuple[int, int]:
    """(rows, columns) of a panel grid for ``n`` panels, at most ``ncols`` wide."""
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def _ylow(values) -> float:
    """0 for scores in [0, 1]; room below 0 for correlations that went negative."""
    vals = np.asarray([v for v in values if v is not None], dtype=float)
    low = np.nanmin(vals) if vals.size and np.isfinite(vals).any() else 0.0
    return 0.0 if low >= 0 else float(np.floor(low * 10) / 10)


def _label_width(n_labels: int, per: float = 0.55, lo: float = 6.0, hi: float = 22.0) -> float:
    return float(min(hi, max(lo, per * n_labels + 2)))


def grouped_bars(values: Mapping[str, Mapping[str, float]], path: str | Path, *, title: str = "",
                 ylabel: str = "F1", errors: Mapping[str, Mapping[str, float]] | None = None,
                 threshold: float | None = None) -> Path:
    """One group of bars per label, one bar per model: ``values[model][label]``.

    ``errors`` (same shape) draws ± whiskers (e.g. the std over seeds); ``threshold`` a dashed line.
    """
    models = list(values)
    labels = list(dict.fromkeys(lab for m in models for lab in values[m]))
    n_m = max(1, len(models))
    x = np.arange(len(labels))
    width = 0.8 / n_m
    fig, ax = plt.subplots(figsize=(_label_width(len(labels), per=0.35 * max(2, n_m)), 4.2))
    for i, m in enumerate(models):
        vals = [values[m].get(lab, np.nan) for lab in labels]
        err = None
        if errors and m in errors:
            err = [errors[m].get(lab, 0.0) for lab in labels]
        ax.bar(x - 0.4 + width * (i + 0.5), vals, width, label=m, color=color(i), yerr=err,
               capsize=2 if err is not None else 0, error_kw={"elinewidth": 0.8})
    if threshold is not None:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(labels, rotation=45 if len(labels) > 8 else 0, ha="right" if len(labels) > 8 else "center")
    ax.set_ylim(_ylow([v for m in models for v in values[m].values()]), 1.0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    below = -0.18 if len(labels) <= 8 else -0.3  # rotated tick labels need more room
    ax.legend(fontsize=8, ncol=min(n_m, 4), loc="upper center", bbox_to_anchor=(0.5, below), frameon=False)
    return save(fig, path)


def bars_with_ci(names: Sequence[str], values: Sequence[float], lows: Sequence[float], highs: Sequence[float],
                 path: str | Path, *, title: str = "", ylabel: str = "macro-F1") -> Path:
    """One horizontal bar per model with its confidence interval as whiskers, best on top."""
    values = np.asarray(values, dtype=float)
    lows = np.asarray(lows, dtype=float)
    highs = np.asarray(highs, dtype=float)
    order = np.argsort(values)  # ascending: barh draws bottom-up, so the best lands on top
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(names) + 1.4))
    y = np.arange(len(names))
    err = np.vstack([np.clip(values[order] - lows[order], 0, None), np.clip(highs[order] - values[order], 0, None)])
    ax.barh(y, values[order], xerr=err, color=[color(i) for i in order], capsize=3, alpha=0.9)
    for yi, v, h in zip(y, values[order], highs[order]):
        ax.text(min(h, 1.0) + 0.01, yi, f"{v:.3f}", va="center", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels([names[i] for i in order])
    ax.set_xlim(_ylow(lows), min(1.0, max(1e-3, float(np.nanmax(highs)))) + 0.12)
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return save(fig, path)


def box_per_label(values: Mapping[str, Sequence[float]], path: str | Path, *, title: str = "",
                  ylabel: str = "F1") -> Path:
    """One box per label over whatever the values span (models, seeds, folds); points on top."""
    labels = list(values)
    fig, ax = plt.subplots(figsize=(_label_width(len(labels)), 4.2))
    data = [np.asarray(values[lab], dtype=float) for lab in labels]
    ax.boxplot(data, showfliers=False, widths=0.6)
    rng = np.random.default_rng(0)
    for i, d in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(d)), d, s=10, color="tab:blue", alpha=0.6, zorder=3)
    ax.set_xticks(np.arange(1, len(labels) + 1))
    ax.set_xticklabels(labels, rotation=45 if len(labels) > 8 else 0, ha="right" if len(labels) > 8 else "center")
    ax.set_ylim(_ylow([v for d in data for v in d]), 1.0)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    return save(fig, path)


def heatmap(matrix, row_names: Sequence[str], col_names: Sequence[str], path: str | Path, *, title: str = "",
            cmap: str = "viridis", vmin: float = 0.0, vmax: float = 1.0, annotate: bool | None = None,
            xlabel: str = "", ylabel: str = "", colorbar_label: str = "") -> Path:
    """A coloured matrix with its values written in the cells (when they fit)."""
    m = np.asarray(matrix, dtype=float)
    n_r, n_c = m.shape
    if annotate is None:
        annotate = n_r * n_c <= 400
    fig, ax = plt.subplots(figsize=(min(24, max(5.0, 0.55 * n_c + 2.5)), min(20, max(3.0, 0.42 * n_r + 1.8))))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(np.arange(n_c))
    ax.set_xticklabels(col_names, rotation=45 if n_c > 5 else 0, ha="right" if n_c > 5 else "center")
    ax.set_yticks(np.arange(n_r))
    ax.set_yticklabels(row_names)
    if annotate:
        fs = 8 if n_c <= 12 else 6
        for i in range(n_r):
            for j in range(n_c):
                if np.isfinite(m[i, j]):
                    r, g, b, _ = im.cmap(im.norm(m[i, j]))
                    dark = 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5  # relative luminance of the cell
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=fs,
                            color="white" if dark else "black")
    cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if colorbar_label:
        cb.set_label(colorbar_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return save(fig, path)


def confusion_matrix(cm, names: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """A row-normalised confusion matrix (rows: true label, columns: prediction)."""
    return heatmap(cm, names, names, path, title=title, cmap="Blues", xlabel="predicted", ylabel="true",
                   colorbar_label="share of the true label")


def reliability_diagram(curves: Mapping[str, Mapping], path: str | Path, *, title: str = "Reliability") -> Path:
    """Accuracy against confidence per bin for each model (``curves[model]`` = calibration summary)."""
    fig, ax = plt.subplots(figsize=(5.6, 5.2))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="perfectly calibrated")
    for i, (name, c) in enumerate(curves.items()):
        pp, pt = np.asarray(c.get("prob_pred", [])), np.asarray(c.get("prob_true", []))
        if len(pp) == 0:
            continue
        ece = c.get("ece")
        lab = f"{name} (ECE {ece:.3f})" if ece is not None and np.isfinite(ece) else name
        ax.plot(pp, pt, linewidth=1.2, color=color(i), label=lab)
        counts = np.asarray(c.get("counts", np.ones(len(pp))), dtype=float)
        # marker area ~ share of predictions in the bin: sparse bins are visibly less trustworthy
        ax.scatter(pp, pt, s=8 + 120 * counts / max(1.0, counts.sum()), color=color(i), zorder=3)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("observed frequency of being right")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_aspect("equal")
    return save(fig, path)


def scatter_true_pred(y_true, y_pred, path: str | Path, *, title: str = "", name: str = "value") -> Path:
    """Regression: predicted against true values with the identity line."""
    t = np.asarray(y_true, dtype=float).ravel()
    p = np.asarray(y_pred, dtype=float).ravel()
    fig, ax = plt.subplots(figsize=(4.8, 4.6))
    ax.scatter(t, p, s=6, alpha=0.4)
    lo, hi = float(min(t.min(), p.min())), float(max(t.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return save(fig, path)
