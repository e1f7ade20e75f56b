"""Loaders for the built-in datasets (``emotune data list``) into the canonical :class:`EmotionDataset`.

Every loader reads the files described in ``$EMOTUNE_DATA_DIR/<folder>/SOURCE.md`` and returns:

* ``text`` (cleaned, see :func:`emotune.data.cleaning.clean_text`) and ``text_original`` (as in the file),
* ``labels`` (tuple of names) or ``targets`` (tuple of floats),
* ``split`` = ``train`` / ``dev`` / ``test`` for an official split, ``""`` otherwise,
* ``dialogue_id`` / ``turn`` / ``speaker`` for conversations (dialogue ids are unique across splits),
* ``is_placeholder`` (non-answers) and dataset-specific metadata columns.

``load_dataset(name_or_path, **options)`` also accepts a user file (CSV/TSV/JSONL/Parquet); see
:mod:`emotune.data.files`.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.cleaning import clean_text, is_placeholder
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, did_you_mean
from emotune.paths import data_dir as _default_data_dir

SEMEVAL_EMOTIONS = ("anger", "fear", "joy", "sadness")
_SPLIT_ALIASES = {"train": "train", "dev": "dev", "valid": "dev", "validation": "dev", "val": "dev", "test": "test"}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str
    task: Task
    n_labels: int
    rows: str  # as in SOURCE.md (train / dev / test)
    licence: str
    description: str
    loader: Callable[..., EmotionDataset] = field(repr=False, compare=False)
    options: dict = field(default_factory=dict, compare=False)  # option -> allowed values / help
    aliases: tuple[str, ...] = ()


# -- file helpers ---------------------------------------------------------------------------------
def _file(root: Path, *parts: str) -> Path:
    path = root.joinpath(*parts)
    if not path.is_file():
        raise DataError(
            f"Data file not found: {path}",
            hint=f"Check that {root} holds the dataset as described in its SOURCE.md (or set EMOTUNE_DATA_DIR).",
        )
    return path


def _folder(data_root: Path | None, folder: str) -> Path:
    root = Path(data_root) if data_root is not None else _default_data_dir()
    path = root / folder
    if not path.is_dir():
        raise DataError(
            f"Dataset folder not found: {path}",
            hint="Set EMOTUNE_DATA_DIR to the folder that holds the datasets (see `emotune data list`).",
        )
    return path


def _read_csv(path: Path, **kw) -> pd.DataFrame:
    try:
        return pd.read_csv(path, encoding="utf-8", keep_default_na=False, **kw)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise DataError(f"{path}: cannot be parsed ({exc})") from None


def _check_columns(path: Path, frame: pd.DataFrame, columns) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; found {list(frame.columns)}")


def _finish(name: str, frame: pd.DataFrame, label_set: LabelSet, info: dict, *,
            placeholders: bool = False) -> EmotionDataset:
    """Add cleaned text + placeholder flags and return the canonical dataset.

    ``placeholders``: flag survey-style non-answers with :func:`is_placeholder`. Only for free-text
    answers (ISEAR, situation descriptions, user files): in conversations "I don't know." or
    "Nothing." are genuine utterances with an emotion label, so there only the source's own flags count.
    """
    frame = frame.reset_index(drop=True)
    originals = ["" if (t is None or (isinstance(t, float) and t != t)) else str(t)
                 for t in frame["text_original"].tolist()]
    # object dtype: iterating pandas' arrow-backed strings row by row is ~50x slower
    frame["text_original"] = pd.Series(originals, dtype=object, index=frame.index)
    frame["text"] = pd.Series([clean_text(t) for t in originals], dtype=object, index=frame.index)
    if placeholders:
        flag = np.array([is_placeholder(t) for t in frame["text"].tolist()], dtype=bool)
    else:
        flag = np.zeros(len(frame), dtype=bool)
    if "is_placeholder" in frame.columns:
        flag |= frame["is_placeholder"].astype(bool).to_numpy()
    frame["is_placeholder"] = flag
    if "split" not in frame.columns:
        frame["split"] = ""
    frame["split"] = frame["split"].astype(object)
    front = [c for c in ("text", "text_original", "labels", "targets", "split", "dialogue_id", "turn", "speaker")
             if c in frame.columns]
    frame = frame[front + [c for c in frame.columns if c not in front]]
    info = {"dataset": name, **info}
    return EmotionDataset(name, frame, label_set, info)


def _single(labels) -> list[tuple[str, ...]]:
    return [(str(x),) for x in labels]


# -- ISEAR ----------------------------------------------------------------------------------------
ISEAR_LABELS = ("anger", "disgust", "fear", "guilt", "joy", "sadness", "shame")


def load_isear(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "isear")
    path = _file(root, "isear.csv")
    raw = _read_csv(path)
    _check_columns(path, raw, ["text", "emotion", "intensity", "gender", "age", "country", "respondent_id"])
    frame = pd.DataFrame({
        "text_original": raw["text"].astype(object),
        "labels": _single(raw["emotion"]),
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
    return _finish("isear", frame, ls, {
        "files": [str(path)],
        "notes": ["ISEAR has no official split; intensity 0 (missing) is NaN; respondent_id groups ~7 texts "
                  "of one respondent (use split.group_by=respondent_id for a respondent-disjoint split)."],
    }, placeholders=True)


# -- GoEmotions -----------------------------------------------------------------------------------
def goemotions_labels(data_root=None) -> tuple[str, ...]:
    root = _folder(data_root, "goemotions")
    names = _file(root, "emotions.txt").read_text(encoding="utf-8").split()
    return tuple(names)


def load_goemotions(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "goemotions")
    names = goemotions_labels(data_root)
    parts, files = [], []
    for split, fname in (("train", "train.tsv"), ("dev", "dev.tsv"), ("test", "test.tsv")):
        path = _file(root, fname)
        files.append(str(path))
        raw = _read_csv(path, sep="\t", header=None, names=["text", "label_ids", "comment_id"], dtype=str)
        labels = []
        for i, ids in enumerate(raw["label_ids"]):
            try:
                labels.append(tuple(names[int(j)] for j in str(ids).split(",") if j.strip() != ""))
            except (ValueError, IndexError):
                raise DataError(f"{path}, line {i + 1}: bad label ids '{ids}' (expected comma-separated 0-{len(names) - 1})") from None
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": labels, "split": split,
                                   "comment_id": raw["comment_id"].astype(object)}))
    ls = LabelSet(names, Task.MULTI, name="goemotions-28")
    return _finish("goemotions", pd.concat(parts, ignore_index=True), ls, {"files": files})


# -- SemEval-2018 Task 1 --------------------------------------------------------------------------
_SEMEVAL_SPLIT_FILES = (("train", "train"), ("dev", "dev"), ("test", "test-gold"))
SEMEVAL_EC_LABELS = ("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism",
                     "sadness", "surprise", "trust")


def _read_semeval(path: Path) -> pd.DataFrame:
    return _read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, dtype=str)


def load_semeval_ec(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "semeval2018_task1_en")
    parts, files = [], []
    for split, suffix in _SEMEVAL_SPLIT_FILES:
        path = _file(root, "E-c", f"E-c-En-{suffix}.txt")
        files.append(str(path))
        raw = _read_semeval(path)
        _check_columns(path, raw, ["ID", "Tweet", *SEMEVAL_EC_LABELS])
        ind = raw[list(SEMEVAL_EC_LABELS)].astype(int).to_numpy()
        labels = [tuple(SEMEVAL_EC_LABELS[j] for j in np.flatnonzero(row)) for row in ind]
        parts.append(pd.DataFrame({"text_original": raw["Tweet"].astype(object), "labels": labels, "split": split,
                                   "tweet_id": raw["ID"].astype(object)}))
    ls = LabelSet(SEMEVAL_EC_LABELS, Task.MULTI, name="semeval-ec-11")
    return _finish("semeval-ec", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "notes": ["All-zero rows (no emotion / neutral) have an empty label tuple."]})


def _emotions_option(emotion) -> tuple[str, ...]:
    if emotion in (None, "", "all"):
        return SEMEVAL_EMOTIONS
    items = [emotion] if isinstance(emotion, str) else list(emotion)
    for e in items:
        if e not in SEMEVAL_EMOTIONS:
            raise DataError(f"Unknown emotion '{e}' for this dataset; choose from {list(SEMEVAL_EMOTIONS)} or 'all'",
                            hint=did_you_mean(str(e), SEMEVAL_EMOTIONS))
    return tuple(items)


def _load_semeval_ei(data_root, kind: str, emotion) -> tuple[pd.DataFrame, list[str]]:
    root = _folder(data_root, "semeval2018_task1_en")
    col = "Intensity Score" if kind == "reg" else "Intensity Class"
    parts, files = [], []
    for emo in _emotions_option(emotion):
        for split, suffix in _SEMEVAL_SPLIT_FILES:
            path = _file(root, f"EI-{kind}", f"EI-{kind}-En-{emo}-{suffix}.txt")
            files.append(str(path))
            raw = _read_semeval(path)
            _check_columns(path, raw, ["ID", "Tweet", col])
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
    emos = _emotions_option(emotion)
    ls = LabelSet(("intensity",), Task.REGRESSION, name="semeval-ei-reg")
    return _finish("semeval-ei-reg", frame, ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": [f"Intensity 0-1 for {', '.join(emos)}; the `emotion` column says which emotion a row scores."
                  + (" Stacked: a tweet can occur once per emotion (within-split duplicates by design)."
                     if len(emos) > 1 else "")]})


def load_semeval_ei_oc(data_root=None, emotion=None) -> EmotionDataset:
    frame, files = _load_semeval_ei(data_root, "oc", emotion)
    frame["labels"] = [(_oc_class(v, "EI-oc"),) for v in frame.pop("value")]
    emos = _emotions_option(emotion)
    ls = LabelSet(("0", "1", "2", "3"), Task.SINGLE, name="semeval-ei-oc",
                  description={"0": "no emotion can be inferred", "1": "low amount", "2": "moderate amount",
                               "3": "high amount"})
    return _finish("semeval-ei-oc", frame, ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": [f"Ordinal intensity classes 0-3 for {', '.join(emos)} (as single-label classes)."]})


def _load_semeval_v(data_root, kind: str) -> tuple[pd.DataFrame, list[str]]:
    root = _folder(data_root, "semeval2018_task1_en")
    col = "Intensity Score" if kind == "reg" else "Intensity Class"
    parts, files = [], []
    for split, suffix in _SEMEVAL_SPLIT_FILES:
        path = _file(root, f"V-{kind}", f"Valence-{kind}-En-{suffix}.txt")
        files.append(str(path))
        raw = _read_semeval(path)
        _check_columns(path, raw, ["ID", "Tweet", col])
        parts.append(pd.DataFrame({"text_original": raw["Tweet"].astype(object), "value": raw[col], "split": split,
                                   "tweet_id": raw["ID"].astype(object)}))
    return pd.concat(parts, ignore_index=True), files


def load_semeval_v_reg(data_root=None) -> EmotionDataset:
    frame, files = _load_semeval_v(data_root, "reg")
    frame["targets"] = [(float(v),) for v in frame.pop("value")]
    ls = LabelSet(("valence",), Task.REGRESSION, name="semeval-v-reg")
    return _finish("semeval-v-reg", frame, ls, {"files": files})


V_OC_LABELS = ("-3", "-2", "-1", "0", "1", "2", "3")


def load_semeval_v_oc(data_root=None) -> EmotionDataset:
    frame, files = _load_semeval_v(data_root, "oc")
    frame["labels"] = [(_oc_class(v, "V-oc"),) for v in frame.pop("value")]
    ls = LabelSet(V_OC_LABELS, Task.SINGLE, name="semeval-v-oc",
                  description={"-3": "very negative", "0": "neutral or mixed", "3": "very positive"})
    return _finish("semeval-v-oc", frame, ls, {"files": files})


# -- dair-ai emotion ------------------------------------------------------------------------------
DAIR_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")


def load_dair_emotion(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "dair_emotion")
    parts, files = [], []
    for split, fname in (("train", "train.txt"), ("dev", "val.txt"), ("test", "test.txt")):
        path = _file(root, fname)
        files.append(str(path))
        raw = _read_csv(path, sep=";", header=None, names=["text", "label"], dtype=str, quoting=csv.QUOTE_NONE)
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": _single(raw["label"]),
                                   "split": split}))
    ls = LabelSet(DAIR_LABELS, Task.SINGLE, name="dair-6")
    return _finish("dair-emotion", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "notes": ["Distant-supervision labels (noisy); 'feel <emotion word>' is a strong shortcut."]})


# -- MELD -----------------------------------------------------------------------------------------
MELD_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


def load_meld(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "meld")
    parts, files = [], []
    for split in ("train", "dev", "test"):
        path = _file(root, f"{split}_sent_emo.csv")
        files.append(str(path))
        raw = _read_csv(path, dtype=str)
        _check_columns(path, raw, ["Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID"])
        parts.append(pd.DataFrame({
            "text_original": raw["Utterance"].astype(object),
            "labels": _single(raw["Emotion"].str.strip().str.lower()),
            "split": split,
            "dialogue_id": (f"{split}-" + raw["Dialogue_ID"].astype(str)).astype(object),
            "turn": pd.to_numeric(raw["Utterance_ID"], errors="raise").astype(int),
            "speaker": raw["Speaker"].astype(object),
            "sentiment": raw["Sentiment"].astype(object),
            "season": pd.to_numeric(raw.get("Season"), errors="coerce"),
            "episode": pd.to_numeric(raw.get("Episode"), errors="coerce"),
        }))
    ls = LabelSet(MELD_LABELS, Task.SINGLE, name="meld-7")
    return _finish("meld", pd.concat(parts, ignore_index=True), ls, {
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
    root = _folder(data_root, "emorynlp")
    parts, files = [], []
    for split in ("train", "dev", "test"):
        path = _file(root, f"emorynlp_{split}_final.csv")
        files.append(str(path))
        raw = _read_csv(path, dtype=str)
        _check_columns(path, raw, ["Utterance", "Speaker", "Emotion", "Scene_ID", "Utterance_ID", "Season", "Episode"])
        dialogue = (f"{split}-s" + raw["Season"].astype(str) + "e" + raw["Episode"].astype(str) + "c"
                    + raw["Scene_ID"].astype(str))
        parts.append(pd.DataFrame({
            "text_original": raw["Utterance"].astype(object),
            "labels": _single(raw["Emotion"].str.strip().str.lower()),
            "split": split,
            "dialogue_id": dialogue.astype(object),
            "turn": pd.to_numeric(raw["Utterance_ID"], errors="raise").astype(int),
            "speaker": [_parse_speaker(v, path, i + 2) for i, v in enumerate(raw["Speaker"])],
            "season": pd.to_numeric(raw["Season"], errors="coerce"),
            "episode": pd.to_numeric(raw["Episode"], errors="coerce"),
        }))
    ls = LabelSet(EMORYNLP_LABELS, Task.SINGLE, name="emorynlp-7")
    return _finish("emorynlp", pd.concat(parts, ignore_index=True), ls, {
        "files": files,
        "notes": ["dialogue_id = '<split>-s<season>e<episode>c<scene>'; labels lower-cased (Willcox wheel)."]})


# -- DailyDialog ----------------------------------------------------------------------------------
DAILYDIALOG_LABELS = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")
_DD_ACTS = {"1": "inform", "2": "question", "3": "directive", "4": "commissive"}


def load_dailydialog(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "dailydialog")
    rows, files = [], []
    for split, fsplit in (("dev", "validation"), ("test", "test")):
        paths = [_file(root, f"dialogues_{fsplit}.txt"), _file(root, f"dialogues_emotion_{fsplit}.txt"),
                 _file(root, f"dialogues_act_{fsplit}.txt")]
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
    return _finish("dailydialog", frame, ls, {
        "files": files,
        "notes": ["Only the official validation (dev) and test splits exist (no train text).",
                  "Emotion id 0 'no emotion' is named 'neutral'; the other names are DailyDialog's.",
                  "Speakers alternate A/B within a dialogue (the corpus has no speaker names)."]})


# -- EmpatheticDialogues situations -------------------------------------------------------------------
def empathetic_labels(data_root=None) -> tuple[str, ...]:
    root = _folder(data_root, "empathetic_dialogues_situations")
    table = _read_csv(_file(root, "labels.tsv"), sep="\t", dtype=str)
    _check_columns(root / "labels.tsv", table, ["label", "emotion"])
    table = table.assign(label=table["label"].astype(int)).sort_values("label")
    return tuple(table["emotion"].str.strip())


def load_empathetic(data_root=None, use_aug_text: bool = False) -> EmotionDataset:
    root = _folder(data_root, "empathetic_dialogues_situations")
    names = empathetic_labels(data_root)
    parts, files = [], []
    for split, fname in (("train", "train.csv"), ("dev", "valid.csv"), ("test", "test.csv")):
        path = _file(root, fname)
        files.append(str(path))
        raw = _read_csv(path, dtype=str)
        _check_columns(path, raw, ["text", "label"])
        labels = [(names[int(v)],) for v in raw["label"]]
        parts.append(pd.DataFrame({"text_original": raw["text"].astype(object), "labels": labels, "split": split}))
        if use_aug_text and "aug_text" in raw.columns:
            parts.append(pd.DataFrame({"text_original": raw["aug_text"].astype(object), "labels": labels,
                                       "split": split, "augmented": True}))
    frame = pd.concat(parts, ignore_index=True)
    if "augmented" in frame.columns:
        frame["augmented"] = frame["augmented"].fillna(False).astype(bool)
    ls = LabelSet(names, Task.SINGLE, name="empathetic-32")
    return _finish("empathetic-situations", frame, ls, {
        "files": files,
        "notes": ["Situation -> emotion (HypEmo-derived ED); the machine-made aug_text is ignored unless "
                  "options.use_aug_text=true."]}, placeholders=True)


# -- WASSA-2017 -----------------------------------------------------------------------------------
def load_wassa2017(data_root=None, emotion=None) -> EmotionDataset:
    root = _folder(data_root, "wassa2017_emoint")
    emos = _emotions_option(emotion)
    parts, files = [], []
    for emo in emos:
        for split, suffix in (("train", "train"), ("dev", "dev.gold"), ("test", "test.gold")):
            path = _file(root, f"{emo}-ratings-0to1.{suffix}.txt")
            files.append(str(path))
            raw = _read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                            names=["id", "tweet", "emotion", "score"])
            parts.append(pd.DataFrame({"text_original": raw["tweet"].astype(object),
                                       "targets": [(float(v),) for v in raw["score"]], "split": split,
                                       "emotion": emo, "tweet_id": raw["id"].astype(object)}))
    ls = LabelSet(("intensity",), Task.REGRESSION, name="wassa2017")
    return _finish("wassa2017", pd.concat(parts, ignore_index=True), ls, {
        "files": files, "options": {"emotion": list(emos)},
        "notes": ["Same tweets as the SemEval-2018 EI training set: never train on one and test on the other."]})


# -- EmoBank --------------------------------------------------------------------------------------
def load_emobank(data_root=None) -> EmotionDataset:
    root = _folder(data_root, "emobank")
    path = _file(root, "emobank.csv")
    raw = _read_csv(path, dtype=str)
    _check_columns(path, raw, ["id", "split", "V", "A", "D", "text"])
    empty = raw["text"].fillna("").str.strip().isin(["", "None"])  # the one empty text is written as None
    dropped = raw.loc[empty, "id"].tolist()
    raw = raw[~empty]
    frame = pd.DataFrame({
        "text_original": raw["text"].astype(object),
        "targets": [tuple(map(float, v)) for v in zip(raw["V"], raw["A"], raw["D"])],
        "split": raw["split"].map(lambda s: _SPLIT_ALIASES.get(str(s).strip().lower(), str(s))),
        "source_id": raw["id"].astype(object),
    })
    meta = root / "meta.tsv"
    if meta.is_file():
        m = _read_csv(meta, sep="\t", dtype=str)
        if {"id", "category"} <= set(m.columns):
            frame["genre"] = frame["source_id"].map(dict(zip(m["id"], m["category"])))
    ls = LabelSet(("V", "A", "D"), Task.REGRESSION, name="emobank-vad",
                  description={"V": "valence 1-5", "A": "arousal 1-5", "D": "dominance 1-5"})
    return _finish("emobank", frame, ls, {
        "files": [str(path)],
        "notes": [f"Dropped {len(dropped)} row(s) with empty text ({', '.join(dropped)})."] if dropped else []})


# -- registry -------------------------------------------------------------------------------------
_EMO_OPT = {"emotion": "anger | fear | joy | sadness | all (default: all four stacked, `emotion` column)"}

REGISTRY: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("isear", "isear", Task.SINGLE, 7, "7,666 (no official split)", "research use only (Geneva CISA)",
                "ISEAR self-reported emotion episodes", load_isear),
    DatasetSpec("goemotions", "goemotions", Task.MULTI, 28, "43,410 / 5,426 / 5,427", "Apache-2.0",
                "Reddit comments, 27 emotions + neutral", load_goemotions),
    DatasetSpec("semeval-ec", "semeval2018_task1_en", Task.MULTI, 11, "6,838 / 886 / 3,259",
                "research use, do not redistribute (NRC)", "SemEval-2018 Task 1 E-c tweets", load_semeval_ec,
                aliases=("semeval", "semeval-e-c")),
    DatasetSpec("semeval-ei-reg", "semeval2018_task1_en", Task.REGRESSION, 1, "7,102 / 1,464 / 4,068 (4 emotions)",
                "research use, do not redistribute (NRC)", "SemEval-2018 EI-reg emotion intensity",
                load_semeval_ei_reg, _EMO_OPT),
    DatasetSpec("semeval-ei-oc", "semeval2018_task1_en", Task.SINGLE, 4, "7,102 / 1,464 / 4,068 (4 emotions)",
                "research use, do not redistribute (NRC)", "SemEval-2018 EI-oc intensity classes 0-3",
                load_semeval_ei_oc, _EMO_OPT),
    DatasetSpec("semeval-v-reg", "semeval2018_task1_en", Task.REGRESSION, 1, "1,181 / 449 / 937",
                "research use, do not redistribute (NRC)", "SemEval-2018 V-reg valence", load_semeval_v_reg),
    DatasetSpec("semeval-v-oc", "semeval2018_task1_en", Task.SINGLE, 7, "1,181 / 449 / 937",
                "research use, do not redistribute (NRC)", "SemEval-2018 V-oc valence classes -3..3",
                load_semeval_v_oc),
    DatasetSpec("dair-emotion", "dair_emotion", Task.SINGLE, 6, "16,000 / 2,000 / 2,000",
                "research/educational use", "dair-ai emotion (CARER) tweets", load_dair_emotion,
                aliases=("dair", "emotion", "carer")),
    DatasetSpec("meld", "meld", Task.SINGLE, 7, "9,989 / 1,109 / 2,610", "GPL-3.0 (repo); Friends: research use",
                "MELD Friends utterances (dialogues)", load_meld),
    DatasetSpec("emorynlp", "emorynlp", Task.SINGLE, 7, "7,551 / 954 / 984", "research use",
                "EmoryNLP Friends utterances (dialogues)", load_emorynlp),
    DatasetSpec("dailydialog", "dailydialog", Task.SINGLE, 7, "- / 8,069 / 7,740 utterances", "CC BY-NC-SA 4.0",
                "DailyDialog utterances, dev + test only", load_dailydialog),
    DatasetSpec("empathetic-situations", "empathetic_dialogues_situations", Task.SINGLE, 32, "17,802 / 2,761 / 2,541",
                "CC BY-NC 4.0", "EmpatheticDialogues situation -> emotion", load_empathetic,
                {"use_aug_text": "true to add HypEmo's machine paraphrases (default false)"},
                aliases=("empathetic", "empathetic-dialogues", "ed")),
    DatasetSpec("wassa2017", "wassa2017_emoint", Task.REGRESSION, 1, "3,613 / 347 / 3,142", "research use (NRC)",
                "WASSA-2017 EmoInt intensity", load_wassa2017, _EMO_OPT, aliases=("wassa", "emoint")),
    DatasetSpec("emobank", "emobank", Task.REGRESSION, 3, "8,062 / 999 / 1,000", "CC BY-SA 4.0",
                "EmoBank valence/arousal/dominance", load_emobank),
]}
_ALIASES = {a: s.name for s in REGISTRY.values() for a in s.aliases}
_USER_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".ndjson", ".parquet", ".pq")


def dataset_names() -> list[str]:
    return list(REGISTRY)


def looks_like_path(name: str) -> bool:
    s = str(name)
    return ("/" in s or "\\" in s or s.lower().endswith(_USER_FILE_SUFFIXES) or Path(s).is_file())


def get_spec(name: str) -> DatasetSpec:
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise DataError(f"Unknown dataset '{name}'",
                        hint=did_you_mean(str(name), list(REGISTRY) + list(_ALIASES)) +
                        " (`emotune data list` shows all; a CSV/TSV/JSONL/Parquet path is also accepted)")
    return REGISTRY[key]


def list_datasets() -> list[dict]:
    """One row per built-in dataset: name, task, labels, rows, licence, folder."""
    return [{"name": s.name, "task": s.task.value, "labels": s.n_labels, "rows": s.rows, "licence": s.licence,
             "folder": s.folder, "description": s.description, "options": dict(s.options)}
            for s in REGISTRY.values()]


_CACHE: dict[tuple, EmotionDataset] = {}


def _copy(ds: EmotionDataset) -> EmotionDataset:
    info = json.loads(json.dumps(ds.info, default=str))
    return EmotionDataset(ds.name, ds.frame.copy(), ds.label_set, info)


def load_dataset(name: str, *, data_root: str | Path | None = None, cache: bool = True,
                 text_col: str | None = None, label_col: str | None = None, label_cols: list[str] | None = None,
                 target_cols: list[str] | None = None, split_col: str | None = None, **options) -> EmotionDataset:
    """Load a built-in dataset by name, or a user file by path, into the canonical form.

    ``options`` are loader options (``emotion`` for the SemEval EI / WASSA data, ``use_aug_text`` for
    EmpatheticDialogues; for user files ``labels``, ``sep``, ``sheet`` ... see :func:`load_file`).
    """
    if looks_like_path(name) and get_spec_or_none(name) is None:
        from emotune.data.files import load_file

        return load_file(name, text_col=text_col, label_col=label_col, label_cols=label_cols,
                         target_cols=target_cols, split_col=split_col, **options)
    spec = get_spec(name)
    allowed = set(spec.options)
    unknown = [k for k, v in options.items() if k not in allowed and v is not None]
    if unknown:
        raise DataError(f"Dataset '{spec.name}' has no option {unknown[0]!r}",
                        hint=("Its options: " + ", ".join(f"{k} ({v})" for k, v in spec.options.items()))
                        if spec.options else "It takes no options.")
    for col_opt, val in (("text_col", text_col), ("label_col", label_col), ("label_cols", label_cols),
                         ("target_cols", target_cols), ("split_col", split_col)):
        if val:
            raise DataError(f"'{col_opt}' applies to user files only; '{spec.name}' is a built-in dataset")
    root = Path(data_root) if data_root is not None else None
    key = (spec.name, str(root or _default_data_dir()), tuple(sorted((k, str(v)) for k, v in options.items())))
    if cache and key in _CACHE:
        return _copy(_CACHE[key])
    ds = spec.loader(root, **{k: v for k, v in options.items() if v is not None})
    ds.info.setdefault("licence", spec.licence)
    ds.info.setdefault("folder", spec.folder)
    if cache:
        _CACHE[key] = ds
        return _copy(ds)
    return ds


def get_spec_or_none(name: str) -> DatasetSpec | None:
    try:
        return get_spec(name)
    except DataError:
        return None
