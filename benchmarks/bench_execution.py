"""Benchmark of the executors (issue 11): a long ``leosim run`` and ``leosim policy evaluate``,
serial and on 2 Dask workers.

Scenario: the ``starlink-2026-05`` preset (9,546 satellites, +Grid) with the 100 most populous
cities and ``--pairs`` seeded random ordered pairs between them, and ``--terminals``
population-weighted terminals over every country, ``--hours`` at ``--step-s`` (default 24 h at
60 s: 1,440 steps), chunks of ``--chunk-s`` (default 30 min: 48 chunks).  Each executor runs in
a fresh process: routing (``run_scenario`` end to end: network, chunks, Parquet partitions,
merge, publish), then the policy evaluation of the terminals with the RTT to the PoP and 15 s
reconfiguration slots (``evaluate_chunked``, as ``leosim policy evaluate``).  It reports

* wall time of each stage and of both, and the speed-up of Dask over serial;
* the cost of every chunk, measured inside the worker that ran it, and each worker's peak
  resident memory (``ru_maxrss``) as well as the driver's;
* that both executors' output folders are byte-identical (the manifests' SHA-256);
* the projected wall time on N machines (one worker each): the fixed cost (network, merge,
  cluster start) plus ``ceil(chunks / N)`` times the median cost of a chunk (both stages).

    uv run python benchmarks/bench_execution.py [--hours 24] [--pairs 200] [--terminals 10000]
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


def scenario(
    hours: float, step_s: float, n_pairs: int, chunk_s: float, n_terminals: int, seed: int = 1
) -> str:
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
[terminals]
n_total = {n_terminals}
seed = {seed}
[time]
duration_s = {hours * 3600:g}
step_s = {step_s:g}
[output]
plot = false
[execution]
chunk_s = {chunk_s:g}
"""


def _bench(res, t0: float, steps: int):
    res.bench = {
        "wall_s": time.perf_counter() - t0,
        "pid": os.getpid(),
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": steps,
    }
    return res


def _timed_chunk(shared, t_s):
    """``leosim.simulate.chunk_task`` with its wall time, worker pid and peak memory attached."""
    from leosim.simulate import chunk_task

    t0 = time.perf_counter()
    return _bench(chunk_task(shared, t_s), t0, len(t_s))


def _timed_evaluation(shared, item):
    """``leosim.service.evaluate_chunk`` (one policy chunk), measured likewise."""
    from leosim.service import evaluate_steps

    t0 = time.perf_counter()
    net, setups = shared
    k, t_s, warm = item
    return _bench(evaluate_steps(net, setups[k], t_s, warmup_t_s=warm), t0, len(t_s))


