"""Faithfulness, measured: delete a text's top-k attributed words and see how far the explained
label's output falls, against deleting k random words (pure functions: the benchmark and the tests
call them).

``deletion_curve`` gives, for k = 1..K, the mean drop ``output(text) - output(text without the k
words)`` over the texts (texts with fewer than k words lose all of them); ``aopc`` is the Area Over
the Perturbation Curve, the mean of those drops over k = 1..K (Samek et al. 2017, without the
k = 0 point, which is always 0). A faithful method's curve lies above the random one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emotune.explain.words import Word, without_words


def top_words(explanation, k: int) -> list[int]:
    """Indices of the ``k`` words scored highest toward the label (ties: earlier word first)."""
    scores = np.asarray([w["score"] for w in explanation.words], dtype=float)
    return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]


def random_words(explanation, k: int, rng: np.random.Generator) -> list[int]:
    n = len(explanation.words)
    return [int(i) for i in rng.permutation(n)[:k]]


def _words(explanation) -> list[Word]:
    return [Word(w["word"], w["start"], w["end"]) for w in explanation.words]


def deletion_curve(clf, explanations: Sequence, k_max: int = 5, *, order: str = "top", seed: int = 0,
                   batch_size: int | None = None) -> list[float]:
    """Mean drop of each explained label's output after deleting k = 1..k_max words.

    ``order``: ``"top"`` (the explanation's highest-scored words) or ``"random"`` (a seeded random
    permutation of the words, the same for every k, so the k words grow by one each step).
    """
    if order not in ("top", "random"):
        raise ValueError(f"order must be 'top' or 'random', not {order!r}")
    rng = np.random.default_rng(seed)
    names = list(clf.label_set.names)
    variants, plan = [], []
    for e in explanations:
        ranked = top_words(e, len(e.words)) if order == "top" else random_words(e, len(e.words), rng)
        ws = _words(e)
        plan.append((len(variants), names.index(e.label)))
        variants.append(e.text)
        variants += [without_words(e.text, ws, ranked[:k]) for k in range(1, k_max + 1)]
    probs = np.asarray(clf.predict_proba(variants, batch_size=batch_size), dtype=float)
    drops = np.asarray([[probs[first, j] - probs[first + k, j] for k in range(1, k_max + 1)] for first, j in plan])
    return [float(x) for x in drops.mean(axis=0)] if len(plan) else [0.0] * k_max


def aopc(curve: Sequence[float]) -> float:
    return float(np.mean(curve)) if len(curve) else 0.0
