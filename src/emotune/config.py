"""One serialisable run configuration: YAML file + dotted command-line overrides.

Every knob has a default; unknown keys are rejected with the closest valid key.
``emotune train configs/isear-minilm.yaml --set training.epochs=2``
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

from emotune import atomic
from emotune.errors import ConfigError, closest, did_you_mean

# The presets ship inside the package so `emotune train isear-minilm` works after `pip install`;
# configs/ at the top of the checkout is a symlink to this folder (the editable source).
PRESETS_DIR = Path(__file__).with_name("presets")
log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class SplitConfig(_Strict):
    """How to split a dataset that has no official split (official splits are used otherwise)."""

    dev: float = 0.1
    test: float = 0.1
    seed: int = 42
    dedup: bool = True  # drop normalised duplicates before splitting (conflicting labels: dropped too)
    group_by: str | None = None  # metadata column kept on one side (e.g. respondent_id)
    use_official: bool = True


class ContextConfig(_Strict):
    """Conversation context for utterance-level datasets (MELD, EmoryNLP, DailyDialog)."""

    window: int = 0  # previous turns to include; 0 = the utterance alone
    speaker: bool = True
    separator: str = " </s> "
    target_marker: str = ">> "


class DataConfig(_Strict):
    dataset: str = "isear"  # built-in name (emotune data list) or a CSV/TSV/JSONL/Parquet path
    text_col: str | None = None
    label_col: str | None = None  # single label or a list of labels per row
    label_cols: list[str] | None = None  # one 0/1 column per label (multi-label)
    target_cols: list[str] | None = None  # numeric targets (regression)
    split_col: str | None = None
    label_map: str | None = None  # taxonomy mapping, e.g. "ekman" for GoEmotions
    cap: dict[str, int] = Field(default_factory=dict)  # e.g. {"neutral": 10000} on train
    split: SplitConfig = Field(default_factory=SplitConfig)
    max_train: int | None = None  # fixed-seed sample of train (speed); stated in the model card
    max_eval: int | None = None
    drop_placeholders: bool = True
    context: ContextConfig = Field(default_factory=ContextConfig)
    options: dict[str, Any] = Field(default_factory=dict)  # loader options (e.g. {"emotion": "anger"})
    text_prefix_col: str | None = None  # prepend this column to the text: "anger: <tweet>" (EI-reg with all emotions)
    # drop rows whose normalised text occurs anywhere in these datasets (intermediate data of a transfer: CARER
    # holds a few ISEAR texts)
    exclude_texts_of: list[str] = Field(default_factory=list)


class LoraConfig(_Strict):
    enabled: bool = True
    # the recipe measured in issue #18 (ISEAR, 1,500 rows: test macro-F1 0.626 against 0.270 for r=8 on q/v)
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: every linear projection of the blocks (see causal_lm.py)


class PromptConfig(_Strict):
    shots: int = 0  # examples per class drawn from train with the training seed
    system: str = "You are an expert annotator of emotions in text."
    instruction: str = "Which emotion does the following text express? Answer with one of: {labels}."
    max_new_tokens: int = 8
    length_normalize: bool = False  # rank labels by mean (not summed) token log-probability
    calibrate: bool = False  # contextual calibration: divide out the label prior of a content-free "N/A"


class InstructConfig(_Strict):
    """Multi-task instruction tuning (backend ``instruct``, tasks of :mod:`emotune.data.instruct`)."""

    tasks: list[str] = Field(default_factory=list)  # SemEval-2018 tasks trained besides the run's own (train splits)
    templates_per_task: int = 3  # wordings per task drawn from when building the training rows
    max_per_task: int | None = None  # seeded sample of tweets per extra task (speed)
    template: int = 0  # the wording used at prediction time
    file: str | None = None  # train rows of an `emotune instruct build` file, instead of `tasks`
    # E-c asked emotion by emotion (11 rows a tweet) or as one checklist row (data.instruct.ec_task)
    ec_format: Literal["questions", "checklist"] = "questions"


class BackendConfig(_Strict):
    """What every backend's config has: its name and the model it starts from."""

    backend: str
    name: str | None = None  # zoo preset (emotune models list), hub id, local directory or run directory


