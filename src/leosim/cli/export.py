"""``leosim export hypatia``: leosim's state as Hypatia's ``satellite_networks_state`` folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from ..errors import LeosimError
from ._util import TYPER_SETTINGS, console, out_console, outputs_line, plural, step_progress
from ._util import fail as _fail

app = typer.Typer(
    help="Export leosim's network state for other simulators.",
    no_args_is_help=True,
    **TYPER_SETTINGS,
)


@app.command()
def hypatia(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: Annotated[
        Path,
        typer.Argument(help="Folder to write: new, empty, or an earlier leosim export."),
    ],
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Write Hypatia's satellite_networks_state folder (tles.txt, isls.txt, ground_stations.txt,
    description.txt, gsl_interfaces_info.txt, dynamic_state_*/fstate_*.txt) for its ns-3
    simulator, with leosim's forwarding state of every time step."""
    from ..hypatia_export import export_hypatia
    from ..scenario import load_scenario

    progress = step_progress(quiet)
    task = {}
    shown: set[str] = set()

    def on_start(net, n_steps):
        if not quiet:
            console.print(
                f"{net.num_sats:,} satellites, {plural(net.num_gs, 'station')}, "
                f"{plural(len(net.isl_pairs), 'ISL')}, {plural(n_steps, 'step')}",
                soft_wrap=True,
            )
            for note in net.notes:
                console.print(f"  note: {note}", soft_wrap=True)
                shown.add(note)
        progress.start()
        task["id"] = progress.add_task("forwarding state", total=n_steps)

    def on_step(k):
        progress.advance(task["id"], k)

    t0 = time.perf_counter()
    try:
        sc = load_scenario(scenario)
        res = export_hypatia(sc, out, on_start=on_start, on_step=on_step)
    except LeosimError as exc:
        _fail(exc)
    finally:
        if task:
            progress.stop()
    if quiet:
        return
    for note in res.notes:
        if note not in shown:
            console.print(f"note: {note}", soft_wrap=True)
    out_console.print(
        f"{plural(res.num_steps, 'step')}, {res.fstate_lines:,} fstate lines in "
        f"{time.perf_counter() - t0:.1f} s; ns-3: satellite_network_routes_dir = "
        f"{res.dynamic_state_dir}",
        soft_wrap=True,
    )
    out_console.print(outputs_line(out, res.files), soft_wrap=True)
