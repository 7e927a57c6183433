"""Benchmark: routing on the real Starlink catalogue, and a policy evaluation of 10,000 terminals.

(a) Routing, one core (one numba thread).  The 2026-05-12 catalogue (``/work/shared/data/tle``;
    +Grid lasers from the inferred shell/plane/slot structure), 100 stations
    (``cities-top-100``) and all 9,900 ordered pairs, ``--steps`` steps of ``--step-s``
    (default 100 ms).  Per-step figures, each the median over the steps of one run after the
    first (cold) step, then the median over ``--repeats`` runs (propagation amortised over
    chunks, included):

    * full state: routing state towards all 100 stations (distances and next hops) plus the
      forwarding-state diff, as ``leosim run`` with ``forwarding_state = true``; with the
      numba kernels (default) and, in the same run for the ratio, scipy's Dijkstra;
    * pairs: routing state towards the pairs' endpoints plus the route table (path, RTT,
      hops) of every pair, as ``leosim run`` without forwarding state.  With all pairs every
      station is an endpoint, so this costs the same trees plus the pair table;
    * pairs + routes.csv rows: the same and the table's CSV text (as ``leosim run`` writes
      it, without the disk).

    Targets (issue 9): full state <= 25 ms per step at 100 ms steps; pairs <= 60 ms.

(b) Policy evaluation: 10,000 population-weighted terminals in every country
    (``sample_terminals(all codes, n_total=10000)``), one orbit (95 min at 60 s steps) on the
    same catalogue, under a policy combining the India and Taiwan examples (India: landing in
    India only and a 50 km border buffer; Taiwan active with landing in TWN/JPN/PHL, with
    hypothetical gateways).  Wall time of :func:`leosim.service.evaluate` (network building and
    terminal sampling timed separately).  Target: <= 60 s.

Prints peak RSS (``resource.getrusage``).  Skips with a message when the shared data is absent.

    uv run python benchmarks/bench_policy.py [--repeats 3] [--steps 50] [--step-s 0.1] [--tle PATH]
"""

from __future__ import annotations

import os

# One core: keep BLAS/OpenMP pools (used by numpy/scipy) to a single thread.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TLE = ROOT.parent / "shared" / "data" / "tle" / "starlink-2026-05-12.tle"
EXAMPLES = ROOT / "examples" / "policy"


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _pin_one_core() -> str:
    try:
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[0]})
        return f"pinned to CPU {cpus[0]} of {len(cpus)}"
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return "not pinned"


def propagation_how(net) -> str:
    if net.knot_s > 0:
        return f"SGP4 knots every {net.knot_s:g} s and the cubic between"
    return "SGP4 at every step"


def propagation_s_per_step(net, t_s) -> float:
    """Seconds per step of the positions alone, as :func:`leosim.simulate.iter_states` gets
    them (best of 3)."""
    from leosim.orbits import Orbits

    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ts, _pos in orbits.iter_ecef_m(net.start, t_s, knot_s=net.knot_s):
            pass
        best = min(best, time.perf_counter() - t0)
    return best / len(t_s)


def routing_benchmark(tle: Path, repeats: int, steps: int, step_s: float) -> None:
    import numba

    from leosim import sssp
    from leosim.scenario import parse_scenario
    from leosim.simulate import build_network, iter_states, pair_table

    numba.set_num_threads(1)  # the process is pinned to one core
    print(f"    numba kernels compiled or loaded from the cache in {sssp.warm_up():.2f} s")
    sc = parse_scenario(
        {
            "constellation": {"tle": str(tle)},
            "ground_stations": {"builtin": "cities-top-100"},
            "routing": {"all_pairs": True},
            "time": {"duration_s": step_s * steps, "step_s": step_s},
        },
        source="<bench>",
    )
    t0 = time.perf_counter()
    net = build_network(sc)
    build_s = time.perf_counter() - t0
    t_s = sc.time.offsets_s()
    print(
        f"(a) {tle.name}: {net.num_sats} satellites, {len(net.isl_pairs)} ISLs, "
        f"{net.num_gs} stations, {len(net.pairs)} pairs, {len(t_s)} steps of {step_s:g} s; "
        f"network built in {build_s:.2f} s"
    )
    for note in net.notes:
        print(f"    {note}")

    def full_state(backend: str) -> np.ndarray:
        os.environ["LEOSIM_SSSP"] = backend
        try:
            per_step, prev = [], None
            t_prev = time.perf_counter()
            for _, state in iter_states(net, t_s):
                nh = state.next_hop
                if prev is not None:
                    _ = np.count_nonzero(prev != nh)
                prev = nh
                now = time.perf_counter()
                per_step.append(now - t_prev)
                t_prev = now
        finally:
            del os.environ["LEOSIM_SSSP"]
        return np.array(per_step[1:])

    endpoints = np.unique(net.pairs)

    def pairs_only() -> np.ndarray:
        per_step = []
        t_prev = time.perf_counter()
        for t, state in iter_states(net, t_s, destinations=endpoints):
            pair_table(t, state, net.pairs)
            now = time.perf_counter()
            per_step.append(now - t_prev)
            t_prev = now
        return np.array(per_step[1:])

    def pairs_and_csv() -> np.ndarray:
        from leosim._csvtext import csv_rows_text
        from leosim.outputs import csv_row_columns, to_arrow
        from leosim.simulate import ROUTE_COLUMNS

        per_step = []
        t_prev = time.perf_counter()
        for t, state in iter_states(net, t_s, destinations=endpoints):
            cols = pair_table(t, state, net.pairs).columns
            csv_rows_text(to_arrow(csv_row_columns({k: cols[k] for k in ROUTE_COLUMNS})))
            now = time.perf_counter()
            per_step.append(now - t_prev)
            t_prev = now
        return np.array(per_step[1:])

    prop_s = propagation_s_per_step(net, t_s)
    print(
        f"    propagation: {prop_s * 1e3:.2f} ms per step ({propagation_how(net)}; timed apart "
        "and added below, as the step medians skip the steps that propagate a chunk)"
    )
    runs = (
        ("full state (100 destinations), numba", lambda: full_state("numba"), 0.025),
        ("full state (100 destinations), scipy", lambda: full_state("scipy"), None),
        ("pairs, numba", pairs_only, 0.06),
        ("pairs + routes.csv rows as text, numba", pairs_and_csv, None),
    )
    result = {}
    for label, fn, target in runs:
        medians, means = [], []
        for _ in range(repeats):
            s = fn()
            medians.append(float(np.median(s)))
            means.append(float(s.mean()))
        med = result[label] = statistics.median(medians) + prop_s
        verdict = ""
        if target is not None:
            verdict = f" -> {'meets' if med <= target else 'MISSES'} the {target * 1e3:g} ms target"
        print(
            f"    {label}: {med * 1e3:.1f} ms per step incl. propagation (median of {repeats} "
            "runs; without propagation, run medians "
            f"{', '.join(f'{m * 1e3:.1f}' for m in medians)} ms; means "
            f"{', '.join(f'{m * 1e3:.1f}' for m in means)} ms){verdict}"
        )
    ratio = result[runs[1][0]] / result[runs[0][0]]
    print(f"    numba full state is x{ratio:.1f} faster than scipy in this run")
    print(f"    peak RSS so far: {_rss_mib():.0f} MiB")


