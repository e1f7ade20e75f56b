"""Shared console objects and the one way the CLI reports a user error."""

from __future__ import annotations

import sys

from rich.console import Console

from emotune.errors import EmotuneError

console = Console()
console_err = Console(stderr=True)


def fail(exc: EmotuneError) -> None:
    console_err.print(f"[bold red]Error:[/] {exc.message}", highlight=False, soft_wrap=True)
    if exc.hint:
        console_err.print(f"  {exc.hint}", highlight=False, soft_wrap=True)
    sys.exit(exc.exit_code)
