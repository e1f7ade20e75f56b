"""NRC Emotion Lexicon baseline: count emotion words, map them onto the dataset's labels.

Nothing is learned from text: the NRC lexicon (6,468 words, 8 Plutchik emotions + positive and
negative, via the ``NRCLex`` package) gives each word its emotions; a text's score for a label
is the weighted count of its words' emotions that correspond to the label (table below). ``fit``
only estimates the label prior on train, which smooths the scores and decides texts without
emotion words. Labels with no lexicon counterpart (shame, guilt, embarrassment...) live on that
prior alone, so they are rarely predicted: a known limit of lexicon methods, kept visible.

NRCLex's ``load_raw_text`` needs NLTK corpora (TextBlob) that are not installed offline, so we
tokenise with a regex and look the tokens up ourselves (what ``load_token_list`` does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.base import EmotionClassifier

CATEGORIES = ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust",
              "positive", "negative", "none")  # "none": 1 when a text has no emotion word at all
MAPPING_FILE = "lexicon.json"
SMOOTHING = 1.0  # pseudo-count of prior mass added to every text's label scores
# A label's own name in the text ("I felt ashamed") is strong, direct evidence the lexicon's
# categories blur (NRC files "ashamed" under disgust/sadness). On ISEAR dev, weight 3 took
# macro-F1 from 0.21 (lexicon categories alone) to 0.39; it also gives shame/guilt a voice.
NAME_WEIGHT = 3.0
_NAME_SUFFIXES = ("ness", "ment", "ion", "ity", "ful")
# extra surface forms of a few label names that a prefix match misses
_NAME_FORMS = {"anger": ("angry", "angrily"), "shame": ("ashamed",), "fear": ("afraid", "scared"),
               "joy": ("joyful", "joyous", "happy", "happiness", "happily"), "sadness": ("sad", "sadly"), "sad": ("sadness",),
               "happiness": ("happy", "happily"), "surprise": ("surprising",), "disgust": ("disgusting",)}

# dataset label (lower-case, spaces/underscores as "_") -> {lexicon category: weight}
# Covers ISEAR-7, Ekman-6(+neutral), GoEmotions-28, SemEval-2018 E-c 11, dair-emotion 6, MELD 7,
# EmoryNLP 7, DailyDialog 7 and most EmpatheticDialogues-32 names; the rest fall back to the prior.
LABEL_MAP: dict[str, dict[str, float]] = {
    # Plutchik's eight, under their usual names and adjectives
    "anger": {"anger": 1}, "angry": {"anger": 1}, "mad": {"anger": 1}, "furious": {"anger": 1},
    "annoyance": {"anger": 0.7, "negative": 0.3}, "annoyed": {"anger": 0.7, "negative": 0.3},
    "disgust": {"disgust": 1}, "disgusted": {"disgust": 1},
    "disapproval": {"disgust": 0.5, "negative": 0.5},
    "fear": {"fear": 1}, "afraid": {"fear": 1}, "scared": {"fear": 1}, "terrified": {"fear": 1},
    "nervousness": {"fear": 0.8, "anticipation": 0.2}, "anxious": {"fear": 0.8, "anticipation": 0.2},
    "apprehensive": {"fear": 0.7, "anticipation": 0.3},
    "joy": {"joy": 1}, "joyful": {"joy": 1}, "happiness": {"joy": 1}, "happy": {"joy": 1},
    "amusement": {"joy": 0.8, "positive": 0.2}, "excitement": {"joy": 0.6, "anticipation": 0.4},
    "excited": {"joy": 0.6, "anticipation": 0.4}, "relief": {"joy": 0.6, "positive": 0.4},
    "pride": {"joy": 0.6, "positive": 0.4}, "proud": {"joy": 0.6, "positive": 0.4},
    "content": {"joy": 0.5, "trust": 0.5}, "gratitude": {"joy": 0.5, "trust": 0.2, "positive": 0.3},
    "grateful": {"joy": 0.5, "trust": 0.2, "positive": 0.3},
    "sadness": {"sadness": 1}, "sad": {"sadness": 1}, "grief": {"sadness": 1}, "devastated": {"sadness": 1},
    "lonely": {"sadness": 1}, "disappointment": {"sadness": 0.7, "negative": 0.3},
    "disappointed": {"sadness": 0.7, "negative": 0.3}, "remorse": {"sadness": 0.7, "negative": 0.3},
    "nostalgic": {"sadness": 0.5, "joy": 0.5}, "sentimental": {"sadness": 0.5, "joy": 0.5},
    "surprise": {"surprise": 1}, "surprised": {"surprise": 1}, "realization": {"surprise": 1},
    "confusion": {"surprise": 0.6, "negative": 0.4}, "curiosity": {"anticipation": 0.6, "surprise": 0.4},
    "impressed": {"surprise": 0.5, "trust": 0.5},
    "trust": {"trust": 1}, "trusting": {"trust": 1}, "faithful": {"trust": 1},
    "anticipation": {"anticipation": 1}, "anticipating": {"anticipation": 1}, "prepared": {"anticipation": 1},
    "desire": {"anticipation": 0.6, "joy": 0.4},
    # compounds (Plutchik's dyads)
    "love": {"joy": 0.5, "trust": 0.5}, "caring": {"trust": 0.5, "joy": 0.3, "positive": 0.2},
    "admiration": {"trust": 0.6, "joy": 0.4}, "approval": {"trust": 0.5, "positive": 0.5},
    "optimism": {"anticipation": 0.5, "joy": 0.5}, "hopeful": {"anticipation": 0.5, "joy": 0.5},
    "confident": {"trust": 0.5, "anticipation": 0.5}, "powerful": {"trust": 0.4, "positive": 0.6},
    "peaceful": {"trust": 0.5, "positive": 0.5},
    "pessimism": {"sadness": 0.5, "anticipation": 0.2, "negative": 0.3},
    "jealous": {"anger": 0.5, "sadness": 0.2, "negative": 0.3},
    # no emotion: texts without emotion words
    "neutral": {"none": 1}, "no_emotion": {"none": 1}, "none": {"none": 1}, "others": {"none": 1},
}
_NEGATORS = {"not", "no", "never", "nothing", "nobody", "neither", "nor", "without", "cannot", "t"}
_TOKEN = re.compile(r"[a-z]+")


def name_pattern(label: str) -> re.Pattern:
    """Tokens that spell the label's own name: the name, its stem + any ending, listed variants."""
    key = _key(label).replace("_", " ")
    stems = {key}
    for suffix in _NAME_SUFFIXES:
        if key.endswith(suffix) and len(key) - len(suffix) >= 3:
            stems.add(key[: -len(suffix)])
    alts = [re.escape(s) + r"\w*" for s in sorted(stems) if len(s) >= 4] + \
           [re.escape(s) for s in sorted(stems) if len(s) < 4] + [re.escape(f) for f in _NAME_FORMS.get(key, ())]
    return re.compile(r"\b(?:" + "|".join(dict.fromkeys(alts)) + r")\b")


