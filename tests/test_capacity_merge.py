"""The merges of ``leosim capacity`` streamed one chunk at a time (issue 11).

- ``capacity_steps.csv`` and every other file are byte-identical for chunks of 1 step, of a
  prime number of steps (5, which does not divide the window) and of the whole window, on
  the serial executor and 2 local processes; ``servable.csv``'s min, median and bottleneck
  counts are those numpy finds over ``capacity_steps.csv``'s columns.
- :class:`leosim.traffic.StepStats` gives ``np.min`` and ``np.median`` bit for bit, and
  :class:`leosim.traffic.PairwiseSum` ``np.add.reduce`` (so ``np.mean``), on random values
  (ties, infinities, NaN) split at random chunk boundaries, with a tiny sort budget.
- :func:`leosim.traffic.subscriber_result` and :func:`~leosim.traffic.city_result` of random
  per-step records split at random boundaries equal numpy over the concatenated records; a
  chunk left out is an error, not a shorter answer.
- The merges' Python memory (tracemalloc peak) is the same for N and 4N steps of the same
  chunk length: nothing per step is kept.
- The streamed CSV writer quotes like :func:`leosim.outputs.write_table` when a later chunk
  holds a comma: the file is written again, whole, with every string quoted.
"""

from __future__ import annotations

import itertools
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from leosim.cli import app
from leosim.cli.capacity import StreamedCsv
from leosim.outputs import OutputDir, write_table
from leosim.traffic import (
    Cells,
    PairwiseSum,
    StepStats,
    SubscriberSetup,
    city_result,
    replay,
    subscriber_result,
)

# 6 steps of 60 s (an even count: the medians are means of two middle values).
CELLS_SC = """\
name = "merge cells"
[constellation]
preset = "starlink-550-hypatia"
[demand]
countries = ["TWN", "PHL"]
cell_deg = 1.0
take_rate = 0.01
[time]
duration_s = 360
step_s = 60
[output]
plot = false
"""

# 7 steps of 60 s.
CITIES_SC = """\
name = "merge cities"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "cities-top-100"
[demand]
mode = "cities"
total_gbps = 500
[time]
duration_s = 420
step_s = 60
[output]
plot = false
"""

SCENARIOS = {"cells": CELLS_SC, "cities": CITIES_SC}


def run_cli(name: str, tmp: Path, out: Path, chunk_s: float, executor: str) -> dict[str, bytes]:
    sc = tmp / f"{name}.toml"
    sc.write_text(SCENARIOS[name])
    argv = ["capacity", str(sc), "--out", str(out), "-q", "--chunk-s", str(chunk_s)]
    argv += ["--executor", executor] + (["--workers", "2"] if executor != "serial" else [])
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, (r.output, r.exception)
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "manifest.json"}
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    files["manifest.json:files"] = json.dumps(list(manifest.items())).encode()
    return files


@pytest.mark.parametrize("name", ["cells", "cities"])
def test_files_are_the_same_for_every_chunk_length_and_executor(name, tmp_path):
    whole = run_cli(name, tmp_path, tmp_path / "whole", 1e6, "serial")
    for chunk_s, executor in [
        (60, "serial"),
        (300, "serial"),
        (60, "processes"),
        (300, "processes"),
    ]:
        out = tmp_path / f"{executor}-{chunk_s}"
        assert run_cli(name, tmp_path, out, chunk_s, executor) == whole, (chunk_s, executor)
    steps = pacsv.read_csv(tmp_path / "whole" / "capacity_steps.csv").to_pydict()
    assert steps["time_s"] == [60.0 * k for k in range(len(steps["time_s"]))]
    assert len(steps["time_s"]) == (6 if name == "cells" else 7)
    if name == "cells":
        _check_servable(steps, pacsv.read_csv(tmp_path / "whole" / "servable.csv").to_pydict())


def _check_servable(steps: dict, servable: dict) -> None:
    """servable.csv against numpy over capacity_steps.csv (both rounded to 12 digits)."""
    for i, r in enumerate(servable["rate_mbps"]):
        for kind, col in [
            ("multipath", f"servable_at_{r:g}_mbps"),
            ("shortest_path", f"servable_shortest_path_at_{r:g}_mbps"),
        ]:
            v = np.array(steps[col])
            assert servable[f"servable_{kind}_min"][i] == np.min(v)
            assert math.isclose(servable[f"servable_{kind}_median"][i], np.median(v), rel_tol=1e-11)
        kinds, counts = np.unique(
            np.array(steps[f"bottleneck_at_{r:g}_mbps"], dtype=object), return_counts=True
        )
        text = ";".join(
            f"{k}:{c}" for k, c in sorted(zip(kinds, counts, strict=True), key=lambda x: -x[1])
        )
        assert servable["bottleneck_multipath"][i] == text


