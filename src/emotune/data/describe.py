"""Counts and a sample of a dataset that arrives in chunks (``data show`` on a file of any size).

:func:`describe_chunks` folds :meth:`EmotionDataset.describe` over the chunks of
:func:`emotune.data.files.load_file_chunks` and keeps a uniform sample of ``n`` rows (reservoir
sampling), so memory holds one chunk, the counts and the sample, never the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import Task
from emotune.errors import DataError


@dataclass
class ChunkedDescription:
    name: str = ""
    task: Task = Task.SINGLE
    label_set_name: str = ""
    labels: list[str] = field(default_factory=list)  # in first-seen order of the chunks' label sets
    rows: int = 0
    splits: dict = field(default_factory=dict)  # split -> {"rows", "label_counts" | "sums"/"n"}
    no_label: dict = field(default_factory=dict)  # multi-label: split -> rows without a label
    notes: list[str] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)  # {"split", "text", "labels" | "targets"}

    def describe(self) -> dict:
        """The shape of :meth:`EmotionDataset.describe` (regression: target means per split)."""
        splits = {}
        for s, e in self.splits.items():
            entry = {"rows": e["rows"]}
            if self.task == Task.REGRESSION:
                entry["mean"] = {t: round(e["sums"][t] / e["n"][t], 4) if e["n"][t] else float("nan")
                                 for t in self.labels}
            else:
                entry["label_counts"] = {n: e["label_counts"].get(n, 0) for n in self.labels}
            splits[s] = entry
        return {"name": self.name, "task": self.task.value, "rows": self.rows, "labels": self.labels,
                "splits": splits}


def describe_chunks(chunks: Iterable[EmotionDataset], *, split: str | None = None, n: int = 5,
                    seed: int = 0, max_notes: int = 5) -> ChunkedDescription:
    rng = np.random.default_rng(seed)
    out = ChunkedDescription()
    seen = 0  # rows offered to the sample so far
    for ds in chunks:
        if split:
            ds = ds.subset(ds.frame["split"] == split, suffix=split)
        out.name, out.label_set_name = ds.name, ds.label_set.name or ""
        if ds.task == Task.MULTI or out.task == Task.MULTI:
            out.task = Task.MULTI
        elif ds.task == Task.REGRESSION:
            out.task = Task.REGRESSION
        out.labels += [x for x in ds.label_set.names if x not in out.labels]
        for note in ds.info.get("notes", []):
            if len(out.notes) < max_notes and note not in out.notes:
                out.notes.append(note)
        out.rows += len(ds)
        for s, part in _by_split(ds):
            entry = out.splits.setdefault(s, {"rows": 0, "label_counts": {}, "sums": {}, "n": {}})
            entry["rows"] += len(part)
            if ds.task == Task.REGRESSION:
                arr = np.asarray([list(t) for t in part["targets"]], dtype=float).reshape(len(part), -1)
                for j, t in enumerate(ds.label_set.names):
                    col = arr[:, j][~np.isnan(arr[:, j])]
                    entry["sums"][t] = entry["sums"].get(t, 0.0) + float(col.sum())
                    entry["n"][t] = entry["n"].get(t, 0) + len(col)
            else:
                for labs in part["labels"]:
                    for lab in labs:
                        entry["label_counts"][lab] = entry["label_counts"].get(lab, 0) + 1
                    if not labs:
                        out.no_label[s] = out.no_label.get(s, 0) + 1
        for row in ds.frame.itertuples(index=False) if n > 0 else ():
            seen += 1
            slot = len(out.sample) if len(out.sample) < n else int(rng.integers(seen))
            if slot < n:
                item = {"split": row.split, "text": row.text}
                if ds.task == Task.REGRESSION:
                    item["targets"] = dict(zip(ds.label_set.names, row.targets))
                else:
                    item["labels"] = list(row.labels)
                if slot == len(out.sample):
                    out.sample.append(item)
                else:
                    out.sample[slot] = item
    if split and not out.rows:
        raise DataError(f"Dataset '{out.name}' has no '{split}' split",
                        hint="Give the split column with --split-col, or leave out --split.")
    return out


def _by_split(ds: EmotionDataset):
    names = ds.split_names or [""]
    for s in names:
        yield s or "all", ds.frame[ds.frame["split"] == s]
