"""From a :class:`DataConfig` to train/dev/test, with every step written down for the model card.

Order: load -> drop placeholders -> label map -> drop texts of other datasets -> leak-free split -> cap (train only) ->
conversation context (after splitting, previous turns of the same dialogue only) -> fixed-seed
samples (``max_train`` / ``max_eval``). Before training, :func:`check_labels_covered` and
:func:`check_no_leakage` check any :class:`PreparedData` (the pipeline's or a caller's folds).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from emotune.config import DataConfig
from emotune.data.dataset import EmotionDataset, PreparedData
from emotune.data.labels import Task
from emotune.data.splits import assert_no_leakage, make_splits
from emotune.errors import DataError

__all__ = ["prepare_data", "load_from_config", "stratified_sample", "check_labels_covered", "check_no_leakage"]


def load_from_config(cfg: DataConfig) -> EmotionDataset:
    from emotune.data.registry import load_dataset

    return load_dataset(cfg.dataset, text_col=cfg.text_col, label_col=cfg.label_col, label_cols=cfg.label_cols,
                        target_cols=cfg.target_cols, split_col=cfg.split_col, **dict(cfg.options))


def _empty_like(ds: EmotionDataset, split: str) -> EmotionDataset:
    out = ds.subset([], suffix=split)
    out.frame["split"] = out.frame["split"].astype(object)
    return out


def stratified_sample(ds: EmotionDataset, n: int, seed: int = 0) -> EmotionDataset:
    """``n`` rows with the class proportions of ``ds`` (every class keeps >= 1 row when possible)."""
    if n >= len(ds):
        return ds
    if n <= 0:
        return ds.subset([])
    if ds.task == Task.REGRESSION:
        return ds.sample(n, seed)
    if ds.task == Task.SINGLE:
        strata = [labs[0] for labs in ds.frame["labels"]]
    else:
        freq = Counter(lab for labs in ds.frame["labels"] for lab in labs)
        strata = [min(labs, key=lambda x: (freq[x], x)) if labs else "<none>" for labs in ds.frame["labels"]]
    strata = np.asarray(strata, dtype=object)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(strata, return_counts=True)
    quota = counts / counts.sum() * n
    take = np.floor(quota).astype(int)
    take = np.maximum(take, np.minimum(1, counts)) if n >= len(classes) else take
    # largest remainder to hit n exactly
    while take.sum() > n:
        j = int(np.argmax(take - quota))
        take[j] -= 1
    rem = quota - take
    while take.sum() < n:
        j = int(np.argmax(np.where(take < counts, rem, -np.inf)))
        take[j] += 1
        rem[j] = -np.inf
    chosen = []
    for cls, k in zip(classes, take):
        idx = np.flatnonzero(strata == cls)
        chosen.extend(rng.choice(idx, size=int(k), replace=False).tolist())
    return ds.subset(sorted(chosen))


def prefix_text(ds: EmotionDataset, column: str) -> EmotionDataset:
    """``"<column value>: <text>"``: one model for several targets told apart in the input (EI-reg's emotion)."""
    if column not in ds.frame.columns:
        raise DataError(f"data.text_prefix_col: dataset '{ds.name}' has no column '{column}'",
                        hint="Columns: " + ", ".join(map(str, ds.frame.columns)))
    frame = ds.frame.copy()
    if "utterance" not in frame.columns:  # dedup/leakage keys stay on the text itself, not on the prefix
        frame["utterance"] = frame["text"].tolist()
    frame["text"] = [f"{p}: {t}" for p, t in zip(frame[column].tolist(), frame["text"].tolist())]
    return ds.with_frame(frame)


def exclude_texts_of(ds: EmotionDataset, datasets: list[str]) -> tuple[EmotionDataset, str]:
    """``ds`` without the rows whose normalised text occurs in any split of ``datasets`` (before splitting:
    intermediate training data that must not hold a target's dev/test texts), and the note saying how many."""
    from emotune.data.registry import load_dataset
    from emotune.data.splits import text_keys

    other: set[str] = set()
    for name in datasets:
        other |= set(text_keys(load_dataset(name)))
    drop = text_keys(ds).isin(other).to_numpy()
    note = (f"Dropped {int(drop.sum()):,} row(s) whose text also occurs in {', '.join(datasets)} "
            "(data.exclude_texts_of).")
    return (ds.subset(~drop) if drop.any() else ds), note


def prepare_data(cfg: DataConfig | None = None) -> PreparedData:
    """Load, clean, map, split (leak-free), cap, add context and sample according to ``cfg``."""
    from emotune.data.context import add_context
    from emotune.data.taxonomies import cap_label, map_dataset

    cfg = cfg or DataConfig()
    notes: list[str] = []
    ds = load_from_config(cfg)
    loaded = ds
    if cfg.context.window > 0:  # fail before the (slow) split when the context cannot be built
        from emotune.data.context import check_dialogue_columns

        if "dialogue_id" not in ds.frame.columns:
            raise DataError(f"Dataset '{ds.name}' has no dialogues: context.window={cfg.context.window} needs "
                            "dialogue_id, turn and speaker columns", hint="Set context.window=0 for this dataset.")
        check_dialogue_columns(ds.frame, name=ds.name, speaker=cfg.context.speaker)
    notes.append(f"Loaded '{ds.name}' ({ds.task.value}, label set {ds.label_set.name or '-'}): {len(ds):,} rows.")
    notes += [str(n) for n in ds.info.get("notes", []) if n]
    prefix_col = getattr(cfg, "text_prefix_col", None)
    if prefix_col:
        ds = prefix_text(ds, prefix_col)
        notes.append(f"Each text is prefixed with its '{prefix_col}' value ('<value>: <text>').")

    if cfg.drop_placeholders and "is_placeholder" in ds.frame.columns:
        mask = ds.frame["is_placeholder"].astype(bool).to_numpy()
        if mask.any():
            ds = ds.subset(~mask)
            notes.append(f"Dropped {int(mask.sum())} placeholder non-answer(s) (e.g. '[ No response.]').")
    empty = np.asarray([not str(t).strip() for t in ds.frame["text"]], dtype=bool)
    if empty.any():
        ds = ds.subset(~empty)
        notes.append(f"Dropped {int(empty.sum())} row(s) with empty text.")

    if cfg.label_map:
        before = len(ds)
        ds = map_dataset(ds, cfg.label_map, synonyms=True)
        notes.append(ds.info["notes"][-1] if ds.info.get("notes") else
                     f"Labels mapped with '{cfg.label_map}': {before - len(ds)} rows dropped.")
    if cfg.exclude_texts_of:
        ds, note = exclude_texts_of(ds, cfg.exclude_texts_of)
        notes.append(note)
    if len(ds) == 0:
        raise DataError(f"No rows left in '{ds.name}' after cleaning/label mapping")

    full = make_splits(ds, cfg.split)
    notes += full.info.get("split_notes", [])

    parts = {s: (full.split(s) if s in full.split_names else _empty_like(full, s)) for s in ("train", "dev", "test")}

    for label, n in (cfg.cap or {}).items():
        before = len(parts["train"])
        parts["train"] = cap_label(parts["train"], label, int(n), seed=cfg.split.seed)
        notes.append(f"Capped '{label}' on train at {int(n):,} rows ({before - len(parts['train']):,} rows removed; "
                     "dev/test untouched).")

    if cfg.context.window > 0:
        for s in parts:
            if len(parts[s]):
                parts[s] = add_context(parts[s], cfg.context, source=loaded)
        notes.append(f"Conversation context: up to {cfg.context.window} previous turn(s) of the same dialogue "
                     f"(speaker names {'on' if cfg.context.speaker else 'off'}), target marked "
                     f"{cfg.context.target_marker.strip()!r}; applied after splitting.")

    available = {s: len(p) for s, p in parts.items()}  # before the speed samples: what a table says was left out
    if cfg.max_train is not None and len(parts["train"]) > cfg.max_train:
        before = len(parts["train"])
        parts["train"] = stratified_sample(parts["train"], cfg.max_train, seed=cfg.split.seed)
        notes.append(f"Train sampled to {cfg.max_train:,} of {before:,} rows (stratified, seed {cfg.split.seed}).")
    if cfg.max_eval is not None:
        for s in ("dev", "test"):
            if len(parts[s]) > cfg.max_eval:
                before = len(parts[s])
                parts[s] = stratified_sample(parts[s], cfg.max_eval, seed=cfg.split.seed)
                notes.append(f"{s.capitalize()} sampled to {cfg.max_eval:,} of {before:,} rows (stratified, "
                             f"seed {cfg.split.seed}).")
    notes.append("Final rows: " + ", ".join(f"{s} {len(p):,}" for s, p in parts.items()) + ".")
    for s, p in parts.items():
        p.info["data_notes"] = notes
    full.info["data_notes"] = notes
    stats = full.info.get("split_stats", {})
    summary = {"steps": list(notes), "source": {k: v for k, v in full.info.items()
                                          if k in ("dataset", "licence", "folder", "files", "options")},
               "dedup_dropped": int(stats.get("rows_in", len(full)) - stats.get("rows_out", len(full))),
               "available": available}
    return PreparedData(parts["train"], parts["dev"], parts["test"], summary, full)


def check_labels_covered(data: PreparedData) -> None:
    """Every label that dev or test uses must occur in train, or the model cannot learn it."""
    if data.task == Task.REGRESSION:
        return
    names = data.label_set.names

    def present(ds: EmotionDataset) -> set[str]:
        return {lab for labs in ds.frame["labels"] for lab in labs}

    seen = present(data.train)
    for split in ("dev", "test"):
        missing = sorted(present(getattr(data, split)) - seen,
                         key=lambda n: names.index(n) if n in names else len(names))
        if missing:
            raise DataError(
                f"Labels in {split} never occur in train: {', '.join(missing)}",
                hint="Use a larger train split or sample (data.max_train), merge or drop these labels "
                     "(data.label_map / data.cap), or check data.label_col.",
            )


def check_no_leakage(data: PreparedData) -> None:
    """No normalised test or dev text occurs in train (:func:`emotune.data.splits.assert_no_leakage`)."""
    assert_no_leakage(data.train, data.test)
    assert_no_leakage(data.train, data.dev)
