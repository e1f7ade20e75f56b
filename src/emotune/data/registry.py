"""Dataset name -> loader: the built-in corpora (``emotune data list``), datasets registered at run
time (:func:`register_dataset`) and user files (CSV/TSV/JSONL/Parquet, see :mod:`emotune.data.files`).

Built-in loaders are import strings resolved on first use, so that listing the datasets imports
no corpus module. A new corpus is one module in :mod:`emotune.data.corpora` and one entry here.

Every loader returns the canonical :class:`EmotionDataset`: ``text`` (cleaned) and ``text_original``,
``labels`` (tuple of names) or ``targets`` (tuple of floats), ``split`` (``train`` / ``dev`` / ``test``
for an official split, ``""`` otherwise), ``dialogue_id`` / ``turn`` / ``speaker`` for conversations,
``is_placeholder`` and dataset-specific metadata columns.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import Task
from emotune.errors import DataError, did_you_mean
from emotune.paths import data_dir

__all__ = ["DatasetSpec", "REGISTRY", "register_dataset", "unregister_dataset", "load_dataset", "list_datasets",
           "dataset_names", "get_spec", "get_spec_or_none", "looks_like_path", "lazy"]


def lazy(target: str) -> Callable[..., EmotionDataset]:
    """A loader given as ``"module:function"``, imported on its first call."""
    module_name, func_name = target.split(":")

    def load(*args, **kwargs) -> EmotionDataset:
        return getattr(importlib.import_module(module_name), func_name)(*args, **kwargs)

    load.__qualname__ = load.__name__ = func_name
    return load


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    folder: str
    task: Task
    n_labels: int
    rows: str  # as in SOURCE.md (train / dev / test)
    licence: str
    description: str
    loader: Callable[..., EmotionDataset] = field(repr=False, compare=False)  # loader(data_root, **options)
    options: dict = field(default_factory=dict, compare=False)  # option -> allowed values / help
    aliases: tuple[str, ...] = ()


_C = "emotune.data.corpora."
_NRC = "research use, do not redistribute (NRC)"
_EMO_OPT = {"emotion": "anger | fear | joy | sadness | all (default: all four stacked, `emotion` column)"}

REGISTRY: dict[str, DatasetSpec] = {s.name: s for s in [
    DatasetSpec("isear", "isear", Task.SINGLE, 7, "7,666 (no official split)", "research use only (Geneva CISA)",
                "ISEAR self-reported emotion episodes", lazy(_C + "isear:load_isear")),
    DatasetSpec("goemotions", "goemotions", Task.MULTI, 28, "43,410 / 5,426 / 5,427", "Apache-2.0",
                "Reddit comments, 27 emotions + neutral", lazy(_C + "goemotions:load_goemotions")),
    DatasetSpec("semeval-ec", "semeval2018_task1_en", Task.MULTI, 11, "6,838 / 886 / 3,259", _NRC,
                "SemEval-2018 Task 1 E-c tweets", lazy(_C + "semeval2018:load_semeval_ec"),
                aliases=("semeval", "semeval-e-c")),
    DatasetSpec("semeval-ei-reg", "semeval2018_task1_en", Task.REGRESSION, 1, "7,102 / 1,464 / 4,068 (4 emotions)",
                _NRC, "SemEval-2018 EI-reg emotion intensity", lazy(_C + "semeval2018:load_semeval_ei_reg"), _EMO_OPT),
    DatasetSpec("semeval-ei-oc", "semeval2018_task1_en", Task.SINGLE, 4, "7,102 / 1,464 / 4,068 (4 emotions)",
                _NRC, "SemEval-2018 EI-oc intensity classes 0-3", lazy(_C + "semeval2018:load_semeval_ei_oc"),
                _EMO_OPT),
    DatasetSpec("semeval-v-reg", "semeval2018_task1_en", Task.REGRESSION, 1, "1,181 / 449 / 937", _NRC,
                "SemEval-2018 V-reg valence", lazy(_C + "semeval2018:load_semeval_v_reg")),
    DatasetSpec("semeval-v-oc", "semeval2018_task1_en", Task.SINGLE, 7, "1,181 / 449 / 937", _NRC,
                "SemEval-2018 V-oc valence classes -3..3", lazy(_C + "semeval2018:load_semeval_v_oc")),
    DatasetSpec("dair-emotion", "dair_emotion", Task.SINGLE, 6, "16,000 / 2,000 / 2,000",
                "research/educational use", "dair-ai emotion (CARER) tweets",
                lazy(_C + "dair_emotion:load_dair_emotion"), aliases=("dair", "emotion", "carer")),
    DatasetSpec("meld", "meld", Task.SINGLE, 7, "9,989 / 1,109 / 2,610", "GPL-3.0 (repo); Friends: research use",
                "MELD Friends utterances (dialogues)", lazy(_C + "dialogue:load_meld")),
    DatasetSpec("emorynlp", "emorynlp", Task.SINGLE, 7, "7,551 / 954 / 984", "research use",
                "EmoryNLP Friends utterances (dialogues)", lazy(_C + "dialogue:load_emorynlp")),
    DatasetSpec("dailydialog", "dailydialog", Task.SINGLE, 7, "- / 8,069 / 7,740 utterances", "CC BY-NC-SA 4.0",
                "DailyDialog utterances, dev + test only", lazy(_C + "dialogue:load_dailydialog")),
    DatasetSpec("empathetic-situations", "empathetic_dialogues_situations", Task.SINGLE, 32, "17,802 / 2,761 / 2,541",
                "CC BY-NC 4.0", "EmpatheticDialogues situation -> emotion", lazy(_C + "empathetic:load_empathetic"),
                {"use_aug_text": "true to add HypEmo's machine paraphrases (default false)"},
                aliases=("empathetic", "empathetic-dialogues", "ed")),
    DatasetSpec("wassa2017", "wassa2017_emoint", Task.REGRESSION, 1, "3,613 / 347 / 3,142", "research use (NRC)",
                "WASSA-2017 EmoInt intensity", lazy(_C + "affect:load_wassa2017"), _EMO_OPT,
                aliases=("wassa", "emoint")),
    DatasetSpec("emobank", "emobank", Task.REGRESSION, 3, "8,062 / 999 / 1,000", "CC BY-SA 4.0",
                "EmoBank valence/arousal/dominance", lazy(_C + "affect:load_emobank")),
]}
_ALIASES = {a: s.name for s in REGISTRY.values() for a in s.aliases}
_USER_FILE_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".json", ".ndjson", ".parquet", ".pq")
_CACHE: dict[tuple, EmotionDataset] = {}


def register_dataset(spec: DatasetSpec, *, replace: bool = False) -> DatasetSpec:
    """Make ``spec.name`` (and its aliases) loadable by :func:`load_dataset` and every config."""
    taken = [n for n in (spec.name, *spec.aliases) if n in REGISTRY or n in _ALIASES]
    if taken and not replace:
        raise DataError(f"Dataset name '{taken[0]}' is already registered", hint="Pass replace=True to swap it.")
    _forget(spec.name)
    REGISTRY[spec.name] = spec  # a replaced entry keeps its place in the listing
    _ALIASES.update({a: spec.name for a in spec.aliases})
    return spec


def unregister_dataset(name: str) -> DatasetSpec | None:
    """Remove a registered dataset (and its cached copies); returns its spec, if there was one."""
    _forget(name)
    return REGISTRY.pop(name, None)


def _forget(name: str) -> None:
    for alias in [a for a, n in _ALIASES.items() if n == name]:
        del _ALIASES[alias]
    for key in [k for k in _CACHE if k[0] == name]:
        del _CACHE[key]


def dataset_names() -> list[str]:
    return list(REGISTRY)


def looks_like_path(name: str) -> bool:
    s = str(name)
    return ("/" in s or "\\" in s or s.lower().endswith(_USER_FILE_SUFFIXES) or Path(s).is_file())


def get_spec(name: str) -> DatasetSpec:
    key = str(name).strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        raise DataError(f"Unknown dataset '{name}'",
                        hint=did_you_mean(str(name), list(REGISTRY) + list(_ALIASES)) +
                        " (`emotune data list` shows all; a CSV/TSV/JSONL/Parquet path is also accepted)")
    return REGISTRY[key]


def get_spec_or_none(name: str) -> DatasetSpec | None:
    try:
        return get_spec(name)
    except DataError:
        return None


def list_datasets() -> list[dict]:
    """One row per registered dataset: name, task, labels, rows, licence, folder."""
    return [{"name": s.name, "task": s.task.value, "labels": s.n_labels, "rows": s.rows, "licence": s.licence,
             "folder": s.folder, "description": s.description, "options": dict(s.options)}
            for s in REGISTRY.values()]


def _copy(ds: EmotionDataset) -> EmotionDataset:
    info = json.loads(json.dumps(ds.info, default=str))
    return EmotionDataset(ds.name, ds.frame.copy(), ds.label_set, info)


def load_dataset(name: str, *, data_root: str | Path | None = None, cache: bool = True,
                 text_col: str | None = None, label_col: str | None = None, label_cols: list[str] | None = None,
                 target_cols: list[str] | None = None, split_col: str | None = None, **options) -> EmotionDataset:
    """Load a registered dataset by name, or a user file by path, into the canonical form.

    ``options`` are loader options (``emotion`` for the SemEval EI / WASSA data, ``use_aug_text`` for
    EmpatheticDialogues; for user files ``labels``, ``sep``, ``sheet`` ... see :func:`load_file`).
    """
    if looks_like_path(name) and get_spec_or_none(name) is None:
        from emotune.data.files import load_file

        return load_file(name, text_col=text_col, label_col=label_col, label_cols=label_cols,
                         target_cols=target_cols, split_col=split_col, **options)
    spec = get_spec(name)
    allowed = set(spec.options)
    unknown = [k for k, v in options.items() if k not in allowed and v is not None]
    if unknown:
        raise DataError(f"Dataset '{spec.name}' has no option {unknown[0]!r}",
                        hint=("Its options: " + ", ".join(f"{k} ({v})" for k, v in spec.options.items()))
                        if spec.options else "It takes no options.")
    for col_opt, val in (("text_col", text_col), ("label_col", label_col), ("label_cols", label_cols),
                         ("target_cols", target_cols), ("split_col", split_col)):
        if val:
            raise DataError(f"'{col_opt}' applies to user files only; '{spec.name}' is a built-in dataset")
    root = Path(data_root) if data_root is not None else None
    key = (spec.name, str(root or data_dir(must_exist=False)),
           tuple(sorted((k, str(v)) for k, v in options.items())))
    if cache and key in _CACHE:
        return _copy(_CACHE[key])
    ds = spec.loader(root, **{k: v for k, v in options.items() if v is not None})
    ds.info.setdefault("licence", spec.licence)
    ds.info.setdefault("folder", spec.folder)
    if cache:
        _CACHE[key] = ds
        return _copy(ds)
    return ds
