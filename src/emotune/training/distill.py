"""Knowledge distillation: out-of-fold teacher probabilities, and a student trained on them.

1. **Teacher file** (:func:`build_teacher_file`, ``emotune distill teacher``): each teacher recipe
   (a config, a preset or a finished run; an ensemble run stands for its members) is
   cross-validated on the **train split only** (:func:`emotune.training.cv.cross_validate` with the
   held-out fold as each fold's test split and no dev set, folds grouped by
   ``data.split.group_by``), so every train row is predicted by teachers that never saw it and
   nothing is chosen on the rows a fold predicts. The teachers' probabilities are averaged per row
   and written as JSONL: a header line (labels, provenance: teachers with their seeds, folds,
   data) then one line per train row, keyed by the hash of its normalised text. Dev and test rows
   are not in it and fit no teacher.
2. **Student** (``training.distill: {teacher: FILE, alpha: 0.5, temperature: 2.0}``):
   :func:`attach_teacher` gives every train row its teacher probabilities (a row without one is a
   :class:`ConfigError` that counts them; a dev/test text in the file is refused: it was built on
   another split), and the one training loop adds the teacher's term to the loss
   (:func:`emotune.models.hf.loss.distillation_loss`). Encoder and causal-LM backends. The file's
   format, reading and attaching live in :mod:`emotune.training.teacher` (the trainer reads them
   without importing the cross-validation this module builds on).

``emotune distill teacher RUN --in-sample`` is the cheap variant: finished runs predict the train
rows they were trained on (no cross-validation, one pass over train; :func:`build_in_sample_teacher_file`).
Those probabilities are more confident than out-of-fold ones - the classic transfer set of Hinton et
al. and DistilBERT - and suit a student that learns to imitate its teacher (a shallower copy for
serving, ``isear-minilm-l4``) rather than to beat it.

The benchmark builds the teacher file as a step of a suite (``minilm-distilled``: the best dev
ensemble's members, after the ensemble is chosen); by hand::

    emotune distill teacher bench_out/isear/runs/isear-ensemble --folds 5 --out teachers/isear.jsonl
    emotune train isear-minilm --set training.distill.teacher=teachers/isear.jsonl --set name=isear-minilm-distilled
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from emotune import runs as rd
from emotune.config import DataConfig, RunConfig
from emotune.data.dataset import PreparedData
from emotune.data.labels import Task
from emotune.errors import ConfigError
from emotune.training.teacher import (TeacherFile, attach_teacher, read_teacher_file, row_key,  # noqa: F401
                                      write_teacher_file)


# -- the teachers --------------------------------------------------------------------------------
def teacher_configs(sources: Sequence[str | Path | RunConfig]) -> list[RunConfig]:
    """Recipes from configs, preset names or run directories; an ensemble run gives its members'."""
    out: list[RunConfig] = []
    for src in sources:
        if isinstance(src, RunConfig):
            out.append(src)
            continue
        path = Path(src)
        if path.is_dir():
            if not rd.is_run_dir(path):
                raise ConfigError(f"Teacher {path} is a folder but not an emotune run directory (no config.yaml)")
            cfg = rd.load_config(path)
            if cfg.model.backend == "ensemble":
                if not cfg.model.members:
                    raise ConfigError(f"Teacher {path} is an ensemble without members")
                out += teacher_configs(cfg.model.members)
            else:
                out.append(cfg)
        else:
            out.append(RunConfig.load(path))
    if not out:
        raise ConfigError("No teacher given", hint="Name one or more configs, presets or run directories.")
    return out


def teacher_fit_seconds(configs) -> float | None:
    """Fitting seconds of the folds behind the teacher file the distilled ``configs`` learn from, built as the
    benchmark builds it (each teacher cross-validated in ``work/teacher{i}-{name}`` beside the file)."""
    path = next((Path(c.training.distill.teacher) for c in configs if c.training.distill and c.training.distill.teacher),
                None)
    if path is None or not path.is_file():
        return None
    teachers = read_teacher_file(path).provenance.get("teachers", [])
    return round(sum(rd.fit_seconds_under(path.parent / "work" / f"teacher{i}-{t['name']}")
                     for i, t in enumerate(teachers)), 1) or None


