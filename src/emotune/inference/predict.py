"""Predictions for texts and for whole files, as plain functions (the CLI and the server call these).

:func:`predict_texts` scores a list of texts (long ones through overlapping windows, see
:mod:`emotune.inference.windows`) and returns one :class:`Prediction` per text.

:func:`predict_file` labels a CSV, TSV, JSONL or plain-text file in chunks, appending and
fsyncing every chunk to a hidden ``.NAME.partial`` beside the output, which is renamed over the
output once complete (:class:`OutputFile`): the output is never half written, and an interrupted
run loses at most the chunk in flight: rerunning the same command counts the complete rows of the
partial file (repairing a torn last line) and continues after them. Dialogue JSONL (``dialogue_id``, ``turn``, ``speaker``, ``text`` per
line) gets the same preceding-turn context the model was trained with.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune import atomic
from emotune.data.cleaning import clean_text
from emotune.data.files import iter_delimited, iter_jsonl, text_lines
from emotune.data.labels import Task
from emotune.errors import DataError, did_you_mean, writing
from emotune.inference.windows import predict_proba_long
from emotune.metrics import top_k_order

CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
DIALOGUE_FIELDS = ("dialogue_id", "turn", "speaker")


# -- texts --------------------------------------------------------------------------------------
@dataclass
class Prediction:
    labels: list[str]  # the decision: argmax (single), labels over threshold (multi), [] (regression)
    scores: list[tuple[str, float]]  # best first (classification) or target order (regression)
    windows: int = 1  # >1 when a long text was scored in overlapping windows

    def to_dict(self) -> dict:
        return {"labels": self.labels, "scores": [{"label": k, "score": v} for k, v in self.scores],
                "windows": self.windows}


@dataclass
class Scored:
    """One text's full score row and decision, before top-k (what the server's batcher returns)."""

    scores: np.ndarray
    labels: list[str]
    windows: int = 1


def score_texts(clf, texts: Sequence[str], batch_size: int | None = None, *, clean: bool = True) -> list[Scored]:
    if not len(texts):
        return []
    if clean:  # the normalisation training data went through (entities, mojibake, NFC, whitespace)
        texts = [clean_text(t) for t in texts]
    scores, counts = predict_proba_long(clf, texts, batch_size=batch_size)
    decided = clf.decide(scores)
    out = []
    for row, dec, n in zip(scores, decided, counts):
        if clf.task == Task.SINGLE:
            labels = [dec]
        elif clf.task == Task.MULTI:
            labels = list(dec)
        else:
            labels = []
        out.append(Scored(np.asarray(row, dtype=float), labels, int(n)))
    return out


def rank_scores(scored: Scored, names: Sequence[str], task: Task, k: int | None = None) -> Prediction:
    row = scored.scores
    order = top_k_order(task, row, k)
    return Prediction(scored.labels, [(names[j], round(float(row[j]), 6)) for j in order], scored.windows)


def predict_texts(clf, texts: Sequence[str], *, top_k: int | None = None, batch_size: int | None = None,
                  clean: bool = True) -> list[Prediction]:
    names = clf.label_set.names
    scored = score_texts(clf, texts, batch_size=batch_size, clean=clean)
    return [rank_scores(s, names, clf.task, top_k) for s in scored]


# -- files: reading -----------------------------------------------------------------------------
def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix == ".json":
        raise DataError(f"{path}: a JSON document cannot be streamed; give JSONL (one JSON object per line)",
                        hint="e.g. jq -c '.[]' data.json > data.jsonl")
    return "text"


@dataclass
class InputFile:
    """A file to label, streamed through the strict reader training uses (:mod:`emotune.data.files`):
    ragged rows, bad quoting, bytes that are not UTF-8 and NUL bytes are refused with file and line."""

    path: Path
    text_col: str = "text"
    fmt: str = field(init=False)
    columns: list[str] = field(init=False, default_factory=list)
    blank_rows: list[int] = field(init=False, default_factory=list)  # numbers (1-based) of rows with no text

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.path.is_file():
            raise DataError(f"Input file not found: {self.path}")
        self.fmt = _format(self.path)
        if self.fmt == "csv":
            _, header = next(iter_delimited(self.path, self._delimiter))
            self.columns = header
            if self.text_col not in header:
                raise DataError(
                    f"{self.path} has no column '{self.text_col}'; its columns are: {', '.join(header)}",
                    hint=f"Choose the text column with --text-col. {did_you_mean(self.text_col, header)}")
        elif self.fmt == "parquet":
            from emotune.data.files import parquet_columns

            self.columns = parquet_columns(self.path)
            if self.text_col not in self.columns:
                raise DataError(
                    f"{self.path} has no column '{self.text_col}'; its columns are: {', '.join(self.columns)}",
                    hint=f"Choose the text column with --text-col. {did_you_mean(self.text_col, self.columns)}")
        elif self.fmt == "text":
            self.columns = [self.text_col]

    @property
    def _delimiter(self) -> str:
        return CSV_SUFFIXES.get(self.path.suffix.lower(), ",")

    def records(self) -> Iterator[dict]:
        """Every row as a dict of its fields (CSV values are kept as the exact strings)."""
        if self.fmt == "csv":
            rows = iter_delimited(self.path, self._delimiter)
            _, header = next(rows)
            for _, row in rows:
                yield dict(zip(header, row))
        elif self.fmt == "jsonl":
            for lineno, rec in iter_jsonl(self.path):
                if self.text_col not in rec:
                    raise DataError(f"{self.path}, line {lineno}: no '{self.text_col}' field; it has: "
                                    f"{', '.join(rec) or 'no fields'}", hint="Choose the text field with --text-col.")
                yield rec
        elif self.fmt == "parquet":
            from emotune.data.files import iter_parquet

            for _, rec in iter_parquet(self.path):
                yield rec
        else:
            for lineno, line in enumerate(text_lines(self.path), 1):
                line = line.rstrip("\r\n")
                if "\x00" in line:
                    raise DataError(f"{self.path}, line {lineno} contains a NUL byte (\\x00)",
                                    hint="NUL is not text: the file may be binary or UTF-16; save it as UTF-8 text.")
                if line.strip():
                    yield {self.text_col: line}

    def count(self) -> int:
        """The number of rows (refusing a file without any); remembers the rows whose text is empty."""
        self.blank_rows = []
        total = 0
        for total, rec in enumerate(self.records(), 1):
            if not text_of(rec, self.text_col).strip():
                self.blank_rows.append(total)
        if total == 0:
            raise DataError(f"{self.path} has no rows to label" + (" (only a header)" if self.fmt == "csv" else ""),
                            hint="Give a file with one text per row.")
        return total


def text_of(rec: dict, text_col: str) -> str:
    value = rec.get(text_col)
    return "" if value is None else str(value)


# -- files: writing and resuming ----------------------------------------------------------------
class OutputFile:
    """Prediction rows for ``path``, written so that a crash never leaves a half file under that name.

    Rows are appended (and fsynced, chunk by chunk) to a hidden ``.NAME.partial`` beside the output;
    :meth:`commit` renames it over ``path`` once every row is there. So ``path`` holds either what it
    held before or the whole new output, and an interrupted run resumes from the partial file: on
    open, the complete rows already there are counted and a torn last row is cut off. ``overwrite``
    starts a new partial file and leaves ``path`` alone until the commit.
    """

    def __init__(self, path: Path, fieldnames: list[str] | None, *, overwrite: bool = False):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in CSV_SUFFIXES and suffix not in JSONL_SUFFIXES:
            raise DataError(f"Output file {self.path}: name it .csv, .tsv or .jsonl (that picks the format)")
        self.fmt = "csv" if suffix in CSV_SUFFIXES else "jsonl"
        self.delimiter = CSV_SUFFIXES.get(self.path.suffix.lower(), ",")
        self.fieldnames = fieldnames
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.overwrite = overwrite
        self._writing = False  # open() was called: this run's rows are in the partial file
        self._fh = None
        self._writer = None

    @property
    def source(self) -> Path | None:
        """Where the rows written so far are: the finished output, the partial file, or nowhere."""
        if self._writing:
            return self.partial
        if self.overwrite:
            return None
        if self.path.exists():  # finished (or, from an earlier release, interrupted in place)
            return self.path
        return self.partial if self.partial.exists() else None

    def existing_rows(self) -> tuple[int, dict | None]:
        """(complete data rows already written, the last of them); truncates a torn last row."""
        source = self.source
        if source is None or source.stat().st_size == 0:
            return 0, None
        rows, last, good_end = (self._scan_csv(source) if self.fmt == "csv" else self._scan_jsonl(source))
        if good_end < source.stat().st_size:
            with open(source, "r+b") as fh:  # the interrupted write: drop the partial row
                fh.truncate(good_end)
        return rows, last

    @staticmethod
    def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
        pos = 0
        with open(path, "rb") as fh:
            for line in fh:
                pos += len(line)
                yield line, pos

    def _scan_jsonl(self, path: Path) -> tuple[int, dict | None, int]:
        rows, last, good_end = 0, None, 0
        size = path.stat().st_size
        for line, end in self._lines(path):
            try:
                rec = json.loads(line) if line.endswith(b"\n") else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                rec = None
            if rec is None:
                if end == size:
                    break  # torn last line
                raise DataError(f"{path}: line {rows + 1} is not a complete JSON record",
                                hint="The output file was changed by hand; move it away or pass --overwrite.")
            rows, last, good_end = rows + 1, rec, end
        return rows, last, good_end

    def _scan_csv(self, path: Path) -> tuple[int, dict | None, int]:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            ends_with_newline = fh.read(1) == b"\n"
        consumed = [0]

        def lines():
            for line, end in self._lines(path):
                consumed[0] = end
                yield line.decode("utf-8")

        rows, last, good_end, header = 0, None, 0, None
        try:
            # csv.reader pulls one line at a time, so after each record ``consumed`` is its end
            for rec in csv.reader(lines(), delimiter=self.delimiter, strict=True):
                if consumed[0] == size and not ends_with_newline:
                    break  # the last record lacks its line end: it may be cut mid-field
                if header is None:
                    header = rec
                    if self.fieldnames is not None and header != self.fieldnames:
                        raise DataError(
                            f"{path} was written with other columns ({', '.join(header)})",
                            hint="Use the same options as the first run, or pass --overwrite to start again.")
                else:
                    rows, last = rows + 1, dict(zip(header, rec))
                good_end = consumed[0]
        except (csv.Error, UnicodeDecodeError):
            pass  # an unterminated quoted field or a cut character at the end: the torn row
        return rows, last, good_end

    def open(self) -> None:
        """Open the partial file for appending (called by the first :meth:`write`)."""
        with writing(self.path):  # the name the user gave, though the rows go to the partial file beside it
            self.path.parent.mkdir(parents=True, exist_ok=True)
            source = self.source
            if source is None:
                self.partial.unlink(missing_ok=True)  # a stale one from an interrupted --overwrite
            elif source == self.path:
                os.replace(self.path, self.partial)  # an unfinished output of an earlier release: resumed aside
            new = not self.partial.exists() or self.partial.stat().st_size == 0
            self._writing = True
            if self.fmt == "csv":
                self._fh = open(self.partial, "a", encoding="utf-8", newline="")
                self._writer = csv.DictWriter(self._fh, fieldnames=self.fieldnames, delimiter=self.delimiter,
                                              lineterminator="\n", extrasaction="ignore")
                if new:
                    self._writer.writeheader()
                    self._sync()
            else:
                self._fh = open(self.partial, "a", encoding="utf-8")

    def write(self, rows: list[dict]) -> None:
        if self._fh is None:
            self.open()
        with writing(self.path):  # disk full: the rows flushed before stay, a rerun resumes after them
            if self.fmt == "csv":
                self._writer.writerows(rows)
            else:
                self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            self._sync()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def commit(self) -> None:
        """Every row is written: the partial file becomes the output (one rename, fsynced)."""
        self.close()
        if self.source == self.partial:
            with writing(self.path):
                atomic.replace(self.partial, self.path)
        elif self.source == self.path:  # already complete: a partial file left by an interrupted --overwrite
            self.partial.unlink(missing_ok=True)
        self._writing = False


# -- files: predicting --------------------------------------------------------------------------
@dataclass
class FileResult:
    input: Path
    output: Path
    total: int  # rows in the input
    skipped: int  # rows already in the output from an earlier run
    written: int  # rows written now
    windows: int = 0  # texts that were scored in several windows
    context: bool = False  # turns were given their preceding turns (dialogue input, context run)
    gaps: list[str] = field(default_factory=list)  # dialogues whose turn numbers skip some
    blank_rows: list[int] = field(default_factory=list)  # rows with empty text: kept, left unlabelled

    @property
    def labelled(self) -> int:
        return self.skipped + self.written - len(self.blank_rows)

    def to_dict(self) -> dict:
        return {"input": str(self.input), "output": str(self.output), "total": self.total,
                "skipped": self.skipped, "written": self.written, "labelled": self.labelled,
                "blank_rows": len(self.blank_rows), "long_texts": self.windows,
                "context": self.context, "turn_gaps": self.gaps}


def prediction_fields(label_names: Sequence[str], task: Task, k: int | None) -> list[str]:
    """The columns a CSV output gets after the input's own columns."""
    fields = ["predicted"] if task != Task.REGRESSION else []
    if k and task != Task.REGRESSION:
        for i in range(1, min(k, len(label_names)) + 1):
            fields += [f"top{i}_label", f"top{i}_score"]
    else:
        prefix = "value_" if task == Task.REGRESSION else "prob_"
        fields += [prefix + n for n in label_names]
    return fields + ["windows"]


