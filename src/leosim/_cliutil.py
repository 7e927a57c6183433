"""What the command-line modules share: consoles, the one-line error exit, progress bars."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console(stderr=True)
"""Progress and errors go to standard error, so tables on standard output can be piped."""
out_console = Console()


def fail(exc: Exception) -> None:
    """Print ``error: <message>`` on one line (rich markup escaped) and exit with status 2."""
    console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def step_progress(quiet: bool) -> Progress:
    """A progress bar counting time steps, with its description in bold."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
