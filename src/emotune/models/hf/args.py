"""``TrainingConfig`` -> ``transformers.TrainingArguments``, and the dev metric that picks the best epoch."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from emotune import runtime
from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError
from emotune.metrics import PRIMARY, scores_from_logits
from emotune.metrics import compute_metrics as _compute_metrics
from emotune.models.hf.resources import bitsandbytes_available

log = logging.getLogger(__name__)

# Metrics where smaller is better; everything else is maximised.
LOWER_IS_BETTER = {"loss", "mae", "mse", "rmse", "hamming_loss"}
# Keys compute_metrics returns per task (used to fall back to the task's primary metric).
TASK_METRICS = {
    Task.SINGLE: {"accuracy", "f1_macro", "f1_weighted", "f1_micro", "precision_macro", "recall_macro", "loss"},
    Task.MULTI: {"jaccard_samples", "f1_macro", "f1_micro", "f1_weighted", "subset_accuracy", "hamming_loss", "loss"},
    Task.REGRESSION: {"pearson", "spearman", "mae", "loss"},
}



HF_PROBLEM_TYPE = {Task.SINGLE: "single_label_classification", Task.MULTI: "multi_label_classification",
                   Task.REGRESSION: "regression"}


def resolve_metric(label_set: LabelSet, metric: str | None) -> str:
    """The dev metric that picks the best epoch; the task's primary one when it does not apply."""
    metric = (metric or "").removeprefix("eval_").removeprefix("dev_")
    if metric in TASK_METRICS[label_set.task] or metric.startswith("pearson_"):
        return metric
    fallback = PRIMARY[label_set.task]
    if metric:
        log.info("metric '%s' does not apply to a %s task; using '%s'", metric, label_set.task.value, fallback)
    return fallback


def greater_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def make_compute_metrics(label_set: LabelSet) -> Callable:
    """A ``compute_metrics`` hook for the Trainer built on :func:`emotune.metrics.compute_metrics`."""

    def hook(eval_pred) -> dict[str, float]:
        logits = eval_pred.predictions
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        labels = np.asarray(eval_pred.label_ids)
        scores = scores_from_logits(label_set.task, logits)
        if label_set.task == Task.MULTI:
            labels = labels.astype(int)
        return _compute_metrics(label_set, labels, scores)

    return hook



def check_optimizer(name: str) -> None:
    """bitsandbytes optimizers (paged / 8-bit AdamW of the QLoRA recipes) need bitsandbytes and CUDA:
    say so before training rather than fail inside the Trainer's optimizer factory."""
    lowered = str(name).lower()
    if not any(k in lowered for k in ("paged", "8bit", "bnb", "lion_32bit")):
        return
    missing = [what for what, ok in (("a CUDA GPU", runtime.cuda_available()),
                                     ("the bitsandbytes package (pip install emotune[gpu])", bitsandbytes_available()))
               if not ok]
    if missing:
        raise ConfigError(f"training.optimizer={name} needs {' and '.join(missing)}",
                          hint="Use --set training.optimizer=adamw_torch_fused on this machine.")


def check_distributed(training) -> None:
    """DeepSpeed and FSDP need CUDA (and DeepSpeed its package): say so before the Trainer starts."""
    dist = training.distributed
    if dist.deepspeed is not None and dist.fsdp is not None:
        raise ConfigError("training.distributed sets both deepspeed and fsdp: choose one",
                          hint="Set training.distributed.fsdp=null or training.distributed.deepspeed=null.")
    if isinstance(dist.deepspeed, str) and not Path(dist.deepspeed).expanduser().is_file():
        raise ConfigError(f"training.distributed.deepspeed: DeepSpeed config file not found: {dist.deepspeed}",
                          hint="Give a JSON file (see the ZeRO presets, e.g. configs/isear-mistral7b-lora-deepspeed-zero2.yaml) "
                               "or the config itself as a mapping.")
    for what, given, package in (("deepspeed", dist.deepspeed is not None, "deepspeed"),
                                 ("fsdp", dist.fsdp is not None, None)):
        if not given:
            continue
        missing = [m for m, ok in (("a CUDA GPU", runtime.cuda_available()),
                                   (f"the {package} package (pip install {package})",
                                    package is None or importlib.util.find_spec(package) is not None)) if not ok]
        if missing:
            raise ConfigError(f"training.distributed.{what} ({'DeepSpeed ZeRO' if package else 'FSDP'}) needs "
                              f"{' and '.join(missing)}",
                              hint=f"Use --set training.distributed.{what}=null on this machine: plain DDP "
                                   "(torchrun / --nproc) or one process, same recipe otherwise.")


