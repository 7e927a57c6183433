"""``leosim sweep``'s policy cases computed in chunks on one executor, resumable (issue 11).

- The streamed weighted median equals one sort of all values (random weights, so the order of
  the cumulative sums matters; ties; ranges cut at many places).
- A policy case's row and detail equal those computed from one in-memory evaluation of the
  whole window (:func:`leosim.service.evaluate`), bit for bit, whatever ``chunk_s``.
- The sweep's files are byte-identical on serial, 2 processes, a 2-worker Dask LocalCluster
  and a local Ray; the chunks of all cases run on one executor started once.
- Killed (SIGKILL, torn files included) at seeded random points of the stores' writes, then
  ``--resume``: byte-identical; a resume after a policy file changed is refused in one line.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _kill import killed_child
from leosim import chunkstore
from leosim.cli import app
from test_execution_commands import (  # the same scenario, policies and checks
    POLICY,
    POLICY_B,
    POLICY_SC,
    leftovers,
    linux_only,
    ok,
    snapshot,
)

# The scenario and policies of the chunked policy evaluation, over 30 steps of 1 s: slots start
# at UTC seconds 12 and 27, so 7 s chunks cut slots.
SCENARIO = POLICY_SC.replace("duration_s = 60", "duration_s = 30")
POLICIES = {"high.toml": POLICY, "what-if.toml": POLICY_B}
SWEEP = 'name = "t"\nscenarios = ["s.toml"]\npolicies = ["high.toml", "what-if.toml"]\n'


def sweep_files(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "s.toml").write_text(SCENARIO)
    for name, text in POLICIES.items():
        (tmp / name).write_text(text)
    (tmp / "w.toml").write_text(SWEEP)
    return tmp / "w.toml"


def cli(tmp: Path, out: Path, *extra: str, chunk_s: float = 7):
    argv = ["sweep", str(sweep_files(tmp)), "--out", str(out), "-q", "--chunk-s", str(chunk_s)]
    return CliRunner().invoke(app, [*argv, *extra])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ref")
    ok(cli(tmp, tmp / "out", "--executor", "serial"))
    return snapshot(tmp / "out")


# ----------------------------------------------------------------------------- the statistics


def test_streamed_weighted_quantile_is_that_of_one_sort():
    from leosim.chunked_policy import streamed_weighted_quantile
    from leosim.service import weighted_quantile

    rng = np.random.default_rng(11)
    n_t, n_term = 40, 53
    x = rng.choice(np.linspace(20.0, 80.0, 300), size=(n_t, n_term)).astype(np.float32)  # ties
    x[rng.random(x.shape) < 0.2] = np.nan
    w = rng.random(n_term) * 1e3 + rng.random(n_term) * 1e-7  # sums round differently by order
    cuts = [0, 3, 11, 12, 30, 40]

    def blocks():
        for a, b in itertools.pairwise(cuts):
            yield x[a:b].reshape(-1), np.broadcast_to(w, (b - a, n_term)).reshape(-1)

    ok = np.isfinite(x)
    for q in (0.5, 0.1, 0.95, 0.0, 1.0):
        want = weighted_quantile(x[ok], np.broadcast_to(w, x.shape)[ok], q)
        for max_values in (11, 37, 200, 10**6):  # many ranges, a few, one
            got = streamed_weighted_quantile(blocks, q, max_values=max_values)
            assert got == want, (q, max_values)
    assert np.isnan(streamed_weighted_quantile(lambda: iter([(x[:0], w[:0])]), 0.5))


# ----------------------------------------------------------------------------- the rows


def test_policy_case_rows_are_those_of_one_evaluation_whatever_the_chunks(tmp_path):
    from leosim.borders import Borders
    from leosim.ground_segment import scenario_terminals
    from leosim.policy import load_policy
    from leosim.scenario import load_scenario
    from leosim.service import evaluate, weighted_quantile
    from leosim.simulate import build_network
    from leosim.sweep import load_sweep, run_sweep

    _, cases, _ = load_sweep(sweep_files(tmp_path))
    sc = load_scenario(tmp_path / "s.toml")
    borders = Borders.default()
    terms = scenario_terminals(sc, borders)
    net = build_network(sc)
    w = terms.weight
    want = []
    for name in ("high.toml", "what-if.toml"):
        pol = load_policy(tmp_path / name, borders=borders)
        res = evaluate(
            net, pol, terms, sc.time.offsets_s(), borders=borders, latency=sc.latency.model()
        )
        rtt = res.pop_paths.rtt_pop_ms
        ok_ = np.isfinite(rtt)
        want.append(
            (
                float(np.average(res.served_fraction, weights=w)),
                int((res.served_fraction == 0).sum()),
                weighted_quantile(rtt[ok_], np.broadcast_to(w, rtt.shape)[ok_], 0.5),
                res.served_fraction,
            )
        )
    assert want[0][0] != want[1][0]  # two different answers
    for chunk_s in (1, 7, 13, 1000):
        got = run_sweep(cases, executor="serial", chunk_s=chunk_s)
        for (row, detail), (share, never, median, served) in zip(got, want, strict=True):
            assert row["served_share"] == share, chunk_s
            assert row["never_served"] == never
            assert row["median_rtt_pop_ms"] == median
            assert row["terminals"] == len(terms) and row["steps"] == 30
            assert detail["served_fraction"].tobytes() == served.tobytes()
            assert list(detail["terminal_id"]) == [str(t) for t in terms.terminal_id]


def test_the_chunks_of_all_cases_run_on_one_executor(tmp_path, monkeypatch):
    from leosim import execution
    from leosim.sweep import load_sweep, sweep_cases, sweep_store

    starts, tasks = [], []
    start = execution.ProcessExecutor.start
    run_tasks = execution.ProcessExecutor.run_tasks

    def counted_start(self):
        starts.append(self.workers)
        start(self)

    def logged(it):
        for s, item in it:
            tasks.append(item[0])
            yield s, item

    monkeypatch.setattr(execution.ProcessExecutor, "start", counted_start)
    monkeypatch.setattr(
        execution.ProcessExecutor, "run_tasks", lambda self, fn, it: run_tasks(self, fn, logged(it))
    )
    _, cases, _ = load_sweep(sweep_files(tmp_path))
    with sweep_store(tmp_path / "o", cases, chunk_s=7, resume=False) as store:
        rows = sweep_cases(cases, store, executor="processes", workers=2, chunk_s=7)
    assert starts == [2]  # one pool for both cases
    assert tasks == ["policy"] * 10  # 5 chunks of 7 s per case
    assert [r["policy"] for r in rows] == ["high.toml", "what-if.toml"]


@pytest.mark.parametrize("executor", ["serial", "processes", "dask"])
def test_run_tasks_keeps_each_task_with_its_shared_object(executor):
    from leosim.execution import gather_in_order, make_executor

    if executor == "dask":
        pytest.importorskip("distributed")
    shared = [np.arange(5) * 10, np.arange(5) * 100, np.arange(5) * 1000]
    tasks = [(shared[(k // 3) % 3], k % 5) for k in range(12)]  # back to the first at 9
    with make_executor(executor, workers=2) as ex:
        got = gather_in_order(ex.run_tasks(_pick, iter(tasks)), len(tasks))
    assert got == [int(s[i]) for s, i in tasks]


def _pick(shared, i):
    return int(shared[i])


# ----------------------------------------------------------------------------- executors


@pytest.mark.parametrize("executor", ["processes", "dask"])
def test_executors_give_identical_files(executor, tmp_path, reference):
    if executor == "dask":
        pytest.importorskip("distributed")
    ok(cli(tmp_path, tmp_path / "out", "--executor", executor, "--workers", "2"))
    assert snapshot(tmp_path / "out") == reference
    assert leftovers(tmp_path) == []


def test_files_are_the_same_whatever_the_chunk_length(tmp_path, reference):
    ok(cli(tmp_path, tmp_path / "out", "--executor", "serial", chunk_s=13))
    assert snapshot(tmp_path / "out") == reference


# ----------------------------------------------------------------------------- kill and resume


@linux_only
def test_killed_at_random_points_then_resumed_is_byte_identical(tmp_path, reference):
    # 2 writes at the start; per case 2 for its store, per chunk (5) 2 partitions, rename x2,
    # index, finished; then the case's 3 tables, rename x2, index, finished.
    write_steps = 2 + 2 * (2 + 5 * 6 + 7)
    rng = random.Random("issue-11-sweep")
    out = tmp_path / "out"
    killed = resumed_part_way = 0
    for i in range(8):
        how = ("point", "torn")[i % 2]
        n = rng.randint(1, write_steps)
        status = killed_child(lambda: cli(tmp_path, out, "--executor", "serial"), how, n)
        killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        store = chunkstore.store_path(out)
        resumed_part_way += any(store.glob("case=*/chunk=*")) or any(store.glob("chunk=*"))
        ok(cli(tmp_path, out, "--executor", "serial", "--resume"))
        assert snapshot(out) == reference, (i, how, n)
        assert leftovers(tmp_path) == [], (i, how, n)
    assert killed == 8
    assert resumed_part_way >= 3


@linux_only
def test_resume_after_a_policy_changed_is_refused_in_one_line(tmp_path):
    status = killed_child(
        lambda: cli(tmp_path, tmp_path / "out", "--executor", "serial"), "point", 30
    )
    assert os.WIFSIGNALED(status)
    (tmp_path / "what-if.toml").write_text(POLICIES["what-if.toml"].replace("JPN", "PHL"))
    argv = ["sweep", str(tmp_path / "w.toml"), "-o", str(tmp_path / "out"), "-q", "--chunk-s", "7"]
    r = CliRunner().invoke(app, [*argv, "--resume"])
    assert r.exit_code == 2, r.output
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and "run without --resume" in line, line


# ----------------------------------------------------------------------------- Ray (run last,
# on the session's Ray: tests/conftest.py)


@pytest.mark.ray
def test_a_local_ray_gives_identical_files(ray_session, tmp_path, reference):
    ok(cli(tmp_path, tmp_path / "out", "--executor", "ray", "--workers", "2"))
    assert ray_session.is_initialized()  # attached to, not shut down
    assert snapshot(tmp_path / "out") == reference
