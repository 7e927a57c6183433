"""Benchmark of ``leosim export hypatia`` (issue 9, item 3): Hypatia's state folder for ns-3.

Scenario: Hypatia's Starlink 550 km shell (1584 satellites, +Grid) with its top-100 cities,
200 s at 100 ms (2000 steps): the full forwarding state of every step, written as satgenpy's
``fstate_<t>.txt`` (first step in full, 168,300 lines; then changes only) and
``gsl_if_bandwidth_<t>.txt``, plus the static files.  satgenpy needs about 11 s per step for
this on the same kind of 2-core machine (``../shared/reference/hypatia/README.md``: ~6 h for
the 2000 steps on one thread); Hypatia's issue 20 reports ~48 h for its state generation.

Prints the wall time of each export (scenario to published folder, one process), their median,
the time per step, the folder's size and the peak resident memory of the process.

    uv run python benchmarks/bench_export.py [--repeats 3] [--duration-s 200]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

SCENARIO = """\
name = "starlink-550-hypatia-export"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[time]
duration_s = {duration_s}
step_s = 0.1
"""

SATGENPY_S_PER_STEP = 11.0
"""satgenpy on this kind of machine (../shared/reference/hypatia/README.md)."""
HYPATIA_ISSUE_20_H = 48.0


def _folder_mib(p: Path) -> float:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration-s", type=float, default=200.0)
    args = ap.parse_args()

    from leosim.hypatia_export import export_hypatia
    from leosim.scenario import parse_scenario
    from leosim.sssp import warm_up

    compile_s = warm_up()
    import tomllib

    sc = parse_scenario(tomllib.loads(SCENARIO.format(duration_s=args.duration_s)))
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            out = Path(tmp) / f"state{k}"
            t0 = time.perf_counter()
            res = export_hypatia(sc, out)
            walls.append(time.perf_counter() - t0)
            size = _folder_mib(out)
            print(
                f"run {k + 1}: {walls[-1]:.2f} s, {res.num_steps} steps, "
                f"{res.fstate_lines:,} fstate lines, {size:.1f} MiB"
            )
    med = statistics.median(walls)
    steps = res.num_steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    satgenpy_s = steps * SATGENPY_S_PER_STEP
    print(f"kernel compile or cache load: {compile_s:.2f} s (once per process, not in the runs)")
    print(
        f"median export: {med:.2f} s for {steps} steps = {1e3 * med / steps:.2f} ms per step; "
        f"peak RSS {rss:.0f} MiB"
    )
    print(
        f"satgenpy: ~{satgenpy_s / 3600:.1f} h ({SATGENPY_S_PER_STEP:g} s per step) = "
        f"{satgenpy_s / med:,.0f}x; Hypatia issue 20's ~{HYPATIA_ISSUE_20_H:g} h = "
        f"{HYPATIA_ISSUE_20_H * 3600 / med:,.0f}x"
    )


if __name__ == "__main__":
    main()
