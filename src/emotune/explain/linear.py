"""Exact word contributions of the linear models (TF-IDF + linear model, the NRC lexicon).

**TF-IDF.** The model's score for a label is ``b + sum_f w_f * x_f`` over its features (word and
``char_wb`` n-grams, ``x`` the L2-normalised TF-IDF vector of the text). Each feature's term
``w_f * x_f`` is split equally among its occurrences in the text, and each occurrence equally
among the words it covers: a word n-gram covers the words of its tokens, a character n-gram the
words sharing a character with it (an n-gram of punctuation only, "!!", goes to the words of its
whitespace token; one in a token without words goes to none). So the word scores add up exactly to
the score minus the intercept (less that last, unattributed part). The score is: single-label, the
label's logit minus the mean logit (softmax ignores a common shift), or the log-odds against the
other label when there are two; multi-label, the label's log-odds; regression, the predicted value.
Removing a word also changes the normalisation of the others; the decomposition is of the score as
it is, not of a deletion (that is what occlusion measures).

**Lexicon.** A text's evidence for a label is a sum over its tokens (lexicon emotions x mapping
weights, tokens after a negator skipped, as the model does) plus ``NAME_WEIGHT`` per match of the
label's own name. A word's contribution is its part of that sum. Single-label probabilities are
evidence / total evidence, so a word's score is its first-order effect on the label's probability,
``(c_label - p_label * c_total) / total``: a word that only feeds other labels pushes away.
Multi-label probabilities grow with the label's own evidence only: the score is that evidence.
"""

from __future__ import annotations

import re

import numpy as np

from emotune.data.labels import Task
from emotune.explain.words import Word, span_owner, words_of


def supports(clf) -> bool:
    return getattr(clf, "backend", None) in ("tfidf", "lexicon")


def linear_scores(clf, texts: list[str], words: list[list[Word]], columns: list[int], *,
                  prefix: str = "", **_) -> list[np.ndarray]:
    fn = tfidf_contributions if clf.backend == "tfidf" else lexicon_contributions
    return [fn(clf, text, ws, col, prefix=prefix)[0] for text, ws, col in zip(texts, words, columns)]


def _lowered(text: str) -> tuple[str, list[int]]:
    """``text.lower()`` and, per character of it, the position in ``text`` it came from."""
    parts, index = [], []
    for i, c in enumerate(text):
        low = c.lower()
        parts.append(low)
        index.extend([i] * len(low))
    return "".join(parts), index


class _Owners:
    """Which words of ``text`` (after a model prefix of ``offset`` characters) a span of the model input covers."""

    def __init__(self, full: str, words: list[Word], offset: int):
        self.lowered, self.index = _lowered(full)
        owner = span_owner(words, len(full) - offset)
        self.owner = [-1] * offset + owner

    def words(self, start: int, end: int) -> list[int]:
        """Spans are in lowered coordinates."""
        if end <= start:
            return []
        a, b = self.index[start], self.index[end - 1] + 1
        return sorted({self.owner[p] for p in range(a, b) if self.owner[p] >= 0})


# -- TF-IDF -----------------------------------------------------------------------------------------
def _word_ngram_occurrences(vec, owners: _Owners):
    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(vec.token_pattern, owners.lowered)]
    lo, hi = vec.ngram_range
    for n in range(lo, hi + 1):
        for i in range(len(tokens) - n + 1):
            gram = tokens[i:i + n]
            covered = sorted({w for s, e, _ in gram for w in owners.words(s, e)})
            yield " ".join(t for _, _, t in gram), covered


def _char_wb_occurrences(vec, owners: _Owners):
    lo, hi = vec.ngram_range
    for m in re.finditer(r"\S+", owners.lowered):  # sklearn splits on whitespace and pads with spaces
        s, tok = m.start(), m.group()
        padded = " " + tok + " "
        token_words = owners.words(s, m.end())
        for n in range(lo, hi + 1):
            offset = 0
            while True:
                a, b = max(offset, 1), min(offset + n, len(tok) + 1)  # padded -> token positions
                covered = owners.words(s + a - 1, s + b - 1) if b > a else []
                yield padded[offset:offset + n], covered or token_words
                if offset + n >= len(padded):
                    break
                offset += 1
            if offset == 0:  # sklearn counts a short word (shorter than n) once
                break


