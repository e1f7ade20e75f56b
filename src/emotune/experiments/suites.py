"""Every benchmark suite as data (one :class:`SuiteSpec` each) and the one function that plans its runs.

A suite names its models; each model is a preset plus overrides. ``configs/{prefix}-{key}.yaml``
is used when it exists, otherwise the model's recipe preset (``configs/isear-mpnet.yaml`` ...),
with the suite's ``data_preset`` data section when the suite has one. ``--quick`` is a smoke
version (small samples, cheap models, one epoch). Every run of a suite lands in
``{out}/runs/{prefix}-{key}[-s{seed}]``.

=================  ==================================================================================
``isear`` ...      every backend on one dataset, several seeds, an ensemble of the best by dev and
                   (isear) a cross-validation of the best (also goemotions, semeval-ec, dair-emotion);
                   isear adds a MiniLM distilled from the ensemble (its out-of-fold teacher file is
                   built after the ensemble) and MiniLM transferred from CARER (stage-1 run first)
``meld``           utterance alone vs 3 turns of context vs context + balancing (neutral cap, class
                   weights), TF-IDF baseline (MELD, official split); ``emorynlp`` the same on EmoryNLP
``ei-reg``         emotion-intensity regression (SemEval-2018 EI-reg, four emotions, emotion in the
                   text): train / dev / test of SemEval, **never WASSA-2017**
``emobank``        valence / arousal / dominance regression with one 3-output head (EmoBank)
``instruct``       one multi-task instruct model (SmolLM2 + LoRA on five SemEval-2018 tasks) trained
                   once, then evaluated task by task: the ``multi-{task}`` runs *load* it
                   (``model.name`` = its run directory, ``training.epochs=0``); against it, the same
                   model and budget trained on each task alone (paired table)
=================  ==================================================================================
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from emotune.config import PRESETS_DIR, RunConfig, apply_overrides
from emotune.data.labels import Task
from emotune.errors import ConfigError, did_you_mean
from emotune.paths import _REPO_ROOT

BASE_SEED = 42


@dataclass(frozen=True)
class ModelSpec:
    """One model of a suite: which preset, which overrides, and why they were needed."""

    key: str  # short name in tables: tfidf, lexicon, embed-head, minilm, ...
    recipes: tuple[str, ...]  # preset stems to take the run from when there is no {prefix}-{key} preset
    overrides: tuple[str, ...] = ()  # "{runs}" stands for the suite's run folder
    note: str = ""  # the table's note; "{preset}" stands for the preset's description
    seeded: bool = True  # False: deterministic (lexicon, prompting) or too slow: one run whatever --seeds says
    tasks: tuple[Task, ...] = (Task.SINGLE, Task.MULTI)  # the tasks of data_preset it runs on
    max_seeds: int | None = None  # cap on seeds for models too slow for several on 2 CPU cores
    quick: tuple[str, ...] = ()  # more overrides with --quick
    quick_recipes: tuple[str, ...] = ()  # other recipes with --quick
    # model: an entry of the table; stage: an intermediate run another model starts from (trained first, in the
    # table with its note, never in the ensemble, the cross-validation or the report); student: trained after
    # the ensemble is chosen, on the teacher file the benchmark builds from the ensemble's members
    role: str = "model"

    def seeds_for(self, n_seeds: int) -> int:
        """The runs this model gets when the suite asks for ``n_seeds`` seeds (its cap; one if unseeded)."""
        return min(n_seeds, self.max_seeds or n_seeds) if self.seeded else 1


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    models: tuple[ModelSpec, ...]
    prefix: str = ""  # run names: {prefix}-{key} (default: the suite's name)
    data_preset: str | None = None  # the preset whose data section every recipe gets (None: each preset's own)
    seeds: int = 3
    quick_seeds: int = 2
    quick_data: tuple[str, ...] = ()  # overrides of every run with --quick
    quick_models: tuple[ModelSpec, ...] | None = None  # None: ``models`` with their own quick overrides
    seed_suffix_alone: bool = True  # "-s42" in the name even when a model runs one seed
    description: str = "{key}"  # each run's description after "benchmark {suite}: "; {key} or {note}
    secondary: str | None = None  # the table's second metric (default: by task)
    cv_folds: int = 0  # k-fold CV of the best model (0: none)
    ensemble_size: int = 0  # members of the ensemble of the best models by dev (0: none)
    check_contamination: bool = False  # assert_no_cross_contamination before anything trains
    distill_folds: int = 5  # folds of the out-of-fold teacher file of a "student" model (--quick: 3)
    overrides: tuple[str, ...] = ()  # overrides of every run of the suite (before each model's own)


@dataclass
class RunSpec:
    key: str  # model key
    seed: int | None  # the config's training.seed for seeded models, else None
    config: RunConfig
    run_dir: Path
    note: str = ""
    kind: str = "model"  # model | ensemble | stage | student (ModelSpec.role)


@dataclass
class SuitePlan:
    suite: SuiteSpec
    quick: bool
    out_dir: Path
    runs: list[RunSpec]
    seeds: int


# -- the backend suites -------------------------------------------------------------------------------
_TFIDF = ModelSpec("tfidf", ("isear-tfidf",))
_LEXICON = ModelSpec("lexicon", ("isear-lexicon",), seeded=False,
                     note="no training: NRC lexicon counts mapped onto the labels")
_EMBED = ModelSpec("embed-head", ("isear-embed-head", "goemotions-embed-head"))
_MINILM = ModelSpec("minilm", ("isear-minilm",))
_SMOL_PROMPT = ModelSpec("smollm2-prompt", ("isear-smollm2-prompt",), seeded=False,
                         note="zero-shot prompting, no training")
# the cheap LLM baseline: frozen SmolLM2 hidden states, mean-pooled, + logistic regression
_SMOL_FEATURES = ModelSpec("smollm2-features", ("isear-embed-head", "goemotions-embed-head"), ("model.name=smollm2",),
                           note="frozen SmolLM2-135M hidden states (mean-pooled) + logistic regression")
# full budget (ISEAR, 5,966 train rows): every model sees the whole train split
_MPNET_FULL = ModelSpec("mpnet", ("isear-mpnet",), ("training.epochs=2", "training.max_length=96"),
                        note="full train split, 2 epochs, 1 seed (MPNet is ~5x slower than MiniLM on a CPU core)",
                        max_seeds=1)
_SMOL_LORA_FULL = ModelSpec("smollm2-lora", ("isear-smollm2-lora",),
                            note="full train split, 1 epoch, 1 seed (ISEAR: 28 min on one CPU core)", max_seeds=1)
# Distillation and transfer (issue #18): MiniLM taught by the best dev ensemble, and MiniLM first fine-tuned on
# CARER relabelled to the four ISEAR emotions it shares (sadness, joy, anger, fear; love and surprise dropped)
TEACHER_FILE = "{out}/teachers/{prefix}-ensemble-oof.jsonl"
_MINILM_DISTILLED = ModelSpec(
    "minilm-distilled", ("isear-minilm",), ("training.distill.teacher=" + TEACHER_FILE,), role="student",
    note="MiniLM student: alpha 0.5 x cross-entropy + 0.5 x T^2 KL to the out-of-fold probabilities (T=2) of the "
         "ensemble's members, each cross-validated on train only, 3 folds (emotune.training.distill)")
_CARER_STAGE1 = ModelSpec(
    "minilm-carer-stage1", ("isear-minilm",),
    ("data.dataset=dair-emotion", "data.label_map=isear", "data.exclude_texts_of=[isear]", "data.split.group_by=null",
     "training.epochs=1"),
    seeded=False, role="stage",
    note="stage 1 of minilm-transfer-carer: MiniLM on dair-emotion (CARER) train relabelled to the ISEAR labels it "
         "shares (love, surprise rows dropped) minus every text that also occurs in ISEAR, 1 epoch; scored on CARER's "
         "own test, not comparable")
_MINILM_TRANSFER = ModelSpec(
    "minilm-transfer-carer", ("isear-minilm",), ("model.init_from={runs}/{prefix}-minilm-carer-stage1",),
    note="the isear-minilm recipe started from the body of minilm-carer-stage1 (fresh head)")
# --quick: tiny samples, cheap models, a minute or two on 2 cores (part of the test suite)
_QUICK_MODELS = (
    ModelSpec("tfidf", ("isear-tfidf",), ("model.max_features=20000",)),
    _LEXICON,
    ModelSpec("embed-head", ("isear-embed-head", "goemotions-embed-head"), ("training.max_length=64",)),
    ModelSpec("minilm", ("isear-minilm",), ("data.max_train=48", "training.epochs=1", "training.max_length=32",
                                            "training.batch_size=32", "training.early_stopping_patience=0"),
              note="1 epoch on 48 rows: a smoke test of fine-tuning, not a score"),
)


def _backends(name: str, models: tuple[ModelSpec, ...], cv_folds: int = 0, overrides: tuple[str, ...] = (),
              distill_folds: int = 5) -> SuiteSpec:
    return SuiteSpec(name, models, data_preset=f"{name}-tfidf", cv_folds=cv_folds, ensemble_size=3,
                     distill_folds=distill_folds,
                     quick_data=("data.max_train=300", "data.max_eval=60"), quick_models=_QUICK_MODELS,
                     overrides=overrides)


_BACKEND_SUITES = (
    _backends("isear", (_TFIDF, _LEXICON, _EMBED, _SMOL_FEATURES, _MINILM,
                        replace(_MPNET_FULL, note="full train split, 2 epochs, 1 seed (25 min a training on one core, "
                                                  "2026-12-05; the teacher file trains it three more times)"),
                        replace(_SMOL_LORA_FULL, max_seeds=None, note="full train split, 1 epoch (17 min a training on "
                                                                      "one core, 2026-12-05)"),
                        _SMOL_PROMPT, _MINILM_DISTILLED, _CARER_STAGE1, _MINILM_TRANSFER),
              # the teacher file trains every ensemble member once per fold, on (k-1)/k of train: 3 folds took
              # MPNet 16 min a fold, SmolLM2 LoRA 12, MiniLM 7 (2026-12-05, one core each): 1.8 h of one core,
              # under an hour with --jobs 2; 5 folds would be ~3.5 h of one core. Each teacher sees 2/3 of train
              cv_folds=5, distill_folds=3),
    _backends("goemotions", (
        _TFIDF,
        ModelSpec("embed-head", ("goemotions-embed-head",)), _SMOL_FEATURES,
        ModelSpec("minilm", ("goemotions-minilm",),
                  note="seeds 42 and 43 were resumed from checkpoints (2026-12-05): their train times count only the "
                       "part after the resume; seed 44, trained whole, took 43.6 min on a core"),
        ModelSpec("mpnet", ("goemotions-minilm",), ("model.name=mpnet", "training.epochs=1", "training.learning_rate=3e-5"),
                  note="MiniLM recipe with MPNet; full train split, 1 epoch, 1 seed: 61 min an epoch on one CPU core "
                       "(2026-12-05), so the 4 epochs MiniLM needs (4 h) do not fit the suite; after one epoch it is "
                       "below TF-IDF",
                  max_seeds=1),
        # SmolLM2 + LoRA on all 43k comments: ~2 h an epoch on one core (measured 2026-12-04), so the whole split;
        # the 10,000-row sample of the 2026-12-01 suite stays as a same-budget pair with MiniLM
        ModelSpec("smollm2-lora", ("isear-smollm2-lora",), ("training.epochs=1", "training.max_length=64"),
                  note="full train split, 1 epoch, 1 seed (comments: max length 64; ~2 h on one CPU core)", max_seeds=1),
        ModelSpec("smollm2-lora-10k", ("isear-smollm2-lora",),
                  ("data.max_train=10000", "training.epochs=1", "training.max_length=64"), max_seeds=1,
                  note="same budget as minilm-10k: 10,000 sampled rows, 1 epoch, 1 seed"),
        ModelSpec("minilm-10k", ("goemotions-minilm",), ("data.max_train=10000", "training.epochs=1"), max_seeds=1,
                  note="same budget as smollm2-lora-10k: the same 10,000 sampled rows, 1 epoch, 1 seed"),
        ModelSpec("smollm2-prompt", ("isear-smollm2-prompt",), ("data.max_eval=500",), seeded=False,
                  note="zero-shot prompting on a fixed 500-row sample of dev/test (28 labels, one scored continuation "
                       "per label)"))),
    # full budget (6,838 E-c train tweets; 15,984 CARER tweets): every model sees the whole train split
    _backends("semeval-ec", (_TFIDF, _LEXICON, ModelSpec("embed-head", ("goemotions-embed-head",)), _SMOL_FEATURES,
                             _MINILM, _MPNET_FULL, _SMOL_LORA_FULL, _SMOL_PROMPT),
              # E-c is ranked by sample Jaccard (SemEval-2018's official metric): the per-label thresholds
              # are chosen on dev for it, at some cost in macro-F1 (measured in BENCHMARKS.md)
              overrides=("training.thresholds_metric=jaccard_samples",)),
    _backends("dair-emotion", (
        _TFIDF, _LEXICON, _EMBED, _SMOL_FEATURES, _MINILM, _MPNET_FULL,
        replace(_SMOL_LORA_FULL, overrides=("training.max_length=64",),
                note="full train split, 1 epoch, 1 seed (tweets: max length 64)"),
        ModelSpec("smollm2-prompt", ("isear-smollm2-prompt",), ("data.max_eval=1000",), seeded=False,
                  note="zero-shot prompting on a fixed 1,000-row sample of dev/test"))),
)


# -- the affect suites: presets as they are, one seed with --quick --------------------------------------
def _q(*extra: str, encoder: bool = True) -> tuple[str, ...]:
    """The --quick overrides of an affect suite's model."""
    return ("data.max_train=300", "data.max_eval=100") + (
        ("training.epochs=1", "training.early_stopping_patience=0", "training.batch_size=16") if encoder else ()) + extra


