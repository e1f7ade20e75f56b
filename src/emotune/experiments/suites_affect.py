"""Benchmark suites beyond one label per sentence: dialogue context, intensity, dimensions, instructions.

Each suite is a function returning the :class:`RunConfig` of every run (seeds included), built from
the presets in ``configs/``; ``quick=True`` gives a smoke version (small samples, one epoch, one
seed) that trains in a minute or two on 2 CPU cores. Every run's ``output_dir`` is
``{out_dir}/runs`` so the run directory is ``{out_dir}/runs/{name}``.

=============  ===========================================================================================
``meld``       utterance alone vs 3 turns of context vs context + balancing (neutral cap, class weights),
               TF-IDF baseline (MELD, official split)
``emorynlp``   the same comparison on EmoryNLP
``ei-reg``     emotion-intensity regression (SemEval-2018 EI-reg, four emotions, emotion in the text):
               train on SemEval train, select on SemEval dev, test on SemEval test, **never WASSA-2017**
``emobank``    valence / arousal / dominance regression with one 3-output head (EmoBank)
``instruct``   one multi-task instruct model (SmolLM2 + LoRA on five SemEval-2018 tasks) trained once
               (E-c is its own task), then evaluated task by task: the other runs *load* it
               (``model.name`` = its run directory, ``training.epochs=0``) and score their dataset;
               against it, the same model and budget trained on each task alone (paired table)
=============  ===========================================================================================

:func:`assert_no_cross_contamination` checks what a suite trains on against what it tests on:
SemEval-2018 and WASSA-2017 never meet across that line (SemEval EI train *is* the WASSA data),
and no normalised test text occurs in any training source (the run's own train split, the extra
instruction tasks, the training data of a run it starts from).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from emotune.errors import ConfigError, DataError
from emotune.paths import _REPO_ROOT
from emotune.config import PRESETS_DIR, RunConfig, apply_overrides

CONFIG_DIR = PRESETS_DIR
BASE_SEED = 42
SEMEVAL = {"semeval-ec", "semeval-ei-reg", "semeval-ei-oc", "semeval-v-reg", "semeval-v-oc"}
WASSA = {"wassa2017"}

_QUICK_DATA = ("data.max_train=300", "data.max_eval=100")
_QUICK_ENCODER = ("training.epochs=1", "training.early_stopping_patience=0", "training.batch_size=16")


def _preset(stem: str, overrides: Sequence[str] = ()) -> RunConfig:
    path = CONFIG_DIR / f"{stem}.yaml"
    if not path.is_file():
        raise ConfigError(f"Preset {path} not found")
    return RunConfig.load(path, list(overrides))


def _with(cfg: RunConfig, overrides: Sequence[str]) -> RunConfig:
    raw = cfg.model_dump(mode="json")
    apply_overrides(raw, list(overrides))
    return RunConfig.from_dict(raw, source=f"suite overrides {list(overrides)}")


def _runs(suite: str, entries: Sequence[tuple[str, tuple[str, ...], bool]], *, quick: bool, seeds: int | None,
          out_dir: str | Path | None) -> list[RunConfig]:
    """``entries``: (preset stem, extra overrides, seeded). Seeded runs get ``-s{seed}`` names."""
    out = Path(out_dir) if out_dir is not None else _REPO_ROOT / "bench_out" / (suite + ("-quick" if quick else ""))
    n = seeds if seeds is not None else (1 if quick else 3)
    if n < 1:
        raise ConfigError(f"seeds must be at least 1 (got {n})")
    configs = []
    for stem, extra, seeded in entries:
        base = _preset(stem)
        for i in range(n if seeded else 1):
            seed = BASE_SEED + i
            name = f"{stem}-s{seed}" if seeded and n > 1 else stem
            overrides = list(extra) + [f"training.seed={seed}", f"name={name}", f"output_dir={out / 'runs'}",
                                       "description=" + json.dumps(f"benchmark {suite}: {base.description}")]
            configs.append(_with(base, overrides))
    return configs


def _q(quick: bool, *extra: str, encoder: bool = True) -> tuple[str, ...]:
    """Overrides of the quick variant (nothing for the full suite)."""
    return (_QUICK_DATA + (_QUICK_ENCODER if encoder else ()) + extra) if quick else ()


# -- the suites -----------------------------------------------------------------------------------
def meld(quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None) -> list[RunConfig]:
    """Does conversation context help on MELD, and what does balancing the 47% neutral majority do?"""
    return _runs("meld", [
        ("meld-tfidf", _q(quick, encoder=False), False),
        ("meld-minilm", _q(quick, "training.max_length=48"), True),
        ("meld-minilm-context", _q(quick, "training.max_length=128"), True),
        ("meld-minilm-context-balanced", _q(quick, "training.max_length=128", "data.cap.neutral=60"), True),
    ], quick=quick, seeds=seeds, out_dir=out_dir)


def emorynlp(quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None) -> list[RunConfig]:
    """The MELD comparison on EmoryNLP (same show, finer labels)."""
    return _runs("emorynlp", [
        ("emorynlp-tfidf", _q(quick, encoder=False), False),
        ("emorynlp-minilm", _q(quick, "training.max_length=48"), True),
        ("emorynlp-minilm-context", _q(quick, "training.max_length=128"), True),
    ], quick=quick, seeds=seeds, out_dir=out_dir)


def ei_reg(quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None) -> list[RunConfig]:
    """Emotion intensity (SemEval-2018 EI-reg): official train / dev / test; WASSA-2017 is never a test set."""
    return _runs("ei-reg", [
        ("ei-reg-tfidf", _q(quick, encoder=False), False),
        ("ei-reg-minilm", _q(quick, "training.max_length=64"), True),
    ], quick=quick, seeds=seeds, out_dir=out_dir)


def emobank(quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None) -> list[RunConfig]:
    """Valence / arousal / dominance (EmoBank) with one multi-output regression head."""
    return _runs("emobank", [
        ("emobank-tfidf", _q(quick, encoder=False), False),
        ("emobank-minilm", _q(quick, "training.max_length=64"), True),
    ], quick=quick, seeds=seeds, out_dir=out_dir)


# the instruct model's classifier views: (dataset, data overrides)
INSTRUCT_VIEWS = {
    "ei-reg": ("semeval-ei-reg", ("data.options.emotion=all", "data.text_prefix_col=emotion", "training.metric=pearson")),
    "ei-oc": ("semeval-ei-oc", ("data.options.emotion=all", "data.text_prefix_col=emotion")),
    "v-reg": ("semeval-v-reg", ("training.metric=pearson",)),
    "v-oc": ("semeval-v-oc", ()),
}
# (E-c train tweets, train items of every other task, dev/test items per task): the full suite on
# 2 CPU cores (configs/instruct-smollm2-cpu.yaml) and its --quick smoke version
# Measured: SmolLM2 instruction tuning runs at about 1 row/s on 2 cores (prompts of ~130 tokens,
# the LM head over a 49k vocabulary), so the full suite is ~2 x 1,460 training rows, under an hour.
INSTRUCT_BUDGET = {False: (60, 200, 200), True: (10, 25, 30)}


def instruct(quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None) -> list[RunConfig]:
    """EmoLLMs' question on a small budget: one model trained on five tasks vs one model per task.

    ``instruct-multi`` is trained once on E-c (its own task) plus EI-reg, EI-oc, V-reg and V-oc; the
    ``instruct-multi-{task}`` runs *load* it (``model.name`` = its run directory, no training) and
    score one task each, so they run after it, in the order returned. ``instruct-single-{task}`` is
    the same backend, LoRA and row budget trained on that task alone. One seed: the LLM is the
    expensive part.
    """
    stem = "instruct-smollm2-quick" if quick else "instruct-smollm2-cpu"
    n_ec, n_task, n_eval = INSTRUCT_BUDGET[quick]
    out = Path(out_dir) if out_dir is not None else _REPO_ROOT / "bench_out" / ("instruct" + ("-quick" if quick else ""))
    base = _preset(stem)
    common = [f"output_dir={out / 'runs'}", f"training.seed={BASE_SEED}", f"data.max_eval={n_eval}",
              f"model.instruct.max_per_task={n_task}"]

    def described(name: str, what: str) -> list[str]:
        return [f"name={name}", "description=" + json.dumps(f"benchmark instruct: {what}")]

    multi = _with(base, [*common, f"data.max_train={n_ec}",
                         *described("instruct-multi", f"one model on five tasks ({base.description})")])
    run_dir = Path(multi.output_dir) / multi.name
    configs = [multi]
    for view, (dataset, overrides) in INSTRUCT_VIEWS.items():
        configs.append(_with(multi, [f"data.dataset={dataset}", *overrides, f"model.name={run_dir}",
                                     "training.epochs=0", "model.instruct.tasks=[]",
                                     *described(f"instruct-multi-{view}", f"instruct-multi evaluated on {view}")]))
    configs.append(_with(multi, ["model.instruct.tasks=[]",
                                 *described("instruct-single-ec", "the same model and budget trained on ec alone")]))
    for view, (dataset, overrides) in INSTRUCT_VIEWS.items():
        configs.append(_with(multi, [f"data.dataset={dataset}", *overrides, f"data.max_train={n_task}",
                                     "model.instruct.tasks=[]",
                                     *described(f"instruct-single-{view}",
                                                f"the same model and budget trained on {view} alone")]))
    return configs


def instruct_pairs(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """(task, multi-task run, single-task run) for the runs of the instruct suite present in ``names``."""
    present = set(names)
    out = []
    for task in ("ec", *INSTRUCT_VIEWS):
        multi = "instruct-multi" if task == "ec" else f"instruct-multi-{task}"
        single = f"instruct-single-{task}"
        if multi in present and single in present:
            out.append((task, multi, single))
    return out


SUITES: dict[str, Callable[..., list[RunConfig]]] = {
    "meld": meld, "emorynlp": emorynlp, "ei-reg": ei_reg, "emobank": emobank, "instruct": instruct,
}


def suite_configs(name: str, *, quick: bool = False, seeds: int | None = None, out_dir: str | Path | None = None,
                  check: bool = True) -> list[RunConfig]:
    """The runs of suite ``name``; with ``check`` the cross-contamination check runs first."""
    from emotune.errors import did_you_mean

    if name not in SUITES:
        raise ConfigError(f"Unknown suite '{name}'", hint=did_you_mean(name, SUITES))
    configs = SUITES[name](quick=quick, seeds=seeds, out_dir=out_dir)
    if check:
        assert_no_cross_contamination(configs)
    return configs


# -- the contamination check --------------------------------------------------------------------------
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
    name = cfg.model.name
    parent = _parent_config(name, configs_by_dir or {}) if name and name not in _seen else None
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
        from emotune.data.loaders import load_dataset

        if dataset not in self.raw_train:
            self.raw_train[dataset] = _keys(load_dataset(dataset).split("train"))
        return self.raw_train[dataset]


def _training_texts(cfg: RunConfig, by_dir: dict[str, RunConfig], texts: _Texts,
                    seen: frozenset = frozenset()) -> list[tuple[str, set[str]]]:
    """(where, normalised texts) of everything a run trains on, as the backends select it."""
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
    name = cfg.model.name
    parent = _parent_config(name, by_dir) if name and name not in seen else None
    if parent is not None:
        out += [(f"{where} of the run it starts from ({parent.name})", keys)
                for where, keys in _training_texts(parent, by_dir, texts, seen | {name})]
    return out


def assert_no_cross_contamination(configs: Sequence[RunConfig], *, check_texts: bool = True) -> dict:
    """Raise unless every run's test split is disjoint from everything the run trains on.

    1. Family rule: a run tested on WASSA-2017 may not learn from SemEval-2018 and vice versa.
    2. Texts (``check_texts``): no normalised test text occurs in the prepared train split or in
       any other training source (extra instruct tasks, an instruction file, the run it starts from).
    Returns ``{run name: {"test": dataset, "sources": [...], "checked_texts": n}}``.
    """
    by_dir = {str(Path(c.output_dir) / c.name): c for c in configs}
    texts = _Texts()
    report = {}
    for cfg in configs:
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
            test_keys = _keys(texts.data(cfg).test)
            for where, keys in _training_texts(cfg, by_dir, texts):
                bad = test_keys & keys
                if bad:
                    example = sorted(bad)[0]
                    raise DataError(f"Run '{cfg.name}': {len(bad)} test text(s) of {test_ds} also occur in {where} "
                                    f"(e.g. {example[:60]!r})")
            entry["checked_texts"] = len(test_keys)
        report[cfg.name] = entry
    return report
