"""User data files (CSV / TSV / JSONL / JSON / Parquet) into the canonical :class:`EmotionDataset`.

Pass the path wherever a dataset name is accepted (``data.dataset: my_data.csv``) plus the columns:

* ``text_col`` (default: the first of text, sentence, utterance, content, tweet),
* one of ``label_col`` (one label per row, or a list per row: ``["joy", "love"]``, ``['joy']`` or
  ``joy,love``  -> multi-label), ``label_cols`` (one 0/1 column per label -> multi-label) or
  ``target_cols`` (numbers -> regression); default: the first of label, labels, emotion, emotions,
* optional ``split_col`` (train / dev / test; valid, validation and val mean dev),
* optional dialogue columns ``dialogue_id``, ``turn``, ``speaker`` (or ``dialogue_col`` / ``turn_col`` /
  ``speaker_col`` options) for conversation context.

Options: ``labels`` (the allowed label names, in order; integer ids in the file are then read as
positions in this list), ``sep`` (delimiter), ``multi_label`` (force multi-label).

Every problem is a :class:`DataError` that names the file and the line, row or column.
"""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from emotune.data.dataset import SPLIT_ALIASES, SPLITS, EmotionDataset, canonical
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, did_you_mean

__all__ = ["load_file", "load_file_chunks", "read_table", "parse_label_list", "iter_delimited", "iter_jsonl", "iter_parquet",
           "parquet_columns", "text_lines"]

TEXT_CANDIDATES = ("text", "sentence", "utterance", "content", "tweet", "Text", "Utterance", "Tweet")
LABEL_CANDIDATES = ("label", "labels", "emotion", "emotions", "Label", "Emotion")


# -- reading: one strict, streamed reader for train, data show, predict and annotate ----------------
# A single text may be long (a whole document); the default 128 KiB field limit would call a valid
# file badly quoted. 2**31-1 is the largest value every platform's C long accepts.
_FIELD_LIMIT = 2**31 - 1
_ENCODING_HINT = "Save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8 in.csv > out.csv`, or 'Save as CSV UTF-8')."


def text_lines(path: Path) -> Iterator[str]:
    """The file's lines (ending kept; \\n, \\r\\n or \\r), decoded as strict UTF-8 one line at a time.

    A byte that is not UTF-8 is a :class:`DataError` naming its line and column; a BOM is dropped.
    """
    try:
        fh = open(path, "rb")
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    with fh:
        for lineno, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                col = len(raw[: exc.start].decode("utf-8", errors="replace")) + 1
                raise DataError(f"{path}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} on line {lineno}, column {col})",
                                hint=_ENCODING_HINT) from None
            yield from io.StringIO(line, newline="")  # a lone \\r ends a line too, as csv expects


def _no_nul(path: Path, line: int, column, value: str, kind: str = "line") -> None:
    if "\x00" in value:
        raise DataError(f"{path}, {kind} {line} contains a NUL byte (\\x00) in column '{column}'",
                        hint="NUL is not text: the file may be binary or UTF-16; save it as UTF-8 text.")