def _presets(name: str, models: tuple[tuple, ...], secondary: str | None = None) -> SuiteSpec:
    """A suite of presets ``{name}-{key}``: (key, --quick overrides, seeded[, max seeds, note])."""
    def spec(key: str, quick: tuple[str, ...], seeded: bool, max_seeds: int | None = None, note: str = "{preset}"):
        return ModelSpec(key, (), note=note, seeded=seeded, quick=quick, max_seeds=max_seeds)

    return SuiteSpec(name, tuple(spec(*m) for m in models),
                     quick_seeds=1, seed_suffix_alone=False, description="{note}", secondary=secondary,
                     check_contamination=True)


# the instruct model's classifier views: (dataset, data overrides)
INSTRUCT_VIEWS = {
    "ei-reg": ("semeval-ei-reg", ("data.options.emotion=all", "data.text_prefix_col=emotion", "training.metric=pearson")),
    "ei-oc": ("semeval-ei-oc", ("data.options.emotion=all", "data.text_prefix_col=emotion")),
    "v-reg": ("semeval-v-reg", ("training.metric=pearson",)),
    "v-oc": ("semeval-v-oc", ()),
}
# (E-c train tweets, train items of every other task, dev/test items per task): the full suite on
# 2 CPU cores (configs/instruct-smollm2-cpu.yaml) and its --quick smoke version.
# Measured: SmolLM2 instruction tuning runs at ~1 row/s on one core (prompts of ~80-180 tokens), and
# V-oc alone does not learn from 200 items (dev Pearson 0.04-0.12) but does from 600 (0.52;
# benchmarks/results/recipes-instruct-voc.json). E-c as one checklist row a tweet costs what another
# task's item does (asked emotion by emotion, 11 rows). So 900 items a task: 4,500 rows for the
# multi-task model, as many for the five single-task ones together. Measured (2026-12-05): the multi-task
# model fits in 61 min on one core, the five single-task ones in 65 min on the other; 78 min of wall time.
INSTRUCT_BUDGET = {False: (900, 900, 200), True: (10, 25, 30)}


