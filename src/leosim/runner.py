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
``manifest.json``
    written last: every file above with its size and SHA-256 (see :mod:`leosim.outputs`).

The folder is checked before the network is built and published with one rename at the end
(:class:`~leosim.outputs.OutputDir`), so an interrupted or failed run leaves the previous
output (or nothing), never a mix.
"""

from __future__ import annotations

import contextlib
import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .errors import InputError
from .outputs import OutputDir, csv_row_columns, to_arrow, write_table
from .reports import pair_summary, plot_rtt
from .scenario import Scenario
from .simulate import ROUTE_COLUMNS, Network, RouteTable, build_network, iter_chunks


class _RouteWriters:
    """``routes.csv`` and ``routes.parquet`` written chunk by chunk (bounded memory)."""

    def __init__(self, out: OutputDir, *, parquet: bool) -> None:
        self.csv_path = out.path("routes.csv")
        self.pq_path = out.path("routes.parquet") if parquet else None
        self._csv = None
        self._pq = None

    def write(self, columns: dict[str, np.ndarray]) -> None:
        tab = to_arrow(columns)
        text = to_arrow(csv_row_columns(columns))
        if self._csv is None:
            self._fh = open(self.csv_path, "w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._fh, lineterminator="\n")
            self._csv.writerow(tab.column_names)
            if self.pq_path is not None:
                self._pq = pq.ParquetWriter(str(self.pq_path), tab.schema)
        cols = [c.to_pylist() for c in text.columns]
        self._csv.writerows(zip(*cols, strict=True))
        if self._pq is not None:
            self._pq.write_table(tab)

    def close(self) -> None:
        if self._csv is None:  # no pairs: an empty table with its header, not a missing file
            self.csv_path.write_text(",".join((*ROUTE_COLUMNS, "src_name", "dst_name")) + "\n")
        else:
            self._fh.close()
        if self._pq is not None:
            self._pq.close()


@dataclass
class RunResult:
    network: Network
    table: RouteTable
    summary: dict[str, np.ndarray]
    wall_s: float
    num_steps: int
    forwarding_rows: int
    out_dir: Path
    files: list[str]
    """The files written into ``out_dir``, in the order they were written."""


def run_scenario(
    sc: Scenario,
    out_dir: str | Path,
    *,
    scenario_text: str,
    workers: int | None = None,
    on_start: Callable[[Network, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Build the network, stream all time steps and write the outputs atomically.

    The output folder is checked before anything else; a scenario with nothing to route (no
    pairs and no forwarding state) is an InputError saying what to do instead.
    """
    t0 = time.perf_counter()
    with OutputDir(out_dir, command="run") as out:
        r = sc.routing
        if not (r.pairs or r.all_pairs or r.forwarding_state):
            raise _nothing_to_route(sc)
        net = build_network(sc)
        if not (len(net.pairs) or r.forwarding_state):
            raise _nothing_to_route(sc)
        t_s = sc.time.offsets_s()
        if on_start is not None:
            on_start(net, len(t_s))
        w = workers if workers is not None else sc.workers
        table, summary, fw_rows = _stream(sc, net, t_s, out, w, on_progress, scenario_text)
    return RunResult(
        net,
        table,
        summary,
        time.perf_counter() - t0,
        len(t_s),
        fw_rows,
        out.final,
        out.files,
    )


def _nothing_to_route(sc: Scenario) -> InputError:
    return InputError(
        'no pairs to route: list them (pairs = [["Paris", "Luanda"]]), set all_pairs = true '
        "or forwarding_state = true; for who is served where, use `leosim policy evaluate`",
        source=sc.source,
        key="routing.pairs",
    )


def _stream(sc, net, t_s, out: OutputDir, workers: int, on_progress, scenario_text: str):
    """Route every step into ``out``: routes, forwarding state, summary, plot, scenario copy."""
    names = np.asarray(net.stations.names, dtype=object)
    forwarding = sc.routing.forwarding_state
    fw_rows = 0
    # Only these compact columns stay in memory; the full rows stream to disk chunk by chunk.
    keep: dict[str, list[np.ndarray]] = {"time_s": [], "src": [], "dst": [], "rtt_ms": []}
    changes = np.zeros(len(net.pairs), dtype=np.int64)
    last_paths: np.ndarray | None = None
    writers = _RouteWriters(out, parquet=sc.output.parquet)
    fw_writer = None
    chunks = iter_chunks(net, t_s, forwarding=forwarding, workers=workers)
    try:
        with contextlib.closing(chunks):
            for res in chunks:
                cols = res.table.columns
                if len(net.pairs) and len(cols["time_s"]):
                    extra = {"src_name": names[cols["src"]], "dst_name": names[cols["dst"]]}
                    writers.write({**{k: cols[k] for k in ROUTE_COLUMNS}, **extra})
                    for k in keep:
                        keep[k].append(cols[k])
                    # Rows are time-major with the pairs in a fixed order within each step.
                    paths = cols["path_fwd"].reshape(-1, len(net.pairs))
                    if last_paths is not None:
                        paths = np.vstack([last_paths[None, :], paths])
                    changes += (paths[1:] != paths[:-1]).sum(axis=0)
                    last_paths = paths[-1]
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
        writers.close()
        if fw_writer is not None:
            fw_writer.close()
    compact = {k: (np.concatenate(v) if v else np.empty(0)) for k, v in keep.items()}
    change_map = {(int(a), int(b)): int(c) for (a, b), c in zip(net.pairs, changes, strict=True)}
    summary = pair_summary(compact, list(names), path_changes=change_map)
    write_table(out, "summary.csv", summary)
    if sc.output.plot and len(compact["time_s"]):
        plot_rtt(compact, out.path("rtt.png"), list(names), title=sc.name)
    out.path("scenario.toml").write_text(scenario_text, encoding="utf-8")
    return RouteTable(compact), summary, fw_rows
