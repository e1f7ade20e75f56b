"""Backend ``causal-lm``: a decoder LLM as a sequence classifier, fine-tuned with LoRA or QLoRA.

Llama, Mistral, Gemma, Qwen2 and SmolLM2 (a Llama) load as ``AutoModelForSequenceClassification``:
the model reads the text and a new linear ``score`` head maps the hidden state of the last
real token to the labels. LoRA adapters (PEFT) on every linear projection of the blocks (attention and MLP;
``model.lora.target_modules`` narrows them) plus the head are trained; the base weights stay frozen.

Choices worth knowing:

- **Pad token.** Most decoders ship without one; EOS is used and written into the model config
  (the classifier finds the last real token through it). Padding is on the right, so that
  rotary positions do not depend on how long the other texts of a batch are.
- **The head is part of the adapter** (PEFT ``modules_to_save``), saved in
  ``adapter_model.safetensors``: a reloaded model gives the same predictions. The base model is
  stored by reference (preset name, hub id or directory), not copied.
- **QLoRA** (``model.quantization: 4bit``) needs a CUDA GPU and ``bitsandbytes``. Without them the
  backend refuses (ModelError) instead of silently training a different model: set
  ``model.quantization=none`` to train LoRA on the full-precision weights, on CPU if need be.
- **Memory** is estimated from the config (parameter count x bytes per parameter) before the
  weights are loaded; a model that will not fit raises ModelError naming a smaller option.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet
from emotune import runtime
from emotune.errors import ModelError
from emotune.models.hf.args import HF_PROBLEM_TYPE
from emotune.models.hf.checkpoints import checkpoint_dir, work_dir
from emotune.models.hf.resources import bitsandbytes_available, check_fits, count_parameters, human_count, quiet_hf
from emotune.models.hf.sequence import SequenceClassifierMixin
from emotune.models.base import EmotionClassifier

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"
# LoRA on all seven linear projections of a Llama-style block by default: on 1,500 ISEAR rows this scored
# 0.626 macro-F1 against 0.270 for the q/v-only adapters of the original recipes (issue #18)
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Bytes per parameter for the frozen base weights; training adds activations and LoRA states.
BYTES_PER_PARAM = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0, "8bit": 1.1, "4bit": 0.6, "full": 16.0}
TRAIN_OVERHEAD = 1.5


def lora_targets(model, configured: list[str] | None) -> list[str]:
    """The modules LoRA adapts: ``model.lora.target_modules`` when set, else :data:`DEFAULT_TARGETS` where the
    blocks have them, else PEFT's attention projections for the architecture (shared with the instruct backend)."""
    if configured:
        return list(configured)
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    if set(DEFAULT_TARGETS) <= names:
        return list(DEFAULT_TARGETS)
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as mapping

    if model.config.model_type in mapping:
        return list(mapping[model.config.model_type])
    raise ModelError(f"No default LoRA target modules for model type '{model.config.model_type}'",
                     hint="Set model.lora.target_modules (e.g. [q_proj, v_proj]) to the attention projections.")


def resolve_source(name: str | None) -> str:
    from emotune.models.zoo import resolve_model

    return resolve_model(name or DEFAULT_MODEL)


