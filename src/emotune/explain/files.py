"""Explain every text of a file, streamed and resumable like ``predict_file``.

Rows are read with the same strict reader, written in chunks (each flushed), and a rerun of the
same command counts the complete rows already written and continues after them. Each output row
is the input row plus ``explained_label``, ``probability``, ``method``, ``explained_text`` (the
cleaned text the offsets refer to) and ``words`` (a JSON list in CSV, a list in JSONL). Rows with
an empty text are kept, unexplained, so rows stay aligned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emotune.errors import DataError
from emotune.explain import explain_texts, check_label, resolve_method
from emotune.inference.predict import CSV_SUFFIXES, InputFile, OutputFile, text_of

FIELDS = ["explained_label", "probability", "method", "explained_text", "words"]


@dataclass
class ExplainFileResult:
    input: Path
    output: Path
    total: int
    skipped: int
    written: int
    method: str
    blank_rows: list[int] = field(default_factory=list)

    @property
    def explained(self) -> int:
        return self.skipped + self.written - len(self.blank_rows)

    def to_dict(self) -> dict:
        return {"input": str(self.input), "output": str(self.output), "total": self.total, "skipped": self.skipped,
                "written": self.written, "explained": self.explained, "blank_rows": len(self.blank_rows),
                "method": self.method}


def explain_file(clf, input_path: str | Path, output_path: str | Path, *, method: str = "auto",
                 label: str | None = None, text_col: str = "text", batch_size: int | None = None,
                 chunk_size: int = 64, overwrite: bool = False,
                 on_total: Callable[[int, int], None] | None = None,
                 on_progress: Callable[[int], None] | None = None) -> ExplainFileResult:
    method = resolve_method(clf, method)
    check_label(clf, label)
    inp = InputFile(Path(input_path), text_col)
    total = inp.count()
    output_path = Path(output_path)
    if output_path.resolve() == inp.path.resolve():
        raise DataError(f"The output file must differ from the input file ({output_path})")
    csv_out = output_path.suffix.lower() in CSV_SUFFIXES
    fieldnames = None
    if csv_out:
        in_cols = inp.columns if inp.fmt != "jsonl" else list(next(inp.records(), {text_col: ""}))
        fieldnames = [c for c in in_cols if c not in FIELDS] + FIELDS
    # rows go to a hidden partial file, renamed over the output once complete (--overwrite keeps the old
    # output until then): the same publishing as predict
    out = OutputFile(output_path, fieldnames, overwrite=overwrite)
    skip, last = out.existing_rows()
    if skip > total:
        raise DataError(f"{output_path} already has {skip} rows but {inp.path} has only {total}",
                        hint="It was written from another input: choose another output or pass --overwrite.")
    if on_total:
        on_total(total, skip)
    result = ExplainFileResult(inp.path, output_path, total, skip, 0, method, inp.blank_rows)
    out.open()
    try:
        chunk: list[dict] = []
        for index, rec in enumerate(inp.records(), 1):
            if index <= skip:
                if index == skip and last is not None and text_col in last \
                        and str(last[text_col]) != text_of(rec, text_col):
                    raise DataError(f"{output_path} does not continue {inp.path}: its row {skip} has another text",
                                    hint="Choose another output file or pass --overwrite to start again.")
                continue
            chunk.append(rec)
            if len(chunk) >= chunk_size:
                _write_chunk(clf, chunk, out, method, label, text_col, batch_size, csv_out)
                result.written += len(chunk)
                if on_progress:
                    on_progress(len(chunk))
                chunk = []
        if chunk:
            _write_chunk(clf, chunk, out, method, label, text_col, batch_size, csv_out)
            result.written += len(chunk)
            if on_progress:
                on_progress(len(chunk))
    finally:
        out.close()
    out.commit()
    return result


def _write_chunk(clf, records, out, method, label, text_col, batch_size, csv_out) -> None:
    keep = [i for i, r in enumerate(records) if text_of(r, text_col).strip()]
    found = explain_texts(clf, [text_of(records[i], text_col) for i in keep], method=method, label=label,
                          batch_size=batch_size)
    by_row = dict(zip(keep, found))
    rows = []
    for i, rec in enumerate(records):
        row = {k: (json.dumps(v, ensure_ascii=False) if csv_out and isinstance(v, (dict, list)) else v)
               for k, v in rec.items()}
        e = by_row.get(i)
        if e is None:
            row.update({"explained_label": "" if csv_out else None, "probability": "" if csv_out else None,
                        "method": method, "explained_text": "", "words": "[]" if csv_out else []})
        else:
            row.update({"explained_label": e.label, "probability": e.probability, "method": e.method,
                        "explained_text": e.text,
                        "words": json.dumps(e.words, ensure_ascii=False) if csv_out else e.words})
        rows.append(row)
    out.write(rows)
