"""Run a scenario end to end and write its outputs (used by ``leosim run``).

Outputs in ``out_dir``:

``routes.csv`` / ``routes.parquet``
    one row per pair and time step: ``time_s,src,dst,rtt_ms,num_isl_hops,path_fwd,path_rev``
    and the lengths, up/down-link satellites and GSL ranges.  ``src``/``dst`` are station gids;
    a path is node ids joined by ``-`` (satellites ``0..N-1``, station ``g`` is ``N+g``).
``summary.csv``
    min/median/max RTT, unreachable steps and path changes per pair.
``rtt.png``
    RTT over time.
``forwarding.parquet``
    only with ``routing.forwarding_state = true``: next hops ``(time_s, node, dst_gid,
    next_hop)``, the first step in full and then only the entries that changed.
``scenario.toml``
    a copy of the scenario that was run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .outputs import OutputDir, to_arrow, write_table
from .reports import pair_summary, plot_rtt
from .scenario import Scenario
from .simulate import ROUTE_COLUMNS, Network, RouteTable, build_network, iter_chunks


@dataclass
class RunResult:
    network: Network
    table: RouteTable
    summary: dict[str, np.ndarray]
    wall_s: float
    num_steps: int
    forwarding_rows: int
    out_dir: Path


def run_scenario(
    sc: Scenario,
    out_dir: str | Path,
    *,
    scenario_text: str,
    workers: int | None = None,
    on_start: Callable[[Network, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Build the network, stream all time steps and write the outputs atomically."""
    t0 = time.perf_counter()
    net = build_network(sc)
    t_s = sc.time.offsets_s()
    if on_start is not None:
        on_start(net, len(t_s))
    w = workers if workers is not None else sc.workers
    names = net.stations.names
    forwarding = sc.routing.forwarding_state
    fw_rows = 0
    tables = []
    with OutputDir(out_dir) as out:
        fw_writer = None
        try:
            for res in iter_chunks(net, t_s, forwarding=forwarding, workers=w):
                tables.append(res.table)
                if forwarding and res.forwarding is not None:
                    tab = to_arrow(res.forwarding)
                    if fw_writer is None:
                        fw_writer = pq.ParquetWriter(
                            str(out.path("forwarding.parquet")), tab.schema
                        )
                    fw_writer.write_table(tab)
                    fw_rows += tab.num_rows
                if on_progress is not None:
                    on_progress(res.num_steps)
        finally:
            if fw_writer is not None:
                fw_writer.close()
        table = RouteTable.concat(tables)
        cols = {k: table.columns[k] for k in ROUTE_COLUMNS}
        arrow = to_arrow(cols)
        arrow = arrow.append_column(
            "src_name", pa.array([names[i] for i in cols["src"]], type=pa.string())
        ).append_column("dst_name", pa.array([names[i] for i in cols["dst"]], type=pa.string()))
        write_table(out, "routes.csv", arrow, parquet=sc.output.parquet)
        summary = pair_summary(cols, names)
        write_table(out, "summary.csv", summary)
        if sc.output.plot and len(table):
            plot_rtt(cols, out.path("rtt.png"), names, title=sc.name)
        out.path("scenario.toml").write_text(scenario_text, encoding="utf-8")
    return RunResult(
        net, table, summary, time.perf_counter() - t0, len(t_s), fw_rows, Path(out_dir)
    )
