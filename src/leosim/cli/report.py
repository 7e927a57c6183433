"""``leosim report DIR``: one self-contained HTML file from an output folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import LeosimError
from ._util import console, fail


def command(
    folder: Annotated[
        Path, typer.Argument(help="Output folder of leosim run, policy, coverage or capacity.")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="HTML file to write (default: DIR.html beside DIR)."),
    ] = None,
) -> None:
    """Write one self-contained HTML report (plots, tables, scenario and policy; no network)."""
    from ..html_report import write_report

    try:
        path = write_report(folder, out)
    except LeosimError as exc:
        fail(exc)
    console.print(f"wrote {path}", soft_wrap=True)
