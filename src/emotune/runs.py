"""The run directory: the unit of exchange between training, evaluation and serving.

Layout written by :func:`emotune.training.trainer.train` (in this order; ``metrics.json`` last,
so its presence marks a finished run)::

    runs/isear-tfidf/
      config.yaml            the full RunConfig (every default spelled out)
      labels.json            the LabelSet
      data.json              split sizes, data-preparation notes, sha256 of each split's texts
      checkpoints/           the backend's resumable state (deleted by nobody; may be empty)
      history.jsonl          one JSON row per epoch (appended on resume)
      predictions/dev.npz    arrays only: scores (n, n_labels), y_true
      predictions/test.npz
      predictions/dev_texts.json, test_texts.json
      model/                 save_pretrained output (emotune_model.json + weights)
      README.md              model card
      metrics.json           {"task", "primary_metric", "dev": {...}, "test": {...},
                              "per_class": {"dev": report, "test": report}, "thresholds", ...}

Everything here only reads; the trainer is the only writer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emotune.data.labels import LabelSet
from emotune.errors import ModelError

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
DATA_FILE = "data.json"
HISTORY_FILE = "history.jsonl"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
PREDICTIONS_DIR = "predictions"


@dataclass
class Predictions:
    """Scores a run's model gave one split, with the gold labels in model-ready form."""

    split: str
    scores: np.ndarray  # (n, n_labels)
    y_true: np.ndarray  # class ids (single), indicator matrix (multi), values (regression)
    texts: list[str] | None = None
    thresholds: np.ndarray | None = None


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def is_finished(path: str | Path) -> bool:
    return (Path(path) / METRICS_FILE).is_file()


def _need(run_dir: Path, name: str) -> Path:
    path = Path(run_dir) / name
    if not path.exists():
        if not Path(run_dir).exists():
            raise ModelError(f"Run directory not found: {run_dir}")
        hint = None
        if not is_finished(run_dir):
            hint = "The run is unfinished: resume it with `emotune train CONFIG` (same config)."
        raise ModelError(f"{run_dir} has no {name}", hint=hint)
    return path


def load_config(run_dir: str | Path):
    from emotune.config import RunConfig

    return RunConfig.load(_need(Path(run_dir), CONFIG_FILE))


def load_labels(run_dir: str | Path) -> LabelSet:
    return LabelSet.load(_need(Path(run_dir), LABELS_FILE))


def load_metrics(run_dir: str | Path) -> dict:
    return json.loads(_need(Path(run_dir), METRICS_FILE).read_text(encoding="utf-8"))


def load_data_info(run_dir: str | Path) -> dict:
    path = Path(run_dir) / DATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def load_history(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_predictions(run_dir: str | Path, split: str = "test") -> Predictions:
    run_dir = Path(run_dir)
    path = _need(run_dir, f"{PREDICTIONS_DIR}/{split}.npz")
    with np.load(path, allow_pickle=False) as npz:
        scores, y_true = npz["scores"], npz["y_true"]
        thresholds = npz["thresholds"] if "thresholds" in npz.files else None
    texts_path = run_dir / PREDICTIONS_DIR / f"{split}_texts.json"
    texts = json.loads(texts_path.read_text(encoding="utf-8")) if texts_path.is_file() else None
    return Predictions(split, scores, y_true, texts, thresholds)


def texts_digest(texts) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(str(t).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def load_splits(run_dir: str | Path, *, verify: bool = True):
    """Re-create the run's train/dev/test splits from its saved config (splitting is seeded).

    With ``verify`` the texts are checked against the digests in ``data.json``, so a changed
    dataset file or splitter cannot silently evaluate on different data.
    Returns an object with ``train``, ``dev`` and ``test`` :class:`EmotionDataset` attributes.
    """
    from emotune.data.pipeline import prepare_data

    config = load_config(run_dir)
    prepared = prepare_data(config.data)
    info = load_data_info(run_dir)
    if verify and info.get("sha256"):
        for split in ("train", "dev", "test"):
            want = info["sha256"].get(split)
            got = texts_digest(getattr(prepared, split).texts)
            if want and want != got:
                raise ModelError(
                    f"The {split} split re-created from {Path(run_dir) / CONFIG_FILE} differs from the one the run used",
                    hint="The dataset file or the splitting code changed since training; retrain, "
                         "or pass verify=False to use the new split knowingly.",
                )
    return prepared
