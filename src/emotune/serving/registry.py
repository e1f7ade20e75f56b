"""The runs a server serves: validated at startup, loaded lazily (``Run.load``), kept in an LRU.

Startup only reads each run's ``emotune_model.json`` and the headers of its weight files (cheap,
and it catches a missing, corrupt, truncated or pickled run before the server binds its port;
``/readyz`` repeats the check for every model, re-reading only files that changed). Weights load on the first request for a model and stay
in memory until the memory budget is needed for another one; the least recently used model is
dropped first. A model's memory is estimated from its weight files (safetensors / ONNX / JSON
vocabularies) times :data:`MEMORY_FACTOR` – good enough to keep a handful of encoders apart from
one 7B decoder without importing anything heavy.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from emotune.data.labels import LabelSet
from emotune.errors import ModelError
from emotune.models.weights import refuse_pickles, signature, verify_model_dir, verify_onnx, verify_openvino
from emotune.runs import Run
from emotune.runtime import available_cpus

log = logging.getLogger(__name__)

#: resident memory per byte of weight file (activations, tokenizer, Python objects)
MEMORY_FACTOR = 1.3
_WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".json", ".gguf", ".bin")


def weight_bytes(*dirs: Path) -> int:
    total = 0
    for d in dirs:
        if d.is_dir():
            for p in d.rglob("*"):
                if p.is_file() and p.suffix in _WEIGHT_SUFFIXES:
                    total += p.stat().st_size
    return total


def default_memory_budget() -> int:
    """Half of the RAM available now: room for the models, their batches and the rest of the system."""
    import psutil

    return int(psutil.virtual_memory().available * 0.5)


def serving_threads() -> int:
    """onnxruntime threads for a server: every core but one, which the event loop needs for HTTP.

    Measured on 2 cores (BENCHMARKS.md): MiniLM int8 at 8 concurrent clients went from 94 to 130-139
    requests/s and p99 from 195 to 118-126 ms with one onnxruntime thread instead of two. The torch
    path is the other way round (one thread: 54 instead of 60 requests/s), so it keeps every core.
    """
    cores = available_cpus()
    return max(1, cores - 1)


def set_inference_threads(threads: int | None = None) -> int:
    """One process, every core: torch intra-op threads = CPUs this process may use.

    Only touches torch when a backend has imported it (TF-IDF serving never pays for the import);
    onnxruntime sessions get their thread count in :class:`emotune.models.onnx.OnnxClassifier`.
    """
    n = threads or available_cpus()
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


@dataclass
class ServedModel:
    id: str
    path: Path  # what the user passed
    run: Run
    export_file: Path | None = None  # set when served from an export (ONNX graph, OpenVINO xml)
    runtime: str | None = None  # "onnx" / "openvino" with export_file; None: the run's own backend
    size_bytes: int = 0
    clf: object | None = None
    last_used: float = 0.0
    loads: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _verified: tuple | None = field(default=None, repr=False)  # file signature last verified

    @property
    def meta(self) -> dict:
        return self.run.meta

    @property
    def backend(self) -> str:
        return self.runtime or self.meta.get("backend", "?")

    @cached_property
    def label_set(self) -> LabelSet:
        """What the served model answers (before it is loaded): a prefixed run's values as targets."""
        return self.run.input_spec.served_label_set(LabelSet.from_dict(self.meta["label_set"]))

    def check(self) -> None:
        """Read the metadata again and verify the weight files' headers and sizes (a :class:`ModelError`
        when the run was removed or damaged since). Only files whose size or mtime changed since the
        last check are read again, so /readyz stays cheap with many or large models."""
        run = Run.open(self.path)
        run.meta  # noqa: B018 - raises on a missing or corrupt emotune_model.json
        files = self.export_file.parent if self.export_file is not None else run.model_dir
        sig = signature(files)
        if sig != self._verified:
            if self.export_file is not None:
                refuse_pickles(files)
                (verify_openvino if self.runtime == "openvino" else verify_onnx)(self.export_file)
            else:
                verify_model_dir(files)
            self._verified = sig

    def describe(self) -> dict:
        ls = self.label_set
        return {"id": self.id, "path": str(self.path), "backend": self.backend,
                "base_backend": self.meta.get("backend"), "model_name": (self.meta.get("model") or {}).get("name"),
                "task": ls.task.value, "labels": list(ls.names), "label_set": ls.name,
                "loaded": self.clf is not None, "size_bytes": self.size_bytes,
                "export_file": str(self.export_file) if self.export_file else None}


def _unique_id(run: Run, taken: set[str]) -> str:
    base = run.name or "model"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