def _row_fields(pred: Prediction | None, names: Sequence[str], task: Task, k: int | None, csv_out: bool) -> dict:
    if pred is None:  # an empty text: nothing to classify, the row is kept so that rows stay aligned
        if csv_out:
            return {"predicted": "", "windows": 0}
        return {"predicted": None, "scores": {}, "windows": 0}
    predicted = ";".join(pred.labels) if csv_out else (pred.labels[0] if task == Task.SINGLE else pred.labels)
    if not csv_out:
        out = {"scores": dict(pred.scores), "windows": pred.windows}
        if task != Task.REGRESSION:
            out = {"predicted": predicted, **out}
        return out
    out = {"predicted": predicted, "windows": pred.windows} if task != Task.REGRESSION else {"windows": pred.windows}
    if k and task != Task.REGRESSION:
        for i, (lab, score) in enumerate(pred.scores, 1):
            out[f"top{i}_label"], out[f"top{i}_score"] = lab, score
    else:
        prefix = "value_" if task == Task.REGRESSION else "prob_"
        out.update({prefix + lab: score for lab, score in pred.scores})
    return out


class DialogueContext:
    """The model input of each turn: the turns before it (across chunk boundaries) + the turn.

    Keeps the last ``window`` turns of every dialogue seen so far and lets
    :func:`emotune.data.context.add_context` (the function training used) format them, so that
    serving sees exactly the text layout the model was trained on. Turns are expected in file
    order within a dialogue, as dialogue datasets are stored.
    """

    def __init__(self, context_config, text_col: str, path: Path | None = None):
        self.cfg = context_config
        self.text_col = text_col
        self.path = path
        self.history: dict[str, deque] = defaultdict(lambda: deque(maxlen=max(1, self.cfg.window)))
        self.last_turn: dict[str, tuple[float, int]] = {}  # dialogue -> (its last turn, that row)
        self.gaps: list[str] = []  # "dialogue d1: turn(s) 2-3 missing before row 5"

    def check(self, rec: dict, row: int) -> None:
        """Every turn needs a dialogue, a turn number (in order) and, when the run used them, a speaker;
        a dialogue whose turn numbers skip some is labelled with the turns it has and reported."""
        from emotune.data.context import is_missing

        where = f"{self.path}, row {row}"
        needed = ("dialogue_id", "turn") + (("speaker",) if self.cfg.speaker else ())
        for col in needed:
            if is_missing(rec.get(col)):
                raise DataError(f"{where}: no '{col}' value (the run was trained with {self.cfg.window} preceding "
                                "turns as context, which needs dialogue_id, turn" +
                                (" and speaker)" if self.cfg.speaker else ")"),
                                hint=f"Every turn of a dialogue needs a {col}.")
        try:
            turn = float(rec["turn"])
        except (TypeError, ValueError):
            raise DataError(f"{where}: 'turn' must be a number, not {rec['turn']!r}") from None
        did = str(rec["dialogue_id"])
        if did in self.last_turn:
            last, last_row = self.last_turn[did]
            if turn <= last:
                raise DataError(f"{where}: dialogue {did!r} turn {rec['turn']!r} comes after its turn {last:g} "
                                f"(row {last_row}): turns must be unique and in order within a dialogue",
                                hint="Sort the file by dialogue_id, then turn.")
            if turn > last + 1 and float(turn).is_integer() and float(last).is_integer():
                missing = f"{int(last) + 1}" + (f"-{int(turn) - 1}" if turn > last + 2 else "")
                self.gaps.append(f"dialogue {did!r}: turn(s) {missing} missing before row {row}")
        self.last_turn[did] = (turn, row)

    def _row(self, rec: dict) -> dict:
        text = str(rec.get(self.text_col) or "")
        return {"text": clean_text(text), "text_original": text, "dialogue_id": str(rec.get("dialogue_id")),
                "turn": rec.get("turn"), "speaker": rec.get("speaker"), "labels": ("?",)}

    def texts(self, records: list[dict]) -> list[str]:
        import pandas as pd

        from emotune.data.context import add_context
        from emotune.data.dataset import EmotionDataset
        from emotune.data.labels import LabelSet

        rows = [self._row(r) for r in records]
        earlier = [h for did in dict.fromkeys(r["dialogue_id"] for r in rows) for h in self.history[did]]
        unlabelled = LabelSet(("?",), name="unlabelled")  # add_context needs a dataset, not labels
        chunk = EmotionDataset("input", pd.DataFrame(rows), unlabelled)
        source = EmotionDataset("input", pd.DataFrame(earlier + rows), unlabelled)
        texts = add_context(chunk, self.cfg, source=source).frame["text"].tolist()
        self.remember(records, rows)
        return [str(t) for t in texts]

    def remember(self, records: list[dict], rows: list[dict] | None = None) -> None:
        for row in rows if rows is not None else [self._row(r) for r in records]:
            self.history[row["dialogue_id"]].append(row)


