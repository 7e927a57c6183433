"""Benchmark of leosim.borders: country_of on random points, border distances, peak memory.

    uv run python benchmarks/bench_borders.py [--repeat 5]

Points are uniform on the sphere (so ~29 % land, ~71 % sea), plus a land-only set drawn from
the shipped populated places with ~50 km jitter.  Prints the median of ``--repeat`` runs and the
peak Python-heap memory (tracemalloc) and process peak RSS (getrusage).
"""

from __future__ import annotations

import argparse
import platform
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from leosim.borders import Borders
    from leosim.ground_segment import populated_places
    from leosim.regions import Regions

    borders = Borders.default()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    regions = Regions.default()
    t_regions = time.perf_counter() - t0
    print(f"python {sys.version.split()[0]} on {platform.machine()}, {platform.processor() or '?'}")
    print(f"Borders.default() load: {t_load:.2f} s; Regions.default() load: {t_regions:.2f} s")

    rng = np.random.default_rng(0)
    places = populated_places()
    for n in (10_000, 100_000):
        lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
        lon = rng.uniform(-180.0, 180.0, n)
        t = median_s(lambda lat=lat, lon=lon: borders.country_of(lat, lon), args.repeat)
        land = float(np.mean(borders.country_of(lat, lon) != ""))
        print(f"country_of, {n:>7,} uniform points ({land:.0%} land): median {t * 1e3:8.1f} ms "
              f"({t / n * 1e6:.2f} us/point)")  # fmt: skip
        i = rng.integers(0, len(places), n)
        plat = np.clip(places.latitude_deg[i] + rng.normal(0, 0.5, n), -90, 90)
        plon = places.longitude_deg[i] + rng.normal(0, 0.5, n)
        t = median_s(lambda a=plat, b=plon: borders.country_of(a, b), args.repeat)
        print(f"country_of, {n:>7,} near-land points:          median {t * 1e3:8.1f} ms")

    lat = rng.uniform(8.0, 35.0, 100_000)
    lon = rng.uniform(68.0, 97.0, 100_000)
    t0 = time.perf_counter()
    borders.distance_to_border_km(lat[:1], lon[:1], "IND")
    print(f"IND land-border index build: {(time.perf_counter() - t0) * 1e3:.0f} ms")
    t = median_s(lambda: borders.distance_to_border_km(lat, lon, "IND"), args.repeat)
    print(f"distance_to_border_km, 100,000 points, IND: median {t * 1e3:.1f} ms")
    t = median_s(lambda: borders.within_border_buffer(lat, lon, "IND", 50.0), args.repeat)
    print(f"within_border_buffer,  100,000 points, IND 50 km: median {t * 1e3:.1f} ms")
    t = median_s(lambda: regions.contains("crimea", lat, lon), args.repeat)
    print(f"Regions.contains('crimea'), 100,000 points: median {t * 1e3:.1f} ms")

    tracemalloc.start()
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, 100_000)))
    lon = rng.uniform(-180.0, 180.0, 100_000)
    tracemalloc.reset_peak()
    borders.country_of(lat, lon)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # ru_maxrss is KiB on Linux, bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mib = rss / 1024 if sys.platform != "darwin" else rss / 2**20
    print(f"peak traced numpy/Python allocation in country_of(100,000): {peak / 2**20:.1f} MiB")
    print(f"process peak RSS: {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
