"""Policy evaluations computed in chunks of the time window, on any executor, resumable.

The core of ``leosim policy evaluate``/``compare`` and of a sweep's policy cases
(:mod:`leosim.sweep`).  :func:`plan_evaluation` splits each policy's window into chunks
(:func:`leosim.execution.plan_chunks`); a chunk replays the steps of its first
reconfiguration slot before it (:func:`leosim.service.slot_warmup`), so per-step results are
byte-identical whatever the chunk length and executor.  Chunks are kept as Parquet partitions
(:class:`~leosim.chunkstore.ChunkStore`) and merged:

- into a policy's terminal and country tables one chunk at a time (:func:`policy_tables`,
  :mod:`leosim.policy_merge`: memory bounded by the chunk length whatever the horizon);
- into statistics over all terminals x steps by passes over the chunks
  (:func:`streamed_weighted_quantile`: exact, at most :data:`QUANTILE_VALUES` values at once).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

STEP_RESULT_BYTES = 96
"""Memory per terminal and step of a chunk in flight: the ten arrays of
:class:`~leosim.latency.StepArrays` (40 bytes), their tables and copies."""
QUANTILE_VALUES = 4_000_000
"""Most values :func:`streamed_weighted_quantile` sorts at once (as :mod:`leosim.order_stats`)."""
QUANTILE_VALUE_BYTES = 40
"""Memory per value it sorts: value, weight, sort order, cumulative weight and a mask."""


@dataclasses.dataclass
class PolicyChunks:
    """The chunk plan of evaluating ``setups`` (one per policy) over times ``t_s`` (seconds
    after the network's start): ``steps`` splits one policy's window, ``plan`` and ``items``
    list every chunk (policy-major), ``fingerprint`` is what the chunks depend on."""

    net: object
    t_s: np.ndarray
    steps: list[tuple[int, int]]
    setups: list
    items: list[tuple]
    plan: list[tuple[int, int]]
    fingerprint: str

    @property
    def shared(self) -> tuple:
        """What every chunk's task needs (:func:`leosim.service.evaluate_chunk`)."""
        return (self.net, self.setups)

    def policy_of(self, j: int) -> int:
        """The policy of chunk ``j``."""
        return j // max(1, len(self.steps))


def plan_evaluation(
    sc, net, pols: list, terms, borders, *, texts: list[bytes], command: str, chunk_s=None
) -> PolicyChunks:
    """The chunks of evaluating policies ``pols`` for ``terms`` over scenario ``sc``'s window
    on network ``net``; ``chunk_s`` (seconds) defaults to the scenario's ``[execution]``.
    ``texts`` (the scenario's and policies' contents) and ``command`` enter the fingerprint."""
    from .execution import run_fingerprint
    from .service import prepare_evaluation, slot_warmup

    t_s = sc.time.offsets_s()
    latency = sc.latency.model()
    steps = chunk_steps(sc, chunk_s)
    setups = [prepare_evaluation(net, p, terms, borders=borders, latency=latency) for p in pols]
    start = net.start.timestamp()
    items = [
        (k, t_s[a:b], t_s[slot_warmup(latency, start, t_s, a) : a])
        for k in range(len(pols))
        for a, b in steps
    ]
    plan = [c for _ in pols for c in steps]
    who = [terms.terminal_id, terms.latitude_deg, terms.longitude_deg, terms.country, terms.weight]
    fp = run_fingerprint(
        command, net, t_s, plan, *texts, latency, *(np.asarray(x).tolist() for x in who)
    )
    return PolicyChunks(net, t_s, steps, setups, items, plan, fp)


def chunk_steps(sc, chunk_s: float | None = None) -> list[tuple[int, int]]:
    """The chunks ``[start, stop)`` of scenario ``sc``'s time steps: ``chunk_s`` seconds each,
    default the scenario's ``[execution] chunk_s`` (:func:`leosim.execution.plan_chunks`)."""
    from .execution import plan_chunks

    return plan_chunks(
        sc.time.offsets_s(), chunk_s=chunk_s if chunk_s is not None else sc.execution.chunk_s
    )


@contextlib.contextmanager
def chunked_evaluation(
    sc,
    net,
    pols: list,
    terms,
    borders,
    out: Path,
    *,
    texts: list[bytes],
    command: str = "policy evaluate",
    workers: int | None = None,
    executor: str | None = None,
    address: str | None = None,
    chunk_s: float | None = None,
    resume: bool = False,
    on_start: Callable[[PolicyChunks, list[int]], None] | None = None,
    on_chunk: Callable[[int, object], None] | None = None,
):
    """Compute policies ``pols`` over the scenario's window in chunks, kept for output folder
    ``out``; the block gets ``tables_of(k)``: policy ``k``'s terminal and country tables
    (:meth:`~leosim.service.ServiceResult.terminal_table`, ``country_table``).  Open the
    :class:`~leosim.outputs.OutputDir` inside the block (the chunks are removed after it).

    ``on_start(chunks, done)`` is called once the finished chunks ``done`` of a resumed run
    are known, ``on_chunk(j, steps)`` after chunk ``j`` (its
    :class:`~leosim.latency.StepArrays`).  See :func:`plan_evaluation` and
    :func:`policy_tables`.
    """
    from .execution import choose_executor, chunk_store, compute_chunks
    from .outputs import check_output_dir
    from .service import evaluate_chunk

    w = workers if workers is not None else sc.workers
    ex = choose_executor(sc.execution, workers=w, executor=executor, address=address)
    local = ex.address is None and ex.name != "serial"
    check_evaluation_memory(terms, chunk_steps(sc, chunk_s), workers=w if local else 1)
    ch = plan_evaluation(
        sc, net, pols, terms, borders, texts=texts, command=command, chunk_s=chunk_s
    )
    with chunk_store(check_output_dir(out), ch.fingerprint, ch.plan, resume=resume) as store:
        if on_start is not None:
            on_start(ch, sorted(store.done))
        compute_chunks(
            ex, store, evaluate_chunk, ch.shared, ch.items, tables=step_tables, on_chunk=on_chunk
        )
        yield lambda k: policy_tables(store, k, ch.steps, ch.setups[k], ch.t_s, borders)


def check_evaluation_memory(terms, steps: list[tuple[int, int]], *, workers: int) -> None:
    """Refuse (InputError) a chunked evaluation beyond the memory limit before any step: the
    chunks in flight (two per worker and the one stored, all terminals; :data:`STEP_RESULT_BYTES`
    a terminal and step), then the merge's (:func:`merge_memory_bytes`), whichever is larger:
    neither grows with the horizon, only with the chunk length and the terminals."""
    from ._limits import check_memory

    n_t = steps[-1][1] if steps else 0
    flight = STEP_RESULT_BYTES * float(in_flight_results(terms, steps, workers))
    check_memory(
        max(flight, merge_memory_bytes(len(terms), steps)),
        f"{len(terms):,} terminals over {n_t:,} time steps "
        f"in chunks of {max((b - a for a, b in steps), default=0):,}",
        key="terminals",
    )


def merge_memory_bytes(n_term: int, steps: list[tuple[int, int]]) -> float:
    """Bytes the merge of one policy's chunks ``steps`` holds at once
    (:func:`leosim.policy_merge.merge_tables`): one chunk of per-step results, the values it
    sorts at once and its per-terminal state; whatever the number of chunks."""
    from .policy_merge import (
        MERGE_STEP_BYTES,
        MERGE_TERMINAL_BYTES,
        MERGE_VALUE_BYTES,
        MERGE_VALUES,
    )

    longest = max((b - a for a, b in steps), default=0)
    return float(
        MERGE_STEP_BYTES * longest * n_term
        + MERGE_VALUE_BYTES * MERGE_VALUES
        + MERGE_TERMINAL_BYTES * n_term
    )


def in_flight_results(terms, steps: list[tuple[int, int]], workers: int) -> int:
    """Terminal-steps of the chunks in flight: two per worker and the one being stored."""
    longest = max((b - a for a, b in steps), default=0)
    return (2 * max(1, workers) + 1) * longest * len(terms)


def policy_tables(store, k: int, steps: list[tuple[int, int]], setup, t_s, borders):
    """Policy ``k``'s terminal and country tables from its chunks in ``store``, read one
    chunk at a time (:func:`leosim.policy_merge.merge_tables`; sorted runs spilled into a
    folder of the store, removed after): byte-identical to those of one in-memory
    evaluation of the window, whatever the chunks."""
    from .policy_merge import store_source
    from .service import evaluation_result

    with tempfile.TemporaryDirectory(prefix=".merge-", dir=store.root) as spill:
        src = store_source(store, k, steps, len(setup.terminals), Path(spill))
        return evaluation_result(setup, t_s, None, source=src).tables(borders)


def step_tables(out) -> dict:
    """A chunk's :class:`~leosim.latency.StepArrays` as tables: ``steps`` (steps x terminals,
    time-major) and ``visible`` (per terminal)."""
    import pyarrow as pa

    cols = {
        f.name: getattr(out, f.name).reshape(-1)
        for f in dataclasses.fields(out)
        if f.name != "visible"
    }
    return {"steps": pa.table(cols), "visible": pa.table({"visible": out.visible})}


# ---------------------------------------------------------------------------- streamed statistics


def streamed_weighted_quantile(
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    q: float,
    *,
    max_values: int = QUANTILE_VALUES,
) -> float:
    """Exactly :func:`leosim.service.weighted_quantile` ``(x, w, q)`` of the finite values
    ``x`` (and their weights ``w >= 0``) of every ``(values, weights)`` pair that ``blocks()``
    yields, concatenated in that order, without holding them all: NaN if there are none.

    ``blocks()`` is called once per pass and must yield the same pairs each time.  The values
    are cut by value into ranges of at most about ``max_values`` (split at their ranks ``m,
    2m, ...`` by :func:`leosim.order_stats.grouped_ranks`; equal values stay in one range);
    the ranges are sorted one at a time (stable, so equal values keep their order) and the
    weights summed in that order, continuing from the range before, so the cumulative
    weights, and the value where they first reach ``q`` of the total, are bit for bit those
    of one sort of all values.
    """
    from .order_stats import grouped_ranks
    from .service import weighted_quantile

    n, lo, hi = 0, np.inf, -np.inf
    for v, _ in blocks():
        f = np.asarray(v)[np.isfinite(v)]
        if len(f):
            n, lo, hi = n + len(f), min(lo, float(f.min())), max(hi, float(f.max()))
    if n == 0:
        return float("nan")

    def collect(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
        xs, ws = [], []
        for v, w in blocks():
            v = np.asarray(v)
            ok = np.isfinite(v) & (v >= a) & (v < b)
            xs.append(v[ok])
            ws.append(np.asarray(w, dtype=np.float64)[ok])
        return np.concatenate(xs), np.concatenate(ws)

    if n <= max_values:
        return weighted_quantile(*collect(-np.inf, np.inf), q)

    def finite():
        for v, _ in blocks():
            f = np.asarray(v, dtype=np.float64)[np.isfinite(v)]
            yield np.zeros(len(f), dtype=np.int64), f

    cuts = np.arange(max_values, n, max_values)
    edges = grouped_ranks(
        finite,
        g_count=np.array([n]),
        g_min=np.array([lo]),
        g_max=np.array([hi]),
        ranks=cuts[None, :],
        max_values=max_values,
    )[0]
    bounds = [-np.inf, *edges.tolist(), np.inf]
    ends, sizes, running = [], [], 0.0
    for a, b in itertools.pairwise(bounds):
        x, w = collect(a, b)
        if len(x):
            running = float(np.cumsum(np.r_[running, w[np.argsort(x, kind="stable")]])[-1])
        ends.append(running)
        sizes.append(len(x))
    h = q * running
    # The first value whose cumulative weight reaches h is in the first non-empty range
    # whose last cumulative weight does.
    reach = np.flatnonzero((np.asarray(sizes) > 0) & (np.asarray(ends) >= h))
    j = int(reach[0]) if len(reach) else int(np.flatnonzero(sizes)[-1])
    x, w = collect(bounds[j], bounds[j + 1])
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(np.r_[ends[j - 1] if j else 0.0, w[order]])[1:]
    return float(x[order[np.searchsorted(cw, h)]])
