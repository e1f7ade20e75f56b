"""Exploratory data analysis: one HTML page + PNG figures per dataset (``emotune eda NAME``).

Every figure works for the three tasks. Classification groups rows by class (multi-label: a row
counts for each of its labels); regression groups them by target quartile ("valence low" = the
bottom quarter, "valence high" = the top quarter), so the term, word-cloud and length views still
compare something meaningful.

Terms are lemmatised by :class:`SuffixLemmatizer`, a rule-based lemmatiser that accepts a
candidate lemma only if it occurs in the corpus itself. WordNet (nltk) or spaCy would need data
downloads that fail offline, and a plain stemmer produces non-words ("happi") in a report meant for
people.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.cleaning import is_placeholder, normalize_for_dedup
from emotune.data.dataset import CORE_COLUMNS, EmotionDataset
from emotune.data.labels import Task
from emotune.errors import DataError

FIGURES = {
    "class_distribution": "class_distribution.png",
    "labels_per_text": "labels_per_text.png",
    "label_cooccurrence": "label_cooccurrence.png",
    "target_histograms": "target_histograms.png",
    "target_correlation": "target_correlation.png",
    "text_length": "text_length.png",
    "top_terms": "top_terms.png",
    "wordclouds": "wordclouds.png",
    "tsne": "tsne.png",
    "centroid_similarity": "centroid_similarity.png",
}
OUTPUT_FILES = ("index.html", "eda.json", *FIGURES.values())
META_SUMMARIES = ("intensity", "age", "gender", "country")  # summarised when present in metadata
_TOKEN = re.compile(r"[a-z][a-z']*[a-z]|[a-z]")
_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+|&\w+;")
_DPI = 110
_TSNE_ITER = 750  # sklearn's default 1000 changes little on these maps and costs a third more


# -- lemmatisation ------------------------------------------------------------------------------
_IRREGULAR = {
    "felt": "feel", "got": "get", "gotten": "get", "went": "go", "gone": "go", "made": "make", "told": "tell",
    "said": "say", "saw": "see", "seen": "see", "took": "take", "taken": "take", "gave": "give", "given": "give",
    "came": "come", "thought": "think", "left": "leave", "lost": "lose", "found": "find", "knew": "know",
    "known": "know", "heard": "hear", "met": "meet", "ran": "run", "began": "begin", "begun": "begin",
    "broke": "break", "broken": "break", "bought": "buy", "brought": "bring", "caught": "catch",
    "chose": "choose", "chosen": "choose", "did": "do", "done": "do", "drove": "drive", "driven": "drive",
    "fell": "fall", "fallen": "fall", "fought": "fight", "forgot": "forget", "forgotten": "forget",
    "hurt": "hurt", "kept": "keep", "paid": "pay", "sat": "sit", "slept": "sleep", "spent": "spend",
    "stole": "steal", "stolen": "steal", "stood": "stand", "taught": "teach", "understood": "understand",
    "woke": "wake", "won": "win", "wrote": "write", "written": "write", "died": "die", "lied": "lie",
    "children": "child", "men": "man", "women": "woman", "feet": "foot", "teeth": "tooth", "mice": "mouse",
    "was": "be", "were": "be", "been": "be", "is": "be", "are": "be", "am": "be", "has": "have", "had": "have",
    "better": "good", "best": "good", "worse": "bad", "worst": "bad",
}


class SuffixLemmatizer:
    """Suffix rules whose output must itself be a word of the corpus ("feeling" -> "feel" only if
    "feel" occurs), so the rules never invent non-words; irregular forms come from a short table."""

    def __init__(self, vocabulary):
        self.vocabulary = set(vocabulary)
        self._cache: dict[str, str] = {}

    def _candidates(self, w: str):
        if w.endswith("ies") and len(w) > 4:
            yield w[:-3] + "y"
        if w.endswith("ied") and len(w) > 4:
            yield w[:-3] + "y"
        for suf in ("ing", "ed"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                stem = w[: -len(suf)]
                yield stem + "e"
                yield stem
                if len(stem) > 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouls":
                    yield stem[:-1]  # running -> run
        if w.endswith("es") and len(w) > 4:
            yield w[:-2]  # boxes -> box
        if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3:
            yield w[:-1]

    def __call__(self, word: str) -> str:
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        lemma = _IRREGULAR.get(word)
        if lemma is None:
            lemma = next((c for c in self._candidates(word) if c in self.vocabulary), word)
        self._cache[word] = lemma
        return lemma


def _stop_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    # + contractions without apostrophes (common in tweets and chat) and the lemma "be"
    extra = {"im", "ive", "id", "ill", "dont", "didnt", "doesnt", "cant", "wont", "isnt", "wasnt", "arent",
             "couldnt", "wouldnt", "shouldnt", "thats", "theres", "youre", "hes", "shes", "theyre", "lets",
             "be", "have", "do", "get", "s", "t", "m", "re", "ve", "ll", "d", "u", "ur", "oh", "just", "rt"}
    return frozenset(ENGLISH_STOP_WORDS | extra)


def _raw_tokens(text: str) -> list[str]:
    text = _NOISE.sub(" ", str(text).lower().replace("’", "'"))
    return [t[:-2] if t.endswith("'s") else t.replace("'", "") for t in _TOKEN.findall(text)]


def tokenize(texts) -> list[list[str]]:
    """Lower-cased, lemmatised content words per text (stop words, URLs and @mentions removed)."""
    raw = [_raw_tokens(t) for t in texts]
    lemma = SuffixLemmatizer(w for toks in raw for w in toks)
    stop = _stop_words()
    out = []
    for toks in raw:
        lemmas = (lemma(w) for w in toks if w not in stop)
        out.append([w for w in lemmas if w not in stop and len(w) > 1])
    return out


# -- grouping -------------------------------------------------------------------------------------
def groups(ds: EmotionDataset) -> dict[str, np.ndarray]:
    """Row masks per class (classification) or per target quartile (regression), in label order."""
    out: dict[str, np.ndarray] = {}
    if ds.task == Task.REGRESSION:
        y = ds.y()
        for j, name in enumerate(ds.label_set.names):
            col = y[:, j]
            ok = ~np.isnan(col)
            if ok.sum() < 4:
                continue
            lo, hi = np.nanquantile(col, [0.25, 0.75])
            if lo == hi:
                continue
            out[f"{name} low"] = ok & (col <= lo)
            out[f"{name} high"] = ok & (col >= hi)
        return out
    label_lists = ds.frame["labels"].tolist()
    for name in ds.label_set.names:
        mask = np.fromiter((name in labs for labs in label_lists), dtype=bool, count=len(label_lists))
        if mask.any():
            out[name] = mask
    return out


# -- statistics -----------------------------------------------------------------------------------
def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:,.2f}" if abs(x) < 1000 else f"{x:,.0f}"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    return str(x)


def _numeric_summary(s: pd.Series) -> str:
    v = pd.to_numeric(s, errors="coerce").dropna()
    if v.empty:
        return "no numeric values"
    return (f"mean {v.mean():.2f} ± {v.std():.2f}, median {v.median():g}, range {v.min():g}–{v.max():g}"
            f" (n={len(v):,})")


def _value_counts(s: pd.Series, top: int = 8) -> str:
    vc = s.astype("string").fillna("(missing)").replace("", "(missing)").value_counts()
    parts = [f"{k}: {v:,}" for k, v in vc.head(top).items()]
    if len(vc) > top:
        parts.append(f"… {len(vc) - top} more values")
    return ", ".join(parts)


def statistics(ds: EmotionDataset, tokens: list[list[str]] | None = None) -> dict[str, list[tuple[str, str]]]:
    """Sections of (name, value) rows for the report's table (also saved as eda.json)."""
    f = ds.frame
    texts = f["text"].fillna("").astype(str)
    n = len(f)
    words = texts.str.split().str.len()
    sec: dict[str, list[tuple[str, str]]] = {}

    rows = [("task", ds.task.value), ("rows", _fmt(n))]
    if ds.split_names:
        rows.append(("rows per split", ", ".join(f"{s}: {(f['split'] == s).sum():,}" for s in ds.split_names)))
        unsplit = int((f["split"] == "").sum())
        if unsplit:
            rows.append(("rows without a split", _fmt(unsplit)))
    else:
        rows.append(("splits", "none (the splitter makes them)"))
    rows.append(("labels" if ds.task != Task.REGRESSION else "targets", f"{len(ds.label_set)}: "
                 + ", ".join(ds.label_set.names)))
    if ds.is_conversational:
        per = f.groupby("dialogue_id").size()
        rows.append(("dialogues", f"{len(per):,} (turns per dialogue: mean {per.mean():.1f}, max {per.max()})"))
    sec["Overview"] = rows

    keys = [normalize_for_dedup(t) for t in texts]
    key_s = pd.Series(keys)
    rows = [
        ("empty texts", _fmt(int((texts.str.strip() == "").sum()))),
        ("placeholder non-answers", _fmt(int(sum(is_placeholder(t) for t in texts)))),
        ("exact duplicate rows (same text as an earlier row)", _fmt(int(texts.duplicated().sum()))),
        ("normalised duplicates (case, punctuation, spaces ignored)", _fmt(int(key_s.duplicated().sum()))),
    ]
    if ds.task != Task.REGRESSION:
        lab = f["labels"].map(lambda t: tuple(sorted(t)))
        conflict = pd.DataFrame({"k": keys, "l": lab}).groupby("k")["l"].nunique()
        rows.append(("duplicate texts with conflicting labels", _fmt(int((conflict > 1).sum()))))
    if len(ds.split_names) > 1:
        spl = pd.DataFrame({"k": keys, "s": f["split"].values}).groupby("k")["s"].nunique()
        rows.append(("texts found in more than one split (leakage)", _fmt(int((spl > 1).sum()))))
    missing = {c: int(f[c].isna().sum()) for c in f.columns if f[c].dtype == object or f[c].isna().any()}
    missing = {c: m for c, m in missing.items() if m}
    rows.append(("missing values", ", ".join(f"{c}: {m:,}" for c, m in missing.items()) or "none"))
    sec["Quality"] = rows

    rows = [("words per text", f"mean {words.mean():.1f}, median {words.median():g}, "
             f"95th pct {words.quantile(0.95):g}, max {words.max():,}"),
            ("characters per text", f"mean {texts.str.len().mean():.0f}, max {texts.str.len().max():,}")]
    if tokens is not None:
        vocab = Counter(w for toks in tokens for w in toks)
        rows.append(("distinct content lemmas", _fmt(len(vocab))))
    sec["Text"] = rows

    if ds.task == Task.REGRESSION:
        y = ds.y()
        sec["Targets"] = [(name, _numeric_summary(pd.Series(y[:, j]))) for j, name in enumerate(ds.label_set.names)]
    else:
        counts = Counter(lab for labs in f["labels"] for lab in labs)
        present = [counts.get(n_, 0) for n_ in ds.label_set.names]
        nz = [c for c in present if c]
        rows = [("rows per label", ", ".join(f"{k}: {counts.get(k, 0):,}" for k in ds.label_set.names)),
                ("imbalance (largest / smallest class)", f"{max(nz) / min(nz):.1f}" if nz else "n/a")]
        absent = [k for k, c in zip(ds.label_set.names, present) if not c]
        if absent:
            rows.append(("labels with no rows", ", ".join(absent)))
        if ds.task == Task.MULTI:
            k = f["labels"].map(len)
            rows.append(("labels per text", f"mean {k.mean():.2f}, max {k.max()}, "
                         f"{(k == 0).mean():.1%} with none, {(k > 1).mean():.1%} with several"))
        sec["Labels"] = rows

    meta_cols = [c for c in f.columns if c not in CORE_COLUMNS]
    rows = []
    for want in META_SUMMARIES:
        for c in meta_cols:
            if c.lower() == want:
                s = f[c]
                numeric = pd.api.types.is_numeric_dtype(s) and s.nunique() > 12
                rows.append((c, _numeric_summary(s) if numeric else _value_counts(s)))
    others = [c for c in meta_cols if c.lower() not in META_SUMMARIES]
    if others:
        rows.append(("other metadata columns", ", ".join(others)))
    if rows:
        sec["Metadata"] = rows
    return sec


