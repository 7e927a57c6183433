"""Benchmarks of coverage and capacity (issue: coverage and capacity).

1. Coverage of the real 10,361-satellite Starlink catalogue (../shared/data/tle/
   starlink-2026-05-12.tle) on a 1 deg equal-area grid (41,252 cells) over one orbit
   (95 min at 60 s steps). Target: <= 60 s on this 2-core machine.
2. One allocation step for 100 cities x 100 cities (9,900 flows, gravity demand) on Starlink
   Gen1 (4,408 satellites, +Grid): routing, flows on links, max-min fair and LP. Target <= 5 s.

Median of --repeats runs; peak RSS of the process.

    uv run python benchmarks/bench_analysis.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from pathlib import Path

import numpy as np

from leosim.capacity import CapacityModel, gravity_demand, max_min_fair, max_throughput
from leosim.coverage import coverage, equal_area_grid
from leosim.orbits import Orbits
from leosim.routing import route_step
from leosim.scenario import parse_scenario
from leosim.simulate import build_network
from leosim.traffic import city_pair_step

TLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tle" / "starlink-2026-05-12.tle"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    if TLE.is_file():
        sc = parse_scenario(
            {
                "constellation": {"tle": str(TLE)},
                "links": {"isl": "none"},
                "time": {"duration_s": 5700, "step_s": 60},
            },
            source="<bench>",
        )
        net = build_network(sc)
        grid = equal_area_grid(1.0)
        t_s = sc.time.offsets_s()
        walls = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            res = coverage(net, grid, t_s, min_elevation_deg=25.0)
            walls.append(time.perf_counter() - t0)
        w = statistics.median(walls)
        print(
            f"coverage: {net.num_sats} satellites, {len(grid):,} cells, {len(t_s)} steps: "
            f"median {w:.1f} s ({w / len(t_s) * 1e3:.0f} ms/step; target 60 s); "
            f"mean satellites in view {np.average(res.mean_visible, weights=grid.weight):.1f}, "
            f"always-covered area {100 * np.average(res.covered_fraction >= 1, weights=grid.weight):.1f}%"
        )
    else:
        print(f"coverage: skipped, {TLE} not found")

    sc = parse_scenario(
        {
            "constellation": {"preset": "starlink-gen1"},
            "ground_stations": {"builtin": "cities-top-100"},
            "links": {"gsl_min_elevation_deg": 25},
            "time": {"times_s": [0.0]},
        },
        source="<bench>",
    )
    net = build_network(sc)
    gs = net.stations
    pops = np.array([float(p) for p in gs.extra["pop_max"]])
    demand = gravity_demand(pops, np.stack([gs.latitude_deg, gs.longitude_deg], axis=1), 2e12)
    src, dst = np.nonzero(demand)
    model = CapacityModel()
    walls, parts = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        pos = Orbits.from_constellation(net.constellation).ecef_m(net.start, [0.0])[0]
        st = route_step(
            pos,
            gs.ecef_m(),
            gs.up(),
            net.isl_pairs,
            min_elevation_deg=25.0,
            max_isl_length_m=net.isl_max_length_m,
        )
        t1 = time.perf_counter()
        fl = city_pair_step(st, src, dst, model)
        t2 = time.perf_counter()
        mm = max_min_fair(
            fl.incidence, fl.capacity_bps, demand[src, dst][fl.flow_index], link_kind=fl.link_kind
        )
        t3 = time.perf_counter()
        lp = max_throughput(
            fl.incidence, fl.capacity_bps, demand[src, dst][fl.flow_index], link_kind=fl.link_kind
        )
        t4 = time.perf_counter()
        walls.append(t4 - t0)
        parts.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3))
    p = np.median(np.array(parts), axis=0)
    print(
        f"allocation step, 100 x 100 cities on Gen1 ({len(src):,} flows, {fl.incidence.shape[1]:,} links): "
        f"median {statistics.median(walls):.2f} s (routing {p[0]:.2f}, flows {p[1]:.2f}, max-min {p[2]:.2f}, "
        f"LP {p[3]:.2f}; target 5 s); demand 2,000 Gbit/s, max-min serves {mm.total_rate_bps / 1e9:.0f}, "
        f"LP {lp.total_rate_bps / 1e9:.0f} Gbit/s; bottlenecks {mm.bottleneck_counts()}"
    )
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
