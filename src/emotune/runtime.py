"""The machine a run uses: CPU threads, random seeds, device and precision (the only copies).

torch is imported inside the functions, never at module level, so that commands which never
touch a torch backend (``emotune data list``, TF-IDF training, ONNX serving) do not pay for it.
"""

from __future__ import annotations

import logging
import os
import random
import sys

log = logging.getLogger(__name__)


# -- threads ------------------------------------------------------------------------------------
def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def setup_threads(training=None, *, only_explicit: bool = False) -> int:
    """Use ``training.threads`` torch threads (default: every CPU this process may use, shared
    among the processes torchrun started on this machine).

    ``only_explicit=True`` (inference, the start of a run) leaves the current setting alone unless
    the config names a number, so that a server that chose its own thread count keeps it; it then
    imports torch only when torch is already loaded.
    """
    explicit = getattr(training, "threads", None)
    if only_explicit and not explicit:
        torch = sys.modules.get("torch")
        return torch.get_num_threads() if torch is not None else available_cpus()
    import torch

    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    n = explicit or max(1, available_cpus() // local_processes)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


# -- seeds --------------------------------------------------------------------------------------
def set_seed(seed: int) -> None:
    """Seed Python, numpy and torch (all CUDA devices too): what ``transformers.set_seed`` does."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)  # a no-op without CUDA


# -- device, precision, memory ------------------------------------------------------------------
def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def select_device():
    import torch

    return torch.device("cuda") if cuda_available() else torch.device("cpu")


def select_precision(training) -> str:
    """``fp32`` / ``bf16`` / ``fp16`` for this machine.

    ``auto``: bf16 on a GPU that supports it, else fp16 on a GPU, fp32 on CPU. An explicit fp16
    on CPU falls back to fp32 (CPU autocast has no fp16 scaler); explicit bf16 on CPU is honoured.
    """
    want = getattr(training, "precision", "fp32")
    if want == "auto":
        if not cuda_available():
            return "fp32"
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if want == "fp16" and not cuda_available():
        log.warning("precision=fp16 needs a CUDA GPU; training in fp32 on CPU instead")
        return "fp32"
    return want


def torch_dtype_for(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def available_memory_bytes(device=None) -> int:
    """Free GPU memory (CUDA) or available system RAM (psutil)."""
    import torch

    device = torch.device(device) if device is not None else select_device()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


# -- processes (torchrun / accelerate launch) ---------------------------------------------------
# What torchrun and accelerate launch set in every worker's environment.
DISTRIBUTED_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                   "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def world_size() -> int:
    """Processes training together (``WORLD_SIZE`` of torchrun / accelerate launch); 1 otherwise."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def rank() -> int:
    return int(os.environ.get("RANK", "0") or 0)


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def is_main_process() -> bool:
    """Rank 0, the only process that writes a run directory (True outside torchrun)."""
    return rank() == 0


def leave_distributed() -> None:
    """Forget the launcher's environment: this process then trains alone (rank 0 of a backend that
    does not train through the Trainer, e.g. TF-IDF, while the other ranks have exited)."""
    for key in DISTRIBUTED_ENV:
        os.environ.pop(key, None)


def batch_layout(batch_size: int, grad_accum: int, processes: int, keep_effective: bool = True) -> tuple[int, int]:
    """(per-process batch, gradient accumulation) for ``processes`` processes.

    ``keep_effective``: the effective batch of one process (``batch_size * grad_accum``) is kept,
    so a preset's recipe (and its learning rate) holds under torchrun: 16 x 1 on 2 processes is
    8 x 1 each, 1 x 8 is 1 x 4 each. Where it cannot be split evenly the nearest layout is used
    (and logged); ``keep_effective=False`` keeps both numbers per process (the batch grows).
    """
    if processes <= 1 or not keep_effective:
        return batch_size, grad_accum
    effective = batch_size * grad_accum
    if batch_size % processes == 0:
        return batch_size // processes, grad_accum
    if grad_accum % processes == 0:
        return batch_size, grad_accum // processes
    per_process = max(1, round(effective / processes))
    # the largest per-process batch not above the configured one that divides the per-process share
    batch = max(b for b in range(1, min(batch_size, per_process) + 1) if per_process % b == 0)
    accum = per_process // batch
    if batch * accum * processes != effective:
        log.warning("effective batch %d cannot be split over %d processes; using %d x %d per process "
                    "(effective batch %d)", effective, processes, batch, accum, batch * accum * processes)
    return batch, accum


# -- the fit clock: a run's fitting time across resumes ------------------------------------------
# A run killed and resumed would otherwise report only the part after the resume. The trainer starts
# the clock around a fit; each checkpoint stores the clock's reading (models.hf.checkpoints), and a
# resume sets the clock to the reading of the checkpoint it continues, so the work redone after the
# kill is not counted twice. Process state, like the thread count: a process fits one run at a time.
_CLOCK = {"t0": None, "offset": 0.0, "resumed": None}


def start_fit_clock() -> None:
    import time

    _CLOCK.update(t0=time.monotonic(), offset=0.0, resumed=None)


def fit_elapsed() -> float:
    """Seconds of fitting so far, earlier processes' included up to the checkpoint resumed from."""
    import time

    return 0.0 if _CLOCK["t0"] is None else _CLOCK["offset"] + time.monotonic() - _CLOCK["t0"]


def resume_fit_clock(seconds: float | None) -> None:
    """The fit continues a checkpoint whose clock read ``seconds`` (None: it has no reading, e.g.
    written by an older emotune: the time before the resume is then unknown and not counted)."""
    if seconds is None:
        _CLOCK["resumed"] = "unclocked"
        return
    _CLOCK["offset"] += float(seconds) - fit_elapsed()
    _CLOCK["resumed"] = "clocked"


def fit_resumed() -> str | None:
    """None (not resumed), "clocked" (earlier time counted) or "unclocked" (only this process's)."""
    return _CLOCK["resumed"]
