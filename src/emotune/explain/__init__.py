"""Word-level explanations: which words push a model toward (or away from) a label.

``explain_texts(clf, texts, method="auto", label=None)`` returns one :class:`Explanation` per text:
the explained label (``label``, else the model's top one), the model's probability for it, and a
score for every word of the text (:mod:`emotune.explain.words`). Methods:

- ``linear`` (:mod:`.linear`): exact contributions of TF-IDF and lexicon models;
- ``integrated-gradients`` (:mod:`.gradients`): captum on the input embeddings of torch
  sequence classifiers (encoder, causal-LM), sub-word tokens summed into words;
- ``occlusion`` (:mod:`.occlusion`): one word removed at a time; every backend, ONNX included.

``auto`` picks the first the backend supports, in that order. What is explained is the label's
probability (single- and multi-label) or the predicted value (regression). A run trained on
``"<value>: <text>"`` inputs is explained through its view: the prefix is given to the model but
only the text's words are scored. Texts are cleaned as ``predict`` cleans them, and the offsets
refer to that cleaned text (``Explanation.text``); a long text is explained as the model reads it
in one pass (words past ``max_length`` tokens score 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from emotune.data.cleaning import clean_text
from emotune.errors import ConfigError
from emotune.explain import gradients, linear, occlusion
from emotune.explain.words import Word, words_of

METHODS = ("auto", "linear", "integrated-gradients", "occlusion")
_FUNCTIONS: dict[str, Callable] = {"linear": linear.linear_scores,
                                   "integrated-gradients": gradients.integrated_gradients,
                                   "occlusion": occlusion.occlusion_scores}


class ExplainError(ConfigError):
    """A request the model cannot explain; ``field`` names the option at fault (``label``, ``method``)."""

    def __init__(self, message: str, *, field: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.field = field


@dataclass
class Explanation:
    text: str
    label: str
    probability: float
    method: str
    words: list[dict] = field(default_factory=list)  # {"word", "start", "end", "score"} in text order

    def to_dict(self) -> dict:
        return {"text": self.text, "label": self.label, "probability": self.probability, "method": self.method,
                "words": self.words}


def base_model(clf):
    """(the model itself, the text prefix a view adds or None) of a classifier or its view."""
    from emotune.models.inputs import PrefixedClassifier

    if isinstance(clf, PrefixedClassifier):
        return clf.clf, clf.prefix
    return clf, None


def supported_methods(clf) -> list[str]:
    """The methods the backend supports, the most faithful first (``auto`` takes the first)."""
    model, _ = base_model(clf)
    found = [name for name, mod in (("linear", linear), ("integrated-gradients", gradients)) if mod.supports(model)]
    return found + ["occlusion"]


def resolve_method(clf, method: str = "auto") -> str:
    if method not in METHODS:
        raise ExplainError(f"Unknown method '{method}'", field="method", hint="Methods: " + ", ".join(METHODS))
    supported = supported_methods(clf)
    if method == "auto":
        return supported[0]
    if method not in supported:
        model, _ = base_model(clf)
        raise ExplainError(f"The {getattr(model, 'backend', '?')} model cannot be explained with '{method}'",
                           field="method", hint="It supports: " + ", ".join(supported))
    return method


def check_label(clf, label: str | None) -> None:
    names = list(clf.label_set.names)
    if label is not None and label not in names:
        raise ExplainError(f"'{label}' is not a label of this model", field="label",
                           hint="Labels: " + ", ".join(names))


def _targets(clf, label_index: list[int]) -> list[tuple[str, int]]:
    """Per text: (prefix given to the underlying model, its output column) for the explained label."""
    _, prefix = base_model(clf)
    if prefix is None:
        return [("", j) for j in label_index]
    if clf.only is not None:
        return [(f"{clf.only}: ", j) for j in label_index]
    # a one-target regression run asked once per value: the label is the value, the column 0
    return [(f"{clf.label_set.names[j]}: ", 0) for j in label_index]


def explain_texts(clf, texts: Sequence[str], *, method: str = "auto", label: str | None = None,
                  batch_size: int | None = None, clean: bool = True) -> list[Explanation]:
    """One :class:`Explanation` per text (see the module docstring for what is explained)."""
    method = resolve_method(clf, method)
    check_label(clf, label)
    texts = [clean_text(t) if clean else str(t) for t in texts]
    if not texts:
        return []
    names = list(clf.label_set.names)
    probs = np.asarray(clf.predict_proba(texts, batch_size=batch_size), dtype=float)
    index = [names.index(label)] * len(texts) if label is not None else [int(np.argmax(r)) for r in probs]
    targets = _targets(clf, index)
    model, _ = base_model(clf)
    words = [words_of(t) for t in texts]
    scores: list[np.ndarray | None] = [None] * len(texts)
    for prefix in dict.fromkeys(p for p, _ in targets):
        rows = [i for i, (p, _) in enumerate(targets) if p == prefix]
        found = _FUNCTIONS[method](model, [texts[i] for i in rows], [words[i] for i in rows],
                                   [targets[i][1] for i in rows], prefix=prefix, batch_size=batch_size)
        for i, s in zip(rows, found):
            scores[i] = s
    return [Explanation(text, names[j], round(float(probs[i, j]), 6), method, _word_rows(ws, s))
            for i, (text, j, ws, s) in enumerate(zip(texts, index, words, scores))]


def _word_rows(words: list[Word], scores: np.ndarray) -> list[dict]:
    return [{"word": w.text, "start": w.start, "end": w.end, "score": round(float(s), 6)}
            for w, s in zip(words, scores)]


__all__ = ["Explanation", "ExplainError", "METHODS", "explain_texts", "resolve_method", "supported_methods",
           "check_label", "words_of"]
