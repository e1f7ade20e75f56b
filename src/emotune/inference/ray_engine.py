"""`predict` / `annotate` of a corpus on Ray Data: shards fanned out to actors that hold the model.

The pipeline: ``ray.data.from_items(pending shards)`` -> ``map_batches(ShardLabeller,
compute=ActorPoolStrategy(size=workers))`` -> small progress records streamed back to the driver.
Each actor loads the run once (torch or ONNX / int8) and labels whole shards with the local path's
own functions (:func:`label_shard` in :mod:`emotune.inference.shards`), so the strict row checks,
the labels and the probabilities are those of ``--engine local``; each output shard is published
atomically under a name derived from its input shard, so a rerun skips what is finished.

Why not ``read_csv`` -> ``write_parquet``: Ray's readers infer column types (``"007"`` becomes 7)
and do not refuse what the strict reader refuses (NUL bytes, ragged rows), and Ray's writers name
files by write task, not by input shard, and write them in place: neither a rerun nor a reader
could tell a finished shard from a torn one. Reading and writing inside the actor keeps both
properties; the data still never passes through the driver.

Ray is imported here only, and only when the engine is used (``pip install 'emotune[ray]'``).
A single file is one shard (one worker); split a big corpus in shards to use several.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from emotune.errors import ConfigError, EmotuneError
from emotune.inference.shards import Shard, ShardPlan, label_shard, plan_shards


def require_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise ConfigError("--engine ray needs Ray Data, which is not installed",
                          hint="pip install 'emotune[ray]'  (or leave out --engine ray: the local engine needs no Ray)") \
            from None
    return ray


@dataclass
class RayJob:
    """What every actor needs to label a shard (plain values: it is pickled to the workers)."""

    mode: str  # "predict" or "annotate"
    runs: list[str]
    output: str
    fmt: str
    onnx: bool = False
    int8: bool = False
    text_col: str = "text"
    top_k: int | None = None
    batch_size: int | None = None
    chunk_size: int = 512
    threads: int = 1  # per actor


@dataclass
class CorpusResult:
    output: Path
    shards: int
    skipped_shards: int  # finished by an earlier run
    written: int = 0  # rows labelled now
    resumed: int = 0  # rows of partial shards already written by an earlier run
    blank_rows: int = 0
    windows: int = 0
    workers: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"output": str(self.output), "shards": self.shards, "skipped_shards": self.skipped_shards,
                "written": self.written, "resumed": self.resumed, "blank_rows": self.blank_rows,
                "long_texts": self.windows, "workers": self.workers, "seconds": round(self.seconds, 3)}


def load_labeller(job: RayJob) -> Callable:
    """``label(input, output, on_total=, on_progress=)`` for one shard, the model(s) loaded once."""
    from emotune.runs import Run

    if job.mode == "predict":
        from emotune.inference.predict import predict_file

        clf = Run.open(job.runs[0]).load(onnx=job.onnx, int8=job.int8, threads=job.threads).view()
        context = clf.input_spec.context

        def label(inp, out, **callbacks):
            return predict_file(clf, inp, out, text_col=job.text_col, top_k=job.top_k, batch_size=job.batch_size,
                                chunk_size=job.chunk_size, context=context, **callbacks)
        label.column_types = _predict_types(clf, job.top_k)
        return label
    from emotune.inference.annotate import annotate_file, load_annotators

    annotators = load_annotators(job.runs, loader=lambda run: run.load(onnx=job.onnx, int8=job.int8,
                                                                       threads=job.threads))

    def label(inp, out, **callbacks):
        return annotate_file(annotators, inp, out, text_col=job.text_col, batch_size=job.batch_size,
                             chunk_size=job.chunk_size, **callbacks)
    label.column_types = _annotate_types(annotators)
    return label


def _predict_types(clf, top_k) -> dict:
    import pyarrow as pa

    from emotune.inference.predict import prediction_fields

    fields = prediction_fields(clf.label_set.names, clf.task, top_k)
    return {c: (pa.int64() if c == "windows" else pa.float64() if c.startswith(("prob_", "value_"))
                or (c.startswith("top") and c.endswith("_score")) else pa.string()) for c in fields}


def _annotate_types(annotators) -> dict:
    import pyarrow as pa

    text_cols = ("label", "labels", "valid")
    return {c: pa.string() if c.rpartition(":")[2] in text_cols else pa.float64()
            for a in annotators for c in a.columns()}


class ShardLabeller:
    """The Ray actor: loads the model once, then labels the shards it is given, reporting progress."""

    def __init__(self, job: RayJob):
        import sys

        torch = sys.modules.get("torch")
        if torch is not None:
            torch.set_num_threads(job.threads)
        self.job = job
        self.label = load_labeller(job)

    def __call__(self, batch: dict) -> Iterator[dict]:
        for path, name in zip(batch["path"], batch["name"]):
            yield from self._shard(Shard(Path(str(path)), str(name)))

    def _shard(self, shard: Shard) -> Iterator[dict]:
        """Runs the shard in a thread and yields its progress as it happens (at most ~2 records a second)."""
        events: queue.Queue = queue.Queue()

        def work():
            try:
                result = label_shard(self.label, shard, Path(self.job.output), self.job.fmt,
                                     column_types=self.label.column_types,
                                     on_total=lambda total, skipped: events.put(("total", total, skipped)),
                                     on_progress=lambda n: events.put(("rows", n, 0)))
                windows = getattr(result, "windows", 0)
                events.put(("done", len(result.blank_rows), windows))
            except EmotuneError as exc:
                events.put(("error", exc.message, exc.hint or ""))
            except BaseException as exc:  # a bug: reported with its type, the driver raises it
                events.put(("crash", f"{type(exc).__name__}: {exc}", ""))

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
        rows, last = 0, time.monotonic()
        while True:
            kind, a, b = events.get()
            if kind == "rows":
                rows += a
                if time.monotonic() - last < 0.5:
                    continue
                a, rows, last = rows, 0, time.monotonic()
            elif rows:
                yield _event(shard.name, "rows", rows, 0)
                rows = 0
            yield _event(shard.name, kind, a, b)
            if kind in ("done", "error", "crash"):
                break
        thread.join()


def _event(name: str, kind: str, a, b) -> dict:
    return {"name": [name], "kind": [kind], "a": [str(a)], "b": [str(b)]}


def connect(address: str | None, workers: int | None) -> tuple[object, bool]:
    """(ray, whether we started the connection): joins ``address``, or starts a local cluster."""
    import logging

    ray = require_ray()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # no per-dataset INFO lines under our bar
    if ray.is_initialized():
        return ray, False
    quiet = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            from emotune.runtime import available_cpus

            ray.init(num_cpus=workers or available_cpus(), include_dashboard=False, **quiet)
    except ConnectionError as exc:
        raise ConfigError(f"Cannot join the Ray cluster at {address}: {exc}",
                          hint="Start it with `ray start --head` and give the address it prints "
                               "(host:port), or leave out --address for a local cluster.") from None
    return ray, True


def label_corpus(job: RayJob, input_path: str | Path, *, address: str | None = None, workers: int | None = None,
                 overwrite: bool = False, on_plan: Callable[[ShardPlan], None] | None = None,
                 on_total: Callable[[str, int, int], None] | None = None,
                 on_progress: Callable[[int], None] | None = None,
                 on_shard_done: Callable[[str], None] | None = None) -> CorpusResult:
    """Label every shard of ``input_path`` into the folder ``job.output`` on Ray (see the module docstring).

    Callbacks: ``on_plan(plan)`` once, ``on_total(shard, rows, rows already written)`` when a shard
    starts, ``on_progress(rows)`` as rows are written, ``on_shard_done(shard)``.
    """
    from emotune.inference.predict import InputFile
    from emotune.runs import Run

    for spec in job.runs:  # a clear error for a missing / corrupt run before Ray starts
        Run.open(spec.partition("#")[0]).meta
    plan = plan_shards(input_path, job.output, overwrite=overwrite)
    for shard in plan.pending:  # a missing text column fails here, not in a worker
        InputFile(shard.path, job.text_col)
    if on_plan:
        on_plan(plan)
    result = CorpusResult(plan.output, len(plan.shards), len(plan.done))
    pending = plan.pending
    if not pending:
        return result
    ray, started = connect(address, workers)
    start = time.perf_counter()
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        size = max(1, min(workers or cpus, len(pending)))
        result.workers = size
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # the CLI draws one bar over rows, not Ray's per operator
        ctx.enable_operator_progress_bars = False
        items = [{"path": str(s.path), "name": s.name} for s in pending]
        ds = ray.data.from_items(items, override_num_blocks=len(items)).map_batches(
            ShardLabeller, fn_constructor_args=(job,), batch_size=1, num_cpus=job.threads,
            compute=ray.data.ActorPoolStrategy(size=size))
        for batch in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
            for ev in batch.to_pylist():
                _apply(ev, result, on_total, on_progress, on_shard_done)
    finally:
        result.seconds = time.perf_counter() - start
        if started:
            ray.shutdown()
    return result


def _apply(ev: dict, result: CorpusResult, on_total, on_progress, on_shard_done) -> None:
    from emotune.errors import DataError

    kind, name = ev["kind"], ev["name"]
    if kind == "total":
        result.resumed += int(ev["b"])
        if on_total:
            on_total(name, int(ev["a"]), int(ev["b"]))
    elif kind == "rows":
        result.written += int(ev["a"])
        if on_progress:
            on_progress(int(ev["a"]))
    elif kind == "done":
        result.blank_rows += int(ev["a"])
        result.windows += int(ev["b"])
        if on_shard_done:
            on_shard_done(name)
    elif kind == "error":
        raise DataError(ev["a"], hint=ev["b"] or None)
    else:
        raise RuntimeError(f"A Ray worker failed on shard {name}: {ev['a']}")
