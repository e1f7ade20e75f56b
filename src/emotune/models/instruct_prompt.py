"""The instruct backend's prompts and answers: token ids, the same in training and prediction."""

from __future__ import annotations

from emotune.errors import ConfigError, ModelError

ANSWER_RESERVE = 12  # tokens kept free for the answer when a long text is cut


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

    def prompt_ids(self, instruction: str, text: str, reserve: int = ANSWER_RESERVE) -> list[int]:
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


class Checklist:
    """The token ids of an E-c checklist answer (``"anger: no\\nanticipation: yes..."``), built piece by
    piece, the same in training and prediction: a slot (``"anger:"``, ``"\\nanticipation:"``) then the
    answer's tokens (" yes" / " no"). Tokenising the whole answer at once could merge a slot with its
    answer differently from what prediction feeds the model."""

    def __init__(self, tokenizer, emotions):
        self.emotions = tuple(emotions)

        def ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        self.slots = [ids(("\n" if i else "") + f"{e}:") for i, e in enumerate(self.emotions)]
        self.no, self.yes = ids(" no"), ids(" yes")
        if not self.no or not self.yes or self.no[0] == self.yes[0]:
            raise ModelError(f"The E-c checklist needs ' yes' and ' no' to start with different tokens; this "
                             f"tokenizer gives {self.yes} and {self.no}",
                             hint="Set model.instruct.ec_format=questions (one yes/no question per emotion).")

    def answer(self, values, eos: int) -> tuple[list[int], list[int]]:
        """(input ids, labels) of the answer: the slots are given (-100), each yes/no and the end of turn are learned."""
        ids: list[int] = []
        labels: list[int] = []
        for slot, value in zip(self.slots, values):
            tokens = self.yes if value else self.no
            ids += [*slot, *tokens]
            labels += [-100] * len(slot) + tokens
        return ids + [eos], labels + [eos]


class AnswerCollator:
    """Left-pads ``input_ids`` (with ``pad``) and ``labels`` (with -100) to the longest row of the batch, so
    the answers line up at the end (:func:`~emotune.models.hf.loss.answer_lm_loss`); positions count from each
    row's first token."""

    def __init__(self, pad: int):
        self.pad = pad

    def __call__(self, items: list[dict]) -> dict:
        import torch

        width = max(len(x["input_ids"]) for x in items)
        ids = torch.full((len(items), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), -100, dtype=torch.long)
        for r, x in enumerate(items):
            m = len(x["input_ids"])
            ids[r, width - m:] = torch.tensor(x["input_ids"])
            mask[r, width - m:] = 1
            labels[r, width - m:] = torch.tensor(x["labels"])
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels, "position_ids": positions}