def _instruct() -> SuiteSpec:
    """EmoLLMs' question on a small budget: one model trained on five tasks vs one model per task.

    ``multi`` is trained once on E-c (its own task) plus EI-reg, EI-oc, V-reg and V-oc; the
    ``multi-{task}`` runs *load* it and score one task each, so they run after it, in this order.
    ``single-{task}`` is the same backend, LoRA and row budget trained on that task alone. One seed:
    the LLM is the expensive part.
    """
    def budget(quick: bool, train: int) -> tuple[str, ...]:
        n_ec, n_task, n_eval = INSTRUCT_BUDGET[quick]
        return (f"data.max_eval={n_eval}", f"model.instruct.max_per_task={n_task}",
                f"data.max_train={(n_ec, n_task)[train]}")

    def model(key: str, note: str, train: int, *extra: str) -> ModelSpec:  # train: 0 = E-c's budget, 1 = a task's
        return ModelSpec(key, ("instruct-smollm2-cpu",), budget(False, train) + extra, note, seeded=False,
                         quick=budget(True, train) + extra, quick_recipes=("instruct-smollm2-quick",))

    views = [model(f"multi-{v}", f"instruct-multi evaluated on {v}", 0, f"data.dataset={d}", *o,
                   "model.name={runs}/instruct-multi", "training.epochs=0", "model.instruct.tasks=[]")
             for v, (d, o) in INSTRUCT_VIEWS.items()]
    singles = [model(f"single-{v}", f"the same model and budget trained on {v} alone", 1, f"data.dataset={d}", *o,
                     "model.instruct.tasks=[]") for v, (d, o) in INSTRUCT_VIEWS.items()]
    return SuiteSpec("instruct", (
        model("multi", "one model on five tasks ({preset})", 0), *views,
        model("single-ec", "the same model and budget trained on ec alone", 0, "model.instruct.tasks=[]"), *singles),
        description="{note}", check_contamination=True, seeds=1, quick_seeds=1)