class _Head(BackendConfig):
    head: Literal["linear", "mlp", "logreg"] = "linear"
    head_hidden: int = 128
    head_dropout: float = 0.5


class _Decoder(BackendConfig):
    quantization: Literal["none", "4bit", "8bit"] = "none"
    double_quant: bool = True


class TfidfModelConfig(BackendConfig):
    backend: Literal["tfidf"] = "tfidf"
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    C: float = 4.0
    max_features: int | None = 200_000


class LexiconModelConfig(BackendConfig):
    backend: Literal["lexicon"] = "lexicon"


class EmbedHeadModelConfig(_Head):
    backend: Literal["embed-head"] = "embed-head"
    C: float = 4.0  # logistic-regression head


class EncoderModelConfig(_Head):
    backend: Literal["encoder"] = "encoder"
    init_from: str | None = None  # a finished encoder run: its fine-tuned body, a fresh head (transfer)
    # keep only the body's first N transformer layers (a shallower, faster student; e.g. 4 of MiniLM's 6)
    layers: int | None = Field(None, ge=1)
    # freeze the embeddings and the first N transformer layers: not trained, their backward pass skipped
    freeze_layers: int | None = Field(None, ge=0)


class CausalLMModelConfig(_Decoder):
    backend: Literal["causal-lm"] = "causal-lm"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    gradient_checkpointing: bool = False


class Seq2SeqModelConfig(BackendConfig):
    backend: Literal["seq2seq"] = "seq2seq"
    input_template: str = "Classify emotion: {text}"
    max_target_length: int = 10
    gradient_checkpointing: bool = False


class PromptModelConfig(_Decoder):
    backend: Literal["prompt"] = "prompt"
    prompt: PromptConfig = Field(default_factory=PromptConfig)


class InstructModelConfig(_Decoder):
    backend: Literal["instruct"] = "instruct"
    lora: LoraConfig = Field(default_factory=LoraConfig)
    gradient_checkpointing: bool = False
    prompt: PromptConfig = Field(default_factory=PromptConfig)  # system and max_new_tokens
    instruct: InstructConfig = Field(default_factory=InstructConfig)


class EnsembleModelConfig(BackendConfig):
    backend: Literal["ensemble"] = "ensemble"
    members: list[str] = Field(default_factory=list)  # run directories
    combine: Literal["mean", "vote"] = "mean"


BACKEND_CONFIGS: dict[str, type[BackendConfig]] = {
    c.model_fields["backend"].default: c
    for c in (TfidfModelConfig, LexiconModelConfig, EmbedHeadModelConfig, EncoderModelConfig, CausalLMModelConfig,
              Seq2SeqModelConfig, PromptModelConfig, InstructModelConfig, EnsembleModelConfig)
}

# Every field of the flat ModelConfig of the previous release, which saved all of them for every backend
_PREVIOUS_RELEASE_KEYS = frozenset({
    "backend", "name", "head", "head_hidden", "head_dropout", "lora", "quantization", "double_quant",
    "gradient_checkpointing", "input_template", "max_target_length", "prompt", "instruct", "word_ngrams",
    "char_ngrams", "C", "max_features", "members", "combine"})


def _read_model_section(raw: Any) -> Any:
    """The default backend (tfidf) when none is given; and the one place that reads a run saved by the
    previous release: its ``model`` section spells out every field of every backend, so the keys this
    backend's class lacks are dropped. A config written by hand never has all of them and stays strict."""
    if not isinstance(raw, dict):  # a config object (RunConfig(model=EncoderModelConfig())) is already checked
        return raw
    raw = {"backend": "tfidf", **raw}
    cls = BACKEND_CONFIGS.get(raw["backend"]) if isinstance(raw["backend"], str) else None  # else: refused below
    if cls is not None and _PREVIOUS_RELEASE_KEYS <= raw.keys():
        raw = {k: v for k, v in raw.items() if k in cls.model_fields}
    return raw


