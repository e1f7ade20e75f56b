"""What a suite trains on against what it tests on (the affect suites run it before training).

SemEval-2018 and WASSA-2017 never meet across that line (SemEval EI train *is* the WASSA data),
and no normalised test text occurs in any training source (the run's own train split, the extra
instruction tasks, the training data of a run it starts from: ``model.name`` or ``model.init_from``).
What a run inherits from a run it starts from (intermediate-task transfer) may not hold its dev
texts either: stage 1 would have seen the rows that choose stage 2's epoch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from emotune.config import RunConfig
from emotune.errors import ConfigError, DataError

SEMEVAL = {"semeval-ec", "semeval-ei-reg", "semeval-ei-oc", "semeval-v-reg", "semeval-v-oc"}
WASSA = {"wassa2017"}


def _family(dataset: str) -> str | None:
    if dataset in SEMEVAL:
        return "SemEval-2018"
    if dataset in WASSA or dataset.startswith("wassa"):
        return "WASSA-2017"
    return None


def _parent_config(name: str, configs_by_dir: dict[str, RunConfig]) -> RunConfig | None:
    """The config of the run a run starts from (``model.name`` = a run directory), if it is one."""
    parent = configs_by_dir.get(str(Path(name)))
    if parent is None:
        for cand in (Path(name), Path(name).parent):
            if (cand / "config.yaml").is_file():
                return RunConfig.load(cand / "config.yaml")
    return parent


def parent_runs(cfg: RunConfig) -> list[str]:
    """The run directories a run starts from: ``model.name`` (loads its model) and ``model.init_from``
    (its body, a fresh head)."""
    refs = [getattr(cfg.model, "name", None), getattr(cfg.model, "init_from", None)]
    return [str(r) for r in dict.fromkeys(refs) if r]


def training_sources(cfg: RunConfig, configs_by_dir: dict[str, RunConfig] | None = None,
                     _seen: frozenset = frozenset()) -> list[tuple[str, str]]:
    """(dataset, what) pairs a run learns from: its own train split, extra instruction tasks, and,
    when ``model.name`` is an earlier run, everything that run learnt from (read from its config,
    or from the suite's own configs when it is not trained yet)."""
    from emotune.data.instruct import TASKS, parse_tasks

    out = [(cfg.data.dataset, "train")]
    if cfg.model.backend == "instruct":
        for t in parse_tasks(cfg.model.instruct.tasks) if cfg.model.instruct.tasks else []:
            out.append((TASKS[t].dataset, "train"))
        if cfg.model.instruct.file:
            out.append((f"file:{cfg.model.instruct.file}", "train"))
    for name in parent_runs(cfg):
        parent = _parent_config(name, configs_by_dir or {}) if name not in _seen else None
        if parent is not None:
            out += training_sources(parent, configs_by_dir, _seen | {name})
    return list(dict.fromkeys(out))


def _keys(ds) -> set[str]:
    from emotune.data.cleaning import clean_text
    from emotune.data.splits import normalize_for_dedup

    col = "text_original" if "text_original" in ds.frame.columns else "text"
    return {normalize_for_dedup(clean_text(str(t))) for t in ds.frame[col]}


class _Texts:
    """Prepared splits and raw train splits, each computed once per check."""

    def __init__(self):
        self.prepared: dict[str, object] = {}
        self.raw_train: dict[str, set[str]] = {}

    def data(self, cfg: RunConfig):
        from emotune.data.pipeline import prepare_data

        key = json.dumps(cfg.data.model_dump(mode="json"), sort_keys=True)
        if key not in self.prepared:
            self.prepared[key] = prepare_data(cfg.data)
        return self.prepared[key]

    def train_of(self, dataset: str) -> set[str]:
        from emotune.data.registry import load_dataset

        if dataset not in self.raw_train:
            self.raw_train[dataset] = _keys(load_dataset(dataset).split("train"))
        return self.raw_train[dataset]


def _training_texts(cfg: RunConfig, by_dir: dict[str, RunConfig], texts: _Texts,
                    seen: frozenset = frozenset()) -> list[tuple[str, set[str], bool]]:
    """(where, normalised texts, inherited from a run it starts from?) of everything a run trains on,
    as the backends select it."""
    from emotune.data.cleaning import clean_text
    from emotune.data.instruct import DATASET_TO_TASK, TASKS, parse_tasks, read_instructions
    from emotune.data.splits import normalize_for_dedup

    out = [(f"its train split ({cfg.data.dataset})", _keys(texts.data(cfg).train))]
    ic = cfg.model.instruct if cfg.model.backend == "instruct" else None
    if ic is not None and (ic.tasks or ic.file):
        own = DATASET_TO_TASK.get(cfg.data.dataset)
        covered = {own} if own else set()
        if ic.file:
            rows = read_instructions(ic.file)
            covered |= {r["task"] for r in rows}
            out.append((f"instruction file {ic.file}", {normalize_for_dedup(clean_text(r["input"])) for r in rows}))
        for t in parse_tasks(ic.tasks) if ic.tasks else []:
            covered.add(t)
            if t != own:
                out.append((f"the train split of {TASKS[t].dataset}", texts.train_of(TASKS[t].dataset)))
        # the backend drops every training row that is a dev/test text of a covered task
        from emotune.models.instruct import InstructClassifier

        held = InstructClassifier._held_out_keys(covered, None)
        out = [(where, keys - held) for where, keys in out]
    out = [(where, keys, False) for where, keys in out]
    for name in parent_runs(cfg):
        parent = _parent_config(name, by_dir) if name not in seen else None
        if parent is not None:
            out += [(f"{where} of the run it starts from ({parent.name})", keys, True)
                    for where, keys, _ in _training_texts(parent, by_dir, texts, seen | {name})]
    return out


def assert_no_cross_contamination(configs: Sequence[RunConfig], *, check_texts: bool = True,
                                  only: Sequence[str] | None = None) -> dict:
    """Raise unless every run's test split is disjoint from everything the run trains on.

    1. Family rule: a run tested on WASSA-2017 may not learn from SemEval-2018 and vice versa.
    2. Texts (``check_texts``): no normalised test text occurs in the prepared train split or in
       any other training source (extra instruct tasks, an instruction file, the run it starts from),
       and no dev text in what it inherits from a run it starts from.
    ``only``: check the runs of these names (the other configs are the runs they may start from).
    Returns ``{run name: {"test": dataset, "sources": [...], "checked_texts": n}}``.
    """
    by_dir = {str(Path(c.output_dir) / c.name): c for c in configs}
    texts = _Texts()
    report = {}
    for cfg in configs:
        if only is not None and cfg.name not in only:  # the others are still looked up as parents
            continue
        test_ds = cfg.data.dataset
        sources = [s for s, _ in training_sources(cfg, by_dir)]
        fam = _family(test_ds)
        for src in sources:
            other = _family(src)
            if fam and other and fam != other:
                raise ConfigError(
                    f"Run '{cfg.name}' is tested on {test_ds} ({fam}) but learns from {src} ({other})",
                    hint="SemEval-2018 EI train is the whole WASSA-2017 set: train and test within one of them.")
        entry = {"test": test_ds, "sources": sources, "checked_texts": 0}
        if check_texts:
            prepared = texts.data(cfg)
            test_keys, dev_keys = _keys(prepared.test), _keys(prepared.dev)
            for where, keys, inherited in _training_texts(cfg, by_dir, texts):
                for split, held in (("test", test_keys), ("dev", dev_keys if inherited else set())):
                    bad = held & keys
                    if bad:
                        example = sorted(bad)[0]
                        raise DataError(f"Run '{cfg.name}': {len(bad)} {split} text(s) of {test_ds} also occur in "
                                        f"{where} (e.g. {example[:60]!r})")
            entry["checked_texts"] = len(test_keys)
        report[cfg.name] = entry
    return report
