"""Affect intensity and dimensions: WASSA-2017 EmoInt, EmoBank (valence/arousal/dominance)."""

from __future__ import annotations

import csv

import pandas as pd

from emotune.data.corpora._common import check_columns, folder, read_csv, source_file
from emotune.data.corpora.semeval2018 import emotions_option
from emotune.data.dataset import SPLIT_ALIASES, EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task


def load_wassa2017(data_root=None, emotion=None) -> EmotionDataset:
    root = folder(data_root, "wassa2017_emoint")
    emos = emotions_option(emotion)
    parts, files = [], []
    for emo in emos:
        for split, suffix in (("train", "train"), ("dev", "dev.gold"), ("test", "test.gold")):
            path = source_file(root, f"{emo}-ratings-0to1.{suffix}.txt")
            files.append(str(path))
            raw = read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                           names=["id", "tweet", "emotion", "score"])
            parts.append(pd.DataFrame({"text_original": raw["tweet"].astype(object),
                                       "targets": [(float(v),) for v in raw["score"]], "split": split,
                                       "emotion": emo, "tweet_id": raw["id"].astype(object)}))
    ls = LabelSet(("intensity",), Task.REGRESSION, name="wassa2017")
    return canonical("wassa2017", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": ["Same tweets as the SemEval-2018 EI training set: never train on one and test on the other."]})


# -- EmoBank --------------------------------------------------------------------------------------
def load_emobank(data_root=None) -> EmotionDataset:
    root = folder(data_root, "emobank")
    path = source_file(root, "emobank.csv")
    raw = read_csv(path, dtype=str)
    check_columns(path, raw, ["id", "split", "V", "A", "D", "text"])
    empty = raw["text"].fillna("").str.strip().isin(["", "None"])  # the one empty text is written as None
    dropped = raw.loc[empty, "id"].tolist()
    raw = raw[~empty]
    frame = pd.DataFrame({
        "text_original": raw["text"].astype(object),
        "targets": [tuple(map(float, v)) for v in zip(raw["V"], raw["A"], raw["D"])],
        "split": raw["split"].map(lambda s: SPLIT_ALIASES.get(str(s).strip().lower(), str(s))),
        "source_id": raw["id"].astype(object),
    })
    meta = root / "meta.tsv"
    if meta.is_file():
        m = read_csv(meta, sep="\t", dtype=str)
        if {"id", "category"} <= set(m.columns):
            frame["genre"] = frame["source_id"].map(dict(zip(m["id"], m["category"])))
    ls = LabelSet(("V", "A", "D"), Task.REGRESSION, name="emobank-vad",
                  description={"V": "valence 1-5", "A": "arousal 1-5", "D": "dominance 1-5"})
    return canonical("emobank", frame, ls, {
        "files": [str(path)],
        "notes": [f"Dropped {len(dropped)} row(s) with empty text ({', '.join(dropped)})."] if dropped else []})