# RunConfig.model: one strict class per backend, chosen by `backend`
ModelConfig = Annotated[
    Annotated[Union[tuple(BACKEND_CONFIGS.values())], Field(discriminator="backend")],  # noqa: UP007
    BeforeValidator(_read_model_section),
]
_MODEL_ADAPTER: TypeAdapter = TypeAdapter(ModelConfig)


def default_model_config(backend: str) -> BackendConfig:
    """The defaults of ``backend``; a backend outside the registry (a test double) gets the common fields."""
    return BACKEND_CONFIGS.get(backend, BackendConfig)(backend=backend)


def parse_model_config(raw: dict) -> BackendConfig:
    """The backend's config class validated from a dict (``{"backend": "encoder", "name": "minilm"}``)."""
    return _MODEL_ADAPTER.validate_python(raw)


class DistributedConfig(_Strict):
    """Training in several processes: ``torchrun --nproc_per_node N -m emotune train``, ``accelerate launch
    -m emotune train`` or ``emotune train --nproc N`` (README "Scaling out"). The torch backends train with
    the Trainer's DDP; the others train in rank 0 alone. DeepSpeed and FSDP apply whenever they are set
    (one process too) and need a CUDA GPU."""

    # keep: batch_size x grad_accum stays the effective batch, split over the processes (the preset's
    # recipe holds); grow: both are per process, so the effective batch grows with the process count
    effective_batch: Literal["keep", "grow"] = "keep"
    backend: Literal["auto", "gloo", "nccl"] = "auto"  # torch.distributed backend; auto: NCCL on GPUs, gloo on CPU
    timeout_s: int = Field(1800, gt=0)  # how long a process waits for the others (data preparation, checkpoints)
    find_unused_parameters: bool | None = None  # DDP's; None: the Trainer decides
    # DeepSpeed (ZeRO-2/3): a JSON file or the config itself; "auto" values are filled in by transformers
    # from this training config (batch, accumulation, learning rate, precision). Needs `pip install deepspeed`.
    deepspeed: str | dict[str, Any] | None = None
    # FSDP on, with transformers' fsdp_config (version, reshard_after_forward, cpu_offload,
    # auto_wrap_policy, transformer_layer_cls_to_wrap, state_dict_type...); {} is FSDP2 with its defaults.
    # (A dict, not the "full_shard auto_wrap" string: transformers 5 deprecates the string form.)
    fsdp: dict[str, Any] | None = None


class DistillConfig(_Strict):
    """Knowledge distillation from a teacher file (``emotune distill teacher``, :mod:`emotune.training.distill`)."""

    teacher: str  # JSONL of out-of-fold teacher probabilities for every train row
    alpha: float = Field(0.5, ge=0.0, le=1.0)  # weight of the hard-label loss; 1 - alpha for the teacher's
    temperature: float = Field(2.0, gt=0.0)  # softens student and teacher (single-label)


class TrainingConfig(_Strict):
    epochs: float = 3
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    grad_accum: int = 1
    max_length: int = 128
    seed: int = 42
    class_weights: bool = True
    loss: Literal["auto", "ce", "bce", "mse"] = "auto"
    metric: str = "f1_macro"  # dev metric that picks the best epoch
    early_stopping_patience: int = 2
    # any transformers optim name, e.g. paged_adamw_32bit; the fused AdamW kernel (the transformers 5
    # default) makes the optimizer step ~6x faster on CPU: 0.03 s vs 0.17 s for MiniLM (BENCHMARKS.md)
    optimizer: str = "adamw_torch_fused"
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    group_by_length: bool = True
    head_epochs: float = 0  # two-stage schedule: head only first ...
    head_learning_rate: float = 1e-3  # ... with a larger learning rate
    max_steps: int = -1
    thresholds: Literal["per_label", "global", "none"] = "per_label"
    # the dev score multi-label thresholds maximise: macro-F1, or sample Jaccard (SemEval-2018 E-c's ranking)
    thresholds_metric: Literal["f1_macro", "jaccard_samples"] = "f1_macro"
    threads: int | None = None
    logging_steps: int = 50
    # also checkpoint every N minutes mid-epoch (resume after a kill); 0: per epoch only; one process only
    checkpoint_minutes: float = 20
    distributed: DistributedConfig = Field(default_factory=DistributedConfig)
    distill: DistillConfig | None = None  # train on a teacher's soft labels too


