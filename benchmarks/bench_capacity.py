"""Benchmark the capacity allocators on a synthetic network.

10,000 flows (a 100 x 100 city matrix) over 4,000 links, each flow crossing ~10 random links
(seeded).  Two demand scenarios: log-normal demands (a minority of flows link-limited) and
elastic flows (infinite demand).  Prints the median
of 5 runs and the peak memory (Python/numpy allocations traced by ``tracemalloc``; HiGHS's
own C++ allocations are not traced, so the process peak RSS is printed too).

Run: ``uv run python benchmarks/bench_capacity.py [--flows N] [--links N] [--path-len N]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from leosim.capacity import incidence_from_pairs, max_min_fair, max_throughput


def synthetic_network(n_flows: int, n_links: int, path_len: int, seed: int = 12345):
    """Random incidence (path lengths ``path_len`` +- 3), capacities and demands (bit/s)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(max(1, path_len - 3), path_len + 4, size=n_flows)
    flows = np.repeat(np.arange(n_flows), lengths)
    links = rng.integers(0, n_links, size=flows.size)
    inc = incidence_from_pairs(flows, links, n_flows, n_links, duplicates="once")
    capacity = rng.uniform(10e9, 100e9, size=n_links)
    demand = rng.lognormal(mean=np.log(0.3e9), sigma=1.0, size=n_flows)
    return inc, capacity, demand


def measure(fn: Callable[[], object], repeats: int = 5) -> tuple[float, float, object]:
    """Median wall time (s) over ``repeats`` runs and peak traced memory (MiB) of one run."""
    times = []
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(times), peak / 2**20, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=10_000)
    ap.add_argument("--links", type=int, default=4_000)
    ap.add_argument("--path-len", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    inc, cap, dem = synthetic_network(args.flows, args.links, args.path_len)
    print(
        f"network: {args.flows} flows x {args.links} links, {inc.nnz} incidence entries "
        f"(mean path {inc.nnz / args.flows:.1f} links)"
    )
    # "lognormal": finite demands, ~half the flows link-limited.  "elastic": every flow
    # wants all it can get, the hardest case for the LP (massively degenerate).
    for scenario, demand in (("lognormal", dem), ("elastic", np.full(args.flows, np.inf))):
        for name, fn in (
            ("max_min_fair", lambda d=demand: max_min_fair(inc, cap, d)),
            ("max_throughput (LP)", lambda d=demand: max_throughput(inc, cap, d)),
        ):
            t, peak_mib, alloc = measure(fn, args.repeats)
            extra = f", {alloc.rounds} rounds" if alloc.rounds else ""
            print(
                f"{scenario:9s} {name:20s} median {t * 1e3:8.1f} ms  peak traced "
                f"{peak_mib:6.1f} MiB  total {alloc.total_rate_bps / 1e12:.3f} Tbit/s, "
                f"share met {alloc.share_met:.3f}, {alloc.saturated.sum()} saturated links{extra}"
            )
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
