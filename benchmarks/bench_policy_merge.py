"""Benchmark of the policy merge's memory (issue 11): the same chunk length, 4x the horizon.

Synthetic per-step results (random RTTs, unserved steps, several gateway countries) of
``--terminals`` terminals in four countries are written chunk by chunk, ``--chunk`` steps each,
to a real :class:`~leosim.chunkstore.ChunkStore` (Parquet, as ``leosim policy evaluate``
keeps them) for ``--steps`` and 4x ``--steps`` steps; then the merge, sorting at most ``--values`` values at
once (the default budget, 4,000,000, is more than these small horizons hold),
(:func:`leosim.chunked_policy.policy_tables`, i.e. :func:`leosim.policy_merge.merge_tables`)
reads them back into ``terminals.csv``/``countries.csv`` columns.  Each horizon runs in a fresh
process; printed per horizon: the merge's wall time, its peak of Python/numpy heap
(tracemalloc; pyarrow's buffers hold one chunk and are not counted), the process's peak
resident memory (``ru_maxrss``), and what the merge before issue 11 held for its largest
country over the window (96 bytes a terminal-step).

    uv run python benchmarks/bench_policy_merge.py [--terminals 400] [--steps 1440] [--chunk 240]
        [--values 50000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
from pathlib import Path

import numpy as np


def chunk_arrays(j: int, steps: int, n: int):
    """Chunk ``j``'s per-step results (seeded by ``j``)."""
    from leosim.latency import StepArrays

    rng = np.random.default_rng([7, j])
    out = StepArrays.empty(steps, n)
    served = rng.random((steps, n)) < 0.8
    out.gateway[served] = rng.integers(0, 6, (steps, n))[served]
    out.rtt_gw_ms[served] = rng.normal(50, 10, (steps, n))[served]
    for k in ("rtt_pop_ms", "radio_ms", "lasers_ms", "fibre_ms"):
        getattr(out, k)[served] = rng.normal(30, 8, (steps, n))[served]
    out.pop_gateway[served] = out.gateway[served]
    out.visible[:] = served.sum(axis=0)
    return out


def setup_of(n: int):
    """An :class:`~leosim.service.EvaluationSetup` stand-in: what the merge reads of it."""
    from leosim.ground_segment import Terminals
    from leosim.latency import LatencyModel

    rng = np.random.default_rng(1)
    terms = Terminals(
        np.arange(n).astype(str).astype(object),
        rng.uniform(-60, 60, n),
        rng.uniform(-180, 180, n),
        np.array(["TWN", "JPN", "PHL", "FRA"])[np.arange(n) % 4],
        rng.integers(1, 100, n).astype(np.float64),
    )
    gw = types.SimpleNamespace(
        country=np.array(["TWN", "JPN", "PHL", "FRA", "USA", "JPN"]),
        name=np.array([f"gw{i}" for i in range(6)]),
    )
    policy = types.SimpleNamespace(
        name="bench",
        gateways=gw,
        pops=types.SimpleNamespace(code=np.array(["P0", "P1"])),
        state_of=lambda c: np.full(len(c), "active"),
    )
    return types.SimpleNamespace(
        policy=policy,
        terminals=terms,
        latency=LatencyModel(),
        allowed=np.ones(n, dtype=bool),
        reason=np.full(n, "", dtype=object),
        pop_of=np.arange(n) % 2,
        pop_how=np.full(n, "policy", dtype=object),
    )


def one(n: int, n_steps: int, chunk: int, values: int) -> dict:
    """Store ``n_steps`` steps in chunks of ``chunk`` and time and measure their merge,
    sorting at most ``values`` values at once (:data:`leosim.policy_merge.MERGE_VALUES`)."""
    from leosim import policy_merge
    from leosim.chunked_policy import policy_tables, step_tables
    from leosim.chunkstore import ChunkStore
    from leosim.execution import plan_chunks

    policy_merge.MERGE_VALUES = values
    t_s = np.arange(n_steps, dtype=np.float64)
    plan = plan_chunks(t_s, chunk_s=float(chunk))
    with tempfile.TemporaryDirectory() as tmp:
        store = ChunkStore.open(Path(tmp) / "out", "bench", plan, resume=False)
        for j, (a, b) in enumerate(plan):
            store.write(j, step_tables(chunk_arrays(j, b - a, n)))
        setup = setup_of(n)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        t0 = time.perf_counter()
        _, ct = policy_tables(store, 0, plan, setup, t_s, None)
        wall = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        store.remove()
    return {
        "steps": n_steps,
        "chunks": len(plan),
        "wall_s": wall,
        "heap_peak_mib": peak / 2**20,
        "rss_peak_mib": max(rss, rss0) / 1024,
        "old_block_mib": 96 * (n // 4) * n_steps / 2**20,
        "countries": len(ct["country"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terminals", type=int, default=400)
    ap.add_argument("--steps", type=int, default=1440)
    ap.add_argument("--chunk", type=int, default=240)
    ap.add_argument("--values", type=int, default=50_000, help="values sorted at once")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one is not None:
        print(json.dumps(one(a.terminals, a.one, a.chunk, a.values)))
        return
    print(f"{a.terminals} terminals, chunks of {a.chunk} steps, {a.values:,} values sorted at once")
    print("  steps  chunks  merge s  heap peak MiB  RSS peak MiB  old merge block MiB")
    for n_steps in (a.steps, 4 * a.steps):
        cmd = [sys.executable, __file__, "--terminals", str(a.terminals), "--chunk", str(a.chunk)]
        cmd += ["--values", str(a.values)]
        r = json.loads(
            subprocess.run(
                [*cmd, "--one", str(n_steps)], check=True, capture_output=True, text=True
            ).stdout
        )
        print(
            f"{r['steps']:7d} {r['chunks']:7d} {r['wall_s']:8.1f} {r['heap_peak_mib']:14.1f}"
            f" {r['rss_peak_mib']:13.1f} {r['old_block_mib']:20.1f}"
        )


if __name__ == "__main__":
    main()
