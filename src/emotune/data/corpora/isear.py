"""ISEAR: self-reported emotion episodes (7 labels, no official split)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotune.data.corpora._common import check_columns, folder, read_csv, single, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task


ISEAR_LABELS = ("anger", "disgust", "fear", "guilt", "joy", "sadness", "shame")


def load_isear(data_root=None) -> EmotionDataset:
    root = folder(data_root, "isear")
    path = source_file(root, "isear.csv")
    raw = read_csv(path)
    check_columns(path, raw, ["text", "emotion", "intensity", "gender", "age", "country", "respondent_id"])
    frame = pd.DataFrame({
        "text_original": raw["text"].astype(object),
        "labels": single(raw["emotion"]),
        "split": "",
        "intensity": pd.to_numeric(raw["intensity"], errors="coerce").replace(0, np.nan),
        "gender": raw["gender"].astype(object).replace("", np.nan),
        "age": pd.to_numeric(raw["age"], errors="coerce"),
        "country": raw["country"].astype(object),
        "respondent_id": raw["respondent_id"].astype(str),
        "source_id": raw["id"].astype(str) if "id" in raw.columns else np.arange(1, len(raw) + 1).astype(str),
    })
    if "is_placeholder" in raw.columns:
        frame["is_placeholder"] = pd.to_numeric(raw["is_placeholder"], errors="coerce").fillna(0).astype(bool)
    ls = LabelSet(ISEAR_LABELS, Task.SINGLE, name="isear-7")
    return canonical("isear", frame, ls, {
        "files": [str(path)],
        "notes": ["ISEAR has no official split; intensity 0 (missing) is NaN; respondent_id groups ~7 texts "
                  "of one respondent (use split.group_by=respondent_id for a respondent-disjoint split)."],
    }, placeholders=True)
