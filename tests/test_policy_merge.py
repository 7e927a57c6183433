"""The streamed merge of a policy evaluation's tables (:mod:`leosim.policy_merge`), against
numpy's statistics over the whole window, and its memory, bounded by the chunk length.

Truth: ``np.nanmedian``, ``np.nanpercentile``, a stable ``np.argsort`` and ``np.cumsum``, and
exact rational sums (:class:`fractions.Fraction`), over every terminal-step at once, for
synthetic per-step results (random RTTs rounded to make many ties, unserved steps, a terminal
never served, gateways in several countries).  The merge reads them in random chunks, with a
budget of a few values sorted at once so that every statistic takes its multi-pass route.
"""

from __future__ import annotations

import itertools
import tracemalloc
import types
from fractions import Fraction

import numpy as np
import pytest

from leosim.chunked_policy import check_evaluation_memory
from leosim.errors import InputError
from leosim.execution import plan_chunks
from leosim.ground_segment import Terminals
from leosim.latency import LatencyModel, StepArrays
from leosim.policy_merge import (
    StepSource,
    exact_dot,
    merge_tables,
    numpy_lerp,
    p95_ranks,
)
from leosim.service import ServiceResult

GW_COUNTRY = np.array(["TWN", "JPN", "PHL", "TWN", "FRA", "USA", "JPN"])
COUNTRIES = np.array(["TWN", "JPN", "", "FRA"])


def step_arrays(rng, n_t: int, n: int) -> StepArrays:
    """Random per-step results of ``n`` terminals over ``n_t`` steps (terminal 0 never served)."""
    out = StepArrays.empty(n_t, n)
    served = rng.random((n_t, n)) < rng.uniform(0.2, 1.0, n)
    served[:, 0] = False
    out.gateway[served] = rng.integers(0, len(GW_COUNTRY), (n_t, n))[served]
    out.rtt_gw_ms[served] = np.round(rng.normal(50, 10, (n_t, n)))[served]
    pop = served & (rng.random((n_t, n)) < 0.9)
    for k in ("rtt_pop_ms", "radio_ms", "lasers_ms", "fibre_ms"):
        getattr(out, k)[pop] = np.round(rng.normal(30, 8, (n_t, n)), 1)[pop]
    out.pop_gateway[pop] = rng.integers(0, len(GW_COUNTRY), (n_t, n))[pop]
    out.visible[:] = rng.integers(0, n_t + 1, n)
    return out


def result(rng, out: StepArrays, weight: np.ndarray) -> ServiceResult:
    n_t, n = out.rtt_gw_ms.shape
    terms = Terminals(
        np.array([f"t{i}" for i in range(n)], dtype=object),
        rng.uniform(-60, 60, n),
        rng.uniform(-180, 180, n),
        COUNTRIES[rng.integers(0, len(COUNTRIES), n)],
        weight,
    )
    return ServiceResult(
        "p",
        terms,
        np.arange(n_t, dtype=np.float64),
        np.ones(n, dtype=bool),
        np.where(rng.random(n) < 0.2, "not activated", ""),
        out.rtt_gw_ms,
        out.gateway,
        GW_COUNTRY,
        out.visible,
        np.full(n, "active"),
        pops=types.SimpleNamespace(code=np.array(["P1", "P2", "P3"])),
        pop=rng.integers(0, 3, n),
        pop_source=np.full(n, "policy"),
        gateway_name=np.array([f"gw{i}" for i in range(len(GW_COUNTRY))]),
        pop_paths=out,
        latency=LatencyModel(),
    )


def chunked(out: StepArrays, steps: list[tuple[int, int]], skip: int | None = None):
    """``out`` read in chunks ``steps`` (the visible counts split across them)."""
    n = out.rtt_gw_ms.shape[1]
    vis = [np.zeros(n, dtype=np.int64) for _ in steps]
    vis[-1] = out.visible

    def read(j, names):
        a, b = steps[j]
        return {k: getattr(out, k)[a:b] for k in names}

    return StepSource([s for j, s in enumerate(steps) if j != skip], n, read, lambda j: vis[j])