def iter_delimited(path: Path, sep: str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of a CSV/TSV file, the header first; ragged rows and bad quoting are refused."""
    csv.field_size_limit(_FIELD_LIMIT)
    kind = "TSV" if sep == "\t" else "CSV"
    reader = csv.reader(text_lines(path), delimiter=sep, strict=True)
    header: list[str] | None = None
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{path}, line {reader.line_num}: cannot be parsed as {kind} ({exc})",
                            hint="Check quoting: a field that starts with \" must end with \" (a \" inside it is "
                                 "written \"\").") from None
        # a blank line is no row; in a one-column file an empty text is one (predict keeps its place)
        if not row or (len(row) == 1 and not row[0].strip() and (header is None or len(header) > 1)):
            continue
        if header is None:
            header = [h.strip() for h in row]
            for h in header:
                _no_nul(path, reader.line_num, h, h)
            if len(set(header)) != len(header):
                dup = sorted({h for h in header if header.count(h) > 1})
                raise DataError(f"{path}, line {reader.line_num}: duplicate column name(s) {dup} in the header")
            yield reader.line_num, header
            continue
        if len(row) != len(header):
            what = "more" if len(row) > len(header) else "fewer"
            raise DataError(
                f"{path}, line {reader.line_num}: {len(row)} fields but the header has {len(header)} ({what} "
                f"than expected)",
                hint=f"Quote texts that contain the delimiter {sep!r} (\"like, this\") or check the delimiter "
                     f"(options.sep).")
        for col, value in zip(header, row):
            _no_nul(path, reader.line_num, col, value)
        yield reader.line_num, row
    if header is None:
        raise DataError(f"{path}: the file is empty (no header line)")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, object) of a JSON-lines file; every line must be one JSON object."""
    for i, line in enumerate(text_lines(path), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {i}: not valid JSON ({exc.msg} at column {exc.colno})",
                            hint="A JSONL file holds one JSON object per line.") from None
        except (ValueError, RecursionError) as exc:  # a number over Python's digit limit, nesting too deep
            raise DataError(f"{path}, line {i}: not readable JSON ({type(exc).__name__})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path}, line {i}: expected a JSON object ({{...}}), got {type(rec).__name__}")
        for key, value in rec.items():
            _no_nul(path, i, key, key)
            if isinstance(value, str):
                _no_nul(path, i, key, value)
        yield i, rec


def _parquet_file(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None
    except Exception as exc:  # pyarrow's ArrowInvalid / OSError for a file that is not Parquet
        raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file, from its footer (no row is read)."""
    return [str(n) for n in _parquet_file(Path(path)).schema_arrow.names]


def iter_parquet(path: Path, columns: list[str] | None = None, batch_rows: int = 4096) -> Iterator[tuple[int, dict]]:
    """(row, record) of a Parquet file, read one record batch at a time (never the whole file)."""
    path = Path(path)
    pf = _parquet_file(path)
    row = 0
    try:
        for batch in pf.iter_batches(batch_size=batch_rows, columns=columns):
            for rec in batch.to_pylist():
                row += 1
                for key, value in rec.items():
                    if isinstance(value, str):
                        _no_nul(path, row, key, value, "row")
                yield row, rec
    except DataError:
        raise
    except Exception as exc:  # a corrupt page half-way through
        raise DataError(f"{path}, row {row + 1}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None


def _read_delimited(path: Path, sep: str) -> tuple[pd.DataFrame, list[int]]:
    rows, lines = [], []
    header: list[str] = []
    for line, row in iter_delimited(path, sep):
        if not header:
            header = row
        else:
            rows.append(row)
            lines.append(line)
    return pd.DataFrame(rows, columns=header, dtype=object), lines


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[int]]:
    lines, records = [], []
    for i, rec in iter_jsonl(path):
        lines.append(i)
        records.append(rec)
    return pd.DataFrame.from_records(records).astype(object), lines


def _read_json(path: Path) -> tuple[pd.DataFrame, list[int]]:
    text = "".join(text_lines(path))
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg.startswith("Extra data"):  # really JSON lines
            return _read_jsonl(path)
        raise DataError(f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})") from None
    except (ValueError, RecursionError) as exc:
        raise DataError(f"{path}: not readable JSON ({type(exc).__name__})") from None
    if isinstance(data, dict):
        for key in ("data", "rows", "records", "examples"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DataError(f"{path}: expected a list of objects (one per example)")
    for i, rec in enumerate(data, 1):
        for key, value in rec.items():
            if isinstance(value, str):
                _no_nul(path, i, key, value)
    return pd.DataFrame.from_records(data).astype(object), [i + 1 for i in range(len(data))]


def sniff_sep(path: Path) -> str:
    """The delimiter of a file without a .csv/.tsv suffix, from its first line."""
    first = next(text_lines(path), "")
    return "\t" if "\t" in first else (";" if first.count(";") > first.count(",") else ",")


def read_table(path: str | Path, sep: str | None = None) -> tuple[pd.DataFrame, list[int], str]:
    """(frame of strings/objects, source line per row, how rows are numbered in messages)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Data file not found: {path}",
                        hint="Give a built-in dataset name (`emotune data list`) or the path of a CSV/TSV/JSONL/Parquet file.")
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a CSV/TSV/JSONL/Parquet file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            try:
                frame = pd.read_parquet(path)
            except Exception as exc:
                raise DataError(f"{path}: cannot be read as Parquet ({type(exc).__name__}: {exc})") from None
            return frame.astype(object), list(range(1, len(frame) + 1)), "row"
        if suffix in (".jsonl", ".ndjson"):
            frame, lines = _read_jsonl(path)
            return frame, lines, "line"
        if suffix == ".json":
            frame, lines = _read_json(path)
            return frame, lines, "item"
        if sep is None:
            if suffix == ".tsv":
                sep = "\t"
            elif suffix == ".csv":
                sep = ","
            else:
                sep = sniff_sep(path)
        frame, lines = _read_delimited(path, sep)
        return frame, lines, "line"
    except PermissionError:
        raise DataError(f"{path}: permission denied") from None


# -- parsing helpers -----------------------------------------------------------------------------
def _blank(v) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def parse_label_list(value) -> list[str]:
    """A label cell as a list: JSON / Python list strings, 'a,b' (also ; and |), or one label."""
    if _blank(value):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if not _blank(v)]
    if isinstance(value, (int, np.integer)):
        return [str(int(value))]
    if isinstance(value, (float, np.floating)):
        return [str(int(value)) if float(value).is_integer() else str(value)]
    s = str(value).strip()
    if s.startswith("[") and s.endswith("]"):
        try:
            parsed = json.loads(s)
        except json.JSONDecodeError:
            try:
                parsed = ast.literal_eval(s)  # python-list strings, never eval
            except (ValueError, SyntaxError):
                parsed = [p.strip().strip("'\"") for p in s[1:-1].split(",")]
        if isinstance(parsed, (list, tuple)):
            return [str(p).strip() for p in parsed if not _blank(p)]
        return [str(parsed).strip()]
    for delim in (",", ";", "|"):
        if delim in s:
            return [p.strip() for p in s.split(delim) if p.strip()]
    return [s]


