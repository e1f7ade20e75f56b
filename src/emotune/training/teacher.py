"""Teacher files (out-of-fold soft labels for ``training.distill``): the format, reading, and giving every
train row its teacher's probabilities. Built by :mod:`emotune.training.distill`; read by the trainer.

JSONL: a header line ``{"format": "emotune-teacher/1", "labels": [...], "task": ..., "provenance": {...}}``,
then one line per train row ``{"key": <hash of the normalised text>, "text": ..., "probs": {label: p}}``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotune.config import RunConfig
from emotune.data.dataset import PreparedData
from emotune.data.labels import Task
from emotune.errors import ConfigError, DataError

FORMAT = "emotune-teacher/1"
DISTILL_BACKENDS = ("encoder", "causal-lm")  # the backends whose fit reads soft labels (SequenceClassifierMixin)


def row_key(text: str) -> str:
    """A train row's identity in a teacher file: the hash of its normalised text (as dedup sees it)."""
    from emotune.data.splits import normalize_for_dedup

    return hashlib.sha256(normalize_for_dedup(str(text)).encode("utf-8")).hexdigest()[:24]


@dataclass
class TeacherFile:
    path: Path
    labels: list[str]
    task: Task
    provenance: dict
    probs: dict[str, np.ndarray]  # row key -> probabilities in label order

    def __len__(self) -> int:
        return len(self.probs)

    def summary(self) -> dict:
        """What a student's metrics.json and model card record about its teacher."""
        return {"teacher": str(self.path), "sha256": _file_sha256(self.path), "rows": len(self), **self.provenance}


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_teacher_file(out: str | Path, labels: Sequence[str], task: Task, rows, provenance: dict, *,
                       label_set: str | None = None) -> TeacherFile:
    """Write ``rows`` of (train text, probabilities in label order) as a teacher file (atomically)."""
    out = Path(out)
    header = {"format": FORMAT, "labels": list(labels), "task": task.value, "label_set": label_set,
              "provenance": provenance}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(header, ensure_ascii=False) + "\n")
        for text, p in rows:
            fh.write(json.dumps({"key": row_key(text), "text": text,
                                 "probs": {lab: round(float(v), 6) for lab, v in zip(labels, p)}},
                                ensure_ascii=False) + "\n")
    tmp.replace(out)
    return read_teacher_file(out)


# -- reading and attaching ---------------------------------------------------------------------------
def read_teacher_file(path: str | Path) -> TeacherFile:
    """Parse a teacher file; every problem is a :class:`ConfigError` naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Teacher file not found: {path}",
                          hint="Build it with `emotune distill teacher RUN_OR_CONFIG... --out FILE`.")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    try:
        header = json.loads(lines[0]) if lines else None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}, line 1: not JSON ({exc.msg})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"{path}, line 1: not an emotune teacher file (expected a header with format {FORMAT})",
                          hint="Build it with `emotune distill teacher`.")
    labels = list(header.get("labels") or [])
    probs: dict[str, np.ndarray] = {}
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key, values = row["key"], row["probs"]
            probs[str(key)] = np.asarray([float(values[lab]) for lab in labels], dtype=np.float32)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}, line {n}: not JSON ({exc.msg})") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}, line {n}: a row needs 'key' and 'probs' with a number for every label "
                              f"({', '.join(labels)}); problem: {exc!r}") from None
    return TeacherFile(path, labels, Task(header.get("task", "single_label")), header.get("provenance") or {}, probs)


def attach_teacher(data: PreparedData, config: RunConfig) -> tuple[PreparedData, dict | None]:
    """``data`` with the teacher probabilities of every train row (``training.distill``), and what the
    run records about the teacher; ``(data, None)`` without distillation."""
    from emotune.models.hf.data import TEACHER_COLUMN

    distill = config.training.distill
    if distill is None:
        return data, None
    if config.model.backend not in DISTILL_BACKENDS:
        raise ConfigError(f"training.distill is available for the {' and '.join(DISTILL_BACKENDS)} backends, "
                          f"not '{config.model.backend}'")
    if data.task == Task.REGRESSION:
        raise ConfigError("training.distill needs a classification task (soft labels per class), not regression")
    teacher = read_teacher_file(distill.teacher)
    names = list(data.label_set.names)
    if teacher.labels != names or teacher.task != data.task:
        raise ConfigError(f"Teacher file {teacher.path} has labels {teacher.labels} ({teacher.task.value}); this run "
                          f"has {names} ({data.task.value})",
                          hint="Build the teacher file on the student's data config (emotune distill teacher --data).")
    held = {row_key(t) for split in (data.dev, data.test) for t in split.texts}
    leaked = held & teacher.probs.keys()
    if leaked:
        raise DataError(f"Teacher file {teacher.path} holds {len(leaked)} dev/test text(s) of this run: it was built "
                        "on another split, so the student would learn from its own evaluation rows",
                        hint="Rebuild the teacher file with the student's data config (same split seed and dataset).")
    keys = [row_key(t) for t in data.train.texts]
    missing = [i for i, k in enumerate(keys) if k not in teacher.probs]
    if missing:
        raise ConfigError(f"{len(missing)} of {len(keys)} train rows have no row in the teacher file {teacher.path} "
                          f"(e.g. {data.train.texts[missing[0]][:60]!r})",
                          hint="Build the teacher file on the student's data config (same dataset, split, "
                               "max_train), e.g. emotune distill teacher ... --data STUDENT_CONFIG.")
    frame = data.train.frame.copy()
    frame[TEACHER_COLUMN] = [teacher.probs[k] for k in keys]
    train = data.train.with_frame(frame)
    record = {**teacher.summary(), "alpha": distill.alpha, "temperature": distill.temperature}
    return PreparedData(train, data.dev, data.test, data.notes, data.full), record
