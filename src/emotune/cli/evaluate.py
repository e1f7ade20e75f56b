"""`emotune evaluate`, `emotune compare` and `emotune benchmark`: thin wrappers over emotune.evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console
from emotune.errors import ConfigError


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def print_evaluation(result: dict) -> None:
    """The classification report as a rich table, then the headline metrics with their intervals."""
    from rich.table import Table

    report = result["report"]
    title = f"{Path(result['run']).name} on {result['dataset']} ({result['split']}, {result['n']:,} rows)"
    table = Table(title=title, title_justify="left")
    if result["task"] == "regression":
        for col in ("target", "pearson", "spearman", "mae", "support"):
            table.add_column(col, justify="left" if col == "target" else "right")
        for name in result["labels"]:
            r = report[name]
            table.add_row(name, _fmt(r["pearson"]), _fmt(r["spearman"]), _fmt(r["mae"]), str(r["support"]))
    else:
        for col in ("label", "precision", "recall", "f1-score", "support"):
            table.add_column(col, justify="left" if col == "label" else "right")
        for name in result["labels"]:
            r = report[name]
            f1 = _fmt(r["f1-score"])
            table.add_row(name, _fmt(r["precision"]), _fmt(r["recall"]), f"[red]{f1}[/]" if r["f1-score"] < 0.5 else f1,
                          str(r["support"]))
        table.add_section()
        for key in ("micro avg", "macro avg", "weighted avg", "samples avg"):
            if key in report:
                r = report[key]
                table.add_row(key, _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1-score"]), str(r["support"]),
                              style="dim")
        if "accuracy" in report:
            table.add_row("accuracy", "", "", _fmt(report["accuracy"]), str(result["n"]), style="dim")
    console.print(table)
    for name, ci in result.get("ci", {}).items():
        console.print(f"  {name}: [bold]{ci['value']:.4f}[/]  95% CI [{ci['low']:.4f}, {ci['high']:.4f}] "
                      f"(bootstrap, {ci['n_resamples']} resamples)", highlight=False)
    if result.get("calibration"):
        console.print(f"  ECE: {result['calibration']['ece']:.4f} ({result['calibration']['kind']})", highlight=False)
    for note in result.get("notes", []):
        console.print(f"  [yellow]note:[/] {note}", highlight=False)


def evaluate_cmd(
    run: Annotated[Path, typer.Argument(help="A run directory written by `emotune train`.")],
    dataset: Annotated[str | None, typer.Option(
        "--dataset", "-d", help="Dataset to evaluate on (default: the run's own).")] = None,
    split: Annotated[str, typer.Option("--split", "-s", help="train, dev or test.")] = "test",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the metrics as JSON here.")] = None,
    resamples: Annotated[int, typer.Option(
        "--resamples", help="Bootstrap resamples for the confidence intervals.")] = 1000,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Prediction batch size.")] = None,
) -> None:
    """Score a trained run on a split of its own dataset or of another dataset (labels mapped when possible)."""
    from emotune.evaluation.evaluate import evaluate_run

    result = evaluate_run(run, dataset=dataset, split=split, out=out, n_resamples=resamples, batch_size=batch_size)
    print_evaluation(result)
    if out is not None:
        console.print(f"Metrics written to {out}", highlight=False)


def compare_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Finished run directories (same labels and test set).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for index.html, comparison.json and figures/.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output folder.")] = False,
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 1000,
    threshold: Annotated[float, typer.Option("--threshold", help="F1 under which a label counts as a weakness.")] = 0.5,
    explain_texts: Annotated[int, typer.Option(
        "--explain-texts", min=0, help="Test texts explained per model for \"words that drive each emotion\" "
                                       "(0: skip that section; each text costs a model call per word).")] = 100,
) -> None:
    """Compare runs from their stored predictions: HTML report with figures and significance tests."""
    from emotune.reports.compare import compare_runs

    index = compare_runs(runs, out, overwrite=overwrite, title=title, n_resamples=resamples, f1_threshold=threshold,
                         explain_texts=explain_texts)
    console.print(f"Report written to {index}", highlight=False)


def benchmark_cmd(
    suite: Annotated[str, typer.Argument(help="isear, goemotions, semeval-ec, dair-emotion, or a dialogue / "
                                              "affect suite (meld, emorynlp, ei-reg, emobank, instruct).")],
    quick: Annotated[bool, typer.Option(
        "--quick", help="Tiny samples and few models: a smoke run of a few minutes.")] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder (default: bench_out/SUITE[-quick]).")] = None,
    models: Annotated[str | None, typer.Option(
        "--models", help="Comma-separated subset of the suite's models.")] = None,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Training seeds per model.")] = None,
    resamples: Annotated[int, typer.Option("--resamples", help="Bootstrap resamples.")] = 1000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the runs without training.")] = False,
    no_cv: Annotated[bool, typer.Option(
        "--no-cv", help="Skip the k-fold cross-validation of the best model (the table now; a later run without "
                        "--no-cv reuses every finished run and fold).")] = False,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Trainings at once, each in its own process pinned to one CPU core with one thread "
                             "(default: one per core; 1 = one after the other in this process).")] = None,
    explain_texts: Annotated[int | None, typer.Option(
        "--explain-texts", min=0, help="Test texts the report explains per model for its 'words that drive each "
                                      "emotion' section (default 100; 0 leaves it out: slow for LLMs on a CPU).")] = None,
    publish: Annotated[Path | None, typer.Option(
        "--publish", help="Also write the suite's results as DIR/SUITE.json (e.g. benchmarks/results; "
                          "`python benchmarks/tables.py` makes BENCHMARKS.md's tables from them). Merges into the file already there: "
                          "the models run now replace their entries, the suite's others keep theirs.")] = None,
) -> None:
    """Train (resumably) and compare every model of a benchmark suite; write results.json, results.md and a report."""
    from emotune.experiments import benchmark

    selected = [m.strip() for m in models.split(",") if m.strip()] if models else None
    if publish is not None and quick:
        raise ConfigError("--publish takes a full suite, not --quick: a smoke run's numbers are not results")
    if publish is not None:
        from emotune.experiments.results import read_published

        read_published(publish, suite)  # an unreadable file there fails now, not after the training
    if dry_run:
        plan = benchmark.build_suite(suite, quick=quick, models=selected, seeds=seeds, out_dir=out)
        size, folds = benchmark.follow_ups(plan.suite, quick=quick, models=selected, cv=not no_cv)
        after = [f"an ensemble of the best {size} by dev"] if size else []
        after += [f"{folds}-fold cross-validation of the best"] if folds else []
        extra = f" (then {' and '.join(after)})" if after else ""
        console.print(f"[bold]{suite}{' --quick' if quick else ''}[/]: {len(plan.runs)} runs in {plan.out_dir}{extra}",
                      highlight=False)
        for spec in plan.runs:
            d = spec.config.data
            rows = (f"train {'<= ' + format(d.max_train, ',') if d.max_train else 'all'}, "
                    f"eval {'<= ' + format(d.max_eval, ',') if d.max_eval else 'all'}")
            model = spec.config.model.backend + (f" {spec.config.model.name}" if spec.config.model.name else "")
            console.print(f"  {spec.run_dir.name}  [dim]{model}; {rows}[/]", highlight=False)
            if spec.note:
                console.print(f"      [dim]{spec.note}[/]", highlight=False)
        return
    result = benchmark.run_suite(suite, quick=quick, out_dir=out, models=selected, seeds=seeds, n_resamples=resamples,
                                 cv=not no_cv, jobs=jobs, explain_texts=explain_texts)
    console.print(result.table_markdown, highlight=False, markup=False)
    console.print(f"Results: {result.out_dir / 'results.md'}; report: {result.report or '(none)'}", highlight=False)
    if publish is not None:
        from emotune.experiments.results import publish as publish_results

        console.print(f"Published {publish_results(result.results, publish)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_cmd)
    app.command("compare")(compare_cmd)
    app.command("benchmark")(benchmark_cmd)
