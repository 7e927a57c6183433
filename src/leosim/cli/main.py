"""Command-line interface: ``leosim run``, ``leosim demo`` and friends.

Bad input ends the command with one line ``error: <file>:<line>: [key] what was expected`` on
standard error and exit status 2; never a traceback.  Ctrl-C and SIGTERM end it with one
``interrupted`` line and status 130 or 143, removing what was half written.  Everything the
user typed or a data file holds is printed literally (no rich markup, no emoji codes).
"""

from __future__ import annotations

import sys
import tomllib
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .. import _signals
from ..errors import LeosimError
from . import _execution as xo
from ._util import (
    TYPER_SETTINGS,
    console,
    fail,
    out_console,
    outputs_line,
    plural,
    step_progress,
)

app = typer.Typer(
    name="leosim",
    help="Fast simulator for Starlink-style LEO satellite networks.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    **TYPER_SETTINGS,
)
_fail = fail

_OUT_HELP = "Output folder: new, empty, or an earlier leosim output (replaced as a whole)."
_QUIET_HELP = "No progress bar or summary."


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        out_console.print(f"leosim {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Fast simulator for Starlink-style LEO satellite networks: routing identical to Hypatia,
    service policy by territory, coverage and capacity.  Start with `leosim demo`."""


def _run(
    scenario_path: Path | None,
    out: Path,
    workers: int | None,
    quiet: bool,
    execution: dict | None = None,
    policy_path: Path | None = None,
) -> None:
    from ..scenario import DEMO_SCENARIO_TOML, load_scenario, parse_scenario
    from .runner import run_scenario

    if scenario_path is None:
        text = DEMO_SCENARIO_TOML
        sc = parse_scenario(tomllib.loads(text), source="<built-in demo>")
    else:
        sc = load_scenario(scenario_path)
        text = Path(scenario_path).read_text(encoding="utf-8")
    policy = policy_text = None
    if policy_path is not None:
        from ..policy import load_policy

        policy = load_policy(policy_path)
        policy_text = Path(policy_path).read_text(encoding="utf-8")

    # The bar starts once the network is built, so an input error prints its line alone.
    progress = step_progress(quiet)
    task = {}

    def on_start(net, n_steps):
        if not quiet:
            console.print(
                Text(sc.name, style="bold")
                + Text(
                    f": {plural(net.num_sats, 'satellite')}, {plural(net.num_gs, 'station')}, "
                    f"{plural(len(net.isl_pairs), 'ISL')}, {plural(len(net.pairs), 'pair')}, "
                    f"{plural(n_steps, 'step')}"
                ),
                soft_wrap=True,
            )
            for note in net.notes:
                console.print(f"  note: {note}", soft_wrap=True)
        progress.start()
        task["id"] = progress.add_task("routing", total=n_steps)

    def on_progress(n):
        progress.advance(task["id"], n)

    try:
        res = run_scenario(
            sc,
            out,
            scenario_text=text,
            workers=workers,
            on_start=on_start,
            on_progress=on_progress,
            policy=policy,
            policy_text=policy_text or "",
            **(execution or {}),
        )
    finally:
        if task:  # a bar never started must not print its closing newline
            progress.stop()
    if quiet:
        return
    if res.chunks_resumed:
        console.print(
            f"resumed: {res.chunks_resumed} of {plural(res.num_chunks, 'chunk')} were finished",
            soft_wrap=True,
        )
    if res.blocked_pairs:
        console.print(
            f"{plural(res.blocked_pairs, 'pair')} blocked by the policy: see blocked_pairs.csv",
            soft_wrap=True,
        )
    if res.blocked_pairs and not len(res.network.pairs) and not res.forwarding_rows:
        out_console.print("no pair may route under this policy; nothing was routed")
        out_console.print(outputs_line(out, res.files), soft_wrap=True)
        return
    s = res.summary
    table = Table(title=f"RTT per pair ({plural(res.num_steps, 'step')}, {res.wall_s:.1f} s)")
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
    out_console.print(outputs_line(out, res.files), soft_wrap=True)


@app.command()
def run(
    scenario: Annotated[
        Path | None, typer.Argument(help="Scenario TOML file (omit for the built-in demo).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help=_OUT_HELP)] = Path("leosim-out"),
    workers: xo.Workers = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET_HELP)] = False,
    executor: xo.Executor = None,
    address: xo.Address = None,
    chunk_s: xo.ChunkS = None,
    resume: xo.Resume = False,
    policy: Annotated[
        Path | None,
        typer.Option(
            "--policy",
            "-p",
            help="Service policy TOML: route only the pairs it lets use the constellation "
            "(activation, exclusion zones, landing rights); the rest go to blocked_pairs.csv.",
        ),
    ] = None,
) -> None:
    """Route every pair of a scenario over its time window and write routes.csv, a plot and a summary."""
    try:
        execution = xo.execution_options(executor, address, chunk_s, resume)
        _run(scenario, out, workers, quiet, execution, policy)
    except LeosimError as exc:
        _fail(exc)


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o", help=_OUT_HELP)] = Path("leosim-out"),
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes (default: the usable cores).", min=1, max=256),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help=_QUIET_HELP)] = False,
) -> None:
    """Run the built-in default: Hypatia's Starlink 550 km scenario, seven city pairs, 200 s."""
    try:
        if workers is None:
            from ..simulate import default_workers

            workers = default_workers()
        _run(None, out, workers, quiet)
    except LeosimError as exc:
        _fail(exc)


@app.command()
def presets() -> None:
    """List the built-in constellations and station sets."""
    from ..constellation import preset_names, preset_shells
    from ..ground import builtin_station_names

    # One name column (a preset, then its shells indented) keeps every name whole in 80
    # columns, where a preset column and a shell column side by side were cut short.
    t = Table(title="constellation presets")
    t.add_column("preset / shell", no_wrap=True)
    for c in ("planes × sats", "altitude km", "inclination °"):
        t.add_column(c, justify="right", no_wrap=True)
    for name in preset_names():
        t.add_row(name, "", "", "", style="bold")
        for sh in preset_shells(name):
            t.add_row(
                "  " + sh.name,
                f"{sh.num_planes} × {sh.sats_per_plane}",
                f"{sh.nominal_altitude_km:.0f}",
                f"{sh.inclination_deg:g}",
            )
    out_console.print(t)
    out_console.print("station sets: " + ", ".join(builtin_station_names()))


@app.command("export-tle")
def export_tle(
    preset: Annotated[
        str, typer.Argument(help="Constellation preset name (see `leosim presets`).")
    ],
    out: Annotated[
        Path | None,
        typer.Argument(
            help="TLE file to write (a new name or a regular file); omit or - for standard output."
        ),
    ] = None,
    hypatia_header: Annotated[
        bool, typer.Option(help="Write Hypatia's first line: planes and satellites per plane.")
    ] = False,
) -> None:
    """Write a preset constellation as a 3-line TLE file."""
    from ..constellation import preset as make
    from ..outputs import atomic_output_file, check_output_file

    try:
        to_stdout = out is None or str(out) == "-"
        if not to_stdout:
            check_output_file(out)
        c = make(preset)
        if to_stdout:
            import tempfile

            with tempfile.TemporaryDirectory() as d:
                c.write_tle(Path(d) / "out.tle", hypatia_header=hypatia_header)
                sys.stdout.write((Path(d) / "out.tle").read_text(encoding="ascii"))
            sys.stdout.flush()
            return
        with atomic_output_file(out) as tmp:
            c.write_tle(tmp, hypatia_header=hypatia_header)
    except LeosimError as exc:
        _fail(exc)
    console.print(f"wrote {out}: {plural(c.num_sats, 'satellite')}", soft_wrap=True)


_COUNTRY_HELP = "Only these countries (ADM0_A3 code, e.g. TWN; repeat the option for several)."


def _countries(codes: list[str] | None):
    """Validated ADM0_A3 codes (InputError naming close ones), or None for every country."""
    if not codes:
        return None
    from ..borders import Borders

    b = Borders.default()
    return {b.validate_code(c, key="--country") for c in codes}


def _country_label(code: str) -> str:
    from ..borders import Borders

    if not code:
        return "(at sea)"
    try:
        return f"{code} {Borders.default().name_of(code)}"
    except LeosimError:
        return code


@app.command()
def regions(
    country: Annotated[
        list[str] | None, typer.Option("--country", "-c", help=_COUNTRY_HELP)
    ] = None,
) -> None:
    """List the named regions a policy can fence (disputed areas and groups), with who
    administers and who claims each."""
    from ..regions import Regions

    try:
        wanted = _countries(country)
        rows = [
            r
            for r in Regions.default()
            if wanted is None or wanted & (set(r.administered_by) | set(r.claimed_by))
        ]
    except LeosimError as exc:
        _fail(exc)
    t = Table(title=f'{plural(len(rows), "region")} (region = "key" in a policy)')
    for c in ("key", "name", "administered by", "claimed by"):
        t.add_column(c)
    for r in rows:
        admin = ", ".join(r.administered_by) or (
            "self-administered" if r.self_administered else "-"
        )
        claims = ", ".join(r.claimed_by) or "-"
        name = r.name + (f" (group: {', '.join(r.parts)})" if r.parts else "")
        t.add_row(r.key, name, admin, claims)
    out_console.print(t)


@app.command()
def gateways(
    country: Annotated[
        list[str] | None, typer.Option("--country", "-c", help=_COUNTRY_HELP)
    ] = None,
    status: Annotated[
        str,
        typer.Option(help="operational, construction, planned, decommissioned, unknown, or all."),
    ] = "operational",
) -> None:
    """List the built-in community list of Starlink gateway sites (2024-08 snapshot)."""
    from ..ground_segment import builtin_gateways

    try:
        wanted = _countries(country)
        gw = builtin_gateways(None if status == "all" else status)
    except LeosimError as exc:
        _fail(exc)
    rows = [i for i in range(len(gw)) if wanted is None or str(gw.country[i]) in wanted]
    t = Table(title=f"{plural(len(rows), 'gateway site')} ({status})")
    for c in ("name", "country", "status", "latitude °", "longitude °"):
        t.add_column(c, justify="right" if c.startswith(("lat", "lon")) else "left")
    for i in rows:
        t.add_row(
            str(gw.name[i]),
            _country_label(str(gw.country[i])),
            str(gw.status[i]),
            f"{gw.latitude_deg[i]:.4f}",
            f"{gw.longitude_deg[i]:.4f}",
        )
    out_console.print(t)


@app.command()
def pops(
    country: Annotated[
        list[str] | None, typer.Option("--country", "-c", help=_COUNTRY_HELP)
    ] = None,
) -> None:
    """List the built-in Starlink points of presence (community data, 2026-04)."""
    from ..ground_segment import builtin_pops

    try:
        wanted = _countries(country)
        p = builtin_pops()
    except LeosimError as exc:
        _fail(exc)
    rows = [i for i in range(len(p)) if wanted is None or str(p.country[i]) in wanted]
    t = Table(title=plural(len(rows), "PoP"))
    for c in ("code", "city", "country", "latitude °", "longitude °"):
        t.add_column(c, justify="right" if c.startswith(("lat", "lon")) else "left")
    for i in rows:
        t.add_row(
            str(p.code[i]),
            str(p.city[i]),
            _country_label(str(p.country[i])),
            f"{p.latitude_deg[i]:.4f}",
            f"{p.longitude_deg[i]:.4f}",
        )
    out_console.print(t)


@app.command()
def stations(
    station_set: Annotated[
        str, typer.Argument(help="A built-in station set (see `leosim presets`).")
    ] = "hypatia-top-100",
    find: Annotated[
        str | None,
        typer.Option("--find", "-f", help="Only names containing this text (any case)."),
    ] = None,
) -> None:
    """List a built-in station set: the gids and names that [routing] pairs may use."""
    from ..ground import builtin_stations

    try:
        gs = builtin_stations(station_set)
    except LeosimError as exc:
        _fail(exc)
    needle = None if find is None else find.casefold()
    rows = [i for i, n in enumerate(gs.names) if needle is None or needle in n.casefold()]
    t = Table(title=f"{station_set}: {plural(len(rows), 'station')}")
    for c in ("gid", "name", "latitude °", "longitude °"):
        t.add_column(c, justify="left" if c == "name" else "right")
    for i in rows:
        t.add_row(
            str(int(gs.gids[i])),
            Text(gs.names[i]),
            f"{gs.latitude_deg[i]:.4f}",
            f"{gs.longitude_deg[i]:.4f}",
        )
    out_console.print(t)


def register(sub_app: typer.Typer, name: str) -> None:
    app.add_typer(sub_app, name=name)


def _load_plugins() -> None:
    # Sub-command groups live next to the code they drive; a missing one must not break `run`.
    for mod, name in (
        ("leosim.cli.policy", "policy"),
        ("leosim.cli.coverage", "coverage"),
        ("leosim.cli.capacity", "capacity"),
        ("leosim.cli.catalogue", "catalogue"),
        ("leosim.cli.sweep", "sweep"),
        ("leosim.cli.report", "report"),
        ("leosim.cli.serve", "serve"),
        ("leosim.cli.export", "export"),
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
    """Entry point of the ``leosim`` script (see also :mod:`leosim.__main__`)."""
    _signals.install()
    warnings.simplefilter("default")
    try:
        app()
    except KeyboardInterrupt as exc:  # outside typer's own handling
        _signals.exit_interrupted(exc)
    except SystemExit:
        if _signals.received():  # typer turns the interrupt into a silent exit 130
            _signals.exit_interrupted()
        raise


if __name__ == "__main__":
    main()