# ----------------------------------------------------------------------------- statistics


def _split(n: int, cuts: list[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(sorted({0, n, *(c % (n + 1) for c in cuts)})))


values = st.lists(
    st.one_of(
        st.integers(-3, 3).map(float),  # ties
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
        st.sampled_from([np.inf, -np.inf, -0.0]),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(
    cols=st.lists(values, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 80), max_size=6),
    with_nan=st.booleans(),
    max_values=st.integers(1, 20),
)
def test_streamed_min_and_median_are_numpys(cols, cuts, with_nan, max_values):
    n = min(len(c) for c in cols)
    v = np.array([c[:n] for c in cols], dtype=float).T  # (steps, groups)
    if with_nan:
        v[n // 2, 0] = np.nan
    stats = StepStats(v.shape[1])
    chunks = [v[a:b] for a, b in _split(n, cuts)]
    for c in chunks:
        stats.add(c)
    got_min = stats.min()
    got_median = stats.median(lambda: reversed(chunks), max_values=max_values)
    with np.errstate(invalid="ignore"):
        want_min, want_median = np.min(v, axis=0), np.median(v, axis=0)
    np.testing.assert_array_equal(got_min, want_min)
    for g in range(v.shape[1]):  # bit for bit (-0.0 and 0.0 compare equal: the CSV writes 0)
        assert (got_median[g] == want_median[g]) or (
            np.isnan(got_median[g]) and np.isnan(want_median[g])
        ), (g, got_median[g], want_median[g])


@settings(max_examples=100, deadline=None)
@given(
    n=st.integers(0, 3000), cuts=st.lists(st.integers(0, 3000), max_size=8), seed=st.integers(0, 9)
)
def test_pairwise_sum_is_numpys_sum_bit_for_bit(n, cuts, seed):
    rng = np.random.default_rng(seed)
    v = rng.random(n) * rng.choice([1e-3, 1.0, 1e9], n)
    s = PairwiseSum(n)
    for a, b in _split(n, cuts):
        s.push(v[a:b])
    assert s.total() == np.add.reduce(v)
    m = rng.random((n, 5))  # a column of a 2-D array, as the old merge took its means
    s = PairwiseSum(n)
    for a, b in _split(n, cuts):
        s.push(m[a:b, 2])
    assert n == 0 or s.total() / n == np.mean(m[:, 2])


def test_pairwise_sum_refuses_a_wrong_count():
    s = PairwiseSum(3)
    s.push([1.0, 2.0])
    with pytest.raises(ValueError, match="fewer"):
        s.total()
    with pytest.raises(ValueError, match="more"):
        s.push([1.0, 2.0])


# ----------------------------------------------------------------------------- merges

KINDS = ("beam", "downlink", "feeder", "isl")
LIMITS = ("beam", "downlink", "no route", "")


def _setup(rates=(25.0, 100.0)) -> SubscriberSetup:
    country = np.array(["PHL", "TWN", "TWN", "JPN"], dtype=object)
    subs = np.array([10.0, 20.0, 5.0, 7.0])
    cells = Cells(np.zeros(4), np.zeros(4), country, subs * 100, subs)
    return SubscriberSetup(cells, None, tuple(rates), None, None, None, None, None, None, 25, 25)


def _sub_record(rng, m: int, rates) -> dict[str, dict]:
    """A chunk of ``m`` random steps, as :func:`leosim.traffic.subscriber_steps` makes them."""
    steps = {k: rng.random(m) for k in ("routed_share", "served", "demand", "lp_total")}
    for j in range(len(rates)):
        steps[f"servable_{j}"] = rng.integers(0, 5, m) * 10.0 + rng.random(m) * (j + 1)
        steps[f"servable_mp_{j}"] = rng.random(m) * 1e4
        for k in ("bottleneck", "bottleneck_mp"):
            steps[f"{k}_{j}"] = rng.choice(np.array(LIMITS, dtype=object), m)
    codes = np.array(["JPN", "PHL", "TWN"], dtype=object)
    countries = {
        "step": np.repeat(np.arange(m), 3),
        "country": np.tile(codes, m),
        "rate_bps": rng.random(3 * m) * 1e9,
        "demand_bps": np.tile([7e9, 10e9, 25e9], m),
    }
    used = rng.random((m, len(KINDS))) < 0.7
    step, k = np.nonzero(used)
    kinds = {
        "step": step.astype(float),
        "kind": np.array(KINDS, dtype=object)[k],
        "used": rng.integers(1, 50, len(k)).astype(float),
        "saturated": rng.integers(0, 5, len(k)).astype(float),
        "util_mean": rng.random(len(k)),
        "util_max": rng.random(len(k)),
        "flows": rng.integers(0, 9, len(k)).astype(float),
    }
    return {"steps": steps, "countries": countries, "kinds": kinds}


def _cat(records, table: str) -> dict[str, np.ndarray]:
    return {k: np.concatenate([r[table][k] for r in records]) for k in records[0][table]}


def _slice(rec: dict, a: int, b: int) -> dict:
    """Steps ``a:b`` of a record, its step numbers from 0 (as a chunk computed alone)."""
    out = {"steps": {k: v[a:b] for k, v in rec["steps"].items()}}
    for name in set(rec) - {"steps"}:
        t = rec[name]
        if "step" in t:
            sel = (t["step"] >= a) & (t["step"] < b)
            out[name] = {k: (v[sel] - a if k == "step" else v[sel]) for k, v in t.items()}
        else:  # rates: time-major, one row a step
            n_f = len(t["rate_bps"]) // len(next(iter(rec["steps"].values())))
            out[name] = {"rate_bps": t["rate_bps"][a * n_f : b * n_f]}
    return out


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 120), cuts=st.lists(st.integers(0, 120), max_size=6), seed=st.integers(0, 99)
)
def test_subscriber_merge_is_numpy_over_the_window(n, cuts, seed):
    rates = (25.0, 100.0)
    setup = _setup(rates)
    whole = _sub_record(np.random.default_rng(seed), n, rates)
    chunks = [_slice(whole, a, b) for a, b in _split(n, cuts)]
    t_s = np.arange(n) * 15.0
    seen = []
    run = subscriber_result(
        setup, t_s, replay(chunks), on_steps=lambda t, s: seen.append((t, s)), max_values=7
    )
    # The steps come out in order, each once.
    np.testing.assert_array_equal(np.concatenate([t for t, _ in seen]), t_s)
    for k, v in whole["steps"].items():
        np.testing.assert_array_equal(np.concatenate([s[k] for _, s in seen]), v)
    st_ = whole["steps"]
    for j, row in enumerate(run.summary_rows()):
        assert row["servable_multipath_min"] == np.min(st_[f"servable_mp_{j}"])
        assert row["servable_multipath_median"] == np.median(st_[f"servable_mp_{j}"])
        assert row["servable_shortest_path_min"] == np.min(st_[f"servable_{j}"])
        assert row["servable_shortest_path_median"] == np.median(st_[f"servable_{j}"])
        kinds, counts = np.unique(st_[f"bottleneck_{j}"], return_counts=True)
        want = ";".join(
            f"{k}:{c}" for k, c in sorted(zip(kinds, counts, strict=True), key=lambda x: -x[1])
        )
        assert row["bottleneck_shortest_path"] == want
    kd = whole["kinds"]
    order = list(dict.fromkeys(kd["kind"].tolist()))
    assert [r["kind"] for r in run.kind_rows] == order
    for r in run.kind_rows:
        m = kd["kind"] == r["kind"]
        assert r["links_used_mean"] == np.mean(kd["used"][m])
        assert r["utilisation_mean"] == np.mean(kd["util_mean"][m])
        assert r["utilisation_max"] == np.max(kd["util_max"][m])
        assert r["flows_bottlenecked_mean"] == np.mean(kd["flows"][m])
    c = whole["countries"]
    for r in run.country_rows:
        m = c["country"] == r["country"]
        served = 0.0
        for x in c["rate_bps"][m]:  # step by step
            served += x
        assert r["served_gbps_maxmin"] == served / m.sum() / 1e9


def _city_record(rng, m: int, n_flows: int) -> dict[str, dict]:
    steps = {k: rng.random(m) * 500 for k in ("served_mm", "served_lp")}
    steps["routed"] = rng.random(m)
    step, k = np.nonzero(rng.random((m, 3)) < 0.6)
    bott = {
        "step": step.astype(np.int64),
        "kind": np.array(["demand", "isl", "uplink"], dtype=object)[k],
        "count": rng.integers(0, 1000, len(k)),
    }
    rates = rng.random((m, n_flows)) * 1e8 * (rng.random((m, n_flows)) < 0.8)
    return {"steps": steps, "bottlenecks": bott, "rates": {"rate_bps": rates.reshape(-1)}}


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 80), cuts=st.lists(st.integers(0, 80), max_size=6), seed=st.integers(0, 99))
def test_city_merge_is_numpy_over_the_window(n, cuts, seed):
    n_flows = 6
    flows = (np.arange(n_flows), np.arange(n_flows) + 1, np.full(n_flows, 1e8))
    whole = _city_record(np.random.default_rng(seed), n, n_flows)
    chunks = [_slice(whole, a, b) for a, b in _split(n, cuts)]
    seen = []
    run = city_result(
        flows,
        np.arange(n) * 60.0,
        replay(chunks),
        on_steps=lambda t, c: seen.append(c),
        max_values=5,
    )
    assert run.served_gbps_maxmin_median == np.median(whole["steps"]["served_mm"])
    assert run.served_gbps_max_throughput_median == np.median(whole["steps"]["served_lp"])
    rates = whole["rates"]["rate_bps"].reshape(n, n_flows)
    total = np.zeros(n_flows)
    for r in rates:
        total += r
    np.testing.assert_array_equal(run.pair_rate_bps, total / n)
    b = whole["bottlenecks"]
    assert run.bottleneck_kinds == sorted(set(b["kind"].tolist()))
    for kind in run.bottleneck_kinds:
        want = np.zeros(n, dtype=np.int64)
        sel = b["kind"] == kind
        want[b["step"][sel]] = b["count"][sel]
        np.testing.assert_array_equal(np.concatenate([c["limited_by"][kind] for c in seen]), want)


