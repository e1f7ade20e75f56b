"""The task's loss (weighted cross-entropy, BCE with ``pos_weight``, MSE), the distillation loss, class
weights and the instruction model's answer-only LM loss: the only copies."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError


def resolve_loss(task: Task, loss: str = "auto") -> str:
    default = {Task.SINGLE: "ce", Task.MULTI: "bce", Task.REGRESSION: "mse"}[task]
    if loss in ("auto", None, ""):
        return default
    allowed = {Task.SINGLE: {"ce", "bce"}, Task.MULTI: {"bce"}, Task.REGRESSION: {"mse"}}[task]
    if loss not in allowed:
        raise ConfigError(f"training.loss={loss} does not fit a {task.value} task",
                          hint=f"Use 'auto' or one of {sorted(allowed)}.")
    return loss


def balanced_weights(class_ids: np.ndarray, n_classes: int, max_weight: float = 50.0, *,
                     present_only: bool = False) -> np.ndarray:
    """``n / (k * n_c)`` per class, 1 for classes absent from ``class_ids``, clipped to ``max_weight``.

    ``k`` counts every class, or with ``present_only`` only those that occur (seq2seq targets,
    where the ``none`` target may never appear).
    """
    counts = np.bincount(np.asarray(class_ids).astype(int), minlength=n_classes).astype(float)
    k = max(1, int((counts > 0).sum())) if present_only else n_classes
    w = np.where(counts > 0, len(class_ids) / (k * np.maximum(counts, 1)), 1.0)
    return np.clip(w, 1.0 / max_weight, max_weight)


def class_weights(label_set: LabelSet, y: np.ndarray, max_weight: float = 50.0) -> torch.Tensor | None:
    """Balanced class weights (single: n / (k * n_c)) or BCE ``pos_weight`` (multi: neg / pos).

    Clipped to ``max_weight`` so that a label with a handful of examples cannot dominate the loss.
    Labels absent from train get weight 1. Regression: ``None``.
    """
    y = np.asarray(y)
    k = len(label_set)
    if label_set.task == Task.SINGLE:
        w = balanced_weights(y, k, max_weight)
    elif label_set.task == Task.MULTI:
        pos = y.sum(axis=0).astype(float)
        neg = len(y) - pos
        w = np.clip(np.where(pos > 0, neg / np.maximum(pos, 1), 1.0), 1.0 / max_weight, max_weight)
    else:
        return None
    return torch.tensor(w, dtype=torch.float32)


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


def distillation_loss(task: Task, logits: torch.Tensor, labels: torch.Tensor, teacher: torch.Tensor, *,
                      alpha: float, temperature: float, kind: str = "auto",
                      weights: torch.Tensor | None = None) -> torch.Tensor:
    """``alpha`` x the task's loss + ``(1 - alpha)`` x the loss against the teacher's probabilities.

    Single-label (Hinton et al., 2015): ``T^2 * KL(teacher_T || student_T)``, both softened by the
    temperature ``T``; the teacher file holds probabilities, so the softened teacher is
    ``softmax(log p / T)`` (the same as dividing the teacher's logits by ``T``). Multi-label: BCE
    of the student's sigmoid against the teacher's per-label probabilities (no temperature).
    """
    hard = loss_fn(task, logits, labels, kind=kind, weights=weights)
    if alpha >= 1.0:
        return hard
    logits = logits.float()
    teacher = teacher.to(logits.device).float().view_as(logits)
    if task == Task.SINGLE:
        t = float(temperature)
        soft_teacher = torch.softmax(torch.log(teacher.clamp_min(1e-8)) / t, dim=-1)
        log_student = torch.log_softmax(logits / t, dim=-1)
        soft = nn.functional.kl_div(log_student, soft_teacher, reduction="batchmean") * t * t
    elif task == Task.MULTI:
        soft = nn.functional.binary_cross_entropy_with_logits(logits, teacher.clamp(0.0, 1.0))
    else:
        raise ConfigError("training.distill applies to classification tasks, not regression")
    return alpha * hard + (1.0 - alpha) * soft


def answer_lm_loss(model, inputs: dict, weights=None):
    """The causal LM's loss: mean token NLL over the answer tokens (the prompt is labelled -100).

    The rows are left-padded (the instruct backend's collator), so every answer ends the batch: the LM head (a
    49k-word projection for SmolLM2, applied at every position by the model's own loss) runs only on
    the last positions that hold an answer (``logits_to_keep``). Same loss, less work per step.
    """
    labels = inputs["labels"]
    labelled = labels != -100  # an answer may hold given tokens too (an E-c checklist's "anger:" slots)
    first = torch.where(labelled.any(dim=1), labelled.int().argmax(dim=1), labels.size(1))
    answer = max(1, int((labels.size(1) - first).max()))  # positions from the batch's longest answer's first label
    kwargs = {k: inputs[k] for k in ("input_ids", "attention_mask", "position_ids") if k in inputs}
    if _keeps_logits(model):
        kwargs["logits_to_keep"] = answer + 1
    outputs = model(**kwargs)
    logits = outputs.logits[:, -(answer + 1):-1].float()  # position t predicts token t + 1
    loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels[:, -answer:].reshape(-1),
                                       ignore_index=-100)
    return loss, outputs


def _keeps_logits(model) -> bool:
    """Whether the (PEFT-, DDP-wrapped) causal LM's forward takes ``logits_to_keep`` (transformers' LMs do)."""
    import inspect

    inner = getattr(model, "module", model)
    inner = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    return "logits_to_keep" in inspect.signature(inner.forward).parameters
