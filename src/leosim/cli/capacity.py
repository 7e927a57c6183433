"""``leosim capacity``: how many subscribers can be served, at what rate, and what limits it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from ..errors import LeosimError
from ._util import fail, out_console, outputs_line, plural, step_progress


def capacity(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML with [demand] (and optional [capacity]).")
    ],
    policy: Annotated[
        Path | None, typer.Option("--policy", "-p", help="Policy TOML (gateways, landing rights).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (replaced as a whole).")
    ] = Path("leosim-capacity"),
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar or tables.")
    ] = False,
) -> None:
    """Servable subscribers per rate, flow allocation per country and the bottleneck links."""
    from ..borders import Borders
    from ..capacity import CapacityModel
    from ..errors import InputError
    from ..outputs import OutputDir, check_output_dir, write_table
    from ..policy import load_policy, parse_policy
    from ..scenario import load_scenario
    from ..simulate import build_network
    from ..traffic import country_cells, run_subscriber_capacity

    try:
        sc = load_scenario(scenario)
        check_output_dir(out)
        model = CapacityModel.from_dict(dict(sc.capacity), source=sc.source, prefix="capacity")
        d = sc.demand
        if d.mode == "cities":
            _cities(sc, model, out, scenario, quiet)
            return
        if not d.countries:
            raise InputError(
                "list the countries whose subscribers to serve",
                source=sc.source,
                key="demand.countries",
            )
        borders = Borders.default()
        pol = (
            load_policy(policy, borders=borders)
            if policy is not None
            else parse_policy({}, borders=borders)
        )
        try:
            cells = country_cells(
                d.countries, cell_deg=d.cell_deg, take_rate=d.take_rate, borders=borders
            )
        except InputError as exc:
            raise InputError(exc.message, source=sc.source, key=exc.key) from None
        net = build_network(sc)
        t_s = sc.time.offsets_s()
        with step_progress(quiet) as progress:
            task = progress.add_task("capacity", total=len(t_s))
            run = run_subscriber_capacity(
                net,
                pol,
                cells,
                model,
                t_s,
                rates_mbps=tuple(d.rates_mbps),
                mbps_per_subscriber=d.mbps_per_subscriber,
                concurrency=d.concurrency,
                borders=borders,
                on_progress=lambda n: progress.advance(task, n),
            )
        steps = {
            "time_s": run.t_s,
            "routed_subscriber_share": run.routed_share,
            "demand_gbps": run.demand_gbps,
            "served_gbps_maxmin": run.served_gbps,
            "served_gbps_max_throughput": run.lp_total_gbps,
        }
        for j, r in enumerate(run.rates_mbps):
            steps[f"servable_at_{r:g}_mbps"] = run.servable_multipath[:, j]
            steps[f"bottleneck_at_{r:g}_mbps"] = run.bottleneck_kind_multipath[:, j]
            steps[f"servable_shortest_path_at_{r:g}_mbps"] = run.servable[:, j]

        def cols(rows):
            return (
                {
                    k: np.asarray(
                        [r[k] for r in rows], dtype=object if isinstance(rows[0][k], str) else None
                    )
                    for k in rows[0]
                }
                if rows
                else {}
            )

        with OutputDir(out) as o:
            write_table(o, "capacity_steps.csv", steps)
            write_table(o, "servable.csv", cols(run.summary_rows()))
            if run.country_rows:
                write_table(
                    o,
                    "countries.csv",
                    cols([{**r, "country": str(r["country"])} for r in run.country_rows]),
                )
            if run.kind_rows:
                write_table(o, "links_by_kind.csv", cols(run.kind_rows))
            write_table(
                o,
                "cells.csv",
                {
                    "latitude_deg": cells.latitude_deg,
                    "longitude_deg": cells.longitude_deg,
                    "country": cells.country.astype(object),
                    "population": cells.population,
                    "subscribers": cells.subscribers,
                },
            )
            o.path("scenario.toml").write_bytes(Path(scenario).read_bytes())
            if policy is not None:
                o.path("policy.toml").write_bytes(Path(policy).read_bytes())
    except LeosimError as exc:
        fail(exc)
    if quiet:
        return
    t = Table(
        title=f"{sc.name}: subscribers servable, all active at once "
        f"({plural(len(cells), 'cell')}, {plural(len(t_s), 'step')})"
    )
    for c in (
        "rate Mbit/s",
        "servable (min)",
        "servable (median)",
        "limited by",
        "shortest paths only (median)",
    ):
        t.add_column(c, justify="right")
    for r in run.summary_rows():
        t.add_row(
            f"{r['rate_mbps']:g}",
            f"{r['servable_multipath_min']:,.0f}",
            f"{r['servable_multipath_median']:,.0f}",
            r["bottleneck_multipath"],
            f"{r['servable_shortest_path_median']:,.0f}",
        )
    out_console.print(t)
    for r in run.country_rows:
        out_console.print(
            f"{r['country']}: {r['subscribers']:,.0f} subscribers at {d.mbps_per_subscriber:g} Mbit/s demand "
            f"{r['demand_gbps']:.1f} Gbit/s; max-min fair on shortest paths serves {r['served_gbps_maxmin']:.1f} "
            f"Gbit/s ({100 * r['share_met']:.1f}%)"
        )
    out_console.print(outputs_line(out, o.files), soft_wrap=True)


def _cities(sc, model, out: Path, scenario: Path, quiet: bool) -> None:
    """``[demand] mode = "cities"``: flows between the scenario's stations."""
    from ..capacity import gravity_demand, read_flows_csv, resolve_flow_stations
    from ..errors import InputError
    from ..outputs import OutputDir, write_table
    from ..simulate import build_network
    from ..traffic import run_city_capacity

    d = sc.demand
    net = build_network(sc)
    gs = net.stations
    if d.flows is not None:
        flows_path = sc.resolve_path(d.flows)
        table = read_flows_csv(flows_path)
        src = resolve_flow_stations(table.src, gs, source=flows_path, key="src")
        dst = resolve_flow_stations(table.dst, gs, source=flows_path, key="dst")
        demand = np.asarray(table.demand_bps, dtype=float)
    else:
        if "pop_max" not in gs.extra:
            raise InputError(
                "the gravity model needs station populations: use a cities-* station set or give "
                "demand.flows",
                source=sc.source,
                key="demand.mode",
            )
        pops = np.array([float(p) for p in gs.extra["pop_max"]])
        matrix = gravity_demand(
            pops,
            np.stack([gs.latitude_deg, gs.longitude_deg], axis=1),
            d.total_gbps * 1e9,
            exponent=d.gravity_exponent,
        )
        src, dst = np.nonzero(matrix)
        demand = matrix[src, dst]
    t_s = sc.time.offsets_s()
    with step_progress(quiet) as progress:
        task = progress.add_task(f"capacity ({plural(len(src), 'flow')})", total=len(t_s))
        run = run_city_capacity(
            net, src, dst, demand, model, t_s, on_progress=lambda n: progress.advance(task, n)
        )
    kinds = sorted({k for b in run.bottleneck_counts for k in b})
    steps = {
        "time_s": run.t_s,
        "routed_demand_share": run.routed_share,
        "served_gbps_maxmin": run.served_gbps_maxmin,
        "served_gbps_max_throughput": run.served_gbps_max_throughput,
    }
    for k in kinds:
        steps[f"flows_limited_by_{k}"] = np.array([b.get(k, 0) for b in run.bottleneck_counts])
    names = np.array(gs.names, dtype=object)
    with OutputDir(out) as o:
        write_table(o, "capacity_steps.csv", steps)
        write_table(
            o,
            "flows.csv",
            {
                "src": src,
                "dst": dst,
                "src_name": names[src],
                "dst_name": names[dst],
                "demand_mbps": demand / 1e6,
                "mean_rate_mbps_maxmin": run.pair_rate_bps / 1e6,
            },
        )
        o.path("scenario.toml").write_bytes(Path(scenario).read_bytes())
    if not quiet:
        out_console.print(
            f"{plural(len(src), 'flow')}, demand {run.demand_gbps:,.1f} Gbit/s: max-min fair serves "
            f"{np.median(run.served_gbps_maxmin):,.1f} Gbit/s (median over {len(t_s)} steps), maximum "
            f"throughput {np.median(run.served_gbps_max_throughput):,.1f} Gbit/s"
        )
        out_console.print(outputs_line(out, o.files), soft_wrap=True)


command = capacity
