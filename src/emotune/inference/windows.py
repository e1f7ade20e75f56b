"""Long texts: overlapping windows instead of silent truncation.

A transformer backend truncates at ``max_length`` tokens, so a long letter would be judged by its
first paragraph only. Here every text longer than the model's budget is cut into overlapping
windows, each window is scored, and the window scores are aggregated back into one row:

- single-label: the **mean** of the window probabilities (still a distribution that sums to 1;
  every part of the text gets an equal vote);
- multi-label: the per-label **max** (an emotion expressed anywhere in the text is present in the
  text; averaging would dilute a short angry paragraph in a long calm letter);
- regression: the mean.

Windows are token windows when the classifier exposes a fast tokenizer (``clf.tokenizer`` and
``clf.max_length``), word windows when it only declares ``clf.max_length``. Backends without a
length limit (TF-IDF, lexicon) see the whole text, so nothing is cut and nothing is windowed.
Runs trained on dialogue context (their input spec says so, :mod:`emotune.models.inputs`) read
the end of their input (the target turn) and truncate the history from the left, as in training;
they are not windowed either.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from emotune.data.labels import Task

#: fraction of a window repeated at the start of the next one
OVERLAP = 0.25
#: tokens kept free below the model's limit: re-tokenising a window cut out of a longer text can
#: differ by a token or two at its edges (a word piece becomes a word start)
TOKEN_MARGIN = 4
#: words per token budget for backends that only declare ``max_length`` (English ~1.3 tokens a word)
WORDS_PER_TOKEN = 0.75

_WORD = re.compile(r"\S+")


@dataclass
class Windowed:
    """Texts expanded into windows: ``windows[owner == i]`` belong to input text ``i``."""

    windows: list[str]
    owner: np.ndarray  # (n_windows,) index of the input text each window comes from
    counts: np.ndarray  # (n_texts,) windows per text (1 for texts that fit)


def _spans(n_units: int, size: int) -> list[tuple[int, int]]:
    """[start, end) unit ranges of at most ``size`` that cover ``n_units`` and overlap by OVERLAP."""
    if n_units <= size:
        return [(0, n_units)]
    step = max(1, size - int(size * OVERLAP))
    spans, start = [], 0
    while True:
        end = min(start + size, n_units)
        spans.append((start, end))
        if end == n_units:
            return spans
        start += step


def word_windows(text: str, max_words: int) -> list[str]:
    words = list(_WORD.finditer(text))
    if len(words) <= max_words:
        return [text]
    return [text[words[s].start():words[e - 1].end()] for s, e in _spans(len(words), max_words)]


def token_windows(text: str, tokenizer, budget: int, encoding=None) -> list[str]:
    """Windows of at most ``budget`` tokens, cut at word starts, as substrings of ``text``."""
    enc = encoding if encoding is not None else tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                                                          verbose=False)
    offsets = enc["offset_mapping"]
    if len(offsets) <= budget:
        return [text]
    word_ids = enc.word_ids() if hasattr(enc, "word_ids") else None
    out = []
    for s, e in _spans(len(offsets), budget):
        # Start on the first piece of a word: "##ing" alone would be re-tokenised as another word.
        if word_ids is not None and s > 0:
            while s < e - 1 and word_ids[s] is not None and word_ids[s] == word_ids[s - 1]:
                s += 1
        out.append(text[offsets[s][0]:offsets[e - 1][1]])
    return out


def windower_for(clf) -> Callable[[Sequence[str]], list[list[str]]] | None:
    """A function texts -> windows per text for ``clf``, or None when the backend has no length limit."""
    max_length = clf.max_length
    if not max_length:
        return None
    if clf.input_spec.context is not None:
        # trained on dialogue context (previous turns, then the target utterance, truncated from the
        # left): a window of the history alone would be scored as if it were the target turn
        return None
    tokenizer = clf.tokenizer
    if tokenizer is not None and getattr(tokenizer, "is_fast", False):
        budget = max(8, int(max_length) - tokenizer.num_special_tokens_to_add(pair=False) - TOKEN_MARGIN)

        def split_tokens(texts: Sequence[str]) -> list[list[str]]:
            texts = list(texts)
            # Texts far below the budget cannot exceed it (a token covers at least one character).
            long_idx = [i for i, t in enumerate(texts) if len(t) > budget]
            out = [[t] for t in texts]
            if long_idx:
                # verbose=False: the "longer than the maximum" warning is exactly what windows fix
                batch = tokenizer([texts[i] for i in long_idx], add_special_tokens=False,
                                  return_offsets_mapping=True, verbose=False)
                encodings = getattr(batch, "encodings", None)
                for j, i in enumerate(long_idx):
                    if len(batch["input_ids"][j]) > budget:
                        # the fast tokenizer's Encoding has offsets + word ids: no second pass
                        enc = _EncodingView(encodings[j]) if encodings else None
                        out[i] = token_windows(texts[i], tokenizer, budget, encoding=enc)
            return out

        return split_tokens
    max_words = max(8, int(int(max_length) * WORDS_PER_TOKEN))
    return lambda texts: [word_windows(t, max_words) for t in texts]


class _EncodingView:
    """Dict-style access to a ``tokenizers.Encoding`` (what ``token_windows`` reads)."""

    def __init__(self, enc):
        self._enc = enc

    def __getitem__(self, key):
        if key == "offset_mapping":
            return self._enc.offsets
        raise KeyError(key)

    def word_ids(self):
        return self._enc.word_ids


def expand(clf, texts: Sequence[str]) -> Windowed:
    texts = [str(t) for t in texts]
    split = windower_for(clf)
    per_text = split(texts) if split is not None else [[t] for t in texts]
    counts = np.array([len(w) for w in per_text], dtype=np.int64)
    owner = np.repeat(np.arange(len(texts)), counts)
    return Windowed([w for ws in per_text for w in ws], owner, counts)


def aggregate(task: Task, scores: np.ndarray, owner: np.ndarray, n_texts: int) -> np.ndarray:
    """Window score rows -> one row per text (mean; max for multi-label, see the module docstring)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(owner) == n_texts:  # nothing was split (the common case)
        return scores
    out = np.zeros((n_texts, scores.shape[1]))
    if task == Task.MULTI:
        out[:] = -np.inf
        np.maximum.at(out, owner, scores)
    else:
        np.add.at(out, owner, scores)
        out /= np.bincount(owner, minlength=n_texts)[:, None]
    return out


def predict_proba_long(clf, texts: Sequence[str], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``clf.predict_proba`` for texts of any length: (scores (n, k), windows per text (n,))."""
    w = expand(clf, texts)
    n_labels = len(clf.label_set)
    if not w.windows:
        return np.zeros((0, n_labels)), w.counts
    scores = clf.predict_proba(w.windows, batch_size=batch_size)
    return aggregate(clf.task, scores, w.owner, len(w.counts)), w.counts