def _plain_teacher(cfg: RunConfig, data_config: DataConfig, name: str) -> RunConfig:
    """The recipe as a teacher: the student's data, no distillation of its own."""
    training = cfg.training.model_copy(update={"distill": None}, deep=True)
    return cfg.model_copy(update={"name": name, "data": data_config.model_copy(deep=True), "training": training,
                                  "description": f"teacher {name} (out-of-fold)"}, deep=True)


def build_teacher_file(teachers: Sequence[str | Path | RunConfig], out: str | Path, *, folds: int = 5,
                       data_config: DataConfig | None = None, work_dir: str | Path | None = None,
                       overwrite: bool = False, progress: bool = True, jobs: int = 1,
                       say=None) -> TeacherFile:
    """Out-of-fold probabilities of ``teachers`` on every train row of ``data_config`` (default: the
    first teacher's data), averaged over the teachers, written to ``out`` (JSONL).

    Each teacher is cross-validated into ``work_dir/teacher{i}-{name}`` (default: next to ``out``),
    resumable like any cross-validation; dev and test are set aside unused. The folds of every teacher are
    independent trainings: ``jobs`` > 1 trains that many at once (pinned one-thread processes), the
    longest first.
    """
    from emotune.data.pipeline import prepare_data
    from emotune.training.cv import plan_folds, summarise_folds, train_folds

    configs = teacher_configs(teachers)
    data_config = data_config or configs[0].data
    out = Path(out)
    work = Path(work_dir) if work_dir is not None else out.with_name(out.stem + ".teachers")
    data = prepare_data(data_config)
    if data.task == Task.REGRESSION:
        raise ConfigError("Distillation needs a classification dataset (soft labels per class)",
                          hint=f"{data_config.dataset} is a regression task.")
    train_only = PreparedData(data.train, data.dev.subset(range(0)), data.test.subset(range(0)), data.notes)
    labels = list(data.label_set.names)
    keys = [row_key(t) for t in data.train.texts]
    sums = np.zeros((len(keys), len(labels)), dtype=np.float64)
    index = {k: i for i, k in enumerate(keys)}
    seen = np.zeros(len(keys), dtype=int)
    described = []
    plans, pending = [], []
    for i, cfg in enumerate(configs):
        name = f"teacher{i}-{cfg.name}"
        teacher = _plain_teacher(cfg, data_config, name)
        base, per_fold, todo, fold_data, n_merged = plan_folds(teacher, folds, work / name, overwrite=overwrite,
                                                               data=train_only, held_out_as="test")
        plans.append((name, teacher, base, per_fold, fold_data, n_merged))
        pending += todo
    # every teacher's folds in one pool: with 2 cores, MPNet's five folds need not wait for MiniLM's
    train_folds(pending, jobs=jobs, overwrite=overwrite, progress=progress, say=say)
    for cfg, (name, teacher, base, per_fold, fold_data, n_merged) in zip(configs, plans):
        summary = summarise_folds(teacher, base, per_fold, fold_data, n_merged, held_out_as="test")
        covered = np.zeros(len(keys), dtype=bool)
        for fold in summary.per_fold:
            preds = rd.load_predictions(summary.run_dir / fold["run_dir"], "test")
            probs = _as_probabilities(np.asarray(preds.scores, dtype=np.float64), data.task)
            for text, p in zip(preds.texts or [], probs):
                j = index.get(row_key(text))
                if j is not None and not covered[j]:
                    sums[j] += p
                    covered[j] = True
        seen += covered
        described.append({"name": cfg.name, "backend": cfg.model.backend, "model": cfg.model.name,
                          "seed": cfg.training.seed, "epochs": cfg.training.epochs, "work_dir": str(work / name),
                          "fold_scores": {summary.primary_metric: [f["metrics"].get(summary.primary_metric)
                                                                   for f in summary.per_fold]}})
    n_teachers = len(configs)
    complete = seen == n_teachers  # rows the fold splitter dropped (conflicting duplicates) are left out
    provenance = {
        "teachers": described, "folds": folds, "fold_seed": data_config.split.seed,
        "group_by": data_config.split.group_by, "dataset": data_config.dataset,
        "data": data_config.model_dump(mode="json"), "train_rows": len(keys), "rows": int(complete.sum()),
        "combine": "mean of the teachers' probabilities",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": f"out-of-fold: each train row is predicted by teachers trained on the other {folds - 1} folds of "
                "train, without a dev set; dev and test rows are not in this file and fitted no teacher",
    }
    rows = [(data.train.texts[j], sums[j] / n_teachers) for j in np.flatnonzero(complete)]
    return write_teacher_file(out, labels, data.task, rows, provenance, label_set=data.label_set.name)


