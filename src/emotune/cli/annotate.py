"""`emotune annotate RUN [RUN...] --input FILE --output FILE`: label a corpus with several runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import RowProgress, console, console_err, warn_blank_rows, warn_turn_gaps


def annotate(
    runs: Annotated[list[str], typer.Argument(help="Run directories; an instruct run takes #task (RUN#v-reg, RUN#ei-reg:anger).")],
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV/TSV, JSONL or plain-text file (one text a line).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Annotated rows (.csv/.tsv or .jsonl), written whole at the end; rows wait in a hidden .NAME.partial, which a rerun resumes.")],
    text_col: Annotated[str, typer.Option("--text-col", help="Column / JSON field holding the text.")] = "text",
    review: Annotated[Path | None, typer.Option("--review", help="Write the rows a run was unsure of here (.csv/.tsv/.jsonl).")] = None,
    threshold: Annotated[float, typer.Option("--threshold", min=0.0, max=1.0, help="Unsure: top probability below this (single-label).")] = 0.5,
    margin: Annotated[float, typer.Option("--margin", min=0.0, max=1.0, help="Unsure: top two labels, or a label and its threshold, closer than this.")] = 0.1,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per forward pass.")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Rows written and flushed at a time.")] = 256,
    show: Annotated[int, typer.Option("--show", min=0, help="Unsure rows printed after the summary.")] = 5,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start the output file again instead of resuming it.")] = False,
    engine: Annotated[str, typer.Option("--engine", help="local (one process, the default) or ray (a Ray Data pipeline over the input's shards; --output is then a folder of shards).")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="With --engine ray: join this Ray cluster (host:port) instead of starting a local one.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="With --engine ray: model actors (default: the cluster's CPUs).")] = None,
    onnx: Annotated[bool, typer.Option("--onnx", help="Use each run's ONNX export (emotune export RUN --onnx).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="With --onnx: the int8-quantised graphs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Annotate an unlabelled corpus: emotions and probabilities (classification runs), intensities
    (regression runs), then a label distribution and the low-confidence rows to review by hand."""
    from emotune.cli._ray import check_engine
    from emotune.errors import ConfigError
    from emotune.inference.annotate import annotate_file, load_annotators, summarize_output, write_review
    from emotune.inference.predict import InputFile
    from emotune.serving.registry import set_inference_threads

    check_engine(engine, address, workers)
    if int8 and not onnx:
        raise ConfigError("--int8 selects the quantised ONNX graphs: use it together with --onnx")
    if engine == "ray":
        from emotune.cli._ray import run_on_ray
        from emotune.inference.ray_engine import RayJob
        from emotune.inference.shards import output_format

        if review is not None:
            raise ConfigError("--review reads one output file: use it with --engine local")
        job = RayJob("annotate", list(runs), str(output), output_format(output), onnx=onnx, int8=int8,
                     text_col=text_col, batch_size=batch_size, chunk_size=chunk_size)
        run_on_ray(job, input, address=address, workers=workers, overwrite=overwrite, verb="annotating",
                   as_json=as_json)
        return
    InputFile(input, text_col)  # a missing file or column fails before any model loads
    with console_err.status(f"Loading {len(runs)} run(s) ..."):
        annotators = load_annotators(runs, loader=(lambda r: r.load(onnx=True, int8=int8)) if onnx else None)
    set_inference_threads()

    progress = RowProgress("annotating", output)
    with progress:
        result = annotate_file(annotators, input, output, text_col=text_col, batch_size=batch_size,
                               chunk_size=chunk_size, overwrite=overwrite, on_total=progress.on_total,
                               on_progress=progress.on_progress)
    summary = summarize_output(annotators, output, text_col=text_col, threshold=threshold, margin=margin)
    if review is not None:
        write_review(summary["review"], review)
    if as_json:
        import json

        console.print_json(json.dumps({**result.to_dict(), **summary, "review": summary["review"][:show],
                                       "unsure": len(summary["review"]),
                                       "review_file": str(review) if review else None}, default=str))
        return
    note = f" ({result.skipped} from an earlier run)" if result.skipped else ""
    console.print(f"[green]✓[/] {summary['rows']} rows annotated by {len(annotators)} run(s){note} -> {output}",
                  highlight=False)
    if result.context:
        console.print(f"  {', '.join(result.context)}: each turn was given its preceding turns as context, as in "
                      "training.", highlight=False)
    if result.no_context:
        console_err.print("[yellow]Warning:[/] the input has no dialogue_id/turn/speaker fields, so each text was "
                          "labelled alone by runs trained with preceding turns as context: "
                          + ", ".join(result.no_context), highlight=False)
    warn_turn_gaps(result.gaps)
    warn_blank_rows(result.blank_rows, result.input)
    _print_summary(summary, text_col, show)
    if review is not None:
        console.print(f"{len(summary['review'])} unsure rows written to {review}", highlight=False)


def _print_summary(summary: dict, text_col: str, show: int) -> None:
    from rich.table import Table

    for run_id, entry in summary["runs"].items():
        table = Table(title=f"[bold]{run_id}[/] ({entry['task']})", title_justify="left", show_edge=False)
        if "counts" in entry:
            total = max(1, summary["rows"])
            table.add_column("label")
            table.add_column("rows", justify="right")
            table.add_column("share", justify="right")
            table.add_column("", no_wrap=True)
            for label, n in sorted(entry["counts"].items(), key=lambda kv: -kv[1]):
                table.add_row(label, str(n), f"{n / total:.1%}", "[cyan]" + "█" * round(30 * n / total) + "[/]")
            if "no_label" in entry:
                table.add_row("[dim](no label)[/]", str(entry["no_label"]), f"{entry['no_label'] / total:.1%}", "")
        else:
            for col in ("target", "n", "mean", "std", "min", "max"):
                table.add_column(col, justify="left" if col == "target" else "right")
            for name, s in entry["values"].items():
                fmt = (lambda v: "-" if v is None else f"{v:.3f}")
                table.add_row(name, str(s["n"]), fmt(s["mean"]), fmt(s["std"]), fmt(s["min"]), fmt(s["max"]))
            if "invalid" in entry:
                table.caption = f"{entry['invalid']} invalid (unparsable) answers, left empty"
        console.print(table)
    unsure = summary["review"]
    console.print(f"[bold]{len(unsure)}[/] of {summary['rows']} rows are unsure (top probability < "
                  f"{summary['threshold']:g} or margin < {summary['margin']:g})", highlight=False)
    for r in unsure[:show]:
        text = str(r.get(text_col) or "")
        console.print(f"  row {r['row']}: {text[:70] + ('...' if len(text) > 70 else '')!r}  [dim]"
                      + "; ".join(r["reasons"]) + "[/]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("annotate")(annotate)
