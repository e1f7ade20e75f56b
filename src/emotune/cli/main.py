"""The ``emotune`` command. Each sub-module adds its commands through ``register(app)``."""

from __future__ import annotations

import os
import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click.exceptions import ClickException, NoArgsIsHelpError
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError

from emotune.cli import _common
from emotune.errors import EmotuneError

app = typer.Typer(
    name="emotune",
    help="Build, compare and serve text emotion classifiers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# One module per command group, spaCy-style. Order = order in --help.
_COMMAND_MODULES = ["data", "eda", "models", "train", "distill", "evaluate", "predict", "explain", "serve",
                    "export", "feedback", "instruct", "annotate"]


@app.callback()
def _root() -> None:
    """Build, compare and serve text emotion classifiers."""


@app.command("version")
def version() -> None:
    """Print emotune's version."""
    from emotune import __version__

    _common.console.print(__version__)


def _register() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        importlib.import_module(f"emotune.cli.{name}").register(app)


def main(argv: list[str] | None = None) -> None:
    # Offline by default: hub ids resolve only from the local cache unless the user opts in.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    _register()
    try:
        rv = app(args=argv, standalone_mode=False)
        if isinstance(rv, int) and rv:  # typer.Exit(code) comes back as a return value here
            sys.exit(rv)
    except EmotuneError as exc:
        _common.fail(exc)
    except KeyboardInterrupt:
        _common.console_err.print("[yellow]Interrupted.[/]")
        sys.exit(130)
    except NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(0)
    except ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
