"""`emotune distill teacher`: a thin wrapper over :func:`emotune.training.distill.build_teacher_file`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console

app = typer.Typer(help="Knowledge distillation: out-of-fold teacher files for training.distill.", no_args_is_help=True)


@app.command("teacher")
def teacher(
    teachers: Annotated[list[str], typer.Argument(help="Teacher recipes: configs, presets or run directories "
                                                       "(an ensemble run stands for its members).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Teacher file to write (JSONL).")],
    folds: Annotated[int, typer.Option("--folds", "-k", min=2, help="Folds of train (each row predicted once).")] = 5,
    data: Annotated[Path | None, typer.Option("--data", help="The student's config (its data section); default: "
                                                              "the first teacher's data.")] = None,
    set_: Annotated[list[str], typer.Option("--set", "-s", help="Override a key of --data's config, e.g. "
                                                                "data.max_train=500 (repeatable).")] = [],  # noqa: B006
    work_dir: Annotated[Path | None, typer.Option("--work-dir", help="Where the teachers' folds are trained "
                                                                     "(default: OUT's name + .teachers).")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Retrain finished teacher folds.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Teacher folds trained at once, each in its own "
                                                                   "process pinned to one CPU core.")] = 1,
    in_sample: Annotated[bool, typer.Option("--in-sample", help="Finished runs predict the train rows they were "
                                                                "trained on: no cross-validation, one pass (for a "
                                                                "student that imitates them, e.g. isear-minilm-l4).")] = False,
) -> None:
    """Cross-validate each teacher on TRAIN only and write its out-of-fold probabilities, averaged (dev and test
    unused); a student then trains with --set training.distill.teacher=OUT."""
    from emotune.config import RunConfig
    from emotune.training.distill import build_in_sample_teacher_file, build_teacher_file

    if in_sample:
        if data is not None or set_ or work_dir is not None:
            raise typer.BadParameter("--in-sample uses the runs' own data: drop --data, --set and --work-dir")
        with console.status("teachers predicting the train split"):
            result = build_in_sample_teacher_file(teachers, out)
        names = ", ".join(t["name"] for t in result.provenance["teachers"])
        console.print(f"[green]✓[/] {len(result):,} train rows, in-sample probabilities of {names} -> {out}",
                      highlight=False)
        return
    data_config = RunConfig.load(data, list(set_)).data if data is not None else None
    result = build_teacher_file(teachers, out, folds=folds, data_config=data_config, work_dir=work_dir,
                                overwrite=overwrite, jobs=jobs, say=lambda msg: console.print(msg, highlight=False))
    names = ", ".join(t["name"] for t in result.provenance["teachers"])
    console.print(f"[green]✓[/] {len(result):,} of {result.provenance['train_rows']:,} train rows, {folds}-fold "
                  f"out-of-fold probabilities of {names} -> {out}", highlight=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="distill")
