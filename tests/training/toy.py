"""Tiny in-memory datasets with learnable, lexicon-friendly wording, for backend and trainer tests."""

from __future__ import annotations

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task

WORDS = {
    "anger": ["angry", "furious", "rage", "hate", "insult"],
    "disgust": ["disgusting", "gross", "vomit", "filthy", "rotten"],
    "fear": ["afraid", "terrified", "scared", "panic", "danger"],
    "guilt": ["guilty", "regret", "fault", "apologize", "blame"],
    "joy": ["happy", "delighted", "wonderful", "celebrate", "love"],
    "sadness": ["sad", "cry", "grief", "lonely", "funeral"],
    "shame": ["ashamed", "embarrassed", "humiliated", "blush", "disgrace"],
}
CONTEXTS = ["when my friend called", "at school today", "the day my brother left", "after the exam",
            "during the trip", "with my family", "at work", "on the bus home"]
ISEAR = LabelSet(tuple(WORDS), Task.SINGLE, "toy-isear-7")
MULTI = LabelSet(("anger", "fear", "joy", "sadness", "surprise"), Task.MULTI, "toy-multi-5")
REGRESSION = LabelSet(("valence",), Task.REGRESSION, "toy-valence")
WORDS_MULTI = {**WORDS, "surprise": ["surprised", "amazed", "unexpected", "shock", "astonished"]}


def _sentence(rng, labels, i: int) -> str:
    words = [rng.choice(WORDS_MULTI[lab]) for lab in labels for _ in range(2)]
    return f"{rng.choice(CONTEXTS)} I felt {' and '.join(words)} number {i}"


def single(n_per_label: int = 20, seed: int = 0, label_set: LabelSet = ISEAR, split: str = "") -> EmotionDataset:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for lab in label_set.names:
        for _ in range(n_per_label):
            texts.append(_sentence(rng, [lab], seed * 100_000 + len(texts)))
            labels.append(lab)
    return EmotionDataset.from_texts(texts, labels, label_set, name="toy-single", split=split)


def multi(n: int = 120, seed: int = 0, split: str = "") -> EmotionDataset:
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(n):
        k = 1 + int(rng.random() < 0.4)
        labs = sorted(rng.choice(MULTI.names, size=k, replace=False).tolist())
        texts.append(_sentence(rng, labs, seed * 100_000 + i))
        labels.append(labs)
    return EmotionDataset.from_texts(texts, labels, MULTI, name="toy-multi", split=split)


def regression(n: int = 120, seed: int = 0, split: str = "") -> EmotionDataset:
    rng = np.random.default_rng(seed)
    texts, values = [], []
    for i in range(n):
        lab = rng.choice(["joy", "sadness", "fear"])
        texts.append(_sentence(rng, [lab], seed * 100_000 + i))
        values.append({"joy": 0.8, "sadness": 0.2, "fear": 0.3}[lab] + rng.normal(0, 0.05))
    return EmotionDataset.from_texts(texts, values, REGRESSION, name="toy-regression", split=split)


def prepared(task: str = "single", scale: int = 1):
    """A PreparedData with disjoint train/dev/test (different seeds give different number tokens)."""
    from emotune.training.trainer import PreparedData

    if task == "single":
        parts = [single(16 * scale, 1, split="train"), single(4 * scale, 2, split="dev"), single(4 * scale, 3, split="test")]
    elif task == "multi":
        parts = [multi(120 * scale, 1, split="train"), multi(40 * scale, 2, split="dev"), multi(40 * scale, 3, split="test")]
    else:
        parts = [regression(120 * scale, 1, split="train"), regression(40 * scale, 2, split="dev"),
                 regression(40 * scale, 3, split="test")]
    return PreparedData(*parts, notes={"source": f"toy {task} data (tests)", "dedup_dropped": 0})