def _bench_policy_dict() -> dict:
    india = tomllib.loads((EXAMPLES / "india_landing_rights.toml").read_text())
    taiwan = tomllib.loads((EXAMPLES / "taiwan_activated.toml").read_text())
    return {
        "name": "India + Taiwan (benchmark)",
        "min_elevation_deg": 25,
        "countries": {**taiwan.get("countries", {}), "IRN": "sanctioned_but_active"},
        "exclusion_zones": india["exclusion_zones"] + [{"name": "Crimea", "region": "crimea"}],
        "landing_rights": {**india["landing_rights"], **taiwan["landing_rights"]},
        "gateways": {
            "builtin": "operational",
            "add": india["gateways"]["add"] + taiwan["gateways"]["add"],
        },
    }


def policy_benchmark(tle: Path, n_terminals: int, orbit_s: float) -> None:
    from leosim.borders import Borders
    from leosim.ground_segment import sample_terminals
    from leosim.policy import parse_policy
    from leosim.scenario import parse_scenario
    from leosim.service import evaluate
    from leosim.simulate import build_network

    borders = Borders.default()
    t0 = time.perf_counter()
    terms = sample_terminals(list(borders.codes), n_total=n_terminals, borders=borders)
    sample_s = time.perf_counter() - t0
    pol = parse_policy(_bench_policy_dict(), source="<bench>")
    sc = parse_scenario(
        {
            "constellation": {"tle": str(tle)},
            "links": {"gsl_min_elevation_deg": 25},
            "time": {"duration_s": orbit_s, "step_s": 60.0},
        },
        source="<bench>",
    )
    t0 = time.perf_counter()
    net = build_network(sc)
    build_s = time.perf_counter() - t0
    t_s = sc.time.offsets_s()
    t0 = time.perf_counter()
    res = evaluate(net, pol, terms, t_s, borders=borders)
    wall = time.perf_counter() - t0
    served = float(res.served.mean())
    verdict = "meets" if wall <= 60 else "MISSES"
    print(
        f"(b) policy {pol.name!r}: {len(terms)} terminals in "
        f"{len(np.unique(terms.country))} countries (sampled in {sample_s:.2f} s), "
        f"{len(t_s)} steps of 60 s on {net.num_sats} satellites (network built in {build_s:.2f} s)"
    )
    print(
        f"    evaluate: {wall:.1f} s wall ({wall / len(t_s) * 1e3:.0f} ms per step) -> {verdict} "
        f"the 60 s target; served terminal-steps {served:.1%}, "
        f"{int((~res.allowed).sum())} terminals blocked by policy"
    )
    ct = res.country_table(borders)
    for c in ("IND", "TWN", "PAK", "IRN", "UKR"):
        if c in set(ct["country"]):
            i = list(ct["country"]).index(c)
            print(
                f"    {c}: served {ct['served_share'][i]:.1%}, median RTT "
                f"{ct['median_rtt_pop_ms'][i]:.1f} ms to the PoP, lands in {ct['landing'][i][:60]}"
            )
    print(f"    peak RSS: {_rss_mib():.0f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tle", type=Path, default=DEFAULT_TLE)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50, help="time steps per routing run")
    ap.add_argument("--step-s", type=float, default=0.1, help="routing time step, seconds")
    ap.add_argument("--terminals", type=int, default=10_000)
    ap.add_argument("--orbit-s", type=float, default=5700.0)
    ap.add_argument("--skip-routing", action="store_true")
    ap.add_argument("--skip-policy", action="store_true")
    args = ap.parse_args()
    if not args.tle.is_file():
        print(f"skipped: {args.tle} not found (needs the shared data folder)")
        return 0
    print(f"one core: {_pin_one_core()}; python {sys.version.split()[0]}")
    if not args.skip_routing:
        routing_benchmark(args.tle, args.repeats, args.steps, args.step_s)
    if not args.skip_policy:
        policy_benchmark(args.tle, args.terminals, args.orbit_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
