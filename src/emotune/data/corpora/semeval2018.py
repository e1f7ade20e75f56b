"""SemEval-2018 Task 1 (English): E-c, EI-reg, EI-oc, V-reg, V-oc."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.corpora._common import check_columns, folder, read_csv, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, did_you_mean

SEMEVAL_EMOTIONS = ("anger", "fear", "joy", "sadness")
_SEMEVAL_SPLIT_FILES = (("train", "train"), ("dev", "dev"), ("test", "test-gold"))
SEMEVAL_EC_LABELS = ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism",
                     "sadness", "surprise", "trust")


def _read_semeval(path: Path) -> pd.DataFrame:
    return read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str)


def load_semeval_ec(data_root=None) -> EmotionDataset:
    root = folder(data_root, "semeval2018_task1_en")
    parts, files = [], []
    for split, suffix in _SEMEVAL_SPLIT_FILES:
        path = source_file(root, "E-c", f"E-c-En-{suffix}.txt")
        files.append(str(path))
        raw = _read_semeval(path)
        check_columns(path, raw, ["ID", "Tweet", *SEMEVAL_EC_LABELS])
        ind = raw[list(SEMEVAL_EC_LABELS)].astype(int).to_numpy()
        labels = [tuple(SEMEVAL_EC_LABELS[j] for j in np.flatnonzero(row)) for row in ind]
        parts.append(pd.DataFrame({"text_original": raw["Tweet"].astype(object), "labels": labels, "split": split,
                                   "tweet_id": raw["ID"].astype(object)}))
    ls = LabelSet(SEMEVAL_EC_LABELS, Task.MULTI, name="semeval-ec-11")
    return canonical("semeval-ec", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "notes": ["All-zero rows (no emotion / neutral) have an empty label tuple."]})


def emotions_option(emotion) -> tuple[str, ...]:
    if emotion in (None, "", "all"):
        return SEMEVAL_EMOTIONS
    items = [emotion] if isinstance(emotion, str) else list(emotion)
    for e in items:
        if e not in SEMEVAL_EMOTIONS:
            raise DataError(f"Unknown emotion '{e}' for this dataset; choose from {list(SEMEVAL_EMOTIONS)} or 'all'",
                            hint=did_you_mean(str(e), SEMEVAL_EMOTIONS))
    return tuple(items)


def _load_semeval_ei(data_root, kind: str, emotion) -> tuple[pd.DataFrame, list[str]]:
    root = folder(data_root, "semeval2018_task1_en")
    col = "Intensity Score" if kind == "reg" else "Intensity Class"
    parts, files = [], []
    for emo in emotions_option(emotion):
        for split, suffix in _SEMEVAL_SPLIT_FILES:
            path = source_file(root, f"EI-{kind}", f"EI-{kind}-En-{emo}-{suffix}.txt")
            files.append(str(path))
            raw = _read_semeval(path)
            check_columns(path, raw, ["ID", "Tweet", col])
            parts.append(pd.DataFrame({"text_original": raw["Tweet"].astype(object), "value": raw[col], "split": split,
                                       "emotion": emo, "tweet_id": raw["ID"].astype(object)}))
    return pd.concat(parts, ignore_index=True), files


def _oc_class(value: str, path_hint: str) -> str:
    head = str(value).split(":", 1)[0].strip()
    try:
        return str(int(head))
    except ValueError:
        raise DataError(f"{path_hint}: bad intensity class '{value}'") from None


def load_semeval_ei_reg(data_root=None, emotion=None) -> EmotionDataset:
    frame, files = _load_semeval_ei(data_root, "reg", emotion)
    frame["targets"] = [(float(v),) for v in frame.pop("value")]
    emos = emotions_option(emotion)
    ls = LabelSet(("intensity",), Task.REGRESSION, name="semeval-ei-reg")
    return canonical("semeval-ei-reg", frame, ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": [f"Intensity 0-1 for {', '.join(emos)}; the `emotion` column says which emotion a row scores."
                  + (" Stacked: a tweet can occur once per emotion (within-split duplicates by design)."
                     if len(emos) > 1 else "")]})


def load_semeval_ei_oc(data_root=None, emotion=None) -> EmotionDataset:
    frame, files = _load_semeval_ei(data_root, "oc", emotion)
    frame["labels"] = [(_oc_class(v, "EI-oc"),) for v in frame.pop("value")]
    emos = emotions_option(emotion)
    ls = LabelSet(("0", "1", "2", "3"), Task.SINGLE, name="semeval-ei-oc",
                  description={"0": "no emotion can be inferred", "1": "low amount", "2": "moderate amount",
                               "3": "high amount"})
    return canonical("semeval-ei-oc", frame, ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": [f"Ordinal intensity classes 0-3 for {', '.join(emos)} (as single-label classes)."]})


def _load_semeval_v(data_root, kind: str) -> tuple[pd.DataFrame, list[str]]:
    root = folder(data_root, "semeval2018_task1_en")
    col = "Intensity Score" if kind == "reg" else "Intensity Class"
    parts, files = [], []
    for split, suffix in _SEMEVAL_SPLIT_FILES:
        path = source_file(root, f"V-{kind}", f"Valence-{kind}-En-{suffix}.txt")
        files.append(str(path))
        raw = _read_semeval(path)
        check_columns(path, raw, ["ID", "Tweet", col])
        parts.append(pd.DataFrame({"text_original": raw["Tweet"].astype(object), "value": raw[col], "split": split,
                                   "tweet_id": raw["ID"].astype(object)}))
    return pd.concat(parts, ignore_index=True), files


def load_semeval_v_reg(data_root=None) -> EmotionDataset:
    frame, files = _load_semeval_v(data_root, "reg")
    frame["targets"] = [(float(v),) for v in frame.pop("value")]
    ls = LabelSet(("valence",), Task.REGRESSION, name="semeval-v-reg")
    return canonical("semeval-v-reg", frame, ls, {"files": files})


V_OC_LABELS = ("-3", "-2", "-1", "0", "1", "2", "3")


def load_semeval_v_oc(data_root=None) -> EmotionDataset:
    frame, files = _load_semeval_v(data_root, "oc")
    frame["labels"] = [(_oc_class(v, "V-oc"),) for v in frame.pop("value")]
    ls = LabelSet(V_OC_LABELS, Task.SINGLE, name="semeval-v-oc",
                  description={"-3": "very negative", "0": "neutral or mixed", "3": "very positive"})
    return canonical("semeval-v-oc", frame, ls, {"files": files})
