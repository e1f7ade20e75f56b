"""`emotune models list` / `emotune models prepare`: the model zoo."""

from __future__ import annotations

from typing import Annotated

import typer

from emotune.cli._common import console

models_app = typer.Typer(help="The model zoo: presets, where their weights are, one-time preparation.",
                         no_args_is_help=True)


@models_app.command("list")
def list_models() -> None:
    """Show every preset and whether it loads offline here."""
    from rich.table import Table

    from emotune.config import PRESETS_DIR
    from emotune.models import zoo

    table = Table(title="emotune model zoo", title_justify="left")
    for col in ("name", "hub id", "family", "size", "offline", "default recipe"):
        table.add_column(col, overflow="fold", no_wrap=col in ("name", "family", "size", "offline"))
    for p in zoo.PRESETS.values():
        offline = "[green]yes[/]" if zoo.is_available_offline(p) else "[dim]no[/]"
        recipe = p.default_recipe or ""
        if recipe and not (PRESETS_DIR / recipe).is_file():
            recipe = f"[dim]{recipe}[/]"
        table.add_row(p.name, p.hub_id, p.family, p.size, offline, recipe)
    console.print(table)
    console.print("[dim]Hub models need EMOTUNE_ALLOW_DOWNLOADS=1 and HF_HUB_OFFLINE=0, or a local directory "
                  "passed as the model name. Dimmed recipes are not packaged presets (emotune presets).[/]")


@models_app.command("prepare")
def prepare_models(
    names: Annotated[list[str] | None,
                     typer.Argument(help="Presets to prepare (default: every offline package).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
) -> None:
    """Join/convert the packaged weights into the cache once and check they load (idempotent)."""
    from emotune.models import zoo

    for r in zoo.prepare(names or None, progress=progress):
        if r.status == "missing":
            console.print(f"[yellow]-[/] {r.name}: not installed ({r.message})", highlight=False)
        else:
            console.print(f"[green]✓[/] {r.name}: {r.status} in {r.seconds:.1f} s -> {r.path}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
