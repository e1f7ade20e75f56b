"""Frozen sentence embeddings + a small head: most of a fine-tuned encoder's accuracy for a
fraction of the compute (the encoder runs once, forward only).

Embeddings come from :func:`emotune.models.embeddings.encode` (mean-pooled, L2-normalised; model
``model.name``, default MiniLM). Heads:

* ``logreg`` (also ``linear``): scikit-learn logistic regression (one per label for
  multi-label, ridge for regression); weights saved as safetensors.
* ``mlp``: one hidden layer (``head_hidden``, ReLU, ``head_dropout``) trained with AdamW at
  ``training.head_learning_rate`` (cross-entropy / BCE / MSE), evaluated on dev every epoch,
  best epoch kept by ``training.metric``, early stopping after ``early_stopping_patience``
  epochs without improvement; resumable from ``output_dir``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import Task
from emotune.errors import ModelError
from emotune.metrics import scores_from_logits
from emotune.models.base import EmotionClassifier

HEAD_FILE = "head.safetensors"
HEAD_META = "head.json"
# Cache the embeddings of the training and dev lists (seeds and CV folds of one split re-embed the
# same texts) when at least this long. Prediction never reads the cache: its speed, as the run's
# metrics and the benchmarks report it, is the model's own.
_CACHE_MIN = 256


class EmbedHeadClassifier(EmotionClassifier):
    backend = "embed-head"

    def __init__(self, label_set, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        self.encoder_name = self.model_config.name or "minilm"
        self.head_type = "mlp" if self.model_config.head == "mlp" else "logreg"
        self.dim: int | None = None
        self.estimators: list = []  # logreg head
        self.constant_proba: np.ndarray | None = None
        self.mlp = None  # torch head
        self.reused_embeddings: list[str] = []  # the splits whose fit read cached embeddings (metrics say so)

    # -- embeddings ---------------------------------------------------------------------------
    def embed(self, texts: Sequence[str], progress: bool = False, *, cache: bool = False) -> np.ndarray:
        from emotune.models import embeddings

        texts = list(texts)
        return np.asarray(embeddings.encode(texts, model=self.encoder_name, batch_size=self.training_config.eval_batch_size,
                                            progress=progress, max_length=self.training_config.max_length,
                                            cache=cache and len(texts) >= _CACHE_MIN), dtype=np.float32)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *,
            output_dir: str | Path | None = None, resume: bool = False) -> list[dict]:
        if len(train) == 0:
            raise ModelError("Cannot fit the embed-head model on an empty training set")
        from emotune.models import embeddings

        self.reused_embeddings = [name for name, d in (("train", train), ("dev", dev))
                                  if d is not None and len(d) >= _CACHE_MIN and embeddings.is_cached(
                                      list(d.texts), self.encoder_name, max_length=self.training_config.max_length)]
        X = self.embed(train.texts, progress=True, cache=True)
        Xd = self.embed(dev.texts, progress=True, cache=True) if dev is not None and len(dev) else None
        self.dim = int(X.shape[1])
        if self.head_type == "logreg":
            return self._fit_logreg(X, train.y(), Xd, dev)
        return self._fit_mlp(X, train.y(), Xd, dev, output_dir, resume)

    def _dev_metrics(self, Xd, dev) -> dict:
        if Xd is None:
            return {}
        from emotune.metrics import compute_metrics

        return compute_metrics(self.label_set, dev.y(), self._head_scores(Xd))

    def _new_logreg(self, binary: bool):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.model_config.C, max_iter=3000, random_state=self.training_config.seed,
                                  class_weight="balanced" if self.training_config.class_weights else None,
                                  solver="liblinear" if binary else "lbfgs")

    def _new_ridge(self):
        from sklearn.linear_model import Ridge

        return Ridge(alpha=1.0 / max(self.model_config.C, 1e-8))

    def _fit_logreg(self, X, y, Xd, dev) -> list[dict]:
        n = len(self.label_set)
        if self.task == Task.SINGLE:
            if len(np.unique(y)) < 2:
                raise ModelError("The training set has a single class; a classifier needs at least two")
            self.estimators = [self._new_logreg(binary=False).fit(X, y)]
        elif self.task == Task.MULTI:
            self.estimators, const = [], np.full(n, np.nan)
            for j in range(n):
                if y[:, j].min() == y[:, j].max():
                    const[j] = float(y[0, j])
                    self.estimators.append(None)
                else:
                    self.estimators.append(self._new_logreg(binary=True).fit(X, y[:, j]))
            self.constant_proba = const
        else:
            self.estimators = [self._new_ridge().fit(X, y)]
        return [{"epoch": 1, "head": "logreg", **{f"dev_{k}": v for k, v in self._dev_metrics(Xd, dev).items()}}]

    def _build_mlp(self):
        import torch

        hidden = self.model_config.head_hidden
        return torch.nn.Sequential(torch.nn.Linear(self.dim, hidden), torch.nn.ReLU(),
                                   torch.nn.Dropout(self.model_config.head_dropout),
                                   torch.nn.Linear(hidden, len(self.label_set)))

    def _fit_mlp(self, X, y, Xd, dev, output_dir, resume) -> list[dict]:
        """The shared Trainer (:mod:`emotune.models.hf.trainer`) on the embeddings: the task's loss with
        class weights, AdamW at a constant ``head_learning_rate``, dev scored every epoch, best epoch
        kept, early stopping, ``checkpoint-N`` in ``output_dir`` for resume."""
        import torch
        from transformers import default_data_collator

        from emotune.models.hf.checkpoints import checkpoint_dir, work_dir
        from emotune.models.hf.data import encode_targets
        from emotune.models.hf.loss import class_weights
        from emotune.models.hf.trainer import TensorInputModule, run_trainer

        t = self.training_config
        torch.manual_seed(t.seed)
        self.mlp = self._build_mlp()
        targets = encode_targets(self.label_set, y)
        rows = [{"inputs": X[i], "labels": targets[i]} for i in range(len(X))]
        has_dev = Xd is not None
        # the head is small: it trains and predicts on the CPU, on embeddings computed once
        overrides = {"max_steps": -1, "gradient_accumulation_steps": 1, "lr_scheduler_type": "constant",
                     "warmup_steps": 0, "max_grad_norm": 0.0, "use_cpu": True, "bf16": False, "fp16": False,
                     "optim": "adamw_torch", "train_sampling_strategy": "random", "dataloader_pin_memory": False,
                     "save_total_limit": 2}  # the last checkpoint (not only the best one) stays, to continue from
        # checkpoints kept after a finished run (a few KB): a later run may continue it with more epochs
        with work_dir(checkpoint_dir(output_dir), keep=True) as root:
            result = run_trainer(
                TensorInputModule(self.mlp), None, rows, dev if has_dev else None, label_set=self.label_set,
                training=t, output_dir=root, resume=resume, epochs=max(1, int(np.ceil(t.epochs))),
                learning_rate=t.head_learning_rate, description="embed-head", quiet=True,
                loss_weights=class_weights(self.label_set, y) if t.class_weights else None,
                data_collator=default_data_collator, args_overrides=overrides,
                dev_scorer=(lambda model: self._dev_metrics(Xd, dev)) if has_dev else None,
                save_checkpoints=output_dir is not None)
        self.mlp.eval()
        return result.history

    # -- predict ------------------------------------------------------------------------------
    def _head_scores(self, X: np.ndarray) -> np.ndarray:
        n = len(self.label_set)
        if self.head_type == "mlp":
            import torch

            if self.mlp is None:
                raise ModelError("The embed-head model is not fitted: call fit() or load a trained model")
            was_training = self.mlp.training
            self.mlp.eval()
            with torch.inference_mode():
                logits = self.mlp(torch.from_numpy(np.asarray(X, dtype=np.float32))).numpy()
            self.mlp.train(was_training)
            return scores_from_logits(self.task, logits)
        if not self.estimators:
            raise ModelError("The embed-head model is not fitted: call fit() or load a trained model")
        if self.task == Task.SINGLE:
            lr = self.estimators[0]
            out = np.zeros((len(X), n))
            out[:, lr.classes_.astype(int)] = lr.predict_proba(X)
            return out
        if self.task == Task.MULTI:
            out = np.empty((len(X), n))
            for j, est in enumerate(self.estimators):
                out[:, j] = self.constant_proba[j] if est is None else est.predict_proba(X)[:, 1]
            return out
        return np.asarray(self.estimators[0].predict(X), dtype=float).reshape(len(X), n)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        if self.mlp is None and not self.estimators:
            raise ModelError("The embed-head model is not fitted: call fit() or load a trained model")
        return self._head_scores(self.embed(texts))

    # -- persistence --------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        meta = {"head": self.head_type, "encoder": self.encoder_name, "dim": self.dim}
        tensors: dict[str, np.ndarray] = {}
        if self.head_type == "mlp":
            if self.mlp is None:
                raise ModelError("Cannot save an unfitted embed-head model")
            tensors = {k: v.detach().cpu().numpy() for k, v in self.mlp.state_dict().items()}
        else:
            if not self.estimators:
                raise ModelError("Cannot save an unfitted embed-head model")
            kinds = []
            for j, est in enumerate(self.estimators):
                if est is None:
                    kinds.append("constant")
                    continue
                kinds.append(type(est).__name__)
                # keep the fitted dtype (float32 embeddings may give float32 weights): identical reloads
                tensors[f"est{j}.coef"] = np.ascontiguousarray(est.coef_)
                tensors[f"est{j}.intercept"] = np.atleast_1d(np.asarray(est.intercept_))
                if hasattr(est, "classes_"):
                    tensors[f"est{j}.classes"] = np.asarray(est.classes_, dtype=np.int64)
            if self.constant_proba is not None:
                tensors["constant_proba"] = np.asarray(self.constant_proba, dtype=np.float64)
            meta["estimators"] = kinds
        save_file(tensors, str(path / HEAD_FILE))
        (path / HEAD_META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return {}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> EmbedHeadClassifier:
        import torch

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        head = json.loads((path / HEAD_META).read_text(encoding="utf-8"))
        tensors = load_file(str(path / HEAD_FILE))
        clf.head_type, clf.encoder_name, clf.dim = head["head"], head["encoder"], head["dim"]
        if clf.head_type == "mlp":
            clf.mlp = clf._build_mlp()
            clf.mlp.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()})
            clf.mlp.eval()
            return clf
        for j, kind in enumerate(head["estimators"]):
            if kind == "constant":
                clf.estimators.append(None)
                continue
            est = clf._new_ridge() if kind == "Ridge" else clf._new_logreg(binary=label_set.task == Task.MULTI)
            est.coef_ = tensors[f"est{j}.coef"]
            est.intercept_ = tensors[f"est{j}.intercept"]
            if kind != "Ridge":
                est.classes_ = tensors[f"est{j}.classes"]
            est.n_features_in_ = clf.dim
            clf.estimators.append(est)
        if "constant_proba" in tensors:
            clf.constant_proba = tensors["constant_proba"]
        return clf
