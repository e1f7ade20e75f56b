"""`emotune explain RUN "text"` and `emotune explain RUN --input FILE --output FILE`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import RowProgress, check_text_arguments, console, console_err, warn_blank_rows

_METHOD_HELP = ("auto (the most faithful the backend supports), linear (TF-IDF, lexicon: exact), "
                "integrated-gradients (encoder, causal-LM), occlusion (every backend).")


def explain(
    run: Annotated[Path, typer.Argument(help="Run directory (or its model/ folder).")],
    texts: Annotated[list[str] | None, typer.Argument(help="Text(s) to explain.", show_default=False)] = None,
    method: Annotated[str, typer.Option("--method", "-m", help=_METHOD_HELP)] = "auto",
    label: Annotated[str | None, typer.Option("--label", "-l", help="Explain this label (default: the predicted one).")] = None,
    input: Annotated[Path | None, typer.Option("--input", "-i", help="CSV/TSV, JSONL or plain-text file (one text a line).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the explanations (.csv/.tsv or .jsonl). Resumes if it exists.")] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column / JSON field holding the text.")] = "text",
    top: Annotated[int, typer.Option("--top", min=1, help="Words in the table, strongest first.")] = 10,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Texts per batch.")] = None,
    chunk_size: Annotated[int, typer.Option("--chunk-size", min=1, help="Rows written and flushed at a time.")] = 64,
    onnx: Annotated[bool, typer.Option("--onnx", help="Use the ONNX export (explained by occlusion).")] = False,
    int8: Annotated[bool, typer.Option("--int8", help="With --onnx: the int8-quantised graph.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start the output file again instead of resuming it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a coloured line and a table.")] = False,
) -> None:
    """Which words push a model toward (green) or away from (red) a label."""
    from emotune.errors import ConfigError
    from emotune.explain import check_label, explain_texts, resolve_method
    from emotune.explain.files import explain_file
    from emotune.runs import Run
    from emotune.serving.registry import set_inference_threads

    check_text_arguments(texts, input, output, verb="explain",
                         example='emotune explain runs/isear-tfidf "My friend lied to me."')
    if int8 and not onnx:
        raise ConfigError("--int8 selects the quantised ONNX graph: use it together with --onnx")
    source = Run.open(run)
    source.meta  # noqa: B018 - a clear error for a missing/corrupt run before anything heavy is imported
    with console_err.status(f"Loading {run} ..."):
        clf = source.load(onnx=onnx, int8=int8).view()
    set_inference_threads()
    resolve_method(clf, method)  # a bad --method / --label fails before any work
    check_label(clf, label)

    if input is None:
        with console_err.status("Explaining ..."):
            found = explain_texts(clf, texts, method=method, label=label, batch_size=batch_size)
        if as_json:
            import json

            console.print_json(json.dumps([e.to_dict() for e in found]))
            return
        for e in found:
            _print_explanation(e, top)
        return

    progress = RowProgress("explaining", output)
    with progress:
        result = explain_file(clf, input, output, method=method, label=label, text_col=text_col,
                              batch_size=batch_size, chunk_size=chunk_size, overwrite=overwrite,
                              on_total=progress.on_total, on_progress=progress.on_progress)
    if as_json:
        import json

        console.print_json(json.dumps(result.to_dict()))
        return
    note = f" ({result.skipped} from an earlier run)" if result.skipped else ""
    console.print(f"[green]✓[/] {result.explained} rows explained with {result.method}{note} -> {result.output}",
                  highlight=False)
    warn_blank_rows(result.blank_rows, result.input)


def _colour(score: float, scale: float) -> str:
    strength = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    level = int(80 + 175 * strength)
    return f"bold rgb(0,{level},0)" if score > 0 else f"bold rgb({level},0,0)"


def _print_explanation(e, top: int) -> None:
    from rich.table import Table
    from rich.text import Text

    scale = max((abs(w["score"]) for w in e.words), default=0.0)
    line = Text()
    pos = 0
    for w in e.words:
        line.append(e.text[pos:w["start"]])
        strong = scale > 0 and abs(w["score"]) >= 0.15 * scale
        line.append(e.text[w["start"]:w["end"]], style=_colour(w["score"], scale) if strong else "dim")
        pos = w["end"]
    line.append(e.text[pos:])
    console.print(Text.assemble((f"{e.label}", "bold"), f" {e.probability:.3f}  ({e.method})"))
    console.print(line)
    table = Table(show_edge=False)
    table.add_column("word")
    table.add_column("score", justify="right")
    table.add_column("", no_wrap=True)
    for w in sorted(e.words, key=lambda w: -abs(w["score"]))[:top]:
        bar = "█" * max(1, round(abs(w["score"]) / scale * 20)) if scale > 0 else ""
        colour = "green" if w["score"] > 0 else "red"
        table.add_row(w["word"], f"{w['score']:+.4f}", f"[{colour}]{bar}[/]")
    console.print(table)
    console.print()


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