def name_counts(texts: Sequence[str], label_set: LabelSet) -> np.ndarray:
    """(n, labels) occurrences of each label's own name (and its inflections) per text."""
    # "neutral" / "no emotion" are told by the absence of emotion words, not by their name
    patterns = [None if LABEL_MAP.get(_key(n)) == {"none": 1} else name_pattern(n) for n in label_set.names]
    return np.asarray([[len(p.findall(str(t).lower())) if p else 0 for p in patterns] for t in texts],
                      dtype=float).reshape(len(texts), len(patterns))


def _key(label: str) -> str:
    return re.sub(r"[\s\-]+", "_", str(label).strip().lower())


def default_mapping(label_set: LabelSet) -> dict[str, dict[str, float]]:
    """The lexicon categories behind each label; labels without one are absent."""
    return {name: dict(LABEL_MAP[_key(name)]) for name in label_set.names if _key(name) in LABEL_MAP}


@lru_cache(maxsize=1)
def nrc_lexicon() -> dict[str, tuple[str, ...]]:
    try:
        from nrclex import NRCLex
    except ImportError:
        raise ModelError("The lexicon backend needs the NRCLex package",
                         hint="pip install --no-deps NRCLex==4.1.0 (scripts/setup.sh installs it)") from None
    lex = NRCLex(None)
    lex.load_token_list([])  # the public entry point; the mapping itself is what we need
    return {w: tuple(a) for w, a in lex.__lexicon__.items()}