def test_a_chunk_left_out_is_an_error_not_a_shorter_window():
    rng = np.random.default_rng(3)
    chunks = [_sub_record(rng, 4, (25.0,)) for _ in range(3)]
    with pytest.raises(RuntimeError, match="the chunks hold 8 steps, the window 12"):
        subscriber_result(_setup((25.0,)), np.arange(12.0), replay(chunks[:2]))


# ----------------------------------------------------------------------------- memory


def _synthetic_parts(n_chunks: int, m: int, rates):
    """Parts made on the fly, one chunk at a time (as read from the store)."""

    def parts(names=None):
        for k in range(n_chunks):
            rec = _sub_record(np.random.default_rng(k), m, rates)
            yield rec if names is None else {n: rec[n] for n in names}

    return parts


def _merge_peak(tmp: Path, n_chunks: int, m: int) -> int:
    rates = (25.0, 100.0)
    setup = _setup(rates)
    t_s = np.arange(n_chunks * m) * 1.0
    parts = _synthetic_parts(n_chunks, m, rates)

    def columns(t, s):
        return {"time_s": t, **{k: s[k] for k in sorted(s)}}

    with OutputDir(tmp / f"out-{n_chunks}") as out:
        csv = StreamedCsv(out, "capacity_steps.csv", lambda: None)
        tracemalloc.start()
        try:
            subscriber_result(
                setup, t_s, parts, on_steps=lambda t, s: csv.write(columns(t, s)), max_values=50
            )
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        csv.close()
    rows = (tmp / f"out-{n_chunks}" / "capacity_steps.csv").read_text().count("\n")
    assert rows == 1 + n_chunks * m  # every step written
    return peak


