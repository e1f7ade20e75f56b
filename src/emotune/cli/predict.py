"""`emotune predict RUN "text"`, `emotune predict RUN --input FILE --output FILE [--engine ray]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import (RUNTIME_HELP, RowProgress, check_text_arguments, console, console_err, pick_runtime,
                                 warn_blank_rows, warn_turn_gaps)


def predict(
    run: Annotated[Path, typer.Argument(help="Run directory (or its model/ folder).")],
    texts: Annotated[list[str] | None, typer.Argument(help="Text(s) to classify.", show_default=False)] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", "-k", min=1, help="Show the K best labels (default: all for a text, every probability column for a file).")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="CSV/TSV, JSONL or plain-text file (one text a line) to label.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the labelled rows (.csv/.tsv or .jsonl), whole at the end; rows wait in a hidden .NAME.partial, which a rerun resumes.")] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column / JSON field holding the text.")] = "text",
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per forward pass (default: the run's eval batch size).")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Rows written and flushed at a time.")] = 512,
    onnx: Annotated[bool, typer.Option("--onnx", help="Use the ONNX export (emotune export RUN --onnx).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="With --onnx / --runtime: the int8-quantised export.")] = False,
    runtime: Annotated[str | None, typer.Option("--runtime", help=RUNTIME_HELP)] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start the output file again instead of resuming it.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="local (one process, the default) or ray (a Ray Data pipeline over the input's shards; --output is then a folder of shards).")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="With --engine ray: join this Ray cluster (host:port) instead of starting a local one.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="With --engine ray: model actors (default: the cluster's CPUs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Classify texts with a trained run: a table for a few texts, a labelled file for many."""
    from emotune.cli._ray import check_engine
    from emotune.errors import ConfigError
    from emotune.inference.predict import predict_file, predict_texts
    from emotune.runs import Run
    from emotune.serving.registry import set_inference_threads

    check_text_arguments(texts, input, output, verb="classify",
                         example='emotune predict runs/isear-minilm "I passed my exam!"')
    runtime = pick_runtime(runtime, onnx, int8)
    check_engine(engine, address, workers)
    if engine == "ray":
        if runtime not in (None, "onnx"):
            raise ConfigError(f"--engine ray serves torch or ONNX models, not --runtime {runtime}",
                              hint="Use --onnx [--int8] with --engine ray, or the local engine for OpenVINO.")
        if input is None:
            raise ConfigError("--engine ray labels files: give --input FILE|FOLDER|GLOB --output FOLDER")
        from emotune.cli._ray import run_on_ray
        from emotune.inference.ray_engine import RayJob
        from emotune.inference.shards import output_format

        job = RayJob("predict", [str(run)], str(output), output_format(output), onnx=runtime == "onnx", int8=int8,
                     text_col=text_col, top_k=top_k, batch_size=batch_size, chunk_size=chunk_size)
        run_on_ray(job, input, address=address, workers=workers, overwrite=overwrite, verb="labelling",
                   as_json=as_json)
        return
    source = Run.open(run)
    source.meta  # a clear error for a missing/corrupt run before anything heavy is imported
    with console_err.status(f"Loading {run} ..."):
        clf = source.load(runtime=runtime, int8=int8).view()  # "anger: <text>" runs answer every emotion
    set_inference_threads()

    if input is None:
        preds = predict_texts(clf, texts, top_k=top_k, batch_size=batch_size)
        if as_json:
            import json

            console.print_json(json.dumps([{"text": t, **p.to_dict()} for t, p in zip(texts, preds)]))
            return
        _print_tables(texts, preds, clf)
        return

    context = clf.input_spec.context
    progress = RowProgress("labelling", output)
    with progress:
        result = predict_file(clf, input, output, text_col=text_col, top_k=top_k, batch_size=batch_size,
                              chunk_size=chunk_size, context=context, overwrite=overwrite,
                              on_total=progress.on_total, on_progress=progress.on_progress)
    if as_json:
        import json

        console.print_json(json.dumps(result.to_dict()))
        return
    note = f" ({result.skipped} from an earlier run)" if result.skipped else ""
    console.print(f"[green]✓[/] {result.labelled} rows labelled{note} -> {result.output}", highlight=False)
    warn_blank_rows(result.blank_rows, result.input)
    if result.windows:
        console.print(f"  {result.windows} long texts were scored in overlapping windows (not truncated).",
                      highlight=False)
    if result.context:
        console.print(f"  each turn was given its {context.window} preceding turns as context, as in training.",
                      highlight=False)
        warn_turn_gaps(result.gaps)
    elif context is not None:
        console_err.print(f"[yellow]Warning:[/] the run was trained with {context.window} preceding turns as "
                          "context, but the input has no dialogue_id/turn/speaker fields: each text was "
                          "classified alone.", highlight=False)


def _print_tables(texts, preds, clf) -> None:
    from rich.table import Table

    from emotune.data.labels import Task

    regression = clf.task == Task.REGRESSION
    for text, pred in zip(texts, preds):
        short = text if len(text) <= 80 else text[:77] + "..."
        title = f"[bold]{short}[/]" + (f"  [dim]({pred.windows} windows)[/]" if pred.windows > 1 else "")
        table = Table(title=title, title_justify="left", show_edge=False)
        table.add_column("emotion" if not regression else "target")
        table.add_column("probability" if not regression else "value", justify="right")
        if not regression:
            table.add_column("", no_wrap=True)
        decided = set(pred.labels)
        for label, score in pred.scores:
            mark = "[bold green]" if label in decided else ""
            end = "[/]" if mark else ""
            if regression:
                table.add_row(label, f"{score:.3f}")
            else:
                bar = "█" * max(0, round(score * 30))
                table.add_row(f"{mark}{label}{end}", f"{mark}{score:.3f}{end}", f"[cyan]{bar}[/]")
        console.print(table)


def register(app: typer.Typer) -> None:
    app.command("predict")(predict)
