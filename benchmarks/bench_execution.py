"""Benchmark of the executors (issue 11): one long ``leosim run`` serial and on 2 Dask workers.

Scenario: the ``starlink-2026-05`` preset (9,546 satellites, +Grid) with the 100 most populous
cities and ``--pairs`` seeded random ordered pairs between them, ``--hours`` at ``--step-s``
(default 24 h at 60 s: 1,440 steps), chunks of ``--chunk-s`` (default 30 min: 48 chunks).
Each executor runs in a fresh process (``run_scenario`` end to end: network, chunks, Parquet
partitions, merge, publish), and reports

* wall time, and the speed-up of Dask over serial;
* the cost of every chunk, measured inside the worker that ran it, and each worker's peak
  resident memory (``ru_maxrss``) as well as the driver's;
* that both output folders are byte-identical (the manifests' SHA-256);
* the projected wall time on N machines (one worker each): the fixed cost (network, merge,
  cluster start) plus ``ceil(chunks / N)`` times the median chunk cost.

    uv run python benchmarks/bench_execution.py [--hours 24] [--pairs 200] [--workers 2]
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import tomllib  # noqa: E402
from pathlib import Path  # noqa: E402


def scenario(hours: float, step_s: float, n_pairs: int, chunk_s: float, seed: int = 1) -> str:
    rng = random.Random(seed)
    pairs = rng.sample([(a, b) for a in range(100) for b in range(100) if a != b], n_pairs)
    return f"""\
name = "bench_execution"
[constellation]
preset = "starlink-2026-05"
[ground_stations]
builtin = "cities-top-100"
[routing]
pairs = {[list(p) for p in pairs]}
[time]
duration_s = {hours * 3600:g}
step_s = {step_s:g}
[output]
plot = false
[execution]
chunk_s = {chunk_s:g}
"""


def _timed_chunk(shared, t_s):
    """``leosim.simulate.chunk_task`` with its wall time, worker pid and peak memory attached."""
    from leosim.simulate import chunk_task

    t0 = time.perf_counter()
    res = chunk_task(shared, t_s)
    res.bench = {
        "wall_s": time.perf_counter() - t0,
        "pid": os.getpid(),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": len(t_s),
    }
    return res


def one(executor: str, workers: int, text: str, out: str) -> dict:
    """Run the scenario once on ``executor`` in this process; the measurements as a dict."""
    from leosim.cli import runner
    from leosim.scenario import parse_scenario

    chunks: list[dict] = []
    tables = runner._chunk_tables

    def record(res):
        chunks.append(res.bench)
        return tables(res)

    runner.chunk_task = _timed_chunk  # measured inside the worker that runs each chunk
    runner._chunk_tables = record
    sc = parse_scenario(tomllib.loads(text))
    t0 = time.perf_counter()
    res = runner.run_scenario(sc, out, scenario_text=text, executor=executor, workers=workers)
    wall = time.perf_counter() - t0
    manifest = json.loads((Path(out) / "manifest.json").read_text())["files"]
    per_worker: dict[int, float] = {}
    busy: dict[int, float] = {}
    for c in chunks:
        per_worker[c["pid"]] = max(per_worker.get(c["pid"], 0.0), c["maxrss_mib"])
        busy[c["pid"]] = busy.get(c["pid"], 0.0) + c["wall_s"]
    return {
        "executor": executor,
        "workers": workers,
        "wall_s": wall,
        "steps": res.num_steps,
        "chunks": res.num_chunks,
        "chunk_s": [c["wall_s"] for c in chunks],
        "worker_peak_mib": sorted(per_worker.values()),
        "worker_busy_s": sorted(busy.values()),
        "driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "sha256": {k: v["sha256"] for k, v in manifest.items() if k != "scenario.toml"},
        "satellites": res.network.num_sats,
        "pairs": len(res.network.pairs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--step-s", type=float, default=60.0)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--chunk-s", type=float, default=1800.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default="dask")
    ap.add_argument("--one", nargs=4, metavar=("EXECUTOR", "WORKERS", "SCENARIO", "OUT"))
    a = ap.parse_args()
    if a.one:
        ex, w, path, out = a.one
        print(json.dumps(one(ex, int(w), Path(path).read_text(), out)))
        return
    text = scenario(a.hours, a.step_s, a.pairs, a.chunk_s)
    runs = {}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "s.toml").write_text(text)
        for ex, w in (("serial", 1), (a.executor, a.workers)):
            cmd = [sys.executable, __file__, "--one", ex, str(w), f"{d}/s.toml", f"{d}/out-{ex}"]
            r = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                sys.exit(f"{ex} failed:\n{r.stderr}")
            runs[ex] = json.loads(r.stdout.strip().splitlines()[-1])
    s, p = runs["serial"], runs[a.executor]
    print(
        f"starlink-2026-05: {s['satellites']:,} satellites, 100 stations, {s['pairs']} pairs, "
        f"{s['steps']:,} steps of {a.step_s:g} s ({a.hours:g} h), {s['chunks']} chunks of "
        f"{a.chunk_s:g} s"
    )
    print(
        f"{'executor':<18}{'wall s':>9}{'chunk s (median)':>18}{'ms/step':>9}"
        f"{'worker peak MiB':>17}{'driver peak MiB':>17}"
    )
    for r in (s, p):
        med = statistics.median(r["chunk_s"])
        per_step = 1e3 * sum(r["chunk_s"]) / r["steps"]
        peaks = "/".join(f"{m:.0f}" for m in r["worker_peak_mib"])
        label = f"{r['executor']} x{r['workers']}"
        print(
            f"{label:<18}{r['wall_s']:>9.1f}{med:>18.2f}{per_step:>9.0f}{peaks:>17}"
            f"{r['driver_peak_mib']:>17.0f}"
        )
    print(f"speed-up {a.executor} x{a.workers} over serial: {s['wall_s'] / p['wall_s']:.2f}")
    print(f"outputs byte-identical: {s['sha256'] == p['sha256']}")
    # Projection: fixed cost (network, partitions, merge; cluster start) + chunk rounds.
    c = statistics.median(s["chunk_s"])
    fixed = s["wall_s"] - sum(s["chunk_s"])
    engine = max(0.0, p["wall_s"] - fixed - max(p["worker_busy_s"]))
    day_chunks = math.ceil(24 * 3600 / a.chunk_s)
    print(
        f"projection: fixed {fixed:.1f} s (network, partitions, merge) + {a.executor} start "
        f"{engine:.1f} s + ceil(chunks / N) x {c:.2f} s per {a.chunk_s:g} s chunk"
    )
    print(f"{'N machines':>10}{'this window s':>15}{'24 h s':>10}{'1 year h':>10}")
    for n in (1, 2, 4, 8, 16, 32, 64, 128):
        base = fixed + (engine if n > 1 else 0.0)
        t = base + math.ceil(s["chunks"] / n) * c
        t_day = base + math.ceil(day_chunks / n) * c
        t_year = base + math.ceil(365 * day_chunks / n) * c
        print(f"{n:>10}{t:>15.0f}{t_day:>10.0f}{t_year / 3600:>10.1f}")


if __name__ == "__main__":
    main()