def test_merge_memory_does_not_grow_with_the_window(tmp_path):
    m = 40
    _merge_peak(tmp_path / "warm", 5, m)  # imports and caches
    small = _merge_peak(tmp_path, 50, m)  # 2,000 steps
    large = _merge_peak(tmp_path, 200, m)  # 8,000 steps
    # The old merge kept ~700 bytes a step (columns, a tuple per step and link kind): +4 MB
    # here.  What does vary is where the candidates of the medians lie (at most 50 values).
    assert large <= small * 1.25 + 32 * 1024, (small, large)


# ----------------------------------------------------------------------------- quoting


def test_a_comma_in_a_later_chunk_quotes_the_whole_file_as_write_table_does(tmp_path):
    chunks = [
        {"time_s": np.array([0.0, 1.0]), "kind": np.array(["beam", ""], dtype=object)},
        {"time_s": np.array([2.0]), "kind": np.array(["a,b"], dtype=object)},
        {"time_s": np.array([3.5]), "kind": np.array(["isl"], dtype=object)},
    ]
    with OutputDir(tmp_path / "a") as out:
        write_table(out, "t.csv", {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]})
    with OutputDir(tmp_path / "b") as out:
        w = StreamedCsv(out, "t.csv", lambda: iter(chunks))
        for c in chunks:
            w.write(c)
        w.close()
    want = (tmp_path / "a" / "t.csv").read_bytes()
    assert b'"a,b"' in want and b'"beam"' in want  # Arrow quotes every string then
    assert (tmp_path / "b" / "t.csv").read_bytes() == want
