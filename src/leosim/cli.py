"""Command-line interface: ``leosim run``, ``leosim demo`` and friends.

Bad input ends the command with one line ``error: <file>:<line>: [key] what was expected`` on
standard error and exit status 2; never a traceback.
"""

from __future__ import annotations

import sys
import tomllib
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ._cliutil import console, fail, out_console, step_progress
from .errors import LeosimError

app = typer.Typer(
    name="leosim",
    help="Fast simulator for Starlink-style LEO satellite networks.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
_fail = fail


def _version(value: bool) -> None:
    if value:
        from . import __version__

        out_console.print(f"leosim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Fast simulator for Starlink-style LEO satellite networks: routing identical to Hypatia,
    service policy by territory, coverage and capacity."""


def _run(scenario_path: Path | None, out: Path, workers: int | None, quiet: bool) -> None:
    from .runner import run_scenario
    from .scenario import DEMO_SCENARIO_TOML, load_scenario, parse_scenario

    if scenario_path is None:
        text = DEMO_SCENARIO_TOML
        sc = parse_scenario(tomllib.loads(text), source="<built-in demo>")
    else:
        sc = load_scenario(scenario_path)
        text = Path(scenario_path).read_text(encoding="utf-8")

    # The bar starts once the network is built, so an input error prints its line alone.
    progress = step_progress(quiet)
    task = {}

    def on_start(net, n_steps):
        if not quiet:
            console.print(
                f"[bold]{escape(sc.name)}[/]: {net.num_sats} satellites, {net.num_gs} stations, "
                f"{len(net.isl_pairs)} ISLs, {len(net.pairs)} pairs, {n_steps} steps"
            )
            for note in net.notes:
                console.print(f"  note: {escape(note)}")
        progress.start()
        task["id"] = progress.add_task("routing", total=n_steps)

    def on_progress(n):
        progress.advance(task["id"], n)

    try:
        res = run_scenario(
            sc, out, scenario_text=text, workers=workers, on_start=on_start, on_progress=on_progress
        )
    finally:
        progress.stop()
    if quiet:
        return
    s = res.summary
    table = Table(title=f"RTT per pair ({res.num_steps} steps, {res.wall_s:.1f} s)")
    for col in ("pair", "min ms", "median ms", "max ms", "path changes", "unreachable"):
        table.add_column(col, justify="right" if col != "pair" else "left")
    for i in range(len(s["src"])):
        table.add_row(
            f"{s['src_name'][i]} → {s['dst_name'][i]}",
            f"{s['min_rtt_ms'][i]:.3f}",
            f"{s['median_rtt_ms'][i]:.3f}",
            f"{s['max_rtt_ms'][i]:.3f}",
            str(s["path_changes"][i]),
            str(s["unreachable_steps"][i]),
        )
    out_console.print(table)
    out_console.print(f"outputs in {res.out_dir}/: routes.csv, summary.csv, rtt.png, scenario.toml")


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML file (omit for the built-in demo).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("leosim-out"),
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: the scenario's, else 1).", min=1)
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")
    ] = False,
) -> None:
    """Route every pair of a scenario over its time window and write routes.csv, a plot and a summary."""
    try:
        _run(scenario, out, workers, quiet)
    except LeosimError as exc:
        _fail(exc)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("leosim-out"),
    workers: Annotated[int | None, typer.Option(help="Worker processes.", min=1)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Run the built-in default: Hypatia's Starlink 550 km scenario, seven city pairs, 200 s."""
    try:
        if workers is None:
            from .simulate import default_workers

            workers = default_workers()
        _run(None, out, workers, quiet)
    except LeosimError as exc:
        _fail(exc)


@app.command()
def presets() -> None:
    """List the built-in constellations and station sets."""
    from .constellation import preset_names, preset_shells
    from .ground import builtin_station_names

    t = Table(title="constellation presets")
    for c in ("preset", "shell", "planes × sats", "altitude km", "inclination °"):
        t.add_column(c)
    for name in preset_names():
        for sh in preset_shells(name):
            t.add_row(
                name,
                sh.name,
                f"{sh.num_planes} × {sh.sats_per_plane}",
                f"{sh.nominal_altitude_km:.0f}",
                f"{sh.inclination_deg:g}",
            )
    out_console.print(t)
    out_console.print("station sets: " + ", ".join(builtin_station_names()))


@app.command("export-tle")
def export_tle(
    preset: Annotated[str, typer.Argument(help="Constellation preset name.")],
    out: Annotated[Path, typer.Argument(help="TLE file to write.")],
    hypatia_header: Annotated[bool, typer.Option(help="Write Hypatia's 'P S' first line.")] = False,
) -> None:
    """Write a preset constellation as a 3-line TLE file."""
    from .constellation import preset as make

    try:
        make(preset).write_tle(out, hypatia_header=hypatia_header)
    except LeosimError as exc:
        _fail(exc)
    out_console.print(f"wrote {out}")


def register(sub_app: typer.Typer, name: str) -> None:
    app.add_typer(sub_app, name=name)


def _load_plugins() -> None:
    # Sub-command groups live next to the code they drive; a missing one must not break `run`.
    for mod, name in (
        ("leosim.policy_cli", "policy"),
        ("leosim.coverage_cli", "coverage"),
        ("leosim.capacity_cli", "capacity"),
        ("leosim.catalogue_cli", "catalogue"),
    ):
        try:
            module = __import__(mod, fromlist=["app"])
        except ModuleNotFoundError as exc:
            if exc.name == mod:
                continue
            raise
        if getattr(module, "app", None) is not None:
            app.add_typer(module.app, name=name)
        elif getattr(module, "command", None) is not None:
            app.command(name)(module.command)


_load_plugins()


def main() -> None:
    """Entry point of the ``leosim`` script."""
    warnings.simplefilter("default")
    if len(sys.argv) == 1:
        sys.argv.append("demo")
    app()


if __name__ == "__main__":
    main()
