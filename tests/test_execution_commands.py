"""``leosim policy evaluate``, ``policy compare``, ``coverage`` and ``capacity`` chunked on every
executor (issue 11).

- A policy chunk that starts inside a 15 s reconfiguration slot replays the slot's earlier
  steps: per-step results equal one pass over the window (and differ without the replay, so
  the scenario really exercises it); the files are byte-identical whatever ``--chunk-s``,
  and whatever number of values the policy merge sorts at a time.
- Coverage parts merge exactly: gaps and covered time equal those computed by hand from the
  per-step visible counts of :func:`leosim.links.visible_counts`, whatever the split.
- Every command's files (all bytes, and the manifest's list) are identical on the serial
  executor, 2 local processes and a 2-worker Dask ``LocalCluster``; and on the local Ray
  of the session (``leosim run`` too; tests/conftest.py), skipped when ray is not installed.
- Killed (SIGKILL, torn files included) at seeded random points of the chunk store's writes,
  21 times across the three commands, then ``--resume``: byte-identical every time.
- A missing extra is the one-line error naming it.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from _kill import killed_child
from leosim import chunkstore
from leosim.cli import app

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork")

# 60 steps of 1 s; slots start at UTC seconds 12, 27, 42 and 57, so 7 s chunks cut slots.
POLICY_SC = """\
name = "chunked policy"
[constellation]
preset = "starlink-550-hypatia"
[terminals]
countries = ["TWN", "JPN", "PHL", "FRA"]
n_per_country = 25
seed = 1
[time]
duration_s = 60
step_s = 1
[output]
plot = false
"""
# A high user elevation makes held satellites leave view inside a slot (handovers).
POLICY = 'name = "high"\nmin_elevation_deg = 45\n'
# The what-if of ``policy compare``: Japan not served.
POLICY_B = 'name = "what-if"\n[countries]\nJPN = "not_activated"\n'

COVERAGE_SC = """\
name = "chunked coverage"
[constellation]
preset = "starlink-550-hypatia"
[coverage]
resolution_deg = 15
[time]
duration_s = 600
step_s = 30
[output]
plot = false
"""

CAPACITY_SC = """\
name = "chunked capacity"
[constellation]
preset = "starlink-550-hypatia"
[demand]
countries = ["TWN", "PHL"]
cell_deg = 1.0
take_rate = 0.01
[time]
duration_s = 240
step_s = 60
[output]
plot = false
"""

CITIES_SC = """\
name = "chunked city capacity"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "cities-top-100"
[demand]
mode = "cities"
total_gbps = 500
[time]
duration_s = 180
step_s = 60
[output]
plot = false
"""

ROUTING_SC = """\
name = "chunked run"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[routing]
pairs = [["Paris", "Luanda"], ["Manila", "Dalian"]]
[time]
duration_s = 2.0
step_s = 0.1
[output]
plot = false
"""

# command -> (scenario, chunk_s, extra arguments); chunks of every command cut its window.
COMMANDS = {
    "policy": (POLICY_SC, 7, ["policy", "evaluate"], ["-p", "{dir}/high.toml"]),
    "compare": (POLICY_SC, 7, ["policy", "compare"], ["{dir}/high.toml", "{dir}/what-if.toml"]),
    "coverage": (COVERAGE_SC, 120, ["coverage"], []),
    "capacity": (CAPACITY_SC, 70, ["capacity"], []),
    "cities": (CITIES_SC, 70, ["capacity"], []),
    "run": (ROUTING_SC, 0.5, ["run"], []),
}


def files(tmp: Path, name: str) -> Path:
    """The command's scenario (and policy) in ``tmp``; returns the scenario."""
    text = COMMANDS[name][0]
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "high.toml").write_text(POLICY)
    (tmp / "what-if.toml").write_text(POLICY_B)
    (tmp / f"{name}.toml").write_text(text)
    return tmp / f"{name}.toml"


def cli(name: str, tmp: Path, out: Path, *extra: str, chunk_s: float | None = None):
    _, default_chunk_s, cmd, args = COMMANDS[name]
    chunk_s = default_chunk_s if chunk_s is None else chunk_s
    sc = files(tmp, name)
    argv = [*cmd, str(sc), *(a.format(dir=tmp) for a in args), "--out", str(out), "-q"]
    argv += ["--chunk-s", str(chunk_s), *extra]
    return CliRunner().invoke(app, argv)


