"""Threads, seeds, device and precision: emotune.runtime (imported without torch)."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import torch

from emotune import runtime
from emotune.config import TrainingConfig


def test_importing_runtime_does_not_import_torch():
    code = "import sys, emotune.runtime; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_precision_on_cpu(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: False)
    assert runtime.select_precision(TrainingConfig(precision="auto")) == "fp32"
    assert runtime.select_precision(TrainingConfig(precision="fp16")) == "fp32"
    assert runtime.select_precision(TrainingConfig(precision="bf16")) == "bf16"
    assert runtime.torch_dtype_for("bf16") is torch.bfloat16 and runtime.torch_dtype_for("fp32") is torch.float32
    assert runtime.select_device().type == "cpu"


def test_precision_auto_on_gpu(monkeypatch):
    monkeypatch.setattr(runtime, "cuda_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert runtime.select_precision(TrainingConfig(precision="auto")) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert runtime.select_precision(TrainingConfig(precision="auto")) == "fp16"
    assert runtime.select_precision(TrainingConfig(precision="fp32")) == "fp32"


def test_setup_threads():
    before = torch.get_num_threads()
    try:
        assert runtime.setup_threads(TrainingConfig(threads=1)) == 1
        assert torch.get_num_threads() == 1
        assert runtime.setup_threads(TrainingConfig(), only_explicit=True) == 1  # inference keeps the current count
        assert runtime.setup_threads(TrainingConfig()) == runtime.available_cpus()
    finally:
        torch.set_num_threads(before)


def test_set_seed_seeds_python_numpy_and_torch():
    runtime.set_seed(3)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    runtime.set_seed(3)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_available_memory():
    assert runtime.available_memory_bytes("cpu") > 0