SUITES: dict[str, SuiteSpec] = {s.name: s for s in (
    *_BACKEND_SUITES,
    _presets("meld", (("tfidf", _q(encoder=False), False), ("minilm", _q("training.max_length=48"), True),
                      ("minilm-context", _q("training.max_length=128"), True),
                      ("minilm-context-balanced", _q("training.max_length=128", "data.cap.neutral=60"), True),
                      ("mpnet", _q("training.max_length=48"), True, 1,
                       "{preset}; 1 seed (MPNet is ~5x slower than MiniLM on a CPU core)")),
             secondary="f1_weighted"),  # neutral dominates conversations: ranked by weighted F1 too
    _presets("emorynlp", (("tfidf", _q(encoder=False), False), ("minilm", _q("training.max_length=48"), True),
                          ("minilm-context", _q("training.max_length=128"), True)), secondary="f1_weighted"),
    _presets("ei-reg", (("tfidf", _q(encoder=False), False), ("minilm", _q("training.max_length=64"), True))),
    _presets("emobank", (("tfidf", _q(encoder=False), False), ("minilm", _q("training.max_length=64"), True))),
    _instruct(),
)}


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


# -- the plan -------------------------------------------------------------------------------------------
def load_preset(stem: str, overrides: Sequence[str] = ()) -> RunConfig:
    path = PRESETS_DIR / f"{stem}.yaml"
    if not path.is_file():
        raise ConfigError(f"Preset {path} not found", hint="The benchmark builds its runs from configs/*.yaml.")
    return RunConfig.load(path, list(overrides))


