"""Kills and interrupts of ``leosim run --workers 2``: no worker outlives the run, the output
folder is absent or complete and self-consistent, and no staging folder is left behind.

Each trial starts ``python -m leosim run`` in a session of its own and, at a seeded random
moment (during start-up, or while the two workers route), sends SIGKILL or SIGTERM to the main
process, or SIGINT to the whole process group as a terminal's Ctrl-C does.  Every process of
the session must then be gone within 5 s (read from /proc), the output folder must be absent
or match its manifest (sizes, SHA-256, rows per pair and step, summary against routes), and a
final complete run must leave no staging folder next to it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads processes from /proc"
)

N_STEPS = 60
PAIRS = (("Paris", "Luanda"), ("London", "Istanbul"))
SCENARIO = f"""\
name = "kill test"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[routing]
pairs = {[list(p) for p in PAIRS]!r}
[time]
duration_s = {N_STEPS / 10}
step_s = 0.1
[output]
plot = false
""".replace("'", '"')

SURVIVAL_LIMIT_S = 5.0


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes whose session id is ``sid``."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", encoding="ascii", errors="replace") as fh:
                fields = fh.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(d))
    return pids


def check_output(out: Path, n_steps: int, n_pairs: int) -> str:
    """``"absent"`` or ``"complete"``; fails if the folder is anything else."""
    if not os.path.lexists(out):
        return "absent"
    manifest = json.loads((out / "manifest.json").read_text())
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*manifest["files"], "manifest.json"]), names
    for name, meta in manifest["files"].items():
        data = (out / name).read_bytes()
        assert len(data) == meta["bytes"], name
        assert hashlib.sha256(data).hexdigest() == meta["sha256"], name
    rows = list(csv.DictReader(open(out / "routes.csv", encoding="utf-8")))
    assert len(rows) == n_steps * n_pairs
    per_pair = Counter((r["src"], r["dst"]) for r in rows)
    times = sorted({float(r["time_s"]) for r in rows})
    assert times == [k / 10 for k in range(n_steps)]
    for s in csv.DictReader(open(out / "summary.csv", encoding="utf-8")):
        key = (s["src"], s["dst"])
        assert int(s["steps"]) == per_pair[key] == n_steps
        rtts = [float(r["rtt_ms"]) for r in rows if (r["src"], r["dst"]) == key]
        assert float(s["min_rtt_ms"]) == min(rtts) and float(s["max_rtt_ms"]) == max(rtts)
    return "complete"


def staging_left(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".leosim-" in p.name or ".partial" in p.name)


def launch(command: list[str], tmp: Path, out: Path, tag: str) -> tuple[subprocess.Popen, Path]:
    err = tmp / f"stderr-{tag}.txt"
    with open(tmp / f"stdout-{tag}.txt", "wb") as o, open(err, "wb") as e:
        p = subprocess.Popen(
            [*command, "run", "s.toml", "--out", str(out), "--workers", "2", "-q"],
            cwd=tmp,
            stdout=o,
            stderr=e,
            start_new_session=True,
            # As a terminal starts a job: SIGINT and SIGTERM at their defaults, whatever this
            # test process inherited or was left with (an ignored SIGINT passes on to children).
            preexec_fn=_default_signals,
        )
    return p, err


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def one_trial(command, tmp: Path, out: Path, sig: int, mode: str, delay_s: float, tag: str):
    """Run, signal, and report ``(rc, processes at the signal, survivors after 5 s, stderr)``."""
    p, err = launch(command, tmp, out, tag)
    t0 = time.monotonic()
    if mode == "workers":  # wait for the main process and its two workers
        while p.poll() is None and len(session_processes(p.pid)) < 3:
            if time.monotonic() - t0 > 60:
                break
            time.sleep(0.01)
    time.sleep(delay_s)
    at_signal = len(session_processes(p.pid)) if p.poll() is None else 0
    if p.poll() is None:
        if sig == signal.SIGINT:
            os.killpg(p.pid, sig)  # Ctrl-C reaches the whole foreground process group
        else:
            os.kill(p.pid, sig)
    try:
        rc = p.wait(timeout=60)
    except subprocess.TimeoutExpired:  # the main process ignored the signal: report, clean up
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        rc = "hung"
    deadline = time.monotonic() + SURVIVAL_LIMIT_S
    while session_processes(p.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = session_processes(p.pid)
    for pid in survivors:  # do not leave them running after a failure
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return rc, at_signal, len(survivors), err.read_text(errors="replace")


def run_trials(command: list[str], tmp: Path, n: int, seed: int) -> list[dict]:
    """``n`` seeded trials into one output folder that already holds a complete run."""
    rng = random.Random(seed)
    out = tmp / "out"
    sigs = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)
    results = []
    for i in range(n):
        sig = sigs[i % 3]
        mode = "start" if i % 4 == 3 else "workers"
        delay = rng.uniform(0.0, 2.5) if mode == "start" else rng.uniform(0.0, 1.2)
        rc, at_signal, survivors, stderr = one_trial(command, tmp, out, sig, mode, delay, str(i))
        results.append(
            {
                "signal": signal.Signals(sig).name,
                "mode": mode,
                "delay_s": delay,
                "rc": rc,
                "at_signal": at_signal,
                "survivors": survivors,
                "stderr": stderr,
                "output": check_output(out, N_STEPS, len(PAIRS)),
            }
        )
    return results


def test_kills_and_interrupts_leave_no_workers_and_no_mixed_output(tmp_path):
    (tmp_path / "s.toml").write_text(SCENARIO)
    command = [sys.executable, "-m", "leosim"]
    p, err = launch(command, tmp_path, tmp_path / "out", "first")
    assert p.wait(timeout=120) == 0, err.read_text()
    assert check_output(tmp_path / "out", N_STEPS, len(PAIRS)) == "complete"

    results = run_trials(command, tmp_path, n=12, seed=20260513)

    expected_rc = {"SIGKILL": {-9}, "SIGTERM": {143, -15}, "SIGINT": {130, -2}}
    for r in results:
        assert r["survivors"] == 0, r
        assert r["rc"] in expected_rc[r["signal"]] | {0}, r
        assert "Traceback" not in r["stderr"], r["stderr"]
        if r["signal"] != "SIGKILL" and r["rc"] > 0:
            assert r["stderr"].strip().splitlines()[-1].startswith("interrupted"), r["stderr"]
    # The trials really hit running workers (main process + 2 workers alive at the signal).
    assert sum(r["at_signal"] >= 3 for r in results) >= 6, results

    # The next complete run removes what dead runs left and publishes a complete folder.
    p, err = launch(command, tmp_path, tmp_path / "out", "last")
    assert p.wait(timeout=120) == 0, err.read_text()
    assert check_output(tmp_path / "out", N_STEPS, len(PAIRS)) == "complete"
    assert staging_left(tmp_path) == []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_during_start_up_is_one_line(tmp_path, sig, code):
    """Ctrl-C (to the group) or SIGTERM while leosim is still importing and building."""
    (tmp_path / "s.toml").write_text(SCENARIO)
    command = [sys.executable, "-m", "leosim"]
    rc, _, survivors, stderr = one_trial(
        command, tmp_path, tmp_path / "out", sig, "start", 0.3, "s"
    )
    assert rc == code and survivors == 0, stderr
    assert stderr.strip().splitlines() == [f"interrupted ({signal.Signals(sig).name})"], stderr
    assert not (tmp_path / "out").exists()
    assert staging_left(tmp_path) == []


def sigterm_when_ready(script: str, ready: bytes, timeout_s: float = 20.0):
    """Run ``script``, SIGTERM it once it prints ``ready``; ``(rc or "hung", seconds, stderr)``."""
    p = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert p.stdout.readline().strip() == ready
    t0 = time.monotonic()
    os.kill(p.pid, signal.SIGTERM)
    try:
        rc = p.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        rc = "hung"
    return rc, time.monotonic() - t0, p.stderr.read().decode()


HUNG_CLEANUP = {
    # Cleanup that blocks for good inside the handler of the interrupt.
    "lock": "lock = threading.Lock(); lock.acquire(); lock.acquire()",
    # A thread joined at interpreter exit that never ends (what a pool whose worker died
    # holding a queue lock does to concurrent.futures' exit hook).
    "exit-join": "threading.Thread(target=time.sleep, args=(600,)).start(); "
    "_signals.exit_interrupted(exc)",
}


@pytest.mark.parametrize("how", sorted(HUNG_CLEANUP))
def test_a_hung_cleanup_still_ends_the_process(tmp_path, how):
    """The watchdog started by the signal ends the process with 143 after the time limit."""
    script = (
        "import threading, time\n"
        "from leosim import _signals\n"
        "_signals.CLEANUP_LIMIT_S = 1.0\n"
        "_signals.install()\n"
        "try:\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt as exc:\n"
        f"    {HUNG_CLEANUP[how]}\n"
    )
    rc, elapsed_s, stderr = sigterm_when_ready(script, b"ready")
    assert rc == 143, (rc, stderr)
    assert 0.9 <= elapsed_s < 10.0, elapsed_s
    assert stderr.strip().splitlines() == ["interrupted (SIGTERM)"], stderr


def test_a_signal_inside_a_finalizer_is_not_lost(tmp_path):
    """SIGTERM while a ``__del__`` runs (as Dask's Future.__del__ did in CI): Python cannot
    raise out of a finalizer, so the interrupt is delivered again once it returns, and the
    process ends at once with 143 and one line, no "Exception ignored" traceback."""
    script = (
        "import time\n"
        "from leosim import _signals\n"
        "_signals.CLEANUP_LIMIT_S = 30.0\n"
        "_signals.install()\n"
        "class Slow:\n"
        "    def __del__(self):\n"
        "        print('in-del', flush=True)\n"
        "        time.sleep(3)\n"
        "try:\n"
        "    x = Slow()\n"
        "    del x\n"
        "    time.sleep(60)\n"
        "except KeyboardInterrupt as exc:\n"
        "    _signals.exit_interrupted(exc)\n"
    )
    rc, elapsed_s, stderr = sigterm_when_ready(script, b"in-del")
    assert rc == 143, (rc, stderr)
    assert elapsed_s < 10.0
    assert stderr.strip().splitlines() == ["interrupted (SIGTERM)"], stderr
