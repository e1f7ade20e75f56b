"""Where the Trainer writes ``checkpoint-N``, which one a rerun resumes, and removing them afterwards."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from transformers import TrainerCallback

from emotune import atomic, runtime

CLOCK_FILE = "emotune_clock.json"  # the fit clock's reading when the checkpoint was saved (runtime)


def checkpoint_dir(output_dir: str | Path | None, name: str | None = None) -> Path | None:
    """The folder the Trainer writes ``checkpoint-N`` into: ``output_dir`` itself (the protocol's
    "resumable checkpoints there"), or a named stage folder inside it."""
    if output_dir is None:
        return None
    return Path(output_dir) / name if name else Path(output_dir)


def last_checkpoint(folder: str | Path | None) -> str | None:
    """The newest complete ``checkpoint-N`` in ``folder``.

    The Trainer writes ``trainer_state.json`` after the weights, optimizer and RNG states, so a
    checkpoint without it was being written when the process was killed: it is skipped (and the
    one before is resumed) instead of crashing the rerun, which transformers' own
    ``get_last_checkpoint`` (newest folder by name) would do.
    """
    if folder is None or not Path(folder).is_dir():
        return None
    done = [p for p in Path(folder).glob("checkpoint-*")
            if p.name.removeprefix("checkpoint-").isdigit() and (p / "trainer_state.json").is_file()]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.removeprefix("checkpoint-"))))


def remove_checkpoints(folder: str | Path) -> None:
    """Delete ``checkpoint-N`` folders (also one level down, e.g. ``head/``), then empty folders.

    Only what the Trainer wrote goes: anything else a caller keeps in ``folder`` stays.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return
    for ckpt in [*folder.glob("checkpoint-*"), *folder.glob("*/checkpoint-*")]:
        if ckpt.is_dir() and ckpt.name.removeprefix("checkpoint-").isdigit():
            shutil.rmtree(ckpt, ignore_errors=True)
    for sub in [p for p in folder.iterdir() if p.is_dir()] + [folder]:
        try:
            sub.rmdir()  # only succeeds when empty
        except OSError:
            pass


@contextmanager
def work_dir(folder: str | Path | None, *, keep: bool = False):
    """Where the Trainer writes checkpoints: ``folder`` (kept for resume) or a temporary directory
    (one process only: under torchrun every rank must see the same folder, so give one).

    ``keep=False`` removes the checkpoints after a successful run (the best weights live in the
    saved model, and optimizer states are twice the model size); an exception leaves them for
    resuming.
    """
    if folder is None:
        tmp = tempfile.mkdtemp(prefix="emotune-train-")
        try:
            yield Path(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    if not keep and runtime.is_main_process():  # under torchrun rank 0 alone writes (and removes) them
        remove_checkpoints(folder)


class TimedCheckpointCallback(TrainerCallback):
    """Also save a checkpoint every ``minutes`` of training, not only at the end of an epoch.

    An epoch of a 135M-parameter LLM on the full train split of a suite takes about an hour on one
    CPU core; a run killed at minute 50 would otherwise start again from zero. A rerun resumes from
    the newest complete checkpoint (:func:`last_checkpoint`), mid-epoch included (the Trainer skips
    the batches already seen). Dev evaluation and best-epoch selection stay once per epoch.
    """

    def __init__(self, minutes: float, clock=time.monotonic):
        self.seconds = float(minutes) * 60
        self.clock = clock
        self.last = clock()

    def on_step_end(self, args, state, control, **kwargs):
        if self.seconds > 0 and self.clock() - self.last >= self.seconds:
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):
        self.last = self.clock()
        return control


def checkpoint_clock(checkpoint: str | Path) -> float | None:
    """The fit clock's reading saved with ``checkpoint`` (None when it has none or it is unreadable)."""
    try:
        return float(json.loads((Path(checkpoint) / CLOCK_FILE).read_text(encoding="utf-8"))["fit_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class ClockCallback(TrainerCallback):
    """Store the fit clock in every checkpoint, so a resumed run reports its whole fitting time."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if runtime.is_main_process() and folder.is_dir():
            atomic.write_text(folder / CLOCK_FILE, json.dumps({"fit_seconds": round(runtime.fit_elapsed(), 2)}))
        return control
