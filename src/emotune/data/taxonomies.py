"""Label sets (taxonomies) and the mappings between them.

Taxonomies: ``isear-7``, ``ekman-6``, ``ekman-7`` (+ neutral), ``plutchik-8``, ``goemotions-28``,
``semeval-ec-11``, ``shared-10`` (joy, anger, sadness, fear, surprise, disgust, love, gratitude, neutral,
pride), ``sentiment-4`` and the label sets of the built-in datasets.

:func:`map_dataset` maps a dataset onto another taxonomy (``data.label_map``): a mapping is chosen by
the dataset's label set and the target name (``ekman``, ``shared10``, ``isear``, ``plutchik``,
``sentiment``); where no curated mapping exists, labels map onto the target label of the same
common name (:data:`SYNONYMS`: ``happiness`` -> ``joy``). This is how intermediate (transfer) data
gets the target's labels: ``data.dataset: dair-emotion, data.label_map: isear`` is CARER relabelled
to the four ISEAR emotions it shares. Source labels without a counterpart map to nothing; rows whose labels all map to
nothing are dropped and counted. A single-label source stays single-label unless a label maps to
several targets (e.g. Plutchik dyads), then the result is multi-label.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, did_you_mean

GOEMOTIONS_28 = ("admiration", "amusement", "anger", "annoyance", "approval", "caring", "confusion", "curiosity",
                 "desire", "disappointment", "disapproval", "disgust", "embarrassment", "excitement", "fear",
                 "gratitude", "grief", "joy", "love", "nervousness", "optimism", "pride", "realization", "relief",
                 "remorse", "sadness", "surprise", "neutral")
EMPATHETIC_32 = ("sad", "trusting", "terrified", "caring", "disappointed", "faithful", "joyful", "jealous", "disgusted",
                 "surprised", "ashamed", "afraid", "impressed", "sentimental", "devastated", "excited", "anticipating",
                 "annoyed", "anxious", "furious", "content", "lonely", "angry", "confident", "apprehensive", "guilty",
                 "embarrassed", "grateful", "hopeful", "proud", "prepared", "nostalgic")

TAXONOMIES: dict[str, LabelSet] = {ls.name: ls for ls in [
    LabelSet(("anger", "disgust", "fear", "guilt", "joy", "sadness", "shame"), Task.SINGLE, "isear-7"),
    LabelSet(("anger", "disgust", "fear", "joy", "sadness", "surprise"), Task.SINGLE, "ekman-6"),
    LabelSet(("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral"), Task.SINGLE, "ekman-7"),
    LabelSet(("joy", "trust", "fear", "surprise", "sadness", "disgust", "anger", "anticipation"), Task.MULTI,
             "plutchik-8"),
    LabelSet(("anger", "anticipation", "disgust", "fear", "joy", "negative", "positive", "sadness", "surprise", "trust"),
             Task.MULTI, "nrc-10"),
    LabelSet(GOEMOTIONS_28, Task.MULTI, "goemotions-28"),
    LabelSet(("anger", "anticipation", "disgust", "fear", "joy", "love", "optimism", "pessimism", "sadness", "surprise",
              "trust"), Task.MULTI, "semeval-ec-11"),
    LabelSet(("joy", "anger", "sadness", "fear", "surprise", "disgust", "love", "gratitude", "neutral", "pride"),
             Task.SINGLE, "shared-10"),
    LabelSet(("positive", "negative", "ambiguous", "neutral"), Task.MULTI, "sentiment-4"),
    LabelSet(("sadness", "joy", "love", "anger", "fear", "surprise"), Task.SINGLE, "dair-6"),
    LabelSet(("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise"), Task.SINGLE, "meld-7"),
    LabelSet(("neutral", "joyful", "peaceful", "powerful", "scared", "mad", "sad"), Task.SINGLE, "emorynlp-7"),
    LabelSet(("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise"), Task.SINGLE, "dailydialog-7"),
    LabelSet(EMPATHETIC_32, Task.SINGLE, "empathetic-32"),
]}

# GoEmotions' own ekman_mapping.json / sentiment_dict.json (google-research), used when the data folder lacks them.
GOEMOTIONS_EKMAN = {
    "anger": ["anger", "annoyance", "disapproval"],
    "disgust": ["disgust"],
    "fear": ["fear", "nervousness"],
    "joy": ["joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
            "admiration", "desire", "caring"],
    "sadness": ["sadness", "disappointment", "embarrassment", "grief", "remorse"],
    "surprise": ["surprise", "realization", "confusion", "curiosity"],
}
GOEMOTIONS_SENTIMENT = {
    "positive": ["amusement", "excitement", "joy", "love", "desire", "optimism", "caring", "pride", "admiration",
                 "gratitude", "relief", "approval"],
    "negative": ["fear", "nervousness", "remorse", "embarrassment", "disappointment", "sadness", "grief", "disgust",
                 "anger", "annoyance", "disapproval"],
    "ambiguous": ["realization", "surprise", "curiosity", "confusion"],
}


# Names of one emotion in different datasets (DailyDialog's happiness is ISEAR's joy): what
# cross-dataset evaluation counts as a shared label. Only plain synonyms, no near neighbours.
SYNONYMS = {"happiness": "joy", "happy": "joy", "joyful": "joy", "angry": "anger", "sad": "sadness",
            "afraid": "fear", "scared": "fear", "fearful": "fear", "disgusted": "disgust", "surprised": "surprise"}


def synonym(label: str) -> str:
    """The common name of an emotion label (``happiness`` -> ``joy``); other labels unchanged."""
    return SYNONYMS.get(label.strip().lower(), label)


def _invert(groups: dict[str, list[str]], extra: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for target, sources in groups.items():
        for s in sources:
            out.setdefault(s, []).append(target)
    for s, t in (extra or {}).items():
        out.setdefault(s, []).extend(t)
    return out


def _one(pairs: dict[str, str | None]) -> dict[str, list[str]]:
    return {s: ([t] if t else []) for s, t in pairs.items()}


# (source label set name, target taxonomy name) -> {source label: [target labels]}
MAPPINGS: dict[tuple[str, str], dict[str, list[str]]] = {
    # GoEmotions
    ("goemotions-28", "ekman-7"): _invert(GOEMOTIONS_EKMAN, {"neutral": ["neutral"]}),
    ("goemotions-28", "sentiment-4"): _invert(GOEMOTIONS_SENTIMENT, {"neutral": ["neutral"]}),
    ("goemotions-28", "shared-10"): _invert({
        "joy": ["joy", "amusement", "excitement", "optimism", "relief"],
        "anger": ["anger", "annoyance"],
        "sadness": ["sadness", "grief", "disappointment", "remorse"],
        "fear": ["fear", "nervousness"],
        "surprise": ["surprise"],
        "disgust": ["disgust"],
        "love": ["love", "caring"],
        "gratitude": ["gratitude"],
        "neutral": ["neutral"],
        "pride": ["pride"],
    }),
    ("goemotions-28", "isear-7"): _invert({
        "anger": ["anger", "annoyance"], "disgust": ["disgust"], "fear": ["fear", "nervousness"], "joy": ["joy"],
        "sadness": ["sadness", "grief"], "guilt": ["remorse"], "shame": ["embarrassment"],
    }),
    # EmpatheticDialogues situations (no neutral class in ED)
    ("empathetic-32", "shared-10"): _invert({
        "joy": ["joyful", "excited", "content"],
        "anger": ["angry", "furious", "annoyed"],
        "sadness": ["sad", "devastated", "lonely", "disappointed"],
        "fear": ["afraid", "terrified", "anxious", "apprehensive"],
        "surprise": ["surprised"],
        "disgust": ["disgusted"],
        "love": ["caring"],
        "gratitude": ["grateful"],
        "pride": ["proud"],
    }),
    ("empathetic-32", "ekman-6"): _invert({
        "joy": ["joyful", "excited", "content"], "anger": ["angry", "furious", "annoyed"],
        "sadness": ["sad", "devastated", "lonely", "disappointed"],
        "fear": ["afraid", "terrified", "anxious", "apprehensive"], "surprise": ["surprised"], "disgust": ["disgusted"],
    }),
    ("empathetic-32", "isear-7"): _invert({
        "joy": ["joyful", "excited", "content"], "anger": ["angry", "furious", "annoyed"],
        "sadness": ["sad", "devastated", "lonely", "disappointed"], "fear": ["afraid", "terrified", "anxious"],
        "disgust": ["disgusted"], "guilt": ["guilty"], "shame": ["ashamed", "embarrassed"],
    }),
    # MELD / EmoryNLP / DailyDialog -> Ekman (+neutral)
    ("meld-7", "ekman-7"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")},
    ("meld-7", "shared-10"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")},
    ("emorynlp-7", "ekman-7"): _one({"neutral": "neutral", "joyful": "joy", "scared": "fear", "mad": "anger",
                                     "sad": "sadness", "peaceful": None, "powerful": None}),
    ("emorynlp-7", "shared-10"): _one({"neutral": "neutral", "joyful": "joy", "scared": "fear", "mad": "anger",
                                       "sad": "sadness", "peaceful": None, "powerful": "pride"}),
    ("dailydialog-7", "ekman-7"): _one({"neutral": "neutral", "anger": "anger", "disgust": "disgust", "fear": "fear",
                                        "happiness": "joy", "sadness": "sadness", "surprise": "surprise"}),
    ("dailydialog-7", "shared-10"): _one({"neutral": "neutral", "anger": "anger", "disgust": "disgust", "fear": "fear",
                                          "happiness": "joy", "sadness": "sadness", "surprise": "surprise"}),
    # dair-ai emotion
    ("dair-6", "ekman-6"): _one({"sadness": "sadness", "joy": "joy", "love": None, "anger": "anger", "fear": "fear",
                                 "surprise": "surprise"}),
    ("dair-6", "shared-10"): {x: [x] for x in ("sadness", "joy", "love", "anger", "fear", "surprise")},
    ("dair-6", "isear-7"): _one({"sadness": "sadness", "joy": "joy", "anger": "anger", "fear": "fear"}),
    # ISEAR
    ("isear-7", "ekman-6"): _one({"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "joy",
                                  "sadness": "sadness", "guilt": None, "shame": None}),
    ("isear-7", "shared-10"): _one({"anger": "anger", "disgust": "disgust", "fear": "fear", "joy": "joy",
                                    "sadness": "sadness", "guilt": None, "shame": None}),
    # SemEval E-c (Plutchik 8 + love/optimism/pessimism) -> Plutchik (dyads) / ISEAR / Ekman
    ("semeval-ec-11", "plutchik-8"): {
        **{x: [x] for x in ("anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust")},
        "love": ["joy", "trust"], "optimism": ["anticipation", "joy"], "pessimism": ["sadness", "anticipation"]},
    ("semeval-ec-11", "isear-7"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "sadness")},
    ("semeval-ec-11", "ekman-6"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "sadness", "surprise")},
    ("semeval-ec-11", "shared-10"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "sadness", "surprise", "love")},
    # Plutchik / NRC lexicon categories -> ISEAR (the five shared basic emotions)
    ("plutchik-8", "isear-7"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "sadness")},
    ("nrc-10", "isear-7"): {x: [x] for x in ("anger", "disgust", "fear", "joy", "sadness")},
    ("nrc-10", "plutchik-8"): {x: [x] for x in ("anger", "anticipation", "disgust", "fear", "joy", "sadness",
                                                "surprise", "trust")},
}

_TARGET_ALIASES = {
    "ekman": "ekman-7", "ekman7": "ekman-7", "ekman-7": "ekman-7", "ekman6": "ekman-6", "ekman-6": "ekman-6",
    "shared": "shared-10", "shared10": "shared-10", "shared-10": "shared-10",
    "isear": "isear-7", "isear7": "isear-7", "isear-7": "isear-7",
    "plutchik": "plutchik-8", "plutchik8": "plutchik-8", "plutchik-8": "plutchik-8",
    "sentiment": "sentiment-4", "sentiment-4": "sentiment-4",
}


def get_taxonomy(name: str) -> LabelSet:
    key = _TARGET_ALIASES.get(name.lower(), name.lower())
    if key not in TAXONOMIES:
        raise DataError(f"Unknown taxonomy '{name}'", hint=did_you_mean(name, list(TAXONOMIES) + list(_TARGET_ALIASES)))
    return TAXONOMIES[key]


def _load_goemotions_files(mapping_key: tuple[str, str]) -> dict[str, list[str]] | None:
    """The dataset's own ekman_mapping.json / sentiment_dict.json when the data folder has them."""
    fname = {"ekman-7": "ekman_mapping.json", "sentiment-4": "sentiment_dict.json"}.get(mapping_key[1])
    if mapping_key[0] != "goemotions-28" or not fname:
        return None
    try:
        from emotune.paths import data_dir

        path = data_dir() / "goemotions" / fname
        groups = json.loads(path.read_text(encoding="utf-8"))
    except Exception:
        return None
    return _invert(groups, {"neutral": ["neutral"]})


