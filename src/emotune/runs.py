"""The run directory: the unit of exchange between training, evaluation and serving.

Layout written by :func:`emotune.training.trainer.train` (in this order; ``metrics.json`` last,
so its presence marks a finished run)::

    runs/isear-tfidf/
      config.yaml            the full RunConfig (every default spelled out)
      labels.json            the LabelSet
      data.json              split sizes, data-preparation notes, sha256 of each split's texts
      checkpoints/           the backend's resumable state (deleted by nobody; may be empty); each
                             checkpoint-N/emotune_clock.json holds the fitting seconds when it was saved
      history.jsonl          one JSON row per epoch (appended on resume)
      predictions/dev.npz    arrays only: scores (n, n_labels), y_true
      predictions/test.npz
      predictions/dev_texts.json, test_texts.json
      model/                 save_pretrained output (emotune_model.json + weights)
      README.md              model card
      metrics.json           {"task", "primary_metric", "dev": {...}, "test": {...},
                              "per_class": {"dev": report, "test": report}, "thresholds", ...}
      onnx/                  `emotune export RUN --onnx` (model.onnx, model.int8.onnx, tokenizer)
      openvino/              `emotune export RUN --openvino` (model.xml/.bin, model.int8.xml/.bin, tokenizer)

:class:`Run` is the one reader of this layout (evaluation, reports, predict, annotate, serve and
export all go through it); the trainer is the only writer, with :func:`write_json` (atomic).
A bare model directory (``emotune_model.json`` + weights, as ``save_pretrained`` writes it) opens
as a run too, with only its model.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from emotune import atomic
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.base import MODEL_META, EmotionClassifier, load_classifier
from emotune.models.inputs import InputSpec

CONFIG_FILE = "config.yaml"
LABELS_FILE = "labels.json"
DATA_FILE = "data.json"
HISTORY_FILE = "history.jsonl"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
MODEL_DIR = "model"
CHECKPOINT_DIR = "checkpoints"
PREDICTIONS_DIR = "predictions"
ONNX_DIR = "onnx"
OPENVINO_DIR = "openvino"
#: inference runtimes of exported encoder runs (``Run.load(runtime=...)``); None: the backend's own
RUNTIMES = ("onnx", "openvino")


@dataclass
class Predictions:
    """Scores a run's model gave one split, with the gold labels in model-ready form."""

    split: str
    scores: np.ndarray  # (n, n_labels)
    y_true: np.ndarray  # class ids (single), indicator matrix (multi), values (regression)
    texts: list[str] | None = None
    thresholds: np.ndarray | None = None


def write_json(path: str | Path, obj, indent: int | None = 2) -> None:
    """Write JSON atomically (a temporary file, then a rename): readers never see half a file."""
    atomic.write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


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


def fit_seconds_under(folder: str | Path) -> float:
    """Fitting seconds of every finished run inside ``folder`` (cross-validation or teacher folds), summed."""
    return sum(load_metrics(p.parent).get("fit_seconds") or 0.0 for p in Path(folder).rglob(METRICS_FILE)
               if is_finished(p.parent))


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


