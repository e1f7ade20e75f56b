"""`emotune feedback export`: web-page feedback -> a CSV that `emotune train` accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emotune.cli._common import console

feedback_app = typer.Typer(help="Feedback collected by `emotune serve --feedback-db`.", no_args_is_help=True)


@feedback_app.command("export")
def export(
    db: Annotated[Path, typer.Option("--db", help="The SQLite file given to `emotune serve --feedback-db`.")],
    out: Annotated[Path, typer.Option("--out", help="CSV to write (columns text,label).")],
    model: Annotated[str | None, typer.Option("--model", help="Only feedback on this model id.")] = None,
) -> None:
    """Write corrected labels and thumbs-up predictions as a text,label training CSV."""
    from emotune.serving.feedback import export_feedback, read_feedback

    n = export_feedback(db, out, model_id=model)
    total = len(read_feedback(db))  # read-only: the database is the server's, never written here
    console.print(f"[green]✓[/] {n} of {total} feedback rows -> {out}", highlight=False)
    console.print(f"  Train on them: emotune train isear-tfidf --set data.dataset={out} --set data.text_col=text "
                  "--set data.label_col=label --set name=feedback-tfidf", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")