def _stage(chunks: list[dict], wall: float, out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    per_worker: dict[int, float] = {}
    busy: dict[int, float] = {}
    for c in chunks:
        per_worker[c["pid"]] = max(per_worker.get(c["pid"], 0.0), c["maxrss_mib"])
        busy[c["pid"]] = busy.get(c["pid"], 0.0) + c["wall_s"]
    return {
        "wall_s": wall,
        "chunk_s": [c["wall_s"] for c in chunks],
        "worker_peak_mib": sorted(per_worker.values()),
        "worker_busy_s": sorted(busy.values()),
        "sha256": {k: v["sha256"] for k, v in manifest.items() if k != "scenario.toml"},
    }


def one(executor: str, workers: int, text: str, out: str) -> dict:
    """Run both stages once on ``executor`` in this process; the measurements as a dict."""
    from leosim import chunked_policy, service
    from leosim.borders import Borders
    from leosim.cli import policy as policy_cli
    from leosim.cli import runner
    from leosim.ground_segment import scenario_terminals
    from leosim.policy import parse_policy
    from leosim.scenario import parse_scenario
    from leosim.simulate import build_network

    route_chunks: list[dict] = []
    policy_chunks: list[dict] = []
    route_tables, step_tables = runner._chunk_tables, chunked_policy.step_tables

    def record(store: list[dict], tables):
        def f(res):
            store.append(res.bench)
            return tables(res)

        return f

    # Measured inside the worker that runs each chunk.
    runner.chunk_task = _timed_chunk
    runner._chunk_tables = record(route_chunks, route_tables)
    service.evaluate_chunk = _timed_evaluation
    chunked_policy.step_tables = record(policy_chunks, step_tables)
    sc = parse_scenario(tomllib.loads(text))
    out_r, out_p = Path(out) / "routing", Path(out) / "policy"
    t0 = time.perf_counter()
    res = runner.run_scenario(sc, out_r, scenario_text=text, executor=executor, workers=workers)
    routing = _stage(route_chunks, time.perf_counter() - t0, out_r)
    t0 = time.perf_counter()
    borders = Borders.default()
    net = build_network(sc)
    terms = scenario_terminals(sc, borders, None)
    policy_cli.evaluate_chunked(
        sc,
        net,
        [parse_policy({}, borders=borders)],
        terms,
        borders,
        out_p,
        texts=[text.encode(), b""],
        labels=[""],
        executor=executor,
        workers=workers,
    )
    policy = _stage(policy_chunks, time.perf_counter() - t0, out_p)
    return {
        "executor": executor,
        "workers": workers,
        "steps": res.num_steps,
        "chunks": res.num_chunks,
        "routing": routing,
        "policy": policy,
        "driver_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "satellites": res.network.num_sats,
        "pairs": len(res.network.pairs),
        "terminals": len(terms),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=24.0)
    ap.add_argument("--step-s", type=float, default=60.0)
    ap.add_argument("--pairs", type=int, default=200)
    ap.add_argument("--terminals", type=int, default=10_000)
    ap.add_argument("--chunk-s", type=float, default=1800.0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--executor", default="dask")
    ap.add_argument("--one", nargs=4, metavar=("EXECUTOR", "WORKERS", "SCENARIO", "OUT"))
    a = ap.parse_args()
    if a.one:
        ex, w, path, out = a.one
        print(json.dumps(one(ex, int(w), Path(path).read_text(), out)))
        return
    text = scenario(a.hours, a.step_s, a.pairs, a.chunk_s, a.terminals)
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
        f"{s['terminals']:,} terminals, {s['steps']:,} steps of {a.step_s:g} s ({a.hours:g} h), "
        f"{s['chunks']} chunks of {a.chunk_s:g} s"
    )
    print(
        f"{'stage':<9}{'executor':<11}{'wall s':>9}{'chunk s (median)':>18}{'ms/step':>9}"
        f"{'worker peak MiB':>17}"
    )
    for stage in ("routing", "policy"):
        for r in (s, p):
            st = r[stage]
            med = statistics.median(st["chunk_s"])
            per_step = 1e3 * sum(st["chunk_s"]) / r["steps"]
            peaks = "/".join(f"{m:.0f}" for m in st["worker_peak_mib"])
            label = f"{r['executor']} x{r['workers']}"
            print(
                f"{stage:<9}{label:<11}{st['wall_s']:>9.1f}{med:>18.2f}{per_step:>9.0f}{peaks:>17}"
            )
    for r in (s, p):
        print(f"driver peak of {r['executor']}: {r['driver_peak_mib']:.0f} MiB")
    wall = {k: r["routing"]["wall_s"] + r["policy"]["wall_s"] for k, r in runs.items()}
    for stage in ("routing", "policy"):
        sp = s[stage]["wall_s"] / p[stage]["wall_s"]
        print(f"speed-up {a.executor} x{a.workers} over serial, {stage}: {sp:.2f}")
    print(
        f"routing + policy: serial {wall['serial']:.1f} s, {a.executor} x{a.workers} "
        f"{wall[a.executor]:.1f} s, speed-up {wall['serial'] / wall[a.executor]:.2f}"
    )
    same = all(s[k]["sha256"] == p[k]["sha256"] for k in ("routing", "policy"))
    print(f"outputs byte-identical: {same}")
    # Projection: fixed cost (network, partitions, merge; cluster start) + chunk rounds, a
    # chunk being one routing chunk and one policy chunk of the same 30 min.
    c = sum(statistics.median(s[k]["chunk_s"]) for k in ("routing", "policy"))
    fixed = wall["serial"] - sum(sum(s[k]["chunk_s"]) for k in ("routing", "policy"))
    busy = max(p["routing"]["worker_busy_s"]) + max(p["policy"]["worker_busy_s"])
    engine = max(0.0, wall[a.executor] - fixed - busy)
    day_chunks = math.ceil(24 * 3600 / a.chunk_s)
    print(
        f"projection: fixed {fixed:.1f} s (networks, terminals, partitions, merges) + "
        f"{a.executor} start {engine:.1f} s + ceil(chunks / N) x {c:.2f} s per {a.chunk_s:g} s "
        "chunk (routing + policy)"
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
