"""Threads, seeds, device and precision: emotune.runtime (imported without torch)."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest
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


def test_processes_from_the_launchers_environment(monkeypatch):
    for key in runtime.DISTRIBUTED_ENV:
        monkeypatch.delenv(key, raising=False)
    assert (runtime.world_size(), runtime.rank(), runtime.is_main_process()) == (1, 0, True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert (runtime.world_size(), runtime.rank(), runtime.local_rank(), runtime.is_main_process()) == (2, 1, 1, False)
    runtime.leave_distributed()
    assert (runtime.world_size(), runtime.rank(), runtime.is_main_process()) == (1, 0, True)


def test_threads_are_shared_among_the_processes_of_one_machine(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setenv("LOCAL_WORLD_SIZE", str(runtime.available_cpus() + 1))  # more processes than CPUs
    try:
        assert runtime.setup_threads(TrainingConfig()) == 1
    finally:
        torch.set_num_threads(before)


def test_batch_layout_keeps_the_effective_batch():
    assert runtime.batch_layout(16, 1, 1) == (16, 1)
    assert runtime.batch_layout(16, 1, 2) == (8, 1)  # the batch is split first
    assert runtime.batch_layout(1, 8, 2) == (1, 4)  # else the accumulation
    assert runtime.batch_layout(6, 4, 4) == (6, 1)
    assert runtime.batch_layout(12, 2, 8) == (3, 1)  # 24 = 3 x 1 x 8
    b, a = runtime.batch_layout(16, 1, 3)  # 16 does not split in 3: the nearest layout
    assert b * a * 3 == 15
    assert runtime.batch_layout(16, 2, 4, keep_effective=False) == (16, 2)  # "grow": both per process


def test_the_fit_clock_carries_a_checkpoints_reading_across_a_resume():
    runtime.start_fit_clock()
    assert runtime.fit_resumed() is None and 0 <= runtime.fit_elapsed() < 5
    runtime.resume_fit_clock(600.0)  # the checkpoint continued was saved 10 min into the fit
    assert runtime.fit_resumed() == "clocked"
    assert runtime.fit_elapsed() == pytest.approx(600.0, abs=1.0)  # this process's load time is not counted twice
    runtime.start_fit_clock()  # the next fit starts from zero
    runtime.resume_fit_clock(None)  # a checkpoint from before the clock: only this process's time counts
    assert runtime.fit_resumed() == "unclocked" and runtime.fit_elapsed() < 5