def build_in_sample_teacher_file(runs: Sequence[str | Path], out: str | Path) -> TeacherFile:
    """The finished ``runs``' own probabilities on the train rows they were trained on, averaged.

    Every run must have been trained on the same data (config ``data`` section); the student uses it
    too. No teacher is trained: one prediction pass over train per run."""
    from emotune.data.pipeline import prepare_data

    paths = [Path(r) for r in runs]
    if not paths:
        raise ConfigError("No teacher given", hint="Name one or more finished run directories.")
    for path in paths:
        if not rd.is_run_dir(path) or not rd.is_finished(path):
            raise ConfigError(f"--in-sample teacher {path} is not a finished run directory (no metrics.json)",
                              hint="Train it first, or drop --in-sample to cross-validate a recipe.")
    data_config = rd.load_config(paths[0]).data
    for path in paths[1:]:
        if rd.load_config(path).data != data_config:
            raise ConfigError(f"--in-sample teachers {paths[0]} and {path} were trained on different data "
                              "(their config.yaml data sections differ)", hint="Give runs of the same data.")
    data = prepare_data(data_config)
    if data.task == Task.REGRESSION:
        raise ConfigError("Distillation needs a classification dataset (soft labels per class)",
                          hint=f"{data_config.dataset} is a regression task.")
    texts = list(data.train.texts)
    sums = np.zeros((len(texts), len(data.label_set.names)), dtype=np.float64)
    described = []
    for path in paths:
        run = rd.Run.open(path)
        if list(run.label_set.names) != list(data.label_set.names):
            raise ConfigError(f"--in-sample teacher {path} predicts {list(run.label_set.names)}, the data has "
                              f"{list(data.label_set.names)}")
        sums += _as_probabilities(np.asarray(run.load().predict_proba(texts), dtype=np.float64), data.task)
        cfg = rd.load_config(path)
        described.append({"name": cfg.name, "run": str(path), "backend": cfg.model.backend, "model": cfg.model.name,
                          "seed": cfg.training.seed, "epochs": cfg.training.epochs})
    provenance = {
        "teachers": described, "folds": 0, "in_sample": True, "dataset": data_config.dataset,
        "data": data_config.model_dump(mode="json"), "train_rows": len(texts), "rows": len(texts),
        "combine": "mean of the teachers' probabilities",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "note": "in-sample: each train row is predicted by teachers that were trained on it (more confident than "
                "out-of-fold probabilities); dev and test rows are not in this file",
    }
    rows = list(zip(texts, sums / len(paths)))
    return write_teacher_file(out, list(data.label_set.names), data.task, rows, provenance,
                              label_set=data.label_set.name)


def _as_probabilities(scores: np.ndarray, task: Task) -> np.ndarray:
    """Scores as probabilities: single-label rows renormalised (a lexicon's counts, a vote), multi clipped."""
    scores = np.clip(np.nan_to_num(scores, nan=0.0), 0.0, None)
    if task == Task.SINGLE:
        total = scores.sum(axis=1, keepdims=True)
        k = scores.shape[1]
        return np.where(total > 0, scores / np.where(total > 0, total, 1.0), 1.0 / k)
    return np.clip(scores, 0.0, 1.0)