def training_args_kwargs(training, output_dir: str | Path, *, label_set: LabelSet, has_eval: bool = True,
                         epochs: float | None = None, learning_rate: float | None = None,
                         select_best: bool = True, processes: int | None = None) -> dict[str, Any]:
    """The ``TrainingArguments`` keywords for a :class:`TrainingConfig` (transformers 5 names).

    Evaluation and checkpoints happen once per epoch; with a dev set the best epoch by
    ``training.metric`` is restored at the end. Under torchrun (``processes`` > 1, default: the
    launcher's ``WORLD_SIZE``) the per-device batch and accumulation keep the effective batch of
    ``training`` (:func:`emotune.runtime.batch_layout`).
    """
    precision = runtime.select_precision(training)
    metric = resolve_metric(label_set, training.metric)
    evaluate = has_eval
    dist = training.distributed
    processes = runtime.world_size() if processes is None else processes
    batch, accum = runtime.batch_layout(training.batch_size, training.grad_accum, processes,
                                        keep_effective=dist.effective_batch == "keep")
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=float(training.epochs if epochs is None else epochs),
        max_steps=int(training.max_steps),
        per_device_train_batch_size=batch,
        per_device_eval_batch_size=training.eval_batch_size,
        gradient_accumulation_steps=accum,
        learning_rate=float(training.learning_rate if learning_rate is None else learning_rate),
        weight_decay=training.weight_decay,
        # transformers 5 folded warmup_ratio into warmup_steps: a float in [0, 1) is a ratio
        warmup_steps=float(training.warmup_ratio) if 0 < training.warmup_ratio < 1 else 0,
        optim=training.optimizer,
        seed=training.seed,
        data_seed=training.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not runtime.cuda_available(),
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch",
        save_total_limit=1,
        load_best_model_at_end=bool(evaluate and select_best),
        metric_for_best_model=metric if evaluate else None,
        greater_is_better=greater_is_better(metric) if evaluate else None,
        logging_strategy="steps",
        logging_steps=max(1, training.logging_steps),
        logging_first_step=False,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=runtime.cuda_available(),
        label_names=["labels"],
        remove_unused_columns=True,
        train_sampling_strategy="group_by_length" if training.group_by_length else "random",
        save_safetensors=True,
        ddp_backend=None if dist.backend == "auto" else dist.backend,
        ddp_timeout=dist.timeout_s,
        ddp_find_unused_parameters=dist.find_unused_parameters,
    )
    if dist.deepspeed is not None:
        kwargs["deepspeed"] = (str(Path(dist.deepspeed).expanduser()) if isinstance(dist.deepspeed, str)
                               else dict(dist.deepspeed))
    if dist.fsdp is not None:
        kwargs["fsdp"] = True
        kwargs["fsdp_config"] = dict(dist.fsdp)
    return kwargs


def build_training_args(training, output_dir: str | Path, *, label_set: LabelSet, has_eval: bool = True,
                        epochs: float | None = None, learning_rate: float | None = None,
                        select_best: bool = True, args_class=None, **overrides):
    """``TrainingArguments`` from :func:`training_args_kwargs`; ``overrides`` win over everything."""
    from transformers import TrainingArguments

    args_class = args_class or TrainingArguments
    check_optimizer(training.optimizer)
    check_distributed(training)
    kwargs = training_args_kwargs(training, output_dir, label_set=label_set, has_eval=has_eval, epochs=epochs,
                                  learning_rate=learning_rate, select_best=select_best)
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if k in _arg_fields(args_class)}
    try:
        return args_class(**kwargs)
    except ValueError as exc:  # e.g. an unknown optimizer name
        raise ConfigError(f"Invalid training settings: {exc}") from None


def _arg_fields(args_class) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(args_class)}
