"""`emotune export RUN --onnx [--int8]`: an ONNX graph for fast CPU inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console, console_err


def export(
    run: Annotated[Path, typer.Argument(help="Encoder run directory.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (RUN/onnx/model.onnx).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write a dynamically int8-quantised model.int8.onnx.")] = False,
    opset: Annotated[int, typer.Option("--opset", min=14, help="ONNX opset.")] = 17,
) -> None:
    """Export a fine-tuned encoder run for `predict --onnx` and `serve --onnx`."""
    from emotune.errors import ConfigError
    from emotune.export.onnx import export_onnx

    if not onnx:
        raise ConfigError("Choose an export format: --onnx (the only one so far)")
    with console_err.status(f"Exporting {run} to ONNX ..."):
        result = export_onnx(run, int8=int8, opset=opset)
    for kind, path in result.files.items():
        size = path.stat().st_size / 1e6
        diff = result.max_abs_diff.get(kind)
        agree = result.argmax_agree.get(kind)
        check = "" if diff is None else f"  max |p - torch| {diff:.1e}" + (
            f", argmax agreement {agree:.0%}" if agree is not None else "")
        console.print(f"[green]✓[/] {kind}: {path} ({size:.1f} MB){check}", highlight=False)
    console.print(f"Use it with `emotune predict {run} --onnx{' --int8' if int8 else ''} \"text\"` "
                  f"or `emotune serve {run} --onnx`.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
