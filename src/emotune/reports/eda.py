"""Exploratory data analysis: one HTML page + PNG figures per dataset (``emotune eda NAME``).

Every figure works for the three tasks. Classification groups rows by class (multi-label: a row
counts for each of its labels); regression groups them by target quartile ("valence low" = the
bottom quarter, "valence high" = the top quarter), so the term, word-cloud and length views still
compare something meaningful.

Terms are lemmatised by :class:`SuffixLemmatizer`, a rule-based lemmatiser that accepts a
candidate lemma only if it occurs in the corpus itself. WordNet (nltk) or spaCy would need data
downloads that fail offline, and a plain stemmer produces non-words ("happi") in a report meant for
people. The figures are drawn by :mod:`emotune.reports.eda_figures` in the style of the comparison
report (:mod:`emotune.reports.plots`).
"""

from __future__ import annotations

import json
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


# -- computations behind the figures ---------------------------------------------------------
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
    from emotune.reports import eda_figures as draw  # matplotlib only when a report is drawn

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
        draw.plot_target_histograms(ds, out_dir / FIGURES["target_histograms"])
        figs.append(Figure("target_histograms", "Target distributions",
                           "Density of each target per split: a shift between splits changes what the test set "
                           "measures."))
        if len(ds.label_set) > 1:
            draw.plot_target_correlation(ds, out_dir / FIGURES["target_correlation"])
            figs.append(Figure("target_correlation", "Correlation between targets",
                               "Pearson correlation of the targets over all rows."))
    else:
        draw.plot_class_distribution(ds, out_dir / FIGURES["class_distribution"])
        figs.append(Figure("class_distribution", "Label distribution",
                           "Share of rows carrying each label, per split (multi-label rows count once per label)."))
        if ds.task == Task.MULTI:
            draw.plot_labels_per_text(ds, out_dir / FIGURES["labels_per_text"])
            figs.append(Figure("labels_per_text", "Labels per text", "How many labels each text carries."))
            draw.plot_label_cooccurrence(ds, out_dir / FIGURES["label_cooccurrence"])
            figs.append(Figure("label_cooccurrence", "Label co-occurrence",
                               "Cell (row, column): the share of texts with the row label that also carry the column "
                               "label. Row labels show how many texts carry them."))

    if grp:
        draw.plot_text_length(ds, grp, out_dir / FIGURES["text_length"])
        figs.append(Figure("text_length", f"Text length per {group_word}",
                           "Histogram of words per text; the dashed line is the median."))
        say("finding distinctive terms")
        # a lemma must occur 3 times to rank; tiny datasets (tests, a first look at a file) take any
        terms = distinctive_terms(tokens, grp, min_count=3 if len(tokens) >= 200 else 1)
        draw.plot_top_terms(terms, out_dir / FIGURES["top_terms"])
        figs.append(Figure("top_terms", f"Distinctive terms per {group_word}",
                           "Lemmas most over-represented in the group compared with all other rows (weighted log-odds "
                           "with an informative Dirichlet prior, z-scored; at least 3 occurrences in datasets of 200+ "
                           "rows). Stop words are scikit-learn's English list; lemmas come from a rule-based "
                           "lemmatiser that only accepts lemmas that occur in the corpus."))
        say("drawing word clouds")
        draw.plot_wordclouds(tokens, grp, out_dir / FIGURES["wordclouds"], seed=seed)
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
        layout = draw.plot_tsne(sub, xy, out_dir / FIGURES["tsne"], perplexity)
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
            draw.plot_centroid_similarity(names, sim, out_dir / FIGURES["centroid_similarity"])
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