def ok(r) -> None:
    assert r.exit_code == 0, (r.output, r.exception)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of an output folder; manifest.json by its file list (it holds a timestamp)."""
    out = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != "manifest.json"}
    out["manifest.json:files"] = json.dumps(
        json.loads((folder / "manifest.json").read_text())["files"], sort_keys=True
    ).encode()
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".leosim-" in p.name)


_REFS: dict[str, dict[str, bytes]] = {}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Serial outputs of each command, computed once and on demand."""

    def get(name: str) -> dict[str, bytes]:
        if name not in _REFS:
            tmp = tmp_path_factory.mktemp(f"ref-{name}")
            ok(cli(name, tmp, tmp / "out", "--executor", "serial"))
            _REFS[name] = snapshot(tmp / "out")
        return _REFS[name]

    return get


# ----------------------------------------------------------------------------- slots and merges


def _policy_setup():
    from leosim.borders import Borders
    from leosim.ground_segment import scenario_terminals
    from leosim.policy import parse_policy
    from leosim.scenario import parse_scenario
    from leosim.service import prepare_evaluation
    from leosim.simulate import build_network

    sc = parse_scenario(tomllib.loads(POLICY_SC))
    b = Borders.default()
    net = build_network(sc)
    terms = scenario_terminals(sc, b, None)
    pol = parse_policy(tomllib.loads(POLICY), borders=b)
    lat = sc.latency.model()
    return net, prepare_evaluation(net, pol, terms, borders=b, latency=lat), sc.time.offsets_s()


def test_a_policy_chunk_inside_a_slot_replays_its_start():
    import dataclasses

    from leosim.execution import plan_chunks
    from leosim.service import evaluate_steps, slot_warmup

    net, setup, t = _policy_setup()
    start = net.start.timestamp()
    # By hand: the run starts at 00:00:00 UTC, slots at seconds 12 and 27 of each minute.
    assert [slot_warmup(setup.latency, start, t, a) for a in (7, 12, 14, 21, 28)] == [
        0,
        12,
        12,
        12,
        27,
    ]
    whole = evaluate_steps(net, setup, t)
    plan = plan_chunks(t, chunk_s=7)
    assert [a for a, _ in plan] == list(range(0, 60, 7))

    def chunked(replay: bool):
        parts = [
            evaluate_steps(
                net,
                setup,
                t[a:b],
                warmup_t_s=t[slot_warmup(setup.latency, start, t, a) if replay else a : a],
            )
            for a, b in plan
        ]
        return {
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(whole)
            if f.name != "visible"
        }, sum(p.visible for p in parts)

    got, visible = chunked(replay=True)
    for name, a in got.items():
        np.testing.assert_array_equal(a, getattr(whole, name), err_msg=name)
    np.testing.assert_array_equal(visible, whole.visible)
    # Without the replay, some terminal holds another satellite: the case is exercised.
    bare, _ = chunked(replay=False)
    assert (bare["satellite"] != whole.satellite).any()


@pytest.mark.parametrize("name", ["policy", "compare"])
def test_policy_files_are_the_same_whatever_the_chunk_length(name, tmp_path, reference):
    ref = reference(name)  # 7 s chunks
    for chunk_s in (1, 15, 1000):
        out = tmp_path / f"o{chunk_s}"
        ok(cli(name, tmp_path, out, "--executor", "serial", chunk_s=chunk_s))
        assert snapshot(out) == ref, chunk_s