def with_overrides(cfg: RunConfig, overrides: Sequence[str]) -> RunConfig:
    raw = cfg.model_dump(mode="json")
    apply_overrides(raw, list(overrides))
    return RunConfig.from_dict(raw, source=f"benchmark overrides {list(overrides)}")


def _base_config(suite: SuiteSpec, model: ModelSpec, quick: bool, task: Task | None) -> tuple[RunConfig, str]:
    """The model's preset for this suite, or its recipe (with the suite's data section when it has one)."""
    prefix = suite.prefix or suite.name
    own = PRESETS_DIR / f"{prefix}-{model.key}.yaml"
    if own.is_file():
        return load_preset(own.stem), own.stem
    recipes = list(model.quick_recipes if quick and model.quick_recipes else model.recipes)
    if task == Task.MULTI:  # prefer a multi-label recipe (e.g. goemotions-embed-head) when there is one
        recipes.sort(key=lambda s: not s.startswith(("goemotions", "semeval")))
    stem = next((s for s in recipes if (PRESETS_DIR / f"{s}.yaml").is_file()), None)
    if stem is None:
        raise ConfigError(f"No preset for model '{model.key}' (looked for {own.name} and {', '.join(recipes)})")
    cfg = load_preset(stem)
    if suite.data_preset:
        cfg = cfg.model_copy(update={"data": load_preset(suite.data_preset).data.model_copy(deep=True)}, deep=True)
    return cfg, stem


