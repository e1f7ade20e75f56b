"""Label sets travel with the data and the model, never as parallel lists."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

import numpy as np

from emotune import atomic
from emotune.errors import DataError, did_you_mean


class Task(str, Enum):
    SINGLE = "single_label"
    MULTI = "multi_label"
    REGRESSION = "regression"


@dataclass(frozen=True)
class LabelSet:
    """Ordered label names plus the task they belong to.

    For regression the names are the targets (``["intensity"]`` or ``["V", "A", "D"]``).
    """

    names: tuple[str, ...]
    task: Task = Task.SINGLE
    name: str = ""  # taxonomy name, e.g. "isear-7" or "goemotions-28"
    description: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "names", tuple(self.names))
        object.__setattr__(self, "task", Task(self.task))
        if len(set(self.names)) != len(self.names):
            raise DataError(f"Label set '{self.name}' has duplicate labels: {list(self.names)}")
        if not self.names:
            raise DataError("A label set needs at least one label")

    # -- lookups ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return iter(self.names)

    def __contains__(self, label: object) -> bool:
        return label in self.names

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    @property
    def is_classification(self) -> bool:
        return self.task != Task.REGRESSION

    def index(self, label: str, *, where: str = "") -> int:
        try:
            return self.names.index(label)
        except ValueError:
            at = f" ({where})" if where else ""
            raise DataError(
                f"Unknown label '{label}'{at}; label set '{self.name or 'labels'}' has {list(self.names)}",
                hint=did_you_mean(str(label), self.names),
            ) from None

    # -- encodings ----------------------------------------------------------------------------
    def encode_single(self, labels: Sequence[str]) -> np.ndarray:
        return np.array([self.index(lab) for lab in labels], dtype=np.int64)

    def encode_multi(self, label_lists: Iterable[Sequence[str]]) -> np.ndarray:
        rows = list(label_lists)
        out = np.zeros((len(rows), len(self.names)), dtype=np.int64)
        for i, labs in enumerate(rows):
            for lab in labs:
                out[i, self.index(lab)] = 1
        return out

    def decode_multi(self, indicator: np.ndarray) -> list[list[str]]:
        return [[self.names[j] for j in np.flatnonzero(row)] for row in np.asarray(indicator)]

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task.value, "names": list(self.names), "description": self.description}

    @classmethod
    def from_dict(cls, d: dict) -> LabelSet:
        return cls(names=tuple(d["names"]), task=Task(d.get("task", "single_label")), name=d.get("name", ""),
                   description=d.get("description", {}) or {})

    def save(self, path: str | Path) -> None:
        atomic.write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> LabelSet:
        """A saved label set; a hand-edited file that no model could have been trained with is refused."""
        hint = "The file was edited by hand? Restore it from the run's model/emotune_model.json or train again."
        try:
            ls = cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:  # bad JSON, no names, unknown task
            raise DataError(f"{path}: not a label set ({type(exc).__name__}: {exc})", hint=hint) from None
        if ls.task != Task.REGRESSION and len(ls) < 2:
            raise DataError(f"{path}: a classification label set needs at least 2 labels, this one has "
                            f"{len(ls)} ({list(ls.names)})", hint=hint)
        return ls