def _tfidf_weights(clf, column: int) -> tuple[np.ndarray, float]:
    """(per-feature weight, intercept) of the explained score for ``column``."""
    n_features = sum(len(v.vocabulary_) for _, v in clf.features.transformer_list)
    task = clf.task
    if task == Task.MULTI:
        est = clf.estimators[column]
        if est is None:
            return np.zeros(n_features), float(clf.constant_proba[column])
        return np.asarray(est.coef_[0], dtype=float), float(np.ravel(est.intercept_)[0])
    est = clf.estimators[0]
    coef, bias = np.atleast_2d(est.coef_), np.atleast_1d(est.intercept_)
    if task == Task.REGRESSION:
        return coef[column].astype(float), float(bias[column])
    classes = [int(c) for c in est.classes_]
    if column not in classes:  # a label never seen in training has no score of its own
        return np.zeros(n_features), 0.0
    if coef.shape[0] == 1:  # two classes: one weight vector for the second, the log-odds
        sign = 1.0 if classes.index(column) == 1 else -1.0
        return sign * coef[0].astype(float), sign * float(bias[0])
    row = classes.index(column)
    return (coef[row] - coef.mean(axis=0)).astype(float), float(bias[row] - bias.mean())


def tfidf_contributions(clf, text: str, words: list[Word], column: int, *, prefix: str = ""):
    """(word scores, unattributed part, intercept): the three add up to the explained score."""
    full = prefix + text
    owners = _Owners(full, words, len(prefix))
    weights, bias = _tfidf_weights(clf, column)
    scores, rest, start = np.zeros(len(words)), 0.0, 0
    for _, vec in clf.features.transformer_list:
        size = len(vec.vocabulary_)
        x = vec.transform([full]).toarray()[0]
        occurrences = _char_wb_occurrences(vec, owners) if vec.analyzer == "char_wb" \
            else _word_ngram_occurrences(vec, owners)
        found: dict[int, list[list[int]]] = {}
        for gram, covered in occurrences:
            f = vec.vocabulary_.get(gram)
            if f is not None:
                found.setdefault(f, []).append(covered)
        for f, occ in found.items():
            term = weights[start + f] * x[f] / len(occ)
            for covered in occ:
                if covered:
                    scores[covered] += term / len(covered)
                else:
                    rest += term
        start += size
    return scores, rest, bias


# -- lexicon ----------------------------------------------------------------------------------------
def lexicon_evidence(clf, text: str, words: list[Word], *, prefix: str = "") -> np.ndarray:
    """(n_words, n_labels): each word's part of the text's label evidence (the model's own rules)."""
    from emotune.models.lexicon import _NEGATORS, _TOKEN, CATEGORIES, NAME_WEIGHT, _key, _lookup, LABEL_MAP, \
        name_pattern, nrc_lexicon

    full = prefix + text
    owners = _Owners(full, words, len(prefix))
    lexicon, col = nrc_lexicon(), {c: j for j, c in enumerate(CATEGORIES)}
    evidence = np.zeros((len(words), len(clf.label_set)))

    def add(covered: list[int], row: np.ndarray) -> None:
        for w in covered:
            evidence[w] += row / len(covered)

    negated_until = -1
    for pos, m in enumerate(_TOKEN.finditer(owners.lowered)):
        tok = m.group()
        if tok in _NEGATORS:
            negated_until = pos + 3
            continue
        if pos <= negated_until:
            continue
        cats = [a for a in _lookup(tok, lexicon) if a in col]
        if cats:
            add(owners.words(m.start(), m.end()), sum(clf.weights[col[a]] for a in cats))
    for j, name in enumerate(clf.label_set.names):
        if LABEL_MAP.get(_key(name)) == {"none": 1}:
            continue
        unit = np.zeros(len(clf.label_set))
        unit[j] = NAME_WEIGHT
        for m in name_pattern(name).finditer(owners.lowered):
            add(owners.words(m.start(), m.end()), unit)
    return evidence


def lexicon_contributions(clf, text: str, words: list[Word], column: int, *, prefix: str = ""):
    from emotune.models.lexicon import NAME_WEIGHT, SMOOTHING, category_counts, name_counts

    evidence = lexicon_evidence(clf, text, words, prefix=prefix)
    if clf.task != Task.SINGLE:
        return evidence[:, column], 0.0, 0.0
    full = [prefix + text]
    raw = (category_counts(full) @ clf.weights + NAME_WEIGHT * name_counts(full, clf.label_set))[0] \
        + SMOOTHING * clf.prior
    total = raw.sum()
    p = raw[column] / total
    return (evidence[:, column] - p * evidence.sum(axis=1)) / total, 0.0, 0.0


__all__ = ["linear_scores", "supports", "tfidf_contributions", "lexicon_evidence", "words_of"]
