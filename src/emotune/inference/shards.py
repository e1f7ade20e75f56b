"""A corpus split in shards, labelled one shard at a time: one output shard per input shard.

The Ray engine (:mod:`emotune.inference.ray_engine`) hands every pending shard to an actor that calls
:func:`label_shard`; nothing here imports Ray, so the layout and the resume rules are plain code.

Layout. ``--input`` is a file, a folder (its CSV/TSV/JSONL/Parquet/text files) or a glob of shards;
``--output`` is a folder, and its suffix picks the shards' format as a file's suffix does for the
local path: ``labelled.parquet/`` (or no suffix) -> Parquet, ``labelled.csv/``, ``.tsv``, ``.jsonl``.
Input shard ``part-0003.csv`` becomes ``OUTPUT/part-0003.parquet`` (names are the input's, so they
are the same on every rerun); ``OUTPUT/_shards.json`` lists them in input order.

Resume. A shard in progress is appended, chunk by chunk, to ``OUTPUT/.partial/<name>.<csv|tsv|jsonl>``
by the local path's resumable writer (:func:`~emotune.inference.predict.predict_file`,
:func:`~emotune.inference.annotate.annotate_file`: same strict reader, same row checks, same values).
Only a complete shard is renamed to its final name (Parquet is converted first, into a temporary
file, then renamed), so a rerun skips the finished shards, resumes the partial ones after their last
complete row, and never takes half a file for a result.
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emotune.errors import DataError, writing
from emotune.inference.predict import CSV_SUFFIXES, JSONL_SUFFIXES, PARQUET_SUFFIXES

INPUT_SUFFIXES = set(CSV_SUFFIXES) | JSONL_SUFFIXES | PARQUET_SUFFIXES | {".txt"}
OUTPUT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl",
                  ".ndjson": "jsonl"}
MANIFEST = "_shards.json"
PARTIAL = ".partial"


@dataclass
class Shard:
    path: Path  # the input shard
    name: str  # its output name, without suffix


@dataclass
class ShardPlan:
    output: Path
    fmt: str  # parquet, csv, tsv or jsonl
    shards: list[Shard]
    done: list[str] = field(default_factory=list)  # names whose final file exists

    @property
    def pending(self) -> list[Shard]:
        done = set(self.done)
        return [s for s in self.shards if s.name not in done]

    def final(self, name: str) -> Path:
        return final_path(self.output, name, self.fmt)


def find_shards(input_path: str | Path) -> list[Path]:
    """The input's shards in a stable order: a file, a folder's data files, or a glob's files."""
    text = str(input_path)
    path = Path(text).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
                       and p.suffix.lower() in INPUT_SUFFIXES)
        if not files:
            raise DataError(f"{path} has no CSV/TSV/JSONL/Parquet/text files to label",
                            hint="Give a file, a folder of shards or a glob such as 'corpus/part-*.csv'.")
        return files
    if glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"No file matches {text}", hint="Check the pattern (quote it so the shell leaves it alone).")
        return files
    raise DataError(f"Input not found: {path}", hint="Give a file, a folder of shards or a glob such as 'corpus/*.csv'.")


def shard_names(files: list[Path]) -> list[str]:
    """Output names: the file's stem, or its path below the common folder when stems repeat."""
    stems = [f.stem for f in files]
    if len(set(stems)) == len(stems):
        return stems
    root = Path(os.path.commonpath([str(f.resolve().parent) for f in files]))
    return [str(f.resolve().relative_to(root).with_suffix("")).replace(os.sep, "__") for f in files]


def output_format(output: str | Path) -> str:
    output = Path(output)
    if output.is_file():
        raise DataError(f"{output} is a file; with --engine ray the output is a folder of shards",
                        hint="e.g. --output labelled.parquet (a folder; its suffix picks the shards' format).")
    return OUTPUT_FORMATS.get(output.suffix.lower(), "parquet")


def final_path(output: Path, name: str, fmt: str) -> Path:
    return Path(output) / f"{name}.{fmt}"


