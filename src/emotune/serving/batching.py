"""Dynamic micro-batching: concurrent requests for one model share a forward pass.

Each served model has one :class:`MicroBatcher`: requests wait in a bounded asyncio queue; one
worker takes the first waiting request, keeps collecting for at most ``max_wait_ms`` or until
``max_batch`` texts are gathered, runs the model once in a worker thread (the event loop keeps
accepting requests meanwhile) and hands each request its rows. A full queue is refused at once
(:class:`QueueFull` -> HTTP 503 with Retry-After) instead of letting latency grow without bound.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


class QueueFull(Exception):
    """The model's request queue is full; the client should retry later."""


@dataclass
class BatchStats:
    batches: int = 0
    texts: int = 0
    requests: int = 0
    max_batch_seen: int = 0
    rejected: int = 0
    errors: int = 0
    busy_seconds: float = 0.0  # wall time of the forward passes
    cpu_seconds: float = 0.0  # CPU time of the batcher's thread in them (less than busy on a shared CPU)
    sizes: collections.Counter = field(default_factory=collections.Counter)  # batch size -> count

    def to_dict(self) -> dict:
        return {
            "batches": self.batches, "requests": self.requests, "texts": self.texts,
            "mean_batch_size": round(self.texts / self.batches, 3) if self.batches else 0.0,
            "max_batch_size": self.max_batch_seen, "rejected": self.rejected, "errors": self.errors,
            "busy_seconds": round(self.busy_seconds, 3), "cpu_seconds": round(self.cpu_seconds, 3),
            "batch_size_histogram": {str(k): v for k, v in sorted(self.sizes.items())},
        }


@dataclass
class _Pending:
    texts: list[str]
    future: asyncio.Future


# predict(texts) -> rows, called in a worker thread; its result is split back per request
PredictFn = Callable[[list[str]], Sequence]


class MicroBatcher:
    def __init__(self, predict: PredictFn, *, max_batch: int = 32, max_wait_ms: float = 5.0,
                 queue_size: int = 256, name: str = "model"):
        """``predict`` runs in this batcher's thread, so a lazy model load inside it (the registry
        loads on first use) never blocks the event loop."""
        self._predict = predict
        self.max_batch = max(1, int(max_batch))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.queue_size = max(1, int(queue_size))
        self.name = name
        self.stats = BatchStats()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        # One thread per model: batches of one model run one after another, models run in parallel.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"emotune-{name}")

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        if self._worker is None:
            self._queue = asyncio.Queue(maxsize=self.queue_size)
            self._worker = asyncio.get_running_loop().create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
            self._worker = None
        if self._queue is not None:
            while not self._queue.empty():
                item = self._queue.get_nowait()
                if not item.future.done():
                    item.future.set_exception(RuntimeError("server shutting down"))
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        return self._queue.qsize() if self._queue is not None else 0

    # -- requests -----------------------------------------------------------------------------
    async def submit(self, texts: Sequence[str]) -> list:
        """Rows for ``texts`` (in order), computed in a shared batch. Raises :class:`QueueFull`."""
        self.start()
        fut = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait(_Pending(list(texts), fut))
        except asyncio.QueueFull:
            self.stats.rejected += 1
            raise QueueFull(f"model '{self.name}' has {self.queue_size} requests waiting") from None
        return await fut

    def _timed_predict(self, texts: list[str]):
        started = time.thread_time()
        try:
            return self._predict(texts)
        finally:
            self.stats.cpu_seconds += time.thread_time() - started

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            n = len(first.texts)
            deadline = loop.time() + self.max_wait
            while n < self.max_batch:
                timeout = deadline - loop.time()
                try:
                    if timeout <= 0:
                        item = self._queue.get_nowait()
                    else:
                        item = await asyncio.wait_for(self._queue.get(), timeout)
                except (asyncio.QueueEmpty, TimeoutError):
                    break
                batch.append(item)
                n += len(item.texts)
            batch = [b for b in batch if not b.future.cancelled()]  # clients that hung up
            if not batch:
                continue
            texts = [t for b in batch for t in b.texts]
            started = time.perf_counter()
            try:
                rows = await loop.run_in_executor(self._executor, self._timed_predict, texts)
            except Exception as exc:  # the model failed: every request in the batch gets the error
                self.stats.errors += 1
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(exc)
                continue
            finally:
                self.stats.busy_seconds += time.perf_counter() - started
            self.stats.batches += 1
            self.stats.requests += len(batch)
            self.stats.texts += len(texts)
            self.stats.sizes[len(texts)] += 1
            self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(texts))
            start = 0
            for b in batch:
                part = rows[start:start + len(b.texts)]
                start += len(b.texts)
                if not b.future.done():
                    b.future.set_result(list(part) if not isinstance(part, np.ndarray) else part)
