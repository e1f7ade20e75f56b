"""Property-based tests of the readers of user files and of the config loader (hypothesis).

Whatever the bytes (random, other encodings, BOMs, NUL, bad quoting, ragged rows, long fields),
each reader either reads the file correctly or raises one EmotuneError that names the file (and the
line where there is one); never another exception. Bounded so that the module runs in seconds.
"""

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emotune.config import RunConfig
from emotune.data.files import load_file, read_table
from emotune.errors import ConfigError, DataError, EmotuneError
from emotune.inference.predict import InputFile

BOUNDED = settings(max_examples=120, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
BOM = b"\xef\xbb\xbf"
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".txt")

# text that stresses CSV: delimiters, quotes, line ends of every kind, NUL, BOM, non-BMP characters
cell = st.text(alphabet=st.sampled_from(list('ab ,;\t"\'\r\n\x00\ufeffé€😀\u2028\x85'))
               | st.characters(blacklist_categories=("Cs",)), max_size=12)


def _each_reader(path: Path) -> None:
    """Every reader of user files on ``path``: read_table (data show/train), load_file, InputFile (predict)."""
    for read in (lambda: read_table(path), lambda: load_file(path, text_col="text", label_col="label"),
                 lambda: list(InputFile(path, "text").records()) if path.suffix != ".json" else None):
        try:
            read()
        except EmotuneError as exc:
            assert path.name in str(exc), str(exc)  # names the file


@BOUNDED
@given(body=st.binary(max_size=600), bom=st.booleans(), suffix=st.sampled_from(SUFFIXES))
@example(body=b'text,label\n"open,joy\n', bom=False, suffix=".csv")
@example(body=b'{"text": "a"}\n' + b"[" * 5000, bom=False, suffix=".jsonl")  # nesting deeper than the stack
@example(body=b'{"text": 1' + b"1" * 5000 + b"}\n", bom=False, suffix=".jsonl")  # over the int digit limit
@example(body="text,label\ncafé,joy\n".encode("utf-16"), bom=False, suffix=".csv")
def test_random_bytes_read_or_raise_one_emotune_error(body, bom, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes((BOM if bom else b"") + body)
        _each_reader(path)


@BOUNDED
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3), max_size=6), sep=st.sampled_from([",", "\t"]),
       bom=st.booleans(), quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
       line_end=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_reads_as_the_strict_stdlib_reader_or_is_refused(rows, sep, bom, quoting, line_end):
    """The oracle: Python's csv reader in strict mode on the same text, plus the checks (ragged rows, NUL)."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, quoting=quoting, lineterminator=line_end)
    writer.writerow(["text", "label"])
    writer.writerows(rows)  # (with "\n" line ends csv leaves a lone "\r" unquoted: a line break when read)
    text = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("in.csv" if sep == "," else "in.tsv")
        path.write_bytes((BOM if bom else b"") + text.encode("utf-8"))
        try:
            std = list(csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True))
        except csv.Error:
            std = None
        body = [r for r in (std or [])[1:] if r and not (len(r) == 1 and not r[0].strip())]
        try:
            frame, lines, _ = read_table(path)
        except DataError as exc:
            msg = str(exc)
            assert path.name in msg and "line" in msg, msg
            assert (std is None or any(len(r) != 2 for r in body) or any("\x00" in c for r in body for c in r)), msg
            return
        assert std is not None and frame.values.tolist() == body
        assert lines == sorted(lines) and len(set(lines)) == len(lines)


@BOUNDED
@given(rows=st.lists(st.lists(st.text(alphabet="abc xyz", min_size=1, max_size=5), min_size=2, max_size=2),
                     min_size=1, max_size=8),
       bad=st.data(), change=st.sampled_from(["extra", "missing"]))
def test_a_ragged_row_is_refused_naming_its_line(rows, bad, change):
    i = bad.draw(st.integers(0, len(rows) - 1))
    rows = [list(r) for r in rows]
    rows[i] = rows[i] + ["surplus"] if change == "extra" else rows[i][:1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ragged.csv"
        path.write_text("text,label\n" + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
        if change == "missing" and not rows[i][0].strip():
            return  # a blank line: no row at all
        for read in (lambda: read_table(path), lambda: list(InputFile(path).records())):
            with pytest.raises(DataError, match=rf"ragged.csv, line {i + 2}: \d fields but the header has 2"):
                read()


@BOUNDED
@given(text=st.text(max_size=80), encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]))
def test_other_encodings_read_correctly_or_name_line_and_column(text, encoding):
    try:
        body = f"text\n{text.replace(chr(0), '')}\n".encode(encoding)
    except UnicodeEncodeError:
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "enc.txt"
        path.write_bytes(body)
        try:
            records = list(InputFile(path).records())
        except DataError as exc:
            assert "enc.txt" in str(exc) and "line" in str(exc)
            assert "column" in str(exc) or "NUL" in str(exc)
            return
        assert encoding in ("utf-8", "utf-8-sig") or body.decode("utf-8", errors="strict")
        assert [r["text"] for r in records][0] == "text"


# -- the config loader --------------------------------------------------------------------------------
KEYS = ["name", "data", "model", "training", "dataset", "split", "group_by", "backend", "epochs", "seed",
        "text_col", "options", "C", "lr", "x"]
values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                                   max_size=4), max_leaves=12)


def _load_config(path: Path):
    try:
        return RunConfig.load(path)
    except ConfigError as exc:
        assert path.name in str(exc), str(exc)  # names the file
        return None


@BOUNDED
@given(body=st.binary(max_size=400), bom=st.booleans())
@example(body=b"[" * 800, bom=False)  # nesting deeper than the stack: RecursionError in PyYAML
@example(body=b"data: {dataset: \x00}", bom=False)
@example(body=b"name: caf\xe9", bom=False)
@example(body=b"&a [*a]", bom=False)
def test_random_config_bytes_load_or_raise_one_config_error(body, bom):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cfg.yaml"
        path.write_bytes((BOM if bom else b"") + body)
        _load_config(path)


@BOUNDED
@given(raw=st.dictionaries(st.sampled_from(KEYS), values, max_size=5))
@example(raw={"model": {"backend": []}})  # found by hypothesis: a TypeError (unhashable list) before
def test_random_config_structures_load_or_raise_one_config_error(raw):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cfg.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        cfg = _load_config(path)
        if cfg is not None:  # what loads saves and loads back the same
            again = Path(tmp) / "again.yaml"
            cfg.save(again)
            assert RunConfig.load(again).model_dump() == cfg.model_dump()


def test_json_document_items_are_checked_too(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps([{"text": "ok", "label": "joy"}, {"text": "a\x00b", "label": "joy"}]))
    with pytest.raises(DataError, match="d.json, line 2 contains a NUL byte"):
        read_table(path)


TOKENS = list("=.:[]{}, -0") + ["data", "model", "split", "backend", "dataset", "group_by", "tfidf", "null", "x"]


@BOUNDED
@given(overrides=st.lists(st.lists(st.sampled_from(TOKENS), max_size=10).map("".join), max_size=3))
@example(overrides=["data=x"])  # found by hypothesis: an AttributeError ('str' has no .get) before
@example(overrides=["model=x"])
def test_random_overrides_load_or_raise_one_config_error(overrides):
    try:
        RunConfig.load("isear-tfidf", overrides)
    except ConfigError:
        pass