def test_compare_files_are_those_of_two_evaluations(tmp_path, reference):
    """``policy compare``'s per-country tables are the country tables ``policy evaluate``
    writes for each policy alone, and its terminal table their columns side by side."""
    import csv

    ref = reference("compare")
    ok(cli("policy", tmp_path, tmp_path / "a", "--executor", "serial"))
    b = tmp_path / "b"
    files(tmp_path, "policy")
    sc = tmp_path / "policy.toml"
    argv = ["policy", "evaluate", str(sc), "-p", str(tmp_path / "what-if.toml"), "-o", str(b)]
    ok(CliRunner().invoke(app, [*argv, "-q", "--chunk-s", "7"]))
    assert ref["countries_a.csv"] == (tmp_path / "a" / "countries.csv").read_bytes()
    assert ref["countries_b.csv"] == (b / "countries.csv").read_bytes()

    def rows(data: bytes) -> list[dict]:
        return list(csv.DictReader(data.decode().splitlines()))

    both = rows(ref["terminals.csv"])
    for side, folder in (("a", tmp_path / "a"), ("b", b)):
        one = rows((folder / "terminals.csv").read_bytes())
        assert [r["terminal_id"] for r in both] == [r["terminal_id"] for r in one]
        for k in ("served_fraction", "median_rtt_pop_ms", "pop", "gateway_countries"):
            assert [r[f"{k}_{side}"] for r in both] == [r[k] for r in one], (side, k)
    # The what-if is a different answer: Japan's terminals are not served under B.
    jp = [r for r in both if r["country"] == "JPN"]
    assert jp and all(float(r["served_fraction_b"]) == 0.0 for r in jp)
    assert any(float(r["served_fraction_a"]) > 0.0 for r in jp)


@pytest.mark.parametrize("name", ["policy", "compare"])
def test_policy_merge_with_a_tiny_sort_budget_is_byte_identical(
    name, tmp_path, reference, monkeypatch
):
    """A merge budget of 7 values sorted at once: every median narrows by counting passes."""
    from leosim import policy_merge

    monkeypatch.setattr(policy_merge, "MERGE_VALUES", 7)
    ok(cli(name, tmp_path, tmp_path / "out", "--executor", "serial"))
    assert snapshot(tmp_path / "out") == reference(name)


def test_coverage_parts_merge_to_the_gaps_counted_by_hand():
    from leosim.coverage import (
        coverage_partial,
        equal_area_grid,
        merge_coverage,
        prepare_coverage,
        step_lengths_ns,
    )
    from leosim.links import visible_counts
    from leosim.orbits import Orbits
    from leosim.scenario import parse_scenario
    from leosim.simulate import build_network

    sc = parse_scenario(
        {"constellation": {"preset": "starlink-550-hypatia"}, "time": {"times_s": [0.0]}}
    )
    net = build_network(sc)
    # Irregular steps: 0.1 s steps, then 7 s, then 60 s (decimal lengths in floating point).
    t = np.r_[np.arange(10) * 0.1, 1.0 + np.arange(8) * 7.0, 60.0 + np.arange(12) * 60.0]
    pts = equal_area_grid(20.0)
    setup = prepare_coverage(net, pts, min_elevation_deg=40.0)
    dt = step_lengths_ns(t)
    # By hand, from the counts at each step: a step stands until the next (the last: median).
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    counts = np.stack(
        [
            visible_counts(setup.pos_m, setup.up, pos, min_elevation_deg=40.0)
            for _, chunk in orbits.iter_ecef_m(net.start, t)
            for pos in chunk
        ]
    )
    last = np.median(np.diff(t))
    step_s = np.append(np.diff(t), last)
    gap = np.zeros(len(pts))
    run = np.zeros(len(pts))
    for k in range(len(t)):
        run = np.where(counts[k] > 0, 0.0, run + step_s[k])
        gap = np.maximum(gap, run)
    assert (gap > 0).any() and (gap < gap.max()).any()  # gaps of several lengths
    for cuts in ([], [5], [3, 9, 10, 17, 25], list(range(1, len(t)))):
        edges = [0, *cuts, len(t)]
        parts = [
            coverage_partial(net, setup, t[a:b], dt[a:b]) for a, b in itertools.pairwise(edges)
        ]
        res = merge_coverage(setup, t, parts)
        np.testing.assert_allclose(res.longest_gap_s, gap, rtol=0, atol=1e-9)
        covered = (step_s[:, None] * (counts > 0)).sum(axis=0) / step_s.sum()
        np.testing.assert_allclose(res.covered_fraction, covered, rtol=1e-12)
        np.testing.assert_array_equal(res.min_visible, counts.min(axis=0))
        np.testing.assert_array_equal(res.max_visible, counts.max(axis=0))
        np.testing.assert_allclose(res.mean_visible, counts.mean(axis=0), rtol=1e-12)
        if cuts:  # and bit for bit the same as one part
            one = merge_coverage(setup, t, [coverage_partial(net, setup, t, dt)])
            for f in ("longest_gap_s", "covered_fraction", "mean_visible"):
                assert getattr(res, f).tobytes() == getattr(one, f).tobytes(), (cuts, f)


