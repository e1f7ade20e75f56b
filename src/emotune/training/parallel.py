"""Run independent trainings side by side, one process per CPU core, one thread each.

Why: on a small CPU machine torch scales badly across cores for the small batches emotune trains
with, and very badly when two processes share the cores. Two runs pinned to the two cores with one
thread each did 1.36-1.8x the work of the same runs one after the other with two threads
(BENCHMARKS.md). So ``emotune benchmark SUITE --jobs N`` (a suite's runs), ``emotune cv --jobs N``
(the folds) and ``emotune distill teacher --jobs N`` (every teacher's folds) keep N worker processes
busy, each pinned to its own core (``os.sched_setaffinity``) with ``torch.set_num_threads(1)``.

A run to train is anything with ``config`` and ``run_dir`` (a suite's :class:`RunSpec`, a
:class:`FoldRun`); a fold also carries its ``data`` (its part of train) and ``report_test``.

This is a process pool from the standard library (:class:`concurrent.futures.ProcessPoolExecutor`)
plus the suite's two ordering rules - a run that loads another run of the suite (``model.name``,
``model.init_from`` or an ensemble member pointing into the suite's run folder) starts after it; the
seeds of one frozen-embedding model on one split start after its first seed, whose fit leaves the
train/dev embeddings in the on-disk cache (:func:`cache_primers`) - not a scheduler: one machine, a fixed
list of runs, each resumable by itself.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from emotune.runtime import available_cpus

# rough cost of a run by backend, to start the longest first (a shorter makespan on few cores)
_COST = {"instruct": 50, "causal-lm": 40, "seq2seq": 20, "encoder": 10, "prompt": 8, "embed-head": 3,
         "ensemble": 1, "tfidf": 1, "lexicon": 0}
_BIG = ("mpnet", "roberta", "xlm", "large", "base")


@dataclass
class FoldRun:
    """One training the caller prepared the data of (a cross-validation fold): trained as given."""

    config: object  # RunConfig
    run_dir: Path
    data: object = None  # PreparedData; None: the config's own data
    report_test: bool = True
    overwrite: bool = False  # retrain even when finished with this config (``--overwrite``)


def label(spec) -> str:
    """How progress lines name a run: its folder, with its parent for a fold (``fold_0`` alone is ambiguous)."""
    return f"{spec.run_dir.parent.name}/{spec.run_dir.name}" if isinstance(spec, FoldRun) else spec.run_dir.name


def default_jobs() -> int:
    """One job per CPU this process may use."""
    return max(1, available_cpus())


def run_cost(config) -> float:
    """A guess of a run's cost (bigger first); only the order of the runs depends on it."""
    cost = float(_COST.get(config.model.backend, 5))
    name = str(getattr(config.model, "name", "") or "").lower()
    if config.model.backend == "encoder" and any(b in name for b in _BIG):
        cost *= 4
    rows = config.data.max_train
    instruct = getattr(config.model, "instruct", None)
    if rows and instruct is not None and instruct.tasks:  # the instruct mix trains on its other tasks' items too
        rows += (instruct.max_per_task or 5000) * len(set(instruct.tasks) - {"ec"})
    return cost * (min(1.0, rows / 5000) if rows else 1.0) * max(float(config.training.epochs), 0.5)


def start_order(costs: dict[str, float], deps: dict[str, set[str]]) -> list[str]:
    """Run names, the first to start first: by the longest chain of work that waits on each run (its own
    cost plus its heaviest chain of dependants), so a run others load (instruct-multi, a transfer's stage
    1) is not left for last because it alone looks cheap."""
    waiting = {n: {m for m, d in deps.items() if n in d} for n in costs}
    chain: dict[str, float] = {}

    def length(name: str, seen: frozenset = frozenset()) -> float:
        if name not in chain:
            after = [length(m, seen | {name}) for m in waiting[name] if m not in seen]
            chain[name] = costs[name] + max(after, default=0.0)
        return chain[name]

    return sorted(costs, key=lambda n: -length(n))


def dependencies(config, run_dirs: dict[str, Path]) -> set[str]:
    """Names of the suite's runs that ``config`` loads (a model path, ``init_from`` or ensemble members)."""
    refs = [str(getattr(config.model, key, "") or "") for key in ("name", "init_from")]
    refs += [str(m) for m in getattr(config.model, "members", None) or []]
    out = set()
    for name, path in run_dirs.items():
        for ref in refs:
            if ref and Path(ref).resolve() == path.resolve():
                out.add(name)
    return out


def cache_primers(specs: list) -> dict[str, set[str]]:
    """``{run: {the run it waits for}}`` for the seeds of one ``embed-head`` model on one split: their fits
    embed the same train/dev texts, which the first leaves in the on-disk cache (``models/embeddings.py``).
    Started side by side each seed would make the encoder's pass itself (a cold SmolLM2 pass over
    GoEmotions is 45 min of a core); started after the first they fit the head alone. A soft order: a
    failed first seed does not fail the others. ``specs`` in start order; folds (own data) are left alone."""
    first: dict[str, str] = {}
    out: dict[str, set[str]] = {}
    for spec in specs:
        if spec.config.model.backend != "embed-head" or getattr(spec, "data", None) is not None:
            continue
        cfg = spec.config.model_dump(mode="json")
        cfg["training"].pop("seed", None)
        key = json.dumps({k: v for k, v in cfg.items() if k not in ("name", "description", "output_dir")},
                         sort_keys=True, default=str)
        name = str(spec.run_dir)
        if key in first:
            out[name] = {first[key]}
        else:
            first[key] = name
    return out