def available_mappings(source: str | None = None) -> list[str]:
    return sorted(f"{s}->{t}" for s, t in MAPPINGS if source is None or s == source)


def resolve_mapping(source: str, mapping_name: str, *, synonyms: bool = False) -> tuple[str, dict[str, list[str]]]:
    """(target taxonomy name, mapping) for a source label set name and a mapping name."""
    name = mapping_name.strip()
    if "->" in name:
        src, _, tgt = name.partition("->")
        if src.strip() != source:
            raise DataError(f"Mapping '{name}' is for label set '{src.strip()}', but the data has '{source}'")
        name = tgt
    raw = name.strip().lower()
    candidates = [_TARGET_ALIASES.get(raw, raw)]
    if raw in ("ekman", "ekman7"):  # "ekman": with neutral when the source has it, else the six basic emotions
        candidates.append("ekman-6")
    key = next(((source, t) for t in candidates if (source, t) in MAPPINGS), (source, candidates[0]))
    target = key[1]
    if key not in MAPPINGS:
        # the name/synonym fallback is for data.label_map (training data); evaluation scores another
        # dataset on the labels the two share instead (emotune.evaluation.evaluate)
        shared = synonym_mapping(source, target) if synonyms else {}
        if shared:
            return target, shared
        have = available_mappings(source)
        raise DataError(f"No label mapping '{mapping_name}' for label set '{source}'"
                        + (" (and no label shared by name or synonym)" if target in TAXONOMIES else ""),
                        hint=("Available: " + ", ".join(have)) if have else
                        f"No mappings exist for '{source}'; choose another dataset or no label_map.")
    return target, _load_goemotions_files(key) or MAPPINGS[key]


