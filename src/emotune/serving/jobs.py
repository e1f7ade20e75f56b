"""Labelling uploaded files in the background: ``POST /v1/jobs``, its progress, its result.

An upload (CSV or JSONL, within ``max_upload_bytes``) is saved into a private temporary folder,
read once through the strict reader of :mod:`emotune.inference.predict` (a bad row is refused
there and then, with its line and column, as a 422) and labelled by
:func:`emotune.inference.predict.predict_file` in this store's own worker thread, chunk by chunk.
The event loop only ever answers: classify requests keep flowing while a long file is labelled,
and ``GET /v1/jobs/{id}`` reads the progress the worker updates after every chunk.

Finished jobs are kept (with their files) until ``keep`` newer jobs have finished or the server
stops; job ids are random tokens, so one client cannot guess another's job.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from emotune.errors import DataError, EmotuneError

#: Content-Type of an upload -> the file suffix that picks the reader and the output format
UPLOAD_TYPES = {"text/csv": ".csv", "application/csv": ".csv", "application/x-ndjson": ".jsonl",
                "application/jsonl": ".jsonl", "application/x-jsonlines": ".jsonl", "application/jsonlines": ".jsonl"}


class JobsFull(Exception):
    """Too many jobs are waiting or running."""


@dataclass
class Job:
    id: str
    model: str
    filename: str  # what the client called the file (only used in messages and the download name)
    folder: Path
    suffix: str
    text_col: str
    state: str = "queued"  # queued -> running -> done | failed
    total: int = 0
    done: int = 0
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    labelled: int = 0
    blank_rows: int = 0

    @property
    def input(self) -> Path:
        return self.folder / f"input{self.suffix}"

    @property
    def output(self) -> Path:
        return self.folder / f"labelled{self.suffix}"

    @property
    def download_name(self) -> str:
        return f"{Path(self.filename).stem or 'upload'}.labelled{self.suffix}"

    def to_dict(self) -> dict:
        return {"id": self.id, "model": self.model, "filename": self.filename, "state": self.state,
                "total": self.total, "done": self.done,
                "progress": round(self.done / self.total, 4) if self.total else 0.0,
                "labelled": self.labelled, "blank_rows": self.blank_rows, "error": self.error,
                "result": f"/v1/jobs/{self.id}/result" if self.state == "done" else None}


def safe_filename(name: str | None, suffix: str) -> str:
    """A display name without folders or control characters (it ends up in a header)."""
    name = Path(name or "").name
    name = re.sub(r"[^\w.\- ]", "_", name)[:100].strip(" .")
    return name or f"upload{suffix}"


class JobStore:
    def __init__(self, *, keep: int = 32, max_pending: int = 8):
        self.keep, self.max_pending = keep, max_pending
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._root: Path | None = None
        # one worker: files are labelled one after another, beside (not instead of) the live traffic
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emotune-jobs")

    # -- creating -----------------------------------------------------------------------------
    def _folder(self) -> Path:
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="emotune-jobs-"))
            folder = self._root / secrets.token_hex(8)
        folder.mkdir(mode=0o700)
        return folder

    def create(self, data: bytes, *, suffix: str, filename: str | None, model: str, text_col: str) -> Job:
        """Save and check an upload (raises :class:`DataError` naming the row, or :class:`JobsFull`)."""
        with self._lock:
            pending = sum(j.state in ("queued", "running") for j in self.jobs.values())
        if pending >= self.max_pending:
            raise JobsFull(f"{pending} files are being labelled already")
        job = Job(secrets.token_urlsafe(16), model, safe_filename(filename, suffix), self._folder(), suffix, text_col)
        try:
            job.input.write_bytes(data)
            self._check(job)
        except BaseException:
            shutil.rmtree(job.folder, ignore_errors=True)
            raise
        with self._lock:
            self.jobs[job.id] = job
        return job

    def _check(self, job: Job) -> None:
        from emotune.inference.predict import InputFile

        try:
            inp = InputFile(job.input, job.text_col)
            job.total = inp.count()
        except DataError as exc:
            # the reader names its (temporary) path: show the client the name it uploaded
            message = exc.message.replace(str(job.input), job.filename)
            raise DataError(message, hint=exc.hint) from None
        job.blank_rows = len(inp.blank_rows)

    # -- running ------------------------------------------------------------------------------
    def start(self, job: Job, label: Callable[[Job, Callable[[int], None]], dict]) -> None:
        """Run ``label(job, on_progress)`` in the worker thread; it returns predict_file's summary."""

        def work() -> None:
            job.state = "running"
            try:
                def progress(n: int) -> None:
                    job.done += n

                summary = label(job, progress)
                job.labelled = summary.get("labelled", job.done)
                job.state = "done"
            except EmotuneError as exc:
                job.error = exc.message.replace(str(job.input), job.filename)
                job.state = "failed"
            except Exception as exc:  # noqa: BLE001 - the job fails, the server carries on
                job.error = f"Labelling failed: {type(exc).__name__}: {exc}"
                job.state = "failed"
            finally:
                job.finished = time.time()
                self._prune()

        self._executor.submit(work)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self.jobs.get(job_id)

    def _prune(self) -> None:
        with self._lock:
            finished = sorted((j for j in self.jobs.values() if j.finished is not None), key=lambda j: j.finished)
            for old in finished[: max(0, len(finished) - self.keep)]:
                del self.jobs[old.id]
                shutil.rmtree(old.folder, ignore_errors=True)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
