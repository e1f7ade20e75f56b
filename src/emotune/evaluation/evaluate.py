"""``emotune evaluate``: score a trained run on a split of its own dataset or of another one.

The run is read through :class:`emotune.runs.Run` (also what the comparison report and the
benchmark tables are built from: stored predictions, no re-inference).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import DataError, ModelError, writing
from emotune.metrics import PRIMARY, compute_metrics, decide, evaluate_scores
from emotune.evaluation.stats import bootstrap_ci
from emotune.runs import Run


# -- evaluate -------------------------------------------------------------------------------------
def _same_dataset(record: Run, dataset: str | None) -> bool:
    if dataset is None:
        return True
    own = record.config.data.dataset
    if dataset == own:
        return True
    try:
        return Path(dataset).resolve() == Path(own).resolve()
    except OSError:
        return False


def _own_split(record: Run, split: str):
    """The split exactly as the run saw it (re-created from its config and checked against data.json)."""
    prepared = record.splits()
    part = getattr(prepared, split, None)
    if part is None:
        raise DataError(f"The run's data has no '{split}' split", hint="Choose one of train, dev, test.")
    return part


@dataclass
class _Target:
    """What a run is scored against: the rows, the label set of the scores, how to map model scores."""

    data: EmotionDataset
    label_set: LabelSet
    score_map: np.ndarray | None = None  # (n_model_labels, n_data_labels) 0/1: data label <- model labels
    notes: list[str] = field(default_factory=list)
    renormalise: bool = False  # scores restricted to some of the model's labels: make each row sum to 1 again
    dropped: int = 0  # gold rows left out (their label is not one the model knows)


def _shared_labels(part: EmotionDataset, ls: LabelSet, dataset: str) -> _Target | None:
    """A single-label run scored on the emotions it shares with single-label gold (synonyms such as
    happiness -> joy): rows whose gold label the model does not know are dropped, predictions are
    restricted to the shared labels. None when the two share no label."""
    from emotune.data.taxonomies import synonym

    data_ls = part.label_set
    if ls.task != Task.SINGLE or data_ls.task != Task.SINGLE:
        return None
    model_of = {synonym(n): n for n in ls.names}
    gold_to_model = {n: model_of[synonym(n)] for n in data_ls.names if synonym(n) in model_of}
    shared = [n for n in ls.names if n in gold_to_model.values()]
    if not shared:
        return None
    gold = [labs[0] for labs in part.frame["labels"]]
    keep = np.asarray([g in gold_to_model for g in gold], dtype=bool)
    if not keep.any():
        raise ModelError(f"None of the {len(part)} rows of '{dataset}' has a label the run knows "
                         f"(shared labels: {', '.join(shared)})", hint="Pick another split or dataset.")
    frame = part.frame[keep].reset_index(drop=True)
    frame["labels"] = [(gold_to_model[labs[0]],) for labs in frame["labels"]]
    target_ls = LabelSet(tuple(shared), Task.SINGLE, f"{ls.name or 'run'}&{data_ls.name or dataset}")
    score_map = np.zeros((len(ls), len(shared)))
    for j, n in enumerate(shared):
        score_map[ls.names.index(n), j] = 1
    dropped = Counter(g for g, k in zip(gold, keep) if not k)
    renamed = [f"{g} -> {m}" for g, m in gold_to_model.items() if g != m]
    notes = [f"Scored on the {len(shared)} labels the run and '{dataset}' share ({', '.join(shared)}"
             + (f"; gold {', '.join(renamed)}" if renamed else "") + ").",
             f"Dropped {int((~keep).sum())} of {len(part)} rows whose gold label the run does not know ("
             + ", ".join(f"{g}: {c}" for g, c in dropped.most_common()) + ").",
             "Predictions restricted to the shared labels (scores renormalised over them)"
             + (f"; the run's {', '.join(n for n in ls.names if n not in shared)} are never predicted."
                if len(shared) < len(ls) else ".")]
    return _Target(EmotionDataset(part.name, frame, target_ls, dict(part.info)), target_ls, score_map, notes,
                   renormalise=True, dropped=int((~keep).sum()))


def _foreign_split(record: Run, dataset: str, split: str, options: dict | None = None) -> _Target:
    """A split of another dataset, its labels mapped onto the run's (or the run's onto its) when possible."""
    from emotune.data.pipeline import prepare_data
    from emotune.config import DataConfig

    prepared = prepare_data(DataConfig(dataset=dataset, options=dict(options or {})))
    if split not in ("train", "dev", "test"):
        raise DataError(f"Unknown split '{split}'", hint="Choose one of train, dev, test.")
    part = getattr(prepared, split)
    if len(part) == 0:
        raise DataError(f"Dataset '{dataset}' has no '{split}' rows", hint="Pick another split with --split.")
    ls = record.label_set
    data_ls = part.label_set
    if data_ls.task == Task.REGRESSION or ls.task == Task.REGRESSION:
        if data_ls.task != ls.task or data_ls.names != ls.names:
            raise ModelError(f"The run predicts {ls.task.value} {list(ls.names)}; '{dataset}' has "
                             f"{data_ls.task.value} {list(data_ls.names)}")
        return _Target(part, ls)
    if data_ls.names == ls.names and data_ls.task == ls.task:
        return _Target(part, ls)
    if set(data_ls.names) == set(ls.names) and data_ls.task == ls.task:
        # rows hold label names, so the same labels in another order only need the run's label set
        return _Target(EmotionDataset(part.name, part.frame.copy(), ls, dict(part.info)), ls)

    from emotune.data import taxonomies

    # 1. the data's labels map onto the run's: evaluate in the run's label space
    try:
        taxonomies.resolve_mapping(data_ls.name, ls.name)
        mapped = taxonomies.map_dataset(part, ls.name)
    except DataError:
        mapped = None
    if mapped is not None and mapped.label_set.names == ls.names and mapped.task == ls.task:
        mapped = EmotionDataset(mapped.name, mapped.frame, ls, mapped.info)
        return _Target(mapped, ls, notes=[f"Gold labels mapped {data_ls.name} -> {ls.name}; "
                                          f"{len(part) - len(mapped)} row(s) without a counterpart dropped."])
    if (mapped is not None and mapped.label_set.names == ls.names and mapped.task == Task.MULTI
            and ls.task == Task.SINGLE):
        # a single-label run on multi-label gold: score the rows whose labels map onto exactly one
        one = mapped.frame["labels"].map(len) == 1
        single = EmotionDataset(mapped.name, mapped.frame[one].reset_index(drop=True), ls, mapped.info)
        if not len(single):
            raise ModelError(
                f"Dataset '{dataset}' ({data_ls.name}) maps onto the run's labels ({ls.name}), but none of its "
                f"{len(part)} row(s) keeps exactly one label after the mapping: a single-label run cannot be "
                "scored on it", hint="Evaluate on a single-label dataset, or a split where some rows have one label.")
        if len(single):
            return _Target(single, ls, notes=[
                f"Gold labels mapped {data_ls.name} -> {ls.name}; {len(part) - len(single)} row(s) dropped "
                f"({len(part) - len(mapped)} without a counterpart, {int((~one).sum())} with several mapped labels: "
                "a single-label run is scored only on rows with exactly one)."])
    # 2. the run's labels map onto the data's: merge the model's scores (max over the labels mapped together)
    try:
        _, mapping = taxonomies.resolve_mapping(ls.name, data_ls.name)
    except DataError:
        mapping = None
    if mapping is not None:
        m = np.zeros((len(ls), len(data_ls)))
        for src, targets in mapping.items():
            for t in targets:
                if src in ls.names and t in data_ls.names:
                    m[ls.names.index(src), data_ls.names.index(t)] = 1
        unreachable = [n for j, n in enumerate(data_ls.names) if not m[:, j].any()]
        notes = [f"Model scores mapped {ls.name} -> {data_ls.name} (a data label's score is the highest score of "
                 f"the model labels mapped to it)."]
        if unreachable:
            notes.append(f"The model cannot predict these data labels: {', '.join(unreachable)}.")
        return _Target(part, data_ls, m, notes)
    # 3. no mapping: the emotions both know
    shared = _shared_labels(part, ls, dataset)
    if shared is not None:
        return shared
    only_data = [n for n in data_ls.names if n not in ls.names]
    only_model = [n for n in ls.names if n not in data_ls.names]
    raise ModelError(
        f"Dataset '{dataset}' ({data_ls.name or 'its labels'}) uses other labels than the run "
        f"({ls.name or 'its labels'}) "
        f"and no mapping between them is known: only in the data: {', '.join(only_data) or 'none'}; "
        f"only in the model: {', '.join(only_model) or 'none'}",
        hint="Evaluate on a dataset with the same labels, or add a mapping to emotune.data.taxonomies.MAPPINGS"
             + (f" (known for {data_ls.name}: {', '.join(taxonomies.available_mappings(data_ls.name))})"
                if taxonomies.available_mappings(data_ls.name) else "") + ".",
    )


def _train_overlap(record: Run, part: EmotionDataset) -> int:
    """How many of the evaluation texts the run trained on (normalised), or -1 when unknown."""
    try:
        from emotune.data.splits import leakage

        return len(leakage(record.splits(verify=False).train, part))
    except Exception:  # noqa: BLE001 - a note, never a reason to fail the evaluation
        return -1


def evaluate_run(run_dir: str | Path, dataset: str | None = None, split: str = "test", out: str | Path | None = None,
                 *, n_resamples: int = 1000, batch_size: int | None = None,
                 dataset_options: dict | None = None) -> dict:
    """Score a run's model on ``split`` of its own dataset (default) or of ``dataset``.

    Re-runs inference with the saved model (``Run.load``), so it also checks that the
    model directory reproduces the stored predictions. Another dataset is mapped onto the run's
    labels (or the run's scores onto the dataset's) with :mod:`emotune.data.taxonomies`.
    Returns (and with ``out`` writes as JSON) ``{"run", "dataset", "split", "n", "metrics",
    "report", "confusion_matrix", "calibration", "ci", "notes"}``.
    """
    record = Run.open(run_dir, finished=True)
    record.verify()  # a cut or pickled weights file is named before the data is prepared
    if split not in ("train", "dev", "test"):
        raise DataError(f"Unknown split '{split}'", hint="Choose one of train, dev, test.")
    own = _same_dataset(record, dataset)
    if own:
        target = _Target(_own_split(record, split), record.label_set)
    else:
        target = _foreign_split(record, dataset, split, dataset_options)
    part, label_set = target.data, target.label_set
    if len(part) == 0:
        raise DataError(f"The '{split}' split of {dataset or record.config.data.dataset} is empty")
    clf = record.load()  # scores inputs prepared like the training data (prefix and context included)
    if tuple(clf.label_set.names) != tuple(record.label_set.names):
        raise ModelError(f"{record.path}: labels.json lists {list(record.label_set.names)} but the model was trained "
                         f"on {list(clf.label_set.names)}",
                         hint="labels.json was edited by hand: restore it (the model's emotune_model.json holds the "
                              "label set) or train the run again.")
    raw = np.asarray(clf.predict_proba(part.texts, batch_size=batch_size), dtype=float)
    thresholds = clf.thresholds if record.task == Task.MULTI else None
    scores = raw
    if target.score_map is not None:
        scores = np.stack([(raw * target.score_map[:, j]).max(axis=1) if target.score_map[:, j].any()
                           else np.zeros(len(raw)) for j in range(target.score_map.shape[1])], axis=1)
        if record.task == Task.MULTI and label_set.task == Task.MULTI and thresholds is not None:
            # a merged label fires when any of its model labels fires: compare scores to the threshold
            # by dividing it out (score / threshold >= 1), so the tuned thresholds still apply
            norm = raw / np.asarray(thresholds)[None, :]
            scores = np.stack([(norm * target.score_map[:, j]).max(axis=1) * 0.5 if target.score_map[:, j].any()
                               else np.zeros(len(raw)) for j in range(target.score_map.shape[1])], axis=1)
        thresholds = None
    if target.renormalise:
        total = scores.sum(axis=1, keepdims=True)
        scores = np.divide(scores, total, out=np.full_like(scores, 1 / scores.shape[1]), where=total > 0)
    y_true = part.y()
    result = {
        "run": str(record.path),
        "dataset": dataset or record.config.data.dataset,
        "split": split,
        "labels": list(label_set.names),
        "task": label_set.task.value,
        "notes": list(target.notes),
        "dropped_rows": target.dropped,
        **evaluate_scores(label_set, y_true, scores, thresholds),
    }
    if label_set.is_classification:
        support = np.bincount(y_true, minlength=len(label_set)) if label_set.task == Task.SINGLE else y_true.sum(axis=0)
        absent = [n for n, c in zip(label_set.names, support) if c == 0]
        if absent:
            from sklearn.metrics import f1_score

            present = [i for i, c in enumerate(support) if c > 0]
            y_pred = decide(label_set, scores, thresholds)
            if label_set.task == Task.SINGLE:
                value = f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)
            else:
                value = f1_score(y_true[:, present], y_pred[:, present], average="macro", zero_division=0)
            result["metrics"]["f1_macro_present_labels"] = float(value)
            result["notes"].append(f"No {split} rows carry {', '.join(absent)}: their F1 is 0 by definition and "
                                   f"pulls f1_macro down; f1_macro over the labels present is {value:.4f}.")
    primary = PRIMARY[label_set.task]
    ci_metrics = [primary] + (["accuracy"] if label_set.task == Task.SINGLE else
                              ["jaccard_samples"] if label_set.task == Task.MULTI else [])
    result["ci"] = {m: bootstrap_ci(y_true, scores, m, label_set=label_set, thresholds=thresholds,
                                    n_resamples=n_resamples) for m in ci_metrics}
    if own and record.has_split(split):
        stored = record.predictions(split)
        if stored.scores.shape == scores.shape:
            result["max_abs_diff_vs_stored"] = float(np.max(np.abs(stored.scores - scores))) if scores.size else 0.0
    elif not own:
        overlap = _train_overlap(record, part)
        if overlap > 0:
            result["notes"].append(f"{overlap} of these {len(part)} texts occur in the run's training data: "
                                   "the scores are optimistic.")
        result["train_overlap"] = overlap
    if out is not None:
        out = Path(out)
        with writing(out):
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def stored_metrics(record: Run, split: str = "test") -> dict:
    """compute_metrics on a run's stored predictions (what the trainer measured)."""
    p = record.predictions(split)
    return compute_metrics(record.label_set, p.y_true, p.scores, p.thresholds)
