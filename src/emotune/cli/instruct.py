"""`emotune instruct build|check|evaluate`: SemEval-2018 as instruction data, and instruct runs task by task."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console, console_err

app = typer.Typer(help="Multi-task instruction data (EmoLLMs-style) and instruct-run evaluation.",
                  no_args_is_help=True)

_TASKS_HELP = "Comma-separated tasks: ec, ei-reg, ei-oc, v-reg, v-oc (default: all)."


@app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Instruction file to write (JSONL).")],
    tasks: Annotated[str, typer.Option("--tasks", help=_TASKS_HELP)] = "all",
    split: Annotated[str, typer.Option("--split", help="Official SemEval split: train, dev or test.")] = "train",
    seed: Annotated[int, typer.Option("--seed", help="Seed for the template choice (and --max-per-task sample).")] = 0,
    templates_per_task: Annotated[int, typer.Option("--templates-per-task", min=1, help="Wordings per task to draw from.")] = 3,
    max_per_task: Annotated[int | None, typer.Option("--max-per-task", min=1, help="Seeded sample of tweets per task.")] = None,
    ec_format: Annotated[str, typer.Option("--ec-format", help="E-c as one yes/no question per emotion "
                                           "('questions', 11 rows a tweet) or one 'checklist' row a tweet.")] = "questions",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Turn SemEval-2018 E-c, EI-reg, EI-oc, V-reg and V-oc into instruction rows (JSONL)."""
    from emotune.data.instruct import build_instruction_dataset, summarize, write_instructions
    from emotune.errors import ConfigError

    if split not in ("train", "dev", "test"):
        raise ConfigError(f"--split must be train, dev or test, not '{split}'")
    with console_err.status("Building instruction rows ..."):
        rows = build_instruction_dataset(tasks, split, seed, templates_per_task=templates_per_task,
                                         max_per_task=max_per_task, ec_format=ec_format)
        n = write_instructions(rows, out)
    summary = summarize(rows)
    if as_json:
        import json

        console.print_json(json.dumps({"out": str(out), "rows": n, "tasks": summary}))
        return
    _print_summary(summary)
    console.print(f"[green]✓[/] {n:,} rows ({split}, seed {seed}) -> {out}", highlight=False)


@app.command("check")
def check(path: Annotated[Path, typer.Argument(help="Instruction file (JSONL).")]) -> None:
    """Validate an instruction file (every field, task and answer) and summarise it."""
    from emotune.data.instruct import read_instructions, summarize

    rows = read_instructions(path)
    _print_summary(summarize(rows))
    console.print(f"[green]✓[/] {len(rows):,} valid rows in {path}", highlight=False)


@app.command("evaluate")
def evaluate(
    run: Annotated[Path, typer.Argument(help="An instruct run directory.")],
    tasks: Annotated[str | None, typer.Option("--tasks", help=_TASKS_HELP.replace("all", "the tasks it was trained on"))] = None,
    split: Annotated[str, typer.Option("--split", help="Official SemEval split to score.")] = "test",
    max_rows: Annotated[int | None, typer.Option("--max-rows", min=2, help="Seeded sample of rows per task (speed).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the results as JSON here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Score an instruct run on each SemEval-2018 task (one classifier view per task).

    Regression answers that are not a number in range are invalid: they are counted and scored
    at the worst case (the as-served midpoint numbers are in the JSON too).
    """
    import json

    from emotune.evaluation.instruct import evaluate_run
    from emotune.runs import Run
    from emotune.serving.registry import set_inference_threads

    Run.open(run).meta  # a clear error for a missing/corrupt run before anything heavy is imported
    set_inference_threads()
    with console_err.status(f"Evaluating {run} ...") as status:
        result = evaluate_run(run, tasks, split=split, max_rows=max_rows, batch_size=batch_size,
                              on_task=lambda name, n: status.update(f"Evaluating {run}: {name} ({n:,} rows) ..."))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if as_json:
        console.print_json(json.dumps(result, default=str))
        return
    from rich.table import Table

    table = Table(title=f"{run} on SemEval-2018 {split}" + (f" (sample of {max_rows} per task)" if max_rows else ""),
                  title_justify="left", show_edge=False)
    for col in ("task", "rows", "metric", "value", "invalid answers"):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for name, res in result["tasks"].items():
        m = res["metrics"]
        key = "pearson" if "pearson" in m else "f1_macro"
        inv = f"{res['invalid']} ({res['invalid_rate']:.1%})" if "invalid" in res else "-"
        table.add_row(name, f"{res['n']:,}", key + (" (worst case)" if "invalid" in res else ""), f"{m[key]:.4f}", inv)
    console.print(table)
    if out is not None:
        console.print(f"Results -> {out}", highlight=False)


def _print_summary(summary: dict) -> None:
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("task", "rows", "answers"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for name, entry in summary.items():
        ans = ", ".join(f"{k}: {v:,}" for k, v in sorted(entry["answers"].items())) if entry["answers"] \
            else f"mean {entry.get('mean')}"
        table.add_row(name, f"{entry['rows']:,}", ans)
    console.print(table)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="instruct")