# -- figures --------------------------------------------------------------------------------------
def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)  # no display here, and never one in a server process
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": _DPI, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.titlesize": 10, "axes.labelsize": 9, "xtick.labelsize": 8, "ytick.labelsize": 8,
                         "legend.fontsize": 8})
    return plt


def _palette(n: int):
    """Distinct colours dark enough for text: tab10, then Dark2, Set1 and the dark half of tab20b
    (tab20's light shades vanish on white); they repeat beyond 37 groups."""
    plt = _plt()
    colors = [plt.get_cmap("tab10")(i) for i in range(10)] + [plt.get_cmap("Dark2")(i) for i in range(8)]
    colors += [plt.get_cmap("Set1")(i) for i in (0, 1, 2, 3, 4, 6, 7, 8)]
    colors += [plt.get_cmap("tab20b")(i) for i in range(0, 20, 2)]
    return [colors[i % len(colors)] for i in range(n)]


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=_DPI, bbox_inches="tight", facecolor="white")
    _plt().close(fig)


def _grid(n: int, ncols: int = 4):
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def plot_class_distribution(ds: EmotionDataset, path: Path) -> None:
    plt = _plt()
    names = list(ds.label_set.names)
    splits = ds.split_names or [""]
    fig, ax = plt.subplots(figsize=(min(16, max(6.5, 0.3 * len(names) * len(splits) + 3)), 4))
    width = 0.8 / len(splits)
    colors = _palette(len(splits)) if len(splits) > 1 else ["#4c72b0"]
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
    _save(fig, path)


