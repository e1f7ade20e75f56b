"""Data audit: duplicates, leakage across splits, conflicting labels, balance, placeholders.

``audit_dataset(ds)`` looks at the data as published (its own split, if any) and again after
emotune's split (:func:`emotune.data.splits.make_splits`), where texts across splits must be 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from emotune.data.dataset import SPLITS, EmotionDataset
from emotune.data.labels import Task
from emotune.config import SplitConfig

__all__ = ["AuditReport", "audit_dataset", "split_audit"]


@dataclass
class AuditReport:
    dataset: str
    task: str
    label_set: str
    rows: int
    rows_per_split: dict[str, int]
    # within each split: rows that repeat an earlier row of the same split
    exact_duplicates: dict[str, int]
    normalised_duplicates: dict[str, int]
    # across splits: distinct texts present on both sides ("train|test": n)
    exact_across: dict[str, int]
    normalised_across: dict[str, int]
    conflicting_texts: int  # normalised texts with more than one label (set)
    conflicting_rows: int
    conflicts_per_split: dict[str, int]
    class_balance: dict[str, dict[str, float]]
    placeholders: dict[str, int]
    empty: dict[str, int]
    examples: dict[str, list] = field(default_factory=dict)
    after_split: dict = field(default_factory=dict)  # the same counts after emotune's split
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def texts_across_after(self) -> int:
        return int(sum(self.after_split.get("normalised_across", {}).values()))


def _keys(ds: EmotionDataset) -> tuple[list[str], list[str]]:
    from emotune.data.splits import text_keys

    exact = ([str(t) for t in ds.frame["text_original"].tolist()] if "text_original" in ds.frame.columns
             else ds.texts)
    return exact, text_keys(ds).tolist()


def _split_of(ds: EmotionDataset) -> list[str]:
    return [str(s) if isinstance(s, str) and s else "all" for s in ds.frame["split"].tolist()]


def _order(names) -> list[str]:
    names = list(dict.fromkeys(names))
    return [s for s in (*SPLITS, "all") if s in names] + sorted(s for s in names if s not in (*SPLITS, "all"))


def split_audit(ds: EmotionDataset) -> dict:
    """Duplicate/leakage counts for ``ds`` as split now (used for both views of the report)."""
    exact, norm = _keys(ds)
    split = _split_of(ds)
    names = _order(split)
    by_split: dict[str, tuple[list, list]] = {s: ([], []) for s in names}
    for e, k, s in zip(exact, norm, split):
        by_split[s][0].append(e)
        by_split[s][1].append(k)
    out: dict = {"rows_per_split": {s: len(by_split[s][0]) for s in names},
                 "exact_duplicates": {}, "normalised_duplicates": {}, "exact_across": {}, "normalised_across": {}}
    sets_exact, sets_norm = {}, {}
    for s in names:
        sets_exact[s], sets_norm[s] = set(by_split[s][0]), set(by_split[s][1])
        out["exact_duplicates"][s] = len(by_split[s][0]) - len(sets_exact[s])
        out["normalised_duplicates"][s] = len(by_split[s][1]) - len(sets_norm[s])
    examples = []
    for a, b in combinations(names, 2):
        out["exact_across"][f"{a}|{b}"] = len(sets_exact[a] & sets_exact[b])
        shared = sets_norm[a] & sets_norm[b]
        out["normalised_across"][f"{a}|{b}"] = len(shared)
        examples += [(f"{a}|{b}", t) for t in sorted(shared)[:3]]
    out["examples_across"] = examples[:9]
    return out


def _balance(ds: EmotionDataset, split: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for s in _order(split):
        mask = np.asarray([x == s for x in split])
        if ds.task == Task.REGRESSION:
            arr = np.asarray([list(t) for t in ds.frame["targets"][mask]], dtype=float).reshape(int(mask.sum()), -1)
            out[s] = {}
            for j, n in enumerate(ds.label_set.names):
                col = arr[:, j] if len(arr) else np.array([np.nan])
                out[s].update({f"{n} mean": round(float(np.nanmean(col)), 4), f"{n} std": round(float(np.nanstd(col)), 4)})
        else:
            c = Counter(lab for labs in ds.frame["labels"][mask] for lab in labs)
            out[s] = {n: int(c.get(n, 0)) for n in ds.label_set.names}
            if ds.task == Task.MULTI:
                out[s]["(no label)"] = int(sum(1 for labs in ds.frame["labels"][mask] if len(labs) == 0))
    return out


def audit_dataset(ds: EmotionDataset, split_cfg: SplitConfig | None = None, *, after: bool = True) -> AuditReport:
    """Audit ``ds`` as published and, unless ``after=False``, after emotune's leak-free split."""
    from emotune.data.splits import label_key, make_splits

    split = _split_of(ds)
    base = split_audit(ds)
    _, norm = _keys(ds)
    lab = label_key(ds)
    conflicting_texts = conflicting_rows = 0
    conflicts_per_split: dict[str, int] = {}
    conflict_examples: list = []
    if ds.task != Task.REGRESSION:
        frame = pd.DataFrame({"norm": pd.Series(norm, dtype=object), "lab": pd.Series(lab, dtype=object),
                              "split": pd.Series(split, dtype=object)})
        nuniq = frame.groupby("norm", sort=False)["lab"].nunique()
        bad = set(nuniq.index[nuniq > 1])
        conflicting_texts = len(bad)
        conflicting_rows = int(frame["norm"].isin(bad).sum())
        for s in _order(split):
            part = frame[frame["split"] == s]
            nu = part.groupby("norm", sort=False)["lab"].nunique()
            conflicts_per_split[s] = int((nu > 1).sum())
        for t in sorted(bad)[:5]:
            labels = sorted({"+".join(x) or "(none)" for x in frame.loc[frame["norm"] == t, "lab"]})
            conflict_examples.append({"text": t, "labels": labels})
    place = ds.frame["is_placeholder"].astype(bool).to_numpy() if "is_placeholder" in ds.frame.columns else \
        np.zeros(len(ds), dtype=bool)
    empty = np.asarray([not k for k in norm], dtype=bool)  # nothing left but punctuation/whitespace
    report = AuditReport(
        dataset=ds.name, task=ds.task.value, label_set=ds.label_set.name, rows=len(ds),
        rows_per_split=base["rows_per_split"], exact_duplicates=base["exact_duplicates"],
        normalised_duplicates=base["normalised_duplicates"], exact_across=base["exact_across"],
        normalised_across=base["normalised_across"], conflicting_texts=conflicting_texts,
        conflicting_rows=conflicting_rows, conflicts_per_split=conflicts_per_split,
        class_balance=_balance(ds, split),
        placeholders={s: int(place[np.asarray([x == s for x in split])].sum()) for s in _order(split)},
        empty={s: int(empty[np.asarray([x == s for x in split])].sum()) for s in _order(split)},
        examples={"across_splits": [{"splits": a, "text": t} for a, t in base["examples_across"]],
                  "conflicts": conflict_examples},
    )
    if after:
        split_ds = make_splits(ds, split_cfg or SplitConfig())
        a = split_audit(split_ds)
        a.pop("examples_across", None)
        a["class_balance"] = _balance(split_ds, _split_of(split_ds))
        a["notes"] = list(split_ds.info.get("split_notes", []))
        report.after_split = a
        report.notes = a["notes"]
    return report
