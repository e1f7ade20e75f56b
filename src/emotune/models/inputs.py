"""A model's input spec: what has to be done to a raw text before the model sees it.

Saved with the model (``emotune_model.json`` key ``"input"``), so predict, annotate, serve and
evaluate ask the model instead of re-reading the run's config or probing its tokenizer:

- ``text_prefix``: the model was trained on ``"<value>: <text>"`` (``data.text_prefix_col``, e.g. one
  EI-reg model for four emotions). A raw text is not an input it ever saw, so :meth:`view` asks it
  once per value: a one-target regression run answers one target per value (``anger``, ``fear``
  ... intensities); ``RUN#anger`` asks for one value only (also the way to use a prefixed
  classification run, EI-oc's ordinal classes).
- ``context``: the model was trained on dialogue turns with their preceding turns
  (``data.context``): files with ``dialogue_id``/``turn``/``speaker`` get the same layout, and the
  input is never cut into windows (the model truncates the history from the left, as in training).

Backends that read the prefix themselves (instruct picks its task from ``"anger: <tweet>"``)
declare ``reads_text_prefix`` and get no ``text_prefix`` here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from emotune.config import ContextConfig, DataConfig
from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError
from emotune.metrics import decide_names, top_k_pairs


class TextPrefix(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    values: tuple[str, ...]

    def label_set(self, base: LabelSet) -> LabelSet:
        """A one-target regression run asked once per value: one target per value."""
        return LabelSet(self.values, Task.REGRESSION, name=f"{base.name or 'target'} by {self.column}")


class InputSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    text_prefix: TextPrefix | None = None
    context: ContextConfig | None = None  # only with window > 0

    @classmethod
    def from_data_config(cls, data: DataConfig, prefix_values: Sequence[str] | None, *,
                         reads_text_prefix: bool = False) -> InputSpec:
        """The spec of a model trained on ``data`` (``prefix_values``: the prefix column's values in train)."""
        prefix = None
        if data.text_prefix_col and not reads_text_prefix:
            if not prefix_values:
                raise ConfigError(f"Trained with data.text_prefix_col={data.text_prefix_col}, but its prefix "
                                  "values are unknown",
                                  hint="Retrain the run (data.json then records them) or annotate with RUN#VALUE.")
            prefix = TextPrefix(column=data.text_prefix_col, values=tuple(str(v) for v in prefix_values))
        return cls(text_prefix=prefix, context=data.context if data.context.window > 0 else None)

    def served_label_set(self, base: LabelSet) -> LabelSet:
        """The label set a model with this spec answers raw texts with (known without loading weights)."""
        if self.text_prefix is None or base.task != Task.REGRESSION or len(base) != 1:
            return base
        return self.text_prefix.label_set(base)


class PrefixedClassifier:
    """A classifier trained on ``"<value>: <text>"`` asked once per prefix value (all of them, or ``only`` one).

    Made by ``EmotionClassifier.view``; it answers raw texts with the protocol's predict / decide /
    top-k on its own label set.
    """

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
        self.thresholds = clf.thresholds
        self.label_set = base if only is not None else prefix.label_set(base)
        self.input_spec = clf.input_spec.model_copy(update={"text_prefix": None})  # applied here

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

    def view(self, target: str | None = None, emotion: str | None = None):
        return self.clf.view(target, emotion)

    # The protocol's shared behaviour, on this label set (the same metrics helpers as EmotionClassifier)
    def predict(self, texts, batch_size: int | None = None) -> list:
        return self.decide(self.predict_proba(texts, batch_size=batch_size))

    def decide(self, scores) -> list:
        return decide_names(self.label_set, scores, self.thresholds)

    def predict_top_k(self, texts, k: int | None = None, batch_size: int | None = None):
        return top_k_pairs(self.label_set, self.predict_proba(texts, batch_size=batch_size), k)


def view_for_inputs(clf, target: str | None = None, emotion: str | None = None):
    """``clf`` as it answers raw texts (``RUN#target``): the protocol's default ``view``."""
    prefix = clf.input_spec.text_prefix
    if prefix is None:
        if target or emotion:
            raise ConfigError(f"only instruct runs (tasks) and runs trained with data.text_prefix_col (values, "
                              f"e.g. RUN#anger) take '#'; this {clf.backend} run takes neither")
        return clf
    if emotion:
        raise ConfigError(f"give one {prefix.column} value after '#'", hint=f"Values: {', '.join(prefix.values)}")
    return PrefixedClassifier(clf, prefix, target)