def plot_labels_per_text(ds: EmotionDataset, path: Path) -> None:
    plt = _plt()
    k = ds.frame["labels"].map(len).to_numpy()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    vals, counts = np.unique(k, return_counts=True)
    ax.bar(vals, counts / len(k), color="#4c72b0")
    ax.set_xticks(vals)
    ax.set_xlabel("labels per text")
    ax.set_ylabel("share of rows")
    ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0))
    ax.set_title("How many labels a text has")
    _save(fig, path)


def plot_label_cooccurrence(ds: EmotionDataset, path: Path) -> None:
    plt = _plt()
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
    _save(fig, path)


def plot_target_histograms(ds: EmotionDataset, path: Path) -> None:
    plt = _plt()
    y = ds.y()
    names = list(ds.label_set.names)
    rows, cols = _grid(len(names), 3)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    splits = ds.split_names or [""]
    colors = _palette(len(splits))
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
    _save(fig, path)


def plot_target_correlation(ds: EmotionDataset, path: Path) -> None:
    plt = _plt()
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
    _save(fig, path)


def plot_text_length(ds: EmotionDataset, grp: dict[str, np.ndarray], path: Path) -> None:
    plt = _plt()
    words = ds.frame["text"].fillna("").astype(str).str.split().str.len().to_numpy()
    cap = max(5, int(np.ceil(np.quantile(words, 0.99))))
    step = max(1, int(np.ceil(cap / 30)))  # whole words per bin: fractional bins leave empty stripes
    bins = np.arange(0, cap + step + 1, step) - 0.5
    names = list(grp)
    rows, cols = _grid(len(names), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False, sharex=True)
    colors = _palette(len(names))
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
    _save(fig, path)


