"""Executors and resumable chunked runs of ``leosim run``.

- The outputs are byte-identical (every file, and the manifest's sizes and SHA-256) on the
  serial executor, local worker processes, a 2-worker Dask ``LocalCluster`` and a local Ray
  that leosim starts and shuts down itself (no Ray process of it left afterwards),
  and equal to the rows of the pre-existing in-memory path (:func:`leosim.simulate.run_pairs`,
  :func:`leosim.simulate.iter_chunks` with the previous step's forwarding state carried over).
- A run killed (SIGKILL) at seeded random moments and then resumed with ``resume=True`` ends
  byte-identical to an uninterrupted run: 21 trials in forked copies of this process, killed at
  a random step of a chunk's write (torn files included) or at a random time, and real
  ``leosim run`` processes killed with SIGKILL while their worker processes route.
- A ``leosim run --executor ray`` killed (SIGKILL) while Ray's tasks run leaves no process
  behind (Ray's agents used to outlive it by 60 s); resuming finishes it byte-identical.
- Damaged finished chunks, another scenario, a concurrent run and missing extras are refused
  or recomputed with one-line errors.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from _kill import killed_child
from leosim import chunkstore
from leosim.cli.runner import run_scenario
from leosim.errors import InputError
from leosim.execution import plan_chunks
from leosim.scenario import parse_scenario

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork and /proc")

STEP_S = 0.1


def scenario_text(steps: int, chunk_s: float | None, *, plot: bool = False) -> str:
    chunk = f"[execution]\nchunk_s = {chunk_s}\n" if chunk_s is not None else ""
    return f"""\
name = "execution test"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"], ["London", "Istanbul"], ["Manila", "Dalian"]]
forwarding_state = true
[time]
duration_s = {steps * STEP_S:.1f}
step_s = {STEP_S}
[output]
plot = {"true" if plot else "false"}
{chunk}"""


def run(text: str, out: Path, **kw):
    sc = parse_scenario(tomllib.loads(text), source="s.toml")
    return run_scenario(sc, out, scenario_text=text, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder; manifest.json by its file list (it holds a timestamp)."""
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "manifest.json"}
    files["manifest.json:files"] = json.dumps(
        json.loads((folder / "manifest.json").read_text())["files"], sort_keys=True
    ).encode()
    return files


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".leosim-" in p.name)


# ----------------------------------------------------------------------------- the plan


def test_plan_chunks_by_time_not_by_workers():
    t = np.arange(10) * 0.1  # 0.0 .. 0.9 s
    # 0.3 s chunks: [0, 0.3) [0.3, 0.6) [0.6, 0.9) [0.9, 1.2): the 3 * 0.1 = 0.30000000000000004
    # of floating point stays in the second chunk, as the decimal 0.3 does.
    assert plan_chunks(t, chunk_s=0.3) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    # An irregular times_s list: empty chunks are dropped.
    assert plan_chunks([0.0, 1.0, 50.0, 51.0, 99.9], chunk_s=10.0) == [(0, 2), (2, 4), (4, 5)]
    # Default: a quarter of the window, at most 200 steps a chunk.
    assert plan_chunks(np.arange(10.0)) == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert [b - a for a, b in plan_chunks(np.arange(1000.0))] == [200] * 5
    with pytest.raises(InputError):
        plan_chunks(t, chunk_s=0.0)


# ----------------------------------------------------------------------------- executors


