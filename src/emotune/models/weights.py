"""Cheap checks of a model's weight files before anything loads them.

A truncated ``*.safetensors`` or ``*.onnx`` file, or a pickle (``pytorch_model.bin``) in a run,
becomes one :class:`ModelError` naming the file instead of a SafetensorError / UnpicklingError
traceback deep inside a loader. The checks read headers and file sizes only (bytes, not
gigabytes), so the server can run them at start-up and on every ``/readyz`` for every model
without loading one: a safetensors header states where its last tensor ends, and an ONNX file
is a protobuf whose top-level fields state their own lengths.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

from emotune.errors import ModelError

#: files that hold pickles (torch.save, joblib): emotune never unpickles anything from a run
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib"})
_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on its JSON header
_RETRAIN = "Retrain the run, restore the file from a backup, or copy it again (it may have been cut short)."


def verify_safetensors(path: Path) -> None:
    """The file's JSON header parses and its tensors end exactly at the end of the file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        raw = f.read(8)
        if len(raw) < 8:
            raise ModelError(f"Truncated weights file {path}: {size} bytes, too short for a safetensors header",
                             hint=_RETRAIN)
        (n,) = struct.unpack("<Q", raw)
        if n > min(_MAX_HEADER, size - 8):
            raise ModelError(f"Truncated or corrupt weights file {path}: its header claims {n} bytes, "
                             f"the file has {size}", hint=_RETRAIN)
        try:
            header = json.loads(f.read(n))
            end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            raise ModelError(f"Corrupt weights file {path}: the safetensors header does not parse ({exc})",
                             hint=_RETRAIN) from None
    if 8 + n + end != size:
        raise ModelError(f"Truncated or corrupt weights file {path}: {size} bytes, its header expects {8 + n + end}",
                         hint=_RETRAIN)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise ValueError("cut inside a varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if not b & 0x80:
            return value, i


def verify_onnx(path: Path) -> None:
    """Walk the ModelProto's top-level fields: each length fits the file, and the graph (field 7) is there."""
    size = path.stat().st_size
    seen_graph, pos = False, 0
    with path.open("rb") as f:
        try:
            while pos < size:
                f.seek(pos)
                head = f.read(20)
                key, i = _varint(head, 0)
                field, wire = key >> 3, key & 7
                if wire == 0:
                    _, i = _varint(head, i)
                    pos += i
                elif wire == 2:
                    length, i = _varint(head, i)
                    pos += i + length
                    seen_graph = seen_graph or field == 7
                elif wire in (1, 5):
                    pos += i + (8 if wire == 1 else 4)
                else:
                    raise ValueError(f"unexpected wire type {wire}")
        except ValueError as exc:
            raise ModelError(f"Corrupt ONNX file {path}: {exc}", hint="Export it again with `emotune export RUN --onnx`.") from None
    if pos != size or not seen_graph:
        raise ModelError(f"Truncated or corrupt ONNX file {path}: {size} bytes"
                         + ("" if seen_graph else ", no graph"),
                         hint="Export it again with `emotune export RUN --onnx`.")
    verify_onnx_external_data(path)


#: a graph file under this size may keep its weights in external files (``model.onnx.data``): they are checked
EXTERNAL_DATA_GRAPH_MAX = 16 * 2**20


def verify_onnx_external_data(path: Path) -> None:
    """Every tensor stored outside ``path`` points at a file inside its folder that is long enough.

    onnxruntime would otherwise fail late (or read a file outside the run) on a moved, cut or
    hand-edited ``*.onnx.data``. Only small graph files are parsed: one with external weights is
    small, one with its weights inside is not (and its own walk above covers it).
    """
    if path.stat().st_size > EXTERNAL_DATA_GRAPH_MAX:
        return
    try:
        import onnx
        from onnx.external_data_helper import ExternalDataInfo, _get_all_tensors, uses_external_data
    except ImportError:  # without the onnx package onnxruntime's own load error is the message
        return
    hint = "Export it again with `emotune export RUN --onnx`."
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own DecodeError types
        raise ModelError(f"Corrupt ONNX file {path}: {exc}", hint=hint) from None
    base = path.parent.resolve()
    for tensor in _get_all_tensors(model):  # onnx's own walk over initializers and subgraph attributes
        if not uses_external_data(tensor):
            continue
        info = ExternalDataInfo(tensor)
        target = (base / info.location).resolve()
        if not target.is_relative_to(base):
            raise ModelError(f"ONNX file {path}: tensor '{tensor.name}' points outside its folder "
                             f"({info.location!r})", hint="emotune only reads weights inside the run. " + hint)
        if not target.is_file():
            raise ModelError(f"ONNX file {path}: external data file {info.location!r} of tensor '{tensor.name}' "
                             "is missing", hint="Copy the whole onnx folder, or " + hint[0].lower() + hint[1:])
        need = (info.offset or 0) + (info.length or 0)
        if target.stat().st_size < need:
            raise ModelError(f"Truncated ONNX external data {target}: {target.stat().st_size} bytes, tensor "
                             f"'{tensor.name}' needs {need}", hint=hint)


def refuse_pickles(model_dir: Path) -> None:
    for p in sorted(model_dir.rglob("*")):
        if p.suffix.lower() in PICKLE_SUFFIXES and p.is_file() and not _is_openvino_weights(p):
            raise ModelError(f"Refusing to load {p}: pickle files can run arbitrary code, and emotune never "
                             "unpickles weights", hint="Keep only safetensors weights in a run (transformers: "
                             "save_pretrained(dir, safe_serialization=True)), or retrain the run.")


def _is_openvino_weights(path: Path) -> bool:
    """OpenVINO's ``model.bin`` beside its ``model.xml``: raw tensor bytes the runtime maps, never
    unpickled (a torch pickle starts with a pickle opcode or a zip header)."""
    if path.suffix != ".bin" or not path.with_suffix(".xml").is_file():
        return False
    with path.open("rb") as f:
        head = f.read(2)
    return not (head.startswith(b"\x80") or head == b"PK")


_OV_CONST = re.compile(rb'<data\b[^>]*?\boffset="(\d+)"[^>]*?\bsize="(\d+)"')


def verify_openvino(xml_path: Path) -> None:
    """An OpenVINO model: the ``.xml`` is whole (ends with ``</net>``) and its ``.bin`` holds every
    constant the xml points into."""
    hint = "Export it again with `emotune export RUN --openvino`."
    data = xml_path.read_bytes()
    if not data.rstrip().endswith(b"</net>"):
        raise ModelError(f"Truncated or corrupt OpenVINO model {xml_path}: the xml does not end with </net>", hint=hint)
    weights = xml_path.with_suffix(".bin")
    need = max((int(o) + int(n) for o, n in _OV_CONST.findall(data)), default=0)
    have = weights.stat().st_size if weights.is_file() else -1
    if have < need:
        what = "is missing" if have < 0 else f"has {have} bytes, the xml needs {need}"
        raise ModelError(f"Truncated OpenVINO weights {weights}: it {what}", hint=hint)


def verify_model_dir(model_dir: Path) -> None:
    """No pickles, and every safetensors / ONNX file in ``model_dir`` is whole."""
    model_dir = Path(model_dir)
    refuse_pickles(model_dir)
    for p in sorted(model_dir.rglob("*")):
        if p.suffix == ".safetensors" and p.is_file():
            verify_safetensors(p)
        elif p.suffix == ".onnx" and p.is_file():
            verify_onnx(p)


def signature(*dirs: Path) -> tuple:
    """What changes when a file in ``dirs`` is replaced, cut or touched (to re-check only then)."""
    out = []
    for d in dirs:
        if Path(d).is_dir():
            for p in sorted(Path(d).rglob("*")):
                try:
                    st = p.stat()
                except OSError:
                    continue
                out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def match_umask(path: Path, reference: Path) -> None:
    """Give owner-only files under ``path`` the mode of ``reference`` (written with the umask).

    safetensors writes through a temporary file created 0600, while every other file of a run
    gets the umask's mode (0644); a run copied or shared should not be half readable."""
    mode = reference.stat().st_mode & 0o777
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if p.is_file() and (p.stat().st_mode & 0o777) == 0o600 and mode != 0o600:
            os.chmod(p, mode)
