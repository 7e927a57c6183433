"""What the command-line modules share: consoles, the one-line error exit, progress bars.

Both consoles print text literally: no rich markup (``[coverage]`` stays), no emoji codes
(``in.tle:100:`` stays), no highlighting.  Style is given with ``style=``, never with markup
inside user-supplied text.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

_LITERAL = {"markup": False, "emoji": False, "highlight": False}

console = Console(stderr=True, **_LITERAL)
"""Progress and errors go to standard error, so tables on standard output can be piped."""
out_console = Console(**_LITERAL)

TYPER_SETTINGS = {"rich_markup_mode": None, "add_completion": False}
"""Settings of every ``typer.Typer``: help text printed as written, no completion commands."""


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 pair"``, ``"2 pairs"``, ``"1,234 cells"``; ``plural_form`` for irregular nouns.

    >>> plural(1, "pair"), plural(2, "pair"), plural(4408, "satellite"), plural(0, "ISL")
    ('1 pair', '2 pairs', '4,408 satellites', '0 ISLs')
    """
    word = singular if n == 1 else (plural_form or singular + "s")
    return f"{n:,} {word}"


def fail(exc: Exception) -> None:
    """Print ``error: <message>`` on one line, literally, and exit with status 2."""
    console.print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)
    raise typer.Exit(2)


def outputs_line(folder, files: list[str]) -> str:
    """``outputs in FOLDER/: a.csv, b.csv`` for the files really written."""
    return f"outputs in {folder}/: {', '.join(files) if files else '(none)'}"


def step_progress(quiet: bool) -> Progress:
    """A progress bar counting time steps, with its (literal) description in bold."""
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