def lower_median_step(rtt: np.ndarray) -> np.ndarray:
    """Per column, the row of the lower median of the finite values in a stable sort."""
    count = np.isfinite(rtt).sum(axis=0)
    order = np.argsort(rtt, axis=0, kind="stable")
    step = order[np.maximum((count - 1) // 2, 0), np.arange(rtt.shape[1])]
    return np.where(count > 0, step, -1)


def weighted_pick(x: np.ndarray, w: np.ndarray, q: float) -> int:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return int(order[np.searchsorted(cw, q * cw[-1])]) if len(x) else -1


def check_terminals(tt: dict, out: StepArrays, res: ServiceResult) -> None:
    n_t = len(res.t_s)
    served = out.gateway >= 0
    assert np.array_equal(tt["served_fraction"], served.sum(axis=0) / n_t)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        med_gw = np.nanmedian(out.rtt_gw_ms, axis=0)
        p95_gw = np.nanpercentile(out.rtt_gw_ms, 95, axis=0)
        p95_pop = np.nanpercentile(out.rtt_pop_ms, 95, axis=0)
    for k, want in (
        ("median_rtt_gateway_ms", med_gw),
        ("p95_rtt_gateway_ms", p95_gw),
        ("p95_rtt_pop_ms", p95_pop),
    ):
        assert tt[k].dtype == want.dtype and np.array_equal(tt[k], want, equal_nan=True), k
    step = lower_median_step(out.rtt_pop_ms)
    j = np.arange(len(step))
    for k in ("rtt_pop_ms", "radio_ms", "lasers_ms", "fibre_ms"):
        want = np.where(step >= 0, getattr(out, k)[np.maximum(step, 0), j], np.nan)
        col = "median_rtt_pop_ms" if k == "rtt_pop_ms" else k
        assert np.array_equal(tt[col], want, equal_nan=True), k
    gw = np.where(step >= 0, out.pop_gateway[np.maximum(step, 0), j], -1)
    assert tt["gateway"].tolist() == [f"gw{g}" if g >= 0 else "" for g in gw]
    for k in j:
        g = out.pop_gateway[:, k]
        assert tt["gateway_countries"][k] == ";".join(sorted(set(GW_COUNTRY[g[g >= 0]])))
    for k in j:
        want = res.block_reason[k] or (
            "no satellite in view"
            if out.visible[k] == 0
            else "no allowed gateway reachable at some steps"
            if served[:, k].sum() < n_t
            else ""
        )
        assert tt["reason"][k] == want, k


def check_countries(ct: dict, out: StepArrays, res: ServiceResult) -> None:
    t, w = res.terminals, res.terminals.weight
    for i, code in enumerate(np.unique(t.country)):
        sel = np.flatnonzero(t.country == code)
        served = out.gateway[:, sel] >= 0
        # The served weight summed exactly, rounded once.
        num = float(sum(Fraction(float(w[k])) * int(served[:, j].sum()) for j, k in enumerate(sel)))
        total = w[sel].sum() * len(res.t_s)
        assert ct["served_share"][i] == (min(1.0, num / total) if total > 0 else 0.0)
        lands = out.pop_gateway[:, sel]
        lc, inv = np.unique(GW_COUNTRY[lands[lands >= 0]], return_inverse=True)
        lw = np.broadcast_to(w[sel], lands.shape)[lands >= 0]
        sh = np.bincount(inv, weights=lw) / lw.sum() if len(lw) else np.zeros(0)
        order = np.lexsort((lc, -sh))
        assert ct["landing"][i] == ";".join(f"{lc[o]}:{sh[o]:.3f}" for o in order), code
        pop = out.rtt_pop_ms[:, sel]
        ok = np.isfinite(pop)
        wp = np.broadcast_to(w[sel], pop.shape)[ok]
        m = weighted_pick(pop[ok], wp, 0.5)
        for k in ("radio_ms", "lasers_ms", "fibre_ms"):
            want = float(getattr(out, k)[:, sel][ok][m]) if m >= 0 else np.nan
            assert np.array_equal(ct[k][i], want, equal_nan=True), (code, k)
        p = weighted_pick(pop[ok], wp, 0.95)
        assert np.array_equal(ct["p95_rtt_pop_ms"][i], pop[ok][p] if p >= 0 else np.nan, True)
        gw = out.rtt_gw_ms[:, sel][served]
        rw = np.broadcast_to(w[sel], served.shape)[served]
        for q, k in ((0.5, "median_rtt_gateway_ms"), (0.95, "p95_rtt_gateway_ms")):
            p = weighted_pick(gw, rw, q)
            assert np.array_equal(ct[k][i], gw[p] if p >= 0 else np.nan, equal_nan=True), k


def random_steps(rng, n_t: int) -> list[tuple[int, int]]:
    cuts = np.unique(np.r_[0, rng.integers(1, n_t, int(rng.integers(0, 5))), n_t])
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("budget", [1, 7, None])
def test_streamed_tables_are_numpys_statistics_over_the_window(seed, budget):
    rng = np.random.default_rng(seed)
    n_t, n = int(rng.choice([5, 40, 650])), int(rng.integers(3, 25))
    out = step_arrays(rng, n_t, n)
    res = result(rng, out, rng.integers(1, 50, n).astype(np.float64))
    tt, ct = merge_tables(res, chunked(out, random_steps(rng, n_t)), max_values=budget)
    check_terminals(tt, out, res)
    check_countries(ct, out, res)
    # The in-memory tables (one chunk) are the same bytes.
    tm, cm = res.tables()
    for a, b in ((tt, tm), (ct, cm)):
        assert list(a) == list(b)
        for k in a:
            assert a[k].dtype == b[k].dtype and np.array_equal(
                a[k], b[k], equal_nan=a[k].dtype.kind == "f"
            ), k


def test_fractional_weights_give_the_same_shares_whatever_the_chunks():
    rng = np.random.default_rng(11)
    out = step_arrays(rng, 90, 12)
    res = result(rng, out, rng.uniform(0.1, 1000.0, 12))
    ref = res.country_table()
    for _ in range(5):
        _, ct = merge_tables(res, chunked(out, random_steps(rng, 90)), max_values=3)
        for k in ref:
            assert np.array_equal(ct[k], ref[k], equal_nan=ref[k].dtype.kind == "f"), k


def test_a_skipped_chunk_changes_the_tables():
    """The check above can fail: leaving one chunk out is seen."""
    rng = np.random.default_rng(3)
    out = step_arrays(rng, 40, 8)
    res = result(rng, out, np.ones(8))
    steps = [(0, 10), (10, 25), (25, 40)]
    tt, _ = merge_tables(res, chunked(out, steps, skip=1), max_values=5)
    with pytest.raises(AssertionError):
        check_terminals(tt, out, res)


def test_exact_dot_is_the_exact_sum_rounded_once():
    rng = np.random.default_rng(5)
    for scale in (1e-3, 1.0, 1e9):
        w = rng.uniform(0, scale, 300)
        n = rng.integers(0, 2**40, 300)
        exact = sum(Fraction(float(a)) * int(b) for a, b in zip(w, n, strict=True))
        assert exact_dot(w, n) == float(exact)
        assert exact_dot(w[::-1], n[::-1]) == float(exact)


def test_p95_is_numpys_linear_percentile_in_float32():
    rng = np.random.default_rng(9)
    for n in [*range(1, 60), 599, 600, 601, 10_007]:
        x = np.sort(rng.normal(30, 10, n).astype(np.float32))
        lo, hi, gamma = p95_ranks(np.array([n]))
        got = numpy_lerp(x[lo], x[hi], gamma)[0]
        want = np.nanpercentile(x, 95)
        assert got.dtype == want.dtype and got == want, n
    assert p95_ranks(np.array([0]))[0][0] == -1


def synthetic_source(n_steps: int, chunk: int, n: int, spill) -> StepSource:
    """Per-step results generated chunk by chunk (the same on every pass), never all at once."""
    steps = plan_chunks(np.arange(n_steps, dtype=np.float64), chunk_s=float(chunk))

    def read(j, names):
        a, b = steps[j]
        arr = step_arrays(np.random.default_rng([1, j]), b - a, n)
        return {k: getattr(arr, k) for k in names}

    def visible(j):
        return np.full(n, steps[j][1] - steps[j][0], dtype=np.int64)

    return StepSource(steps, n, read, visible, spill)


def test_merge_memory_does_not_grow_with_the_horizon(tmp_path, monkeypatch):
    n, chunk, steps = 24, 50, 600
    rng = np.random.default_rng(2)
    res = result(rng, step_arrays(rng, 1, n), np.ones(n))
    peaks = {}
    for n_t in (steps, 4 * steps):
        res.t_s = np.arange(n_t, dtype=np.float64)
        spill = tmp_path / f"s{n_t}"
        spill.mkdir()
        merge_tables(res, synthetic_source(n_t, chunk, n, spill), max_values=1_000)  # warm
        tracemalloc.start()
        try:
            merge_tables(res, synthetic_source(n_t, chunk, n, spill), max_values=1_000)
            peaks[n_t] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    # The whole window's per-step results would be 96 bytes per terminal-step.
    grown = 96 * n * 3 * steps
    assert peaks[4 * steps] < peaks[steps] + grown / 10, peaks


def test_a_year_at_60_s_is_accepted_in_day_chunks(monkeypatch):
    monkeypatch.setenv("LEOSIM_MAX_MEMORY_GB", "2")
    n = 300  # one country: the old merge held it whole over the window (15 GB)
    terms = Terminals(
        np.arange(n).astype(str).astype(object),
        np.zeros(n),
        np.zeros(n),
        np.full(n, "TWN"),
        np.ones(n),
    )
    t_s = np.arange(0.0, 365 * 86400.0, 60.0)
    check_evaluation_memory(terms, plan_chunks(t_s, chunk_s=86400.0), workers=2)
    # The bound is the chunk's: the whole year in one chunk is still refused, in one line.
    with pytest.raises(InputError, match="terminals over 525,600 time steps") as e:
        check_evaluation_memory(terms, plan_chunks(t_s, chunk_s=365 * 86400.0), workers=2)
    assert "\n" not in str(e.value)
