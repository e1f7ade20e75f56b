"""Finished run directories in the documented layout, with synthetic predictions (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from emotune.data.labels import LabelSet, Task
from emotune.evaluation.metrics import compute_metrics
from emotune.training.config import RunConfig

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

ISEAR = LabelSet(("anger", "disgust", "fear", "guilt", "joy", "sadness", "shame"), name="isear-7")
MULTI = LabelSet(("anger", "fear", "joy", "sadness", "surprise"), Task.MULTI, name="toy-multi")
REG = LabelSet(("V", "A"), Task.REGRESSION, name="vad")


def gold(label_set: LabelSet, n: int, seed: int = 123) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if label_set.task == Task.SINGLE:
        return rng.integers(0, len(label_set), n)
    if label_set.task == Task.MULTI:
        y = (rng.random((n, len(label_set))) < 0.3).astype(int)
        y[np.arange(n), rng.integers(0, len(label_set), n)] = 1
        return y
    return rng.normal(3.0, 0.6, (n, len(label_set)))


def scores_for(label_set: LabelSet, y: np.ndarray, skill: float, seed: int) -> np.ndarray:
    """Scores that are right more often as ``skill`` grows (0: noise, 1: nearly perfect)."""
    rng = np.random.default_rng(seed)
    n = len(y)
    k = len(label_set)
    if label_set.task == Task.SINGLE:
        logits = rng.normal(0, 1, (n, k))
        logits[np.arange(n), y] += 3 * skill
        # a systematic confusion: guilt is often called shame
        if k == 7:
            logits[y == 3, 6] += 1.5
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    if label_set.task == Task.MULTI:
        logits = rng.normal(-1.0, 1.0, (n, k)) + 3 * skill * (y - 0.3)
        return 1 / (1 + np.exp(-logits))
    return y * skill + rng.normal(0, 1 - skill + 0.05, y.shape) + (1 - skill) * 3.0


def make_run(root: Path, name: str, label_set: LabelSet = ISEAR, *, n_test: int = 300, n_dev: int = 200,
             skill: float = 0.6, seed: int = 42, backend: str = "tfidf", model_name: str | None = None,
             config_name: str | None = None, texts: bool = True, test_seed: int = 123, dataset: str = "isear",
             train_seconds: float | None = 12.5, texts_per_s: float | None = 850.0) -> Path:
    run = Path(root) / name
    (run / "predictions").mkdir(parents=True)
    (run / "model").mkdir()
    cfg = RunConfig.from_dict({"name": config_name or name, "data": {"dataset": dataset},
                               "model": {"backend": backend, "name": model_name},
                               "training": {"seed": seed}})
    cfg.save(run / "config.yaml")
    label_set.save(run / "labels.json")
    thresholds = np.full(len(label_set), 0.45) if label_set.task == Task.MULTI else None
    out = {"task": label_set.task.value, "primary_metric": "f1_macro",
           "thresholds": None if thresholds is None else thresholds.tolist(),
           "sizes": {"train": 1000, "dev": n_dev, "test": n_test}}
    if train_seconds is not None:
        out["fit_seconds"] = train_seconds  # as the trainer writes it
    if texts_per_s is not None:
        out["predict_texts_per_s"] = texts_per_s
    for split, n, split_seed in (("dev", n_dev, test_seed + 1), ("test", n_test, test_seed)):
        y = gold(label_set, n, split_seed)
        s = scores_for(label_set, y, skill, seed * 7 + split_seed)
        np.savez(run / "predictions" / f"{split}.npz", scores=s, y_true=y)
        if texts:
            words = ["I felt", "When my friend", "After the exam", "My mother said", "At night"]
            rows = [f"{words[i % 5]} something happened (row {i}) & <b>not bold</b>" for i in range(n)]
            (run / "predictions" / f"{split}_texts.json").write_text(json.dumps(rows), encoding="utf-8")
        out[split] = compute_metrics(label_set, y, s, thresholds)
    sizes = {"train": 1000, "dev": n_dev, "test": n_test}
    (run / "data.json").write_text(json.dumps({"sizes": sizes}), encoding="utf-8")
    (run / "model" / "emotune_model.json").write_text(json.dumps({"backend": backend, "thresholds": out["thresholds"]}),
                                                     encoding="utf-8")
    (run / "metrics.json").write_text(json.dumps(out, indent=2), encoding="utf-8")
    return run