def _pick(frame: pd.DataFrame, path: Path, given: str | None, candidates, what: str, required: bool = True):
    cols = [str(c) for c in frame.columns]
    if given is not None:
        if given not in cols:
            raise DataError(f"{path}: no column '{given}' ({what}); available columns: {', '.join(cols)}",
                            hint=did_you_mean(given, cols))
        return given
    for c in candidates:
        if c in cols:
            return c
    if required:
        raise DataError(f"{path}: no {what} found (looked for {', '.join(dict.fromkeys(c.lower() for c in candidates))}); "
                        f"available columns: {', '.join(cols)}",
                        hint=f"Name it with --{what.split()[0]}-col / data.{what.split()[0]}_col.")
    return None


def _row_ref(kind: str, lines: list[int], idx) -> str:
    nums = [str(lines[i]) for i in idx]
    shown = ", ".join(nums[:10]) + (f" ... ({len(nums)} in all)" if len(nums) > 10 else "")
    return f"{kind}{'s' if len(nums) > 1 else ''} {shown}"


def _to_float(v) -> float:
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, (int, float, np.integer, np.floating)):
        return float(v)
    s = str(v).strip()
    if not s:
        raise ValueError
    return float(s)


def _as_int(v):
    if _blank(v):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return v  # reported by the context check, with its row
    return int(f) if f.is_integer() else f


