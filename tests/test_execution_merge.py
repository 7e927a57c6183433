"""The driver's final merge of a chunked run: memory bounded by the chunk size whatever the
horizon, and summaries equal to numpy's statistics over all the rows.

The chunks are synthetic route tables (random RTTs with unreachable steps, ties and paths that
change) written to a real :class:`~leosim.chunkstore.ChunkStore`; the merge is
:func:`leosim.cli.runner._merge` itself.  Memory is Python's and numpy's heap as tracemalloc
sees it (pyarrow's own buffers are not counted: they hold one chunk at a time).
"""

from __future__ import annotations

import csv
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

from leosim.chunkstore import ChunkStore
from leosim.cli import runner
from leosim.execution import plan_chunks
from leosim.order_stats import grouped_ranks, order_keys
from leosim.outputs import OutputDir, to_arrow
from leosim.simulate import ROUTE_COLUMNS

PAIRS = np.array([[0, 1], [2, 3], [1, 4], [0, 1], [5, 2], [3, 0]])  # one pair twice
NAMES = ["A", "B", "C", "D", "E", "F"]
CHUNK_STEPS = 50


def chunk_rows(k: int, steps: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Chunk ``k`` of a run: ``steps`` steps x the pairs, time-major (as routing writes)."""
    rng = np.random.default_rng([seed, k])
    p = len(PAIRS)
    n = steps * p
    t = np.repeat(np.arange(k * CHUNK_STEPS, k * CHUNK_STEPS + steps) * 1.0, p)
    rtt = np.round(rng.normal(60.0, 15.0, n), 1)  # rounded: many ties
    rtt[rng.random(n) < 0.1] = np.inf
    rtt[np.tile(np.arange(p) == 5, steps)] = np.inf  # one pair never reachable
    paths = np.array(["1-2-3", "1-4-3", "7-8"], dtype=object)[rng.integers(0, 3, n) // 2]
    cols = {c: np.zeros(n, dtype=np.int64) for c in ROUTE_COLUMNS}
    cols.update(
        time_s=t,
        src=np.tile(PAIRS[:, 0], steps),
        dst=np.tile(PAIRS[:, 1], steps),
        rtt_ms=rtt,
        path_fwd=paths,
        path_rev=paths,
        length_fwd_m=rtt * 1e5,
        length_rev_m=rtt * 1e5,
        one_way_delay_ms=rtt / 2,
    )
    return cols


def stored_run(tmp_path, n_steps: int) -> ChunkStore:
    t_s = np.arange(n_steps, dtype=np.float64)
    plan = plan_chunks(t_s, chunk_s=float(CHUNK_STEPS))
    store = ChunkStore.open(tmp_path / f"out{n_steps}", "fp", plan, resume=False)
    for k, (a, b) in enumerate(plan):
        store.write(k, {"part": to_arrow(chunk_rows(k, b - a))})
    return store


def merge(tmp_path, store: ChunkStore, name: str) -> tuple[dict, int]:
    """Run the merge into a fresh output folder; its summary and tracemalloc's peak, bytes."""
    sc = SimpleNamespace(
        routing=SimpleNamespace(forwarding_state=False),
        output=SimpleNamespace(parquet=False, plot=False),
        name="merge test",
    )
    net = SimpleNamespace(pairs=PAIRS, stations=SimpleNamespace(names=NAMES))
    with OutputDir(tmp_path / name) as out:
        tracemalloc.start()  # the merge alone: publishing hashes the files in 1 MiB blocks
        try:
            summary, _ = runner._merge(sc, net, store, out, "")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return summary, peak


def test_merge_memory_does_not_grow_with_the_horizon(tmp_path, monkeypatch):
    # A small budget for the medians' last pass, so that both horizons exceed it: the 4N run
    # must then narrow by counting passes, not hold more values.
    monkeypatch.setattr(runner, "MERGE_MAX_VALUES", 2_000)
    n = 1_000
    peaks = {}
    for steps in (n, 4 * n):
        store = stored_run(tmp_path, steps)
        merge(tmp_path, store, f"warm{steps}")  # imports and caches outside the measure
        _, peaks[steps] = merge(tmp_path, store, f"o{steps}")
        store.remove()
    # What the merge used to keep for its medians: 4 columns of 8 bytes per pair and step.
    grown = 32 * len(PAIRS) * 3 * n
    assert peaks[4 * n] < peaks[n] + grown / 4, peaks
    # And the peak is of the order of one chunk's rows, not of the window's.
    chunk_bytes = CHUNK_STEPS * len(PAIRS) * 15 * 8
    assert peaks[4 * n] < 40 * chunk_bytes, peaks


@pytest.mark.parametrize("budget", [3, 500, 10**9])
def test_summary_is_numpys_statistics_over_all_rows(tmp_path, monkeypatch, budget):
    monkeypatch.setattr(runner, "MERGE_MAX_VALUES", budget)
    steps = 7 * CHUNK_STEPS + 13  # a short last chunk
    store = stored_run(tmp_path, steps)
    summary, _ = merge(tmp_path, store, "out")
    plan = store.plan
    rows = [chunk_rows(k, b - a) for k, (a, b) in enumerate(plan)]
    store.remove()
    all_rows = {c: np.concatenate([r[c] for r in rows]) for c in ("src", "dst", "rtt_ms")}
    # pair_summary's row order: first appearance; the pair listed twice is one row.
    assert summary["src"].tolist() == [0, 2, 1, 5, 3]
    for i, (s, d) in enumerate(zip(summary["src"], summary["dst"], strict=True)):
        sel = (all_rows["src"] == s) & (all_rows["dst"] == d)
        r = all_rows["rtt_ms"][sel]
        ok = r[np.isfinite(r)]
        assert summary["steps"][i] == sel.sum()
        assert summary["unreachable_steps"][i] == len(r) - len(ok)
        if len(ok):
            assert summary["median_rtt_ms"][i] == np.median(ok)
            assert summary["min_rtt_ms"][i] == ok.min()
            assert summary["max_rtt_ms"][i] == ok.max()
        else:
            assert np.isnan(summary["median_rtt_ms"][i])
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 5


def test_grouped_ranks_are_numpys_order_statistics():
    """Every rank of every group, for values of any sign and magnitude, with ties, read in
    blocks of any size and narrowed with any number of bins."""
    rng = np.random.default_rng(3)
    for trial in range(60):
        groups = int(rng.integers(1, 5))
        n = int(rng.integers(1, 300))
        if trial % 3 == 0:
            v = rng.normal(50, 10, n)
        elif trial % 3 == 1:
            v = rng.integers(0, 3, n).astype(float)  # mostly ties
        else:
            v = np.exp(rng.normal(0, 40, n)) * rng.choice([-1.0, 1.0], n)
        g = rng.integers(0, groups, n)
        count = np.bincount(g, minlength=groups)
        ranks = np.stack([rng.integers(0, np.maximum(count, 1)), np.full(groups, -1)], axis=1)
        ranks[count == 0] = -1
        size = int(rng.integers(1, 40))

        def blocks(g=g, v=v, size=size):
            for a in range(0, len(v), size):
                yield g[a : a + size], v[a : a + size]

        lo = np.array([v[g == k].min() if count[k] else 0.0 for k in range(groups)])
        hi = np.array([v[g == k].max() if count[k] else 0.0 for k in range(groups)])
        got = grouped_ranks(
            blocks,
            g_count=count,
            g_min=lo,
            g_max=hi,
            ranks=ranks,
            bins=int(rng.integers(2, 9)),
            max_values=int(rng.integers(1, 50)),
        )
        for k in range(groups):
            if count[k]:
                assert got[k, 0] == np.sort(v[g == k])[ranks[k, 0]], (trial, k)
            assert np.isnan(got[k, 1])


def test_order_keys_sort_as_the_floats_do():
    v = np.array([-np.inf, -1e308, -2.5, -1e-320, -0.0, 0.0, 1e-320, 3.0, 1e308, np.inf])
    k = order_keys(v)
    assert (np.diff(k.astype(object)) > 0).all()