# ----------------------------------------------------------------------------- executors


@pytest.mark.parametrize("name", ["policy", "compare", "coverage", "capacity", "cities"])
def test_local_processes_give_identical_files(name, tmp_path, reference):
    ref = reference(name)
    ok(cli(name, tmp_path, tmp_path / "out", "--executor", "processes", "--workers", "2"))
    assert snapshot(tmp_path / "out") == ref
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["policy", "compare", "coverage", "capacity", "cities"])
def test_dask_local_cluster_gives_identical_files(name, tmp_path, reference):
    pytest.importorskip("distributed")
    ref = reference(name)
    ok(cli(name, tmp_path, tmp_path / "out", "--executor", "dask", "--workers", "2"))
    assert snapshot(tmp_path / "out") == ref
    assert leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- kill and resume


@linux_only
@pytest.mark.parametrize(
    ("name", "write_steps"),
    # 2 writes at the start, then per chunk: 2 partitions, rename x2, index, finished.
    [("policy", 2 + 6 * 9), ("coverage", 2 + 6 * 10), ("capacity", 2 + 7 * 3)],
)
def test_killed_at_random_points_then_resumed_is_byte_identical(
    name, write_steps, tmp_path, reference
):
    ref = reference(name)
    rng = random.Random(f"issue-11-{name}")
    out = tmp_path / "out"
    killed = resumed_part_way = 0
    for i in range(7):
        how = ("point", "torn")[i % 2]
        n = rng.randint(1, write_steps)
        status = killed_child(lambda: cli(name, tmp_path, out, "--executor", "serial"), how, n)
        killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        store = chunkstore.store_path(out)
        listed = (
            len(json.loads((store / "chunks.json").read_text())["chunks"])
            if (store / "chunks.json").exists()
            else 0
        )
        resumed_part_way += listed > 0
        ok(cli(name, tmp_path, out, "--executor", "serial", "--resume"))
        assert snapshot(out) == ref, (i, how, n)
        assert leftovers(tmp_path) == [], (i, how, n)
    assert killed == 7
    assert resumed_part_way >= 3


# ----------------------------------------------------------------------------- missing extras


@pytest.mark.parametrize("name", ["policy", "compare", "coverage", "capacity"])
@pytest.mark.parametrize(("module", "executor"), [("distributed", "dask"), ("ray", "ray")])
def test_a_missing_extra_is_one_line(name, module, executor, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    r = cli(name, tmp_path, tmp_path / "out", "--executor", executor)
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        f"error: the {executor} executor needs the '{executor}' extra: "
        f"pip install 'leosim[{executor}]'"
    ]
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["policy", "compare", "coverage", "capacity"])
def test_an_address_without_an_executor_is_one_line(name, tmp_path):
    r = cli(name, tmp_path, tmp_path / "out", "--address", "tcp://127.0.0.1:1")
    assert r.exit_code == 2, r.output
    assert r.stderr.strip().splitlines() == [
        "error: --address needs --executor dask or --executor ray"
    ]


# ----------------------------------------------------------------------------- Ray (run last,
# on the session's Ray: tests/conftest.py)


@pytest.mark.ray
def test_a_local_ray_gives_identical_files_for_every_command(ray_session, tmp_path, reference):
    for name in ("run", "policy", "compare", "coverage", "capacity", "cities"):
        ref = reference(name)
        out = tmp_path / name
        ok(cli(name, tmp_path, out, "--executor", "ray", "--workers", "2"))
        assert snapshot(out) == ref, name
        assert ray_session.is_initialized()  # attached to, not shut down
    assert leftovers(tmp_path) == []
