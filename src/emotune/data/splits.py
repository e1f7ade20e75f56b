"""Leak-free train/dev/test splits.

Guarantee (tested on every built-in dataset): after :func:`make_splits`, no normalised text
(:func:`emotune.data.cleaning.normalize_for_dedup`) occurs on two sides of the split.

* **Official split** (``cfg.use_official`` and the source has one): kept as published, except that
  train rows whose normalised text also occurs in dev/test are removed, and dev rows whose text occurs
  in test. Test is never changed. Missing dev (train + test only) is carved out of train.
* **No official split**: normalised duplicates are dropped (first kept; a text that carries
  conflicting labels is dropped entirely), then a stratified split (single-label: per class;
  multi-label: iterative stratification; regression: shuffle), optionally keeping every value of
  ``cfg.group_by`` on one side (a greedy stratified group hold-out, like ``StratifiedGroupKFold``).
  Conversations are grouped by ``dialogue_id`` automatically.

Every step is written to ``ds.info["split_notes"]`` (it ends up in the model card).
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pandas as pd

from emotune.data.cleaning import clean_text, normalize_for_dedup
from emotune.data.dataset import SPLITS, EmotionDataset
from emotune.data.labels import Task
from emotune.errors import DataError, did_you_mean
from emotune.config import SplitConfig

__all__ = ["make_splits", "dedup", "kfold", "assert_no_leakage", "leakage", "label_key", "text_keys",
           "remove_cross_split_overlap"]


# -- keys -----------------------------------------------------------------------------------------
def text_keys(ds_or_frame) -> pd.Series:
    frame = ds_or_frame.frame if isinstance(ds_or_frame, EmotionDataset) else ds_or_frame
    if "utterance" in frame.columns:  # conversation context was prepended: key on the utterance itself
        src = frame["utterance"].tolist()
    elif "text" not in frame.columns:
        src = [clean_text(t) for t in frame["text_original"]]
    else:
        src = frame["text"].tolist()
    return pd.Series([normalize_for_dedup(t) for t in src], index=frame.index, dtype=object)


def label_key(ds: EmotionDataset) -> list:
    """Hashable label per row: sorted label tuple (classification) or the target tuple (regression)."""
    if ds.task == Task.REGRESSION:
        return [tuple(t) for t in ds.frame["targets"]]
    return [tuple(sorted(labs)) for labs in ds.frame["labels"]]


def _stratum(ds: EmotionDataset) -> np.ndarray:
    """One class per row for stratification (single: the label; multi: rarest label or '<none>')."""
    if ds.task == Task.SINGLE:
        return np.asarray([labs[0] for labs in ds.frame["labels"]], dtype=object)
    if ds.task == Task.MULTI:
        freq = Counter(lab for labs in ds.frame["labels"] for lab in labs)
        return np.asarray([min(labs, key=lambda x: (freq[x], x)) if labs else "<none>" for labs in ds.frame["labels"]],
                          dtype=object)
    return np.zeros(len(ds), dtype=object)


# -- dedup ----------------------------------------------------------------------------------------
def dedup(ds: EmotionDataset) -> tuple[EmotionDataset, dict]:
    """Drop normalised duplicates (keep the first); texts with conflicting labels are dropped entirely."""
    if len(ds) == 0:
        return ds, {"duplicates_dropped": 0, "conflicting_texts": 0, "conflicting_rows_dropped": 0}
    keys = text_keys(ds).to_numpy()
    labels = label_key(ds)
    frame = pd.DataFrame({"key": keys, "lab": labels})
    conflict_keys: set = set()
    if ds.task != Task.REGRESSION:
        n_labels = frame.groupby("key", sort=False)["lab"].nunique()
        conflict_keys = set(n_labels.index[n_labels > 1])
    in_conflict = frame["key"].isin(conflict_keys).to_numpy()
    dup = frame["key"].duplicated(keep="first").to_numpy()
    keep = ~in_conflict & ~dup
    stats = {
        "duplicates_dropped": int((dup & ~in_conflict).sum()),
        "conflicting_texts": len(conflict_keys),
        "conflicting_rows_dropped": int(in_conflict.sum()),
    }
    return ds.subset(keep), stats


def remove_cross_split_overlap(ds: EmotionDataset) -> tuple[EmotionDataset, dict]:
    """Official splits: drop train rows whose text is in dev/test and dev rows whose text is in test."""
    keys = text_keys(ds)
    split = ds.frame["split"]
    test_keys = set(keys[split == "test"])
    dev_keys = set(keys[split == "dev"])
    drop_dev = (split == "dev") & keys.isin(test_keys)
    drop_train = (split == "train") & keys.isin(test_keys | dev_keys)
    stats = {"train_rows_removed": int(drop_train.sum()), "dev_rows_removed": int(drop_dev.sum())}
    return ds.subset(~(drop_dev | drop_train).to_numpy()), stats


# -- split helpers --------------------------------------------------------------------------------
def _union_groups(*columns) -> np.ndarray:
    """Connected components of rows sharing a value in any of the columns (group id per row)."""
    n = len(columns[0])
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for col in columns:
        first: dict = {}
        for i, v in enumerate(col):
            if v is None or (isinstance(v, float) and np.isnan(v)):
                continue
            j = first.setdefault(v, i)
            if j != i:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[ri] = rj
    return np.asarray([find(i) for i in range(n)])


def _per_class_split(strata: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of the held-out part: ``round(n_c * fraction)`` rows of every class c."""
    held = np.zeros(len(strata), dtype=bool)
    if fraction <= 0:
        return held
    for cls in pd.unique(strata):
        idx = np.flatnonzero(strata == cls)
        rng.shuffle(idx)
        n_out = int(np.floor(len(idx) * fraction + 0.5))
        held[idx[:n_out]] = True
    return held


