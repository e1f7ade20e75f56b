"""Shared transformers glue for the backends that fine-tune a Hugging Face model.

One place decides the device and precision, turns a :class:`TrainingConfig` into
``transformers.TrainingArguments``, tokenises datasets, weights the loss by class frequency,
reports progress with rich, resumes from checkpoints and turns the trainer's log into the
per-epoch history rows every backend returns from ``fit``.

The encoder, causal-LM and seq2seq backends use it; nothing here knows which one is calling.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError, ModelError
from emotune.metrics import PRIMARY
from emotune.metrics import compute_metrics as _compute_metrics

log = logging.getLogger(__name__)


# Metrics where smaller is better; everything else is maximised.
LOWER_IS_BETTER = {"loss", "mae", "mse", "rmse", "hamming_loss"}
# Keys compute_metrics returns per task (used to fall back to the task's primary metric).
TASK_METRICS = {
    Task.SINGLE: {"accuracy", "f1_macro", "f1_weighted", "f1_micro", "precision_macro", "recall_macro", "loss"},
    Task.MULTI: {"jaccard_samples", "f1_macro", "f1_micro", "f1_weighted", "subset_accuracy", "hamming_loss", "loss"},
    Task.REGRESSION: {"pearson", "spearman", "mae", "loss"},
}


# -- device, precision, threads ---------------------------------------------------------------
def cuda_available() -> bool:
    return torch.cuda.is_available()


def select_device() -> torch.device:
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
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if want == "fp16" and not cuda_available():
        log.warning("precision=fp16 needs a CUDA GPU; training in fp32 on CPU instead")
        return "fp32"
    return want


def torch_dtype_for(precision: str) -> torch.dtype:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def setup_threads(training=None, *, only_explicit: bool = False) -> int:
    """Use ``training.threads`` torch threads (default: every CPU this process may use).

    ``only_explicit=True`` (inference) leaves the current setting alone unless the config names a
    number, so that a server that chose its own thread count keeps it.
    """
    explicit = getattr(training, "threads", None)
    if only_explicit and not explicit:
        return torch.get_num_threads()
    n = explicit or available_cpus()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


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


# -- metrics ----------------------------------------------------------------------------------
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


def scores_from_logits(task: Task, logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """softmax (single), sigmoid (multi) or the raw values (regression), as float64 numpy."""
    t = logits if isinstance(logits, torch.Tensor) else torch.as_tensor(np.asarray(logits, dtype=np.float32))
    t = t.float()
    if task == Task.SINGLE:
        t = torch.softmax(t, dim=-1)
    elif task == Task.MULTI:
        t = torch.sigmoid(t)
    return t.cpu().numpy().astype(np.float64)


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


# -- data -------------------------------------------------------------------------------------
def encode_targets(label_set: LabelSet, y: np.ndarray) -> np.ndarray:
    """Model-ready targets: int64 class ids (single), float32 indicators / values otherwise."""
    y = np.asarray(y)
    if label_set.task == Task.SINGLE:
        return y.astype(np.int64)
    return y.astype(np.float32).reshape(len(y), -1)


class TokenizedDataset(torch.utils.data.Dataset):
    """(texts, targets) tokenised once, without padding; ``DataCollatorWithPadding`` pads per batch.

    ``sort_by_length=True`` orders the rows by length (evaluation: less padding, same metrics).
    """

    def __init__(self, tokenizer, texts: Sequence[str], targets: np.ndarray | None = None, *,
                 max_length: int = 128, sort_by_length: bool = False, text_fn: Callable[[str], str] | None = None):
        texts = [str(t) if text_fn is None else text_fn(str(t)) for t in texts]
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.features = [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]
        self.targets = None if targets is None else np.asarray(targets)
        if self.targets is not None and len(self.targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(self.targets)} targets")
        self.order = list(range(len(texts)))
        if sort_by_length:
            self.order.sort(key=lambda i: len(self.features[i]["input_ids"]))

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, idx: int) -> dict:
        i = self.order[idx]
        item = dict(self.features[i])
        if self.targets is not None:
            item["labels"] = self.targets[i].tolist() if self.targets.ndim > 1 else self.targets[i].item()
        return item

    @property
    def lengths(self) -> list[int]:
        return [len(self.features[i]["input_ids"]) for i in self.order]


def make_collator(tokenizer):
    from transformers import DataCollatorWithPadding

    # Multiples of 8 help tensor cores; on CPU they only add padding.
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if cuda_available() else None)


# -- loss -------------------------------------------------------------------------------------
def resolve_loss(task: Task, loss: str = "auto") -> str:
    default = {Task.SINGLE: "ce", Task.MULTI: "bce", Task.REGRESSION: "mse"}[task]
    if loss in ("auto", None, ""):
        return default
    allowed = {Task.SINGLE: {"ce", "bce"}, Task.MULTI: {"bce"}, Task.REGRESSION: {"mse"}}[task]
    if loss not in allowed:
        raise ConfigError(f"training.loss={loss} does not fit a {task.value} task",
                          hint=f"Use 'auto' or one of {sorted(allowed)}.")
    return loss


def class_weights(label_set: LabelSet, y: np.ndarray, max_weight: float = 50.0) -> torch.Tensor | None:
    """Balanced class weights (single: n / (k * n_c)) or BCE ``pos_weight`` (multi: neg / pos).

    Clipped to ``max_weight`` so that a label with a handful of examples cannot dominate the loss.
    Labels absent from train get weight 1. Regression: ``None``.
    """
    y = np.asarray(y)
    k = len(label_set)
    if label_set.task == Task.SINGLE:
        counts = np.bincount(y.astype(int), minlength=k).astype(float)
        w = np.where(counts > 0, len(y) / (k * np.maximum(counts, 1)), 1.0)
    elif label_set.task == Task.MULTI:
        pos = y.sum(axis=0).astype(float)
        neg = len(y) - pos
        w = np.where(pos > 0, neg / np.maximum(pos, 1), 1.0)
    else:
        return None
    return torch.tensor(np.clip(w, 1.0 / max_weight, max_weight), dtype=torch.float32)


def loss_fn(task: Task, logits: torch.Tensor, labels: torch.Tensor, *, kind: str = "auto",
            weights: torch.Tensor | None = None) -> torch.Tensor:
    """Per-batch mean loss: weighted CE (single), BCE with ``pos_weight`` (multi) or MSE (regression)."""
    kind = resolve_loss(task, kind)
    logits = logits.float()
    if weights is not None:
        weights = weights.to(logits.device)
    if kind == "ce":
        return nn.functional.cross_entropy(logits, labels.long().view(-1), weight=weights)
    if kind == "bce":
        if task == Task.SINGLE:  # one-vs-rest on one-hot targets
            labels = nn.functional.one_hot(labels.long().view(-1), logits.shape[-1])
        return nn.functional.binary_cross_entropy_with_logits(logits, labels.float().view_as(logits), pos_weight=weights)
    return nn.functional.mse_loss(logits.view(-1), labels.float().view(-1))


@lru_cache(maxsize=None)
@lru_cache(maxsize=1)
def epoch_loss_trainer_class():
    """``Trainer`` that keeps the mean training loss of the current epoch, for the history rows (the
    Trainer's own log only has running averages over logging windows). The backends' trainers derive
    from it and call ``track_loss`` from ``compute_loss``."""
    from transformers import Trainer

    class EpochLossTrainer(Trainer):
        loss_is_scaled_for_ga = False  # compute_loss returns a per-batch mean

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._epoch_loss_sum = torch.zeros(())
            self._epoch_loss_n = 0

        def track_loss(self, model, loss: torch.Tensor) -> None:
            if model.training:
                self._epoch_loss_sum = self._epoch_loss_sum.to(loss.device) + loss.detach().float()
                self._epoch_loss_n += 1

        def pop_epoch_loss(self) -> float | None:
            if not self._epoch_loss_n:
                return None
            value = float(self._epoch_loss_sum.item()) / self._epoch_loss_n
            self._epoch_loss_sum = torch.zeros(())
            self._epoch_loss_n = 0
            return value

    return EpochLossTrainer


def weighted_trainer_class():
    """``Trainer`` subclass whose loss follows the task (and class weights), not the model's default."""
    class WeightedLossTrainer(epoch_loss_trainer_class()):
        def __init__(self, *args, task: Task, loss_kind: str = "auto", loss_weights: torch.Tensor | None = None,
                     **kwargs):
            super().__init__(*args, **kwargs)
            self.task = task
            self.loss_kind = loss_kind
            self.loss_weights = loss_weights

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
            loss = loss_fn(self.task, logits, labels, kind=self.loss_kind, weights=self.loss_weights)
            self.track_loss(model, loss)
            return (loss, outputs) if return_outputs else loss

    return WeightedLossTrainer


# -- callbacks --------------------------------------------------------------------------------
def _callback_base():
    from transformers import TrainerCallback

    return TrainerCallback


class _Lazy:
    """Build callback classes on first use so that importing this module stays cheap-ish."""

    _cache: dict[str, type] = {}

    @classmethod
    def get(cls, name: str) -> type:
        if name not in cls._cache:
            cls._cache[name] = _BUILDERS[name]()
        return cls._cache[name]


def _epoch_loss_callback():
    base = _callback_base()

    class EpochLossCallback(base):
        """Logs the mean training loss of each epoch as ``epoch_train_loss`` (before the dev eval)."""

        def __init__(self):
            self.trainer = None

        def on_epoch_end(self, args, state, control, **kwargs):
            if self.trainer is not None:
                value = self.trainer.pop_epoch_loss()
                if value is not None:
                    self.trainer.log({"epoch_train_loss": value})

    return EpochLossCallback


def _rich_progress_callback():
    base = _callback_base()

    class RichProgressCallback(base):
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

    return RichProgressCallback


_BUILDERS = {"epoch_loss": _epoch_loss_callback, "rich": _rich_progress_callback}


def rich_progress_callback(description: str = "training", quiet: bool = False):
    return _Lazy.get("rich")(description=description, quiet=quiet)


# -- TrainingArguments ------------------------------------------------------------------------
def bitsandbytes_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None


def check_optimizer(name: str) -> None:
    """bitsandbytes optimizers (paged / 8-bit AdamW of the QLoRA recipes) need bitsandbytes and CUDA:
    say so before training rather than fail inside the Trainer's optimizer factory."""
    lowered = str(name).lower()
    if not any(k in lowered for k in ("paged", "8bit", "bnb", "lion_32bit")):
        return
    missing = [what for what, ok in (("a CUDA GPU", cuda_available()),
                                     ("the bitsandbytes package (pip install emotune[gpu])", bitsandbytes_available()))
               if not ok]
    if missing:
        raise ConfigError(f"training.optimizer={name} needs {' and '.join(missing)}",
                          hint="Use --set training.optimizer=adamw_torch_fused on this machine.")


def build_training_args(training, output_dir: str | Path, *, label_set: LabelSet, has_eval: bool = True,
                        epochs: float | None = None, learning_rate: float | None = None,
                        select_best: bool = True, args_class=None, **overrides):
    """Map a :class:`TrainingConfig` to ``TrainingArguments`` (transformers 5 names).

    Evaluation and checkpoints happen once per epoch; with a dev set the best epoch by
    ``training.metric`` is restored at the end. ``overrides`` win over everything.
    """
    from transformers import TrainingArguments

    args_class = args_class or TrainingArguments
    check_optimizer(training.optimizer)
    precision = select_precision(training)
    metric = resolve_metric(label_set, training.metric)
    evaluate = has_eval
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=float(training.epochs if epochs is None else epochs),
        max_steps=int(training.max_steps),
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.eval_batch_size,
        gradient_accumulation_steps=training.grad_accum,
        learning_rate=float(training.learning_rate if learning_rate is None else learning_rate),
        weight_decay=training.weight_decay,
        # transformers 5 folded warmup_ratio into warmup_steps: a float in [0, 1) is a ratio
        warmup_steps=float(training.warmup_ratio) if 0 < training.warmup_ratio < 1 else 0,
        optim=training.optimizer,
        seed=training.seed,
        data_seed=training.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda_available(),
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
        dataloader_pin_memory=cuda_available(),
        label_names=["labels"],
        remove_unused_columns=True,
        train_sampling_strategy="group_by_length" if training.group_by_length else "random",
        save_safetensors=True,
    )
    kwargs.update(overrides)
    kwargs = {k: v for k, v in kwargs.items() if k in _arg_fields(args_class)}
    try:
        return args_class(**kwargs)
    except ValueError as exc:  # e.g. an unknown optimizer name
        raise ConfigError(f"Invalid training settings: {exc}") from None