def distinctive_terms(tokens: list[list[str]], grp: dict[str, np.ndarray], top: int = 10,
                      min_count: int = 3) -> dict[str, list[tuple[str, float]]]:
    """Per group, the terms most over-represented against the other rows: weighted log-odds with
    an informative Dirichlet prior (Monroe, Colaresi & Quinn 2008), z-scored so that rare words
    do not win on a single lucky count."""
    from scipy.sparse import csr_matrix

    vocab = {w: i for i, w in enumerate(sorted({w for toks in tokens for w in toks}))}
    if not vocab:
        return {g: [] for g in grp}
    rows, cols = [], []
    for r, toks in enumerate(tokens):
        for w in toks:
            rows.append(r)
            cols.append(vocab[w])
    m = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(tokens), len(vocab)))
    total = np.asarray(m.sum(0)).ravel()
    alpha = total  # prior = the corpus's own word counts
    a0 = alpha.sum()
    inv = np.array(sorted(vocab, key=vocab.get))
    out = {}
    for g, mask in grp.items():
        yi = np.asarray(m[mask].sum(0)).ravel()
        yj = total - yi
        ni, nj = yi.sum(), yj.sum()
        if ni == 0 or nj == 0:
            out[g] = [(w, float(c)) for w, c in Counter(dict(zip(inv, yi))).most_common(top) if c]
            continue
        d = (np.log((yi + alpha) / (ni + a0 - yi - alpha)) - np.log((yj + alpha) / (nj + a0 - yj - alpha)))
        z = d / np.sqrt(1.0 / (yi + alpha) + 1.0 / (yj + alpha))
        z[yi < min_count] = -np.inf
        order = np.argsort(-z)[:top]
        out[g] = [(str(inv[k]), float(z[k])) for k in order if np.isfinite(z[k]) and z[k] > 0]
    return out


