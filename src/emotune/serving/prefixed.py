"""Serving runs trained with ``data.text_prefix_col``: one model, several targets told apart in the input.

SemEval-2018 EI-reg's suite trains one model for four emotions on texts ``"anger: <tweet>"``,
``"fear: <tweet>"`` ... A raw tweet is not an input that model ever saw, so ``predict``, ``annotate``
and ``serve`` ask it once per prefix value instead:

- a regression run becomes a multi-output one, one target per value (``anger``, ``fear``, ``joy``,
  ``sadness`` intensities for a text);
- ``RUN#anger`` (annotate) asks for one value only, which is also the way to use a classification
  run trained with a prefix (EI-oc's ordinal classes).

The values are the ones the run was trained on: ``data.json``'s ``text_prefix`` (written by the
trainer), or, for runs trained before it was recorded, the prefixes of the stored test texts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError
from emotune.models.base import EmotionClassifier


@dataclass(frozen=True)
class TextPrefix:
    column: str
    values: tuple[str, ...]


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def run_text_prefix(run: str | Path) -> TextPrefix | None:
    """The run's prefix column and values, or None for a run trained on plain texts."""
    from emotune.serving.registry import run_root

    try:
        root = run_root(run)
    except Exception:  # noqa: BLE001 - an ONNX-only or unusual layout: plain texts
        return None
    cfg_path = root / "config.yaml"
    if not cfg_path.is_file():
        return None
    from emotune.config import RunConfig

    try:
        cfg = RunConfig.load(cfg_path)
    except Exception:  # noqa: BLE001 - an unreadable config only loses the prefix option
        return None
    column = cfg.data.text_prefix_col
    if not column or cfg.model.backend == "instruct":  # instruct runs pick their task themselves
        return None
    info = (_read_json(root / "data.json") or {}).get("text_prefix") or {}
    values = [str(v) for v in info.get("values") or []]
    if not values:  # runs trained before data.json recorded the values
        texts = _read_json(root / "predictions" / "test_texts.json") or []
        pattern = re.compile(r"^([^:\n]{1,40}): ")
        values = sorted({m.group(1) for t in texts if isinstance(t, str) and (m := pattern.match(t))})
    if not values:
        raise ConfigError(f"{root}: trained with data.text_prefix_col={column}, but its prefix values are unknown",
                          hint="Retrain the run (data.json then records them) or annotate with RUN#VALUE.")
    return TextPrefix(column, tuple(values))


class PrefixedClassifier:
    """A trained classifier asked once per prefix value (all of them, or ``only`` one)."""

    def __init__(self, clf, prefix: TextPrefix, only: str | None = None):
        if only is not None and only not in prefix.values:
            raise ConfigError(f"'{only}' is not one of the {prefix.column} values this run was trained on",
                              hint=f"Values: {', '.join(prefix.values)}")
        base = clf.label_set
        if only is None and base.task != Task.REGRESSION:
            raise ConfigError(f"This {base.task.value} run was trained on '<{prefix.column}>: <text>' inputs: "
                              f"pick one {prefix.column} with RUN#VALUE",
                              hint=f"Values: {', '.join(prefix.values)}")
        if only is None and len(base) != 1:
            raise ConfigError("A prefixed regression run with several targets needs RUN#VALUE",
                              hint=f"Values: {', '.join(prefix.values)}")
        self.clf = clf
        self.prefix = prefix
        self.values = (only,) if only is not None else prefix.values
        self.only = only
        self.thresholds = getattr(clf, "thresholds", None)
        self.label_set = base if only is not None else _by_prefix(base, prefix)

    def __getattr__(self, name):  # anything else (batch sizes, tokenizer limits ...) is the wrapped model's
        if name == "clf":
            raise AttributeError(name)
        return getattr(self.clf, name)

    def _texts(self, value: str, texts) -> list[str]:
        return [f"{value}: {t}" for t in texts]

    def predict_proba(self, texts, batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        if self.only is not None:
            return np.asarray(self.clf.predict_proba(self._texts(self.only, texts), batch_size=batch_size))
        cols = [np.asarray(self.clf.predict_proba(self._texts(v, texts), batch_size=batch_size),
                           dtype=float).reshape(len(texts)) for v in self.values]
        return np.stack(cols, axis=1) if texts else np.zeros((0, len(self.values)))

    @property
    def task(self) -> Task:
        return self.label_set.task

    # the protocol's shared behaviour, on this label set
    predict = EmotionClassifier.predict
    decide = EmotionClassifier.decide
    predict_top_k = EmotionClassifier.predict_top_k


def wrap_prefixed(clf, run: str | Path, only: str | None = None):
    """``clf`` as its run should be served: unchanged for plain-text runs."""
    prefix = run_text_prefix(run)
    if prefix is None:
        if only is not None:
            raise ConfigError(f"'{run}#{only}': this run was trained on plain texts (no data.text_prefix_col)")
        return clf
    return PrefixedClassifier(clf, prefix, only)


def served_label_set(label_set: LabelSet, run: str | Path) -> LabelSet:
    """The label set a run answers with once served (read from its files, without loading weights)."""
    prefix = run_text_prefix(run)
    if prefix is None or label_set.task != Task.REGRESSION or len(label_set) != 1:
        return label_set
    return _by_prefix(label_set, prefix)


def _by_prefix(label_set: LabelSet, prefix: TextPrefix) -> LabelSet:
    return LabelSet(prefix.values, Task.REGRESSION, name=f"{label_set.name or 'target'} by {prefix.column}")