def _grouped_holdout(strata: np.ndarray, groups: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Hold out whole groups, greedily filling each class's quota (StratifiedGroupKFold-like, fast)."""
    _, cls = np.unique(strata.astype(str), return_inverse=True)
    uniq, grp = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(uniq), cls.max() + 1))
    np.add.at(counts, (grp, cls), 1)
    quota = counts.sum(axis=0) * fraction
    total = quota.sum()
    held_counts = np.zeros_like(quota)
    chosen = np.zeros(len(uniq), dtype=bool)
    order = rng.permutation(len(uniq))
    for g in order:  # pass 1: groups that mostly fill open quotas
        if held_counts.sum() >= total:
            break
        m = counts[g]
        gain = np.minimum(m, np.maximum(quota - held_counts, 0)).sum()
        if gain >= m.sum() - gain and held_counts.sum() + m.sum() <= total + m.sum() / 2:
            chosen[g] = True
            held_counts += m
    if held_counts.sum() < total:  # pass 2: top up with the smallest groups
        for g in sorted(np.flatnonzero(~chosen), key=lambda i: (counts[i].sum(), rng.random())):
            if held_counts.sum() >= total:
                break
            if held_counts.sum() + counts[g].sum() <= total + counts[g].sum() / 2:
                chosen[g] = True
                held_counts += counts[g]
    return chosen[grp]


def _holdout(ds: EmotionDataset, fraction: float, seed: int, groups: np.ndarray | None) -> np.ndarray:
    """Mask of rows held out (``fraction`` of ``ds``), stratified where possible, grouped if given."""
    n = len(ds)
    if fraction <= 0 or n == 0:
        return np.zeros(n, dtype=bool)
    if fraction >= 1:
        return np.ones(n, dtype=bool)
    rng = np.random.default_rng(seed)
    if groups is not None and len(np.unique(groups)) < n:
        if len(np.unique(groups)) < 2:
            raise DataError("Cannot split: every row belongs to the same group (one split.group_by value, or one "
                            "dialogue for conversation data)",
                            hint="Choose another split.group_by column, or give a split column for the file.")
        return _grouped_holdout(_stratum(ds), groups, fraction, rng)
    if ds.task == Task.SINGLE:
        return _per_class_split(_stratum(ds), fraction, rng)
    if ds.task == Task.MULTI:
        y = ds.y()
        if y.shape[1] and y.sum() > 0 and n >= 4:
            from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cv = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
                _, test_idx = next(cv.split(np.zeros(n), y))
            mask = np.zeros(n, dtype=bool)
            mask[test_idx] = True
            return mask
    perm = rng.permutation(n)
    mask = np.zeros(n, dtype=bool)
    mask[perm[: int(round(n * fraction))]] = True
    return mask


def _group_column(ds: EmotionDataset, cfg: SplitConfig, notes: list[str]) -> np.ndarray | None:
    col = cfg.group_by
    if col is None and ds.is_conversational:
        col = "dialogue_id"
        notes.append("Conversation data: whole dialogues kept on one side (grouped by dialogue_id).")
    if col is None:
        return None
    if col not in ds.frame.columns:
        meta = [c for c in ds.frame.columns if c not in ("text", "text_original", "labels", "targets")]
        raise DataError(f"split.group_by column '{col}' not in dataset '{ds.name}'",
                        hint=did_you_mean(col, meta) + f" (columns: {', '.join(meta)}); or split without groups: "
                             "--set data.split.group_by=null")
    values = ds.frame[col].astype(object).where(ds.frame[col].notna(), None).tolist()
    missing = sum(v is None for v in values)
    if missing:
        notes.append(f"{missing} row(s) without a '{col}' value are their own group.")
    return _union_groups(values)


