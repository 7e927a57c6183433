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

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from .._csvtext import csv_rows_text
from ..chunkstore import ChunkStore
from ..errors import InputError
from ..execution import choose_executor, chunk_store, compute_chunks, plan_chunks, run_fingerprint
from ..order_stats import grouped_ranks
from ..outputs import OutputDir, check_output_dir, csv_row_columns, to_arrow, write_table
from ..pair_policy import restrict_pairs
from ..reports import MAX_RTT_LINES, pair_summary, plot_rtt, rtt_percentiles
from ..scenario import Scenario
from ..simulate import (
    ROUTE_COLUMNS,
    Network,
    build_network,
    check_run_size,
    chunk_task,
)


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
        self._fh.write(csv_rows_text(text))  # columnar; the same text as csv.writer's rows
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
    summary: dict[str, np.ndarray]
    wall_s: float
    num_steps: int
    forwarding_rows: int
    out_dir: Path
    files: list[str]
    """The files written into ``out_dir``, in the order they were written."""
    executor: str = "serial"
    num_chunks: int = 0
    chunks_resumed: int = 0
    """Chunks found finished by ``--resume`` (not computed again)."""
    blocked_pairs: int = 0
    """Pairs the policy (``--policy``) did not let route; listed in ``blocked_pairs.csv``."""


