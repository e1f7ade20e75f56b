"""Backend ``prompt``: zero-/k-shot prompting of an instruction-tuned LLM, scored by label likelihood.

The conversation is built with the tokenizer's own chat template: the system prompt
(``model.prompt.system``), then ``model.prompt.shots`` examples per class drawn from train with
the training seed as earlier user/assistant turns, then the text to classify. Each user turn is
the instruction (``model.prompt.instruction``, with ``{labels}`` listing the verbalisers) followed
by ``Text: ...``. Models without a chat template (base models) get the same content as plain
``Text: ... / Answer: ...`` lines.

The answer is never generated and parsed. Every label's verbaliser (its name in lower case) is
scored as the assistant's reply, end-of-turn token included, with
:func:`emotune.models.label_scoring.causal_logliks`, which computes the part of the prompt shared
by all texts (system prompt, examples, instruction) once. ``predict_proba`` is the softmax over
the labels' log-likelihoods, so the prediction is always a valid label.

Options (``model.prompt.*``):

- ``length_normalize`` (default off): rank by mean instead of summed token log-probability, so
  that labels split into more tokens are not penalised for their length.
- ``calibrate`` (default off): contextual calibration (Zhao et al., 2021, "Calibrate Before
  Use"): the label distribution the prompt gives a content-free text (``N/A``) is divided out, which
  removes the prompt's prior bias towards some labels.

``fit`` only draws the examples (zero-shot learns nothing). A saved model is a JSON file with the
base model's name, the prompt settings and the drawn examples; loading resolves the base model
again through the model zoo, and reproduces the same predictions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from emotune.data.dataset import EmotionDataset
from emotune.data.labels import LabelSet, Task
from emotune import runtime
from emotune.errors import ModelError
from emotune.metrics import softmax
from emotune.models.hf.resources import quiet_hf
from emotune.models import label_scoring as ls
from emotune.models.base import EmotionClassifier

log = logging.getLogger(__name__)

DEFAULT_MODEL = "smollm2"
PROMPT_FILE = "prompt.json"
CONTENT_FREE = "N/A"
PLAIN_ANSWER = "Answer:"


def verbalizer(label: str) -> str:
    return label.replace("_", " ").strip().lower()


def draw_examples(train: EmotionDataset, shots: int, seed: int) -> list[dict]:
    """``shots`` training examples per label (fewer when train has fewer), in a seeded random order.

    Multi-label: examples with that label alone are preferred, so that each example's answer is
    one label, as the instruction asks. The order is shuffled so that the last example (the one
    small models copy most) is not always the same class.
    """
    if shots <= 0:
        return []
    rng = np.random.default_rng(seed)
    label_rows = list(train.frame["labels"])
    texts = train.texts
    picked: list[dict] = []
    for lab in train.label_set.names:
        alone = [i for i, labs in enumerate(label_rows) if tuple(labs) == (lab,)]
        pool = alone or [i for i, labs in enumerate(label_rows) if lab in labs]
        if not pool:
            continue
        for i in sorted(rng.choice(len(pool), size=min(shots, len(pool)), replace=False).tolist()):
            picked.append({"text": str(texts[pool[i]]), "label": lab})
    order = rng.permutation(len(picked)).tolist()
    return [picked[i] for i in order]


class PromptClassifier(EmotionClassifier):
    backend = "prompt"
    trainable = False

    def __init__(self, label_set: LabelSet, model_config=None, training_config=None):
        super().__init__(label_set, model_config, training_config)
        if self.task == Task.REGRESSION:
            raise ModelError("The prompt backend chooses labels; it does not predict numbers",
                             hint="Use the encoder backend (or tfidf) for regression targets.")
        self.verbalizers = [verbalizer(n) for n in label_set.names]
        if len(set(self.verbalizers)) != len(self.verbalizers):
            raise ModelError(f"Labels {list(label_set.names)} are not distinct in lower case")
        # k-shot prompting draws examples in fit(); zero-shot needs no training data at all
        self.trainable = self.model_config.prompt.shots > 0
        self.examples: list[dict] = []
        self.calibration: np.ndarray | None = None  # log p(label | content-free input)
        self.model = None
        self.tokenizer = None
        self.source: str | None = None
        self._answer_ids: list[list[int]] | None = None
        self._chat: bool | None = None

    # -- settings -----------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.model_config.name or DEFAULT_MODEL

    def describe(self) -> str:
        shots = self.model_config.prompt.shots
        return f"{self.backend}:{self.model_name}:{shots}-shot"

    @property
    def length_normalize(self) -> bool:
        return self.model_config.prompt.length_normalize

    @property
    def calibrate(self) -> bool:
        return self.model_config.prompt.calibrate

    @property
    def max_length(self) -> int:
        return int(self.training_config.max_length)

    # -- the model ----------------------------------------------------------------------------
    def load_model(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from emotune.models.zoo import resolve_model

        self.source = resolve_model(self.model_name)
        device = runtime.select_device()
        kwargs: dict = {"dtype": runtime.torch_dtype_for(runtime.select_precision(self.training_config))}
        quant = self.model_config.quantization
        if quant != "none":
            if device.type != "cuda":
                raise ModelError(f"model.quantization={quant} needs a CUDA GPU (bitsandbytes)",
                                 hint="Set model.quantization=none to prompt on CPU.")
            from transformers import BitsAndBytesConfig

            compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=quant == "4bit", load_in_8bit=quant == "8bit", bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=self.model_config.double_quant, bnb_4bit_compute_dtype=compute)
            kwargs["device_map"] = {"": 0}
        try:
            with quiet_hf():
                self.tokenizer = AutoTokenizer.from_pretrained(self.source, trust_remote_code=False)
                self.model = AutoModelForCausalLM.from_pretrained(self.source, trust_remote_code=False, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"Could not load '{self.model_name}' from {self.source}: {exc}",
                             hint="The prompt backend needs a decoder-only (causal) language model, "
                                  "e.g. the smollm2 preset.") from None
        if quant == "none":
            self.model.to(device)
        self.model.eval()
        self._chat = bool(getattr(self.tokenizer, "chat_template", None))
        self._answer_ids = None

    def _ensure_model(self) -> None:
        if self.model is None:
            self.load_model()

    # -- prompts ------------------------------------------------------------------------------
    def _truncate(self, text: str) -> str:
        text = str(text)
        if len(text) <= self.max_length:  # fewer characters than the token limit: nothing to cut
            return text
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= self.max_length:
            return text
        return self.tokenizer.decode(ids[:self.max_length], skip_special_tokens=True)

    def _user_turn(self, text: str) -> str:
        instruction = self.model_config.prompt.instruction.replace("{labels}", ", ".join(self.verbalizers))
        return f"{instruction}\n\nText: {self._truncate(text)}"

    def messages(self, text: str, answer: str | None = None) -> list[dict]:
        """The chat for one text: system, example turns, the text (and optionally an answer)."""
        msgs = []
        if self.model_config.prompt.system:
            msgs.append({"role": "system", "content": self.model_config.prompt.system})
        for ex in self.examples:
            msgs.append({"role": "user", "content": self._user_turn(ex["text"])})
            msgs.append({"role": "assistant", "content": verbalizer(ex["label"])})
        msgs.append({"role": "user", "content": self._user_turn(text)})
        if answer is not None:
            msgs.append({"role": "assistant", "content": answer})
        return msgs

    def _render_chat(self, msgs: list[dict], generation_prompt: bool) -> str:
        tok = self.tokenizer
        try:
            return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=generation_prompt)
        except Exception as exc:  # noqa: BLE001 - jinja raises TemplateError for e.g. "no system role"
            if msgs and msgs[0]["role"] == "system":
                # Gemma / Mistral templates reject a system turn: fold it into the first user turn
                merged = [{"role": "user", "content": f"{msgs[0]['content']}\n\n{msgs[1]['content']}"}, *msgs[2:]]
                return tok.apply_chat_template(merged, tokenize=False, add_generation_prompt=generation_prompt)
            raise ModelError(f"The chat template of {self.model_name} failed: {exc}") from None

    def _render_plain(self, text: str, answer: str | None = None) -> str:
        parts = [self.model_config.prompt.system] if self.model_config.prompt.system else []
        for ex in self.examples:
            parts.append(f"{self._user_turn(ex['text'])}\n{PLAIN_ANSWER} {verbalizer(ex['label'])}")
        parts.append(f"{self._user_turn(text)}\n{PLAIN_ANSWER}")
        prompt = "\n\n".join(parts)
        return prompt if answer is None else f"{prompt} {answer}\n"

    def prompt_text(self, text: str) -> str:
        """The exact prompt string the model continues (for inspection and tests)."""
        self._ensure_model()
        if self._chat:
            return self._render_chat(self.messages(text), generation_prompt=True)
        return self._render_plain(text)

    def _encode(self, prompt: str) -> list[int]:
        # a chat template writes its own special tokens (BOS included); plain prompts get the tokenizer's
        return self.tokenizer(prompt, add_special_tokens=not self._chat)["input_ids"]

    @property
    def answer_ids(self) -> list[list[int]]:
        """Per label, the tokens that follow the prompt when the assistant answers with its verbaliser.

        Taken from the tokenisation of the whole conversation (so the tokens at the boundary are
        those the model saw in training) up to and including the end-of-turn token.
        """
        if self._answer_ids is None:
            self._ensure_model()
            reference = "x"
            prompt = self.prompt_text(reference)
            p_ids = self._encode(prompt)
            special = set(self.tokenizer.all_special_ids)
            out = []
            for verb in self.verbalizers:
                full = (self._render_chat(self.messages(reference, verb), generation_prompt=False) if self._chat
                        else self._render_plain(reference, verb))
                f_ids = self._encode(full)
                if full.startswith(prompt) and f_ids[:len(p_ids)] == p_ids:
                    ids = f_ids[len(p_ids):]
                else:  # the template rewrites earlier turns: tokenise the answer on its own
                    ids = self.tokenizer(full[len(prompt):] if full.startswith(prompt) else verb,
                                         add_special_tokens=False)["input_ids"]
                ends = [i for i, t in enumerate(ids) if t in special]
                if ends and ends[0] > 0:
                    ids = ids[:ends[0] + 1]  # keep the end-of-turn token: "joy" is not "joyful"
                elif not ends and self.tokenizer.eos_token_id is not None and self._chat:
                    ids = ids + [self.tokenizer.eos_token_id]
                out.append(ids)
            try:
                ls.check_distinct(out, self.verbalizers)
            except ValueError as exc:
                raise ModelError(f"The {self.model_name} tokenizer cannot tell two labels apart: {exc}") from None
            self._answer_ids = out
        return self._answer_ids

    # -- protocol -----------------------------------------------------------------------------
    def fit(self, train: EmotionDataset, dev: EmotionDataset | None = None, *, output_dir=None,
            resume: bool = False, quiet: bool = False) -> list[dict]:
        shots = int(self.model_config.prompt.shots)
        self.examples = draw_examples(train, shots, self.training_config.seed) if len(train) else []
        if shots > 0 and not self.examples:
            raise ModelError(f"{shots}-shot prompting needs training examples, and the training set is empty")
        self.calibration = None
        self._ensure_model()
        if self.calibrate:
            self.calibration = self._content_free_logprobs()
        return [{"epoch": 0, "shots": shots, "examples": len(self.examples), "train_rows": len(train)}]

    def label_logliks(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """(n, n_labels) log-likelihood of each label as the answer (summed or per token)."""
        self._ensure_model()
        runtime.setup_threads(self.training_config)
        answers = self.answer_ids
        prompts = [self._encode(self.prompt_text(t)) for t in texts]
        sums = ls.causal_logliks(self.model, prompts, answers,
                                 batch_size=batch_size or self.training_config.eval_batch_size)
        return ls.reduce_scores(sums, [len(a) for a in answers], "mean" if self.length_normalize else "sum")

    def _content_free_logprobs(self) -> np.ndarray:
        scores = self.label_logliks([CONTENT_FREE])[0]
        return np.log(softmax(scores))

    def predict_proba(self, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.label_set)))
        scores = self.label_logliks(texts, batch_size=batch_size)
        if self.calibrate:
            if self.calibration is None:
                self.calibration = self._content_free_logprobs()
            scores = scores - self.calibration[None, :]
        if self.task == Task.SINGLE:
            return softmax(scores)
        # multi-label: each label's likelihood relative to the best one, thresholded by the trainer
        return np.exp(scores - scores.max(axis=1, keepdims=True))

    # -- persistence --------------------------------------------------------------------------
    def _save(self, path: Path) -> dict:
        from emotune.models.zoo import get_preset

        name = self.model_name
        if get_preset(name) is None and Path(name).expanduser().is_dir():
            name = str(Path(name).expanduser().resolve())  # a local directory: keep an absolute path
        info = {"base_model": name, "chat_template": self._chat, "verbalizers": self.verbalizers,
                "examples": self.examples, "length_normalize": self.length_normalize, "calibrate": self.calibrate,
                "calibration": None if self.calibration is None else self.calibration.tolist()}
        (path / PROMPT_FILE).write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return {"prompt": {"base_model": name, "source": self.source, "file": PROMPT_FILE,
                           "shots": int(self.model_config.prompt.shots), "examples": len(self.examples)}}

    @classmethod
    def _load(cls, path: Path, meta: dict, **kwargs) -> PromptClassifier:
        label_set, model_config, training_config = cls.configs_from_meta(meta)
        file = path / PROMPT_FILE
        if not file.is_file():
            raise ModelError(f"Missing {file}: not a saved prompt model")
        info = json.loads(file.read_text(encoding="utf-8"))
        if info.get("base_model"):
            model_config = model_config.model_copy(update={"name": info["base_model"]})
        clf = cls(label_set, model_config, training_config)
        clf.examples = [{"text": str(e["text"]), "label": str(e["label"])} for e in info.get("examples", [])]
        if info.get("calibration") is not None:
            clf.calibration = np.asarray(info["calibration"], dtype=float)
        clf.load_model()
        return clf
