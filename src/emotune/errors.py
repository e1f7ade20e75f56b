"""One exception type for every mistake a user can make.

The CLI turns an :class:`EmotuneError` into a single red line and a non-zero exit; the HTTP API
turns it into a 4xx JSON error. Anything else is a bug in emotune and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager


class EmotuneError(Exception):
    """A problem with the user's input, files or environment, explained in ``str(self)``."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message}\n{hint}")


class DataError(EmotuneError):
    """Bad or missing data: names the file, row or column."""


class ConfigError(EmotuneError):
    """Bad configuration: names the key."""


class ModelError(EmotuneError):
    """A model or run directory that cannot be found, loaded or fitted."""


def closest(word: str, choices: Iterable[str], n: int = 1) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=n, cutoff=0.5)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """'Did you mean X?' for an unknown name, or the list of valid names when nothing is close."""
    choices = sorted(set(choices))
    match = closest(word, choices)
    if match:
        return f"Did you mean '{match[0]}'?"
    return "Valid names: " + ", ".join(choices)


@contextmanager
def writing(path) -> Iterator[None]:
    """An OSError while writing ``path`` (no permission, a parent that is a file, disk full) as one message."""
    try:
        yield
    except OSError as exc:
        raise DataError(f"Cannot write {path}: {exc.strerror or exc}",
                        hint="Choose an output path in a folder you can write to.") from None