class RunConfig(_Strict):
    name: str = "run"
    description: str = ""
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=TfidfModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    output_dir: str = "runs"

    # -- I/O ----------------------------------------------------------------------------------
    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        atomic.write_text(path, self.to_yaml())

    @classmethod
    def from_dict(cls, raw: dict, *, source: str = "config") -> RunConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise _explain(exc, source) from None

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> RunConfig:
        """A YAML file, or the name of a packaged preset (``isear-minilm``, see :func:`preset_names`)."""
        path = resolve_config(path)
        data = path.read_bytes()
        try:
            raw = yaml.safe_load(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ConfigError(f"{path}: not valid UTF-8 (byte 0x{data[exc.start]:02x} on line {line}, column {column})",
                              hint="Save the config as UTF-8.") from None
        except (yaml.YAMLError, RecursionError) as exc:  # (nesting deeper than Python's stack)
            raise ConfigError(f"{path}: not valid YAML ({exc})") from None
        if raw is None:  # an empty file would silently train the defaults (ISEAR, TF-IDF)
            raise ConfigError(f"{path} is empty: a config names at least data.dataset and model.backend",
                              hint="Start from a preset (emotune presets lists them), e.g. emotune train isear-tfidf.")
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections (data, model, training)")
        raw.setdefault("name", path.stem)
        given = apply_overrides({}, overrides or [])
        _switch_backend(raw, given, str(path))
        _switch_dataset(raw, given, str(path))
        apply_overrides(raw, overrides or [])
        return cls.from_dict(raw, source=str(path))


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def _preset_stem(name: str) -> str:
    return name.removesuffix(".yaml").removesuffix(".yml")


def resolve_config(path_or_name: str | Path) -> Path:
    """The config file itself, else the packaged preset of that name (a bare name, no folder)."""
    path = Path(path_or_name)
    if path.is_file():
        return path
    stem = _preset_stem(path.name)
    preset = PRESETS_DIR / f"{stem}.yaml"
    if path.parent == Path("."):  # a bare name: a preset, wherever the command runs
        if preset.is_file():
            return preset
        raise ConfigError(f"Config file not found: {path} (and no preset '{stem}')",
                          hint=did_you_mean(stem, preset_names()) + " (emotune presets lists them)")
    hint = f"The packaged preset of that name runs from any folder: emotune train {stem}" if preset.is_file() else None
    raise ConfigError(f"Config file not found: {path}", hint=hint)


def _all_keys(model: type[BaseModel], prefix: str = "", backend: str = "tfidf") -> list[str]:
    """Every dotted key of ``model``; the ``model`` section as the class of ``backend`` has it."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = BACKEND_CONFIGS[backend] if (model is RunConfig and name == "model") else field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys.extend(_all_keys(ann, prefix + name + "."))
    return keys


def _suggest(key: str, valid: list[str]) -> str | None:
    guess = closest(key, valid) or closest(key.split(".")[-1], [k.split(".")[-1] for k in valid])
    return f"Did you mean '{guess[0]}'?" if guess else None


def _explain(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "union_tag_invalid":
        backend = err["ctx"]["tag"]
        return ConfigError(f"{source}: unknown backend '{backend}'", hint=did_you_mean(backend, BACKEND_CONFIGS))
    backend = None
    if loc[:1] == ["model"] and len(loc) > 1 and loc[1] in BACKEND_CONFIGS:
        backend = loc.pop(1)  # pydantic names the union member: model.<backend>.<key>
    key = ".".join(loc)
    if err["type"] != "extra_forbidden":
        return ConfigError(f"{source}: invalid value for '{key}': {err['msg']} (got {err.get('input')!r})")
    if backend is None:
        hint = _suggest(key, _all_keys(RunConfig)) or "See the presets (emotune presets) for the valid keys."
        return ConfigError(f"{source}: unknown key '{key}'", hint=hint)
    value = err.get("input")
    while isinstance(value, dict) and len(value) == 1:  # name the key as it was written: model.lora.rank
        (sub, value), = value.items()
        key += f".{sub}"
    valid = _all_keys(RunConfig, backend=backend)
    owners = [b for b in BACKEND_CONFIGS if key in _all_keys(RunConfig, backend=b)
              or loc[1] in BACKEND_CONFIGS[b].model_fields]
    where = f" (a key of {', '.join(owners)})" if owners else ""
    model_keys = [k for k in valid if k.startswith("model.")]
    hint = _suggest(key, model_keys) or _suggest(key, valid) or f"Its keys: {', '.join(model_keys)}."
    return ConfigError(f"{source}: unknown key '{key}' for backend '{backend}'{where}", hint=hint)


def _section(raw: dict, key: str) -> dict:
    """``raw[key]`` when it is a section (``--set data=x`` is refused later, by validation)."""
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def _switch_backend(raw: dict, overrides: dict, source: str) -> None:
    """An override of ``model.backend`` (``emotune train preset --backend tfidf``) drops the preset's model
    keys that the new backend does not have; the user's own overrides stay and are checked strictly."""
    new = _section(overrides, "model").get("backend")
    model = raw.get("model")
    if not (isinstance(model, dict) and isinstance(new, str) and new in BACKEND_CONFIGS
            and model.get("backend", "tfidf") != new):
        return
    fields = BACKEND_CONFIGS[new].model_fields
    dropped = [k for k in model if k not in fields]
    raw["model"] = {k: v for k, v in model.items() if k in fields}
    if dropped:
        log.warning("%s: backend %s instead of %s; dropped the preset's %s", source, new, model.get("backend"),
                    ", ".join(f"model.{k}" for k in dropped))


# Keys that describe one dataset's columns and quirks (ISEAR's respondents, GoEmotions' taxonomy...).
_DATASET_KEYS = ("text_col", "label_col", "label_cols", "target_cols", "split_col", "label_map", "cap", "options",
                 "exclude_texts_of",
                 "text_prefix_col", "split.group_by")


def _switch_dataset(raw: dict, overrides: dict, source: str) -> None:
    """An override of ``data.dataset`` (``--set data.dataset=my.csv``) drops the file's keys that describe its
    own dataset (columns, grouping, label map, loader options): they would break any other data. The user's
    own overrides stay and are checked strictly."""
    new = _section(overrides, "data").get("dataset")
    data = raw.get("data")
    if new is None or not isinstance(data, dict) or str(data.get("dataset", "isear")) == str(new):
        return
    dropped = []
    for key in _DATASET_KEYS:
        *parents, leaf = key.split(".")
        node, given = data, _section(overrides, "data")
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
            given = given.get(p) if isinstance(given, dict) else None
        if isinstance(node, dict) and node.get(leaf) not in (None, {}, []) and \
                not (isinstance(given, dict) and leaf in given):
            node.pop(leaf)
            dropped.append(f"data.{key}")
    if dropped:
        log.warning("%s: dataset %s instead of %s; dropped the config's %s (they describe its own dataset)",
                    source, new, data.get("dataset", "isear"), ", ".join(dropped))


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``a.b.c=value`` strings (values parsed as YAML: numbers, lists, booleans)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"Override '{item}' must look like section.key=value (e.g. training.epochs=2)")
        key, value = item.split("=", 1)
        parts = key.strip().split(".")
        node = raw
        for p in parts[:-1]:
            if node.get(p) is None:  # an optional section left unset (training.distill)
                node[p] = {}
            if not isinstance(node[p], dict):
                raise ConfigError(f"Override '{item}': '{p}' is not a section")
            node = node[p]
        try:
            node[parts[-1]] = yaml.safe_load(value)
        except yaml.YAMLError:
            node[parts[-1]] = value
    return raw
