"""Benchmark of the core engine (issue: identical to Hypatia and 500x faster).

Scenario: Hypatia's Starlink 550 km shell (1584 satellites, +Grid) with its top-100 cities,
200 s at 100 ms (2000 steps), full forwarding state (all 100 destinations) and the seven
pairs of Hypatia's paper.  Hypatia itself takes about 11 s per step for this on the same kind
of 2-core machine (see ../shared/reference/hypatia/README.md).

Prints: median and mean seconds per step on one core, total wall time with 1 and 2 worker
processes (median of --repeats runs), peak memory (RSS, this process and its workers), and one
full-state step of the 5-shell Starlink Gen1 (4408 satellites) with 100 stations.

    uv run python benchmarks/bench_routing.py [--repeats 3] [--duration-s 200]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tomllib

import numpy as np

from leosim.scenario import DEMO_SCENARIO_TOML, parse_scenario
from leosim.simulate import build_network, iter_chunks, iter_states, pair_table


def _rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration-s", type=float, default=200.0)
    args = ap.parse_args()

    data = tomllib.loads(DEMO_SCENARIO_TOML)
    data["time"] = {"duration_s": args.duration_s, "step_s": 0.1}
    data["routing"]["forwarding_state"] = True
    sc = parse_scenario(data, source="<bench>")
    net = build_network(sc)
    t_s = sc.time.offsets_s()
    print(
        f"scenario: {net.num_sats} satellites, {net.num_gs} stations, {len(net.isl_pairs)} ISLs, "
        f"{len(t_s)} steps, full forwarding state, {len(net.pairs)} pairs"
    )

    # Per-step cost on one core: propagation (amortised over chunks), links, all 100
    # Dijkstra trees, the seven pairs' paths and the forwarding-state diff.
    per_step = []
    prev = None
    t_prev = time.perf_counter()
    for t, state in iter_states(net, t_s):
        pair_table(t, state, net.pairs)
        nh = state.next_hop.astype(np.int32)
        if prev is not None:
            _ = np.count_nonzero(prev != nh)
        prev = nh
        now = time.perf_counter()
        per_step.append(now - t_prev)
        t_prev = now
    ms = np.array(per_step) * 1e3
    print(
        f"one core, per step: median {np.median(ms):.2f} ms, mean {ms.mean():.2f} ms, "
        f"p95 {np.percentile(ms, 95):.2f} ms (Hypatia: ~11,000 ms; "
        f"speed-up x{11000 / np.median(ms):,.0f})"
    )

    for workers in (1, 2):
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            rows = 0
            for res in iter_chunks(net, t_s, forwarding=True, workers=workers):
                rows += 0 if res.forwarding is None else len(res.forwarding["node"])
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        print(
            f"{workers} worker(s): total {w:.2f} s for {len(t_s)} steps "
            f"= {w / len(t_s) * 1e3:.2f} ms/step (median of {args.repeats}; "
            f"{rows:,} forwarding-state rows written)"
        )

    print(
        f"peak RSS: main process {_rss_mib(resource.RUSAGE_SELF):.0f} MiB, "
        f"largest worker {_rss_mib(resource.RUSAGE_CHILDREN):.0f} MiB"
    )

    gen1 = dict(tomllib.loads(DEMO_SCENARIO_TOML))
    gen1["constellation"] = {"preset": "starlink-gen1"}
    gen1["links"] = {"isl": "plus-grid", "gsl_min_elevation_deg": 25.0}
    gen1["time"] = {"times_s": [0.0]}
    gen1["routing"] = {**gen1["routing"], "forwarding_state": True}
    net1 = build_network(parse_scenario(gen1, source="<bench gen1>"))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for t, state in iter_states(net1, [0.0]):
            pair_table(t, state, net1.pairs)
        times.append(time.perf_counter() - t0)
    print(
        f"Starlink Gen1 ({net1.num_sats} satellites, 5 shells) + 100 stations, one full-state "
        f"step incl. propagation: median {statistics.median(times) * 1e3:.1f} ms of 5 "
        f"(Hypatia: ~233 s)"
    )


if __name__ == "__main__":
    main()
