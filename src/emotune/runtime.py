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
    """Use ``training.threads`` torch threads (default: every CPU this process may use).

    ``only_explicit=True`` (inference, the start of a run) leaves the current setting alone unless
    the config names a number, so that a server that chose its own thread count keeps it; it then
    imports torch only when torch is already loaded.
    """
    explicit = getattr(training, "threads", None)
    if only_explicit and not explicit:
        torch = sys.modules.get("torch")
        return torch.get_num_threads() if torch is not None else available_cpus()
    import torch

    n = explicit or available_cpus()
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