def plot_top_terms(terms: dict[str, list[tuple[str, float]]], path: Path) -> None:
    plt = _plt()
    names = list(terms)
    rows, cols = _grid(len(names), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False)
    colors = _palette(len(names))
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
    _save(fig, path)


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

    plt = _plt()
    names = list(grp)
    weights = _cloud_weights(tokens, grp)
    rows, cols = _grid(len(names), 4)
    height = 2.7 * rows + 0.5
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, height), squeeze=False,
                             gridspec_kw={"hspace": 0.25, "wspace": 0.06})
    fig.subplots_adjust(top=1 - 0.75 / height, bottom=0.1 / height, left=0.02, right=0.98)
    colors = _palette(len(names))
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
    _save(fig, path)


def _sample_index(ds: EmotionDataset, max_points: int, seed: int) -> np.ndarray:
    n = len(ds)
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def tsne_map(emb: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """2-D t-SNE coordinates of the embeddings and the perplexity used."""
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(emb) - 1) / 3)))
    if emb.shape[0] > 60 and emb.shape[1] > 50:
        from sklearn.decomposition import PCA

        # 50 PCA dimensions first, as usual for t-SNE: the neighbour search gets much cheaper and
        # the map looks the same.
        emb = PCA(n_components=50, random_state=seed).fit_transform(emb)
    xy = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed, learning_rate="auto",
              max_iter=_TSNE_ITER).fit_transform(emb)
    return xy, perplexity


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
    plt = _plt()
    title = f"t-SNE of sentence embeddings ({len(ds):,} texts, perplexity {perplexity:.0f})"
    names = list(ds.label_set.names)
    if ds.task == Task.REGRESSION:
        y = ds.y()
        rows, cols = _grid(len(names), 3)
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
        _save(fig, path)
        return "regression"
    labels = ds.frame["labels"].tolist()
    if ds.task == Task.SINGLE and len(names) <= 20:
        cls = np.array([labs[0] for labs in labels])
        colors = _palette(len(names))
        fig, ax = plt.subplots(figsize=(8.5, 6.5))
        for k, name in enumerate(names):
            m = cls == name
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=9, alpha=0.75, linewidths=0, color=colors[k],
                           label=f"{name} ({m.sum():,})")
        ax.legend(frameon=False, markerscale=2.5, bbox_to_anchor=(1.01, 1), loc="upper left")
        _bare(ax)
        ax.set_title(title)
        _save(fig, path)
        return "single"
    present = [n for n in names if any(n in labs for labs in labels)]
    rows, cols = _grid(len(present), 4)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.0 * rows), squeeze=False)
    colors = _palette(len(present))
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
    _save(fig, path)
    return "panels"