def predict_file(clf, input_path: str | Path, output_path: str | Path, *, text_col: str = "text",
                 top_k: int | None = None, batch_size: int | None = None, chunk_size: int = 512,
                 context=None, overwrite: bool = False, on_total: Callable[[int, int], None] | None = None,
                 on_progress: Callable[[int], None] | None = None) -> FileResult:
    """Label every row of ``input_path`` into ``output_path`` (resuming a previous, interrupted run).

    ``context``: a :class:`ContextConfig` with ``window > 0`` for dialogue JSONL (a run trained on
    dialogue context: ``clf.input_spec.context``). ``on_total(total, skipped)`` is called once before the work,
    ``on_progress(n)`` after every chunk.
    """
    inp = InputFile(Path(input_path), text_col)
    total = inp.count()  # the whole input read (and checked) before an --overwrite removes anything
    output_path = Path(output_path)
    if output_path.resolve() == inp.path.resolve():
        raise DataError(f"The output file must differ from the input file ({output_path})")
    task, names = clf.task, clf.label_set.names
    csv_out = output_path.suffix.lower() in CSV_SUFFIXES
    first = next(inp.records(), None)
    if inp.fmt in ("csv", "parquet"):
        in_cols = inp.columns
    elif first is not None:
        in_cols = list(first)
    else:
        in_cols = [text_col]
    fieldnames = None
    if csv_out:
        pred_cols = prediction_fields(names, task, top_k)
        fieldnames = [c for c in in_cols if c not in pred_cols] + pred_cols
    dialogue = context is not None and context.window > 0 and first is not None and "dialogue_id" in first
    ctx = DialogueContext(context, text_col, inp.path) if dialogue else None

    out = OutputFile(output_path, fieldnames, overwrite=overwrite)
    skip, last_written = out.existing_rows()
    if skip > total:
        raise DataError(f"{output_path} already has {skip} rows but {inp.path} has only {total}",
                        hint="It was written from another input: choose another output or pass --overwrite.")
    if on_total:
        on_total(total, skip)
    result = FileResult(inp.path, output_path, total, skip, 0, context=ctx is not None, blank_rows=inp.blank_rows)
    try:
        chunk: list[dict] = []
        index = 0
        for rec in inp.records():
            index += 1
            if index <= skip:
                if index == skip and last_written is not None and text_col in last_written \
                        and str(last_written[text_col]) != str(rec.get(text_col, "")):
                    raise DataError(
                        f"{output_path} does not continue {inp.path}: its row {skip} has another text",
                        hint="Choose another output file or pass --overwrite to start again.")
                if ctx is not None:
                    ctx.check(rec, index)
                    ctx.remember([rec])
                continue
            if ctx is not None:
                ctx.check(rec, index)
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                result.windows += _predict_chunk(clf, chunk, out, ctx, text_col, top_k, batch_size, csv_out)
                result.written += len(chunk)
                if on_progress:
                    on_progress(len(chunk))
                chunk = []
        if chunk:
            result.windows += _predict_chunk(clf, chunk, out, ctx, text_col, top_k, batch_size, csv_out)
            result.written += len(chunk)
            if on_progress:
                on_progress(len(chunk))
    finally:
        out.close()
    out.commit()
    if ctx is not None:
        result.gaps = ctx.gaps
    return result