_REFS: dict[str, tuple] = {}  # kept for the Ray tests, which run after every other module


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted serial run of the 20-step scenario (4 chunks), plot included."""
    if "run" not in _REFS:
        out = tmp_path_factory.mktemp("ref") / "out"
        text = scenario_text(20, 0.5, plot=True)
        res = run(text, out, executor="serial")
        assert res.num_chunks == 4 and res.chunks_resumed == 0
        _REFS["run"] = text, out, snapshot(out)
    return _REFS["run"]


def test_serial_chunks_equal_the_in_memory_path(reference):
    """routes.parquet holds the rows of run_pairs; forwarding.parquet the changes that the
    streaming path (previous step's state carried across chunks) writes."""
    from leosim.simulate import build_network, iter_chunks, run_pairs

    text, out, _ = reference
    sc = parse_scenario(tomllib.loads(text))
    net = build_network(sc)
    t_s = sc.time.offsets_s()
    routes = pq.read_table(out / "routes.parquet")
    assert routes.num_rows == 20 * 3
    # Same chunk boundaries (5 steps), so warm starts and ties are the same too.
    mem = run_pairs(net, t_s)
    for k in ("time_s", "src", "dst", "rtt_ms", "path_fwd", "path_rev", "uplink_sat"):
        assert routes.column(k).to_pylist() == list(mem.columns[k]), k
    parts = [r.forwarding for r in iter_chunks(net, t_s, forwarding=True, chunk_steps=5)]
    fw = pq.read_table(out / "forwarding.parquet")
    for k in ("time_s", "node", "dst_gid", "next_hop"):
        assert fw.column(k).to_numpy().tolist() == np.concatenate([p[k] for p in parts]).tolist()
    # The first step in full, later steps changes only.
    n_nodes = net.num_sats + net.num_gs
    assert int((fw.column("time_s").to_numpy() == 0).sum()) == net.num_gs * n_nodes
    assert fw.num_rows < 2 * net.num_gs * n_nodes


def test_local_processes_give_identical_outputs(reference, tmp_path):
    text, _, ref = reference
    res = run(text, tmp_path / "out", executor="processes", workers=2)
    assert res.executor == "processes"
    assert snapshot(tmp_path / "out") == ref
    assert leftovers(tmp_path) == []


def test_dask_local_cluster_gives_identical_outputs(reference, tmp_path):
    pytest.importorskip("distributed")
    text, _, ref = reference
    res = run(text, tmp_path / "out", executor="dask", workers=2)
    assert res.executor == "dask"
    assert snapshot(tmp_path / "out") == ref
    assert leftovers(tmp_path) == []


def _ray_head_processes(pid: int) -> list[str]:
    """Command lines of the live processes of the Ray session that process ``pid`` started
    (gcs_server, raylet, dashboard, monitors: their arguments name the session folder
    ``session_<date>_<time>_<pid>``)."""
    found = []
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "/session_" in cmd and f"_{pid}/" in cmd:
            found.append(cmd[:120])
    return found


@pytest.mark.ray  # the one test of leosim starting its own local Ray in this process
def test_ray_local_gives_identical_outputs(reference, tmp_path):
    ray = pytest.importorskip("ray")
    assert not ray.is_initialized()  # conftest.py runs it before the session's Ray
    text, _, ref = reference
    res = run(text, tmp_path / "out", executor="ray", workers=2)
    assert res.executor == "ray"
    assert snapshot(tmp_path / "out") == ref
    assert not ray.is_initialized()  # shut down at the end
    if sys.platform.startswith("linux"):
        deadline = time.monotonic() + 10
        while _ray_head_processes(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ray_head_processes(os.getpid()) == []


# ----------------------------------------------------------------------------- kill and resume

TRIAL_STEPS = 12
TRIAL_CHUNK_S = 0.2  # 6 chunks of 2 steps


@pytest.fixture(scope="module")
def trial_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("tref") / "out"
    text = scenario_text(TRIAL_STEPS, TRIAL_CHUNK_S)
    t0 = time.monotonic()
    res = run(text, out, executor="serial")
    assert res.num_chunks == 6
    return text, snapshot(out), time.monotonic() - t0


@linux_only
def test_killed_at_random_points_then_resumed_is_byte_identical(trial_reference, tmp_path):
    text, ref, wall_s = trial_reference
    rng = random.Random(20261201)
    out = tmp_path / "out"
    outcomes = []
    for i in range(21):
        how = ("point", "torn", "time")[i % 3]
        # 2 steps (plan, index) at the start, then 6 per chunk: 38 in all.
        n = rng.randint(1, 40)
        status = killed_child(
            lambda: run(text, out, executor="serial"), how, n, rng.uniform(0.0, 0.9 * wall_s)
        )
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        res = run(text, out, executor="serial", resume=True)
        assert snapshot(out) == ref, (i, how, n)
        assert leftovers(tmp_path) == [], (i, how, n)
        outcomes.append((killed, res.chunks_resumed))
        # The next trial starts from a complete earlier output, as a user's would.
    assert sum(k for k, _ in outcomes) >= 15, outcomes  # most trials really were killed
    assert sum(0 < r < 6 for _, r in outcomes) >= 7, outcomes  # and resumed part-way


def test_damaged_finished_chunk_is_computed_again(trial_reference, tmp_path):
    text, ref, _ = trial_reference
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):  # stopped after two chunks (as Ctrl-C would)
        _interrupt_after_chunks(text, out, 2)
    store = chunkstore.store_path(out)
    part = store / "chunk=1" / "part.parquet"
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size
    part.write_bytes(bytes(data))
    res = run(text, out, executor="serial", resume=True)
    assert res.chunks_resumed == 1  # chunk 0 kept, chunk 1 failed its SHA-256
    assert snapshot(out) == ref
    assert not store.exists()


def _interrupt_after_chunks(text: str, out: Path, n: int) -> None:
    done = [0]

    def hook(point: str, path: Path) -> None:
        if point == "chunk:finished":
            done[0] += 1
            if done[0] == n:
                raise KeyboardInterrupt

    chunkstore._fault = hook
    try:
        run(text, out, executor="serial")
    finally:
        chunkstore._fault = None


def test_resume_refuses_the_chunks_of_another_run_and_a_new_run_discards_them(
    trial_reference, tmp_path
):
    text, ref, _ = trial_reference
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _interrupt_after_chunks(text, out, 3)
    other = text.replace('["Manila", "Dalian"]', '["Manila", "Tokyo"]')
    with pytest.raises(InputError) as exc:
        run(other, out, executor="serial", resume=True)
    msg = str(exc.value)
    assert "\n" not in msg and "another scenario" in msg and "without --resume" in msg
    # Without --resume the kept chunks are discarded: a fresh, complete run.
    res = run(text, out, executor="serial")
    assert res.chunks_resumed == 0 and snapshot(out) == ref
    assert leftovers(tmp_path) == []


def test_a_concurrent_run_into_the_same_output_is_refused(trial_reference, tmp_path, monkeypatch):
    text, _, _ = trial_reference
    out = tmp_path / "out"
    store = chunkstore.store_path(out)
    store.mkdir()
    fd = os.open(store / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a live run holds it
    monkeypatch.setattr(chunkstore, "LOCK_WAIT_S", 0.2)
    try:
        with pytest.raises(InputError) as exc:
            run(text, out, executor="serial", resume=True)
    finally:
        os.close(fd)
    assert "another leosim run is writing this output" in str(exc.value)
    assert not out.exists()


# ----------------------------------------------------------------------------- real SIGKILL


def _session_processes(sid: int) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as fh:
                    fields = fh.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                pids.append(int(d))
    return pids


def _finished_chunks(out: Path) -> int:
    try:
        return len(json.loads((chunkstore.store_path(out) / "chunks.json").read_text())["chunks"])
    except (OSError, ValueError, KeyError):
        return 0


@linux_only
def test_sigkill_of_leosim_run_then_resume_is_byte_identical(trial_reference, tmp_path):
    """Real ``leosim run --workers 2`` processes killed with SIGKILL once 1-4 of their 6
    chunks are stored; resuming finishes them byte-identical to the reference (the first
    through ``leosim run --resume``, the others in this process)."""
    text, ref, _ = trial_reference
    (tmp_path / "s.toml").write_text(text)
    rng = random.Random(7)
    for trial in range(3):
        out = tmp_path / f"out{trial}"
        cmd = [sys.executable, "-m", "leosim", "run", "s.toml", "--out", out.name]
        p = subprocess.Popen(
            [*cmd, "-q", "--workers", "2", "--executor", "processes"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        want = rng.randint(1, 4)
        t0 = time.monotonic()
        while p.poll() is None and _finished_chunks(out) < want and time.monotonic() - t0 < 120:
            time.sleep(0.002)
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        assert p.wait(timeout=30) == -signal.SIGKILL, p.stderr.read()
        deadline = time.monotonic() + 5
        while _session_processes(p.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _session_processes(p.pid) == []  # no worker outlives the kill
        assert not out.exists() and 0 < _finished_chunks(out) < 6
        if trial == 0:
            r = subprocess.run(
                [*cmd, "--resume"], cwd=tmp_path, capture_output=True, text=True, timeout=120
            )
            assert r.returncode == 0, r.stderr
            assert "resumed: " in r.stderr and "of 6 chunks were finished" in r.stderr, r.stderr
        else:
            assert 0 < run(text, out, resume=True).chunks_resumed < 6
        assert snapshot(out) == ref
    assert leftovers(tmp_path) == []


@linux_only
def test_sigterm_stops_a_dask_run_cleanly_and_resume_finishes_it(trial_reference, tmp_path):
    """SIGTERM while a 2-worker LocalCluster routes: one ``interrupted`` line, exit 143, no
    process of the run left after 5 s, finished chunks kept; resuming ends byte-identical."""
    pytest.importorskip("distributed")
    text, ref, _ = trial_reference
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "leosim", "run", "s.toml", "--out", "out", "-q"]
    p = subprocess.Popen(
        [*cmd, "--executor", "dask", "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    t0 = time.monotonic()
    while p.poll() is None and _finished_chunks(out) < 1 and time.monotonic() - t0 < 120:
        time.sleep(0.002)
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
    rc = p.wait(timeout=60)
    err = p.stderr.read()
    assert rc == 143, err
    # As in test_kill.py: the last line says so, and no traceback (multiprocessing's resource
    # tracker may warn about semaphores before it).
    assert err.strip().splitlines()[-1] == "interrupted (SIGTERM)" and "Traceback" not in err, err
    # Dask's workers exit when their parent's pipe closes; one still importing (a loaded
    # machine) notices only once it is up: 10 s, not test_kill's 5.
    deadline = time.monotonic() + 10
    while _session_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_processes(p.pid) == [], [
        open(f"/proc/{q}/cmdline").read() for q in _session_processes(p.pid)
    ]
    assert not out.exists() and _finished_chunks(out) >= 1
    assert run(text, out, resume=True).chunks_resumed >= 1
    assert snapshot(out) == ref and leftovers(tmp_path) == []


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


@linux_only
@pytest.mark.ray
def test_sigkill_of_a_ray_run_leaves_no_ray_process(trial_reference, tmp_path):
    """``leosim run --executor ray`` (a local Ray it starts itself) killed with SIGKILL once a
    chunk is stored: within 10 s no process of its session is left (Ray's head processes die
    with it through Ray's fate sharing; its dashboard and runtime-env agents used to stay 60 s,
    which leosim's watchdog now ends); resuming finishes it byte-identical."""
    pytest.importorskip("ray")
    text, ref, _ = trial_reference
    (tmp_path / "s.toml").write_text(text)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "leosim", "run", "s.toml", "--out", "out", "-q"]
    p = subprocess.Popen(
        [*cmd, "--executor", "ray", "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    t0 = time.monotonic()
    while p.poll() is None and _finished_chunks(out) < 1 and time.monotonic() - t0 < 120:
        time.sleep(0.002)
    running = [_cmdline(q) for q in _session_processes(p.pid)]
    if p.poll() is None:
        os.kill(p.pid, signal.SIGKILL)
    assert p.wait(timeout=30) == -signal.SIGKILL, p.stderr.read()
    assert any(b"raylet" in c for c in running) and any(b"ray::" in c for c in running), running
    deadline = time.monotonic() + 10
    while _session_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _session_processes(p.pid) == [], [_cmdline(q)[:80] for q in _session_processes(p.pid)]
    assert not out.exists() and 0 < _finished_chunks(out) < 6
    assert 0 < run(text, out, resume=True).chunks_resumed < 6
    assert snapshot(out) == ref and leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- missing extras


@pytest.mark.parametrize(
    ("module", "args", "toml_extra", "extra"),
    [
        ("distributed", ["--executor", "dask"], "", "dask"),
        ("ray", [], '[execution]\nexecutor = "ray"\n', "ray"),
        ("distributed", ["--executor", "dask", "--address", "tcp://127.0.0.1:1"], "", "dask"),
    ],
)
def test_a_missing_extra_is_one_line(tmp_path, monkeypatch, module, args, toml_extra, extra):
    from typer.testing import CliRunner

    from leosim.cli import app

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    (tmp_path / "s.toml").write_text(scenario_text(2, None) + toml_extra)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["run", str(tmp_path / "s.toml"), "--out", str(out), *args])
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"error: the {extra} executor needs the '{extra}' extra: pip install 'leosim[{extra}]'"
    ]
    assert not out.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--address", "tcp://h:8786"], "--address needs --executor dask or --executor ray"),
        (["--executor", "dask", "--address", "h:8786"], "tcp://host:8786"),
        (["--executor", "serial", "--address", "tcp://h:1"], "not 'serial'"),
        (["--executor", "spark"], "expected one of serial, processes, dask, ray"),
    ],
)
def test_bad_executor_options_are_one_line(tmp_path, args, expect):
    from typer.testing import CliRunner

    from leosim.cli import app

    (tmp_path / "s.toml").write_text(scenario_text(2, None))
    r = CliRunner().invoke(
        app, ["run", str(tmp_path / "s.toml"), "--out", str(tmp_path / "o"), *args]
    )
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and expect in line, line


# ----------------------------------------------------------------------------- sweeps


def _sweep_files(tmp_path: Path, grid: str) -> Path:
    (tmp_path / "a.toml").write_text(scenario_text(3, None).replace("forwarding_state = true", ""))
    (tmp_path / "sweep.toml").write_text(f'name = "t"\nscenarios = ["a.toml"]\n[grid]\n{grid}\n')
    return tmp_path / "sweep.toml"


def test_sweep_rows_are_those_of_separate_runs(tmp_path):
    from leosim.sweep import load_sweep, run_sweep

    path = _sweep_files(tmp_path, '"links.isl_shift" = [0, 1]\n"time.step_s" = [0.1, 0.2]')
    _, cases, _ = load_sweep(path)
    assert [c.overrides for c in cases] == [
        (("links.isl_shift", a), ("time.step_s", b)) for a in (0, 1) for b in (0.1, 0.2)
    ]
    serial = run_sweep(cases, executor="serial")
    # Case 3 (isl_shift = 1, step 0.2 s) as its own leosim run.
    text = scenario_text(3, None).replace("forwarding_state = true", "")
    text = text.replace("gsl_cone_radius_km = 940.7", "gsl_cone_radius_km = 940.7\nisl_shift = 1")
    text = text.replace("step_s = 0.1", "step_s = 0.2")
    run(text, tmp_path / "one", executor="serial")
    rtt = np.loadtxt(tmp_path / "one" / "routes.csv", delimiter=",", skiprows=1, usecols=3)
    row = serial[3][0]
    assert row["pairs"] == 3 and len(np.atleast_1d(rtt)) == 3 * row["steps"]
    assert row["median_rtt_ms"] == pytest.approx(np.median(rtt), rel=1e-11)
    assert row["max_rtt_ms"] == pytest.approx(rtt.max(), rel=1e-11)


def test_sweep_bad_grid_key_is_one_line_naming_the_case(tmp_path):
    from leosim.sweep import load_sweep

    path = _sweep_files(tmp_path, '"links.gsl_min_elevaton_deg" = [25]')
    with pytest.raises(InputError) as exc:
        load_sweep(path)
    msg = str(exc.value)
    assert "\n" not in msg and "case 0" in msg and "gsl_min_elevaton_deg" in msg, msg


def test_sweep_command_writes_one_row_per_case(tmp_path):
    from typer.testing import CliRunner

    from leosim.cli import app

    path = _sweep_files(tmp_path, '"links.isl_shift" = [0, 2]')
    r = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "o" / "sweep.csv").read_text().splitlines()
    assert lines[0].startswith("case,scenario,policy,links.isl_shift,") and len(lines) == 3
    assert [ln.split(",")[3] for ln in lines[1:]] == ["0", "2"]
    assert {"case-0.csv", "case-1.csv", "sweep.toml"} <= {
        p.name for p in (tmp_path / "o").iterdir()
    }
    assert "t: 2 cases" in r.stdout


def test_policy_sweep_row_is_population_weighted_as_countries_csv(tmp_path):
    """A policy case's served share and median RTT to the PoP weigh each terminal by the
    people it stands for, as ``leosim policy evaluate``'s countries.csv does."""
    from leosim.borders import Borders
    from leosim.policy import load_policy
    from leosim.scenario import load_scenario
    from leosim.service import evaluate
    from leosim.simulate import build_network
    from leosim.sweep import load_sweep, run_sweep

    (tmp_path / "s.toml").write_text(
        '[constellation]\npreset = "starlink-550-hypatia"\n'
        '[terminals]\ncountries = ["TWN", "JPN"]\nn_per_country = 5\nseed = 3\n'
        "[time]\nduration_s = 120\nstep_s = 60\n"
    )
    (tmp_path / "p.toml").write_text('[countries]\nTWN = "not_activated"\n')
    (tmp_path / "w.toml").write_text('scenarios = ["s.toml"]\npolicies = ["p.toml"]\n')
    _, cases, _ = load_sweep(tmp_path / "w.toml")
    row = run_sweep(cases, executor="serial")[0][0]
    borders = Borders.default()
    from leosim.ground_segment import scenario_terminals

    sc = load_scenario(tmp_path / "s.toml")
    terms = scenario_terminals(sc, borders)
    res = evaluate(
        build_network(sc),
        load_policy(tmp_path / "p.toml"),
        terms,
        sc.time.offsets_s(),
        borders=borders,
    )
    w = terms.weight
    assert row["served_share"] == pytest.approx(np.sum(res.served_fraction * w) / w.sum())
    assert row["served_share"] != pytest.approx(res.served_fraction.mean())  # not a head count
    jp = res.country_table(borders)
    i = list(jp["country"]).index("JPN")
    assert row["median_rtt_pop_ms"] == pytest.approx(jp["median_rtt_pop_ms"][i], rel=1e-6)