def partial_path(output: Path, name: str, fmt: str) -> Path:
    return Path(output) / PARTIAL / f"{name}.{'csv' if fmt == 'parquet' else fmt}"


def plan_shards(input_path: str | Path, output: str | Path, *, overwrite: bool = False) -> ShardPlan:
    """Find the shards, write the manifest, and see which output shards are already finished.

    ``overwrite`` removes this input's output shards (finished and partial) and nothing else.
    """
    files = find_shards(input_path)
    output = Path(output).expanduser()
    fmt = output_format(output)
    for f in files:
        if f.resolve().is_relative_to(output.resolve()):
            raise DataError(f"The input shard {f} is inside the output folder {output}")
    shards = [Shard(f, n) for f, n in zip(files, shard_names(files))]
    manifest = output / MANIFEST
    names = [s.name for s in shards]
    if manifest.exists() and not overwrite:
        try:
            before = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            before = None
        if not isinstance(before, dict) or before.get("names") != names or before.get("format") != fmt:
            raise DataError(f"{output} holds the output of another input or format",
                            hint="Choose another output folder or pass --overwrite to start again.")
    with writing(output):
        (output / PARTIAL).mkdir(parents=True, exist_ok=True)
        if overwrite:
            for s in shards:
                for p in (final_path(output, s.name, fmt), partial_path(output, s.name, fmt)):
                    p.unlink(missing_ok=True)
        _write_atomic(manifest, json.dumps({"format": fmt, "names": names,
                                            "inputs": [str(s.path) for s in shards]}, indent=2).encode())
    plan = ShardPlan(output, fmt, shards)
    plan.done = [s.name for s in shards if plan.final(s.name).is_file()]
    return plan


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


LabelFn = Callable[..., object]  # (input, output, on_total=, on_progress=) -> FileResult / AnnotateResult


def label_shard(label: LabelFn, shard: Shard, output: Path, fmt: str, *, column_types: dict | None = None,
                on_total: Callable[[int, int], None] | None = None,
                on_progress: Callable[[int], None] | None = None):
    """Label one shard into its partial file (resuming it), then publish it under its final name."""
    partial = partial_path(output, shard.name, fmt)
    result = label(shard.path, partial, on_total=on_total, on_progress=on_progress)
    final = final_path(output, shard.name, fmt)
    with writing(final):
        if fmt == "parquet":
            tmp = final.with_name(f".{final.name}.tmp")
            csv_to_parquet(partial, tmp, column_types or {})
            os.replace(tmp, final)
            partial.unlink()
        else:
            os.replace(partial, final)
        _sync_dir(final.parent)
    return result


def csv_to_parquet(src: Path, dst: Path, column_types: dict, block_size: int = 4 << 20) -> None:
    """Stream a finished partial CSV into Parquet; ``column_types``: column -> pyarrow type (others: string)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with open(src, encoding="utf-8", newline="") as fh:
        header = next(__import__("csv").reader(fh))
    types = {c: column_types.get(c, pa.string()) for c in header}
    reader = pacsv.open_csv(src, read_options=pacsv.ReadOptions(block_size=block_size),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),
                            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False))
    with pq.ParquetWriter(dst, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
    with open(dst, "rb") as fh:
        os.fsync(fh.fileno())


def read_output_dir(output: str | Path):
    """The finished output shards as one pandas frame, in input order (tests, notebooks: loads it all)."""
    import pandas as pd

    output = Path(output)
    meta = json.loads((output / MANIFEST).read_text(encoding="utf-8"))
    frames = []
    for name in meta["names"]:
        path = final_path(output, name, meta["format"])
        if meta["format"] == "parquet":
            frames.append(pd.read_parquet(path))
        elif meta["format"] == "jsonl":
            frames.append(pd.read_json(path, lines=True, dtype=False))
        else:
            frames.append(pd.read_csv(path, sep="\t" if meta["format"] == "tsv" else ",", dtype=str,
                                      keep_default_na=False))
    return pd.concat(frames, ignore_index=True)
