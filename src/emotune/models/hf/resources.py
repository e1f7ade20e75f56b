"""Loading quietly, counting parameters, refusing models that do not fit in memory."""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import torch

from emotune import runtime
from emotune.errors import ModelError


@contextmanager
def quiet_hf(errors_only: bool = True):
    """Silence transformers' load reports and shard progress bars (a new head is *expected* to be missing)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    if errors_only:
        hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # raised by PEFT's own calls into transformers, nothing a user can act on
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


def bitsandbytes_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def check_fits(n_params: int, bytes_per_param: float, *, what: str, device=None, factor: float = 1.2,
               hint: str | None = None) -> None:
    """Raise :class:`ModelError` when ``n_params * bytes_per_param * factor`` exceeds free memory."""
    need = n_params * bytes_per_param * factor
    have = runtime.available_memory_bytes(device)
    if need > have:
        gib = 1024 ** 3
        raise ModelError(f"{what} needs about {need / gib:.1f} GiB but only {have / gib:.1f} GiB is free",
                         hint=hint)


def human_count(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)
