"""Training in several processes: ``torchrun --nproc_per_node N -m emotune train CONFIG``,
``accelerate launch -m emotune train CONFIG`` or ``emotune train CONFIG --nproc N`` (which hands over
to torchrun).

The torch backends train with the Trainer's own DDP (gloo on CPU, NCCL on GPUs; FSDP or DeepSpeed
when the config asks). :func:`emotune.training.trainer.train` uses the helpers here so that rank 0
alone prepares and writes the run directory and the others learn its decision (fresh run or resume,
which folder), every rank checks it holds the same data split, and after fitting rank 0 alone scores
and writes while the others exit. Rank 0's decisions travel as byte tensors (no pickles).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from datetime import timedelta

from emotune import runtime
from emotune.errors import ConfigError, DataError

log = logging.getLogger(__name__)


def join(distributed) -> str:
    """Join the launcher's process group (idempotent); return its backend (``gloo``, ``nccl``).

    ``distributed``: :class:`emotune.config.DistributedConfig`. The Trainer's own set-up (Accelerate)
    later finds the group initialised and uses it.
    """
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return str(dist.get_backend())
    backend = distributed.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        if not torch.cuda.is_available():
            raise ConfigError("training.distributed.backend=nccl needs CUDA GPUs",
                              hint="Use training.distributed.backend=gloo (or auto) on CPU.")
        torch.cuda.set_device(runtime.local_rank())
    dist.init_process_group(backend=backend, timeout=timedelta(seconds=distributed.timeout_s))
    log.info("rank %d of %d joined the %s process group", runtime.rank(), runtime.world_size(), backend)
    return backend


def _device():
    import torch
    import torch.distributed as dist

    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def share(value: dict | None) -> dict:
    """Rank 0's JSON-able ``value`` on every rank (the others pass None)."""
    import torch
    import torch.distributed as dist

    device = _device()
    payload = json.dumps(value).encode("utf-8") if runtime.is_main_process() else b""
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buffer = (torch.tensor(list(payload), dtype=torch.uint8, device=device) if runtime.is_main_process()
              else torch.empty(int(size.item()), dtype=torch.uint8, device=device))
    dist.broadcast(buffer, src=0)
    return json.loads(bytes(buffer.cpu().tolist()).decode("utf-8"))


def check_same_data(summary: dict) -> None:
    """Every rank must train on the same split: compare the digests of train/dev/test and the labels."""
    import torch
    import torch.distributed as dist

    digest = hashlib.sha256(json.dumps([summary.get("sha256"), summary.get("label_set")], sort_keys=True)
                            .encode("utf-8")).hexdigest()
    expected = share({"digest": digest} if runtime.is_main_process() else None)["digest"]
    differs = torch.tensor([int(digest != expected)], dtype=torch.int64, device=_device())
    dist.all_reduce(differs, op=dist.ReduceOp.MAX)
    if differs.item():
        raise DataError(
            f"The {runtime.world_size()} processes prepared different data splits (rank {runtime.rank()}: "
            f"{'differs from rank 0' if digest != expected else 'another rank differs'})",
            hint="Make the data the same for every process: the same file on a shared disk, unchanged while "
                 "the run starts; a split column (data.split_col) fixes the split itself.")


def layout(training, processes: int, backend: str | None) -> dict:
    """How a run was spread over processes (metrics.json's ``distributed``, the model card)."""
    dist = training.distributed
    batch, accum = runtime.batch_layout(training.batch_size, training.grad_accum, processes,
                                        keep_effective=dist.effective_batch == "keep")
    strategy = "deepspeed" if dist.deepspeed is not None else "fsdp" if dist.fsdp is not None else \
        ("ddp" if processes > 1 else "single process")
    return {"world_size": processes, "strategy": strategy, "backend": backend, "per_device_batch_size": batch,
            "grad_accum": accum, "effective_batch": batch * accum * processes}


def torchrun_command(nproc: int, train_args: list[str]) -> list[str]:
    """The command ``emotune train ... --nproc N`` hands over to: torchrun on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "-m", "emotune", "train", *train_args]