def _to_binary(v) -> int:
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, float, np.integer, np.floating)) and float(v) in (0.0, 1.0):
        return int(v)
    s = str(v).strip().lower()
    if s in ("1", "1.0", "true", "yes", "y", "t"):
        return 1
    if s in ("0", "0.0", "false", "no", "n", "f", ""):
        return 0
    raise ValueError


# -- main ------------------------------------------------------------------------------------------
def load_file(path: str | Path, *, text_col: str | None = None, label_col: str | None = None,
              label_cols: list[str] | None = None, target_cols: list[str] | None = None,
              split_col: str | None = None, labels: list[str] | None = None, sep: str | None = None,
              multi_label: bool | None = None, dialogue_col: str | None = None, turn_col: str | None = None,
              speaker_col: str | None = None, name: str | None = None) -> EmotionDataset:
    """Read a user file into an :class:`EmotionDataset` (see the module docstring)."""
    path = Path(path).expanduser()
    if isinstance(label_cols, str):
        label_cols = [c.strip() for c in label_cols.split(",") if c.strip()]
    if isinstance(target_cols, str):
        target_cols = [c.strip() for c in target_cols.split(",") if c.strip()]
    if isinstance(labels, str):
        labels = parse_label_list(labels)
    given = [n for n, v in (("label_col", label_col), ("label_cols", label_cols), ("target_cols", target_cols)) if v]
    if len(given) > 1:
        raise DataError(f"Give only one of label_col, label_cols, target_cols (got {', '.join(given)})")
    raw, lines, kind = read_table(path, sep)
    if len(raw) == 0:
        raise DataError(f"{path}: no data rows (only a header?)")
    return _dataset(raw, lines, kind, path, text_col=text_col, label_col=label_col, label_cols=label_cols,
                    target_cols=target_cols, split_col=split_col, labels=labels, multi_label=multi_label,
                    dialogue_col=dialogue_col, turn_col=turn_col, speaker_col=speaker_col, name=name)


