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


class RowProgress:
    """A rich progress bar over the rows of a streamed, resumable file job (predict, annotate).

    ``on_total`` / ``on_progress`` are the callbacks the file functions take; a resumed job starts
    the bar at the rows already written and says so.
    """

    def __init__(self, verb: str, output):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.output = output
        self.bar = Progress(TextColumn(f"[bold]{verb}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            TimeRemainingColumn(), console=console_err, transient=True,
                            disable=not console_err.is_terminal)
        self.task_id = self.bar.add_task("rows", total=None)

    def on_total(self, total: int, skipped: int) -> None:
        self.bar.update(self.task_id, total=total, completed=skipped)
        if skipped:
            console_err.print(f"Resuming: {skipped} of {total} rows are already in {self.output}.", highlight=False)

    def on_progress(self, n: int) -> None:
        self.bar.advance(self.task_id, n)

    def __enter__(self) -> RowProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def warn_turn_gaps(gaps: list[str]) -> None:
    """Dialogues whose turn numbers skip some: labelled with the turns present, said once."""
    if gaps:
        console_err.print(f"[yellow]Warning:[/] {len(gaps)} dialogue(s) skip turn numbers (labelled with the turns "
                          "present; the context window reaches over the gap): " + "; ".join(gaps[:3])
                          + (" ..." if len(gaps) > 3 else ""), highlight=False)


def warn_blank_rows(rows: list[int], path) -> None:
    """Rows with empty text are kept (so rows stay aligned) but not labelled: said once, with their numbers."""
    if rows:
        shown = ", ".join(map(str, rows[:10])) + (" ..." if len(rows) > 10 else "")
        console_err.print(f"[yellow]Warning:[/] {len(rows)} row(s) of {path} have an empty text and were left "
                          f"unlabelled (data row {shown}).", highlight=False)


RUNTIME_HELP = "Run the run's export in this runtime: onnx (onnxruntime) or openvino (emotune export RUN --onnx / --openvino)."


def pick_runtime(runtime: str | None, onnx: bool, int8: bool) -> str | None:
    """The export runtime the options ask for (``--onnx`` is ``--runtime onnx``), None for the run's
    own backend; a :class:`ConfigError` for a contradiction or an unknown name."""
    from emotune.errors import ConfigError
    from emotune.runs import RUNTIMES

    if runtime is not None and runtime not in RUNTIMES:
        raise ConfigError(f"--runtime {runtime}: unknown runtime", hint=f"Choose one of: {', '.join(RUNTIMES)}.")
    if onnx and runtime not in (None, "onnx"):
        raise ConfigError(f"--onnx and --runtime {runtime} contradict each other: give one of them")
    runtime = runtime or ("onnx" if onnx else None)
    if int8 and runtime is None:
        raise ConfigError("--int8 selects the quantised export: use it with --runtime onnx|openvino (or --onnx)")
    return runtime


def check_text_arguments(texts, input, output, *, verb: str, example: str) -> None:
    """Texts on the command line or ``--input FILE --output FILE``, not both, none empty (predict, explain)."""
    from emotune.errors import ConfigError

    if input is None and not texts:
        raise ConfigError(f"Nothing to {verb}: give a text or --input FILE --output FILE", hint=f"e.g. {example}")
    if input is not None and texts:
        raise ConfigError("Give either texts or --input, not both")
    if input is not None and output is None:
        raise ConfigError("--input needs --output FILE (.csv, .tsv or .jsonl)")
    blank = [i for i, t in enumerate(texts or [], 1) if not t.strip()]
    if blank:
        raise ConfigError(f"Text {blank[0]} of {len(texts)} is empty: there is nothing to {verb}",
                          hint="Give non-empty texts (empty rows of an --input file are skipped and counted).")
