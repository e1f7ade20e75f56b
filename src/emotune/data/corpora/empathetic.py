"""EmpatheticDialogues situations: situation -> one of 32 emotions."""

from __future__ import annotations

import pandas as pd

from emotune.data.corpora._common import check_columns, folder, read_csv, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task


def empathetic_labels(data_root=None) -> tuple[str, ...]:
    root = folder(data_root, "empathetic_dialogues_situations")
    table = read_csv(source_file(root, "labels.tsv"), sep="\t", dtype=str)
    check_columns(root / "labels.tsv", table, ["label", "emotion"])
    table = table.assign(label=table["label"].astype(int)).sort_values("label")
    return tuple(table["emotion"].str.strip())


def load_empathetic(data_root=None, use_aug_text: bool = False) -> EmotionDataset:
    root = folder(data_root, "empathetic_dialogues_situations")
    names = empathetic_labels(data_root)
    parts, files = [], []
    for split, fname in (("train", "train.csv"), ("dev", "valid.csv"), ("test", "test.csv")):
        path = source_file(root, fname)
        files.append(str(path))
        raw = read_csv(path, dtype=str)
        check_columns(path, raw, ["text", "label"])
        labels = [(names[int(v)],) for v in raw["label"]]
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": labels, "split": split}))
        if use_aug_text and "aug_text" in raw.columns:
            parts.append(pd.DataFrame({"text_original": raw["aug_text"].astype(object), "labels": labels,
                                       "split": split, "augmented": True}))
    frame = pd.concat(parts, ignore_index=True)
    if "augmented" in frame.columns:
        frame["augmented"] = frame["augmented"].fillna(False).astype(bool)
    ls = LabelSet(names, Task.SINGLE, name="empathetic-32")
    return canonical("empathetic-situations", frame, ls, {
        "files": files,
        "notes": ["Situation -> emotion (HypEmo-derived ED); the machine-made aug_text is ignored unless "
                  "options.use_aug_text=true."]}, placeholders=True)
