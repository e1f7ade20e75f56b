"""`emotune data list | show | audit`: the built-in datasets and user files, their counts and their problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console

data_app = typer.Typer(help="Datasets: list them, look at one, audit duplicates and leakage.", no_args_is_help=True)

_TextCol = Annotated[str | None, typer.Option("--text-col", help="User file: the text column.")]
_LabelCol = Annotated[str | None, typer.Option("--label-col", help="User file: one label (or a list) per row.")]
_LabelCols = Annotated[str | None, typer.Option("--label-cols", help="User file: comma-separated 0/1 label columns.")]
_TargetCols = Annotated[str | None, typer.Option("--target-cols", help="User file: comma-separated numeric targets.")]
_SplitCol = Annotated[str | None, typer.Option("--split-col", help="User file: train/dev/test column.")]
_Options = Annotated[list[str] | None, typer.Option("--option", "-o",
                                                    help="Loader option key=value, e.g. -o emotion=anger (repeatable).")]


def _parse_options(items: list[str] | None) -> dict:
    import yaml

    from emotune.errors import ConfigError

    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"Option '{item}' must look like key=value (e.g. emotion=anger)")
        k, v = item.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
    return out


def _cols(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _load(name, text_col, label_col, label_cols, target_cols, split_col, options):
    from emotune.data.registry import load_dataset

    return load_dataset(name, text_col=text_col, label_col=label_col, label_cols=_cols(label_cols),
                        target_cols=_cols(target_cols), split_col=split_col, **_parse_options(options))


@data_app.command("list")
def list_command() -> None:
    """Every built-in dataset: task, labels, rows (train / dev / test), licence and folder."""
    from rich.table import Table

    from emotune.data.registry import list_datasets
    from emotune.paths import data_dir

    root = data_dir(must_exist=False)
    table = Table(title=f"emotune datasets ({root})", title_justify="left")
    for col in ("name", "task", "labels", "rows", "licence", "folder"):
        table.add_column(col, overflow="fold", justify="right" if col == "labels" else "left",
                         no_wrap=col in ("name", "task"))
    for row in list_datasets():
        present = (root / row["folder"]).is_dir()
        folder = row["folder"] if present else f"[red]{row['folder']} (missing)[/]"
        table.add_row(row["name"], row["task"], str(row["labels"]), row["rows"], row["licence"], folder)
    console.print(table)
    console.print("[dim]Any CSV/TSV/JSONL/Parquet path works as a dataset name too "
                  "(--text-col, --label-col / --label-cols / --target-cols, --split-col).[/]")


@data_app.command("show")
def show_command(
    name: Annotated[str, typer.Argument(help="Built-in dataset name or a data file path.")],
    split: Annotated[str | None, typer.Option("--split", help="Only this split (train/dev/test).")] = None,
    n: Annotated[int, typer.Option("-n", "--rows", help="Sample rows to print.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")] = 0,
    text_col: _TextCol = None, label_col: _LabelCol = None, label_cols: _LabelCols = None,
    target_cols: _TargetCols = None, split_col: _SplitCol = None, option: _Options = None,
) -> None:
    """Counts per split and label, then a few sample rows (a file is read in chunks, never whole)."""
    from emotune.data.registry import get_spec_or_none, looks_like_path

    if looks_like_path(name) and get_spec_or_none(name) is None:  # a user file: read in chunks, never whole
        from emotune.data.describe import describe_chunks
        from emotune.data.files import load_file_chunks

        d = describe_chunks(load_file_chunks(name, text_col=text_col, label_col=label_col,
                                             label_cols=_cols(label_cols), target_cols=_cols(target_cols),
                                             split_col=split_col, **_parse_options(option)),
                            split=split, n=n, seed=seed)
        header = (d.name, d.task, d.label_set_name, len(d.labels), d.rows)
        desc, notes, no_label, sample = d.describe(), d.notes, d.no_label, d.sample
        labels = d.labels
    else:
        ds = _load(name, text_col, label_col, label_cols, target_cols, split_col, option)
        if split:
            ds = ds.split(split)
        header = (ds.name, ds.task, ds.label_set.name, len(ds.label_set), len(ds))
        desc, notes, labels = ds.describe(), ds.info.get("notes", []), list(ds.label_set.names)
        no_label = {}
        if ds.task.value == "multi_label":
            for labs, sp in zip(ds.frame["labels"], ds.frame["split"]):
                if not labs:
                    no_label[sp or "all"] = no_label.get(sp or "all", 0) + 1
        sample = []
        if n > 0 and len(ds):
            for _, r in ds.sample(min(n, len(ds)), seed=seed).frame.iterrows():
                item = {"split": r["split"], "text": r["text"]}
                if ds.label_set.is_classification:
                    item["labels"] = list(r["labels"])
                else:
                    item["targets"] = dict(zip(ds.label_set.names, r["targets"]))
                sample.append(item)
    _print_show(header, desc, notes, labels, no_label, sample)


def _print_show(header, desc, notes, labels, no_label, sample) -> None:
    from rich.table import Table

    name, task, set_name, n_labels, rows = header
    classification = task.value != "regression"
    console.print(f"[bold]{name}[/] - {task.value}, label set {set_name or '-'} ({n_labels}), {rows:,} rows",
                  highlight=False)
    for note in notes:
        console.print(f"[dim]{note}[/]", highlight=False)
    splits = list(desc["splits"])
    table = Table(title="rows per split and label" if classification else "rows and target means",
                  title_justify="left")
    table.add_column("label" if classification else "target")
    for s in splits:
        table.add_column(s, justify="right")
    table.add_row("[bold]rows[/]", *(f"{desc['splits'][s]['rows']:,}" for s in splits))
    for lab in labels:
        if classification:
            table.add_row(lab, *(f"{desc['splits'][s]['label_counts'].get(lab, 0):,}" for s in splits))
        else:
            table.add_row(f"{lab} (mean)", *(f"{desc['splits'][s].get('mean', {}).get(lab, float('nan')):.3f}"
                                            for s in splits))
    if task.value == "multi_label":
        table.add_row("(no label)", *(str(no_label.get(s, 0)) for s in splits))
    console.print(table)
    if sample:
        out = Table(title=f"{len(sample)} sample row(s)", title_justify="left", show_lines=True)
        out.add_column("split")
        out.add_column("text", overflow="fold")
        out.add_column("labels" if classification else "targets", overflow="fold")
        for r in sample:
            lab = ", ".join(r["labels"]) if classification else \
                ", ".join(f"{k}={v:.3f}" for k, v in r["targets"].items())
            out.add_row(r["split"] or "-", str(r["text"]), lab or "(none)")
        console.print(out)


def _counts_table(title: str, per_split: dict, across: dict, within_label="within split", across_label="across splits"):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    t.add_column("where")
    t.add_column("exact", justify="right")
    t.add_column("normalised", justify="right")
    for s, (ex, no) in per_split.items():
        t.add_row(f"{within_label}: {s}", f"{ex:,}", f"{no:,}")
    for pair, (ex, no) in across.items():
        style = "red" if no else "green"
        t.add_row(f"{across_label}: {pair.replace('|', ' / ')}", f"[{style}]{ex:,}[/]", f"[{style}]{no:,}[/]")
    return t


@data_app.command("audit")
def audit_command(
    name: Annotated[str, typer.Argument(help="Built-in dataset name or a data file path.")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full report as JSON here.")] = None,
    group_by: Annotated[str | None, typer.Option("--group-by", help="Column kept on one side by emotune's split.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of emotune's split.")] = 42,
    text_col: _TextCol = None, label_col: _LabelCol = None, label_cols: _LabelCols = None,
    target_cols: _TargetCols = None, split_col: _SplitCol = None, option: _Options = None,
) -> None:
    """Duplicates (exact / normalised) within and across splits, conflicting labels, balance, placeholders."""
    from rich.table import Table

    from emotune.data.audit import audit_dataset
    from emotune.config import SplitConfig

    ds = _load(name, text_col, label_col, label_cols, target_cols, split_col, option)
    report = audit_dataset(ds, SplitConfig(seed=seed, group_by=group_by))
    console.print(f"[bold]Audit of {report.dataset}[/] - {report.task}, {report.rows:,} rows "
                  f"({', '.join(f'{s} {n:,}' for s, n in report.rows_per_split.items())})", highlight=False)

    per = {s: (report.exact_duplicates[s], report.normalised_duplicates[s]) for s in report.rows_per_split}
    across = {p: (report.exact_across[p], report.normalised_across[p]) for p in report.exact_across}
    console.print(_counts_table("Duplicates as published (rows repeating an earlier row / distinct shared texts)",
                                per, across))

    t = Table(title="Labels, placeholders and empty texts as published", title_justify="left")
    t.add_column("split")
    for c in ("rows", "conflicting texts", "placeholders", "empty"):
        t.add_column(c, justify="right")
    for s, rows in report.rows_per_split.items():
        t.add_row(s, f"{rows:,}", str(report.conflicts_per_split.get(s, "-")), str(report.placeholders.get(s, 0)),
                  str(report.empty.get(s, 0)))
    console.print(t)
    if report.task != "regression":
        console.print(f"Texts with conflicting labels (whole dataset): {report.conflicting_texts:,} "
                      f"({report.conflicting_rows:,} rows)", highlight=False)
        for ex in report.examples.get("conflicts", [])[:3]:
            console.print(f"  [dim]{ex['text'][:80]!r}: {' vs '.join(ex['labels'])}[/]", highlight=False)

    bal = report.class_balance
    b = Table(title="Class balance" if report.task != "regression" else "Target distribution", title_justify="left")
    b.add_column("label")
    for s in bal:
        b.add_column(s, justify="right")
    keys = list(dict.fromkeys(k for s in bal for k in bal[s]))
    for k in keys:
        if report.task == "regression":
            b.add_row(k, *(f"{bal[s].get(k, float('nan')):.3f}" for s in bal))
        else:
            b.add_row(k, *(f"{bal[s].get(k, 0):,} ({bal[s].get(k, 0) / max(1, report.rows_per_split[s]):.1%})"
                           for s in bal))
    console.print(b)

    after = report.after_split
    if after:
        per = {s: (after["exact_duplicates"][s], after["normalised_duplicates"][s]) for s in after["rows_per_split"]}
        across = {p: (after["exact_across"][p], after["normalised_across"][p]) for p in after["exact_across"]}
        console.print(_counts_table("After emotune's split", per, across))
        for note in after.get("notes", []):
            console.print(f"[dim]{note}[/]", highlight=False)
        total = report.texts_across_after
        style = "green" if total == 0 else "red"
        console.print(f"[{style}]texts across splits after emotune's split: {total}[/]", highlight=False)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        console.print(f"Report written to {json_out}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
