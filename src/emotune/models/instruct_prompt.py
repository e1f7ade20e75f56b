"""The instruct backend's prompts: (instruction, text) -> prompt token ids, the same in training and prediction."""

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
