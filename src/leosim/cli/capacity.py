"""``leosim capacity``: how many subscribers can be served, at what rate, and what limits it."""

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
    workers: xo.Workers = None,
    executor: xo.Executor = None,
    address: xo.Address = None,
    chunk_s: xo.ChunkS = None,
    resume: xo.Resume = False,
) -> None:
    """Servable subscribers per rate, flow allocation per country and the bottleneck links.

    The time window is computed in chunks on the executor of [execution] or --executor (the
    same files on every executor); --resume continues an interrupted run."""
    from ..borders import Borders
    from ..capacity import CapacityModel
    from ..errors import InputError
    from ..policy import load_policy, parse_policy
    from ..simulate import build_network
    from ..traffic import country_cells, subscriber_setup

    try:
        sc, opts = xo.load_checked(scenario, out, workers, executor, address, chunk_s, resume)
        model = CapacityModel.from_dict(dict(sc.capacity), source=sc.source, prefix="capacity")
        d = sc.demand
        texts = [Path(scenario).read_bytes()]
        if policy is not None:
            texts.append(Path(policy).read_bytes())
        chunked = {"texts": texts, "quiet": quiet, "workers": workers, **opts}
        if d.mode == "cities":
            _cities(sc, model, out, scenario, quiet, chunked)
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
        setup = subscriber_setup(
            net,
            pol,
            cells,
            model,
            rates_mbps=tuple(d.rates_mbps),
            mbps_per_subscriber=d.mbps_per_subscriber,
            concurrency=d.concurrency,
            borders=borders,
        )
        what = (cells.latitude_deg, cells.longitude_deg, cells.subscribers, setup.demand_bps)
        with _chunked(sc, net, out, "cells", setup, "capacity", what, **chunked) as parts:
            run, o = _write_subscribers(setup, t_s, parts, cells, out, texts)
    except LeosimError as exc:
        fail(exc)
    if not quiet:
        _print_subscribers(sc, run, cells, len(t_s), o)


def _subscriber_steps_csv(rates, times: np.ndarray, s: dict) -> dict[str, np.ndarray]:
    """The columns of ``capacity_steps.csv`` of one chunk's step records."""
    steps = {
        "time_s": times,
        "routed_subscriber_share": s["routed_share"],
        "demand_gbps": s["demand"],
        "served_gbps_maxmin": s["served"],
        "served_gbps_max_throughput": s["lp_total"],
    }
    for j, r in enumerate(rates):
        steps[f"servable_at_{r:g}_mbps"] = np.asarray(s[f"servable_mp_{j}"], dtype=float)
        steps[f"bottleneck_at_{r:g}_mbps"] = np.asarray(s[f"bottleneck_mp_{j}"], dtype=object)
        steps[f"servable_shortest_path_at_{r:g}_mbps"] = np.asarray(s[f"servable_{j}"], dtype=float)
    return steps


def _write_subscribers(setup, t_s, parts, cells, out: Path, texts: list[bytes]):
    """The merge of the chunks' records (:func:`leosim.traffic.subscriber_result`) with
    capacity_steps.csv streamed chunk by chunk; servable.csv, countries.csv, links_by_kind.csv
    and cells.csv.  Returns the run and the published :class:`~leosim.outputs.OutputDir`."""
    from ..outputs import OutputDir, write_table
    from ..traffic import subscriber_result

    rates = setup.rates_mbps

    def again():
        a = 0
        for part in parts(("steps",)):
            m = len(part["steps"]["routed_share"])
            yield _subscriber_steps_csv(rates, t_s[a : a + m], part["steps"])
            a += m

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
        steps = StreamedCsv(o, "capacity_steps.csv", again)
        try:
            run = subscriber_result(
                setup,
                t_s,
                parts,
                on_steps=lambda t, s: steps.write(_subscriber_steps_csv(rates, t, s)),
            )
        finally:
            steps.close()
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
        o.path("scenario.toml").write_bytes(texts[0])
        if len(texts) > 1:
            o.path("policy.toml").write_bytes(texts[1])
    return run, o