def estimate_parameters(source: str) -> int:
    """Parameter count of the model at ``source`` from its config alone (weights on the meta device)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(source, trust_remote_code=False)
    with torch.device("meta"), quiet_hf():
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=False)
    return sum(p.numel() for p in model.parameters())


class CausalLMClassifier(SequenceClassifierMixin, EmotionClassifier):
    backend = "causal-lm"
    trains_distributed = True
    what = "decoder model"

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        self.model = None
        self.tokenizer = None
        self.callbacks: list = []  # extra transformers TrainerCallbacks for fit (progress UIs, tests)
        self.max_length = int(self.training_config.max_length)  # tokens per text (serving reads it too)
        self.source: str | None = None
        self.loaded_quantization = "none"

    @property
    def model_name(self) -> str:
        return self.model_config.name or DEFAULT_MODEL

    def describe(self) -> str:
        lora = self.model_config.lora
        kind = "qlora" if self.model_config.quantization != "none" else ("lora" if lora.enabled else "full")
        return f"{self.backend}:{self.model_name}:{kind}"

    # -- loading ------------------------------------------------------------------------------
    def _quantization(self, *, for_training: bool) -> str:
        """The quantization to load with; refuses QLoRA without CUDA + bitsandbytes when training."""
        q = self.model_config.quantization
        if q == "none":
            return "none"
        if runtime.cuda_available() and bitsandbytes_available():
            return q
        missing = "a CUDA GPU" if not runtime.cuda_available() else "the bitsandbytes package (pip install emotune[gpu])"
        if for_training:
            raise ModelError(
                f"model.quantization={q} (QLoRA) needs a CUDA GPU and bitsandbytes; this machine lacks {missing}",
                hint="Set model.quantization=none (and training.optimizer=adamw_torch_fused: the paged optimizer "
                     "needs bitsandbytes too) to train LoRA on full-precision weights (CPU works for small "
                     "models such as 'smollm2'), or run on a GPU machine.")
        log.warning("model.quantization=%s needs %s; loading the base model unquantised for inference", q, missing)
        return "none"

    def _load_base(self, source: str, quantization: str, *, half_weights: bool = True):
        """Tokenizer + ``AutoModelForSequenceClassification`` (new ``score`` head) for this label set.

        On a GPU with bf16/fp16 precision the frozen weights load in that dtype (``half_weights``);
        a full fine-tune keeps fp32 master weights and lets autocast do the half-precision math.
        """
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        precision = runtime.select_precision(self.training_config)
        half = runtime.cuda_available() and half_weights
        dtype = runtime.torch_dtype_for(precision) if half else torch.float32
        # a full fine-tune also holds fp32 gradients and two Adam moments: 16 bytes a parameter
        self._check_memory(source, quantization, precision if half else ("full" if not half_weights else "fp32"))
        kwargs: dict = dict(num_labels=len(self.label_set), problem_type=HF_PROBLEM_TYPE[self.task],
                            id2label=self.label_set.id2label, label2id=self.label_set.label2id,
                            trust_remote_code=False, dtype=dtype)
        if quantization != "none":
            from transformers import BitsAndBytesConfig

            if precision == "fp16" or not torch.cuda.is_bf16_supported():
                compute = torch.float16
            else:
                compute = torch.bfloat16
            kwargs["quantization_config"] = (
                BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                   bnb_4bit_use_double_quant=self.model_config.double_quant,
                                   bnb_4bit_compute_dtype=compute)
                if quantization == "4bit" else BitsAndBytesConfig(load_in_8bit=True))
            # one GPU per process under torchrun (QLoRA + DDP), the current one otherwise
            kwargs["device_map"] = {"": runtime.local_rank() if runtime.world_size() > 1
                                    else torch.cuda.current_device()}
        try:
            with quiet_hf():
                tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False)
                model = AutoModelForSequenceClassification.from_pretrained(source, ignore_mismatched_sizes=True,
                                                                           **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Could not load decoder '{self.model_name}' from {source}: {exc}",
                             hint="Use a preset from `emotune models list` or a local model directory.") from None
        self._set_padding(tokenizer, model)
        return tokenizer, model

    @staticmethod
    def _set_padding(tokenizer, model) -> None:
        vocab = model.get_input_embeddings().num_embeddings
        if tokenizer.pad_token is None or tokenizer.pad_token_id is None or tokenizer.pad_token_id >= vocab:
            if tokenizer.eos_token is None:
                raise ModelError("The tokenizer has neither a pad nor an EOS token to pad with")
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "right"
        model.config.pad_token_id = tokenizer.pad_token_id

    def _check_memory(self, source: str, quantization: str, precision: str) -> None:
        try:
            n = estimate_parameters(source)
        except Exception as exc:  # noqa: BLE001 - an estimate is a courtesy, never a blocker
            log.debug("could not estimate the size of %s: %s", source, exc)
            return
        key = quantization if quantization != "none" else precision
        where = "GPU memory" if runtime.cuda_available() else "RAM"
        hint = ("Use QLoRA (model.quantization=4bit) on a CUDA GPU, " if quantization == "none" else "Use ") + \
               "a smaller preset (e.g. 'smollm2', 135M parameters) or a machine with more memory."
        check_fits(n, BYTES_PER_PARAM[key], factor=TRAIN_OVERHEAD,
                      what=f"'{self.model_name}' ({human_count(n)} parameters, {key}) in {where}", hint=hint)

    def build(self) -> None:
        """Base model + LoRA adapters (or QLoRA, or a full fine-tune when ``lora.enabled`` is false)."""
        import torch

        quantization = self._quantization(for_training=True)
        self.source = resolve_source(self.model_config.name)
        tokenizer, model = self._load_base(self.source, quantization, half_weights=self.model_config.lora.enabled)
        gc = self.model_config.gradient_checkpointing
        if quantization != "none":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gc,
                                                    gradient_checkpointing_kwargs={"use_reentrant": False})
        elif gc:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.enable_input_require_grads()  # LoRA: the frozen embeddings would otherwise cut the graph
        if gc:
            model.config.use_cache = False
        lora = self.model_config.lora
        if lora.enabled:
            from peft import LoraConfig, TaskType, get_peft_model

            peft_config = LoraConfig(task_type=TaskType.SEQ_CLS, r=lora.r, lora_alpha=lora.alpha,
                                     lora_dropout=lora.dropout, target_modules=lora_targets(model, lora.target_modules),
                                     modules_to_save=self._head_names(model))
            with quiet_hf(errors_only=False):
                model = get_peft_model(model, peft_config)
            # fp16 AMP cannot unscale fp16 gradients: keep every trainable weight (adapters, head) in fp32
            for p in model.parameters():
                if p.requires_grad and p.dtype != torch.float32:
                    p.data = p.data.float()
        elif quantization != "none":
            raise ModelError("A quantized model can only be fine-tuned with LoRA adapters (QLoRA)",
                             hint="Set model.lora.enabled=true or model.quantization=none.")
        trainable, total = count_parameters(model)
        log.info("%s: training %s of %s parameters", self.describe(), human_count(trainable), human_count(total))
        self.tokenizer, self.model, self.loaded_quantization = tokenizer, model, quantization

    @staticmethod
    def _head_names(model) -> list[str]:
        return [name for name, _ in model.named_children() if name != model.base_model_prefix] or ["score"]

    # -- training -----------------------------------------------------------------------------
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *, output_dir=None,
            resume: bool = False, quiet: bool = False) -> list[dict]:
        from emotune.models.hf.trainer import run_trainer, trained_model

        t = self.training_config
        runtime.setup_threads(t)
        runtime.set_seed(t.seed)
        if self.model is None:
            self.build()
        train_ds, dev_ds, weights = self._fit_inputs(train, dev)
        with work_dir(checkpoint_dir(output_dir)) as root:
            result = run_trainer(self.model, self.tokenizer, train_ds, dev_ds, label_set=self.label_set, training=t,
                                    output_dir=root, resume=resume, description=self.describe(),
                                    loss_weights=weights, quiet=quiet, callbacks=self.callbacks,
                                    save_checkpoints=output_dir is not None)
            self.model = trained_model(result, self)
            history = result.history
            del result
        self.model.eval()
        return history

    # -- persistence --------------------------------------------------------------------------
    def _base_reference(self) -> str:
        """How to find the base model again: a preset or hub id as given, a directory made absolute."""
        name = self.model_name
        from emotune.models.zoo import get_preset

        if get_preset(name) is None and Path(name).expanduser().is_dir():
            return str(Path(name).expanduser().resolve())
        return name

    def _save(self, path: Path) -> dict:
        if self.model is None:
            raise ModelError("Nothing to save: the decoder has not been trained")
        readme = path / "README.md"
        had_readme = readme.exists()
        with quiet_hf():
            self.model.save_pretrained(path)  # LoRA: adapter + score head only; else the full model
            self.tokenizer.save_pretrained(path)
        if readme.exists() and not had_readme:
            readme.unlink()  # PEFT's template card; emotune writes its own model card
        return {"causal_lm": {"base_model": self._base_reference(), "base_source": self.source,
                              "adapter": bool(self.model_config.lora.enabled),
                              "quantization": self.loaded_quantization,
                              "pad_token_id": self.tokenizer.pad_token_id, "max_length": self.max_length}}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> CausalLMClassifier:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        info = meta.get("causal_lm") or {}
        clf.max_length = int(info.get("max_length") or clf.max_length)
        with quiet_hf():
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        if not info.get("adapter", True):
            with quiet_hf():
                model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=False)
            clf._set_padding(tokenizer, model)
            model.to(runtime.select_device())
        else:
            if not all((path / f).is_file() for f in ADAPTER_FILES):
                raise ModelError(f"{path} has no LoRA adapter ({', '.join(ADAPTER_FILES)})")
            source = clf._find_base(info)
            quantization = clf._quantization(for_training=False)
            _, base = clf._load_base(source, quantization)
            clf._set_padding(tokenizer, base)
            from peft import PeftModel

            with quiet_hf():
                model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
            if quantization == "none":
                model.to(runtime.select_device())
            clf.loaded_quantization = quantization
            clf.source = source
        model.eval()
        clf.model, clf.tokenizer = model, tokenizer
        return clf

    def _find_base(self, info: dict) -> str:
        ref = info.get("base_model") or self.model_config.name or DEFAULT_MODEL
        try:
            return resolve_source(ref)
        except ModelError:
            fallback = info.get("base_source")
            if fallback and Path(fallback).is_dir():
                return fallback
            raise
