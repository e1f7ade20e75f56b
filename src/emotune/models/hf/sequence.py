"""Prediction and ``fit`` inputs shared by the backends holding an ``AutoModelForSequenceClassification``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from emotune import runtime
from emotune.errors import ModelError
from emotune.metrics import scores_from_logits
from emotune.models.hf.data import TokenizedDataset, encode_targets, prepare_for_context, teacher_targets
from emotune.models.hf.loss import class_weights
from emotune.models.hf.resources import model_device


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
                                    max_length=self.max_length,
                                    soft_targets=teacher_targets(train, self.training_config.distill))
        dev_ds = None
        if dev is not None and len(dev):
            dev_ds = TokenizedDataset(self.tokenizer, dev.texts, encode_targets(self.label_set, dev.y()),
                                      max_length=self.max_length, sort_by_length=True)
        weights = class_weights(self.label_set, train_y) if self.training_config.class_weights else None
        return train_ds, dev_ds, weights

    def predict_logits(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.model is None:
            raise ModelError(f"The {self.what} has not been trained or loaded")
        runtime.setup_threads(self.training_config, only_explicit=True)
        return predict_logits(self.model, self.tokenizer, texts,
                              batch_size=batch_size or self.training_config.eval_batch_size,
                              max_length=self.max_length)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        return scores_from_logits(self.task, self.predict_logits(texts, batch_size=batch_size))
