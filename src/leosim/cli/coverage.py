"""``leosim coverage``: visibility over an equal-area grid, per band, country and population."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..errors import LeosimError
from . import _execution as xo
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
    workers: xo.Workers = None,
    executor: xo.Executor = None,
    address: xo.Address = None,
    chunk_s: xo.ChunkS = None,
    resume: xo.Resume = False,
) -> None:
    """Satellites in view above the minimum elevation, share of time covered and longest gap.

    The time window is computed in chunks on the executor of [execution] or --executor (the
    same files on every executor); --resume continues an interrupted run."""
    from ..borders import Borders
    from ..coverage import equal_area_grid, population_points
    from ..outputs import OutputDir, write_table
    from ..policy import load_policy
    from ..reports import plot_coverage_map
    from ..simulate import build_network

    try:
        sc, opts = xo.load_checked(scenario, out, workers, executor, address, chunk_s, resume)
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
        text = Path(scenario).read_bytes()
        with coverage_chunked(
            sc, net, sets, pol, borders, out, text=text, quiet=quiet, workers=workers, **opts
        ) as results:
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
                o.path("scenario.toml").write_bytes(text)
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


@contextlib.contextmanager
def coverage_chunked(
    sc,
    net,
    sets: list[tuple[str, object]],
    policy,
    borders,
    out: Path,
    *,
    text: bytes,
    quiet: bool = True,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    chunk_s: float | None = None,
    resume: bool = False,
):
    """Coverage of each point set ``(name, Points)`` over the scenario's window, computed in
    chunks (:func:`leosim.execution.plan_chunks`) on the chosen executor and kept as Parquet
    partitions for ``--resume``; yields ``{name: CoverageResult}`` with the chunk store open
    (publish ``out`` inside the block; the store is removed when it ends).  The parts merge
    exactly (:func:`leosim.coverage.merge_coverage`): the same numbers whatever the chunks."""
    from ..coverage import coverage_chunk, merge_coverage, prepare_coverage, step_lengths_ns
    from ..execution import choose_executor, chunk_store, compute_chunks, plan_chunks
    from ..outputs import check_output_dir
    from .runner import run_fingerprint

    t_s = sc.time.offsets_s()
    cs = sc.coverage
    w = workers if workers is not None else sc.workers
    ex = choose_executor(sc.execution, workers=w, executor=executor, address=address)
    setups = [
        prepare_coverage(
            net, pts, min_elevation_deg=cs.min_elevation_deg, policy=policy, borders=borders
        )
        for _, pts in sets
    ]
    steps = plan_chunks(t_s, chunk_s=chunk_s if chunk_s is not None else sc.execution.chunk_s)
    dt_ns = step_lengths_ns(t_s)
    items = [(k, t_s[a:b], dt_ns[a:b]) for k in range(len(sets)) for a, b in steps]
    plan = [c for _ in sets for c in steps]
    where = [(s.points.latitude_deg, s.points.longitude_deg, s.min_elevation_deg) for s in setups]
    fp = run_fingerprint("coverage", net, t_s, plan, text, [n for n, _ in sets], *where)
    with chunk_store(check_output_dir(out), fp, plan, resume=resume) as store:
        with step_progress(quiet) as progress:
            bars = [
                progress.add_task(f"{name} ({plural(len(pts), 'point')})", total=len(t_s))
                for name, pts in sets
            ]
            for k in store.done:
                progress.advance(bars[k // len(steps)], plan[k][1] - plan[k][0])
            compute_chunks(
                ex,
                store,
                coverage_chunk,
                (net, setups),
                items,
                tables=_partial_tables,
                on_chunk=lambda j, p: progress.advance(bars[j // len(steps)], p.steps),
            )
        results = {}
        for k, ((name, _), setup) in enumerate(zip(sets, setups, strict=True)):
            parts = (_partial(store, k * len(steps) + j) for j in range(len(steps)))
            results[name] = merge_coverage(setup, t_s, parts)
        yield results


def _partial_tables(p) -> dict:
    """A chunk's :class:`~leosim.coverage.CoveragePartial` as tables: ``part`` (per point) and
    ``meta`` (its steps and span)."""
    import dataclasses

    import pyarrow as pa

    cols = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    meta = {k: [cols.pop(k)] for k in ("steps", "span_ns")}
    return {"part": pa.table(cols), "meta": pa.table(meta)}


def _partial(store, idx: int):
    from ..coverage import CoveragePartial

    part, meta = store.read(idx, "part"), store.read(idx, "meta")
    cols = {k: part.column(k).to_numpy(zero_copy_only=False) for k in part.column_names}
    return CoveragePartial(
        int(meta.column("steps")[0].as_py()), int(meta.column("span_ns")[0].as_py()), **cols
    )


command = coverage
