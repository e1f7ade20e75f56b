"""The classifier protocol every backend implements.

Reads like a scikit-learn estimator (cf. SetFit's ``SetFitModel``)::

    clf = backend_class("tfidf")(label_set, model_config, training_config)
    history = clf.fit(train, dev)
    clf.predict(["I passed my exam!"])        # ["joy"]
    clf.predict_proba([...])                  # (n, n_labels) probabilities / regression values
    clf.save_pretrained("runs/x/model")
    EmotionClassifier.from_pretrained("runs/x/model")

A saved model directory always holds ``emotune_model.json`` (backend, label set, configs,
thresholds) next to the backend's own files; weights are safetensors or JSON, never pickles.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from emotune._version import __version__
from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.metrics import decide_names, top_k_pairs
from emotune.models.inputs import InputSpec, view_for_inputs
from emotune.models.weights import match_umask, verify_model_dir

MODEL_META = "emotune_model.json"


class EmotionClassifier(ABC):
    backend: ClassVar[str] = ""
    #: whether ``fit`` learns anything (the lexicon and zero-shot prompting do not)
    trainable: ClassVar[bool] = True
    #: ``fit`` trains through the Trainer, so under torchrun every rank trains (DDP / FSDP / DeepSpeed);
    #: the other backends train in rank 0 alone while the other ranks exit
    trains_distributed: ClassVar[bool] = False
    #: the model reads "<value>: <text>" prefixes itself (instruct), so its input spec has none
    reads_text_prefix: ClassVar[bool] = False
    #: tokens a transformer backend reads per text, and its tokenizer; None for backends without a
    #: length limit. Long texts are split into windows with them (emotune.inference.windows).
    max_length: int | None = None
    tokenizer = None
    #: what a raw text needs before the model sees it (set by the trainer, saved as "input")
    input_spec: InputSpec = InputSpec()

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None):
        from emotune.config import TrainingConfig, default_model_config

        self.label_set = label_set
        self.model_config = model_config if model_config is not None else default_model_config(self.backend)
        self.training_config = training_config if training_config is not None else TrainingConfig()
        # Multi-label decision thresholds, tuned on dev by the trainer; None means 0.5.
        self.thresholds: np.ndarray | None = None

    @property
    def task(self) -> Task:
        return self.label_set.task

    # -- what every backend implements --------------------------------------------------------
    @abstractmethod
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *,
            output_dir: str | Path | None = None, resume: bool = False) -> list[dict]:
        """Train; return per-epoch history rows (``{"epoch": 1, "dev_f1_macro": ...}``).

        Backends that train for several epochs evaluate on ``dev`` after each epoch, keep the
        best weights by ``training_config.metric`` and stop early; with ``output_dir`` they keep
        resumable checkpoints there and ``resume=True`` continues from the last one.
        """

    @abstractmethod
    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(n, n_labels): softmax (single), per-label sigmoid (multi) or predicted values (regression)."""

    @abstractmethod
    def _save(self, path: Path) -> dict:
        """Write backend files into ``path``; return extra JSON-able metadata for ``emotune_model.json``."""

    @classmethod
    @abstractmethod
    def _load(cls, path: Path, meta: dict) -> EmotionClassifier:
        """Rebuild from files written by ``_save`` (``meta`` is the parsed ``emotune_model.json``)."""

    # -- shared behaviour ---------------------------------------------------------------------
    def predict(self, texts: Sequence[str], batch_size: int | None = None) -> list:
        """Label names (single), label lists (multi, thresholded) or value arrays (regression)."""
        scores = self.predict_proba(texts, batch_size=batch_size)
        return self.decide(scores)

    def decide(self, scores: np.ndarray) -> list:
        return decide_names(self.label_set, scores, self.thresholds)

    def predict_top_k(self, texts: Sequence[str], k: int | None = None, batch_size: int | None = None
                      ) -> list[list[tuple[str, float]]]:
        """Per text, (label, score) pairs sorted by score; all labels when ``k`` is None."""
        return top_k_pairs(self.label_set, self.predict_proba(texts, batch_size=batch_size), k)

    def predict_values(self, texts: Sequence[str], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Regression: (values, validity mask). A backend that generates its answers (instruct)
        returns NaN where an answer was not a number in range; the others' values are all valid."""
        values = np.asarray(self.predict_proba(texts, batch_size=batch_size), dtype=float)
        return values, np.ones(len(values), dtype=bool)

    def generation_stats(self) -> dict | None:
        """``{"answers": n, "invalid": m}`` over the answers generated so far; None for backends
        that do not generate their answers (their predictions are always valid)."""
        return None

    def view(self, target: str | None = None, emotion: str | None = None):
        """The classifier answering raw texts (``RUN#target``): itself, or asked once per text prefix."""
        return view_for_inputs(self, target, emotion)

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        extra = self._save(path) or {}
        meta = {
            "backend": self.backend,
            "emotune_version": __version__,
            "label_set": self.label_set.to_dict(),
            "model": self.model_config.model_dump(mode="json"),
            "training": self.training_config.model_dump(mode="json"),
            "thresholds": None if self.thresholds is None else np.asarray(self.thresholds, dtype=float).tolist(),
            "input": self.input_spec.model_dump(mode="json"),
            **extra,
        }
        tmp = path / (MODEL_META + ".tmp")
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path / MODEL_META)  # written last and atomically: a half-saved model has no meta
        match_umask(path, path / MODEL_META)
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs) -> EmotionClassifier:
        return load_classifier(path, **kwargs)

    def _restore_common(self, meta: dict) -> None:
        if meta.get("thresholds") is not None:
            self.thresholds = np.asarray(meta["thresholds"], dtype=float)
        if meta.get("input") is not None:  # runs of earlier releases: derived by emotune.runs.Run.load
            self.input_spec = InputSpec.model_validate(meta["input"])

    @staticmethod
    def configs_from_meta(meta: dict):
        from emotune.config import TrainingConfig, parse_model_config

        return (LabelSet.from_dict(meta["label_set"]), parse_model_config(meta.get("model") or {"backend": meta["backend"]}),
                TrainingConfig.model_validate(meta.get("training") or {}))

    def describe(self) -> str:
        return f"{self.backend}:{self.model_config.name or ''}"


def load_classifier(model_dir: str | Path, **kwargs) -> EmotionClassifier:
    """The model saved in ``model_dir`` (a run directory: :meth:`emotune.runs.Run.load`)."""
    from emotune.models.registry import backend_class

    model_dir = Path(model_dir)
    if not (model_dir / MODEL_META).is_file():
        raise ModelError(f"No trained model in {model_dir}: expected {model_dir / MODEL_META}",
                         hint="Load a run directory with emotune.load_run(RUN) or emotune.runs.Run.open(RUN).load().")
    try:
        meta = json.loads((model_dir / MODEL_META).read_text(encoding="utf-8"))
        backend = meta["backend"]
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(f"Corrupt model metadata {model_dir / MODEL_META}: {exc}") from None
    cls = backend_class(backend)
    verify_model_dir(model_dir)  # a pickle or a cut safetensors file: one message naming it
    try:
        clf = cls._load(model_dir, meta, **kwargs)
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"Could not load the {backend} model in {model_dir}: {exc}") from None
    clf._restore_common(meta)
    return clf