# -- the worker side --------------------------------------------------------------------------------
_CORE = None  # this worker's core


def _init_worker(cores: list[int], counter) -> None:
    """Pin this worker to the next core of ``cores`` and to one thread (before torch loads)."""
    global _CORE
    with counter.get_lock():
        i = counter.value
        counter.value += 1
    _CORE = cores[i % len(cores)]
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TOKENIZERS_PARALLELISM"):
        os.environ[var] = "false" if var == "TOKENIZERS_PARALLELISM" else "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {_CORE})


def _train_in_worker(spec, report_test: bool = True) -> dict:
    """Train one run in this worker (resumable); never raises."""
    import traceback

    from emotune.errors import EmotuneError
    from emotune.training.trainer import train

    from emotune import runs as rd
    from emotune.training.trainer import config_differences

    started = time.time()
    try:
        # finished meanwhile with this config (another `benchmark` of the same folder, or by hand): reuse it
        if (not getattr(spec, "overwrite", False) and rd.is_finished(spec.run_dir)
                and not config_differences(rd.load_config(spec.run_dir), spec.config)):
            return {"status": "done", "reused": True, "core": _CORE, "seconds": 0.0}
        train(spec.config, spec.run_dir, resume=True, overwrite=True, progress=False,
              report_test=getattr(spec, "report_test", report_test), data=getattr(spec, "data", None))
    except EmotuneError as exc:
        return {"status": "failed", "error": exc.message, "core": _CORE, "seconds": time.time() - started}
    except Exception as exc:  # noqa: BLE001 - a worker must report, not die: the table says what failed
        last = traceback.format_exc(limit=3).strip().splitlines()[-1]
        return {"status": "failed", "error": f"{type(exc).__name__}: {exc} ({last})", "core": _CORE,
                "seconds": time.time() - started}
    return {"status": "done", "core": _CORE, "seconds": time.time() - started}


# -- the coordinator side -------------------------------------------------------------------------
def train_parallel(specs: list, jobs: int, say: Callable[[str], None], *,
                   on_done: Callable[[object, dict], None] | None = None) -> dict[str, dict]:
    """Train ``specs`` (RunSpecs or FoldRuns still to train) on ``jobs`` pinned single-thread workers.

    Returns ``{str(run_dir): status}``. The longest chains of work start first (:func:`start_order`); a
    run that loads another run of the list waits for it (and fails with a message when that one failed);
    a frozen-embedding model's later seeds wait for its first (:func:`cache_primers`).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    jobs = max(1, min(jobs, len(specs)))
    names = {str(s.run_dir): s.run_dir for s in specs}  # whole paths: two teachers both have a fold_0
    deps = {str(s.run_dir): dependencies(s.config, names) - {str(s.run_dir)} for s in specs}
    order = start_order({str(s.run_dir): run_cost(s.config) for s in specs}, deps)
    pending = sorted(specs, key=lambda s: order.index(str(s.run_dir)))
    after = cache_primers(pending)  # soft: waits for the run to end, whatever its status
    status: dict[str, dict] = {}
    running: dict[Future, object] = {}
    ctx = mp.get_context("spawn")  # a fresh interpreter per worker: no inherited torch threads or locks
    counter = ctx.Value("i", 0)
    say(f"  {len(specs)} runs on {jobs} worker(s), one thread each, pinned to cores {cores[:jobs]}")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker,
                             initargs=(cores, counter)) as pool, \
            Progress(TextColumn("Training"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     transient=True) as bar:
        task = bar.add_task("train", total=len(specs))
        while pending or running:
            done_names = {k for k, v in status.items() if v["status"] == "done"}
            failed_names = {k for k, v in status.items() if v["status"] != "done"}
            for spec in list(pending):
                blocked = deps[str(spec.run_dir)] & failed_names
                if blocked:
                    pending.remove(spec)
                    status[str(spec.run_dir)] = {"status": "failed",
                                                 "error": f"needs {Path(sorted(blocked)[0]).name}, which failed"}
                    bar.advance(task)
                elif (deps[str(spec.run_dir)] <= done_names and after.get(str(spec.run_dir), set()) <= set(status)
                      and len(running) < jobs):
                    pending.remove(spec)
                    running[pool.submit(_train_in_worker, spec)] = spec
                    say(f"[bold]> {label(spec)}[/] started")
            if not running:
                if pending:  # a dependency outside the list: train the rest anyway, it will say what is missing
                    deps.update({str(s.run_dir): set() for s in pending})
                    after.clear()
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for fut in finished:
                spec = running.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # noqa: BLE001 - a worker process died (killed, out of memory)
                    result = {"status": "failed", "error": f"worker died: {type(exc).__name__}: {exc}"}
                status[str(spec.run_dir)] = result
                bar.advance(task)
                if result["status"] == "done":
                    say(f"[green]+ {label(spec)}[/] done in {result['seconds']:.0f} s (core {result['core']})")
                else:
                    say(f"[red]x {label(spec)} failed:[/] {result['error']}")
                if on_done is not None:
                    on_done(spec, result)
    return status