def _assign_split(ds: EmotionDataset, cfg: SplitConfig, notes: list[str], groups_extra=None) -> EmotionDataset:
    """Split an unsplit dataset into train/dev/test (``cfg.dev`` / ``cfg.test`` fractions)."""
    if cfg.dev < 0 or cfg.test < 0 or cfg.dev + cfg.test >= 1:
        raise DataError(f"split.dev ({cfg.dev}) + split.test ({cfg.test}) must be >= 0 and < 1")
    group_col = _group_column(ds, cfg, notes)
    keys = None if cfg.dedup else text_keys(ds).tolist()
    groups = None
    if group_col is not None or keys is not None:
        cols = [c for c in (group_col.tolist() if group_col is not None else None, keys) if c is not None]
        groups = _union_groups(*cols)
    test_mask = _holdout(ds, cfg.test, cfg.seed, groups)
    split = np.where(test_mask, "test", "train").astype(object)
    rest = np.flatnonzero(~test_mask)
    if cfg.dev > 0 and len(rest):
        sub = ds.subset(rest)
        dev_mask = _holdout(sub, cfg.dev / (1 - cfg.test), cfg.seed + 1, groups[rest] if groups is not None else None)
        split[rest[dev_mask]] = "dev"
    frame = ds.frame.copy()
    frame["split"] = split
    return ds.with_frame(frame)


# -- main entry -----------------------------------------------------------------------------------
def make_splits(ds: EmotionDataset, cfg: SplitConfig | None = None) -> EmotionDataset:
    """Return ``ds`` with a leak-free ``split`` column (official split kept when present)."""
    cfg = cfg or SplitConfig()
    notes: list[str] = []
    stats: dict = {"rows_in": len(ds)}
    split_values = ["" if v is None or v != v else str(v) for v in ds.frame["split"].tolist()]
    present = set(split_values) - {""}
    has_official = bool(present)
    if has_official and "" in set(split_values):
        n_blank = split_values.count("")
        raise DataError(f"Dataset '{ds.name}': {n_blank} row(s) have no split value while others do",
                        hint="Fill the split column for every row (train/dev/test) or drop it.")
    unknown = present - set(SPLITS)
    if has_official and unknown:
        raise DataError(f"Dataset '{ds.name}': unknown split name(s) {sorted(unknown)}; use train/dev/test",
                        hint="(valid/validation/val are read as dev by the file loader)")

    if has_official and cfg.use_official:
        out, st = remove_cross_split_overlap(ds)
        stats.update(st)
        notes.append(f"Official split kept ({', '.join(s for s in SPLITS if s in present)}).")
        if st["train_rows_removed"] or st["dev_rows_removed"]:
            notes.append(f"Leakage removed: {st['train_rows_removed']} train row(s) whose normalised text is also in "
                         f"dev/test, {st['dev_rows_removed']} dev row(s) whose text is also in test (test unchanged).")
        missing = {"dev": cfg.dev if "dev" not in present else 0.0, "test": cfg.test if "test" not in present else 0.0}
        if "train" in present and (missing["dev"] > 0 or missing["test"] > 0):
            # carve the missing split(s) out of train; identical texts stay together (no new leakage)
            train = out.subset((out.frame["split"] == "train").to_numpy())
            sub_cfg = cfg.model_copy(update={"dev": missing["dev"], "test": missing["test"], "dedup": False})
            carved = _assign_split(train, sub_cfg, notes)
            frame = out.frame.copy()
            frame.loc[(frame["split"] == "train").to_numpy(), "split"] = carved.frame["split"].to_numpy()
            out = out.with_frame(frame)
            for s, frac in missing.items():
                if frac > 0:
                    notes.append(f"No official {s} split: {int((frame['split'] == s).sum()):,} {s} rows carved out of "
                                 f"train ({frac:.0%}, seed {cfg.seed}).")
        if "train" not in present:
            notes.append("No train split in the source (evaluation-only dataset).")
    else:
        work = ds
        if has_official:
            notes.append(f"Official split ignored (split.use_official=false): re-split from {len(ds)} rows.")
            work = ds.with_frame(ds.frame.assign(split=""))
        if cfg.dedup:
            work, st = dedup(work)
            stats.update(st)
            notes.append(f"Dedup before splitting: {st['duplicates_dropped']} duplicate row(s) dropped (normalised text, "
                         f"first kept); {st['conflicting_texts']} text(s) with conflicting labels dropped entirely "
                         f"({st['conflicting_rows_dropped']} rows).")
        out = _assign_split(work, cfg, notes)
        kind = {"single_label": "stratified per class", "multi_label": "iterative stratification",
                "regression": "random"}[ds.task.value]
        if cfg.group_by:
            kind += f", grouped by {cfg.group_by}"
        if not cfg.dedup:
            kind += ", identical texts kept together"
        notes.append(f"Split {1 - cfg.dev - cfg.test:.0%}/{cfg.dev:.0%}/{cfg.test:.0%} ({kind}, seed {cfg.seed}).")
    counts = {s: int((out.frame["split"] == s).sum()) for s in SPLITS}
    stats.update({"rows_out": len(out), **{f"{s}_rows": n for s, n in counts.items()}})
    notes.append("Rows per split: " + ", ".join(f"{s} {n:,}" for s, n in counts.items()) + ".")
    out.info["split_notes"] = notes
    out.info["split_stats"] = stats
    return out


