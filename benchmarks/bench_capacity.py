"""Benchmark the capacity allocators on a synthetic network.

10,000 flows (a 100 x 100 city matrix) over 4,000 links, each flow crossing ~10 random links
(seeded).  Two demand scenarios: log-normal demands (a minority of flows link-limited) and
elastic flows (infinite demand).  Prints the median
of 5 runs and the peak memory (Python/numpy allocations traced by ``tracemalloc``; HiGHS's
own C++ allocations are not traced, so the process peak RSS is printed too).

Then the streamed merge of ``leosim capacity`` (:func:`leosim.traffic.subscriber_result`)
over N and 4N synthetic steps in chunks of 60 steps: its traced peak and wall time (the peak
should not grow with the steps).

Run: ``uv run python benchmarks/bench_capacity.py [--flows N] [--links N] [--path-len N]
[--merge-steps N]``
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


def _merge_parts(n_chunks: int, m: int, n_rates: int):
    """Synthetic chunk records of the subscriber merge, made one chunk at a time."""
    kinds = np.array(["beam", "downlink", "feeder", "isl"], dtype=object)
    limits = np.array(["beam", "downlink", "no route"], dtype=object)

    def parts(names=None):
        for k in range(n_chunks):
            rng = np.random.default_rng(k)
            steps = {c: rng.random(m) for c in ("routed_share", "served", "demand", "lp_total")}
            for j in range(n_rates):
                steps[f"servable_{j}"] = rng.random(m) * 1e3
                steps[f"servable_mp_{j}"] = rng.random(m) * 1e4
                steps[f"bottleneck_{j}"] = rng.choice(limits, m)
                steps[f"bottleneck_mp_{j}"] = rng.choice(limits, m)
            n = m * len(kinds)
            kd = {c: rng.random(n) for c in ("used", "saturated", "util_mean", "util_max", "flows")}
            kd["kind"] = np.tile(kinds, m)
            countries = {
                "country": np.tile(np.array(["PHL", "TWN"], dtype=object), m),
                "rate_bps": rng.random(2 * m) * 1e9,
                "demand_bps": np.full(2 * m, 1e10),
            }
            rec = {"steps": steps, "countries": countries, "kinds": kd}
            yield rec if names is None else {n: rec[n] for n in names}

    return parts


def merge_peak(n_steps: int, m: int = 60, max_values: int | None = None) -> tuple[float, float]:
    """Wall time (s) and traced peak (MiB) of the subscriber merge over ``n_steps`` steps,
    its medians sorting at most ``max_values`` values at once (None: the default, 4M)."""
    from leosim.traffic import Cells, SubscriberSetup, subscriber_result

    cells = Cells(
        np.zeros(2), np.zeros(2), np.array(["PHL", "TWN"], dtype=object), *[np.ones(2)] * 2
    )
    setup = SubscriberSetup(cells, None, (25.0, 100.0), *[None] * 6, 25.0, 25.0)
    n_chunks = n_steps // m
    parts = _merge_parts(n_chunks, m, 2)
    t_s = np.arange(n_chunks * m, dtype=float)
    tracemalloc.start()
    t0 = time.perf_counter()
    kw = {} if max_values is None else {"max_values": max_values}
    subscriber_result(setup, t_s, parts, **kw)
    wall = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return wall, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=10_000)
    ap.add_argument("--links", type=int, default=4_000)
    ap.add_argument("--path-len", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--merge-steps", type=int, default=6_000)
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
    merge_peak(600)  # imports and caches
    # Below 4M values the medians sort them all at once (16 bytes each); a small budget
    # shows the rest of the merge's memory, flat in the steps.
    for budget in (None, 1_000):
        for n in (args.merge_steps, 4 * args.merge_steps):
            wall, peak = merge_peak(n, max_values=budget)
            print(
                f"capacity merge of {n:,} steps (chunks of 60, sort budget "
                f"{'4M' if budget is None else f'{budget:,}'} values): {wall:.2f} s, "
                f"peak traced {peak:.2f} MiB"
            )
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"process peak RSS {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
