"""GoEmotions: Reddit comments, 27 emotions + neutral (multi-label)."""

from __future__ import annotations

import pandas as pd

from emotune.data.corpora._common import folder, read_csv, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError

def goemotions_labels(data_root=None) -> tuple[str, ...]:
    root = folder(data_root, "goemotions")
    names = source_file(root, "emotions.txt").read_text(encoding="utf-8").split()
    return tuple(names)


def load_goemotions(data_root=None) -> EmotionDataset:
    root = folder(data_root, "goemotions")
    names = goemotions_labels(data_root)
    parts, files = [], []
    for split, fname in (("train", "train.tsv"), ("dev", "dev.tsv"), ("test", "test.tsv")):
        path = source_file(root, fname)
        files.append(str(path))
        raw = read_csv(path, sep="\t", header=None, names=["text", "label_ids", "comment_id"], dtype=str)
        labels = []
        for i, ids in enumerate(raw["label_ids"]):
            try:
                labels.append(tuple(names[int(j)] for j in str(ids).split(",") if j.strip() != ""))
            except (ValueError, IndexError):
                raise DataError(f"{path}, line {i + 1}: bad label ids '{ids}' (expected comma-separated 0-{len(names) - 1})") from None
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": labels, "split": split,
                                   "comment_id": raw["comment_id"].astype(object)}))
    ls = LabelSet(names, Task.MULTI, name="goemotions-28")
    return canonical("goemotions", pd.concat(parts, ignore_index=True), ls, {"files": files})
