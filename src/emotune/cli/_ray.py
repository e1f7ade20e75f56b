"""`predict` / `annotate` with `--engine ray`: options checked, one progress bar over every shard's rows."""

from __future__ import annotations

from pathlib import Path

from emotune.cli._common import console, console_err

ENGINES = ("local", "ray")


def check_engine(engine: str, address: str | None, workers: int | None) -> None:
    from emotune.errors import ConfigError

    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine == "local" and (address or workers):
        raise ConfigError("--address and --workers are options of --engine ray",
                          hint="e.g. emotune predict RUN --input corpus/ --output labelled.parquet --engine ray --workers 2")


class ShardProgress:
    """Rows done over rows known: a shard adds its rows when it starts (the total grows), and
    shards finished by an earlier run are said once."""

    def __init__(self, verb: str):
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        self.bar = Progress(TextColumn(f"[bold]{verb}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("[dim]{task.fields[shards]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                            console=console_err, transient=True, disable=not console_err.is_terminal)
        self.task_id = self.bar.add_task("rows", total=None, shards="")
        self.total = self.done_rows = self.shards = self.finished = 0

    def on_plan(self, plan) -> None:
        self.shards, self.finished = len(plan.shards), len(plan.done)
        if plan.done:
            console_err.print(f"Resuming: {len(plan.done)} of {len(plan.shards)} shards are already in {plan.output}.",
                              highlight=False)
        self._shards()

    def on_total(self, name: str, total: int, skipped: int) -> None:
        self.total += total
        self.bar.update(self.task_id, total=self.total, advance=skipped)

    def on_progress(self, n: int) -> None:
        self.bar.advance(self.task_id, n)

    def on_shard_done(self, name: str) -> None:
        self.finished += 1
        self._shards()

    def _shards(self) -> None:
        self.bar.update(self.task_id, shards=f"{self.finished}/{self.shards} shards")

    def __enter__(self) -> ShardProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)


def run_on_ray(job, input: Path, *, address: str | None, workers: int | None, overwrite: bool, verb: str,
               as_json: bool) -> None:
    from emotune.inference.ray_engine import label_corpus

    progress = ShardProgress(verb)
    with progress:
        result = label_corpus(job, input, address=address, workers=workers, overwrite=overwrite,
                              on_plan=progress.on_plan, on_total=progress.on_total,
                              on_progress=progress.on_progress, on_shard_done=progress.on_shard_done)
    if as_json:
        import json

        console.print_json(json.dumps(result.to_dict()))
        return
    skipped = f", {result.skipped_shards} finished by an earlier run" if result.skipped_shards else ""
    resumed = f" ({result.resumed} rows from an earlier run)" if result.resumed else ""
    console.print(f"[green]✓[/] {result.shards} shard(s){skipped}: {result.written} rows {verb.replace('ing', 'ed')}"
                  f"{resumed} on {result.workers or 'no'} Ray worker(s) -> {result.output}", highlight=False)
    if result.blank_rows:
        console_err.print(f"[yellow]Warning:[/] {result.blank_rows} row(s) have an empty text and were left "
                          "unlabelled.", highlight=False)
