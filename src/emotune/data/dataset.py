"""The canonical form every dataset is loaded into.

One :class:`EmotionDataset` = a pandas frame with fixed column names + the :class:`LabelSet`.

Columns
-------
``text``            cleaned text fed to models (``text_original`` keeps the source text)
``labels``          tuple of label names (single-label: exactly one; multi-label: zero or more)
``targets``         tuple of floats aligned with ``label_set.names`` (regression tasks)
``split``           ``train`` / ``dev`` / ``test`` or ``""`` when the source has no split
``dialogue_id``, ``turn``, ``speaker``   optional, for conversations
anything else       metadata (intensity, gender, age, country, source ids, flags ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from emotune.data.cleaning import clean_text, is_placeholder
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError

SPLITS = ("train", "dev", "test")
# split names as sources write them
SPLIT_ALIASES = {"train": "train", "training": "train", "dev": "dev", "valid": "dev", "validation": "dev",
                 "val": "dev", "test": "test", "testing": "test"}
CORE_COLUMNS = ("text", "text_original", "labels", "targets", "split", "dialogue_id", "turn", "speaker")


@dataclass
class EmotionDataset:
    name: str
    frame: pd.DataFrame
    label_set: LabelSet
    info: dict = field(default_factory=dict)  # provenance: source files, licence, notes

    def __post_init__(self):
        if "text" not in self.frame.columns:
            raise DataError(f"Dataset '{self.name}' has no 'text' column")
        if "split" not in self.frame.columns:
            self.frame["split"] = ""
        need = "targets" if self.task == Task.REGRESSION else "labels"
        if need not in self.frame.columns:
            raise DataError(f"Dataset '{self.name}' ({self.task.value}) has no '{need}' column")

    # -- basic views --------------------------------------------------------------------------
    @property
    def task(self) -> Task:
        return self.label_set.task

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()

    @property
    def split_names(self) -> list[str]:
        present = [s for s in self.frame["split"].unique().tolist() if s]
        return [s for s in SPLITS if s in present] + sorted(s for s in present if s not in SPLITS)

    @property
    def is_conversational(self) -> bool:
        return "dialogue_id" in self.frame.columns and self.frame["dialogue_id"].notna().any()

    def split(self, name: str) -> EmotionDataset:
        if name not in self.split_names:
            raise DataError(
                f"Dataset '{self.name}' has no '{name}' split; it has {self.split_names or 'no splits'}",
                hint="Run the splitter (emotune.data.splits.make_splits) or choose another split.",
            )
        return self.subset(self.frame["split"] == name, suffix=name)

    def subset(self, mask_or_index, suffix: str = "") -> EmotionDataset:
        if isinstance(mask_or_index, (pd.Series, np.ndarray)) and np.asarray(mask_or_index).dtype == bool:
            frame = self.frame[np.asarray(mask_or_index)]
        else:
            frame = self.frame.iloc[list(mask_or_index)]
        name = f"{self.name}:{suffix}" if suffix and ":" not in self.name else self.name
        return EmotionDataset(name, frame.reset_index(drop=True), self.label_set, dict(self.info))

    def sample(self, n: int, seed: int = 0) -> EmotionDataset:
        if n >= len(self):
            return self
        idx = np.random.default_rng(seed).choice(len(self), size=n, replace=False)
        return self.subset(sorted(idx.tolist()))

    def with_frame(self, frame: pd.DataFrame) -> EmotionDataset:
        return EmotionDataset(self.name, frame.reset_index(drop=True), self.label_set, dict(self.info))

    # -- targets in model-ready form ----------------------------------------------------------
    def y(self) -> np.ndarray:
        """Class ids (single), 0/1 indicator matrix (multi) or float matrix (regression)."""
        if self.task == Task.SINGLE:
            return self.label_set.encode_single([labs[0] for labs in self.frame["labels"]])
        if self.task == Task.MULTI:
            return self.label_set.encode_multi(self.frame["labels"])
        return np.asarray([list(t) for t in self.frame["targets"]], dtype=np.float64).reshape(len(self), -1)

    @property
    def labels(self) -> list:
        """Label names per row: a string (single), a list (multi) or a float tuple (regression)."""
        if self.task == Task.SINGLE:
            return [labs[0] for labs in self.frame["labels"]]
        if self.task == Task.MULTI:
            return [list(labs) for labs in self.frame["labels"]]
        return [tuple(t) for t in self.frame["targets"]]

    @classmethod
    def from_texts(cls, texts: Sequence[str], labels: Sequence, label_set: LabelSet, name: str = "inline",
                   split: str = "") -> EmotionDataset:
        """Build a dataset in memory: labels are names (single), lists (multi) or numbers (regression)."""
        frame = pd.DataFrame({"text": list(texts), "text_original": list(texts), "split": split})
        if label_set.task == Task.SINGLE:
            frame["labels"] = [(str(lab),) for lab in labels]
        elif label_set.task == Task.MULTI:
            frame["labels"] = [tuple(labs) for labs in labels]
        else:
            frame["targets"] = [tuple(np.atleast_1d(np.asarray(t, dtype=float)).tolist()) for t in labels]
        for labs in frame.get("labels", []):
            for lab in labs:
                label_set.index(lab)
        return cls(name, frame, label_set)

    def describe(self) -> dict:
        """Row counts per split and label (or target mean per split for regression)."""
        out: dict = {"name": self.name, "task": self.task.value, "rows": len(self), "labels": list(self.label_set.names),
                     "splits": {}}
        for s in self.split_names or [""]:
            part = self.frame[self.frame["split"] == s]
            entry: dict = {"rows": len(part)}
            if self.task == Task.REGRESSION:
                arr = np.asarray([list(t) for t in part["targets"]], dtype=float)
                entry["mean"] = dict(zip(self.label_set.names, np.nanmean(arr, axis=0).round(4).tolist())) if len(arr) else {}
            else:
                counts = {n: 0 for n in self.label_set.names}
                for labs in part["labels"]:
                    for lab in labs:
                        counts[lab] = counts.get(lab, 0) + 1
                entry["label_counts"] = counts
            out["splits"][s or "all"] = entry
        return out


@dataclass
class PreparedData:
    """train/dev/test as a run trains and scores on them, plus what preparation did.

    ``notes`` go to the run's ``data.json`` and model card: ``steps`` (one line per preparation
    step), ``source`` (dataset, licence, files, options), ``dedup_dropped`` (rows the splitter
    removed as duplicates or cross-split leaks); cross-validation adds its fold.
    """

    train: EmotionDataset
    dev: EmotionDataset
    test: EmotionDataset
    notes: dict = field(default_factory=dict)
    full: EmotionDataset | None = None  # all rows after splitting, before context/cap/samples (pipeline only)

    @property
    def label_set(self) -> LabelSet:
        return self.train.label_set

    @property
    def task(self) -> Task:
        return self.train.task

    def counts(self) -> dict:
        return {"train": len(self.train), "dev": len(self.dev), "test": len(self.test)}


def canonical(name: str, frame: pd.DataFrame, label_set: LabelSet, info: dict, *,
              placeholders: bool = False) -> EmotionDataset:
    """A loader's frame (``text_original``, ``labels``/``targets``, ...) with cleaned text and placeholder flags.

    ``placeholders``: flag survey-style non-answers with :func:`is_placeholder`. Only for free-text
    answers (ISEAR, situation descriptions, user files): in conversations "I don't know." or
    "Nothing." are genuine utterances with an emotion label, so there only the source's own flags count.
    """
    frame = frame.reset_index(drop=True)
    originals = ["" if (t is None or (isinstance(t, float) and t != t)) else str(t)
                 for t in frame["text_original"].tolist()]
    # object dtype: iterating pandas' arrow-backed strings row by row is ~50x slower
    frame["text_original"] = pd.Series(originals, dtype=object, index=frame.index)
    frame["text"] = pd.Series([clean_text(t) for t in originals], dtype=object, index=frame.index)
    if placeholders:
        flag = np.array([is_placeholder(t) for t in frame["text"].tolist()], dtype=bool)
    else:
        flag = np.zeros(len(frame), dtype=bool)
    if "is_placeholder" in frame.columns:
        flag |= frame["is_placeholder"].astype(bool).to_numpy()
    frame["is_placeholder"] = flag
    if "split" not in frame.columns:
        frame["split"] = ""
    frame["split"] = frame["split"].astype(object)
    front = [c for c in CORE_COLUMNS if c in frame.columns]
    frame = frame[front + [c for c in frame.columns if c not in front]]
    info = {"dataset": name, **info}
    return EmotionDataset(name, frame, label_set, info)