def synonym_mapping(source: str, target: str) -> dict[str, list[str]]:
    """Labels of taxonomy ``source`` onto the labels of ``target`` that share their common name
    (:func:`synonym`: DailyDialog's ``happiness`` is ISEAR's ``joy``); the fallback where no curated
    mapping exists. Empty when either is not a known taxonomy or they share no label."""
    if source not in TAXONOMIES or target not in TAXONOMIES:
        return {}
    by_name = {synonym(t): t for t in TAXONOMIES[target].names}
    out = {s: [by_name[synonym(s)]] for s in TAXONOMIES[source].names if synonym(s) in by_name}
    return {s: out.get(s, []) for s in TAXONOMIES[source].names} if out else {}


def map_dataset(ds: EmotionDataset, mapping_name: str, *, synonyms: bool = False) -> EmotionDataset:
    """Map ``ds``'s labels onto another taxonomy; rows left without a label are dropped and counted.
    ``synonyms``: where no curated mapping exists, map labels by common name (:func:`synonym_mapping`)."""
    if ds.task == Task.REGRESSION:
        raise DataError(f"Dataset '{ds.name}' is a regression task: label_map does not apply")
    target_name, mapping = resolve_mapping(ds.label_set.name, mapping_name, synonyms=synonyms)
    target = TAXONOMIES[target_name]
    multi = ds.task == Task.MULTI or any(len(v) > 1 for v in mapping.values())
    new_labels, keep = [], []
    unmapped = Counter()
    for labs in ds.frame["labels"]:
        out: list[str] = []
        for lab in labs:
            mapped = mapping.get(lab, [])
            if not mapped:
                unmapped[lab] += 1
            for m in mapped:
                if m not in out:
                    out.append(m)
        order = {n: i for i, n in enumerate(target.names)}
        out.sort(key=lambda x: order[x])
        new_labels.append(tuple(out))
        # multi-label source rows with no label at all (e.g. SemEval "neutral") stay: they were unlabelled before
        keep.append(bool(out) or (ds.task == Task.MULTI and not labs))
    frame = ds.frame.copy()
    frame["labels_original"] = frame["labels"]
    frame["labels"] = new_labels
    keep_arr = np.asarray(keep, dtype=bool)
    dropped = int((~keep_arr).sum())
    frame = frame[keep_arr]
    label_set = LabelSet(target.names, Task.MULTI if multi else Task.SINGLE, name=target.name,
                         description=dict(target.description))
    info = dict(ds.info)
    note = (f"Labels mapped {ds.label_set.name} -> {target.name}: {dropped} row(s) dropped because none of their "
            f"labels has a counterpart" + (f" (unmapped: {', '.join(f'{k} {v}' for k, v in unmapped.most_common())})"
                                           if unmapped else "") + ".")
    info["label_map"] = {"from": ds.label_set.name, "to": target.name, "rows_dropped": dropped,
                         "unmapped_label_counts": dict(unmapped)}
    info.setdefault("notes", [])
    info["notes"] = list(info["notes"]) + [note]
    return EmotionDataset(ds.name, frame.reset_index(drop=True), label_set, info)


