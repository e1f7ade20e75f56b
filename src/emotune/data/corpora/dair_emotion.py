"""dair-ai emotion (CARER): tweets with distant-supervision labels."""

from __future__ import annotations

import csv

import pandas as pd

from emotune.data.corpora._common import folder, read_csv, single, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task


DAIR_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")


def load_dair_emotion(data_root=None) -> EmotionDataset:
    root = folder(data_root, "dair_emotion")
    parts, files = [], []
    for split, fname in (("train", "train.txt"), ("dev", "val.txt"), ("test", "test.txt")):
        path = source_file(root, fname)
        files.append(str(path))
        raw = read_csv(path, sep=";", header=None, names=["text", "label"], dtype=str, quoting=csv.QUOTE_NONE)
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": single(raw["label"]),
                                   "split": split}))
    ls = LabelSet(DAIR_LABELS, Task.SINGLE, name="dair-6")
    return canonical("dair-emotion", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "notes": ["Distant-supervision labels (noisy); 'feel <emotion word>' is a strong shortcut."]})
