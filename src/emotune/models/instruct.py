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
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.instruct import (
    EC_EMOTIONS, SEMEVAL_EMOTIONS, TASKS, InstructTask, ec_task, get_task, parse_checklist, parse_number, parse_tasks,
    read_instructions, rows_from_dataset, task_for_label_set, task_label_set,
)
from emotune.data.labels import LabelSet, Task
from emotune import runtime
from emotune.errors import ConfigError, DataError, ModelError
from emotune.metrics import softmax
from emotune.models.base import MODEL_META, EmotionClassifier
from emotune.models.causal_lm import lora_targets
from emotune.models.instruct_prompt import ANSWER_RESERVE, AnswerCollator, Checklist, Prompter

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"


# -- the backend --------------------------------------------------------------------------------
class InstructClassifier(EmotionClassifier):
    backend = "instruct"
    trains_distributed = True
    reads_text_prefix = True  # "anger: <tweet>" tells an EI view its emotion

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None, *, task: str | None = None,
                 emotion: str | None = None):
        super().__init__(label_set, model_config, training_config)
        self.task_name = get_task(task).name if task else task_for_label_set(label_set)
        self.spec: InstructTask = TASKS[self.task_name]
        self.ec_format = "questions"  # E-c emotion by emotion, or one checklist row (data.instruct.ec_task)
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
        self._set_ec_format(self.model_config.instruct.ec_format, templates=True)
        self.template: int = int(self.model_config.instruct.template)
        self.primary_task: str = self.task_name
        self.invalid_stats = {"answers": 0, "invalid": 0}
        self.last_answers: list[str] = []  # the raw generated answers of the last predict_values call

    def _set_ec_format(self, ec_format: str, templates: bool = False) -> None:
        """The E-c format (of the config, or of the run the weights come from) and its task spec / wordings."""
        self.ec_format = ec_format
        self.spec = ec_task(ec_format) if self.task_name == "ec" else self.spec
        if templates:
            self.templates["ec"] = list(ec_task(ec_format).templates)

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
        other._set_ec_format(self.ec_format)
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
        overhead = len(self.prompter._render(self._instruction(emotion), "")) + ANSWER_RESERVE
        return max(8, total - overhead)

    # -- building ---------------------------------------------------------------------------------
    def _device_dtype(self):
        import torch

        device = runtime.select_device()
        precision = runtime.select_precision(self.training_config)
        dtype = runtime.torch_dtype_for(precision) if device.type == "cuda" else torch.float32
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
            self._set_ec_format(info.get("ec_format", "questions"))
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
                            target_modules=lora_targets(base, lora.target_modules))
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
                                      templates=self.templates.get(name), ec_format=self.ec_format)
        return rows

    def _features(self, row: dict) -> dict:
        checklist = parse_checklist(row["output"]) if row.get("task") == "ec" else None
        if checklist is not None:
            answer, labels = Checklist(self.tokenizer, EC_EMOTIONS).answer(list(checklist.values()), self.prompter.eos_id)
        else:
            answer = labels = self.prompter.answer_ids(row["output"]) + [self.prompter.eos_id]
        prompt = self.prompter.prompt_ids(row["instruction"], row["input"], reserve=len(answer))
        return {"input_ids": prompt + answer, "labels": [-100] * len(prompt) + labels}

    # -- protocol: fit --------------------------------------------------------------------------
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *, output_dir=None,
            resume: bool = False) -> list[dict]:
        runtime.setup_threads(self.training_config)
        extra = self._extra_rows(train)  # configuration and data errors before the model loads
        self._emotion_from(train)
        ic = self.model_config.instruct
        rows = rows_from_dataset(train, self.task_name, split="train", seed=self.training_config.seed,
                                 templates_per_task=ic.templates_per_task, emotion=self.emotion,
                                 templates=self.templates.get(self.task_name), ec_format=self.ec_format)
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
        history = self._train(rows, dev, output_dir=output_dir, resume=resume)
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

    def _train(self, rows: list[dict], dev: EmotionDataset | None, *, output_dir, resume: bool) -> list[dict]:
        """The shared Trainer on ``instruction + text -> answer`` rows, loss on the answer tokens only;
        dev is scored by label scoring / generation (:meth:`_dev_metrics`), not by the LM loss."""
        from emotune.models.hf.checkpoints import checkpoint_dir, work_dir
        from emotune.models.hf.loss import answer_lm_loss
        from emotune.models.hf.trainer import run_trainer, trained_model

        has_dev = dev is not None and len(dev) > 0
        # kept after a finished run (adapter-sized): a later run may continue it with more epochs
        with work_dir(checkpoint_dir(output_dir), keep=True) as root:
            result = run_trainer(
                self.model, self.tokenizer, [self._features(r) for r in rows], dev if has_dev else None,
                label_set=self.label_set, training=self.training_config, output_dir=root, resume=resume,
                description=f"instruct {self.describe()}", data_collator=AnswerCollator(self.tokenizer.pad_token_id),
                loss=answer_lm_loss, dev_scorer=(lambda model: self._dev_metrics(dev)) if has_dev else None,
                # the last checkpoint (not only the best one) stays, to continue from
                args_overrides={"remove_unused_columns": False, "save_total_limit": 2},
                save_checkpoints=output_dir is not None)
        self.model = trained_model(result, self)
        self.model.eval()
        return result.history

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
        if t.kind == "binary" and self.ec_format == "checklist":
            from emotune.models.label_scoring import checklist_scores

            checklist = Checklist(self.tokenizer, EC_EMOTIONS)
            prompts = [self.prompter.prompt_ids(self._instruction(None), x) for x in texts]
            p = checklist_scores(self._scoring_model(), prompts, checklist.slots, (checklist.no, checklist.yes),
                                 batch_size=batch_size or self.training_config.eval_batch_size)
            return p[:, [checklist.emotions.index(name) for name in self.label_set.names]]
        if t.kind == "binary":
            emotions = list(self.label_set.names)
            flat = [text for text in texts for _ in emotions]
            ll = self.answer_logliks(flat, ["no", "yes"], emotions=emotions * n, batch_size=batch_size)
            return softmax(ll)[:, 1].reshape(n, k)
        if t.kind == "ordinal":
            pairs = [self._split_emotion(x) for x in texts]
            ll = self.answer_logliks([p[1] for p in pairs], list(self.label_set.names),
                                     emotions=[p[0] for p in pairs], batch_size=batch_size)
            return softmax(ll)
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

    def generation_stats(self) -> dict:
        return dict(self.invalid_stats)

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
            "templates": self.templates, "ec_format": self.ec_format, "system": self.model_config.prompt.system,
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
        clf._set_ec_format(info.get("ec_format", "questions"))  # runs from before the checklist asked E-c by question
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