def _predict_chunk(clf, records: list[dict], out: OutputFile, ctx, text_col: str, k: int | None,
                   batch_size: int | None, csv_out: bool) -> int:
    texts = ctx.texts(records) if ctx is not None else [text_of(r, text_col) for r in records]
    keep = [i for i, t in enumerate(texts) if t.strip() and text_of(records[i], text_col).strip()]
    preds: list[Prediction | None] = [None] * len(records)
    names = clf.label_set.names
    # context texts were built from cleaned turns already (cleaning again could touch the separator)
    for i, p in zip(keep, predict_texts(clf, [texts[i] for i in keep], top_k=k, batch_size=batch_size,
                                        clean=ctx is None)):
        preds[i] = p
    rows = []
    for rec, pred in zip(records, preds):
        row = {k_: (json.dumps(v, ensure_ascii=False) if csv_out and isinstance(v, (dict, list)) else v)
               for k_, v in rec.items()}
        row.update(_row_fields(pred, names, clf.task, k, csv_out))
        rows.append(row)
    out.write(rows)
    return sum(1 for p in preds if p is not None and p.windows > 1)


def read_output(path: str | Path) -> list[dict]:
    """The rows of a prediction output file (tests, notebooks)."""
    return list(iter_output(path))


def iter_output(path: str | Path) -> Iterator[dict]:
    """The rows of a prediction output file, one at a time."""
    path = Path(path)
    if path.suffix.lower() in CSV_SUFFIXES:
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh, delimiter=CSV_SUFFIXES[path.suffix.lower()])
        return
    with io.open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
