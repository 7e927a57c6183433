"""``leosim sweep SWEEP.toml``: a grid of scenarios × policies × parameters (see :mod:`leosim.sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import LeosimError
from ._util import console, out_console, outputs_line, plural
from ._util import fail as _fail


def command(
    sweep: Annotated[Path, typer.Argument(help="Sweep TOML (scenarios, policies, [grid]).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("leosim-sweep"),
    executor: Annotated[
        str | None, typer.Option(help="serial, processes, dask or ray (default: the sweep's).")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Dask scheduler or Ray cluster.")] = None,
    workers: Annotated[int | None, typer.Option(help="Local workers.", min=1, max=256)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Run every case of a sweep; sweep.csv (one row per case) and case-K.csv (its details)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..execution import make_executor, resolve_executor
    from ..outputs import OutputDir, check_output_dir, write_table
    from ..sweep import load_sweep, rows_table, run_sweep

    try:
        if address is not None and executor is None:
            raise LeosimError("--address needs --executor dask or --executor ray")
        spec, cases, _ = load_sweep(sweep)
        check_output_dir(out)
        ex = spec.execution
        if executor is None:
            executor, address = ex.executor, address or ex.address
        w = workers or ex.workers
        # A missing extra or a bad address is one line before any bar is drawn.
        name, addr = resolve_executor(executor, address, w)
        make_executor(name, workers=w, address=addr)
        progress = Progress(
            TextColumn("cases", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            disable=quiet,
        )
        with progress:
            task = progress.add_task("cases", total=len(cases))
            results = run_sweep(
                cases,
                executor=executor,
                address=address,
                workers=w,
                on_case=lambda row: progress.advance(task, 1),
            )
        rows = [r for r, _ in results]
        with OutputDir(out, command="sweep") as o:
            write_table(o, "sweep.csv", rows_table(rows))
            for row, detail in results:
                write_table(o, f"case-{row['case']}.csv", detail)
            o.path("sweep.toml").write_bytes(Path(sweep).read_bytes())
    except LeosimError as exc:
        _fail(exc)
    if quiet:
        return
    t = Table(title=f"{spec.name}: {plural(len(cases), 'case')}")
    hidden = {"satellites", "pairs", "terminals", "steps", "min_rtt_ms", "max_rtt_ms"}
    keys = [k for k in rows[0] if k not in hidden and (k != "policy" or rows[0][k])]
    for k in keys:
        t.add_column(k, justify="left" if k in ("scenario", "policy") else "right")
    for r in rows:
        t.add_row(
            *[f"{r[k]:.3f}" if isinstance(r.get(k), float) else str(r.get(k, "")) for k in keys]
        )
    out_console.print(t)
    out_console.print(outputs_line(out, o.files), soft_wrap=True)
