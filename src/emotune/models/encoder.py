"""Backend ``encoder``: full fine-tuning of a transformer encoder with a classification head.

Any ``AutoModelForSequenceClassification`` architecture works (BERT, RoBERTa, XLM-R, DistilBERT,
MPNet, DeBERTa, ...). The task decides the head and the loss: softmax + cross-entropy
(single-label), per-label sigmoid + BCE (multi-label) or raw outputs + MSE (regression), with
class weights from the training set by default.

Options (``model.*`` / ``training.*``):

- ``head: mlp`` replaces the model's final linear layer by
  ``Linear(in, head_hidden) - ReLU - Dropout(head_dropout) - Linear(head_hidden, n_labels)``
  (the SemEval-2024 EDiReF recipe); it is saved with the weights and rebuilt on load.
- ``head_epochs > 0``: a two-stage schedule, first the head alone (base frozen) at
  ``head_learning_rate``, then everything at ``learning_rate`` for ``epochs``.
- ``init_from: RUN_DIR`` (intermediate-task transfer): the body of a finished encoder run's model
  (e.g. MiniLM fine-tuned on CARER mapped to the ISEAR labels) with a freshly initialised head for
  this label set, instead of the pretrained ``name``; the card and metrics.json record the run.
- ``layers: N``: keep the body's first N transformer layers and drop the rest (``num_hidden_layers``
  given to ``from_pretrained``, which loads the kept layers' weights): a shallower student for
  serving, e.g. 4 of MiniLM's 6 layers started from a fine-tuned run (``init_from``) and trained
  with ``training.distill`` on that run's probabilities (preset ``isear-minilm-l4``). Dropping the
  top layers kept more accuracy than other subsets in Sajjad et al. 2023 ("On the effect of dropping
  layers of pre-trained transformer models").
- ``freeze_layers: N``: the embeddings and the first N transformer layers stay as loaded (no
  gradient, no optimiser state): training skips their backward pass, about two thirds of their
  cost (their forward pass still runs every step). The lower layers of a pretrained encoder hold
  the most general features (Lee et al. 2019, "What would Elsa do? Freezing layers during
  transformer fine-tuning"); BENCHMARKS.md measures speed and dev score on ISEAR.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune import runtime
from emotune.errors import ModelError
from emotune.models.hf.args import HF_PROBLEM_TYPE
from emotune.models.hf.checkpoints import checkpoint_dir, work_dir
from emotune.models.hf.resources import count_parameters, human_count, quiet_hf
from emotune.models.hf.sequence import SequenceClassifierMixin
from emotune.models.base import EmotionClassifier

log = logging.getLogger(__name__)

DEFAULT_MODEL = "minilm"
HEAD_FILE = "emotune_head.json"


def resolve_source(name: str | None, default: str = DEFAULT_MODEL) -> str:
    """Preset / hub id / directory -> what ``from_pretrained`` loads (through the model zoo)."""
    from emotune.models.zoo import resolve_model

    return resolve_model(name or default)


# -- heads ------------------------------------------------------------------------------------
def _final_linear(model):
    """(parent module, attribute name, Linear) of the layer that outputs the labels."""
    import torch.nn as nn

    n = model.config.num_labels
    head_names = [name for name, _ in model.named_children() if name != model.base_model_prefix]
    candidates = []
    for top in head_names:
        for name, module in getattr(model, top).named_modules(prefix=top):
            if isinstance(module, nn.Linear) and module.out_features == n:
                candidates.append(name)
    if not candidates:
        raise ModelError(f"Cannot find the classification layer of {type(model).__name__} to replace with an MLP head")
    path = candidates[-1]
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    return parent, attr, getattr(parent, attr), path


def install_mlp_head(model, hidden: int, dropout: float) -> str:
    """Replace the final label layer by an MLP; return its module path (``classifier``, ``classifier.out_proj``)."""
    import torch.nn as nn

    parent, attr, linear, path = _final_linear(model)
    mlp = nn.Sequential(nn.Linear(linear.in_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                        nn.Linear(hidden, linear.out_features))
    mlp.to(device=linear.weight.device, dtype=linear.weight.dtype)
    setattr(parent, attr, mlp)
    return path


def head_parameter_names(model) -> list[str]:
    """Parameters outside the pretrained body (the classification head, DistilBERT's pre_classifier ...)."""
    prefix = model.base_model_prefix + "."
    return [n for n, _ in model.named_parameters() if not n.startswith(prefix)]


def init_prior_bias(model, y) -> None:
    """Multi-label without class weights: start each label's logit at its training log-odds.

    With a zero bias every sigmoid starts at 0.5, and the first steps of BCE are one large
    "lower every label" gradient; on GoEmotions (28 labels, 1-10% positives) MiniLM then predicted
    the same scores for every text (most likely a saturated pooler tanh; not verified further).
    Starting from the prior (the focal-loss paper's initialisation) removes that gradient. With
    class weights (``pos_weight`` = negatives / positives) the weighted prior is 0.5 and the zero
    bias is right. Hand-written because transformers has no option for a prior-initialised head.
    """
    import numpy as np
    import torch

    _, _, linear, _ = _final_linear(model)
    if getattr(linear, "bias", None) is None:
        return
    p = np.clip(np.asarray(y, dtype=np.float64).mean(axis=0), 1e-4, 1 - 1e-4)
    bias = np.log(p / (1 - p))
    with torch.no_grad():
        linear.bias.copy_(torch.as_tensor(bias, dtype=linear.bias.dtype, device=linear.bias.device))


def transfer_source(run_dir: str) -> str:
    """The model folder of a finished encoder run (``model.init_from``), checked."""
    from emotune import runs as rd

    path = Path(run_dir).expanduser()
    if not rd.is_finished(path):
        raise ModelError(f"model.init_from: {path} is not a finished run (no metrics.json)",
                         hint="Train the intermediate run first; a benchmark suite orders it before this one.")
    backend = rd.load_config(path).model.backend
    if backend != "encoder":
        raise ModelError(f"model.init_from: {path} is a '{backend}' run; only an encoder run's body can be reused "
                         "by the encoder backend")
    return str(rd.Run.open(path).model_dir)


def describe_init_run(run_dir: str) -> dict:
    from emotune import runs as rd

    cfg = rd.load_config(run_dir)
    return {"run": str(run_dir), "dataset": cfg.data.dataset, "label_map": cfg.data.label_map,
            "labels": len(rd.load_labels(run_dir)), "base_model": cfg.model.name or DEFAULT_MODEL}


def reset_head(model) -> None:
    """Re-initialise every module outside the pretrained body (a fresh head, as for a new model)."""
    base = getattr(model, model.base_model_prefix)
    body = {id(m) for m in base.modules()}
    with_params = [m for m in model.modules() if id(m) not in body and m is not model
                   and any(True for _ in m.parameters(recurse=False))]
    for module in with_params:
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        model._init_weights(module)


def set_base_trainable(model, trainable: bool) -> None:
    base = getattr(model, model.base_model_prefix)
    for p in base.parameters():
        p.requires_grad_(trainable)


def _body_layers(model):
    """The body's list of transformer layers: the ModuleList as long as the config's ``num_hidden_layers``
    (``encoder.layer`` in BERT/RoBERTa/MPNet, ``transformer.layer`` in DistilBERT), or None."""
    import torch

    total = getattr(model.config, "num_hidden_layers", None)
    base = getattr(model, model.base_model_prefix)
    return next((m for m in base.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == total), None)


def frozen_modules(model, n: int | None, model_name: str = "the model") -> list:
    """The modules ``model.freeze_layers=n`` freezes: the embeddings and the first ``n`` transformer layers
    (checked: a clear error when the body has fewer layers or no recognisable ones)."""
    if not n:
        return []
    layers = _body_layers(model)
    embeddings = getattr(getattr(model, model.base_model_prefix), "embeddings", None)
    if layers is None or embeddings is None:
        raise ModelError(f"model.freeze_layers={n}: cannot find the embeddings and transformer layers of {model_name}",
                         hint="Leave model.freeze_layers unset for this model.")
    if n > len(layers):
        raise ModelError(f"model.freeze_layers={n}, but {model_name} has only {len(layers)} layers",
                         hint=f"Use model.freeze_layers between 0 and {len(layers)}.")
    return [embeddings, *layers[:n]]


def freeze_lower_layers(model, n: int | None, model_name: str = "the model") -> None:
    """``model.freeze_layers``: no gradient for the embeddings and the first ``n`` transformer layers."""
    for module in frozen_modules(model, n, model_name):
        for p in module.parameters():
            p.requires_grad_(False)


def _load_state_dict_files(path: Path) -> dict:
    from safetensors.torch import load_file

    index = path / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    state: dict = {}
    for f in files:
        if not (path / f).is_file():
            raise ModelError(f"Missing weights file {path / f}")
        state.update(load_file(str(path / f)))
    return state


# -- the backend ------------------------------------------------------------------------------
class EncoderClassifier(SequenceClassifierMixin, EmotionClassifier):
    backend = "encoder"
    trains_distributed = True
    what = "encoder model"

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        self.model = None
        self.tokenizer = None
        self.callbacks: list = []  # extra transformers TrainerCallbacks for fit (progress UIs, tests)
        self.max_length = int(self.training_config.max_length)  # tokens per text (serving reads it too)
        self.source: str | None = None  # what from_pretrained loaded the body from
        self.head_path: str | None = None  # module path of the MLP head, when there is one
        self.init_from: dict | None = None  # the run whose body this model started from (model.init_from)

    @property
    def model_name(self) -> str:
        return self.model_config.name or DEFAULT_MODEL

    def describe(self) -> str:
        return f"{self.backend}:{self.model_name}"

    # -- building -----------------------------------------------------------------------------
    def _hf_kwargs(self) -> dict:
        kwargs = dict(num_labels=len(self.label_set), problem_type=HF_PROBLEM_TYPE[self.task],
                      id2label=self.label_set.id2label, label2id=self.label_set.label2id)
        layers = getattr(self.model_config, "layers", None)
        if layers:
            kwargs["num_hidden_layers"] = int(layers)
        return kwargs

    def _check_layers(self) -> None:
        """``model.layers`` must name a subset of the body's layers, and the loaded model must have it."""
        from transformers import AutoConfig

        layers = getattr(self.model_config, "layers", None)
        if not layers:
            return
        full = getattr(AutoConfig.from_pretrained(self.source, trust_remote_code=False), "num_hidden_layers", None)
        if full is None or getattr(self.model.config, "num_hidden_layers", None) != layers:
            raise ModelError(f"model.layers={layers}: {self.model_name} does not say how many layers it has "
                             "(no num_hidden_layers in its config)", hint="Leave model.layers unset for this model.")
        if layers > full:
            raise ModelError(f"model.layers={layers}, but {self.model_name} has only {full} layers",
                             hint=f"Use model.layers between 1 and {full}.")

    def build(self) -> None:
        """Load the pretrained body + a fresh head for this label set."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        init_run = getattr(self.model_config, "init_from", None)
        self.source = transfer_source(init_run) if init_run else resolve_source(self.model_config.name)
        try:
            with quiet_hf():
                self.tokenizer = AutoTokenizer.from_pretrained(self.source, trust_remote_code=False)
                self.model = AutoModelForSequenceClassification.from_pretrained(
                    self.source, trust_remote_code=False, ignore_mismatched_sizes=True, **self._hf_kwargs())
                self._check_layers()
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Could not load encoder '{self.model_name}' from {self.source}: {exc}",
                             hint="Use a preset from `emotune models list` or a local model directory.") from None
        limit = self.tokenizer.model_max_length
        if isinstance(limit, int) and 0 < limit < 100_000 and self.max_length > limit:
            log.warning("training.max_length=%d exceeds what %s accepts; using %d", self.max_length,
                        self.model_name, limit)
            self.max_length = limit
        if init_run:
            reset_head(self.model)  # the body carries over; the previous task's head does not
            self.init_from = describe_init_run(init_run)
        if self.tokenizer.pad_token is None:  # a few encoders ship without one
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.sep_token
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        frozen_modules(self.model, getattr(self.model_config, "freeze_layers", None), self.model_name)  # checked now
        if self.model_config.head == "mlp":
            self.head_path = install_mlp_head(self.model, self.model_config.head_hidden, self.model_config.head_dropout)
        elif self.model_config.head != "linear":
            raise ModelError(f"model.head={self.model_config.head} is not available for the encoder backend",
                             hint="Use 'linear' or 'mlp' (logreg is for the embed-head backend).")

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
        if self.task == Task.MULTI and weights is None:  # BCE's pos_weight already balances the start
            init_prior_bias(self.model, train.y())
        common = dict(label_set=self.label_set, training=t, loss_weights=weights, quiet=quiet,
                      callbacks=self.callbacks, save_checkpoints=output_dir is not None)
        history: list[dict] = []
        ckpt_root = checkpoint_dir(output_dir)
        with work_dir(ckpt_root) as root:
            if t.head_epochs > 0:
                history += self._train_head(train_ds, dev_ds, root / "head", resume=resume, **common)
            set_base_trainable(self.model, True)
            freeze_lower_layers(self.model, getattr(self.model_config, "freeze_layers", None), self.model_name)
            result = run_trainer(self.model, self.tokenizer, train_ds, dev_ds, output_dir=root, resume=resume,
                                    description=f"{self.model_name}", epoch_offset=float(t.head_epochs),
                                    stage="full" if t.head_epochs > 0 else None, **common)
            history += result.history
            self.model = trained_model(result, self)
            del result
        self.model.eval()
        return history

    def _train_head(self, train_ds, dev_ds, folder: Path, *, resume: bool, **common) -> list[dict]:
        """Stage 1 of the two-stage schedule: the body frozen, the head at ``head_learning_rate``."""
        from emotune.models.hf.trainer import run_trainer

        t = self.training_config
        set_base_trainable(self.model, False)
        trainable, total = count_parameters(self.model)
        log.info("head stage: training %s of %s parameters", human_count(trainable), human_count(total))
        result = run_trainer(self.model, self.tokenizer, train_ds, dev_ds, output_dir=folder, resume=resume,
                                epochs=t.head_epochs, learning_rate=t.head_learning_rate, early_stopping=False,
                                select_best=False, description=f"{self.model_name} (head)", stage="head",
                                args_overrides={"max_steps": -1}, **common)
        self.model = result.trainer.model
        return result.history

    # -- persistence --------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        if self.model is None:
            raise ModelError("Nothing to save: the encoder has not been trained")
        head = {"type": self.model_config.head, "path": self.head_path, "hidden": self.model_config.head_hidden,
                "dropout": self.model_config.head_dropout}
        with quiet_hf():
            self.model.save_pretrained(path)
            self.tokenizer.save_pretrained(path)
        (path / HEAD_FILE).write_text(json.dumps(head, indent=2) + "\n", encoding="utf-8")
        return {"encoder": {"base_model": self.model_name, "source": self.source, "head": head,
                            "max_length": self.max_length}}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> EncoderClassifier:
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        clf = cls(label_set, model_config, training_config)
        info = meta.get("encoder") or {}
        head = info.get("head") or {"type": "linear"}
        clf.source = info.get("source")
        clf.max_length = int(info.get("max_length") or clf.max_length)
        with quiet_hf():
            clf.tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
            if head.get("type") == "mlp":
                config = AutoConfig.from_pretrained(path, trust_remote_code=False)
                model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
                clf.head_path = install_mlp_head(model, int(head["hidden"]), float(head["dropout"]))
                missing, unexpected = model.load_state_dict(_load_state_dict_files(path), strict=False)
                missing = [k for k in missing if not _is_tied_or_buffer(model, k)]
                if missing or unexpected:
                    raise ModelError(f"Weights in {path} do not match the saved MLP head "
                                     f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
                model.tie_weights()
            else:
                model = AutoModelForSequenceClassification.from_pretrained(path, trust_remote_code=False)
        model.to(runtime.select_device())
        model.eval()
        clf.model = model
        return clf


def _is_tied_or_buffer(model, key: str) -> bool:
    tied = getattr(model, "_tied_weights_keys", None) or []
    if isinstance(tied, dict):
        tied = list(tied)
    return any(key == t or key.endswith(t) for t in tied) or key in dict(model.named_buffers())
