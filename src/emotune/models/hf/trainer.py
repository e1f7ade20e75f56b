"""ONE training loop for every torch backend: a ``transformers.Trainer`` subclass.

The encoder, causal-LM, seq2seq and instruct backends and the embed-head MLP all train through
:func:`run_trainer` (as sentence-transformers trains through its own ``Trainer`` subclass), so
they share one early stopping, one best-epoch choice by the dev metric, one checkpoint format
(``checkpoint-N`` per epoch: weights, optimizer, scheduler, RNG states) and one resume. What a
backend may change: the loss (``loss=``, e.g. a sequence NLL) and how dev is scored
(``dev_scorer=``, e.g. label scoring instead of logits).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from emotune import runtime
from emotune.data.labels import LabelSet, Task
from emotune.models.hf.args import build_training_args, make_compute_metrics
from emotune.models.hf.checkpoints import ClockCallback, TimedCheckpointCallback, checkpoint_clock, last_checkpoint
from emotune.models.hf.data import make_collator
from emotune.models.hf.loss import distillation_loss, loss_fn
from emotune.models.hf.resources import quiet_hf
from emotune.models.weights import match_umask

log = logging.getLogger(__name__)

#: ``loss(model, inputs, weights) -> (loss, outputs)``: a backend's own loss on a batch
LossFunction = Callable[[Any, dict, "torch.Tensor | None"], tuple]


class EmotuneTrainer(Trainer):
    """``Trainer`` with the task's (class-weighted) loss, the mean training loss of each epoch in the
    log (the Trainer's own log only has running averages over logging windows), and optionally a
    backend's own loss and dev scoring. Train batches with ``soft_labels`` (a teacher's
    probabilities, ``training.distill``) are trained with :func:`distillation_loss`."""

    loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean

    def __init__(self, *args, task: Task, loss_kind: str = "auto", loss_weights: torch.Tensor | None = None,
                 loss: LossFunction | None = None, dev_scorer: Callable[[Any], dict] | None = None,
                 distill=None, **kwargs):
        # the modes first: a backend's own on_save callbacks (and a kill right after) see the final files
        kwargs["callbacks"] = [CheckpointModeCallback(), *(kwargs.get("callbacks") or []), EpochLossCallback(self)]
        super().__init__(*args, **kwargs)
        self.task = task
        self.loss_kind = loss_kind
        self.loss_weights = loss_weights
        self.custom_loss = loss
        self.dev_scorer = dev_scorer
        self.distill = distill  # training.distill (alpha, temperature) when the batches carry soft_labels
        self._epoch_loss_sum = torch.zeros(())
        self._epoch_loss_n = 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.custom_loss is not None:
            loss, outputs = self.custom_loss(model, inputs, self.loss_weights)
        else:
            labels = inputs.pop("labels")
            soft = inputs.pop("soft_labels", None)  # a teacher's probabilities (train rows of a distilled run)
            outputs = model(**inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            if soft is not None and self.distill is not None:
                loss = distillation_loss(self.task, logits, labels, soft, alpha=self.distill.alpha,
                                         temperature=self.distill.temperature, kind=self.loss_kind,
                                         weights=self.loss_weights)
            else:
                loss = loss_fn(self.task, logits, labels, kind=self.loss_kind, weights=self.loss_weights)
        if model.training:
            self._epoch_loss_sum = self._epoch_loss_sum.to(loss.device) + loss.detach().float()
            self._epoch_loss_n += 1
        return (loss, outputs) if return_outputs else loss

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if "soft_labels" not in self._signature_columns:  # not a forward() argument: keep it for compute_loss
            self._signature_columns.append("soft_labels")

    def pop_epoch_loss(self) -> float | None:
        if self.accelerator.num_processes > 1:  # under torchrun: the mean over every process's batches
            both = torch.stack([self._epoch_loss_sum.float().reshape(()),
                                torch.tensor(float(self._epoch_loss_n), device=self._epoch_loss_sum.device)])
            total, n = (float(x) for x in self.accelerator.reduce(both.to(self.args.device), reduction="sum"))
        else:
            total, n = float(self._epoch_loss_sum.item()), self._epoch_loss_n
        if not n:
            return None
        value = total / n
        self._epoch_loss_sum = torch.zeros(())
        self._epoch_loss_n = 0
        return value

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        if self.dev_scorer is None:
            return super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        was_training = self.model.training
        self.model.eval()
        try:
            scores = self.dev_scorer(self.model)
        finally:
            self.model.train(was_training)
        metrics = {f"{metric_key_prefix}_{k}": float(v) for k, v in scores.items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


class TensorInputModule(torch.nn.Module):
    """A plain module on one tensor (the embed-head MLP) as the Trainer calls models: with the batch's
    keys (``inputs``, ``labels``), returning ``{"logits": ...}``."""

    def __init__(self, module: torch.nn.Module):
        super().__init__()
        self.module = module

    def forward(self, inputs: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        return {"logits": self.module(inputs)}


class EpochLossCallback(TrainerCallback):
    """Logs the mean training loss of each epoch as ``epoch_train_loss`` (before the dev eval)."""

    def __init__(self, trainer: EmotuneTrainer):
        self.trainer = trainer

    def on_epoch_end(self, args, state, control, **kwargs):
        value = self.trainer.pop_epoch_loss()
        if value is not None:
            self.trainer.log({"epoch_train_loss": value})


class CheckpointModeCallback(TrainerCallback):
    """Checkpoint files get the mode of the rest of the run: safetensors writes its weights 0600
    (a temporary file renamed), every other file gets the umask's mode (0644)."""

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        reference = folder / "trainer_state.json"  # written by Python's open(): the umask's mode
        if reference.is_file():
            match_umask(folder, reference)