class StreamedCsv:
    """A CSV table of an output folder written chunk by chunk, as ``leosim run`` streams
    ``routes.csv`` (bounded memory; the file lives in the staging folder of
    :class:`~leosim.outputs.OutputDir` until the folder is published whole), with the bytes
    :func:`leosim.outputs.write_table` writes of the whole table: the same Arrow CSV writer,
    options and float rounding.  Like it, values are unquoted unless one holds a comma, quote
    or line break; then every string is quoted, so the file is written again from the start
    (``again()`` yields every chunk's columns once more).  A window has at least one step, so
    :meth:`write` is called at least once."""

    def __init__(self, out, name: str, again) -> None:
        self.path = out.path(name)
        self._again = again
        self._writer = None
        self._quoted = False

    def _open(self, table, quoting: str) -> None:
        import pyarrow.csv as pacsv

        opts = pacsv.WriteOptions(quoting_style=quoting, quoting_header="none")
        self._writer = pacsv.CSVWriter(str(self.path), table.schema, write_options=opts)

    def write(self, columns: dict[str, np.ndarray]) -> None:
        """The next chunk's rows (every chunk has the same columns, in the same order)."""
        import pyarrow as pa

        from ..outputs import csv_row_columns, to_arrow

        if self._quoted:
            return  # written whole already
        table = to_arrow(csv_row_columns(columns))
        if self._writer is None:
            self._open(table, "none")
        try:
            self._writer.write_table(table)
        except pa.ArrowInvalid:  # a value needs quotes: all strings get them, from the start
            self._writer.close()
            self._quoted = True
            self._writer = None
            for cols in self._again():
                table = to_arrow(csv_row_columns(cols))
                if self._writer is None:
                    self._open(table, "needed")
                self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _print_subscribers(sc, run, cells, n_steps: int, o) -> None:
    d = sc.demand
    t = Table(
        title=f"{sc.name}: subscribers servable, all active at once "
        f"({plural(len(cells), 'cell')}, {plural(n_steps, 'step')})"
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
    out_console.print(outputs_line(o.requested, o.files), soft_wrap=True)


def _cities(sc, model, out: Path, scenario: Path, quiet: bool, chunked: dict) -> None:
    """``[demand] mode = "cities"``: flows between the scenario's stations."""
    from ..capacity import gravity_demand, read_flows_csv, resolve_flow_stations
    from ..errors import InputError
    from ..simulate import build_network
    from ..traffic import city_flows

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
    flows = city_flows(src, dst, demand)
    label = f"capacity ({plural(len(src), 'flow')})"
    with _chunked(sc, net, out, "cities", (flows, model), label, flows, **chunked) as parts:
        run, o = _write_cities(t_s, parts, net, flows, out, chunked["texts"])
    if not quiet:
        out_console.print(
            f"{plural(len(src), 'flow')}, demand {run.demand_gbps:,.1f} Gbit/s: max-min fair serves "
            f"{run.served_gbps_maxmin_median:,.1f} Gbit/s (median over {len(t_s)} steps), "
            f"maximum throughput {run.served_gbps_max_throughput_median:,.1f} Gbit/s"
        )
        out_console.print(outputs_line(out, o.files), soft_wrap=True)


def _city_steps_csv(times: np.ndarray, c: dict) -> dict[str, np.ndarray]:
    """The columns of ``capacity_steps.csv`` of one chunk (:func:`leosim.traffic.city_step_columns`)."""
    steps = {
        "time_s": np.asarray(times, dtype=float),
        "routed_demand_share": c["routed"],
        "served_gbps_maxmin": c["served_mm"],
        "served_gbps_max_throughput": c["served_lp"],
    }
    for k, v in c["limited_by"].items():
        steps[f"flows_limited_by_{k}"] = v
    return steps


def _write_cities(t_s, parts, net, flows, out: Path, texts: list[bytes]):
    """The merge of the chunks' records (:func:`leosim.traffic.city_result`) with
    capacity_steps.csv streamed chunk by chunk, and flows.csv of city-pair demand."""
    from ..outputs import OutputDir, write_table
    from ..traffic import city_bottleneck_kinds, city_result, city_step_columns

    src, dst, demand = flows
    gs = net.stations
    t_s = np.asarray(t_s, dtype=float)

    def again():
        kinds = city_bottleneck_kinds(parts)
        a = 0
        for part in parts(("steps", "bottlenecks")):
            m = len(part["steps"]["routed"])
            yield _city_steps_csv(t_s[a : a + m], city_step_columns(part, kinds))
            a += m

    names = np.array(gs.names, dtype=object)
    with OutputDir(out) as o:
        steps = StreamedCsv(o, "capacity_steps.csv", again)
        try:
            run = city_result(
                flows, t_s, parts, on_steps=lambda t, c: steps.write(_city_steps_csv(t, c))
            )
        finally:
            steps.close()
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
        o.path("scenario.toml").write_bytes(texts[0])
    return run, o


@contextlib.contextmanager
def _chunked(
    sc,
    net,
    out: Path,
    kind: str,
    setup,
    label: str,
    what,
    *,
    texts: list[bytes],
    quiet: bool,
    workers: int | None,
    executor: str | None,
    address: str | None,
    chunk_s: float | None,
    resume: bool,
):
    """The capacity steps of the window in chunks on the chosen executor
    (:func:`leosim.traffic.capacity_chunk` of ``kind`` "cells" or "cities"), kept as Parquet
    partitions for ``--resume``; yields their :data:`leosim.traffic.Parts` (the records in
    order, read again from the store one chunk at a time on every call) with the store open
    (publish ``out`` inside the block; the store is removed when it ends).
    ``what`` (arrays of the demand) and ``texts`` (the files) make the resume fingerprint."""
    from ..execution import choose_executor, chunk_store, compute_chunks, plan_chunks
    from ..outputs import check_output_dir
    from ..traffic import capacity_chunk
    from .runner import run_fingerprint

    t_s = sc.time.offsets_s()
    w = workers if workers is not None else sc.workers
    ex = choose_executor(sc.execution, workers=w, executor=executor, address=address)
    plan = plan_chunks(t_s, chunk_s=chunk_s if chunk_s is not None else sc.execution.chunk_s)
    items = [t_s[a:b] for a, b in plan]
    parts = [np.asarray(x) for x in what]
    fp = run_fingerprint("capacity " + kind, net, t_s, plan, *texts, *parts, repr(setup))
    with chunk_store(check_output_dir(out), fp, plan, resume=resume) as store:
        with step_progress(quiet) as progress:
            bar = progress.add_task(label, total=len(t_s))
            progress.advance(bar, store.steps_done())
            compute_chunks(
                ex,
                store,
                capacity_chunk,
                (net, kind, setup),
                items,
                tables=_record_tables,
                on_chunk=lambda k, _: progress.advance(bar, plan[k][1] - plan[k][0]),
            )

        def parts(names: tuple[str, ...] | None = None):
            """The chunks' records (of the tables ``names``), read again one at a time."""
            for k in range(len(plan)):
                yield {name: _columns(store.read(k, name)) for name in names or _NAMES[kind]}

        yield parts


_NAMES = {
    "cells": ("steps", "countries", "kinds"),
    "cities": ("steps", "bottlenecks", "rates"),
}


def _record_tables(rec: dict[str, dict]) -> dict:
    import pyarrow as pa

    return {name: pa.table(cols) for name, cols in rec.items()}


def _columns(table) -> dict[str, np.ndarray]:
    return {k: table.column(k).to_numpy(zero_copy_only=False) for k in table.column_names}


command = capacity