def centroid_similarity(ds: EmotionDataset, emb: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Cosine similarity between class centroids of embeddings centred on the sample mean.

    Without centring every pair scores 0.8-0.95 (sentence embeddings share a large common
    direction); centred, the matrix shows which classes the encoder confuses."""
    centred = emb - emb.mean(0, keepdims=True)
    grp = groups(ds)
    names, cents = [], []
    for name, mask in grp.items():
        if mask.sum():
            names.append(name)
            cents.append(centred[mask].mean(0))
    c = np.asarray(cents)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return names, c @ c.T


def plot_centroid_similarity(names: list[str], sim: np.ndarray, path: Path) -> None:
    plt = _plt()
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
    _save(fig, path)


# -- the report -------------------------------------------------------------------------------------
@dataclass
class Figure:
    key: str
    title: str
    caption: str

    @property
    def file(self) -> str:
        return FIGURES[self.key]


@dataclass
class EdaResult:
    out_dir: Path
    figures: list[Figure] = field(default_factory=list)
    statistics: dict = field(default_factory=dict)
    seconds: float = 0.0


def _check_out_dir(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"Output path {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not overwrite:
            raise DataError(f"Output directory {out_dir} already exists and is not empty",
                            hint="Pass --overwrite (overwrite=True) to replace the report, or choose another --out.")
        for name in OUTPUT_FILES:  # only what an earlier report wrote: other files are the user's
            (out_dir / name).unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)


def build_eda_report(ds: EmotionDataset, out_dir, *, embed_model: str = "minilm", max_points: int = 3000,
                     seed: int = 0, overwrite: bool = False, progress: bool = True, log=None) -> Path:
    """Write ``index.html`` + PNG figures + ``eda.json`` describing ``ds`` into ``out_dir``.

    ``log`` (a callable taking a string) hears about each step. Returns the path of index.html.
    """
    t0 = time.perf_counter()
    say = log or (lambda msg: None)
    out_dir = Path(out_dir)
    if len(ds) == 0:
        raise DataError(f"Dataset '{ds.name}' has no rows to analyse")
    if max_points < 2:
        raise DataError(f"max_points must be at least 2 (got {max_points})")
    _check_out_dir(out_dir, overwrite)
    figs: list[Figure] = []
    terms: dict[str, list[tuple[str, float]]] = {}
    is_reg = ds.task == Task.REGRESSION
    group_word = "target quartile" if is_reg else "class"

    say("tokenising and counting")
    tokens = tokenize(ds.texts)
    stats = statistics(ds, tokens)
    grp = groups(ds)

    say("plotting distributions")
    if is_reg:
        plot_target_histograms(ds, out_dir / FIGURES["target_histograms"])
        figs.append(Figure("target_histograms", "Target distributions",
                           "Density of each target per split: a shift between splits changes what the test set "
                           "measures."))
        if len(ds.label_set) > 1:
            plot_target_correlation(ds, out_dir / FIGURES["target_correlation"])
            figs.append(Figure("target_correlation", "Correlation between targets",
                               "Pearson correlation of the targets over all rows."))
    else:
        plot_class_distribution(ds, out_dir / FIGURES["class_distribution"])
        figs.append(Figure("class_distribution", "Label distribution",
                           "Share of rows carrying each label, per split (multi-label rows count once per label)."))
        if ds.task == Task.MULTI:
            plot_labels_per_text(ds, out_dir / FIGURES["labels_per_text"])
            figs.append(Figure("labels_per_text", "Labels per text", "How many labels each text carries."))
            plot_label_cooccurrence(ds, out_dir / FIGURES["label_cooccurrence"])
            figs.append(Figure("label_cooccurrence", "Label co-occurrence",
                               "Cell (row, column): the share of texts with the row label that also carry the column "
                               "label. Row labels show how many texts carry them."))

    if grp:
        plot_text_length(ds, grp, out_dir / FIGURES["text_length"])
        figs.append(Figure("text_length", f"Text length per {group_word}",
                           "Histogram of words per text; the dashed line is the median."))
        say("finding distinctive terms")
        # a lemma must occur 3 times to rank; tiny datasets (tests, a first look at a file) take any
        terms = distinctive_terms(tokens, grp, min_count=3 if len(tokens) >= 200 else 1)
        plot_top_terms(terms, out_dir / FIGURES["top_terms"])
        figs.append(Figure("top_terms", f"Distinctive terms per {group_word}",
                           "Lemmas most over-represented in the group compared with all other rows (weighted log-odds "
                           "with an informative Dirichlet prior, z-scored; at least 3 occurrences in datasets of 200+ "
                           "rows). Stop words are scikit-learn's English list; lemmas come from a rule-based "
                           "lemmatiser that only accepts lemmas that occur in the corpus."))
        say("drawing word clouds")
        plot_wordclouds(tokens, grp, out_dir / FIGURES["wordclouds"], seed=seed)
        figs.append(Figure("wordclouds", f"Word clouds per {group_word}",
                           "Up to 60 lemmas per group that are more common in the group than in all rows (at least 3 "
                           "occurrences), sized by count x log(lift), lift being the lemma's share in the group over "
                           "its share in all rows. Plain frequency would draw the same words (\"feel\", \"say\", "
                           "\"time\") in every cloud. Stop words removed."))

    idx = _sample_index(ds, max_points, seed)
    if len(idx) >= 5:
        from emotune.models.embeddings import encode

        say(f"embedding {len(idx):,} texts with {embed_model}")
        sub = ds.subset(idx.tolist())
        emb = encode(sub.texts, model=embed_model, progress=progress, cache=True)
        say("running t-SNE")
        xy, perplexity = tsne_map(emb, seed)
        layout = plot_tsne(sub, xy, out_dir / FIGURES["tsne"], perplexity)
        sampled = (f"a random sample of {len(idx):,} of {len(ds):,} texts" if len(idx) < len(ds)
                   else f"all {len(ds):,} texts")
        colour = {"regression": "coloured by each target",
                  "single": "coloured by label",
                  "panels": "one panel per label, its texts in colour over all others in grey"}[layout]
        figs.append(Figure("tsne", "Sentence embeddings (t-SNE)",
                           f"Mean-pooled {embed_model} embeddings of {sampled}, {colour}. Groups that overlap are "
                           "texts the encoder does not separate; distances between distant clusters mean little."))
        names, sim = centroid_similarity(sub, emb)
        if len(names) >= 2:
            plot_centroid_similarity(names, sim, out_dir / FIGURES["centroid_similarity"])
            figs.append(Figure("centroid_similarity", f"Centroid similarity per {group_word}",
                               "Cosine similarity between the mean embeddings of each group, after subtracting the "
                               "mean of all sampled embeddings. High off-diagonal values mark groups the encoder finds "
                               "alike (likely confusions)."))

    say("writing the page")
    term_rows = [(g, ", ".join(w for w, _ in t) or "–") for g, t in terms.items()]
    html = _render(ds, figs, stats, term_rows, embed_model=embed_model, seconds=time.perf_counter() - t0)
    (out_dir / "index.html").write_text(html, encoding="utf-8")
    (out_dir / "eda.json").write_text(json.dumps({
        "dataset": ds.name, "task": ds.task.value, "labels": list(ds.label_set.names),
        "statistics": {sec: dict(rows) for sec, rows in stats.items()},
        "distinctive_lemmas": {g: [w for w, _ in t] for g, t in terms.items()},
        "figures": [f.file for f in figs], "embed_model": embed_model, "max_points": max_points, "seed": seed,
    }, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out_dir / "index.html"


def _render(ds: EmotionDataset, figs: list[Figure], stats: dict, term_rows: list[tuple[str, str]], *,
            embed_model: str, seconds: float) -> str:
    import jinja2

    from emotune import __version__

    env = jinja2.Environment(loader=jinja2.PackageLoader("emotune.reports", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    info = {k: v for k, v in (ds.info or {}).items() if isinstance(v, (str, int, float)) and len(str(v)) < 300}
    return env.get_template("eda.html.j2").render(
        name=ds.name, task=ds.task.value, rows=len(ds), figures=figs, stats=stats, terms=term_rows, info=info,
        embed_model=embed_model, version=__version__, generated=time.strftime("%Y-%m-%d %H:%M"),
        seconds=f"{seconds:.0f}")