def _arg_fields(args_class) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(args_class)}


# -- checkpoints & resume ---------------------------------------------------------------------
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
    """Where the Trainer writes checkpoints: ``folder`` (kept for resume) or a temporary directory.

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
    if not keep:
        remove_checkpoints(folder)


# -- the training loop ------------------------------------------------------------------------
@dataclass
class TrainResult:
    history: list[dict]
    trainer: Any
    best_metric: float | None
    seconds: float


def run_trainer(model, tokenizer, train_ds, dev_ds, *, label_set: LabelSet, training, output_dir: str | Path,
                resume: bool = False, epochs: float | None = None, learning_rate: float | None = None,
                early_stopping: bool = True, select_best: bool = True, description: str = "training",
                quiet: bool = False, loss_weights: torch.Tensor | None = None, callbacks: Sequence = (),
                data_collator=None, trainer_class=None, args_overrides: dict | None = None,
                epoch_offset: float = 0.0, stage: str | None = None, save_checkpoints: bool = True) -> TrainResult:
    """Train ``model`` with the task's loss, per-epoch dev evaluation, early stopping and resume.

    ``output_dir`` receives ``checkpoint-N`` folders; with ``resume=True`` the last one there is
    continued. ``save_checkpoints=False`` skips them when nothing needs them (no dev set to pick
    the best epoch from, nothing to resume). Returns per-epoch history rows (see :func:`history_from_log`).
    """
    from transformers import EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    has_eval = dev_ds is not None and len(dev_ds) > 0
    overrides = dict(args_overrides or {})
    if not save_checkpoints and not (has_eval and select_best):
        overrides.setdefault("save_strategy", "no")
    args = build_training_args(training, output_dir, label_set=label_set, has_eval=has_eval, epochs=epochs,
                               learning_rate=learning_rate, select_best=select_best, **overrides)
    trainer_class = trainer_class or weighted_trainer_class()
    cbs = list(callbacks)
    if has_eval and early_stopping and select_best and training.early_stopping_patience > 0:
        cbs.append(EarlyStoppingCallback(early_stopping_patience=training.early_stopping_patience))
    epoch_cb = _Lazy.get("epoch_loss")()
    cbs.append(epoch_cb)
    cbs.append(rich_progress_callback(description, quiet=quiet))
    trainer = trainer_class(
        model=model, args=args, train_dataset=train_ds, eval_dataset=dev_ds if has_eval else None,
        processing_class=tokenizer, data_collator=data_collator or make_collator(tokenizer),
        compute_metrics=make_compute_metrics(label_set) if has_eval else None, callbacks=cbs,
        task=label_set.task, loss_kind=training.loss, loss_weights=loss_weights,
    )
    epoch_cb.trainer = trainer
    for cb in (PrinterCallback, ProgressCallback):
        trainer.remove_callback(cb)
    ckpt = last_checkpoint(output_dir) if resume else None
    if ckpt:
        log.info("resuming from %s", ckpt)
    start = time.perf_counter()
    with quiet_hf():  # checkpoint "Writing model shards" bars, checkpoint-sorting notices
        trainer.train(resume_from_checkpoint=ckpt)
    seconds = time.perf_counter() - start
    history = history_from_log(trainer.state.log_history, epoch_offset=epoch_offset, stage=stage)
    return TrainResult(history=history, trainer=trainer, best_metric=trainer.state.best_metric, seconds=seconds)


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


# -- inference --------------------------------------------------------------------------------
def model_device(model) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")


@torch.inference_mode()
def predict_logits(model, tokenizer, texts: Sequence[str], *, batch_size: int = 64, max_length: int = 128,
                   text_fn: Callable[[str], str] | None = None) -> np.ndarray:
    """Raw model outputs (n, k) as float32, batched by length (least padding), in input order."""
    texts = [str(t) if text_fn is None else text_fn(str(t)) for t in texts]
    if not texts:
        n_out = getattr(getattr(model, "config", None), "num_labels", 0)
        return np.zeros((0, n_out), dtype=np.float32)
    was_training = model.training
    model.eval()
    device = model_device(model)
    enc = tokenizer(texts, truncation=True, max_length=max_length)
    keys = [k for k in enc.keys() if k in ("input_ids", "attention_mask", "token_type_ids")]
    order = sorted(range(len(texts)), key=lambda i: len(enc["input_ids"][i]))
    out: list[np.ndarray | None] = [None] * len(texts)
    for start in range(0, len(order), max(1, batch_size)):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad([{k: enc[k][i] for k in keys} for i in idx], return_tensors="pt")
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(**batch).logits.float().cpu().numpy()
        for j, i in enumerate(idx):
            out[i] = logits[j]
    if was_training:
        model.train()
    return np.stack(out).astype(np.float32)


# -- sizes ------------------------------------------------------------------------------------
def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


def available_memory_bytes(device: torch.device | str | None = None) -> int:
    """Free GPU memory (CUDA) or available system RAM (psutil)."""
    device = torch.device(device) if device is not None else select_device()
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(n_params: int, bytes_per_param: float, *, what: str, device=None, factor: float = 1.2,
               hint: str | None = None) -> None:
    """Raise :class:`ModelError` when ``n_params * bytes_per_param * factor`` exceeds free memory."""
    need = n_params * bytes_per_param * factor
    have = available_memory_bytes(device)
    if need > have:
        gib = 1024 ** 3
        raise ModelError(f"{what} needs about {need / gib:.1f} GiB but only {have / gib:.1f} GiB is free",
                         hint=hint)


def human_count(n: int) -> str:
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def set_seed(seed: int) -> None:
    from transformers import set_seed as _set_seed

    _set_seed(seed)


__all__ = [
    "TokenizedDataset", "TrainResult", "available_memory_bytes", "build_training_args", "check_fits",
    "class_weights", "count_parameters", "encode_targets", "greater_is_better", "history_from_log",
    "last_checkpoint", "loss_fn", "make_collator", "make_compute_metrics", "model_device", "predict_logits",
    "quiet_hf", "remove_checkpoints", "resolve_loss", "resolve_metric", "rich_progress_callback", "run_trainer", "scores_from_logits",
    "select_device", "select_precision", "set_seed", "setup_threads", "torch_dtype_for", "weighted_trainer_class",
    "work_dir",
]


# -- the part of a backend that every AutoModelForSequenceClassification shares ------------------
def prepare_for_context(tokenizer, data) -> None:
    """Dialogue-context inputs end with the target utterance: truncate them from the left.

    Right truncation (the tokenizers' default) would cut the very turn that is being labelled when
    the previous turns are long. ``save_pretrained`` stores the side, so prediction does the same.
    """
    if data is not None and (getattr(data, "info", None) or {}).get("context"):
        tokenizer.truncation_side = "left"


class SequenceClassifierMixin:
    """``fit`` data preparation and prediction for backends holding ``self.model`` + ``self.tokenizer``.

    The encoder and causal-LM backends differ in how they build, adapt and save the model; they
    tokenise, weight classes and predict the same way, here.
    """

    model: Any
    tokenizer: Any
    max_length: int
    what = "model"  # in "The {what} has not been trained or loaded"

    def _fit_inputs(self, train, dev):
        """(train dataset, dev dataset or None, class weights or None), after ``build()``."""
        if len(train) == 0:
            raise ModelError("The training set is empty")
        prepare_for_context(self.tokenizer, train)
        train_y = train.y()
        train_ds = TokenizedDataset(self.tokenizer, train.texts, encode_targets(self.label_set, train_y),
                                    max_length=self.max_length)
        dev_ds = None
        if dev is not None and len(dev):
            dev_ds = TokenizedDataset(self.tokenizer, dev.texts, encode_targets(self.label_set, dev.y()),
                                      max_length=self.max_length, sort_by_length=True)
        weights = class_weights(self.label_set, train_y) if self.training_config.class_weights else None
        return train_ds, dev_ds, weights

    def predict_logits(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.model is None:
            raise ModelError(f"The {self.what} has not been trained or loaded")
        setup_threads(self.training_config, only_explicit=True)
        return predict_logits(self.model, self.tokenizer, texts,
                              batch_size=batch_size or self.training_config.eval_batch_size,
                              max_length=self.max_length)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return scores_from_logits(self.task, self.predict_logits(texts, batch_size=batch_size))
