"""Backend ``seq2seq``: full fine-tuning of a Flan-T5-style model that writes the label as text.

Input: ``model.input_template`` with the text filled in (``"Classify emotion: {text}"``), truncated
to ``training.max_length`` tokens; target: the label name (``model.max_target_length`` tokens at
most, plus ``</s>``). Training minimises the negative log-likelihood of the target sequence,
weighted by class frequency when ``training.class_weights`` is on.

Prediction is **constrained to the label set**: nothing is generated. Every label's target
sequence is scored by one batched decoder forward (:mod:`emotune.models.label_scoring`) and

* single-label: ``predict_proba`` = softmax over the labels' sequence log-likelihoods, i.e. the
  model's distribution over outputs restricted to (and renormalised over) the valid labels;
* multi-label: see :meth:`Seq2SeqClassifier._multi_label_proba`.

Multi-label training: each (text, gold label) pair is one training example and a text without
labels gets the target ``none``. A model trained this way learns ``P(label | text)`` spread over
the gold labels (about ``1/|Y|`` each) instead of one canonical ``"anger, joy"`` string, whose
first item would depend on the label order. A label's probability is its likelihood relative to
the most likely candidate, thresholded per label on dev by the trainer.

Dev evaluation after each epoch uses the same constrained scoring, so the best epoch is chosen
on the metric the model will be judged by. Regression is out of scope for this backend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune import runtime
from emotune.errors import ConfigError, ModelError
from emotune.metrics import softmax
from emotune.models.hf.checkpoints import checkpoint_dir, work_dir
from emotune.models.hf.loss import balanced_weights
from emotune.models.hf.resources import quiet_hf
from emotune.models import label_scoring as ls
from emotune.models.base import EmotionClassifier

log = logging.getLogger(__name__)

DEFAULT_MODEL = "flan-t5-small"
NONE_CANDIDATES = ("none", "no emotion", "nothing")


def _none_target(label_set: LabelSet) -> str:
    names = {n.lower() for n in label_set.names}
    return next(c for c in NONE_CANDIDATES if c not in names)


class _TargetDataset:
    """Tokenised (input, target) pairs; ``class_ids`` index the target (a label, or ``none``)."""

    def __init__(self, tokenizer, prompts: Sequence[str], class_ids: Sequence[int], target_ids: list[list[int]],
                 max_length: int):
        enc = tokenizer(list(prompts), truncation=True, max_length=max_length)
        self.input_ids = enc["input_ids"]
        self.attention_mask = enc["attention_mask"]
        self.class_ids = [int(c) for c in class_ids]
        self.target_ids = target_ids

    def __len__(self) -> int:
        return len(self.class_ids)

    def __getitem__(self, i: int) -> dict:
        c = self.class_ids[i]
        return {"input_ids": self.input_ids[i], "attention_mask": self.attention_mask[i],
                "labels": self.target_ids[c], "class_ids": c}


class _Collator:
    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, features: list[dict]) -> dict:
        import torch

        batch = self.tokenizer.pad([{"input_ids": f["input_ids"], "attention_mask": f["attention_mask"]}
                                    for f in features], return_tensors="pt")
        t = max(len(f["labels"]) for f in features)
        labels = torch.full((len(features), t), -100, dtype=torch.long)
        for r, f in enumerate(features):
            labels[r, :len(f["labels"])] = torch.tensor(f["labels"], dtype=torch.long)
        batch["labels"] = labels
        batch["class_ids"] = torch.tensor([f["class_ids"] for f in features], dtype=torch.long)
        return dict(batch)


def _sequence_loss(model, inputs: dict, weights):
    """The (class-weighted) mean sequence NLL ``-log P(target | input)``, the quantity prediction ranks by.

    transformers' ``Seq2SeqTrainer`` only adds generate-based evaluation; scoring the label set
    (the trainer's ``dev_scorer``) replaces exactly that, so the shared Trainer is used.
    """
    import torch

    class_ids = inputs.pop("class_ids")
    labels = inputs["labels"]
    outputs = model(**inputs)  # decoder inputs are the labels shifted right, as in the model
    tok_nll = torch.nn.functional.cross_entropy(outputs.logits.float().transpose(1, 2), labels,
                                                ignore_index=-100, reduction="none")
    seq_nll = tok_nll.sum(dim=1)
    if weights is None:
        return seq_nll.mean(), outputs
    w = weights.to(seq_nll.device)[class_ids]
    return (w * seq_nll).sum() / w.sum(), outputs


class Seq2SeqClassifier(EmotionClassifier):
    backend = "seq2seq"
    trains_distributed = True

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        if self.task == Task.REGRESSION:
            raise ModelError("The seq2seq backend classifies; it does not do regression",
                             hint="Use the encoder backend (or tfidf) for regression targets.")
        if "{text}" not in self.model_config.input_template:
            raise ConfigError(f"model.input_template must contain {{text}} (got {self.model_config.input_template!r})")
        self.model = None
        self.tokenizer = None
        self.source: str | None = None
        self.none_target = _none_target(label_set) if self.task == Task.MULTI else None
        self._target_ids: list[list[int]] | None = None

    # -- names --------------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.model_config.name or DEFAULT_MODEL

    @property
    def max_length(self) -> int:
        return int(self.training_config.max_length)

    def describe(self) -> str:
        return f"{self.backend}:{self.model_name}"

    @property
    def targets(self) -> list[str]:
        """The candidate output strings: the label names (and ``none`` for multi-label)."""
        return list(self.label_set.names) + ([self.none_target] if self.none_target else [])

    def prompt(self, text: str) -> str:
        return self.model_config.input_template.replace("{text}", str(text))

    @property
    def target_ids(self) -> list[list[int]]:
        if self._target_ids is None:
            limit = int(self.model_config.max_target_length)
            full = ls.seq2seq_label_ids(self.tokenizer, self.targets)
            for name, ids in zip(self.targets, full):
                if len(ids) > limit:
                    log.warning("label %r is %d tokens long; model.max_target_length=%d truncates it",
                                name, len(ids), limit)
            ids = ls.seq2seq_label_ids(self.tokenizer, self.targets, limit)
            try:
                ls.check_distinct(ids, self.targets)
            except ValueError as exc:
                raise ModelError(f"The {self.model_name} tokenizer cannot tell two labels apart: {exc}",
                                 hint="Raise model.max_target_length or rename the labels.") from None
            self._target_ids = ids
        return self._target_ids

    # -- building -----------------------------------------------------------------------------
    def build(self) -> None:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        from emotune.models.zoo import resolve_model

        self.source = resolve_model(self.model_name)
        try:
            with quiet_hf():
                self.tokenizer = AutoTokenizer.from_pretrained(self.source, trust_remote_code=False)
                self.model = AutoModelForSeq2SeqLM.from_pretrained(self.source, trust_remote_code=False)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Could not load seq2seq model '{self.model_name}' from {self.source}: {exc}",
                             hint="The seq2seq backend needs an encoder-decoder (T5, Flan-T5, BART); "
                                  "decoder-only models go to the causal-lm or prompt backends.") from None
        self._target_ids = None
        if self.model_config.gradient_checkpointing:
            self.model.gradient_checkpointing_enable()

    # -- training -----------------------------------------------------------------------------
    def _training_rows(self, data: EmotionDataset) -> tuple[list[str], np.ndarray]:
        """(prompts, target class ids); multi-label: one row per gold label, ``none`` for no label."""
        if self.task == Task.SINGLE:
            return [self.prompt(t) for t in data.texts], data.y()
        prompts, ids = [], []
        none_id = len(self.label_set)
        for text, row in zip(data.texts, data.y()):
            gold = np.flatnonzero(row).tolist() or [none_id]
            prompts += [self.prompt(text)] * len(gold)
            ids += gold
        return prompts, np.asarray(ids, dtype=np.int64)

    def _dev_scorer(self, dev: EmotionDataset):
        from emotune.metrics import compute_metrics

        texts, y = dev.texts, dev.y()

        def score(model) -> dict:
            logliks = self._logliks(texts, model=model)
            out = compute_metrics(self.label_set, y, self._proba_from_logliks(logliks))
            if self.task == Task.SINGLE:
                out["loss"] = float(-logliks[np.arange(len(y)), y].mean())
            else:  # mean NLL of the gold targets (``none`` for rows without labels)
                gold = [np.flatnonzero(r).tolist() or [len(self.label_set)] for r in y]
                out["loss"] = float(-np.mean([logliks[i, j] for i, g in enumerate(gold) for j in g]))
            return out

        return score

    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *, output_dir=None,
            resume: bool = False, quiet: bool = False) -> list[dict]:
        t = self.training_config
        if len(train) == 0:
            raise ModelError("The training set is empty")
        runtime.setup_threads(t)
        runtime.set_seed(t.seed)
        if self.model is None:
            self.build()
        prompts, class_ids = self._training_rows(train)
        train_ds = _TargetDataset(self.tokenizer, prompts, class_ids, self.target_ids, self.max_length)
        dev_ds, scorer = None, None
        if dev is not None and len(dev):
            dev_prompts, dev_ids = self._training_rows(dev)
            dev_ds = _TargetDataset(self.tokenizer, dev_prompts, dev_ids, self.target_ids, self.max_length)
            scorer = self._dev_scorer(dev)
        weights = None
        if t.class_weights:
            import torch

            weights = torch.tensor(balanced_weights(class_ids, len(self.targets), present_only=True),
                                   dtype=torch.float32)
        from emotune.models.hf.trainer import run_trainer, trained_model

        with work_dir(checkpoint_dir(output_dir)) as root:
            result = run_trainer(
                self.model, self.tokenizer, train_ds, dev_ds, label_set=self.label_set, training=t,
                output_dir=root, resume=resume, description=self.model_name, quiet=quiet, loss_weights=weights,
                data_collator=_Collator(self.tokenizer), loss=_sequence_loss, dev_scorer=scorer,
                args_overrides={"remove_unused_columns": False})
            history = result.history
            self.model = trained_model(result, self)
            del result
        self.model.eval()
        return history

    # -- inference ----------------------------------------------------------------------------
    def _logliks(self, texts: Sequence[str], batch_size: int | None = None, model=None) -> np.ndarray:
        """(n, n_targets) summed log-likelihoods of every target given each text."""
        model = model if model is not None else self.model
        if model is None:
            raise ModelError("The seq2seq model has not been trained or loaded")
        return ls.seq2seq_logliks(model, self.tokenizer, [self.prompt(t) for t in texts], self.target_ids,
                                  batch_size=batch_size or self.training_config.eval_batch_size,
                                  max_length=self.max_length)

    def _proba_from_logliks(self, logliks: np.ndarray) -> np.ndarray:
        if self.task == Task.SINGLE:
            return softmax(logliks)
        return self._multi_label_proba(logliks)

    @staticmethod
    def _multi_label_proba(logliks: np.ndarray) -> np.ndarray:
        """Each label's likelihood relative to the most likely target (a label or ``none``).

        The model spreads ``P(target | text)`` over the gold labels, so every gold label is about
        as likely as the best one (ratio near 1) while the others fall far behind; a text whose
        best target is ``none`` gets low scores everywhere. Ratios lie in (0, 1] and the trainer
        tunes a threshold per label on dev (0.5 by default: "at least half as likely as the best").
        """
        rel = np.exp(logliks - logliks.max(axis=1, keepdims=True))
        return rel[:, :-1]  # drop the ``none`` column

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.model is None:
            raise ModelError("The seq2seq model has not been trained or loaded")
        runtime.setup_threads(self.training_config)
        if len(texts) == 0:
            return np.zeros((0, len(self.label_set)))
        return self._proba_from_logliks(self._logliks(list(texts), batch_size=batch_size))

    # -- persistence --------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        if self.model is None:
            raise ModelError("Nothing to save: the seq2seq model has not been trained")
        with quiet_hf():
            self.model.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        return {"seq2seq": {"base_model": self.model_name, "source": self.source, "targets": self.targets,
                            "target_ids": self.target_ids, "max_length": self.max_length}}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> Seq2SeqClassifier:
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        info = meta.get("seq2seq") or {}
        clf.source = info.get("source")
        with quiet_hf():
            clf.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
            clf.model = AutoModelForSeq2SeqLM.from_pretrained(path, trust_remote_code=False)
        if info.get("targets") and list(info["targets"]) != clf.targets:
            raise ModelError(f"{path}: saved targets {info['targets']} do not match the label set {clf.targets}")
        if info.get("target_ids"):
            clf._target_ids = [list(map(int, ids)) for ids in info["target_ids"]]
        clf.model.to(runtime.select_device())
        clf.model.eval()
        return clf
