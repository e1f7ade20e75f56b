"""Backend ``instruct``: one instruction-tuned causal LM for emotion classes *and* intensities.

EmoLLMs-style multi-task instruction tuning (:mod:`emotune.data.instruct` builds the rows): a
decoder (SmolLM2 offline, any hub causal LM) gets a LoRA adapter (PEFT, ``CAUSAL_LM``) trained
on ``instruction + text -> answer`` in the model's chat template, with the loss on the answer
tokens only. One adapter can serve all five SemEval-2018 tasks; a *classifier view* fixes one
task (and its :class:`LabelSet`) so that the run fits the :class:`EmotionClassifier` protocol and
the usual evaluation, serving and comparison code works on it task by task::

    clf = load_classifier("runs/instruct-smollm2", task="v-oc")   # view of the multi-task model
    clf.predict(["I love this!"])                                 # ["2"]

How each task is answered:

* **Classification** (E-c yes/no per emotion, EI-oc 0-3, V-oc -3..3) by *label scoring*
  (:mod:`emotune.models.label_scoring`): the log-likelihood of every allowed answer after the
  prompt, softmaxed over the answers. The prediction is always a valid label. E-c gives per
  emotion ``P(yes) / (P(yes) + P(no))``, so the trainer tunes multi-label thresholds on dev as
  for any backend.
* **Regression** (EI-reg, V-reg) by greedy generation, parsed *strictly* with
  :func:`emotune.data.instruct.parse_number` (a bare number inside 0-1). An answer that is not
  one is *invalid*: :meth:`InstructClassifier.predict_values` returns it as NaN with a validity
  mask; :meth:`predict_proba` (which must return numbers) replaces it by the midpoint of the
  range, a no-information guess, and counts it in :attr:`invalid_stats` and a warning. The
  ``emotune instruct evaluate`` report gives the invalid count and rate and scores invalid
  answers at the *worst case* (the range end farthest from the gold value) as its headline
  numbers, next to the as-served (midpoint) numbers.

EI tasks need the emotion: a view loaded with ``emotion="anger"`` asks about anger; otherwise
each text must carry it as a prefix, ``"anger: <tweet>"`` (the form ``data.text_prefix_col``
gives the encoder baselines).

Training data: the run's own dataset (the prepared train split) plus, with
``model.instruct.tasks``, the *train* splits of other SemEval-2018 tasks, or the rows of an
instruction file (``model.instruct.file``, e.g. from ``emotune instruct build``). Only SemEval
train rows are mixed in; SemEval train (the 2017 WASSA pool) never overlaps SemEval dev/test
(2018 tweets), and a dataset that is not SemEval cannot take extra tasks (WASSA test *is*
SemEval train). Extra rows whose text also occurs in dev are dropped and counted.

Saved: the adapter (``adapter_model.safetensors`` + ``adapter_config.json``), the tokenizer
(with its chat template) and, in ``emotune_model.json``, the base model name, the task views,
the prompt wording used at prediction and the system prompt. The base weights are referenced by
name (:func:`emotune.models.zoo.resolve_model`), never copied.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import (
    SEMEVAL_EMOTIONS, TASKS, InstructTask, get_task, parse_number, parse_tasks, read_instructions,
    rows_from_dataset, task_for_label_set, task_label_set,
)
from emotune.data.labels import LabelSet, Task
from emotune.errors import ConfigError, DataError, ModelError
from emotune.models.base import MODEL_META, EmotionClassifier

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"
STATE_DIR = "instruct"  # inside the trainer's checkpoint folder
_ANSWER_RESERVE = 12  # tokens kept free for the answer when a long text is cut


# -- prompts ------------------------------------------------------------------------------------
class Prompter:
    """Turns (instruction, text) into prompt token ids, the same way in training and prediction.

    With a chat template: ``[system, user]`` + the generation prompt; the answer follows, then the
    end-of-turn token (the tokenizer's EOS). Without one (base models): a plain
    ``### Instruction / ### Response`` layout. Long texts are cut, never the instruction.
    """

    def __init__(self, tokenizer, system: str, max_length: int):
        self.tokenizer = tokenizer
        self.system = system
        self.max_length = int(max_length)
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self._system_role = True

    def _render(self, instruction: str, text: str) -> list[int]:
        tok = self.tokenizer
        user = f"{instruction}\n\nText: {text}"
        if self.chat:
            messages = [{"role": "user", "content": user}]
            if self.system and self._system_role:
                try:
                    s = tok.apply_chat_template([{"role": "system", "content": self.system}, *messages],
                                                tokenize=False, add_generation_prompt=True)
                    return tok(s, add_special_tokens=False)["input_ids"]
                except Exception:  # noqa: BLE001 - templates that reject a system turn (Gemma)
                    self._system_role = False
            if self.system and not self._system_role:
                messages = [{"role": "user", "content": f"{self.system}\n\n{user}"}]
            s = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            return tok(s, add_special_tokens=False)["input_ids"]
        head = f"{self.system}\n\n" if self.system else ""
        return tok(f"{head}### Instruction:\n{user}\n\n### Response:\n")["input_ids"]

    def prompt_ids(self, instruction: str, text: str, reserve: int = _ANSWER_RESERVE) -> list[int]:
        ids = self._render(instruction, text)
        budget = self.max_length - reserve
        if len(ids) <= budget:
            return ids
        text_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        fixed = len(ids) - len(text_ids)
        keep = budget - fixed
        while keep > 0:
            ids = self._render(instruction, self.tokenizer.decode(text_ids[:keep]))
            if len(ids) <= budget:
                return ids
            keep -= max(1, len(ids) - budget)
        raise ConfigError(
            f"training.max_length={self.max_length} leaves no room for the text: the instruction and chat "
            f"markup alone take {fixed} tokens",
            hint="Raise training.max_length (the instruct presets use 384).")

    def answer_ids(self, answer: str) -> list[int]:
        return list(self.tokenizer(answer, add_special_tokens=False)["input_ids"])

    @property
    def eos_id(self) -> int:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ModelError("The tokenizer has no end-of-sequence token; the instruct backend needs one")
        return int(eos)


# -- the backend --------------------------------------------------------------------------------
class InstructClassifier(EmotionClassifier):
    backend = "instruct"
    reads_text_prefix = True  # "anger: <tweet>" tells an EI view its emotion

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None, *, task: str | None = None,
                 emotion: str | None = None):
        super().__init__(label_set, model_config, training_config)
        self.task_name = get_task(task).name if task else task_for_label_set(label_set)
        self.spec: InstructTask = TASKS[self.task_name]
        if emotion is not None and emotion not in SEMEVAL_EMOTIONS:
            raise ConfigError(f"Unknown emotion '{emotion}' for task {self.task_name}",
                              hint="Choose from " + ", ".join(SEMEVAL_EMOTIONS))
        self.emotion = emotion
        self._check_label_set()
        self.model = None  # PeftModel
        self.tokenizer = None
        self.prompter: Prompter | None = None
        self.base_model: str = self.model_config.name or DEFAULT_MODEL
        self.trained_tasks: list[str] = []
        self.templates: dict[str, list[str]] = {name: list(t.templates) for name, t in TASKS.items()}
        self.template: int = int(self.model_config.instruct.template)
        self.primary_task: str = self.task_name
        self.invalid_stats = {"answers": 0, "invalid": 0}

    def _check_label_set(self) -> None:
        t, names = self.spec, self.label_set.names
        if t.kind == "binary" and self.label_set.task != Task.MULTI:
            raise ModelError(f"Task 'ec' needs a multi-label label set, got {self.label_set.task.value}")
        if t.kind == "ordinal" and not set(names) <= set(t.answers):
            raise ModelError(f"Task '{t.name}' answers {list(t.answers)}; label set has {list(names)}")
        if t.is_regression and (self.label_set.task != Task.REGRESSION or len(names) != 1):
            raise ModelError(f"Task '{t.name}' predicts one value; label set has {list(names)}")

    # -- views ----------------------------------------------------------------------------------
    def view(self, task: str | None = None, emotion: str | None = None) -> InstructClassifier:
        """The same weights answering another task (its own label set; shares model and tokenizer)."""
        if task is None and emotion is None:
            return self
        name = get_task(task or self.primary_task).name
        ls = self.label_set if name == self.primary_task and name == self.task_name else task_label_set(name)
        other = InstructClassifier(ls, self.model_config, self.training_config, task=name, emotion=emotion)
        for attr in ("model", "tokenizer", "prompter", "base_model", "trained_tasks", "templates", "template",
                     "primary_task", "input_spec"):
            setattr(other, attr, getattr(self, attr))
        if name == self.task_name:
            other.thresholds = self.thresholds
        return other

    def describe(self) -> str:
        emo = f":{self.emotion}" if self.emotion else ""
        return f"instruct:{self.base_model}[{self.task_name}{emo}]"

    @property
    def max_length(self) -> int:
        """Tokens of *text* one prompt has room for (serving cuts longer texts into windows of this size)."""
        total = int(self.training_config.max_length)
        if self.prompter is None:
            return total
        emotion = "sadness" if self.spec.per_emotion else None  # the longest emotion name
        overhead = len(self.prompter._render(self._instruction(emotion), "")) + _ANSWER_RESERVE
        return max(8, total - overhead)

    # -- building ---------------------------------------------------------------------------------
    def _device_dtype(self):
        import torch

        from emotune.models import hf_common as hf

        device = hf.select_device()
        precision = hf.select_precision(self.training_config)
        dtype = hf.torch_dtype_for(precision) if device.type == "cuda" else torch.float32
        return device, dtype

    def _load_base(self, name: str):
        from transformers import AutoModelForCausalLM

        from emotune.models.zoo import resolve_model

        source = resolve_model(name)
        device, dtype = self._device_dtype()
        kwargs: dict = {"dtype": dtype}
        quant = self.model_config.quantization
        if quant != "none":
            if device.type != "cuda":
                raise ConfigError(f"model.quantization={quant} needs a CUDA GPU (bitsandbytes)",
                                  hint="Set model.quantization=none on CPU.")
            import torch
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=quant == "4bit", load_in_8bit=quant == "8bit", bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=self.model_config.double_quant,
                bnb_4bit_compute_dtype=torch.bfloat16 if dtype == torch.float32 else dtype)
            kwargs["device_map"] = {"": 0}
        try:
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelError(f"Could not load the causal LM '{name}' ({source}): {exc}") from None
        if quant == "none":
            model.to(device)
        else:
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(
                model, use_gradient_checkpointing=self.model_config.gradient_checkpointing)
        return model, source

    def _set_tokenizer(self, tokenizer) -> None:
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.tokenizer = tokenizer
        self.prompter = Prompter(tokenizer, self.model_config.prompt.system, self.training_config.max_length)

    def build(self) -> None:
        """Base model + a fresh LoRA adapter, or the adapter of an instruct run named by ``model.name``."""
        import torch
        from peft import LoraConfig, PeftModel, TaskType, get_peft_model
        from transformers import AutoTokenizer

        lora = self.model_config.lora
        if not lora.enabled:
            raise ConfigError("The instruct backend trains a LoRA adapter: set model.lora.enabled=true")
        previous = _instruct_model_dir(self.model_config.name)
        torch.manual_seed(self.training_config.seed)
        if previous is not None:  # continue from (or only evaluate) an instruct run
            meta = json.loads((previous / MODEL_META).read_text(encoding="utf-8"))
            info = meta["instruct"]
            self.base_model = info["base_model"]
            self.trained_tasks = list(info.get("tasks", []))
            self.templates = info.get("templates", self.templates)
            base, _ = self._load_base(self.base_model)
            self.model = PeftModel.from_pretrained(base, str(previous), is_trainable=True)
            self._set_tokenizer(AutoTokenizer.from_pretrained(str(previous)))
            return
        self.base_model = self.model_config.name or DEFAULT_MODEL
        base, source = self._load_base(self.base_model)
        self._set_tokenizer(AutoTokenizer.from_pretrained(source))
        if self.model_config.gradient_checkpointing:
            base.gradient_checkpointing_enable()
            base.enable_input_require_grads()
        config = LoraConfig(task_type=TaskType.CAUSAL_LM, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                            target_modules=lora.target_modules)
        try:
            self.model = get_peft_model(base, config)
        except ValueError as exc:
            raise ConfigError(f"LoRA does not fit {self.base_model}: {exc}",
                              hint="Set model.lora.target_modules to the attention projections of this architecture.") from None

    # -- training data ----------------------------------------------------------------------------
    def _extra_rows(self, train: EmotionDataset) -> list[dict]:
        ic = self.model_config.instruct
        if not ic.tasks and not ic.file:
            return []
        if ic.tasks and ic.file:
            raise ConfigError("Set model.instruct.tasks or model.instruct.file, not both")
        if not str(self.label_set.name).startswith("semeval-"):
            raise ConfigError(
                f"Extra instruction tasks come from SemEval-2018 train, which overlaps '{self.label_set.name}' "
                "(SemEval EI train is the whole WASSA-2017 set): they would leak into its test split",
                hint="Train multi-task instruct runs on a SemEval-2018 dataset (semeval-ec, semeval-ei-reg, ...).")
        if ic.file:
            rows = read_instructions(ic.file)
            bad = [r for r in rows if r["split"] != "train"]
            if bad:
                raise DataError(f"{ic.file}: row {bad[0]['id']!r} is from split '{bad[0]['split']}'; only train "
                                "rows may be mixed into training")
            return [r for r in rows if r["task"] != self.task_name]
        from emotune.data.registry import load_dataset

        rows = []
        for name in parse_tasks(ic.tasks):
            if name == self.task_name:
                continue
            ds = load_dataset(TASKS[name].dataset).split("train")
            rows += rows_from_dataset(ds, name, split="train", seed=self.training_config.seed,
                                      templates_per_task=ic.templates_per_task, max_items=ic.max_per_task,
                                      templates=self.templates.get(name))
        return rows

    def _features(self, row: dict) -> dict:
        answer = self.prompter.answer_ids(row["output"]) + [self.prompter.eos_id]
        prompt = self.prompter.prompt_ids(row["instruction"], row["input"], reserve=len(answer))
        return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + answer}

    # -- protocol: fit --------------------------------------------------------------------------
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *, output_dir=None,
            resume: bool = False) -> list[dict]:
        from emotune.models import hf_common as hf

        hf.setup_threads(self.training_config)
        extra = self._extra_rows(train)  # configuration and data errors before the model loads
        self._emotion_from(train)
        ic = self.model_config.instruct
        rows = rows_from_dataset(train, self.task_name, split="train", seed=self.training_config.seed,
                                 templates_per_task=ic.templates_per_task, emotion=self.emotion,
                                 templates=self.templates.get(self.task_name))
        if self.model is None:
            self.build()
        dropped = 0
        if extra:
            # Tweets recur across SemEval tasks (a few E-c test tweets are EI train tweets): no
            # training row of a multi-task model may be a dev/test text of any task it covers.
            held_out = self._held_out_keys({r["task"] for r in extra} | {self.task_name}, dev)
            before = len(rows) + len(extra)
            rows = [r for r in rows if _key(r["input"]) not in held_out]
            extra = [r for r in extra if _key(r["input"]) not in held_out]
            dropped = before - len(rows) - len(extra)
            if dropped:
                log.warning("dropped %d training rows whose text is a dev/test text of a trained task", dropped)
        rows += extra
        counts: dict[str, int] = {}
        for r in rows:
            counts[r["task"]] = counts.get(r["task"], 0) + 1
        self.trained_tasks = sorted(set(self.trained_tasks) | set(counts), key=list(TASKS).index)
        epochs = float(self.training_config.epochs)
        if (epochs <= 0 and self.training_config.max_steps <= 0) or not rows:
            return [{"epoch": 0, "rows": counts, "note": "no training (epochs=0): evaluated as loaded"}]
        evaluate = (lambda: self._dev_metrics(dev)) if dev is not None and len(dev) else None
        history = self._train_loop(rows, evaluate, output_dir=output_dir, resume=resume)
        if history:
            history[0] = {**history[0], "rows": counts, "rows_dropped_held_out_overlap": dropped}
        return history

    @staticmethod
    def _held_out_keys(tasks: set[str], dev: EmotionDataset | None) -> set[str]:
        """Normalised dev and test texts of the SemEval ``tasks`` (and of the run's own dev)."""
        from emotune.data.registry import load_dataset

        keys: set[str] = set()
        for name in tasks:
            ds = load_dataset(TASKS[name].dataset)
            keys |= {_key(t) for t, s in zip(ds.frame["text"], ds.frame["split"]) if s in ("dev", "test")}
        if dev is not None:
            col = "text_original" if "text_original" in dev.frame.columns else "text"
            keys |= {_key(t) for t in dev.frame[col]}
        return keys

    def _emotion_from(self, train: EmotionDataset) -> None:
        """EI tasks: texts must say their emotion ("anger: ..."), unless the data has a single emotion."""
        if not self.spec.per_emotion or self.spec.kind == "binary" or self.emotion is not None:
            return
        prefixes = tuple(e + ": " for e in SEMEVAL_EMOTIONS)
        if all(str(t).lower().startswith(prefixes) for t in train.texts[:200]):
            return
        emotions = set(train.frame["emotion"].astype(str)) if "emotion" in train.frame.columns else set()
        if len(emotions) == 1:
            self.emotion = emotions.pop()
            return
        raise ConfigError(
            f"Task {self.task_name} with several emotions needs the emotion in the text",
            hint="Set data.text_prefix_col: emotion (texts become 'anger: ...'), or pick one emotion with "
                 "data.options.emotion.")

    def _dev_metrics(self, dev: EmotionDataset) -> dict:
        from emotune.metrics import compute_metrics

        before = dict(self.invalid_stats)
        scores = self.predict_proba(dev.texts, batch_size=self.training_config.eval_batch_size)
        out = compute_metrics(self.label_set, dev.y(), scores)
        if self.spec.is_regression:
            n = self.invalid_stats["answers"] - before["answers"]
            out["invalid_rate"] = (self.invalid_stats["invalid"] - before["invalid"]) / max(n, 1)
        return out

    def _train_loop(self, rows: list[dict], evaluate, *, output_dir, resume: bool) -> list[dict]:
        import torch
        from peft import get_peft_model_state_dict, set_peft_model_state_dict
        from transformers import get_linear_schedule_with_warmup

        from emotune.models import hf_common as hf

        tc = self.training_config
        model = self.model
        device = hf.model_device(model)
        feats = [self._features(r) for r in rows]
        bs, accum = max(1, tc.batch_size), max(1, tc.grad_accum)
        batches_per_epoch = math.ceil(len(feats) / bs)
        steps_per_epoch = max(1, math.ceil(batches_per_epoch / accum))
        total = tc.max_steps if tc.max_steps > 0 else max(1, math.ceil(float(tc.epochs) * steps_per_epoch))
        n_epochs = math.ceil(total / steps_per_epoch)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=tc.learning_rate, weight_decay=tc.weight_decay)
        warmup = int(round(tc.warmup_ratio * total)) if tc.warmup_ratio < 1 else int(tc.warmup_ratio)
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total)
        metric = hf.resolve_metric(self.label_set, tc.metric)
        higher = hf.greater_is_better(metric)
        precision = hf.select_precision(tc) if device.type == "cuda" else "fp32"
        autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        pad = self.tokenizer.pad_token_id

        state = {"epoch": 0, "step": 0, "best": None, "bad_epochs": 0, "history": []}
        best_weights = None
        already = 0
        folder = Path(output_dir) / STATE_DIR if output_dir is not None else None
        if resume and folder is not None and (folder / "state.json").is_file():
            state, best_weights = _load_state(folder, model, optimizer, scheduler, device)
            log.info("resuming instruct training after epoch %d (step %d)", state["epoch"], state["step"])
        already = len(state["history"])  # rows the caller has from the interrupted run

        progress = _progress(total, f"instruct {self.describe()}")
        if progress is not None:
            progress.start()
            bar = progress.add_task("train", total=total, completed=state["step"])
        try:
            for epoch in range(state["epoch"], n_epochs):
                if state["step"] >= total:
                    break
                model.train()
                batches = _batches(feats, bs, seed=tc.seed + epoch, by_length=tc.group_by_length)
                loss_sum, loss_n = 0.0, 0
                optimizer.zero_grad(set_to_none=True)
                for b, idx in enumerate(batches):
                    ids, mask, labels = _collate([feats[i] for i in idx], pad)
                    with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
                        loss = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                                     labels=labels.to(device)).loss
                    if not torch.isfinite(loss):
                        raise ModelError(f"The training loss became {loss.item()} at step {state['step']}",
                                         hint="Lower training.learning_rate or use precision=fp32.")
                    (scaler.scale(loss / accum) if scaler else loss / accum).backward()
                    loss_sum += float(loss.detach())
                    loss_n += 1
                    if (b + 1) % accum == 0 or b + 1 == len(batches):
                        if scaler:
                            scaler.unscale_(optimizer)
                        torch.nn.utils.clip_grad_norm_(params, 1.0)
                        if scaler:
                            scaler.step(optimizer)
                            scaler.update()
                        else:
                            optimizer.step()
                        scheduler.step()
                        optimizer.zero_grad(set_to_none=True)
                        state["step"] += 1
                        if progress is not None:
                            progress.update(bar, completed=state["step"],
                                            description=f"epoch {epoch + 1} loss {loss_sum / loss_n:.4f}")
                        if state["step"] >= total:
                            break
                row: dict = {"epoch": epoch + 1, "train_loss": loss_sum / max(loss_n, 1), "steps": state["step"]}
                if evaluate is not None:
                    dev_scores = evaluate()
                    row.update({f"dev_{k}": float(v) for k, v in dev_scores.items()})
                    value = dev_scores.get(metric)
                    if value is not None and (state["best"] is None or (value > state["best"] if higher
                                                                          else value < state["best"])):
                        state["best"], state["bad_epochs"] = float(value), 0
                        best_weights = {k: v.detach().to("cpu").clone()
                                        for k, v in get_peft_model_state_dict(model).items()}
                        row["best"] = True
                    else:
                        state["bad_epochs"] += 1
                state["history"].append(row)
                state["epoch"] = epoch + 1
                if folder is not None:
                    _save_state(folder, state, model, optimizer, scheduler, best_weights)
                if evaluate is not None and 0 < tc.early_stopping_patience <= state["bad_epochs"]:
                    log.info("early stopping after epoch %d", epoch + 1)
                    break
        finally:
            if progress is not None:
                progress.stop()
        if best_weights is not None:
            set_peft_model_state_dict(model, best_weights)
        model.eval()
        return list(state["history"][already:])

    # -- protocol: predict ------------------------------------------------------------------------
    def _require_model(self) -> None:
        if self.model is None:
            raise ModelError("The instruct model is not trained: call fit() or load a trained run")

    def _split_emotion(self, text: str) -> tuple[str | None, str]:
        """(emotion, bare text): the view's emotion, or the ``"anger: "`` prefix of the text."""
        head, sep, rest = str(text).partition(": ")
        prefixed = head.strip().lower() if sep else None
        if self.emotion:
            return self.emotion, rest if prefixed == self.emotion else str(text)
        if not self.spec.per_emotion or self.spec.kind == "binary":
            return None, str(text)
        if prefixed in SEMEVAL_EMOTIONS:
            return prefixed, rest
        raise ModelError(
            f"Task {self.task_name} needs the emotion: got a text without an 'anger: ' / 'fear: ' / 'joy: ' / "
            f"'sadness: ' prefix ({str(text)[:40]!r})",
            hint="Prefix each text with its emotion, or load the view with emotion='anger' (--emotion).")

    def _instruction(self, emotion: str | None) -> str:
        text = self.templates[self.task_name][min(self.template, len(self.templates[self.task_name]) - 1)]
        return replace(self.spec, templates=(text,)).instruction(0, emotion)

    def _scoring_model(self):
        # LoRA layers live inside the base model, so scoring the base module includes the adapter;
        # its forward() takes a key/value cache, which lets the scorer reuse the prompt's cache.
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def _answer_ids(self, answers: Sequence[str]) -> list[list[int]]:
        from emotune.models.label_scoring import check_distinct

        ids = [self.prompter.answer_ids(a) for a in answers]
        prefix = any(i != j and len(a) < len(b) and tuple(b[:len(a)]) == tuple(a)
                     for i, a in enumerate(ids) for j, b in enumerate(ids))
        if prefix:  # "1" vs "10": score complete answers, end-of-turn included
            ids = [a + [self.prompter.eos_id] for a in ids]
        check_distinct(ids, list(answers))
        return ids

    def answer_logliks(self, texts: Sequence[str], answers: Sequence[str], *, emotions: Sequence[str | None],
                       batch_size: int | None = None) -> np.ndarray:
        """(n, len(answers)) log-likelihoods; ``emotions[i]`` fills the instruction of text ``i``."""
        from emotune.models.label_scoring import causal_logliks

        prompts = [self.prompter.prompt_ids(self._instruction(e), t) for t, e in zip(texts, emotions)]
        return causal_logliks(self._scoring_model(), prompts, self._answer_ids(answers),
                              batch_size=batch_size or self.training_config.eval_batch_size)

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        self._require_model()
        texts = [str(t) for t in texts]
        n, k = len(texts), len(self.label_set)
        if n == 0:
            return np.zeros((0, k))
        t = self.spec
        if t.kind == "binary":
            emotions = list(self.label_set.names)
            flat = [text for text in texts for _ in emotions]
            ll = self.answer_logliks(flat, ["no", "yes"], emotions=emotions * n, batch_size=batch_size)
            return _softmax(ll)[:, 1].reshape(n, k)
        if t.kind == "ordinal":
            pairs = [self._split_emotion(x) for x in texts]
            ll = self.answer_logliks([p[1] for p in pairs], list(self.label_set.names),
                                     emotions=[p[0] for p in pairs], batch_size=batch_size)
            return _softmax(ll)
        values, valid = self.predict_values(texts, batch_size=batch_size)
        if not valid.all():
            lo, hi = t.value_range
            log.warning("%d of %d %s answers were not a number in [%g, %g]; served as the midpoint %.2f",
                        int((~valid).sum()), n, t.name, lo, hi, (lo + hi) / 2)
            values = np.where(valid, values, (lo + hi) / 2)
        return values.reshape(n, 1)

    def generate(self, texts: Sequence[str], batch_size: int | None = None) -> list[str]:
        """Greedy answers (decoded, special tokens dropped) for this view's task."""
        import torch

        self._require_model()
        pairs = [self._split_emotion(x) for x in texts]
        prompts = [self.prompter.prompt_ids(self._instruction(e), t) for e, t in pairs]
        pad, eos = self.tokenizer.pad_token_id, self.prompter.eos_id
        model = self._scoring_model()
        device = next(model.parameters()).device
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: list[str] = [""] * len(prompts)
        bs = max(1, batch_size or self.training_config.eval_batch_size)
        was_training = model.training
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), bs):
                idx = order[start:start + bs]
                width = max(len(prompts[i]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for r, i in enumerate(idx):  # left padding: every prompt ends where generation starts
                    ids[r, width - len(prompts[i]):] = torch.tensor(prompts[i])
                    mask[r, width - len(prompts[i]):] = 1
                gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                     max_new_tokens=self.model_config.prompt.max_new_tokens, pad_token_id=pad,
                                     eos_token_id=eos, num_beams=1)
                for r, i in enumerate(idx):
                    out[i] = self.tokenizer.decode(gen[r, width:], skip_special_tokens=True)
        if was_training:
            model.train()
        return out

    def predict_values(self, texts: Sequence[str], batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Regression views: (values with NaN where the answer was invalid, validity mask)."""
        if not self.spec.is_regression:
            raise ModelError(f"Task {self.task_name} is a classification task; use predict_proba")
        answers = self.generate(texts, batch_size=batch_size)
        parsed = [parse_number(a, self.spec.value_range) for a in answers]
        valid = np.array([p is not None for p in parsed], dtype=bool)
        values = np.array([np.nan if p is None else p for p in parsed], dtype=float)
        self.invalid_stats["answers"] += len(answers)
        self.invalid_stats["invalid"] += int((~valid).sum())
        self.last_answers = answers
        return values, valid

    # -- persistence ------------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        self._require_model()
        self.model.save_pretrained(str(path), safe_serialization=True)
        self.tokenizer.save_pretrained(str(path))
        return {"instruct": {
            "task": self.task_name, "emotion": self.emotion, "primary_task": self.primary_task,
            "tasks": self.trained_tasks, "base_model": self.base_model, "template": self.template,
            "templates": self.templates, "system": self.model_config.prompt.system,
            "label_sets": {name: task_label_set(name).to_dict() for name in self.trained_tasks},
            "invalid_stats": self.invalid_stats,
        }}

    @classmethod
    def _load(cls, path: Path, meta: dict, task: str | None = None, emotion: str | None = None,
              **kwargs) -> InstructClassifier:
        from peft import PeftModel
        from transformers import AutoTokenizer

        label_set, model_config, training_config = cls.configs_from_meta(meta)
        info = meta.get("instruct") or {}
        primary = info.get("task") or task_for_label_set(label_set)
        name = get_task(task).name if task else primary
        if name != primary:
            label_set = task_label_set(name)
            if info.get("tasks") and name not in info["tasks"]:
                log.warning("task %s was not among the trained tasks %s", name, info["tasks"])
        clf = cls(label_set, model_config, training_config, task=name,
                  emotion=emotion if emotion is not None else (info.get("emotion") if name == primary else None))
        clf.primary_task = primary
        clf.base_model = info.get("base_model") or model_config.name or DEFAULT_MODEL
        clf.trained_tasks = list(info.get("tasks") or [primary])
        clf.templates = info.get("templates") or clf.templates
        clf.template = int(info.get("template", clf.template))
        base, _ = clf._load_base(clf.base_model)
        clf.model = PeftModel.from_pretrained(base, str(path), is_trainable=False)
        clf.model.eval()
        clf._set_tokenizer(AutoTokenizer.from_pretrained(str(path)))
        clf.prompter.system = info.get("system", clf.prompter.system)
        return clf

    def _restore_common(self, meta: dict) -> None:
        # thresholds were tuned for the run's own task; another task's view must not inherit them
        if self.task_name == self.primary_task:
            super()._restore_common(meta)


# -- helpers --------------------------------------------------------------------------------------
def _key(text: str) -> str:
    """The normalised form the splitter compares texts by."""
    from emotune.data.cleaning import clean_text
    from emotune.data.splits import normalize_for_dedup

    return normalize_for_dedup(clean_text(str(text)))


def _softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=1, keepdims=True)


def _instruct_model_dir(name: str | None) -> Path | None:
    """The model directory when ``name`` is an instruct run (or its model dir), else None."""
    if not name:
        return None
    path = Path(name).expanduser()
    for cand in (path, path / "model"):
        meta = cand / MODEL_META
        if meta.is_file():
            try:
                backend = json.loads(meta.read_text(encoding="utf-8")).get("backend")
            except (OSError, json.JSONDecodeError):
                return None
            if backend != "instruct":
                raise ConfigError(f"{name} is a '{backend}' run; model.name must be a causal LM or an instruct run")
            return cand
    return None


def _batches(feats: list[dict], bs: int, *, seed: int, by_length: bool) -> list[list[int]]:
    """Shuffled batches; with ``by_length`` rows of similar length share a batch (less padding)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(feats)).tolist()
    if by_length:
        pool = bs * 50
        chunks = [sorted(order[i:i + pool], key=lambda j: len(feats[j]["input_ids"])) for i in range(0, len(order), pool)]
        order = [j for c in chunks for j in c]
    batches = [order[i:i + bs] for i in range(0, len(order), bs)]
    if by_length:
        rng.shuffle(batches)
    return batches


def _collate(items: list[dict], pad: int):
    import torch

    width = max(len(x["input_ids"]) for x in items)
    ids = torch.full((len(items), width), pad, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for r, x in enumerate(items):
        m = len(x["input_ids"])
        ids[r, :m] = torch.tensor(x["input_ids"])
        mask[r, :m] = 1
        labels[r, :m] = torch.tensor(x["labels"])
    return ids, mask, labels


def _progress(total: int, description: str):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=True)


def _save_state(folder: Path, state: dict, model, optimizer, scheduler, best_weights) -> None:
    """Epoch-boundary checkpoint: adapter + best adapter (safetensors), optimizer/scheduler, counters."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    current = {k: v.detach().to("cpu").contiguous() for k, v in get_peft_model_state_dict(model).items()}
    save_file(current, str(folder / "adapter.safetensors"))
    if best_weights is not None:
        save_file({k: v.contiguous() for k, v in best_weights.items()}, str(folder / "best.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, folder / "optimizer.pt")
    tmp = folder / "state.json.tmp"
    tmp.write_text(json.dumps({**state, "saved_at": time.time()}, indent=2) + "\n", encoding="utf-8")
    tmp.replace(folder / "state.json")  # last: a state.json always has complete weights beside it


def _load_state(folder: Path, model, optimizer, scheduler, device):
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    set_peft_model_state_dict(model, {k: v.to(device) for k, v in load_file(str(folder / "adapter.safetensors")).items()})
    opt = torch.load(folder / "optimizer.pt", map_location=device, weights_only=True)
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    best = load_file(str(folder / "best.safetensors")) if (folder / "best.safetensors").is_file() else None
    return state, best


# -- evaluation of a view (used by `emotune instruct evaluate`) -----------------------------------
def evaluate_view(clf: InstructClassifier, ds: EmotionDataset, batch_size: int | None = None,
                  groups: Sequence[str] | None = None) -> dict:
    """Metrics of one task view on ``ds``; regression reports invalid answers explicitly.

    Regression headline (``metrics``): invalid answers scored at the worst case, the end of the
    value range farthest from the gold value. Also: ``metrics_as_served`` (invalid -> midpoint,
    what predict_proba returns), ``metrics_valid_only`` (invalid rows excluded, with their count).
    ``groups`` (one name per row, e.g. the emotion) adds ``per_group`` headline metrics computed
    from the same predictions.
    """
    from emotune.metrics import compute_metrics

    y = ds.y()
    out: dict = {"task": clf.task_name, "emotion": clf.emotion, "n": len(ds)}
    if not clf.spec.is_regression:
        scores = clf.predict_proba(ds.texts, batch_size=batch_size)
    else:
        values, valid = clf.predict_values(ds.texts, batch_size=batch_size)
        gold = np.asarray(y, dtype=float).reshape(-1)
        lo, hi = clf.spec.value_range
        worst = np.where(gold - lo > hi - gold, lo, hi)
        scores = np.where(valid, values, worst).reshape(-1, 1)
        out["invalid"] = int((~valid).sum())
        out["invalid_rate"] = float((~valid).mean()) if len(valid) else 0.0
        out["invalid_examples"] = [a for a, ok in zip(getattr(clf, "last_answers", []), valid) if not ok][:5]
        out["metrics_as_served"] = compute_metrics(clf.label_set, y,
                                                   np.where(valid, values, (lo + hi) / 2).reshape(-1, 1))
        if valid.sum() >= 2:
            out["metrics_valid_only"] = compute_metrics(clf.label_set, y[valid], values[valid].reshape(-1, 1))
    out["metrics"] = compute_metrics(clf.label_set, y, scores, clf.thresholds)
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        out["per_group"] = {str(g): compute_metrics(clf.label_set, y[groups == g], scores[groups == g], clf.thresholds)
                            for g in dict.fromkeys(groups.tolist()) if (groups == g).sum() >= 2}
    return out


def evaluate_run(run: str | Path, tasks: str | Sequence[str] | None = None, *, split: str = "test",
                 max_rows: int | None = None, seed: int = 0, batch_size: int | None = None,
                 data_root: str | Path | None = None, on_task=None) -> dict:
    """Evaluate an instruct run task by task on the official SemEval-2018 ``split``.

    The weights load once; every task gets its classifier view. EI tasks are scored on all four
    emotions (texts as ``"anger: <tweet>"``), with per-emotion metrics too (the official EI score
    is the mean of the per-emotion Pearson correlations). ``max_rows`` scores a seeded sample.
    """
    from emotune.data.registry import load_dataset
    from emotune.runs import Run

    first = Run.open(run).load()
    if not isinstance(first, InstructClassifier):
        raise ModelError(f"{run} is not an instruct run (backend '{first.backend}')")
    names = parse_tasks(tasks) if tasks else list(first.trained_tasks or [first.primary_task])
    out: dict = {"run": str(run), "split": split, "max_rows": max_rows, "tasks": {}}
    for name in names:
        t = TASKS[name]
        ds = load_dataset(t.dataset, data_root=data_root) if data_root is not None else load_dataset(t.dataset)
        ds = ds.split(split)
        if max_rows is not None:
            ds = ds.sample(max_rows, seed=seed)
        if t.per_emotion and t.kind != "binary":
            frame = ds.frame.copy()
            frame["text"] = [f"{e}: {x}" for e, x in zip(frame["emotion"], frame["text"])]
            ds = ds.with_frame(frame)
        view = first.view(name)
        if on_task:
            on_task(name, len(ds))
        groups = ds.frame["emotion"].tolist() if t.per_emotion and t.kind != "binary" else None
        res = evaluate_view(view, ds, batch_size=batch_size, groups=groups)
        if groups is not None:  # the official EI score: mean of the per-emotion Pearson correlations
            key = "pearson" if t.is_regression else "f1_macro"
            per = [m[key] for m in res["per_group"].values() if key in m]
            res[f"{key}_mean_over_emotions"] = float(np.mean(per)) if per else None
        out["tasks"][name] = res
    return out
