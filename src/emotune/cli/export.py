"""`emotune export RUN --onnx|--openvino [--int8]`: an ONNX graph or OpenVINO model for fast CPU inference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console, console_err


def export(
    run: Annotated[Path, typer.Argument(help="Encoder run directory.")],
    onnx: Annotated[bool, typer.Option("--onnx", help="Export to ONNX (RUN/onnx/model.onnx).")] = False,
    openvino: Annotated[bool, typer.Option("--openvino", help="Convert to OpenVINO (RUN/openvino/model.xml; exports ONNX first if missing).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="Also write an int8 model: dynamic quantisation for ONNX (model.int8.onnx), calibrated NNCF quantisation for OpenVINO (model.int8.xml).")] = False,
    opset: Annotated[int, typer.Option("--opset", min=14, help="ONNX opset.")] = 17,
) -> None:
    """Export a fine-tuned encoder run for `predict --onnx` and `serve --runtime onnx|openvino`."""
    from emotune.errors import ConfigError

    if not (onnx or openvino):
        raise ConfigError("Choose an export format: --onnx or --openvino")
    results = []
    if onnx:
        from emotune.export.onnx import export_onnx

        with console_err.status(f"Exporting {run} to ONNX ..."):
            results.append(("onnx", export_onnx(run, int8=int8, opset=opset)))
    if openvino:
        from emotune.export.openvino import export_openvino

        # NNCF's calibration shows its own progress bar
        console_err.print(f"Exporting {run} to OpenVINO{' (int8: calibrating on train texts)' if int8 else ''} ...",
                          highlight=False)
        results.append(("openvino", export_openvino(run, int8=int8)))
    for runtime, result in results:
        _report(result, run, runtime, int8)


def _report(result, run: Path, runtime: str, int8: bool) -> None:
    for kind, path in result.files.items():
        size = sum(p.stat().st_size for p in {path, path.with_suffix(".bin")} if p.is_file()) / 1e6  # xml + bin
        diff = result.max_abs_diff.get(kind)
        agree = result.argmax_agree.get(kind)
        check = "" if diff is None else f"  max |p - torch| {diff:.1e}" + (
            f", argmax agreement {agree:.0%}" if agree is not None else "")
        console.print(f"[green]✓[/] {kind}: {path} ({size:.1f} MB){check}", highlight=False)
    q = " --int8" if int8 else ""
    console.print(f"Use it with `emotune predict {run} --runtime {runtime}{q} \"text\"` "
                  f"or `emotune serve {run} --runtime {runtime}{q}`.", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("export")(export)