def suite_task(suite: SuiteSpec) -> Task | None:
    """The task of the suite's shared data (None: a suite of presets with their own data)."""
    from emotune.data.registry import get_spec

    return get_spec(load_preset(suite.data_preset).data.dataset).task if suite.data_preset else None


def _model_runs(suite: SuiteSpec, m: ModelSpec, quick: bool, n_seeds: int, task: Task | None,
                out: Path) -> list[RunSpec]:
    prefix = suite.prefix or suite.name
    base, stem = _base_config(suite, m, quick, task)
    # a description ends a sentence; where the note goes on after it, its full stop would read ".;"
    note = m.note.replace("{preset}", base.description if m.note.endswith("{preset}") else base.description.rstrip("."))
    description = f"benchmark {suite.name}: " + suite.description.format(key=m.key, note=note)
    if suite.data_preset and stem != f"{prefix}-{m.key}":
        note = (note + "; " if note else "") + f"recipe from configs/{stem}.yaml"
    overrides = [o.replace("{runs}", str(out / "runs")).replace("{out}", str(out)).replace("{prefix}", prefix)
                 for o in suite.overrides + (suite.quick_data if quick else ()) + m.overrides + (m.quick if quick else ())]
    n = m.seeds_for(n_seeds)
    runs = []
    for i in range(n):
        seed = BASE_SEED + i
        name = f"{prefix}-{m.key}" + (f"-s{seed}" if m.seeded and (suite.seed_suffix_alone or n > 1) else "")
        cfg = with_overrides(base, overrides + [f"training.seed={seed}", f"name={name}", f"output_dir={out / 'runs'}",
                                                "description=" + json.dumps(description)])
        runs.append(RunSpec(m.key, cfg.training.seed if m.seeded else None, cfg, out / "runs" / name, note, kind=m.role))
    return runs


def build_suite(name: str, *, quick: bool = False, models: Sequence[str] | None = None, seeds: int | None = None,
                out_dir: str | Path | None = None) -> SuitePlan:
    """The runs of a suite, without training anything."""
    from emotune.experiments.contamination import assert_no_cross_contamination

    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be at least 1 (got {seeds})")
    if name not in SUITES:
        raise ConfigError(f"Unknown benchmark suite '{name}'", hint=did_you_mean(name, SUITES))
    suite = SUITES[name]
    out = Path(out_dir) if out_dir is not None else _REPO_ROOT / "bench_out" / (name + ("-quick" if quick else ""))
    specs = suite.quick_models if quick and suite.quick_models is not None else suite.models
    known = {m.key for m in specs} | ({"ensemble"} if suite.ensemble_size else set())
    for m in models or ():
        if m not in known:
            raise ConfigError(f"Suite '{name}'{' --quick' if quick else ''} has no model '{m}'",
                              hint=did_you_mean(m, sorted(known)))
    n_seeds = seeds if seeds is not None else (suite.quick_seeds if quick else suite.seeds)
    task = suite_task(suite)
    runs = [r for m in specs if task is None or task in m.tasks for r in _model_runs(suite, m, quick, n_seeds, task, out)]
    if suite.check_contamination:  # the whole suite: a selected run may start from one that is not selected
        assert_no_cross_contamination([r.config for r in runs])
    else:  # at least the runs that start from another run (transfer): their test and dev vs its training data
        from emotune.experiments.contamination import parent_runs

        dirs = {str(r.run_dir) for r in runs}
        starting = [r.config for r in runs if set(parent_runs(r.config)) & dirs and (not models or r.key in models)]
        if starting:
            assert_no_cross_contamination([r.config for r in runs], only=[c.name for c in starting])
    if models:
        runs = [r for r in runs if r.key in models]
    most = max((sum(r.key == k for r in runs) for k in {r.key for r in runs}), default=1)
    return SuitePlan(suite, quick, out, runs, most)


def suite_configs(name: str, *, quick: bool = False, seeds: int | None = None,
                  out_dir: str | Path | None = None) -> list[RunConfig]:
    """The run configs of suite ``name`` (its contamination check included)."""
    return [r.config for r in build_suite(name, quick=quick, seeds=seeds, out_dir=out_dir).runs]
