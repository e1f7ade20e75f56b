"""Tokenised datasets, the padding collator and model-ready targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from emotune import runtime
from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError

#: a train frame's column of teacher probabilities (one array per row), set by
#: :func:`emotune.training.distill.attach_teacher` for ``training.distill``
TEACHER_COLUMN = "teacher_probs"

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
                 max_length: int = 128, sort_by_length: bool = False, text_fn: Callable[[str], str] | None = None,
                 soft_targets: np.ndarray | None = None):
        texts = [str(t) if text_fn is None else text_fn(str(t)) for t in texts]
        enc = tokenizer(texts, truncation=True, max_length=max_length)
        self.features = [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]
        self.targets = None if targets is None else np.asarray(targets)
        if self.targets is not None and len(self.targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(self.targets)} targets")
        # a teacher's probabilities per row (distillation): the batch's ``soft_labels`` tensor
        self.soft_targets = None if soft_targets is None else np.asarray(soft_targets, dtype=np.float32)
        if self.soft_targets is not None and len(self.soft_targets) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(self.soft_targets)} rows of soft targets")
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
        if self.soft_targets is not None:
            item["soft_labels"] = self.soft_targets[i].tolist()
        return item

    @property
    def lengths(self) -> list[int]:
        return [len(self.features[i]["input_ids"]) for i in self.order]


def teacher_targets(train, distill) -> np.ndarray | None:
    """The (n, k) teacher probabilities of the train rows when ``training.distill`` is set, else None."""
    if distill is None:
        return None
    if TEACHER_COLUMN not in train.frame.columns:
        raise ConfigError(f"training.distill is set but the train rows carry no teacher probabilities "
                          f"(teacher file {distill.teacher})",
                          hint="Train through emotune.training.train / `emotune train`, which reads the teacher "
                               "file, or call emotune.training.distill.attach_teacher(train, config) first.")
    return np.stack([np.asarray(p, dtype=np.float32) for p in train.frame[TEACHER_COLUMN]])


def make_collator(tokenizer):
    from transformers import DataCollatorWithPadding

    # Multiples of 8 help tensor cores; on CPU they only add padding.
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if runtime.cuda_available() else None)



def prepare_for_context(tokenizer, data) -> None:
    """Dialogue-context inputs end with the target utterance: truncate them from the left.

    Right truncation (the tokenizers' default) would cut the very turn that is being labelled when
    the previous turns are long. ``save_pretrained`` stores the side, so prediction does the same.
    """
    if data is not None and (getattr(data, "info", None) or {}).get("context"):
        tokenizer.truncation_side = "left"
