"""`emotune eda NAME --out DIR`: an HTML page of figures and statistics about one dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console
from emotune.cli.data import _LabelCol, _LabelCols, _Options, _SplitCol, _TargetCols, _TextCol


def eda_command(
    name: Annotated[str, typer.Argument(help="Built-in dataset name (emotune data list) or a data file path.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for index.html and the figures.")],
    split: Annotated[str, typer.Option("--split", help="all, or one split (train/dev/test).")] = "all",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report in --out.")] = False,
    max_points: Annotated[int, typer.Option("--max-points", min=2,
                                            help="Texts embedded for the t-SNE map and centroids.")] = 3000,
    embed_model: Annotated[str, typer.Option("--embed-model", help="Encoder for the embeddings.")] = "minilm",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the t-SNE sample and layout.")] = 0,
    text_col: _TextCol = None, label_col: _LabelCol = None, label_cols: _LabelCols = None,
    target_cols: _TargetCols = None, split_col: _SplitCol = None, option: _Options = None,
) -> None:
    """Explore a dataset: label and length distributions, distinctive terms, word clouds, t-SNE, duplicates."""
    from emotune.cli.data import _load
    from emotune.reports.eda import build_eda_report

    ds = _load(name, text_col, label_col, label_cols, target_cols, split_col, option)
    if split != "all":
        ds = ds.split(split)
    # Plain step lines rather than a spinner: the embedding step shows its own progress bar, and
    # rich allows one live display at a time.
    index = build_eda_report(ds, out, embed_model=embed_model, max_points=max_points, seed=seed,
                             overwrite=overwrite, progress=True,
                             log=lambda msg: console.print(f"[dim]· {msg}[/]", highlight=False))
    console.print(f"[green]✓[/] EDA report for {ds.name} ({len(ds):,} rows): {index}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("eda")(eda_command)
