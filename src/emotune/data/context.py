"""Conversation context for utterance-level datasets (MELD, EmoryNLP, DailyDialog, user dialogue files).

:func:`add_context` rewrites ``text`` as the up-to-``window`` previous turns of the *same dialogue*
("Speaker: utterance", joined by ``cfg.separator``) followed by the target utterance marked with
``cfg.target_marker``::

    Monica: There's nothing to tell! </s> Joey: C'mon, you're going out with the guy! </s> >> Ross: Hi.

Only earlier turns are used (never later ones, never another dialogue). Apply it after splitting:
dialogue ids are unique per split, so context never crosses a split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from emotune.data.cleaning import clean_text
from emotune.data.dataset import EmotionDataset
from emotune.errors import DataError
from emotune.config import ContextConfig

__all__ = ["add_context", "check_dialogue_columns"]


def is_missing(value) -> bool:
    """None, NaN or blank: a dialogue field that is not there (training frames and streamed rows alike)."""
    return value is None or (isinstance(value, float) and value != value) or not str(value).strip()


def check_dialogue_columns(frame: pd.DataFrame, *, name: str = "dataset", speaker: bool = True) -> None:
    """Raise :class:`DataError` naming the column and row when a dialogue file lacks turn/speaker."""
    needed = ["dialogue_id", "turn"] + (["speaker"] if speaker else [])
    for col in needed:
        if col not in frame.columns:
            raise DataError(f"{name}: conversation context needs a '{col}' column, which is missing",
                            hint="Give dialogue_id, turn and speaker columns, or set context.window=0"
                                 + (" / context.speaker=false" if col == "speaker" else "") + ".")
    def where(row: int) -> str:  # the file's line for user files, else the row number
        if "source_line" in frame.columns:
            return f"line {frame['source_line'].iloc[row]}"
        return f"row {row + 1}"

    for col in needed:
        values = frame[col].tolist()
        bad = np.asarray([is_missing(v) for v in values])
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(f"{name}: {where(row)} has no '{col}' value ({int(bad.sum())} row(s) in all)",
                            hint=f"Every utterance of a dialogue needs a {col}.")
    turns = pd.to_numeric(frame["turn"], errors="coerce")
    if turns.isna().any():
        row = int(np.flatnonzero(turns.isna().to_numpy())[0])
        raise DataError(f"{name}: {where(row)} has a non-numeric 'turn' value {frame['turn'].iloc[row]!r}")


def _utterance(row_text: str, speaker, with_speaker: bool) -> str:
    if with_speaker and speaker is not None and str(speaker).strip() and str(speaker) != "nan":
        return f"{speaker}: {row_text}"
    return row_text


def add_context(ds: EmotionDataset, cfg: ContextConfig | None = None, *,
                source: EmotionDataset | None = None) -> EmotionDataset:
    """Return ``ds`` with ``text`` = previous turns + marked target utterance.

    ``source`` is where previous turns are looked up (default ``ds`` itself); the pipeline passes the
    loaded conversation before deduplication so that removed rows still count as context.
    """
    cfg = cfg or ContextConfig()
    if cfg.window <= 0:
        return ds
    if not ds.is_conversational and "dialogue_id" not in ds.frame.columns:
        raise DataError(f"Dataset '{ds.name}' has no dialogues: context.window={cfg.window} needs dialogue_id, turn "
                        "and speaker columns", hint="Set context.window=0 for non-conversational data.")
    check_dialogue_columns(ds.frame, name=ds.name, speaker=cfg.speaker)
    src = source if source is not None else ds
    check_dialogue_columns(src.frame, name=src.name, speaker=cfg.speaker)

    sf = src.frame
    utter = [clean_text(t) for t in sf["text_original"]] if "text_original" in sf.columns else sf["text"].tolist()
    spk = sf["speaker"].tolist() if "speaker" in sf.columns else [None] * len(sf)
    turns = pd.to_numeric(sf["turn"]).tolist()
    by_dialogue: dict = {}
    for d, t, u, s in zip([str(v) for v in sf["dialogue_id"].tolist()], turns, utter, spk):
        by_dialogue.setdefault(d, {})[t] = (u, s)
    history = {d: sorted(turns_.items()) for d, turns_ in by_dialogue.items()}

    frame = ds.frame.copy()
    texts = []
    own = frame["text"].tolist()
    for d, t, u, s in zip([str(v) for v in frame["dialogue_id"].tolist()], pd.to_numeric(frame["turn"]).tolist(), own,
                          frame["speaker"].tolist() if "speaker" in frame.columns else [None] * len(frame)):
        prev = [x for x in history.get(d, []) if x[0] < t][-cfg.window:]
        parts = [_utterance(pu, ps, cfg.speaker) for _, (pu, ps) in prev]
        parts.append(cfg.target_marker + _utterance(u, s, cfg.speaker))
        texts.append(cfg.separator.join(parts))
    frame["context_text"] = texts
    frame["utterance"] = own
    frame["text"] = texts
    out = ds.with_frame(frame)
    out.info["context"] = {"window": cfg.window, "speaker": cfg.speaker, "separator": cfg.separator,
                           "target_marker": cfg.target_marker}
    return out