class Run:
    """One run directory, read lazily; what evaluation, reports, predict, annotate, serve and export see.

    ``Run.open("runs/isear-tfidf").load()`` is the run's classifier; ``.metrics``, ``.predictions("test")``,
    ``.splits()`` ... the rest of what the trainer wrote.
    """

    def __init__(self, path: str | Path, model_dir: Path | None = None):
        self.path = Path(path)  # the run directory (a bare model directory: itself)
        self._model_dir = model_dir
        self._preds: dict[str, Predictions] = {}

    @classmethod
    def open(cls, path: str | Path, *, finished: bool = False) -> Run:
        """A run directory (or its ``model/``, or a bare model directory); ``finished``: one with metrics.json."""
        path = Path(path)
        if not path.exists():
            raise ModelError(f"Run directory not found: {path}")
        if finished:
            if not is_run_dir(path):
                raise ModelError(f"{path} is not a run directory (no {CONFIG_FILE})",
                                 hint="Pass the folder `emotune train` wrote, e.g. runs/isear-tfidf.")
            if not is_finished(path):
                raise ModelError(f"The run in {path} is unfinished (no {METRICS_FILE})",
                                 hint="Resume it with `emotune train CONFIG` (same config).")
            return cls(path)
        if (path / MODEL_META).is_file():
            return cls(path.parent if path.name == MODEL_DIR else path, path)
        if not is_run_dir(path) and not (path / MODEL_DIR / MODEL_META).is_file():
            raise ModelError(f"No trained model in {path}: expected {path / MODEL_DIR / MODEL_META}",
                             hint="Train one with `emotune train CONFIG`, or the run was interrupted before it "
                                  "saved its best model.")
        return cls(path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_finished(self) -> bool:
        return is_finished(self.path)

    # -- the files the trainer wrote --------------------------------------------------------------
    @cached_property
    def config(self):
        return load_config(self.path)

    @cached_property
    def label_set(self) -> LabelSet:
        if (self.path / LABELS_FILE).is_file():
            return load_labels(self.path)
        return LabelSet.from_dict(self.meta["label_set"])  # a bare model directory

    @cached_property
    def metrics(self) -> dict:
        return load_metrics(self.path)

    @cached_property
    def data_info(self) -> dict:
        return load_data_info(self.path)

    @property
    def history(self) -> list[dict]:
        return load_history(self.path)

    def has_split(self, split: str) -> bool:
        return (self.path / PREDICTIONS_DIR / f"{split}.npz").is_file()

    def predictions(self, split: str = "test") -> Predictions:
        """Stored scores of a split, as arrays of the task's shape, with the run's thresholds (multi-label)."""
        if split not in self._preds:
            preds = load_predictions(self.path, split)
            y = np.asarray(preds.y_true)
            if self.task == Task.SINGLE:
                y = y.astype(int)
            elif self.task == Task.MULTI:
                y = y.astype(int).reshape(len(y), -1)
            preds.y_true = y
            preds.scores = np.asarray(preds.scores, dtype=float).reshape(len(y), -1)
            if preds.thresholds is None:
                preds.thresholds = self.thresholds
            self._preds[split] = preds
        return self._preds[split]

    def splits(self, *, verify: bool = True):
        """The run's train/dev/test re-created from its config (see :func:`load_splits`)."""
        return load_splits(self.path, verify=verify)

    # -- the model ----------------------------------------------------------------------------------
    @property
    def has_model(self) -> bool:
        return ((self._model_dir or self.path / MODEL_DIR) / MODEL_META).is_file()

    @property
    def model_dir(self) -> Path:
        model_dir = self._model_dir or self.path / MODEL_DIR
        if not (model_dir / MODEL_META).is_file():
            raise ModelError(f"No trained model in {self.path}: expected {model_dir / MODEL_META}",
                             hint="Train one with `emotune train CONFIG`, or the run was interrupted before it "
                                  "saved its best model.")
        return model_dir

    @cached_property
    def meta(self) -> dict:
        """The parsed ``emotune_model.json``, checked (label set, known backend) without loading weights."""
        from emotune.models.registry import BACKENDS

        meta_path = self.model_dir / MODEL_META
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            LabelSet.from_dict(meta["label_set"])
            backend = meta["backend"]
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"Corrupt model metadata {meta_path}: {exc!s}",
                             hint="Retrain the run or restore the file from a backup.") from None
        if backend not in BACKENDS:
            raise ModelError(f"{meta_path}: unknown backend '{backend}'", hint="Valid backends: " + ", ".join(BACKENDS))
        self._check_labels_file(meta, meta_path)
        return meta

    def _check_labels_file(self, meta: dict, meta_path: Path) -> None:
        """The run's labels.json names the labels of the model's head, in its order: a hand-edited one
        would silently put other names on the model's scores."""
        labels_path = self.path / LABELS_FILE
        if not labels_path.is_file():
            return
        run_labels, model_labels = LabelSet.load(labels_path), LabelSet.from_dict(meta["label_set"])
        if (run_labels.names, run_labels.task) != (model_labels.names, model_labels.task):
            raise ModelError(
                f"{labels_path} does not match the model in {meta_path.parent}: labels.json has "
                f"{list(run_labels.names)} ({run_labels.task.value}), the model was trained with "
                f"{list(model_labels.names)} ({model_labels.task.value})",
                hint="labels.json was edited by hand? Restore it from the 'label_set' of "
                     f"{meta_path} or train the run again.")

    @cached_property
    def input_spec(self) -> InputSpec:
        """What a raw text needs before the model sees it; derived from config.yaml for earlier releases' runs."""
        if self.meta.get("input") is not None:
            return InputSpec.model_validate(self.meta["input"])
        if not is_run_dir(self.path):  # a bare model directory of an earlier release: plain texts
            return InputSpec()
        data = self.config.data
        reads_prefix = False
        if data.text_prefix_col:
            from emotune.models.registry import backend_class

            reads_prefix = backend_class(self.meta["backend"]).reads_text_prefix
        values = self._prefix_values() if data.text_prefix_col and not reads_prefix else None
        return InputSpec.from_data_config(data, values, reads_text_prefix=reads_prefix)

    def _prefix_values(self) -> list[str]:
        """data.json's record of the prefix values, or (older runs) the prefixes of the stored test texts."""
        values = [str(v) for v in (self.data_info.get("text_prefix") or {}).get("values") or []]
        texts_path = self.path / PREDICTIONS_DIR / "test_texts.json"
        if not values and texts_path.is_file():
            pattern = re.compile(r"^([^:\n]{1,40}): ")
            texts = json.loads(texts_path.read_text(encoding="utf-8"))
            values = sorted({m.group(1) for t in texts if isinstance(t, str) and (m := pattern.match(t))})
        if not values:
            raise ModelError(f"{self.path}: trained with data.text_prefix_col={self.config.data.text_prefix_col}, "
                             "but its prefix values are unknown",
                             hint="Retrain the run (data.json then records them) or annotate with RUN#VALUE.")
        return values

    @property
    def onnx_dir(self) -> Path:
        return self.path / ONNX_DIR

    @property
    def openvino_dir(self) -> Path:
        return self.path / OPENVINO_DIR

    def onnx_file(self, int8: bool = False) -> Path:
        """The exported graph, or a :class:`ModelError` that says how to create it."""
        return self.export_file("onnx", int8)

    def export_file(self, runtime: str, int8: bool = False) -> Path:
        """The exported model ``runtime`` reads (ONNX graph, OpenVINO xml), or a :class:`ModelError`
        that says how to create it."""
        if runtime == "onnx":
            from emotune.models.onnx import FP32_FILE, INT8_FILE

            folder = self.onnx_dir
        elif runtime == "openvino":
            from emotune.models.openvino import FP32_FILE, INT8_FILE

            folder = self.openvino_dir
        else:
            raise ModelError(f"Unknown runtime '{runtime}'", hint=f"Choose one of: {', '.join(RUNTIMES)}.")
        path = folder / (INT8_FILE if int8 else FP32_FILE)
        if not path.is_file():
            backend, shown = self.meta["backend"], {"onnx": "ONNX", "openvino": "OpenVINO"}[runtime]
            if backend != "encoder":
                raise ModelError(f"{self.path} is a '{backend}' run; {shown} serving is available for encoder runs only")
            flag = " --int8" if int8 else ""
            raise ModelError(f"No {shown} export in {path.parent}{' (int8)' if int8 else ''}",
                             hint=f"Create it with `emotune export {self.path} --{runtime}{flag}`.")
        return path

    def verify(self, onnx: bool = False, int8: bool = False, *, runtime: str | None = None) -> None:
        """Cheap checks of the files :meth:`load` would read (headers and sizes, no weights loaded):
        a :class:`ModelError` naming a truncated or pickled file."""
        from emotune.models.weights import refuse_pickles, verify_model_dir, verify_onnx, verify_openvino

        runtime = runtime or ("onnx" if onnx else None)
        if runtime is not None:
            path = self.export_file(runtime, int8)
            refuse_pickles(path.parent)
            (verify_onnx if runtime == "onnx" else verify_openvino)(path)
        else:
            verify_model_dir(self.model_dir)

    def load(self, onnx: bool = False, int8: bool = False, *, runtime: str | None = None,
             threads: int | None = None, **kwargs) -> EmotionClassifier:
        """The run's classifier: the backend's own, or its export in ``runtime`` ("onnx": onnxruntime,
        "openvino": OpenVINO; ``onnx=True`` is ``runtime="onnx"``), ``int8`` for the quantised one.

        Its ``predict_proba`` takes inputs prepared like the training data; ``.view()`` answers raw
        texts (see :mod:`emotune.models.inputs`). ``threads``: the runtime's threads; ``kwargs`` go to
        the backend's loader (an instruct run's ``task``/``emotion``).
        """
        spec = self.input_spec  # also checks the metadata before anything heavy is imported
        runtime = runtime or ("onnx" if onnx else None)
        if runtime is not None:
            path = self.export_file(runtime, int8)
            self.verify(int8=int8, runtime=runtime)
            if runtime == "onnx":
                from emotune.models.onnx import OnnxClassifier as cls
            else:
                from emotune.models.openvino import OpenVinoClassifier as cls
            clf = cls.from_files(path, path.parent, self.meta, threads=threads)
        else:
            clf = load_classifier(self.model_dir, **kwargs)
        clf.input_spec = spec
        return clf

    # -- what reports and benchmark tables read ---------------------------------------------------
    @property
    def task(self) -> Task:
        return self.label_set.task

    @property
    def backend(self) -> str:
        return self.config.model.backend

    @property
    def seed(self) -> int:
        return self.config.training.seed

    @cached_property
    def thresholds(self) -> np.ndarray | None:
        """Multi-label decision thresholds (tuned on dev), from metrics.json or the saved model."""
        if self.task != Task.MULTI:
            return None
        thr = self.metrics.get("thresholds")
        if thr is None and self.has_model:
            thr = self.meta.get("thresholds")
        return None if thr is None else np.asarray(thr, dtype=float)

    def _number(self, *keys: str) -> float | None:
        """The first of ``keys`` found at the top of metrics.json or under its ``timing``/``info``."""
        for where in (self.metrics, self.metrics.get("timing") or {}, self.metrics.get("info") or {}):
            for k in keys:
                v = where.get(k)
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    return float(v)
        return None

    @property
    def train_seconds(self) -> float | None:
        return self._number("fit_seconds", "train_seconds", "train_time_s")

    @property
    def throughput(self) -> float | None:
        """Prediction speed in texts per second, when the run (or a benchmark) measured it."""
        direct = self._number("predict_texts_per_s", "texts_per_s")
        if direct is not None:
            return direct
        secs = self._number("predict_seconds", "test_predict_seconds")
        n = (self.metrics.get("sizes") or {}).get("test")
        return n / secs if secs and n else None

    def rows(self, split: str) -> int | None:
        """Rows the run used for a split: data.json's counts, else the stored predictions."""
        sizes = self.data_info.get("sizes") or self.data_info.get("rows") or {}
        if isinstance(sizes, dict) and isinstance(sizes.get(split), int):
            return sizes[split]
        if split != "train" and self.has_split(split):
            return len(self.predictions(split).y_true)
        return None


def load_run(path: str | Path, **kwargs) -> EmotionClassifier:
    """The classifier of a run directory (or a bare model directory): ``Run.open(path).load()``."""
    return Run.open(path).load(**kwargs)
