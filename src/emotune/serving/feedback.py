"""Feedback from the web page, kept durably in SQLite, and exported as a training set.

One row per feedback: when, which model, the text, what the model said (labels and scores as
JSON), the verdict (thumbs ``up``/``down`` or none) and the label the user says is right. SQLite
in WAL mode: writers do not block the readers of an export, and a committed row survives a crash.

:func:`export_feedback` writes ``text,label`` CSV rows that ``emotune train`` reads as a user
dataset (``data.dataset: FILE, data.text_col: text, data.label_col: label``): a row with a
corrected label gives that label; a thumbs-up without one gives the model's own top label; a
thumbs-down without a correction says what the label is *not* and is left out.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from emotune import atomic
from emotune.errors import DataError

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at    TEXT    NOT NULL,
    model_id      TEXT    NOT NULL,
    text          TEXT    NOT NULL,
    predicted     TEXT    NOT NULL,   -- JSON {"labels": [...], "scores": [{"label", "score"}, ...]}
    verdict       TEXT    CHECK (verdict IN ('up', 'down')),
    correct_label TEXT
);
"""


class FeedbackStore:
    """Thread-safe append-only store (the API calls it from a worker thread)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            with conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
            conn.close()
        except sqlite3.DatabaseError as exc:
            raise DataError(f"Cannot use {self.path} as the feedback database: {exc}") from None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=10)
        conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable at commit, no fsync per page
        return conn

    def add(self, *, model_id: str, text: str, predicted: dict, verdict: str | None = None,
            correct_label: str | None = None) -> int:
        if verdict not in (None, "up", "down"):
            raise ValueError(f"verdict must be 'up', 'down' or None, not {verdict!r}")
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._lock:
            conn = self._connect()
            try:
                with conn:
                    cur = conn.execute(
                        "INSERT INTO feedback (created_at, model_id, text, predicted, verdict, correct_label) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (now, model_id, text, json.dumps(predicted, ensure_ascii=False), verdict, correct_label))
                return int(cur.lastrowid)
            finally:
                conn.close()

    def rows(self) -> list[dict]:
        conn = self._connect()
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]
        finally:
            conn.close()

    def count(self) -> int:
        conn = self._connect()
        try:
            return int(conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0])
        finally:
            conn.close()


def training_rows(rows: Sequence[dict]) -> list[tuple[str, str]]:
    """(text, label) pairs: corrected labels, and the model's top label where the user agreed."""
    out = []
    for r in rows:
        label = (r.get("correct_label") or "").strip()
        if not label and r.get("verdict") == "up":
            try:
                pred = json.loads(r.get("predicted") or "{}")
            except json.JSONDecodeError:
                pred = {}
            labels = pred.get("labels") or [s.get("label") for s in pred.get("scores", [])[:1]]
            label = labels[0] if labels else ""
        if label and str(r.get("text") or "").strip():
            out.append((r["text"], label))
    return out


def read_feedback(db: str | Path) -> list[dict]:
    """Every feedback row, read through a read-only connection: an export never writes to its input."""
    db = Path(db)
    if not db.is_file():
        raise DataError(f"Feedback database not found: {db}",
                        hint="Start the server with --feedback-db PATH to collect feedback.")
    hint = "Give the SQLite file that `emotune serve --feedback-db` wrote."
    if db.stat().st_size == 0:
        raise DataError(f"{db} is empty, not a feedback database", hint=hint)
    try:
        # mode=ro: SQLite would otherwise turn any file it can open into a database
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        try:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM feedback ORDER BY id")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DataError(f"{db} is not a feedback database ({exc})", hint=hint) from None


def export_feedback(db: str | Path, out: str | Path, *, model_id: str | None = None) -> int:
    """Write the usable feedback as a ``text,label`` CSV; return the number of rows written."""
    db, out = Path(db), Path(out)
    if out.is_dir():
        raise DataError(f"--out {out} is a folder; give the CSV file to write (e.g. {out / 'feedback.csv'})")
    if out.exists() and out.resolve() == db.resolve():
        raise DataError(f"--out {out} is the feedback database itself; give another file")
    rows = read_feedback(db)
    if model_id:
        rows = [r for r in rows if r["model_id"] == model_id]
    pairs = training_rows(rows)
    buf = io.StringIO(newline="")
    writer = csv.writer(buf)
    writer.writerow(["text", "label"])
    writer.writerows(pairs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(out, buf.getvalue())  # a kill mid-export leaves the previous file, never half a CSV
    except OSError as exc:
        raise DataError(f"Cannot write {out}: {exc.strerror or exc}") from None
    return len(pairs)
