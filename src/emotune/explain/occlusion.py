"""Occlusion: remove one word at a time and see how the explained output moves (any backend).

A word's score is ``output(text) - output(text without the word)``: positive when the word pushes
toward the label. Every variant of a batch of texts goes through the model's own
``predict_proba`` in one call (batched by the backend), so this works for every backend, ONNX
included, at the cost of one extra input per word. Words past what a transformer reads
(``max_length`` tokens) cannot move its output and get 0 without being scored.
"""

from __future__ import annotations

import numpy as np

from emotune.explain.words import Word, without_words


def readable_chars(clf, text: str, prefix: str = "") -> int | None:
    """How many characters of ``text`` the model reads (None: all of them, or unknown)."""
    tok, limit = getattr(clf, "tokenizer", None), getattr(clf, "max_length", None)
    if tok is None or not limit or not getattr(tok, "is_fast", False):
        return None
    enc = tok(prefix + text, truncation=True, max_length=int(limit), return_offsets_mapping=True)
    ends = [e for s, e in enc["offset_mapping"] if e > s]
    if not ends or len(enc["input_ids"]) < int(limit):
        return None
    return max(ends) - len(prefix)


def occlusion_scores(clf, texts: list[str], words: list[list[Word]], columns: list[int], *,
                     prefix: str = "", batch_size: int | None = None, **_) -> list[np.ndarray]:
    variants: list[str] = []
    plan: list[tuple[int, list[int]]] = []  # per text: (index of the full text, the words scored)
    for text, ws in zip(texts, words):
        limit = readable_chars(clf, text, prefix)
        scored = [i for i, w in enumerate(ws) if limit is None or w.start < limit]
        plan.append((len(variants), scored))
        variants.append(prefix + text)
        variants += [prefix + without_words(text, ws, [i]) for i in scored]
    probs = np.asarray(clf.predict_proba(variants, batch_size=batch_size), dtype=float) if variants else None
    out = []
    for (first, scored), ws, col in zip(plan, words, columns):
        scores = np.zeros(len(ws))
        base = probs[first, col]
        for k, i in enumerate(scored, 1):
            scores[i] = base - probs[first + k, col]
        out.append(scores)
    return out
