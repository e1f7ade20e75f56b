"""Tokenised datasets, the padding collator and model-ready targets."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from emotune import runtime
from emotune.data.labels import LabelSet, Task


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
    return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8 if runtime.cuda_available() else None)



def prepare_for_context(tokenizer, data) -> None:
    """Dialogue-context inputs end with the target utterance: truncate them from the left.

    Right truncation (the tokenizers' default) would cut the very turn that is being labelled when
    the previous turns are long. ``save_pretrained`` stores the side, so prediction does the same.
    """
    if data is not None and (getattr(data, "info", None) or {}).get("context"):
        tokenizer.truncation_side = "left"
