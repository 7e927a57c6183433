"""Benchmark: policy evaluation with the round trip to the PoP on ``starlink-2026-05``.

10,000 population-weighted terminals over every country, one orbit (95 min) at 60 s steps, the
default latency model (15 s reconfiguration slots, so each step also routes its slot start).
Prints the median wall time of ``--repeats`` runs, the peak RSS, and the effect of the 15 s
reconfiguration (the same run with ``reconfiguration_s = 0``) on the per-country medians.

    uv run python benchmarks/bench_latency.py [--terminals 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--terminals", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--orbit-s", type=float, default=5700.0)
    args = ap.parse_args()

    from leosim.borders import Borders
    from leosim.ground_segment import sample_terminals
    from leosim.latency import LatencyModel
    from leosim.policy import parse_policy
    from leosim.scenario import parse_scenario
    from leosim.service import evaluate
    from leosim.simulate import build_network

    borders = Borders.default()
    terms = sample_terminals(list(borders.codes), n_total=args.terminals, borders=borders)
    sc = parse_scenario(
        {"constellation": {"preset": "starlink-2026-05"},
         "time": {"duration_s": args.orbit_s, "step_s": 60.0}}
    )
    t0 = time.perf_counter()
    net = build_network(sc)
    build_s = time.perf_counter() - t0
    pol = parse_policy({})
    t_s = sc.time.offsets_s()
    walls, res = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = evaluate(net, pol, terms, t_s, borders=borders)
        walls.append(time.perf_counter() - t0)
    wall = statistics.median(walls)
    print(
        f"policy evaluation with PoP latency: {len(terms)} terminals, {len(t_s)} steps of 60 s, "
        f"{net.num_sats} satellites (built in {build_s:.1f} s)"
    )
    print(
        f"  median {wall:.1f} s of {args.repeats} runs ({', '.join(f'{w:.1f}' for w in walls)}), "
        f"{wall / len(t_s) * 1e3:.0f} ms per step -> {'meets' if wall <= 60 else 'MISSES'} the "
        f"60 s target; peak RSS {_rss_mib():.0f} MiB"
    )
    free = evaluate(net, pol, terms, t_s, borders=borders,
                    latency=LatencyModel(reconfiguration_s=0))
    a, b = free.pop_paths.rtt_pop_ms, res.pop_paths.rtt_pop_ms
    ok = np.isfinite(a) & np.isfinite(b)
    d = (b - a)[ok]
    print(
        f"  15 s reconfiguration vs re-choosing the satellite every step: the held satellite "
        f"adds {np.median(d):.2f} ms at the median terminal-step, {np.percentile(d, 95):.2f} ms "
        f"at p95, {d.max():.2f} ms at most; {100 * (d > 1e-3).mean():.0f} % of terminal-steps "
        "differ"
    )
    ca, cb = free.country_table(borders), res.country_table(borders)
    dm = np.asarray(cb["median_rtt_pop_ms"], float) - np.asarray(ca["median_rtt_pop_ms"], float)
    print(f"  per-country median RTT to the PoP: +{np.nanmedian(dm):.2f} ms median over "
          f"{np.isfinite(dm).sum()} countries, +{np.nanmax(dm):.2f} ms at most")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
