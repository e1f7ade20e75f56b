"""An ensemble of already trained runs: average their probabilities or let them vote.

``model.members`` lists run (or model) directories; they must share one label set. Nothing is
trained (``fit`` only loads and checks the members); the trainer still tunes multi-label
thresholds on dev and scores dev/test, so an ensemble run reads like any other run.

``combine: mean`` averages probabilities (regression: values). ``combine: vote`` gives each
label the share of members that predict it (single-label: argmax; multi-label: each member's
own thresholds), with the mean probability as a tie-breaker far below one vote.

A member given as a run directory is not asked again for texts its run already scored: its stored
dev/test predictions (``predictions/*.npz`` with the texts beside them) are read instead, when every
text of a request is among them. Building a suite's ensemble otherwise re-ran each member over dev
(three times: the members' dev scores, the ensemble's, the trainer's) and test - ~25 min of a core
for a SmolLM2 member on GoEmotions. The stored scores are the member's own ``predict_proba`` output
for the same texts, kept as float32 (differences below 1e-6); a saved ensemble points to model
directories, so serving it always runs the members.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune.errors import ModelError
from emotune.models.base import EmotionClassifier
from emotune.runs import Run

MEMBERS_FILE = "ensemble.json"
_TIE_BREAK = 1e-3


def label_set_differences(a: LabelSet, b: LabelSet) -> list[str]:
    diffs = []
    if a.task != b.task:
        diffs.append(f"task {a.task.value} vs {b.task.value}")
    only_a, only_b = [n for n in a.names if n not in b.names], [n for n in b.names if n not in a.names]
    if only_a:
        diffs.append(f"only in the first: {', '.join(only_a)}")
    if only_b:
        diffs.append(f"only in the second: {', '.join(only_b)}")
    if not only_a and not only_b and a.names != b.names:
        diffs.append(f"same labels in another order ({', '.join(a.names)} vs {', '.join(b.names)})")
    return diffs


class EnsembleClassifier(EmotionClassifier):
    backend = "ensemble"
    trainable = False

    def __init__(self, label_set, model_config=None, training_config=None, members: list[EmotionClassifier] | None = None,
                 member_paths: list[Path] | None = None):
        super().__init__(label_set, model_config, training_config)
        self.member_paths = member_paths if member_paths is not None else [Path(p) for p in self.model_config.members]
        if not self.member_paths:
            raise ModelError("An ensemble needs members: set model.members to a list of run directories",
                             hint="e.g. --set 'model.members=[runs/isear-tfidf, runs/isear-minilm]'")
        self.members = members
        self._stored: dict[int, dict[str, np.ndarray]] = {}

    # -- members ------------------------------------------------------------------------------
    def load_members(self) -> list[EmotionClassifier]:
        if self.members is None:
            members = []
            for path in self.member_paths:
                members.append(Run.open(path).load())
            for path, clf in zip(self.member_paths, members):
                diffs = label_set_differences(self.label_set, clf.label_set)
                if diffs:
                    raise ModelError(f"Ensemble member {path} has another label set than the data "
                                     f"({self.label_set.name or 'labels'} vs {clf.label_set.name or 'labels'}): "
                                     + "; ".join(diffs),
                                     hint="Ensemble runs trained on the same dataset and label mapping.")
            self.members = members
        return self.members

    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *,
            output_dir: str | Path | None = None, resume: bool = False) -> list[dict]:
        members = self.load_members()
        row = {"epoch": 0, "trained": False, "members": [str(p) for p in self.member_paths],
               "combine": self.model_config.combine}
        if dev is not None and len(dev):
            from emotune.metrics import PRIMARY, compute_metrics

            y, primary = dev.y(), PRIMARY[self.task]
            for i, (path, clf) in enumerate(zip(self.member_paths, members)):
                m = compute_metrics(self.label_set, y, self._member_scores(i, clf, dev.texts), clf.thresholds)
                row[f"dev_member{i}_{primary}"] = m[primary]
            row.update({f"dev_{k}": v for k, v in compute_metrics(self.label_set, y, self.predict_proba(dev.texts)).items()})
        return [row]

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        members = self.load_members()
        scores = [self._member_scores(i, m, texts, batch_size) for i, m in enumerate(members)]
        mean = np.mean(scores, axis=0)
        if self.model_config.combine == "mean" or self.task == Task.REGRESSION:
            return mean
        if self.task == Task.SINGLE:
            votes = np.zeros_like(mean)
            for s in scores:
                votes[np.arange(len(s)), s.argmax(axis=1)] += 1
            share = votes / len(scores) + _TIE_BREAK * mean
            return share / share.sum(axis=1, keepdims=True)
        votes = np.zeros_like(mean)
        for m, s in zip(members, scores):
            thr = m.thresholds if m.thresholds is not None else np.full(s.shape[1], 0.5)
            votes += s >= thr
        return np.clip(votes / len(scores) + _TIE_BREAK * (mean - 0.5), 0.0, 1.0)

    def _member_scores(self, i: int, member: EmotionClassifier, texts: Sequence[str],
                       batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        known = self._stored_scores(i)
        if texts and known and all(t in known for t in texts):
            return np.stack([known[t] for t in texts]).astype(float)
        return np.asarray(member.predict_proba(texts, batch_size=batch_size), dtype=float)

    def _stored_scores(self, i: int) -> dict[str, np.ndarray]:
        """Member ``i``'s stored dev/test scores by text ({} unless it is a run directory that kept them)."""
        if i not in self._stored:
            from emotune.runs import PREDICTIONS_DIR, is_run_dir, load_predictions

            known: dict[str, np.ndarray] = {}
            path = self.member_paths[i]
            for split in ("dev", "test"):
                if is_run_dir(path) and (path / PREDICTIONS_DIR / f"{split}.npz").is_file():
                    p = load_predictions(path, split)
                    if p.texts is not None and len(p.texts) == len(p.scores):
                        known.update(zip(p.texts, p.scores))
            self._stored[i] = known
        return self._stored[i]

    # -- persistence --------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        entries = []
        for p in self.member_paths:
            target = Run.open(p).model_dir.resolve()
            try:
                rel = os.path.relpath(target, path.resolve())
            except ValueError:  # another drive (Windows)
                rel = None
            entries.append({"path": rel if rel is not None else str(target), "absolute": str(target),
                            "relative": rel is not None})
        doc = {"combine": self.model_config.combine, "members": entries}
        (path / MEMBERS_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        return {}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> EnsembleClassifier:
        label_set, model_config, training_config = cls.configs_from_meta(meta)
        doc = json.loads((path / MEMBERS_FILE).read_text(encoding="utf-8"))
        paths = []
        for entry in doc["members"]:
            # relative paths survive moving the whole runs/ folder; the absolute one is a fallback
            candidate = (path / entry["path"]) if entry.get("relative") else Path(entry["path"])
            if not candidate.exists() and entry.get("absolute"):
                candidate = Path(entry["absolute"])
            if not candidate.exists():
                raise ModelError(f"Ensemble member not found: {path / entry['path']}",
                                 hint="Ensembles point to their members' run directories; keep them beside it.")
            paths.append(candidate)
        return cls(label_set, model_config, training_config, member_paths=paths)
