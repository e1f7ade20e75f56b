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
from emotune.models.base import EmotionClassifier

HEAD_FILE = "head.safetensors"
HEAD_META = "head.json"
CHECKPOINT = "embed_head_state.pt"
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

    def _loss(self, y: np.ndarray):
        import torch

        t = self.training_config
        if self.task == Task.SINGLE:
            weight = None
            if t.class_weights:
                counts = np.bincount(y, minlength=len(self.label_set)).astype(float)
                weight = torch.tensor(len(y) / (len(counts) * np.maximum(counts, 1)), dtype=torch.float32)
            return torch.nn.CrossEntropyLoss(weight=weight)
        if self.task == Task.MULTI:
            pos_weight = None
            if t.class_weights:
                pos = y.sum(axis=0).astype(float)
                # negatives/positives, capped: rare labels count more without drowning the rest
                pos_weight = torch.tensor(np.clip((len(y) - pos) / np.maximum(pos, 1), 1.0, 30.0), dtype=torch.float32)
            return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        return torch.nn.MSELoss()

    def _fit_mlp(self, X, y, Xd, dev, output_dir, resume) -> list[dict]:
        import torch

        from emotune.metrics import PRIMARY

        t = self.training_config
        torch.manual_seed(t.seed)
        self.mlp = self._build_mlp()
        optim = torch.optim.AdamW(self.mlp.parameters(), lr=t.head_learning_rate, weight_decay=t.weight_decay)
        loss_fn = self._loss(y)
        Xt = torch.from_numpy(X)
        yt = torch.as_tensor(y, dtype=torch.long if self.task == Task.SINGLE else torch.float32)
        metric = t.metric.removeprefix("dev_")
        epochs = max(1, int(np.ceil(t.epochs)))
        history, best, best_state, start, bad = [], -np.inf, None, 0, 0
        ckpt = Path(output_dir) / CHECKPOINT if output_dir else None
        gen = torch.Generator().manual_seed(t.seed)  # batch order
        if resume and ckpt is not None and ckpt.is_file():
            state = torch.load(ckpt, weights_only=True)  # tensors and plain values only, never pickled objects
            self.mlp.load_state_dict(state["model"])
            optim.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            gen.set_state(state["batch_rng"])
            best, start, bad = state["best"], state["epoch"], state["bad_epochs"]
            best_state = state["best_model"]
            history = json.loads(state["history"])
        for epoch in range(start, epochs):
            if Xd is not None and bad >= t.early_stopping_patience:
                break
            self.mlp.train()
            order = torch.randperm(len(Xt), generator=gen)
            total = 0.0
            for i in range(0, len(order), t.batch_size):
                idx = order[i:i + t.batch_size]
                optim.zero_grad()
                out = self.mlp(Xt[idx])
                loss = loss_fn(out, yt[idx].reshape(out.shape) if self.task != Task.SINGLE else yt[idx])
                loss.backward()
                optim.step()
                total += loss.item() * len(idx)
            row = {"epoch": epoch + 1, "train_loss": total / len(Xt)}
            dev_metrics = self._dev_metrics(Xd, dev)
            row.update({f"dev_{k}": v for k, v in dev_metrics.items()})
            score = dev_metrics.get(metric, dev_metrics.get(PRIMARY[self.task], -row["train_loss"])) \
                if dev_metrics else -row["train_loss"]
            if score > best:
                best, bad = score, 0
                best_state = {k: v.detach().clone() for k, v in self.mlp.state_dict().items()}
            else:
                bad += 1
            row["best"] = bool(bad == 0)
            history.append(row)
            if ckpt is not None:
                ckpt.parent.mkdir(parents=True, exist_ok=True)
                tmp = ckpt.with_suffix(".tmp")
                torch.save({"model": self.mlp.state_dict(), "optimizer": optim.state_dict(), "rng": torch.get_rng_state(),
                            "batch_rng": gen.get_state(),
                            "best": float(best), "epoch": epoch + 1, "bad_epochs": bad, "best_model": best_state,
                            "history": json.dumps(history)}, tmp)
                tmp.replace(ckpt)
        if best_state is not None:
            self.mlp.load_state_dict(best_state)
        self.mlp.eval()
        return history

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
                logits = self.mlp(torch.from_numpy(np.asarray(X, dtype=np.float32)))
                if self.task == Task.SINGLE:
                    out = torch.softmax(logits, dim=1)
                elif self.task == Task.MULTI:
                    out = torch.sigmoid(logits)
                else:
                    out = logits
            self.mlp.train(was_training)
            return out.double().numpy()
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
