"""Conversations: MELD and EmoryNLP (Friends), DailyDialog; dialogue ids are unique across splits."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd

from emotune.data.corpora._common import check_columns, folder, read_csv, single, source_file
from emotune.data.dataset import EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError

MELD_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def load_meld(data_root=None) -> EmotionDataset:
    root = folder(data_root, "meld")
    parts, files = [], []
    for split in ("train", "dev", "test"):
        path = source_file(root, f"{split}_sent_emo.csv")
        files.append(str(path))
        raw = read_csv(path, dtype=str)
        check_columns(path, raw, ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
        parts.append(pd.DataFrame({
            "text_original": raw["Utterance"].astype(object),
            "labels": single(raw["Emotion"].str.strip().str.lower()),
            "split": split,
            "dialogue_id": (f"{split}-" + raw["Dialogue_ID"].astype(str)).astype(object),
            "turn": pd.to_numeric(raw["Utterance_ID"], errors="raise").astype(int),
            "speaker": raw["Speaker"].astype(object),
            "sentiment": raw["Sentiment"].astype(object),
            "season": pd.to_numeric(raw.get("Season"), errors="coerce"),
            "episode": pd.to_numeric(raw.get("Episode"), errors="coerce"),
        }))
    ls = LabelSet(MELD_LABELS, Task.SINGLE, name="meld-7")
    return canonical("meld", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "notes": ["dialogue_id = '<split>-<Dialogue_ID>' (MELD ids restart per split)."]})


# -- EmoryNLP -------------------------------------------------------------------------------------
EMORYNLP_LABELS = ("neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad")


def _parse_speaker(value, path: Path, line: int) -> str:
    text = str(value).strip()
    if not text.startswith("["):
        return text
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise DataError(f"{path}, line {line}: cannot parse Speaker {text!r} (expected a list like ['Ross Geller'])") from None
    if isinstance(parsed, (list, tuple)):
        return " & ".join(str(p) for p in parsed)
    return str(parsed)


def load_emorynlp(data_root=None) -> EmotionDataset:
    root = folder(data_root, "emorynlp")
    parts, files = [], []
    for split in ("train", "dev", "test"):
        path = source_file(root, f"emorynlp_{split}_final.csv")
        files.append(str(path))
        raw = read_csv(path, dtype=str)
        check_columns(path, raw, ["Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode"])
        dialogue = (f"{split}-s" + raw["Season"].astype(str) + "e" + raw["Episode"].astype(str) + "c"
                    + raw["Scene_ID"].astype(str))
        parts.append(pd.DataFrame({
            "text_original": raw["Utterance"].astype(object),
            "labels": single(raw["Emotion"].str.strip().str.lower()),
            "split": split,
            "dialogue_id": dialogue.astype(object),
            "turn": pd.to_numeric(raw["Utterance_ID"], errors="raise").astype(int),
            "speaker": [_parse_speaker(v, path, i + 2) for i, v in enumerate(raw["Speaker"])],
            "season": pd.to_numeric(raw["Season"], errors="coerce"),
            "episode": pd.to_numeric(raw["Episode"], errors="coerce"),
        }))
    ls = LabelSet(EMORYNLP_LABELS, Task.SINGLE, name="emorynlp-7")
    return canonical("emorynlp", pd.concat(parts, ignore_index=True), ls, {
        "files": files,
        "notes": ["dialogue_id = '<split>-s<season>e<episode>c<scene>'; labels lower-cased (Willcox wheel)."]})


# -- DailyDialog ----------------------------------------------------------------------------------
DAILYDIALOG_LABELS = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
_DD_ACTS = {"1": "inform", "2": "question", "3": "directive", "4": "commissive"}


def load_dailydialog(data_root=None) -> EmotionDataset:
    root = folder(data_root, "dailydialog")
    rows, files = [], []
    for split, fsplit in (("dev", "validation"), ("test", "test")):
        paths = [source_file(root, f"dialogues_{fsplit}.txt"), source_file(root, f"dialogues_emotion_{fsplit}.txt"),
                 source_file(root, f"dialogues_act_{fsplit}.txt")]
        files += [str(p) for p in paths]
        texts, emos, acts = (p.read_text(encoding="utf-8").splitlines() for p in paths)
        if not (len(texts) == len(emos) == len(acts)):
            raise DataError(f"{paths[0]}: {len(texts)} dialogues but {len(emos)} emotion / {len(acts)} act lines")
        for d, (line, eline, aline) in enumerate(zip(texts, emos, acts)):
            utts = [u.strip() for u in line.split("__eou__")]
            if utts and utts[-1] == "":
                utts = utts[:-1]
            e_ids, a_ids = eline.split(), aline.split()
            if not (len(utts) == len(e_ids) == len(a_ids)):
                raise DataError(f"{paths[0]}, line {d + 1}: {len(utts)} utterances but {len(e_ids)} emotion ids")
            for t, (u, e, a) in enumerate(zip(utts, e_ids, a_ids)):
                try:
                    label = DAILYDIALOG_LABELS[int(e)]
                except (ValueError, IndexError):
                    raise DataError(f"{paths[1]}, line {d + 1}: bad emotion id '{e}' (expected 0-6)") from None
                rows.append((u, (label,), split, f"{split}-{d}", t, "A" if t % 2 == 0 else "B", _DD_ACTS.get(a, a)))
    frame = pd.DataFrame(rows, columns=["text_original", "labels", "split", "dialogue_id", "turn", "speaker", "act"])
    ls = LabelSet(DAILYDIALOG_LABELS, Task.SINGLE, name="dailydialog-7",
                  description={"neutral": "DailyDialog id 0, 'no emotion'"})
    return canonical("dailydialog", frame, ls, {
        "files": files,
        "notes": ["Only the official validation (dev) and test splits exist (no train text).",
                  "Emotion id 0 'no emotion' is named 'neutral'; the other names are DailyDialog's.",
                  "Speakers alternate A/B within a dialogue (the corpus has no speaker names)."]})