def cap_label(ds: EmotionDataset, label: str, n: int, seed: int = 42) -> EmotionDataset:
    """Keep at most ``n`` rows carrying ``label`` (single-label: that class; multi-label: rows whose only label it is)."""
    if ds.task == Task.REGRESSION:
        raise DataError("cap applies to classification datasets only")
    ds.label_set.index(label, where="data.cap")
    if n < 0:
        raise DataError(f"data.cap for '{label}' must be >= 0 (got {n})")
    if ds.task == Task.SINGLE:
        has = np.asarray([labs[0] == label for labs in ds.frame["labels"]])
    else:
        has = np.asarray([tuple(labs) == (label,) for labs in ds.frame["labels"]])
    idx = np.flatnonzero(has)
    if len(idx) <= n:
        return ds
    rng = np.random.default_rng(seed)
    drop = rng.choice(idx, size=len(idx) - n, replace=False)
    keep = np.ones(len(ds), dtype=bool)
    keep[drop] = False
    out = ds.subset(keep)
    out.info = dict(ds.info)
    out.info.setdefault("caps", {})[label] = {"before": int(len(idx)), "after": int(n)}
    return out


def merge_datasets(datasets: list[EmotionDataset], mapping_name: str = "shared10", name: str | None = None
                   ) -> EmotionDataset:
    """Map each dataset onto one taxonomy and stack them (``source`` column says where a row came from).

    Official splits are kept per source; normalised texts shared across sources are kept once
    (first source wins) so the merged data has no cross-source duplicate.
    """
    if not datasets:
        raise DataError("merge_datasets needs at least one dataset")
    mapped = [d if d.label_set.name == get_taxonomy(mapping_name).name else map_dataset(d, mapping_name)
              for d in datasets]
    target = mapped[0].label_set
    multi = any(d.task == Task.MULTI for d in mapped)
    frames = []
    for d in mapped:
        f = d.frame.copy()
        f["source"] = d.name
        frames.append(f)
    frame = pd.concat(frames, ignore_index=True)
    from emotune.data.splits import text_keys

    keys = text_keys(frame)
    dup = keys.duplicated(keep="first").to_numpy()
    frame = frame[~dup].reset_index(drop=True)
    has_split = pd.Series([isinstance(v, str) and v != "" for v in frame["split"].tolist()])
    if has_split.any() and not has_split.all():
        frame["split"] = ""  # mixed: let make_splits split everything
    label_set = LabelSet(target.names, Task.MULTI if multi else target.task, name=target.name)
    notes = [f"Merged {', '.join(f'{d.name} ({len(d)})' for d in mapped)} on {target.name}; "
             f"{int(dup.sum())} cross-source duplicate text(s) dropped."]
    for d in mapped:
        notes += [n for n in d.info.get("notes", []) if n.startswith("Labels mapped")]
    return EmotionDataset(name or "+".join(d.name for d in datasets), frame, label_set, {"notes": notes})