class RichProgressCallback(TrainerCallback):
    """A rich progress bar over optimisation steps plus one line per dev evaluation.

    Replaces transformers' tqdm bar and its dict-printing ``PrinterCallback``. On a
    non-terminal (CI logs, tests) only the per-epoch lines are printed.
    """

    SHOWN = ("accuracy", "f1_macro", "f1_micro", "pearson")

    def __init__(self, description: str = "training", console=None, quiet: bool = False):
        from rich.console import Console

        self.description = description
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.progress = None
        self.task_id = None
        self.last_loss = None

    def on_train_begin(self, args, state, control, **kwargs):
        if self.quiet or not state.is_world_process_zero or not self.console.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
            TimeRemainingColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                                 console=self.console, transient=True)
        self.progress.start()
        self.task_id = self.progress.add_task(self.description, total=state.max_steps,
                                              completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            info = f"epoch {state.epoch:.2f}" + (f" loss {self.last_loss:.4f}" if self.last_loss is not None else "")
            self.progress.update(self.task_id, completed=state.global_step, info=info)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.last_loss = logs["loss"]
        if "epoch_train_loss" in logs:
            self.last_loss = logs["epoch_train_loss"]
        if any(k.startswith("eval_") for k in logs) and state.is_world_process_zero and not self.quiet:
            keys = ["loss", (args.metric_for_best_model or "").removeprefix("eval_"), *self.SHOWN]
            shown = {k: logs[f"eval_{k}"] for k in dict.fromkeys(keys)
                     if isinstance(logs.get(f"eval_{k}"), (int, float))}
            parts = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            msg = f"[cyan]{self.description}[/] epoch {state.epoch:g}: dev {parts}"
            (self.progress.console if self.progress else self.console).print(msg, highlight=False, soft_wrap=True)

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def rich_progress_callback(description: str = "training", quiet: bool = False) -> RichProgressCallback:
    return RichProgressCallback(description=description, quiet=quiet)


@dataclass
class TrainResult:
    history: list[dict]
    trainer: Any
    best_metric: float | None
    seconds: float
    #: after FSDP or DeepSpeed ZeRO-3 (weights sharded over the processes): the gathered weights, on rank 0
    full_state_dict: dict | None = None


def _weights_are_sharded(trainer) -> bool:
    if getattr(trainer, "is_fsdp_enabled", False):
        return True
    plugin = getattr(trainer.accelerator.state, "deepspeed_plugin", None)
    return bool(getattr(trainer, "is_deepspeed_enabled", False) and plugin is not None and plugin.zero_stage == 3)


def trained_model(result: TrainResult, clf):
    """The model ``clf`` (a backend with ``build()``) keeps after :func:`run_trainer`.

    DDP and ZeRO-2 leave every process the whole model: ``result.trainer.model``. FSDP and ZeRO-3
    leave each a shard, which one process cannot run; rank 0, which alone predicts and saves
    afterwards, rebuilds the model unsharded and loads the gathered weights into it. (Written for the
    GPU presets; not run by the emotune developers, who have no GPU: README "Scaling out".)
    """
    if result.full_state_dict is None or not runtime.is_main_process():
        return result.trainer.model
    clf.model = None
    clf.build()
    missing, unexpected = clf.model.load_state_dict(result.full_state_dict, strict=False)
    if unexpected or [k for k in missing if "lora_" in k]:
        raise RuntimeError(f"the gathered weights do not fit the rebuilt model (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
    return clf.model


def run_trainer(model, tokenizer, train_ds, dev_ds, *, label_set: LabelSet, training, output_dir: str | Path,
                resume: bool = False, epochs: float | None = None, learning_rate: float | None = None,
                early_stopping: bool = True, select_best: bool = True, description: str = "training",
                quiet: bool = False, loss_weights: torch.Tensor | None = None, callbacks: Sequence = (),
                data_collator=None, args_overrides: dict | None = None, epoch_offset: float = 0.0,
                stage: str | None = None, save_checkpoints: bool = True, loss: LossFunction | None = None,
                dev_scorer: Callable[[Any], dict] | None = None) -> TrainResult:
    """Train ``model`` with the task's loss, per-epoch dev evaluation, early stopping and resume.

    ``output_dir`` receives ``checkpoint-N`` folders; with ``resume=True`` the last one there is
    continued. ``save_checkpoints=False`` skips them when nothing needs them (no dev set to pick
    the best epoch from, nothing to resume). ``loss`` / ``dev_scorer``: see :class:`EmotuneTrainer`
    (a ``dev_scorer`` scores ``dev_ds`` itself). Returns per-epoch history rows (see
    :func:`history_from_log`).
    """
    has_eval = dev_ds is not None and len(dev_ds) > 0
    overrides = dict(args_overrides or {})
    if not save_checkpoints and not (has_eval and select_best):
        overrides.setdefault("save_strategy", "no")
    args = build_training_args(training, output_dir, label_set=label_set, has_eval=has_eval, epochs=epochs,
                               learning_rate=learning_rate, select_best=select_best, **overrides)
    cbs = list(callbacks)
    if has_eval and early_stopping and select_best and training.early_stopping_patience > 0:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=training.early_stopping_patience))
    cbs.append(rich_progress_callback(description, quiet=quiet))
    # timed saves: one process only (ranks with their own clocks could disagree on the step to save at)
    if args.save_strategy != "no" and getattr(training, "checkpoint_minutes", 0) > 0 and runtime.world_size() == 1:
        cbs.append(TimedCheckpointCallback(training.checkpoint_minutes))
    if args.save_strategy != "no":
        cbs.append(ClockCallback())
    trainer = EmotuneTrainer(
        model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds if has_eval else None,
        processing_class=tokenizer, data_collator=data_collator or make_collator(tokenizer),
        compute_metrics=make_compute_metrics(label_set) if has_eval and dev_scorer is None else None, callbacks=cbs,
        task=label_set.task, loss_kind=training.loss, loss_weights=loss_weights, loss=loss, dev_scorer=dev_scorer,
        distill=getattr(training, "distill", None),
    )
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    ckpt = last_checkpoint(output_dir) if resume else None
    if ckpt:
        log.info("resuming from %s", ckpt)
        runtime.resume_fit_clock(checkpoint_clock(ckpt))
    start = time.perf_counter()
    with quiet_hf():  # checkpoint "Writing model shards" bars, checkpoint-sorting notices
        trainer.train(resume_from_checkpoint=ckpt)
    # under torchrun: no process leaves (and rank 0 removes the checkpoints) while another is still
    # loading the best one
    trainer.accelerator.wait_for_everyone()
    # FSDP / ZeRO-3: every process takes part in gathering the weights (rank 0 receives them)
    full = trainer.accelerator.get_state_dict(trainer.model_wrapped) if _weights_are_sharded(trainer) else None
    seconds = time.perf_counter() - start
    history = history_from_log(trainer.state.log_history, epoch_offset=epoch_offset, stage=stage)
    return TrainResult(history=history, trainer=trainer, best_metric=trainer.state.best_metric, seconds=seconds,
                       full_state_dict=full)


def history_from_log(log_history: list[dict], *, epoch_offset: float = 0.0, stage: str | None = None) -> list[dict]:
    """Per-epoch rows ``{"epoch", "train_loss", "dev_loss", "dev_<metric>"...}`` from ``state.log_history``."""
    rows: dict[float, dict] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        key = round(float(entry["epoch"]), 4)
        if "epoch_train_loss" in entry:
            rows.setdefault(key, {})["train_loss"] = float(entry["epoch_train_loss"])
        elif any(k.startswith("eval_") for k in entry):
            row = rows.setdefault(key, {})
            for k, v in entry.items():
                if k.startswith("eval_") and not k.endswith(("_runtime", "_per_second")) and isinstance(v, (int, float)):
                    row["dev_" + k.removeprefix("eval_")] = float(v)
    out = []
    for epoch in sorted(rows):
        e = epoch + epoch_offset
        row = {"epoch": int(e) if float(e).is_integer() else round(e, 4), **rows[epoch]}
        if stage:
            row["stage"] = stage
        out.append(row)
    return out