class ModelRegistry:
    """Served models by id. Thread-safe: the batchers call :meth:`get` from their worker threads."""

    def __init__(self, runs: Sequence[str | Path], *, onnx: bool = False, int8: bool = False,
                 runtime: str | None = None, memory_budget: int | None = None, threads: int | None = None,
                 freeze_gc: bool = False):
        """``freeze_gc``: after each load, move every object alive into the garbage collector's permanent
        generation (a server process; see :meth:`get`)."""
        if not runs:
            raise ModelError("No run directories given",
                             hint="Pass one or more run directories, e.g. runs/isear-minilm")
        self.runtime = runtime or ("onnx" if onnx else None)  # onnx=True: runtime "onnx"
        self.int8 = int8
        self.threads = threads
        self.freeze_gc = freeze_gc
        self.memory_budget = memory_budget if memory_budget is not None else default_memory_budget()
        self.models: dict[str, ServedModel] = {}
        self._lock = threading.Lock()
        self.evictions = 0
        for path in map(Path, runs):
            run = Run.open(path)
            run.meta  # noqa: B018 - a missing or corrupt model fails here, before the port is bound
            export = run.export_file(self.runtime, int8) if self.runtime else None
            model_id = _unique_id(run, set(self.models))
            size = weight_bytes(run.model_dir) if export is None else sum(
                p.stat().st_size for p in {export, export.with_suffix(".bin")} if p.is_file())  # xml + bin
            served = ServedModel(model_id, path, run, export, self.runtime, int(size * MEMORY_FACTOR))
            served.check()  # a cut or pickled weights file fails here too, before the port is bound
            self.models[model_id] = served

    # -- lookups ------------------------------------------------------------------------------
    @property
    def ids(self) -> list[str]:
        return list(self.models)

    @property
    def default_id(self) -> str:
        return self.ids[0]

    def __contains__(self, model_id: str) -> bool:
        return model_id in self.models

    def entry(self, model_id: str | None) -> ServedModel:
        model_id = model_id or self.default_id
        if model_id not in self.models:
            raise KeyError(model_id)
        return self.models[model_id]

    @property
    def loaded_bytes(self) -> int:
        return sum(m.size_bytes for m in self.models.values() if m.clf is not None)

    # -- loading ------------------------------------------------------------------------------
    def get(self, model_id: str | None = None):
        """The loaded classifier for ``model_id`` (loads it now if needed, evicting LRU models)."""
        m = self.entry(model_id)
        with m.lock:  # one load per model, other models stay available meanwhile
            if m.clf is None:
                self._make_room(m)
                started = time.perf_counter()
                try:
                    clf = m.run.load(runtime=m.runtime, int8=self.int8, threads=self.threads).view()
                except ModelError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a loader's own error types: the model is unavailable (503), the server is fine
                    log.exception("loading model %s failed", m.id)
                    raise ModelError(f"Could not load the model in {m.path}: {type(exc).__name__}: {exc}") from None
                set_inference_threads(self.threads)
                m.clf, m.loads = clf, m.loads + 1
                # A full garbage collection walks every object the model and its libraries made (~330,000
                # for an ONNX MiniLM server: 150-440 ms on this 2-core machine), a pause every request in
                # flight would wait for. Freezing them after the load keeps collections to the objects
                # requests create; an eviction unfreezes so the evicted model's cycles can be reclaimed.
                # (Server processes only: in a library or test process frozen objects would never be collected.)
                if self.freeze_gc:
                    gc.freeze()
                log.info("loaded model %s (%s) in %.1fs", m.id, m.backend, time.perf_counter() - started)
            m.last_used = time.monotonic()
            return m.clf

    def _make_room(self, incoming: ServedModel) -> None:
        with self._lock:
            loaded = sorted((m for m in self.models.values() if m.clf is not None and m is not incoming),
                            key=lambda m: m.last_used)
            used = sum(m.size_bytes for m in loaded)
            for victim in loaded:
                if used + incoming.size_bytes <= self.memory_budget:
                    break
                log.info("evicting model %s to stay within the memory budget", victim.id)
                victim.clf = None  # in-flight batches keep their own reference until they finish
                if self.freeze_gc:
                    gc.unfreeze()
                used -= victim.size_bytes
                self.evictions += 1
            if used + incoming.size_bytes > self.memory_budget:
                log.warning("model %s (~%d MB) alone exceeds the memory budget (%d MB); loading it anyway",
                            incoming.id, incoming.size_bytes >> 20, self.memory_budget >> 20)

    def unload(self, model_id: str) -> None:
        self.entry(model_id).clf = None

    def describe(self) -> list[dict]:
        return [m.describe() for m in self.models.values()]
