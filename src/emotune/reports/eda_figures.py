"""The EDA report's figures (:mod:`emotune.reports.eda`), drawn in the style of :mod:`emotune.reports.plots`.

Each takes the dataset (or what the report computed from it) and writes one PNG to ``path``.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import Task
from emotune.reports.plots import grid, palette, plt, save


def plot_class_distribution(ds: EmotionDataset, path: Path) -> None:
    names = list(ds.label_set.names)
    splits = ds.split_names or [""]
    fig, ax = plt.subplots(figsize=(min(16, max(6.5, 0.3 * len(names) * len(splits) + 3)), 4))
    width = 0.8 / len(splits)
    colors = palette(len(splits)) if len(splits) > 1 else ["#4c72b0"]
    x = np.arange(len(names))
    for i, s in enumerate(splits):
        part = ds.frame if not s else ds.frame[ds.frame["split"] == s]
        c = Counter(lab for labs in part["labels"] for lab in labs)
        counts = np.array([c.get(k, 0) for k in names], dtype=float)
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width, counts / max(len(part), 1), width,
                      label=f"{s} (n={len(part):,})", color=colors[i])
        if len(splits) == 1 and len(names) <= 16:
            ax.bar_label(bars, labels=[f"{int(v):,}" for v in counts], fontsize=7, padding=2)
    ax.set_xticks(x, names, rotation=45 if len(names) > 8 else 0, ha="right" if len(names) > 8 else "center")
    ax.set_ylabel("share of rows")
    ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    if len(splits) > 1:
        ax.set_title("Label distribution per split")
        ax.legend(frameon=False, bbox_to_anchor=(1.0, 1.0), loc="upper left")
    else:
        where = f"split '{splits[0]}'" if splits[0] else "no official split"
        ax.set_title(f"Label distribution ({len(ds):,} rows, {where}; counts on the bars)")
    save(fig, path)


def plot_labels_per_text(ds: EmotionDataset, path: Path) -> None:
    k = ds.frame["labels"].map(len).to_numpy()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    vals, counts = np.unique(k, return_counts=True)
    ax.bar(vals, counts / len(k), color="#4c72b0")
    ax.set_xticks(vals)
    ax.set_xlabel("labels per text")
    ax.set_ylabel("share of rows")
    ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("How many labels a text has")
    save(fig, path)


def plot_label_cooccurrence(ds: EmotionDataset, path: Path) -> None:
    y = ds.label_set.encode_multi(ds.frame["labels"]).astype(float)
    names = list(ds.label_set.names)
    co = y.T @ y
    totals = np.diag(co).copy()
    # P(column | row): how often a text with the row label also has the column label
    cond = np.divide(co, totals[:, None], out=np.zeros_like(co), where=totals[:, None] > 0)
    np.fill_diagonal(cond, np.nan)
    size = max(5.0, 0.38 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(cond, cmap="viridis", vmin=0, vmax=max(np.nanmax(cond), 1e-9) if np.isfinite(cond).any() else 1)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), [f"{n} ({int(t):,})" for n, t in zip(names, totals)])
    ax.set_xlabel("also labelled")
    ax.set_ylabel("texts labelled (count)")
    if len(names) <= 14:
        for i in range(len(names)):
            for j in range(len(names)):
                if i != j and co[i, j]:
                    ax.text(j, i, f"{cond[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if cond[i, j] < 0.6 * np.nanmax(cond) else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="P(column label | row label)")
    ax.set_title("Label co-occurrence")
    save(fig, path)


def plot_target_histograms(ds: EmotionDataset, path: Path) -> None:
    y = ds.y()
    names = list(ds.label_set.names)
    rows, cols = grid(len(names), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    splits = ds.split_names or [""]
    colors = palette(len(splits))
    for j, name in enumerate(names):
        ax = axes.flat[j]
        col = y[:, j]
        bins = np.histogram_bin_edges(col[~np.isnan(col)], bins=30)
        for i, s in enumerate(splits):
            mask = np.ones(len(col), bool) if not s else (ds.frame["split"] == s).to_numpy()
            ax.hist(col[mask & ~np.isnan(col)], bins=bins, density=True, histtype="step", lw=1.5, color=colors[i],
                    label=s or "all")
        ax.set_title(name)
        ax.set_ylabel("density")
        if j == 0:
            ax.legend(frameon=False)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Target distributions per split", y=1.02)
    fig.tight_layout()
    save(fig, path)


def plot_target_correlation(ds: EmotionDataset, path: Path) -> None:
    names = list(ds.label_set.names)
    corr = pd.DataFrame(ds.y(), columns=names).corr().to_numpy()
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 1.0 * len(names) + 1.5))
    im = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="Pearson r")
    ax.set_title("Correlation between targets")
    save(fig, path)


def plot_text_length(ds: EmotionDataset, grp: dict[str, np.ndarray], path: Path) -> None:
    words = ds.frame["text"].fillna("").astype(str).str.split().str.len().to_numpy()
    cap = max(5, int(np.ceil(np.quantile(words, 0.99))))
    step = max(1, int(np.ceil(cap / 30)))  # whole words per bin: fractional bins leave empty stripes
    bins = np.arange(0, cap + step + 1, step) - 0.5
    names = list(grp)
    rows, cols = grid(len(names), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False, sharex=True)
    colors = palette(len(names))
    for i, name in enumerate(names):
        ax = axes.flat[i]
        w = words[grp[name]]
        ax.hist(np.minimum(w, cap), bins=bins, color=colors[i], alpha=0.85)
        ax.axvline(np.median(w), color="black", lw=1, ls="--")
        ax.set_title(f"{name}  (median {np.median(w):g} words, n={len(w):,})", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("words per text")
    fig.suptitle(f"Text length per {'class' if ds.task != Task.REGRESSION else 'target quartile'} "
                 f"(longer than {cap} words counted in the last bin)", y=1.0)
    fig.tight_layout()
    save(fig, path)


def plot_top_terms(terms: dict[str, list[tuple[str, float]]], path: Path) -> None:
    names = list(terms)
    rows, cols = grid(len(names), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    colors = palette(len(names))
    for i, name in enumerate(names):
        ax = axes.flat[i]
        items = terms[name][::-1]
        if items:
            ax.barh([w for w, _ in items], [s for _, s in items], color=colors[i])
        else:
            ax.text(0.5, 0.5, "too few words", ha="center", va="center", transform=ax.transAxes, color="#777777")
            ax.axis("off")
        ax.set_title(name)
        ax.tick_params(axis="y", labelsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Most distinctive lemmas per group (log-odds z-score vs. all other rows)", y=1.0)
    fig.tight_layout()
    save(fig, path)


def _cloud_weights(tokens: list[list[str]], grp: dict[str, np.ndarray], min_count: int = 3
                   ) -> dict[str, dict[str, float]]:
    """Per group: count x log(lift) over the lemmas more common in the group than overall (lift > 1).

    Raw frequency would draw the same few words ("feel", "say", "time") in every cloud; this weight
    is each lemma's contribution to how much the group's vocabulary differs from the corpus."""
    total = Counter(w for toks in tokens for w in toks)
    n_total = sum(total.values()) or 1
    out = {}
    for name, mask in grp.items():
        freq = Counter(w for r in np.flatnonzero(mask) for w in tokens[r])
        n = sum(freq.values()) or 1
        weights = {}
        for w, c in freq.items():
            lift = (c / n) / (total[w] / n_total)
            if c >= min_count and lift > 1.05:
                weights[w] = c * math.log(lift)
        if not weights:  # tiny groups: fall back to plain frequency
            weights = {w: float(c) for w, c in freq.most_common(60)}
        out[name] = dict(sorted(weights.items(), key=lambda kv: -kv[1])[:150])
    return out


def plot_wordclouds(tokens: list[list[str]], grp: dict[str, np.ndarray], path: Path, seed: int = 0) -> None:
    import colorsys

    from matplotlib.colors import to_rgb
    from wordcloud import WordCloud

    names = list(grp)
    weights = _cloud_weights(tokens, grp)
    rows, cols = grid(len(names), 4)
    height = 2.7 * rows + 0.5
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, height), squeeze=False,
                             gridspec_kw={"hspace": 0.25, "wspace": 0.06})
    fig.subplots_adjust(top=1 - 0.75 / height, bottom=0.1 / height, left=0.02, right=0.98)
    colors = palette(len(names))
    for i, name in enumerate(names):
        ax = axes.flat[i]
        h, _, s = colorsys.rgb_to_hls(*to_rgb(colors[i]))
        rng = np.random.default_rng(seed + i)

        def shade(*_args, _h=h, _s=s, _rng=rng, **_kw):  # the group's hue, dark enough to read
            r, g, b = colorsys.hls_to_rgb(_h, _rng.uniform(0.22, 0.48), max(_s, 0.45))
            return f"rgb({int(r * 255)}, {int(g * 255)}, {int(b * 255)})"

        if weights[name]:
            wc = WordCloud(width=440, height=300, background_color="white", max_words=60, random_state=seed,
                           color_func=shade, prefer_horizontal=0.95, min_font_size=7, margin=3)
            ax.imshow(wc.generate_from_frequencies(weights[name]), interpolation="bilinear")
        else:
            ax.text(0.5, 0.5, "too few words", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(name, fontsize=11, fontweight="bold", color=colors[i])
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ax.spines.values():
            side.set_visible(True)
            side.set_color("#dddddd")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Word clouds: lemmas over-represented in each group, sized by count x log(lift)",
                 y=1 - 0.2 / height)
    save(fig, path)


def _bare(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def plot_tsne(ds: EmotionDataset, xy: np.ndarray, path: Path, perplexity: float) -> str:
    """Draw the t-SNE map of the texts in ``ds`` (in the order of ``xy``).

    One map coloured by class; or, for multi-label data and more than 20 classes, one panel per
    label highlighting its texts (with several labels per text a single colour per point would
    mislead); regression colours by each target. Returns the layout: "single", "panels" or
    "regression"."""
    title = f"t-SNE of sentence embeddings ({len(ds):,} texts, perplexity {perplexity:.0f})"
    names = list(ds.label_set.names)
    if ds.task == Task.REGRESSION:
        y = ds.y()
        rows, cols = grid(len(names), 3)
        fig, axes = plt.subplots(rows, cols, figsize=(6.2 * cols, 5 * rows), squeeze=False)
        for j, name in enumerate(names):
            ax = axes.flat[j]
            lo, hi = np.nanquantile(y[:, j], [0.02, 0.98])  # most targets bunch up mid-scale
            sc = ax.scatter(xy[:, 0], xy[:, 1], c=y[:, j], cmap="viridis", vmin=lo, vmax=hi, s=8, alpha=0.9,
                            linewidths=0)
            fig.colorbar(sc, ax=ax, fraction=0.046, pad=0.02, label=name)
            _bare(ax)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.suptitle(title)
        save(fig, path)
        return "regression"
    labels = ds.frame["labels"].tolist()
    if ds.task == Task.SINGLE and len(names) <= 20:
        cls = np.array([labs[0] for labs in labels])
        colors = palette(len(names))
        fig, ax = plt.subplots(figsize=(8.5, 6.5))
        for k, name in enumerate(names):
            m = cls == name
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=9, alpha=0.75, linewidths=0, color=colors[k],
                           label=f"{name} ({m.sum():,})")
        ax.legend(frameon=False, markerscale=2.5, bbox_to_anchor=(1.01, 1), loc="upper left")
        _bare(ax)
        ax.set_title(title)
        save(fig, path)
        return "single"
    present = [n for n in names if any(n in labs for labs in labels)]
    rows, cols = grid(len(present), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.0 * rows), squeeze=False)
    colors = palette(len(present))
    for k, name in enumerate(present):
        ax = axes.flat[k]
        m = np.fromiter((name in labs for labs in labels), dtype=bool, count=len(labels))
        ax.scatter(xy[~m, 0], xy[~m, 1], s=3, color="#d9d9d9", linewidths=0)
        ax.scatter(xy[m, 0], xy[m, 1], s=6, color=colors[k] if len(present) <= 10 else "#c0392b", linewidths=0,
                   alpha=0.9)
        ax.set_title(f"{name} ({m.sum():,})", fontsize=9)
        _bare(ax)
    for ax in list(axes.flat)[len(present):]:
        ax.axis("off")
    fig.suptitle(title + ": texts with each label highlighted", y=1.0)
    fig.tight_layout()
    save(fig, path)
    return "panels"


def plot_centroid_similarity(names: list[str], sim: np.ndarray, path: Path) -> None:
    size = max(4.5, 0.4 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(sim, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=90)
    ax.set_yticks(range(len(names)), names)
    if len(names) <= 14:
        for i in range(len(names)):
            for j in range(len(names)):
                if i != j:
                    ax.text(j, i, f"{sim[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if abs(sim[i, j]) > 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="cosine similarity (centred)")
    ax.set_title("Similarity of group centroids in embedding space")
    save(fig, path)