# -- leakage checks -------------------------------------------------------------------------------
def leakage(a: EmotionDataset, b: EmotionDataset) -> set[str]:
    """Normalised texts present in both datasets."""
    return set(text_keys(a)) & set(text_keys(b))


def assert_no_leakage(a: EmotionDataset, b: EmotionDataset) -> None:
    """Raise :class:`DataError` if a normalised text of ``a`` also occurs in ``b``."""
    shared = leakage(a, b)
    if shared:
        examples = ", ".join(repr(t[:60]) for t in sorted(shared)[:3])
        raise DataError(f"{len(shared)} normalised text(s) occur in both '{a.name}' and '{b.name}' (e.g. {examples})",
                        hint="Split with emotune.data.splits.make_splits, which removes such overlaps.")


# -- cross-validation -----------------------------------------------------------------------------
def kfold(ds: EmotionDataset, k: int = 5, seed: int = 42, *, dedup_first: bool = True,
          group_by: str | None = None) -> list[tuple[EmotionDataset, EmotionDataset]]:
    """``k`` (train, test) folds: stratified (single), iterative (multi-label) or shuffled (regression).

    Normalised duplicates are dropped first (conflicting texts entirely), so no text is on both sides.
    """
    if k < 2:
        raise DataError(f"k-fold needs k >= 2 (got {k})")
    work = dedup(ds)[0] if dedup_first else ds
    n = len(work)
    if n < k:
        raise DataError(f"Dataset '{ds.name}' has {n} rows after dedup, fewer than k={k} folds")
    if work.task == Task.SINGLE:
        counts = Counter(_stratum(work).tolist())
        small = sorted(((c, m) for c, m in counts.items() if m < k), key=lambda x: x[1])
        if small:
            listing = ", ".join(f"'{c}' has {m}" for c, m in small)
            raise DataError(f"Too few examples for {k}-fold cross-validation: class {listing} "
                            f"(each class needs at least {k})",
                            hint="Lower k, merge/drop the rare class, or use a fixed split.")
    elif work.task == Task.MULTI:
        y = work.y()
        counts = dict(zip(work.label_set.names, y.sum(axis=0).tolist()))
        small = sorted(((c, m) for c, m in counts.items() if 0 < m < k), key=lambda x: x[1])
        if small:
            listing = ", ".join(f"'{c}' has {m}" for c, m in small)
            raise DataError(f"Too few examples for {k}-fold cross-validation: label {listing} "
                            f"(each label needs at least {k})", hint="Lower k or drop the rare label.")
    idx = np.zeros(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if group_by:
            if group_by not in work.frame.columns:
                raise DataError(f"group_by column '{group_by}' not in dataset '{ds.name}'",
                                hint=did_you_mean(group_by, work.frame.columns))
            groups = np.asarray([str(v) for v in work.frame[group_by].tolist()], dtype=object)
            if work.task == Task.REGRESSION:
                from sklearn.model_selection import GroupKFold

                folds = list(GroupKFold(n_splits=k).split(idx, None, groups))
            else:
                from sklearn.model_selection import StratifiedGroupKFold

                folds = list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
                             .split(idx, _stratum(work).astype(str), groups))
        elif work.task == Task.SINGLE:
            from sklearn.model_selection import StratifiedKFold

            folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, _stratum(work)))
        elif work.task == Task.MULTI:
            from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

            folds = list(MultilabelStratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(idx, work.y()))
        else:
            from sklearn.model_selection import KFold

            folds = list(KFold(n_splits=k, shuffle=True, random_state=seed).split(idx))
    out = []
    for i, (tr, te) in enumerate(folds):
        train = work.subset(sorted(tr.tolist()), suffix=f"fold{i}-train")
        test = work.subset(sorted(te.tolist()), suffix=f"fold{i}-test")
        train.frame["split"] = "train"
        test.frame["split"] = "test"
        out.append((train, test))
    return out