def _lookup(token: str, lexicon: dict) -> tuple[str, ...]:
    """The word's emotions, trying a few inflections the lexicon lacks (it holds base forms)."""
    if token in lexicon:
        return lexicon[token]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""), ("ing", "e"),
                         ("ly", ""), ("ness", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            stem = token[: -len(suffix)] + repl
            if stem in lexicon:
                return lexicon[stem]
    return ()


def category_counts(texts: Sequence[str], lexicon: dict | None = None) -> np.ndarray:
    """(n, len(CATEGORIES)) counts of lexicon emotions per text.

    Words within three tokens after a negator ("not happy", "never afraid") are skipped: the
    lexicon has no notion of negation and counting them would invert the evidence.
    """
    lexicon = lexicon if lexicon is not None else nrc_lexicon()
    col = {c: j for j, c in enumerate(CATEGORIES)}
    out = np.zeros((len(texts), len(CATEGORIES)))
    for i, text in enumerate(texts):
        negated_until = -1
        for pos, tok in enumerate(_TOKEN.findall(str(text).lower())):
            if tok in _NEGATORS:
                negated_until = pos + 3
                continue
            if pos <= negated_until:
                continue
            for affect in _lookup(tok, lexicon):
                if affect in col:
                    out[i, col[affect]] += 1
        if not out[i, : col["positive"]].any():
            out[i, col["none"]] = 1
    return out


class LexiconClassifier(EmotionClassifier):
    backend = "lexicon"
    trainable = False

    def __init__(self, label_set, model_config=None, training_config=None, mapping: dict | None = None):
        super().__init__(label_set, model_config, training_config)
        if self.task == Task.REGRESSION:
            raise ModelError("The lexicon backend classifies; it cannot predict regression targets",
                             hint="Use the tfidf or embed-head backend for intensity / VAD regression.")
        self.mapping = mapping if mapping is not None else default_mapping(label_set)
        if not self.mapping:
            raise ModelError(
                f"No label of '{label_set.name or 'this dataset'}' maps onto the NRC lexicon's emotions: "
                f"{', '.join(label_set.names)}",
                hint="The lexicon knows anger, anticipation, disgust, fear, joy, sadness, surprise, trust "
                     "(and common synonyms); map the labels (data.label_map) or choose another backend.")
        self.unmapped = [n for n in label_set.names if n not in self.mapping]
        n = len(label_set)
        self.prior = np.full(n, 1.0 / n) if self.task == Task.SINGLE else np.full(n, 0.5)
        self.weights = np.zeros((len(CATEGORIES), n))  # category -> label
        for j, name in enumerate(label_set.names):
            for cat, w in self.mapping.get(name, {}).items():
                self.weights[CATEGORIES.index(cat), j] = w

    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *,
            output_dir: str | Path | None = None, resume: bool = False) -> list[dict]:
        if train is not None and len(train):
            y = train.y()
            if self.task == Task.SINGLE:
                counts = np.bincount(y, minlength=len(self.label_set)).astype(float)
                self.prior = (counts + 1) / (counts.sum() + len(counts))
            else:
                self.prior = (y.sum(axis=0) + 1) / (len(y) + 2)
        row = {"epoch": 0, "trained": False, "mapped_labels": len(self.mapping), "unmapped_labels": self.unmapped}
        if dev is not None and len(dev):
            from emotune.metrics import compute_metrics

            row.update({f"dev_{k}": v for k, v in
                        compute_metrics(self.label_set, dev.y(), self.predict_proba(dev.texts)).items()})
        return [row]

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        scores = category_counts(texts) @ self.weights + NAME_WEIGHT * name_counts(texts, self.label_set)
        if self.task == Task.SINGLE:
            raw = scores + SMOOTHING * self.prior
            return raw / raw.sum(axis=1, keepdims=True)
        # per label: the prior with no evidence, tending to 1 as matching words accumulate
        return (scores + SMOOTHING * self.prior) / (scores + SMOOTHING)

    def _save(self, path: Path) -> dict:
        try:
            from importlib.metadata import version

            nrclex_version = version("NRCLex")
        except Exception:  # noqa: BLE001 - informative only
            nrclex_version = None
        doc = {"lexicon": "NRC Emotion Lexicon (NRCLex)", "nrclex_version": nrclex_version,
               "mapping": self.mapping, "prior": self.prior.tolist(), "categories": list(CATEGORIES)}
        (path / MAPPING_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return {}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> LexiconClassifier:
        label_set, model_config, training_config = cls.configs_from_meta(meta)
        doc = json.loads((path / MAPPING_FILE).read_text(encoding="utf-8"))
        clf = cls(label_set, model_config, training_config, mapping=doc["mapping"])
        clf.prior = np.asarray(doc["prior"], dtype=float)
        return clf