def run_scenario(
    sc: Scenario,
    out_dir: str | Path,
    *,
    scenario_text: str,
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    chunk_s: float | None = None,
    resume: bool = False,
    policy=None,
    policy_text: str = "",
    on_start: Callable[[Network, int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Build the network, compute the time window chunk by chunk and write the outputs atomically.

    Chunks (:func:`leosim.execution.plan_chunks`) run on ``executor`` (default: the scenario's
    ``[execution]``, else local processes for several workers) and are kept as Parquet
    partitions in a :class:`~leosim.chunkstore.ChunkStore` beside the output folder; the
    outputs are merged from them in order, so they are byte-identical on every executor and
    after ``resume`` (which computes only the chunks not yet finished).  The output folder is
    checked before anything else; a scenario with nothing to route (no pairs and no
    forwarding state) is an InputError saying what to do instead.

    With a ``policy`` (:class:`~leosim.policy.Policy`, its file's text as ``policy_text``) only
    the pairs it lets route are routed (:func:`leosim.pair_policy.restrict_pairs`); the others
    are listed with the reason in ``blocked_pairs.csv``, and the policy is copied as
    ``policy.toml``.
    """
    t0 = time.perf_counter()
    w = workers if workers is not None else sc.workers
    ex = choose_executor(sc.execution, workers=w, executor=executor, address=address)
    chunk_s = chunk_s if chunk_s is not None else sc.execution.chunk_s
    final = check_output_dir(out_dir)
    r = sc.routing
    if not (r.pairs or r.all_pairs or r.forwarding_state):
        raise _nothing_to_route(sc)
    net = build_network(sc)
    if not (len(net.pairs) or r.forwarding_state):
        raise _nothing_to_route(sc)
    blocked = None
    if policy is not None:
        net, *blocked = restrict_pairs(net, policy)
    t_s = sc.time.offsets_s()
    forwarding = r.forwarding_state
    local = ex.address is None and ex.name != "serial"
    plan = plan_chunks(t_s, chunk_s=chunk_s)
    check_streamed_run_size(
        net, plan, workers=w if local else 1, forwarding=forwarding, plot=sc.output.plot
    )
    fp = run_fingerprint(scenario_text + policy_text, net, t_s, plan, forwarding)
    with chunk_store(final, fp, plan, resume=resume) as store:
        resumed = len(store.done)
        if on_start is not None:
            on_start(net, len(t_s))
        if on_progress is not None and store.done:
            on_progress(store.steps_done())
        _compute(ex, net, t_s, store, forwarding, on_progress)
        with OutputDir(out_dir, command="run") as out:
            summary, fw_rows = _merge(sc, net, store, out, scenario_text)
            if blocked is not None:
                _write_blocked(out, net, *blocked)
                out.path("policy.toml").write_text(policy_text, encoding="utf-8")
    return RunResult(
        net,
        summary,
        time.perf_counter() - t0,
        len(t_s),
        fw_rows,
        out.final,
        out.files,
        executor=ex.name,
        num_chunks=len(plan),
        chunks_resumed=resumed,
        blocked_pairs=0 if blocked is None else len(blocked[0]),
    )


def check_streamed_run_size(
    net: Network, plan: list[tuple[int, int]], *, workers: int, forwarding: bool, plot: bool
) -> None:
    """Refuse (InputError) a chunked run beyond the limits of :mod:`leosim._limits` before any
    step: the workers' routing state and the chunks in flight (two per worker, and the one
    being merged) as :func:`leosim.simulate.check_run_size` counts them, ``rtt.png``'s points
    (:data:`~leosim._limits.RTT_PLOT_STEP_BYTES` a step), and a lower bound of the run time
    of the whole window.  The merge itself keeps nothing per pair and step."""
    from .._limits import RTT_PLOT_STEP_BYTES, check_memory, check_time, routing_time_s

    n_steps = plan[-1][1] if plan else 0
    longest = max((b - a for a, b in plan), default=0)
    w = max(1, min(workers, len(plan)))
    check_run_size(net, min(n_steps, (2 * w + 1) * longest), workers=w, forwarding=forwarding)
    if plot and len(net.pairs):
        check_memory(
            RTT_PLOT_STEP_BYTES * float(n_steps),
            f"rtt.png of {n_steps:,} steps",
            source=net.source,
            key="output.plot",
        )
    dst = net.num_gs if forwarding else len(np.unique(net.pairs))
    seconds = routing_time_s(net.num_sats, net.num_sats + net.num_gs, dst, n_steps, w)
    what = (
        f"routing {net.num_sats:,} satellites and {net.num_gs:,} stations "
        f"({len(net.pairs):,} pairs) over {n_steps:,} steps on {w} worker{'s' if w > 1 else ''}"
    )
    check_time(seconds, what, source=net.source, key="time")


def _write_blocked(out: OutputDir, net: Network, pairs: np.ndarray, reasons: np.ndarray) -> None:
    """``blocked_pairs.csv``: ``src,dst,src_name,dst_name,reason`` of the pairs not routed."""
    names = np.asarray(net.stations.names, dtype=object)
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    write_table(
        out,
        "blocked_pairs.csv",
        {
            "src": p[:, 0],
            "dst": p[:, 1],
            "src_name": names[p[:, 0]],
            "dst_name": names[p[:, 1]],
            "reason": np.asarray(reasons, dtype=object),
        },
    )


def _nothing_to_route(sc: Scenario) -> InputError:
    return InputError(
        'no pairs to route: list them (pairs = [["Paris", "Luanda"]]), set all_pairs = true '
        "or forwarding_state = true; for who is served where, use `leosim policy evaluate`",
        source=sc.source,
        key="routing.pairs",
    )


def _chunk_tables(res) -> dict:
    cols = res.table.columns
    tables = {"part": to_arrow({k: cols[k] for k in ROUTE_COLUMNS})}
    if res.forwarding is not None:
        tables["forwarding"] = to_arrow(res.forwarding)
    return tables


def _compute(ex, net, t_s, store: ChunkStore, forwarding: bool, on_progress) -> None:
    """Compute the chunks not yet in ``store`` on executor ``ex``, storing each as it ends."""
    items = [t_s[slice(*c)] for c in store.plan]

    def done(k, res) -> None:
        if on_progress is not None:
            on_progress(res.num_steps)

    compute_chunks(
        ex, store, chunk_task, (net, forwarding), items, tables=_chunk_tables, on_chunk=done
    )


def _columns(table) -> dict[str, np.ndarray]:
    return {k: table.column(k).to_numpy(zero_copy_only=False) for k in table.column_names}


def _merge(sc, net, store: ChunkStore, out: OutputDir, scenario_text: str):
    """Write the outputs from the stored chunks, in order, one chunk in memory at a time:
    routes, forwarding state (changes only), summary, plot and the scenario copy.  The
    summary's medians read the chunks' RTTs again (:class:`_PairStats`), so nothing per pair
    and step is kept beyond the plot's points."""
    names = np.asarray(net.stations.names, dtype=object)
    forwarding = sc.routing.forwarding_state
    fw_rows = 0
    stats = _PairStats(net.pairs, plot=sc.output.plot)
    writers = _RouteWriters(out, parquet=sc.output.parquet)
    fw_writer = None
    last_hops: np.ndarray | None = None
    try:
        for k in range(len(store.plan)):
            cols = _columns(store.read(k, "part"))
            if len(net.pairs) and len(cols["time_s"]):
                extra = {"src_name": names[cols["src"]], "dst_name": names[cols["dst"]]}
                writers.write({**{c: cols[c] for c in ROUTE_COLUMNS}, **extra})
                stats.add(cols)
            del cols
            fw = store.read(k, "forwarding") if forwarding else None
            if fw is not None and fw.num_rows:
                fw, last_hops = _forwarding_changes(_columns(fw), last_hops, net)
                tab = to_arrow(fw)
                if fw_writer is None:
                    fw_writer = pq.ParquetWriter(str(out.path("forwarding.parquet")), tab.schema)
                fw_writer.write_table(tab)
                fw_rows += tab.num_rows
    finally:
        writers.close()
        if fw_writer is not None:
            fw_writer.close()
    summary = stats.summary(lambda: _rtt_blocks(store), list(names))
    write_table(out, "summary.csv", summary)
    if sc.output.plot and stats.rows:
        stats.plot(out.path("rtt.png"), list(names), title=sc.name)
    out.path("scenario.toml").write_text(scenario_text, encoding="utf-8")
    return summary, fw_rows


MERGE_MAX_VALUES = 4_000_000
"""Most RTTs the summary's medians hold at once (16 bytes each with their pair: 64 MB); more
are narrowed down by counting passes over the chunks first (:mod:`leosim.order_stats`)."""


def _rtt_blocks(store: ChunkStore):
    """Each chunk's RTT column (float64), read alone from its partition."""
    for k in range(len(store.plan)):
        tab = store.read(k, "part", columns=["rtt_ms"])
        yield tab.column("rtt_ms").to_numpy(zero_copy_only=False).astype(np.float64, copy=False)


class _PairStats:
    """The per-pair summary and the plot's data of a run, gathered chunk by chunk: exactly
    :func:`leosim.reports.pair_summary` and :func:`~leosim.reports.plot_rtt` of all the rows,
    with memory of a few numbers per pair (and the plot's points: one line per pair for up to
    :data:`~leosim.reports.MAX_RTT_LINES` pairs, else five percentiles per time step).

    Rows are time-major with ``pairs`` in their order within each step; the medians are
    exact order statistics read back from the chunks (:func:`leosim.order_stats.grouped_ranks`).
    """

    def __init__(self, pairs: np.ndarray, *, plot: bool) -> None:
        self.pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        keys = self.pairs[:, 0] * (1 << 32) + self.pairs[:, 1]
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first)  # the pairs in their first order, as pair_summary keeps them
        rank = np.empty(len(uniq), dtype=np.int64)
        rank[order] = np.arange(len(uniq))
        self.group = rank[inv.reshape(-1)]  # pair column -> summary row
        self.first = first[order]
        g = len(uniq)
        self.steps = np.zeros(g, dtype=np.int64)
        self.finite = np.zeros(g, dtype=np.int64)
        self.min = np.full(g, np.inf)
        self.max = np.full(g, -np.inf)
        self.changes = np.zeros(len(self.pairs), dtype=np.int64)
        self._last_paths: np.ndarray | None = None
        self.rows = 0
        self.lines = plot and g <= MAX_RTT_LINES
        self.bands = plot and not self.lines
        self._kept: dict[str, list[np.ndarray]] = {
            c: [] for c in ("time_s", "src", "dst", "rtt_ms")
        }
        self._bands: list[tuple] = []

    def add(self, cols: dict[str, np.ndarray]) -> None:
        """Take one chunk's rows."""
        p = len(self.pairs)
        rtt = np.asarray(cols["rtt_ms"], dtype=np.float64)
        r = rtt.reshape(-1, p)
        ok = np.isfinite(r)
        g = self.group
        np.add.at(self.steps, g, np.full(p, len(r)))
        np.add.at(self.finite, g, ok.sum(axis=0))
        np.minimum.at(self.min, g, np.where(ok, r, np.inf).min(axis=0))
        np.maximum.at(self.max, g, np.where(ok, r, -np.inf).max(axis=0))
        paths = cols["path_fwd"].reshape(-1, p)
        if self._last_paths is not None:
            paths = np.vstack([self._last_paths[None, :], paths])
        self.changes += (paths[1:] != paths[:-1]).sum(axis=0)
        self._last_paths = paths[-1]
        self.rows += len(rtt)
        if self.lines:
            for c, v in self._kept.items():
                v.append(rtt if c == "rtt_ms" else np.asarray(cols[c]))
        elif self.bands:
            self._bands.append(rtt_percentiles(np.asarray(cols["time_s"], float), rtt))

    def summary(self, rtt_blocks, names: list[str]) -> dict[str, np.ndarray]:
        """The columns of ``summary.csv``; ``rtt_blocks()`` yields the chunks' RTTs again."""
        if not self.rows:
            empty = {c: np.zeros(0, dtype=np.int64) for c in ("src", "dst")}
            return pair_summary({**empty, "rtt_ms": np.zeros(0)}, names, path_changes={})
        n = self.finite
        ranks = np.stack([(n - 1) // 2, np.where(n % 2 == 0, n // 2, -1)], axis=1)
        ranks[n == 0] = -1
        p = len(self.pairs)

        def blocks():
            for rtt in rtt_blocks():
                ok = np.isfinite(rtt)
                yield np.tile(self.group, len(rtt) // p)[ok], rtt[ok]

        lo = np.where(n > 0, self.min, 0.0)
        hi = np.where(n > 0, self.max, 0.0)
        v = grouped_ranks(
            blocks, g_count=n, g_min=lo, g_max=hi, ranks=ranks, max_values=MERGE_MAX_VALUES
        )
        # np.median: the middle value, or the mean of the two middle ones.
        median = np.where(ranks[:, 1] >= 0, (v[:, 0] + v[:, 1]) / 2.0, v[:, 0])
        none = n == 0
        change_map = {
            (int(a), int(b)): int(c) for (a, b), c in zip(self.pairs, self.changes, strict=True)
        }
        src, dst = self.pairs[self.first, 0], self.pairs[self.first, 1]
        label = np.asarray(names, dtype=object) if names else None
        return {
            "src": src,
            "dst": dst,
            "src_name": label[src] if names else src.astype(str).astype(object),
            "dst_name": label[dst] if names else dst.astype(str).astype(object),
            "steps": self.steps,
            "unreachable_steps": self.steps - n,
            "min_rtt_ms": np.where(none, np.nan, self.min),
            "median_rtt_ms": np.where(none, np.nan, median),
            "max_rtt_ms": np.where(none, np.nan, self.max),
            "path_changes": np.array(
                [change_map.get((int(a), int(b)), 0) for a, b in zip(src, dst, strict=True)],
                dtype=np.int64,
            ),
        }

    def plot(self, path: Path, names: list[str], title: str) -> None:
        """``rtt.png`` from what :meth:`add` kept."""
        if self.lines:
            kept = {c: np.concatenate(v) for c, v in self._kept.items()}
            plot_rtt(kept, path, names, title=title)
            return
        ts = np.concatenate([b[0] for b in self._bands])
        q = np.concatenate([b[1] for b in self._bands])
        reachable = sum(b[2] for b in self._bands)
        plot_rtt(
            None, path, names, title=title, summary=(ts, q, reachable, self.rows, len(self.steps))
        )


def _forwarding_changes(fw: dict[str, np.ndarray], prev: np.ndarray | None, net: Network):
    """A chunk's forwarding rows (its first step in full) as changes against the previous
    chunk's last state ``prev`` (None: the first chunk), and the state after the chunk."""
    t = fw["time_s"]
    if prev is None:
        prev = np.full((net.num_gs, net.num_sats + net.num_gs), -1, dtype=np.int32)
        keep = np.ones(len(t), dtype=bool)
    else:
        first = t == t[0]
        keep = ~first | (prev[fw["dst_gid"], fw["node"]] != fw["next_hop"])
    # Apply the rows step by step (a later step overrides an earlier one).
    cuts = np.flatnonzero(np.diff(t)) + 1
    for a, b in zip([0, *cuts.tolist()], [*cuts.tolist(), len(t)], strict=True):
        prev[fw["dst_gid"][a:b], fw["node"][a:b]] = fw["next_hop"][a:b]
    return {k: v[keep] for k, v in fw.items()}, prev
