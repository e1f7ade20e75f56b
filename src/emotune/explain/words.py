"""Words: the one tokenisation every explanation method shares.

A word is a run of letters/digits, with inner apostrophes and hyphens kept ("don't", "ex-wife"):
the unit a reader thinks in, and the unit the methods below attribute to, whatever the model's own
tokens are (sub-words, n-grams, characters). Punctuation and spaces are not words; their effect,
where a method sees one, goes to no word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"\w+(?:['’\-]\w+)*")


@dataclass(frozen=True)
class Word:
    text: str
    start: int  # character offsets into the explained text
    end: int


def words_of(text: str) -> list[Word]:
    """The words of ``text`` in order, with their character spans."""
    return [Word(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def overlapping(words: list[Word], start: int, end: int) -> list[int]:
    """Indices of the words sharing at least one character with ``[start, end)``."""
    return [i for i, w in enumerate(words) if w.start < end and start < w.end]


def span_owner(words: list[Word], length: int) -> list[int]:
    """For each character position of a text of ``length``, the index of its word, or -1."""
    owner = [-1] * length
    for i, w in enumerate(words):
        for p in range(w.start, w.end):
            owner[p] = i
    return owner


def without_words(text: str, words: list[Word], drop: set[int] | list[int]) -> str:
    """``text`` with the words at ``drop`` removed (and the space after each, so no gaps remain)."""
    drop = set(drop)
    if not drop:
        return text
    out, pos = [], 0
    for i, w in enumerate(words):
        if i not in drop:
            continue
        out.append(text[pos:w.start])
        pos = w.end
        while pos < len(text) and text[pos] == " ":
            pos += 1
    out.append(text[pos:])
    return "".join(out).strip()
