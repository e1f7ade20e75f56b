"""emotune: build, compare and serve text emotion classifiers.

The public API, loaded on first use so that ``import emotune`` (and ``emotune data list``) never
imports torch, scikit-learn or pandas::

    import emotune

    result = emotune.train(emotune.RunConfig.load("isear-tfidf"))
    clf = emotune.load_run(result.run_dir)
"""

from __future__ import annotations

import importlib

from emotune._version import __version__

# public name -> "module:attribute", imported by __getattr__ (PEP 562) the first time it is used
_LAZY = {
    "load_dataset": "emotune.data.registry:load_dataset",
    "load_run": "emotune.runs:load_run",
    "Run": "emotune.runs:Run",
    "train": "emotune.training.trainer:train",
    "evaluate": "emotune.evaluation.evaluate:evaluate_run",
    "RunConfig": "emotune.config:RunConfig",
    "EmotionClassifier": "emotune.models.base:EmotionClassifier",
    "EmotionDataset": "emotune.data.dataset:EmotionDataset",
    "LabelSet": "emotune.data.labels:LabelSet",
    "Task": "emotune.data.labels:Task",
    "EmotuneError": "emotune.errors:EmotuneError",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'emotune' has no attribute {name!r}")
    module, attr = _LAZY[name].split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
