"""``leosim sweep SWEEP.toml``: a grid of scenarios × policies × parameters (see :mod:`leosim.sweep`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import LeosimError
from . import _execution as xo
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
    chunk_s: xo.ChunkS = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted sweep from its finished cases and chunks."),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or table.")] = False,
) -> None:
    """Run every case of a sweep; sweep.csv (one row per case) and case-K.csv (its details).

    A policy case is computed in chunks of its window (--chunk-s, else the sweep's or the
    scenario's [execution] chunk_s), the chunks of all cases on one executor; --resume
    continues an interrupted sweep (the same files as an uninterrupted one)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..execution import make_executor, resolve_executor
    from ..outputs import OutputDir, check_output_dir, write_table
    from ..sweep import load_sweep, rows_table, sweep_cases, sweep_store

    try:
        if address is not None and executor is None:
            raise LeosimError("--address needs --executor dask or --executor ray")
        spec, cases, _ = load_sweep(sweep)
        final = check_output_dir(out)
        ex = spec.execution
        if executor is None:
            executor, address = ex.executor, address or ex.address
        w = workers or ex.workers
        cs = chunk_s if chunk_s is not None else ex.chunk_s
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
        with sweep_store(final, cases, chunk_s=cs, resume=resume) as store:
            with progress:
                task = progress.add_task("cases", total=len(cases))
                rows = sweep_cases(
                    cases,
                    store,
                    executor=executor,
                    address=address,
                    workers=w,
                    chunk_s=cs,
                    on_case=lambda row: progress.advance(task, 1),
                )
            with OutputDir(out, command="sweep") as o:
                write_table(o, "sweep.csv", rows_table(rows))
                for k, row in enumerate(rows):
                    write_table(o, f"case-{row['case']}.csv", store.read(k, "detail"))
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
