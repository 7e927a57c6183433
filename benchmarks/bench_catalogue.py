"""Benchmark: shell / plane / slot inference and +Grid ISLs on the 10,361-satellite catalogue.

Run from the project root::

    uv run python benchmarks/bench_catalogue.py [path/to/catalogue.tle]

Prints the median of 5 timings of :func:`leosim.catalogue.infer_structure` (TLE parsing
excluded), the peak memory it allocates (tracemalloc, a separate run so tracing does not slow
the timed ones), the process's peak RSS, and the summary table.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from sgp4.api import Satrec

from leosim.catalogue import infer_structure

DEFAULT_TLE = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "tle" / "starlink-2026-05-12.tle"
)


def read_tle(path: Path) -> tuple[list[Satrec], list[str]]:
    lines = [ln.rstrip() for ln in path.read_text().splitlines() if ln.strip()]
    sats, names = [], []
    for k in range(0, len(lines) - 2, 3):
        names.append(lines[k].strip())
        sats.append(Satrec.twoline2rv(lines[k + 1], lines[k + 2]))
    return sats, names


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TLE
    if not path.exists():
        print(f"catalogue not found: {path}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    sats, names = read_tle(path)
    parse_s = time.perf_counter() - t0

    infer_structure(sats, names)  # warm-up (imports, caches)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        structure = infer_structure(sats, names)
        times.append(time.perf_counter() - t0)

    tracemalloc.start()
    infer_structure(sats, names)
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    print(f"catalogue: {path} ({len(sats)} satellites; parsing took {parse_s:.2f} s)")
    print(
        f"infer_structure: median {statistics.median(times):.3f} s of 5 "
        f"(min {min(times):.3f} s, max {max(times):.3f} s)"
    )
    print(
        f"peak memory: {peak_bytes / 2**20:.1f} MiB allocated during one run (tracemalloc); "
        f"process peak RSS {rss_kib / 1024:.0f} MiB"
    )
    print()
    print(structure.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
