"""`emotune train`, `emotune cv` and `emotune presets`: thin wrappers over :func:`emotune.training.trainer.train`,
:func:`emotune.training.cv.cross_validate` and the packaged presets of :mod:`emotune.config`."""

from __future__ import annotations

from pathlib import Path

import typer

from emotune.cli._common import console

_SET_HELP = "Override a config key, e.g. --set training.epochs=2 --set data.max_train=500 (repeatable)."


def _load_config(config: Path | None, overrides: list[str], dataset: str | None, backend: str | None,
                 model: str | None):
    from emotune.errors import ConfigError
    from emotune.config import RunConfig, apply_overrides

    quick = [f"data.dataset={dataset}"] if dataset else []
    quick += [f"model.backend={backend}"] if backend else []
    quick += [f"model.name={model}"] if model else []
    if config is None:
        if not (dataset and backend):
            raise ConfigError("Give a config file or preset name (emotune presets) or at least --dataset and --backend",
                              hint="e.g. emotune train isear-tfidf, emotune train my-config.yaml, or "
                                   "emotune train --dataset isear --backend tfidf")
        name = "-".join(x.replace("/", "_") for x in (dataset, backend, model) if x)
        raw = apply_overrides({"name": name}, quick + list(overrides))
        return RunConfig.from_dict(raw, source="command line")
    return RunConfig.load(config, quick + list(overrides))


def _print_scores(metrics: dict, run_dir: Path) -> None:
    from rich.table import Table

    primary = metrics["primary_metric"]
    keys = [primary] + [k for k in ("accuracy", "f1_micro", "jaccard_samples", "spearman") if k in metrics.get("dev", {}) and k != primary]
    table = Table(title=f"{metrics.get('name', '')} ({metrics.get('backend')})", title_justify="left")
    table.add_column("split")
    for k in keys:
        table.add_column(k, justify="right")
    for split in ("dev", "test"):
        if split in metrics:
            table.add_row(split, *(f"{metrics[split].get(k, float('nan')):.4f}" for k in keys))
    console.print(table)
    console.print(f"Run directory: {run_dir}", highlight=False)


def train_command(
    config: Path = typer.Argument(None, help="YAML run config, or a preset name (emotune presets).",
                                  show_default=False),
    set_: list[str] = typer.Option([], "--set", "-s", help=_SET_HELP),
    run_dir: Path = typer.Option(None, "--run-dir", help="Where to write the run (default: output_dir/name)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a finished run in the run directory."),
    no_resume: bool = typer.Option(False, "--no-resume", help="Start an unfinished run over instead of resuming it."),
    dataset: str = typer.Option(None, "--dataset", help="Quick start without a config: data.dataset."),
    backend: str = typer.Option(None, "--backend", help="Quick start without a config: model.backend."),
    model: str = typer.Option(None, "--model", help="Quick start without a config: model.name."),
    nproc: int = typer.Option(None, "--nproc", min=1,
                              help="Train in N processes on this machine: hands over to torchrun "
                                   "(DDP: gloo on CPU, NCCL on GPUs; README 'Scaling out')."),
) -> None:
    """Train a classifier from a config into a run directory (resumes an unfinished run)."""
    from emotune.training.trainer import train

    cfg = _load_config(config, set_, dataset, backend, model)  # a bad config fails here, before torchrun
    if nproc is not None and nproc > 1:
        _hand_over_to_torchrun(nproc, config, set_, run_dir, overwrite, no_resume, dataset, backend, model)
    result = train(cfg, run_dir, resume=not no_resume, overwrite=overwrite)
    if result.main_process:
        _print_scores(result.metrics, result.run_dir)


def _hand_over_to_torchrun(nproc: int, config, set_, run_dir, overwrite, no_resume, dataset, backend, model) -> None:
    """``--nproc N``: this process becomes ``torchrun --standalone --nproc-per-node N -m emotune train ...``."""
    import os
    import sys

    from emotune import runtime
    from emotune.errors import ConfigError
    from emotune.training.distributed import torchrun_command

    if runtime.world_size() > 1:  # already one of torchrun's workers
        if runtime.world_size() != nproc:
            raise ConfigError(f"--nproc {nproc} inside a launcher that started {runtime.world_size()} processes",
                              hint="Drop --nproc under torchrun / accelerate launch: the launcher decides.")
        return
    args = [str(config)] if config is not None else []
    for item in set_:
        args += ["--set", item]
    for flag, value in (("--run-dir", run_dir), ("--dataset", dataset), ("--backend", backend), ("--model", model)):
        if value is not None:
            args += [flag, str(value)]
    args += ["--overwrite"] * overwrite + ["--no-resume"] * no_resume
    command = torchrun_command(nproc, args)
    console.print(f"Handing over to torchrun: {' '.join(command[1:])}", highlight=False)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(command[0], command)


def cv_command(
    config: Path = typer.Argument(..., help="YAML run config, or a preset name (emotune presets)."),
    folds: int = typer.Option(5, "--folds", "-k", min=2, help="Number of folds."),
    set_: list[str] = typer.Option([], "--set", "-s", help=_SET_HELP),
    run_dir: Path = typer.Option(None, "--run-dir", help="Where to write the folds (default: output_dir/name-cvK)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace finished folds."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Folds trained at once, each in its own process pinned "
                                                          "to one CPU core with one thread (CPU machines)."),
) -> None:
    """K-fold cross-validation on train+dev (test stays untouched): mean ± std of every metric."""
    from emotune.training.cv import cross_validate

    cfg = _load_config(config, set_, None, None, None)
    summary = cross_validate(cfg, folds=folds, run_dir=run_dir, overwrite=overwrite, jobs=jobs,
                             say=lambda msg: console.print(msg, highlight=False))
    console.print(summary.to_markdown(), highlight=False, soft_wrap=True)
    console.print(f"Run directory: {summary.run_dir}", highlight=False)


def presets_command() -> None:
    """List the packaged run presets: `emotune train NAME` runs one from any folder."""
    import yaml
    from rich.table import Table

    from emotune.config import PRESETS_DIR, preset_names

    table = Table(title=f"emotune presets ({PRESETS_DIR})", title_justify="left")
    for col in ("name", "backend", "model", "dataset"):
        table.add_column(col, overflow="fold", no_wrap=col != "model")
    for name in preset_names():
        raw = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text(encoding="utf-8")) or {}
        model, data = raw.get("model", {}), raw.get("data", {})
        table.add_row(name, model.get("backend", ""), model.get("name") or "", data.get("dataset", ""))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("train")(train_command)
    app.command("cv")(cv_command)
    app.command("presets")(presets_command)
