"""``leosim catalogue fetch``: current elements of a satellite group from CelesTrak."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..celestrak import CELESTRAK_GP_URL
from ..errors import LeosimError
from ._util import console, out_console
from ._util import fail as _fail

app = typer.Typer(
    help="Satellite catalogues: fetch the flying constellation.", no_args_is_help=True
)

_ORIGIN = {
    "downloaded": "downloaded from",
    "not-modified": "unchanged since the last download (HTTP 304) from",
    "cache": "from the cache of",
    "stale-cache": "from an old cached copy of",
}


@app.command()
def fetch(
    group: Annotated[str, typer.Argument(help="CelesTrak group, e.g. starlink, oneweb, kuiper.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write.")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="tle, omm-json, omm-csv or omm-xml.")
    ] = "tle",
    base_url: Annotated[
        str, typer.Option(help="GP query endpoint (a mirror); GROUP and FORMAT are appended.")
    ] = CELESTRAK_GP_URL,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Cache folder (default: $LEOSIM_CACHE_DIR, else $XDG_CACHE_HOME/leosim, "
            "else ~/.cache/leosim)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(help="Download inside the 2-hour window; refused for celestrak.org."),
    ] = False,
    allow_stale: Annotated[
        bool, typer.Option(help="If the download fails, write the cached copy (with a warning).")
    ] = False,
) -> None:
    """Download current GP elements of GROUP from CelesTrak, at most once per 2 hours.

    Inside 2 hours of the last download the cached copy is served without a request; after
    that the request is conditional. Every download is checked before it replaces the cache.
    """
    from ..celestrak import FetchError, check_out_path, fetch_gp, write_out
    from ..outputs import check_output_file

    try:
        check_out_path(out)
        check_output_file(out)  # also: dangling links, a path below a file, unwritable folders
        res = fetch_gp(
            group,
            fmt,
            base_url=base_url,
            cache_dir=cache_dir,
            force=force,
            allow_stale=allow_stale,
        )
        for note in res.notes:
            console.print(note, highlight=False, soft_wrap=True)
        write_out(out, res.body)
    except FetchError as exc:
        _fail(FetchError(f"{exc}; {out} was not written"))
    except LeosimError as exc:
        _fail(exc)
    out_console.print(
        f"wrote {out}: {res.n_satellites} satellites ({_ORIGIN[res.origin]} {res.url})",
        highlight=False,
        soft_wrap=True,
    )