def load_file_chunks(path: str | Path, *, chunk_rows: int = 100_000, sep: str | None = None,
                     **options) -> Iterator[EmotionDataset]:
    """:func:`load_file` a chunk of rows at a time (``data show`` on a file of any size).

    Each chunk is checked as :func:`load_file` checks a file (messages name the file's own line or
    row numbers); label names and the task are inferred per chunk, unless ``labels`` is given. A
    JSON document (not lines) is read whole.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        read_table(path, sep)  # the missing-file / folder messages
    given = [k for k in ("label_col", "label_cols", "target_cols") if options.get(k)]
    if len(given) > 1:
        raise DataError(f"Give only one of label_col, label_cols, target_cols (got {', '.join(given)})")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        pf = _parquet_file(path)
        start = 1
        for batch in pf.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas().astype(object)
            yield _chunk(frame, list(range(start, start + len(frame))), "row", path, options)
            start += len(frame)
        return
    if suffix == ".json":
        yield load_file(path, sep=sep, **options)
        return
    if suffix in (".jsonl", ".ndjson"):
        records: list[dict] = []
        lines: list[int] = []
        for i, rec in iter_jsonl(path):
            records.append(rec)
            lines.append(i)
            if len(records) >= chunk_rows:
                yield _chunk(pd.DataFrame.from_records(records).astype(object), lines, "line", path, options)
                records, lines = [], []
        if records:
            yield _chunk(pd.DataFrame.from_records(records).astype(object), lines, "line", path, options)
        return
    sep = sep or {".tsv": "\t", ".csv": ","}.get(suffix) or sniff_sep(path)
    header: list[str] = []
    rows: list[list[str]] = []
    lines = []
    for line, row in iter_delimited(path, sep):
        if not header:
            header = row
            continue
        rows.append(row)
        lines.append(line)
        if len(rows) >= chunk_rows:
            yield _chunk(pd.DataFrame(rows, columns=header, dtype=object), lines, "line", path, options)
            rows, lines = [], []
    if rows:
        yield _chunk(pd.DataFrame(rows, columns=header, dtype=object), lines, "line", path, options)


def _chunk(raw: pd.DataFrame, lines: list[int], kind: str, path: Path, options: dict) -> EmotionDataset:
    options = dict(options)
    for key in ("label_cols", "target_cols"):
        if isinstance(options.get(key), str):
            options[key] = [c.strip() for c in options[key].split(",") if c.strip()]
    if isinstance(options.get("labels"), str):
        options["labels"] = parse_label_list(options["labels"])
    return _dataset(raw, lines, kind, path, **options)


def _dataset(raw: pd.DataFrame, lines: list[int], kind: str, path: Path, *, text_col=None, label_col=None,
             label_cols=None, target_cols=None, split_col=None, labels=None, multi_label=None, dialogue_col=None,
             turn_col=None, speaker_col=None, name=None) -> EmotionDataset:
    raw.columns = [str(c) for c in raw.columns]
    cols = list(raw.columns)
    tcol = _pick(raw, path, text_col, TEXT_CANDIDATES, "text column")
    notes: list[str] = []

    # empty texts: dropped with a note (all empty -> error)
    empty = np.asarray([_blank(v) for v in raw[tcol]], dtype=bool)
    if empty.all():
        raise DataError(f"{path}: column '{tcol}' is empty in every row", hint="Is text_col the right column?")
    if empty.any():
        idx = np.flatnonzero(empty)
        notes.append(f"Dropped {len(idx)} row(s) with empty text ({_row_ref(kind, lines, idx)}).")
        keep = ~empty
        raw = raw[keep].reset_index(drop=True)
        lines = [ln for ln, k in zip(lines, keep) if k]

    frame = pd.DataFrame({"text_original": [str(v) for v in raw[tcol]]})
    used = {tcol}

    if target_cols:
        for c in target_cols:
            _pick(raw, path, c, (), "target column")
        values = np.empty((len(raw), len(target_cols)))
        for j, c in enumerate(target_cols):
            for i, v in enumerate(raw[c]):
                try:
                    values[i, j] = _to_float(v)
                except (ValueError, TypeError):
                    raise DataError(f"{path}, {kind} {lines[i]}: column '{c}' has a non-numeric value {v!r}",
                                    hint="Regression targets (target_cols) must be numbers.") from None
            if np.isnan(values[:, j]).any():
                i = int(np.flatnonzero(np.isnan(values[:, j]))[0])
                raise DataError(f"{path}, {kind} {lines[i]}: column '{c}' is missing (NaN)")
        frame["targets"] = [tuple(r) for r in values.tolist()]
        label_set = LabelSet(tuple(target_cols), Task.REGRESSION, name=path.stem)
        used |= set(target_cols)
    elif label_cols:
        for c in label_cols:
            _pick(raw, path, c, (), "label column")
        ind = np.zeros((len(raw), len(label_cols)), dtype=int)
        for j, c in enumerate(label_cols):
            for i, v in enumerate(raw[c]):
                try:
                    ind[i, j] = _to_binary(v)
                except (ValueError, TypeError):
                    raise DataError(f"{path}, {kind} {lines[i]}: column '{c}' must be 0 or 1 (got {v!r})",
                                    hint="label_cols are one 0/1 column per label (multi-label).") from None
        frame["labels"] = [tuple(label_cols[j] for j in np.flatnonzero(r)) for r in ind]
        label_set = LabelSet(tuple(label_cols), Task.MULTI, name=path.stem)
        used |= set(label_cols)
    else:
        lcol = _pick(raw, path, label_col, LABEL_CANDIDATES, "label column")
        used.add(lcol)
        parsed = [parse_label_list(v) for v in raw[lcol]]
        if labels:
            names = [str(x) for x in labels]
            all_values = {x for p in parsed for x in p}
            if all_values and not (all_values & set(names)) and all(x.lstrip("-").isdigit() for x in all_values):
                ids = sorted(int(x) for x in all_values)
                if ids[0] >= 0 and ids[-1] < len(names):
                    parsed = [[names[int(x)] for x in p] for p in parsed]
                    notes.append(f"Integer labels read as positions in the given label list ({len(names)} names).")
            for i, p in enumerate(parsed):
                for x in p:
                    if x not in names:
                        raise DataError(f"{path}, {kind} {lines[i]}: unknown label '{x}' in column '{lcol}'; "
                                        f"the label set is {names}", hint=did_you_mean(x, names))
        else:
            seen = list(dict.fromkeys(x for p in parsed for x in p))
            if seen and all(x.lstrip("-").isdigit() for x in seen):
                names = sorted(seen, key=int)
            else:
                names = sorted(seen)
        if not names:
            raise DataError(f"{path}: column '{lcol}' has no labels in any row")
        multi = multi_label if multi_label is not None else any(len(p) != 1 for p in parsed)
        if multi and multi_label is None:
            missing = [i for i, p in enumerate(parsed) if not p]
            if missing and all(len(p) <= 1 for p in parsed):
                raise DataError(f"{path}: column '{lcol}' is empty in {_row_ref(kind, lines, missing)}",
                                hint="Every row needs a label (or use label_cols / a list column for multi-label).")
        if not multi:
            frame["labels"] = [(p[0],) for p in parsed]
        else:
            frame["labels"] = [tuple(dict.fromkeys(p)) for p in parsed]
        label_set = LabelSet(tuple(names), Task.MULTI if multi else Task.SINGLE, name=path.stem)

    # split column
    scol = _pick(raw, path, split_col, (), "split column", required=False) if split_col else None
    if scol:
        used.add(scol)
        splits = []
        for i, v in enumerate(raw[scol]):
            key = "" if _blank(v) else str(v).strip().lower()
            if key not in SPLIT_ALIASES:
                raise DataError(f"{path}, {kind} {lines[i]}: split value {v!r} in column '{scol}' is not one of "
                                f"{list(SPLITS)}" if key else f"{path}, {kind} {lines[i]}: column '{scol}' is empty",
                                hint="Use train / dev / test (valid, validation and val are read as dev).")
            splits.append(SPLIT_ALIASES[key])
        frame["split"] = splits
    else:
        frame["split"] = ""

    # conversation columns
    for core, opt in (("dialogue_id", dialogue_col), ("turn", turn_col), ("speaker", speaker_col)):
        src = _pick(raw, path, opt, (core,), f"{core} column", required=False) if opt else (core if core in cols else None)
        if src:
            used.add(src)
            vals = raw[src]
            if core == "turn":
                frame[core] = [_as_int(v) for v in vals]
            else:
                frame[core] = [None if _blank(v) else str(v) for v in vals]
    for core in ("dialogue_id", "turn"):  # context needs them complete; speaker is checked when context is used
        if core in frame.columns:
            for i, v in enumerate(frame[core]):
                if v is None or _blank(v):
                    raise DataError(f"{path}, {kind} {lines[i]}: column '{core}' is empty",
                                    hint="Every utterance of a dialogue needs a dialogue_id and a turn number.")
                if core == "turn" and not isinstance(v, (int, float)):
                    raise DataError(f"{path}, {kind} {lines[i]}: turn {v!r} is not a number")

    # everything else: metadata
    for c in cols:
        if c not in used and c not in frame.columns:
            frame[c if c not in ("text", "labels", "targets", "split", "is_placeholder") else f"meta_{c}"] = raw[c].to_numpy()
    frame["source_line"] = lines
    return canonical(name or path.stem, frame, label_set, {"files": [str(path)], "user_file": True, "notes": notes},
                     placeholders=True)
