"""``leosim coverage``: visibility over an equal-area grid, per band, country and population."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..errors import LeosimError
from ._util import fail, out_console, outputs_line, plural, step_progress


def coverage(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML ([coverage] sets the grid).")],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (replaced as a whole).")
    ] = Path("leosim-coverage"),
    resolution_deg: Annotated[
        float | None, typer.Option(help="Grid cell size, degrees (overrides the scenario).")
    ] = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", "-p", help="Policy TOML: fenced-off points count as not served."),
    ] = None,
    points: Annotated[
        Path | None,
        typer.Option(
            help="Also these points: CSV terminal_id,latitude_deg,longitude_deg → points.csv."
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
) -> None:
    """Satellites in view above the minimum elevation, share of time covered and longest gap."""
    from ..borders import Borders
    from ..coverage import coverage as run_coverage
    from ..coverage import equal_area_grid, population_points
    from ..outputs import OutputDir, check_output_dir, write_table
    from ..policy import load_policy
    from ..reports import plot_coverage_map
    from ..scenario import load_scenario
    from ..simulate import build_network

    try:
        sc = load_scenario(scenario)
        check_output_dir(out)
        cs = sc.coverage
        res_deg = resolution_deg if resolution_deg is not None else cs.resolution_deg
        if not res_deg > 0:
            from ..errors import InputError

            raise InputError(f"must be > 0, got {res_deg}", key="--resolution-deg")
        grid = equal_area_grid(res_deg)  # checks the size before any propagation
        borders = Borders.default()
        pol = load_policy(policy, borders=borders) if policy is not None else None
        net = build_network(sc)
        t_s = sc.time.offsets_s()
        sets = [("grid", grid)]
        if cs.population:
            sets.append(("population", population_points()))
        if points is not None:
            from ..coverage import Points
            from ..ground_segment import read_terminals_csv

            given = read_terminals_csv(points, borders=borders)
            sets.append(
                (
                    "points",
                    Points(
                        given.latitude_deg,
                        given.longitude_deg,
                        np.ones(len(given)),
                        given.terminal_id,
                    ),
                )
            )
        results = {}
        with step_progress(quiet) as progress:
            for name, pts in sets:
                task = progress.add_task(f"{name} ({plural(len(pts), 'point')})", total=len(t_s))
                results[name] = run_coverage(
                    net,
                    pts,
                    t_s,
                    min_elevation_deg=cs.min_elevation_deg,
                    policy=pol,
                    borders=borders,
                    on_progress=lambda n, task=task: progress.advance(task, n),
                )
        with OutputDir(out) as o:
            g = results["grid"]
            table = g.point_table()
            write_table(o, "grid.csv", table, parquet=sc.output.parquet)
            write_table(o, "bands.csv", g.by_latitude_band(cs.band_deg))
            write_table(o, "countries.csv", g.by_country(borders))
            if "population" in results:
                p = results["population"]
                write_table(o, "population_countries.csv", p.by_country(borders))
                write_table(o, "places.csv", p.point_table())
            if "points" in results:
                write_table(o, "points.csv", results["points"].point_table())
            if sc.output.plot:
                plot_coverage_map(
                    table,
                    o.path("coverage_map.png"),
                    borders=borders,
                    title=f"{sc.name}: mean satellites above {cs.min_elevation_deg:g} deg",
                )
            o.path("scenario.toml").write_bytes(Path(scenario).read_bytes())
    except LeosimError as exc:
        fail(exc)
    if quiet:
        return
    b = g.by_latitude_band(cs.band_deg)
    t = Table(
        title=f"coverage by latitude band ({plural(len(grid), 'cell')} of ~{res_deg:g} deg, "
        f"{plural(len(t_s), 'step')})"
    )
    for c in ("band", "mean sats", "covered %", "always covered %", "worst gap s"):
        t.add_column(c, justify="right")
    for i in range(len(b["band_lat_min_deg"])):
        lo = b["band_lat_min_deg"][i]
        t.add_row(
            f"{lo:+.0f}..{lo + cs.band_deg:+.0f}",
            f"{b['mean_visible'][i]:.1f}",
            f"{100 * b['covered_fraction'][i]:.1f}",
            f"{100 * b['always_covered_share'][i]:.1f}",
            f"{b['worst_gap_s'][i]:.0f}",
        )
    out_console.print(t)
    if "population" in results:
        p = results["population"]
        w = p.points.weight
        share = float(np.sum(w * (p.covered_fraction >= 1.0)) / np.sum(w))
        served = float(np.sum(w * p.served_fraction) / np.sum(w))
        out_console.print(
            f"population in places always covered: {100 * share:.1f}%; "
            f"population-weighted served share: {100 * served:.1f}%"
        )
    out_console.print(outputs_line(out, o.files), soft_wrap=True)


command = coverage
