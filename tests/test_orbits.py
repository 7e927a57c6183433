"""Orbits: SGP4 positions, TEME → Earth-fixed rotation, streaming and decayed satellites.

The truth here is Skyfield (its own TEME → ITRS chain, with its builtin UT1 − UTC table) and
the ``sgp4`` package called satellite by satellite, never leosim's own earlier outputs.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sgp4.api import Satrec, jday
from skyfield.api import EarthSatellite, load
from skyfield.framelib import itrs
from skyfield.sgp4lib import theta_GMST1982

from leosim.constellation import from_tle, preset
from leosim.errors import PropagationWarning
from leosim.orbits import (
    INTERPOLATION_TOLERANCE_M,
    MAX_KNOT_S,
    Orbits,
    drop_unpropagatable,
    gmst82_rad,
    knot_spacing_s,
)
from leosim.tle import read_tle

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[2] / "shared"
SUBSET_TLE = DATA / "starlink_2026-05-12_subset.tle"
DECAYED_TLE = DATA / "decayed_2023-07-18.tle"

# IERS nominal Earth rotation rate, rad/s (independent of the GMST82 polynomial).
EARTH_ROTATION_RAD_S = 7.2921150e-5

TS = load.timescale(builtin=True)  # builtin tables only: no downloads


def _skyfield_times(start: datetime, t_s: np.ndarray):
    return TS.utc(
        start.year,
        start.month,
        start.day,
        start.hour,
        start.minute,
        start.second + start.microsecond * 1e-6 + np.asarray(t_s, dtype=float),
    )


def _skyfield_positions(satrecs, t):
    """Skyfield's ITRS (metres) and raw TEME (km) positions, each (n_times, n_sats, 3)."""
    n_t, n_s = len(t), len(satrecs)
    ecef = np.empty((n_t, n_s, 3))
    teme = np.empty((n_t, n_s, 3))
    for j, satrec in enumerate(satrecs):
        sat = EarthSatellite.from_satrec(satrec, TS)
        ecef[:, j, :] = sat.at(t).frame_xyz(itrs).m.T
        r_km, _, _ = sat._position_and_velocity_TEME_km(t)
        teme[:, j, :] = r_km.T
    return ecef, teme


def _sgp4_loop_teme_km(satrecs, start: datetime, t_s: np.ndarray):
    """TEME km from sgp4's scalar ``Satrec.sgp4``, one satellite and one time at a time."""
    jd0, fr0 = jday(
        start.year,
        start.month,
        start.day,
        start.hour,
        start.minute,
        start.second + start.microsecond * 1e-6,
    )
    out = np.empty((len(t_s), len(satrecs), 3))
    for i, dt in enumerate(t_s):
        for j, s in enumerate(satrecs):
            e, r, _ = s.sgp4(jd0, fr0 + dt / 86400.0)
            assert e == 0
            out[i, j] = r
    return out


def _real_case():
    cat = read_tle(SUBSET_TLE)
    epochs = np.array([s.jdsatepoch + s.jdsatepochF for s in cat.satrecs])
    # The epochs are 2026-05-12 22:35 .. 2026-05-13 ...; span from 3 h before the first
    # epoch to 3 h after the last one.
    assert 2461172.5 < epochs.min() < epochs.max() < 2461174.5
    start = datetime(2026, 5, 12, 20, 0, tzinfo=UTC)
    t_s = np.linspace(0.0, 10 * 3600.0, 101)
    return cat.satrecs, start, t_s


def _walker_case():
    c = preset("starlink-550-hypatia")
    satrecs = c.satrecs[::10]
    start = datetime(2000, 1, 1, tzinfo=UTC)
    # Two hours before the epoch to four hours after it, not a whole number of seconds.
    t_s = np.linspace(-7200.0, 14400.0, 120) + 0.123
    return satrecs, start, t_s


CASES = {"real-2026-05-12": _real_case, "walker-550": _walker_case}


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    satrecs, start, t_s = CASES[request.param]()
    assert len(satrecs) >= 100 and len(t_s) >= 100
    t = _skyfield_times(start, t_s)
    sky_ecef, sky_teme = _skyfield_positions(satrecs, t)
    return {
        "name": request.param,
        "satrecs": satrecs,
        "start": start,
        "t_s": t_s,
        "dut1": np.asarray(t.dut1, dtype=float),
        "sky_ecef": sky_ecef,
        "sky_teme": sky_teme,
    }


def test_ecef_matches_skyfield_itrs(case):
    orbits = Orbits(case["satrecs"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PropagationWarning)
        got = orbits.ecef_m(case["start"], case["t_s"], dut1_s=case["dut1"])
    assert got.shape == case["sky_ecef"].shape
    err = np.linalg.norm(got - case["sky_ecef"], axis=-1)
    assert np.isfinite(err).all()
    assert err.max() <= 1.0, f"{case['name']}: max ECEF error vs Skyfield {err.max():.3e} m"
    # Sanity: the positions are LEO positions, not zeros.
    r = np.linalg.norm(got, axis=-1)
    assert 6.6e6 < r.min() and r.max() < 7.0e6


def test_teme_matches_skyfield_and_sgp4(case):
    orbits = Orbits(case["satrecs"])
    r_km, v_km_s, err = orbits.teme_km(case["start"], case["t_s"])
    assert (err == 0).all()
    assert r_km.shape == v_km_s.shape == case["sky_teme"].shape
    d_m = np.linalg.norm(r_km - case["sky_teme"], axis=-1) * 1e3
    assert d_m.max() <= 1.0, f"{case['name']}: max TEME error vs Skyfield {d_m.max():.3e} m"
    # And against sgp4's scalar propagator on a sample of times (the loop is slow).
    idx = np.arange(0, len(case["t_s"]), 10)
    ref = _sgp4_loop_teme_km(case["satrecs"], case["start"], case["t_s"][idx])
    d2_m = np.linalg.norm(r_km[idx] - ref, axis=-1) * 1e3
    assert d2_m.max() <= 1.0, f"{case['name']}: max TEME error vs Satrec.sgp4 {d2_m.max():.3e} m"


def test_ignoring_dut1_costs_earth_rotation_times_dut1(case):
    """Without UT1 − UTC, each point is rotated by ω·dut1 about z: error = ω·|dut1|·ρ."""
    orbits = Orbits(case["satrecs"])
    got = orbits.ecef_m(case["start"], case["t_s"], dut1_s=0.0)
    err = np.linalg.norm(got - case["sky_ecef"], axis=-1)
    rho = np.hypot(case["sky_ecef"][..., 0], case["sky_ecef"][..., 1])
    expected = EARTH_ROTATION_RAD_S * np.abs(case["dut1"])[:, None] * rho
    np.testing.assert_allclose(err, expected, rtol=1e-3, atol=1e-3)
    # |dut1| is 0.033 s in May 2026 (up to 16 m) and 0.355 s on 2000-01-01 (up to 180 m).
    assert err.max() > 10.0, f"{case['name']}: ignoring dut1 moved points by {err.max():.2f} m"
    if case["name"] == "walker-550":
        assert err.max() > 150.0, f"ignoring dut1 in 2000 moves satellites by {err.max():.1f} m"


def test_dut1_from_constructor_is_used():
    satrecs, start, t_s = _walker_case()
    dut1 = 0.3554779
    a = Orbits(satrecs, dut1_s=dut1).ecef_m(start, t_s[:5])
    b = Orbits(satrecs).ecef_m(start, t_s[:5], dut1_s=dut1)
    c = Orbits(satrecs).ecef_m(start, t_s[:5])
    np.testing.assert_array_equal(a, b)
    assert np.linalg.norm(a - c, axis=-1).min() > 1.0


def test_naive_datetime_is_utc():
    satrecs, start, t_s = _walker_case()
    o = Orbits(satrecs[:5])
    a = o.ecef_m(start, t_s[:3])
    b = o.ecef_m(start.replace(tzinfo=None), t_s[:3])
    np.testing.assert_array_equal(a, b)


# --- GMST -----------------------------------------------------------------------------------


def test_gmst82_matches_skyfield_for_many_dates():
    rng = np.random.default_rng(82)
    # 1957 .. 2100, split Julian dates as callers pass them (whole + fraction).
    whole = np.floor(rng.uniform(2436000.0, 2488000.0, 5000)) + 0.5
    frac = rng.uniform(0.0, 1.0, 5000)
    got = gmst82_rad(whole, frac)
    want, _ = theta_GMST1982(whole, frac)
    diff = np.angle(np.exp(1j * (got - want)))
    assert np.abs(diff).max() < 1e-12, f"max GMST difference {np.abs(diff).max():.2e} rad"
    assert ((got >= 0.0) & (got < 2 * math.pi)).all()


def test_gmst82_vallado_example_3_5():
    """Vallado, Fundamentals of Astrodynamics, Example 3-5: 1992-08-20 12:14 UT1."""
    jd, fr = jday(1992, 8, 20, 12, 14, 0.0)
    assert abs(jd + fr - 2448855.009722) < 1e-6
    got_deg = math.degrees(float(gmst82_rad(jd, fr)))
    assert abs(got_deg - 152.578787886) < 1e-6, got_deg


# --- Streaming ------------------------------------------------------------------------------


def test_iter_ecef_matches_one_shot_and_is_bounded():
    c = preset("starlink-550-hypatia")
    orbits = Orbits(c.satrecs[::4], dut1_s=0.25)
    start = datetime(2000, 1, 1, 0, 0, 30, tzinfo=UTC)
    t_s = np.arange(0.0, 600.0, 7.0)
    one_shot = orbits.ecef_m(start, t_s)
    step_bytes = orbits.num_sats * 3 * 8
    max_chunk = 5 * step_bytes  # room for a handful of steps' positions at most
    chunks = list(orbits.iter_ecef_m(start, t_s, max_chunk_bytes=max_chunk))
    assert len(chunks) > 10
    for ts_chunk, pos in chunks:
        assert pos.shape == (len(ts_chunk), orbits.num_sats, 3)
        assert 1 <= len(ts_chunk)
        assert pos.nbytes <= max_chunk
    np.testing.assert_array_equal(np.concatenate([c[0] for c in chunks]), t_s)
    np.testing.assert_array_equal(np.concatenate([c[1] for c in chunks]), one_shot)


def test_iter_ecef_smaller_than_one_step_yields_single_steps():
    c = preset("starlink-550-hypatia")
    orbits = Orbits(c.satrecs[:50])
    start = datetime(2000, 1, 1, tzinfo=UTC)
    t_s = np.arange(0.0, 50.0, 10.0)
    chunks = list(orbits.iter_ecef_m(start, t_s, max_chunk_bytes=1))
    assert [len(ts) for ts, _ in chunks] == [1] * len(t_s)
    np.testing.assert_array_equal(np.concatenate([p for _, p in chunks]), orbits.ecef_m(start, t_s))


# --- Decayed satellites ---------------------------------------------------------------------

DECAY_START = datetime(2023, 8, 14, 12, 0, tzinfo=UTC)  # JD 2460171.0
DECAY_T_S = np.array([0.0, 600.0, 3600.0])


def _sgp4_flags(satrecs, start: datetime, t_s) -> np.ndarray:
    """(n_sats,) bool: does sgp4 report any error at any of t_s (independent of leosim)?"""
    jd, fr = jday(start.year, start.month, start.day, start.hour, start.minute, start.second)
    flags = np.zeros(len(satrecs), dtype=bool)
    for j, s in enumerate(satrecs):
        for dt in t_s:
            e, _, _ = s.sgp4(jd, fr + dt / 86400.0)
            if e != 0:
                assert e == 6
                flags[j] = True
    return flags


def test_decayed_fixture_is_what_it_claims():
    cat = read_tle(DECAYED_TLE)
    flags = _sgp4_flags(cat.satrecs, DECAY_START, DECAY_T_S)
    assert [n for n, f in zip(cat.names, flags, strict=True) if f] == [
        "STARLINK-1026",
        "STARLINK-1070",
        "STARLINK-1074",
        "STARLINK-2451",
        "STARLINK-3600",
    ]
    # All ten propagate at the catalogue epoch.
    assert not _sgp4_flags(cat.satrecs, datetime(2023, 7, 19, tzinfo=UTC), DECAY_T_S).any()


@pytest.mark.skipif(not (SHARED / "data" / "tle").is_dir(), reason="shared/ data absent")
@pytest.mark.parametrize(
    ("ours", "full", "step"),
    [
        (DECAYED_TLE, "starlink-2023-07-18.tle", None),
        (SUBSET_TLE, "starlink-2026-05-12.tle", 70),
    ],
)
def test_committed_tle_subsets_come_from_shared_catalogues(ours, full, step):
    full_lines = (SHARED / "data" / "tle" / full).read_text().splitlines()
    full_triples = [tuple(full_lines[i : i + 3]) for i in range(0, len(full_lines), 3)]
    our_lines = ours.read_text().splitlines()
    our_triples = [tuple(our_lines[i : i + 3]) for i in range(0, len(our_lines), 3)]
    if step is None:
        assert set(our_triples) <= set(full_triples)
    else:
        assert our_triples == full_triples[::step]


def test_drop_unpropagatable_drops_exactly_sgp4_failures():
    c = from_tle(DECAYED_TLE)
    assert len(c) == 10
    flags = _sgp4_flags(c.satrecs, DECAY_START, DECAY_T_S)
    n_bad = int(flags.sum())
    assert n_bad == 5
    with pytest.warns(PropagationWarning) as rec:
        kept_c, kept = drop_unpropagatable(c, DECAY_START, DECAY_T_S)
    messages = [str(w.message) for w in rec if issubclass(w.category, PropagationWarning)]
    assert len(messages) == 1
    assert re.search(rf"\b{n_bad}\b", messages[0]), messages[0]
    np.testing.assert_array_equal(kept, np.flatnonzero(~flags))
    assert kept_c.names == [c.names[i] for i in np.flatnonzero(~flags)]
    assert len(kept_c) == len(kept_c.satrecs) == len(kept_c.shell) == 5
    assert sorted(i for i, _, _ in kept_c.set_aside) == np.flatnonzero(flags).tolist()
    assert all("6" in why for _, _, why in kept_c.set_aside)
    # The survivors propagate cleanly.
    with warnings.catch_warnings():
        warnings.simplefilter("error", PropagationWarning)
        pos = Orbits.from_constellation(kept_c).ecef_m(DECAY_START, DECAY_T_S)
    assert np.isfinite(pos).all()


def test_drop_unpropagatable_failure_only_at_a_later_time():
    """A satellite that is fine at t=0 but decays before the last t_s is dropped too."""
    c = from_tle(DECAYED_TLE)
    start = datetime(2023, 8, 3, 12, 0, tzinfo=UTC)  # JD 2460160.0: all ten still fly
    t_s = np.array([0.0, 3.0 * 86400.0])  # 2023-08-06 12:00: three of them have decayed
    assert not _sgp4_flags(c.satrecs, start, [0.0]).any()
    flags = _sgp4_flags(c.satrecs, start, t_s)
    assert flags.sum() == 3
    with pytest.warns(PropagationWarning, match=rf"\b{int(flags.sum())}\b"):
        _, kept = drop_unpropagatable(c, start, t_s)
    np.testing.assert_array_equal(kept, np.flatnonzero(~flags))


def test_drop_unpropagatable_keeps_all_when_healthy():
    c = from_tle(DECAYED_TLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PropagationWarning)
        same, kept = drop_unpropagatable(c, datetime(2023, 7, 19, tzinfo=UTC), DECAY_T_S)
    assert len(same) == 10
    np.testing.assert_array_equal(kept, np.arange(10))


def test_ecef_is_nan_exactly_where_sgp4_fails():
    c = from_tle(DECAYED_TLE)
    flags = _sgp4_flags(c.satrecs, DECAY_START, DECAY_T_S)
    with pytest.warns(PropagationWarning, match=r"\b5\b"):
        pos = Orbits.from_constellation(c).ecef_m(DECAY_START, DECAY_T_S)
    nan = np.isnan(pos).any(axis=-1)
    np.testing.assert_array_equal(nan, np.broadcast_to(flags, nan.shape))
    assert np.isnan(pos[:, flags]).all()
    # The healthy ones still agree with Skyfield.
    t = _skyfield_times(DECAY_START, DECAY_T_S)
    good = [s for s, f in zip(c.satrecs, flags, strict=True) if not f]
    sky, _ = _skyfield_positions(good, t)
    mine = Orbits(good).ecef_m(DECAY_START, DECAY_T_S, dut1_s=np.asarray(t.dut1))
    assert np.linalg.norm(mine - sky, axis=-1).max() <= 1.0


def test_error_codes_match_sgp4():
    c = from_tle(DECAYED_TLE)
    codes = Orbits.from_constellation(c).error_codes(DECAY_START, DECAY_T_S)
    jd, fr = jday(2023, 8, 14, 12, 0, 0.0)
    want = np.array([[s.sgp4(jd, fr + dt / 86400.0)[0] for s in c.satrecs] for dt in DECAY_T_S])
    np.testing.assert_array_equal(codes, want)


def _subset_orbits():
    c = from_tle(read_tle(SUBSET_TLE))
    return c, Orbits(c.satrecs)


@pytest.mark.parametrize("which", ["catalogue", "walker"])
def test_interpolated_positions_stay_within_the_tolerance_of_sgp4(which):
    """Between SGP4 knots every ``knot_spacing_s`` the cubic is within 0.1 mm of SGP4 itself
    (real TLEs near their epoch, and a Walker shell), and equal to it at the knots."""
    if which == "catalogue":
        c, orbits = _subset_orbits()
        start = datetime(2026, 5, 13, 3, 0, 0, tzinfo=UTC)
    else:
        c = preset("starlink-550-hypatia")
        orbits = Orbits(c.satrecs[::3])
        start = datetime(2000, 1, 1, tzinfo=UTC)
    h = knot_spacing_s(c.satrecs)
    assert 1.0 < h <= MAX_KNOT_S
    t_s = np.arange(0.0, 300.0, 0.1) + 0.05
    direct = orbits.ecef_m(start, t_s)
    interp = orbits.ecef_m(start, t_s, knot_s=h)
    err_m = np.linalg.norm(interp - direct, axis=2)
    assert err_m.max() <= INTERPOLATION_TOLERANCE_M
    assert err_m.max() > 0.0  # it did interpolate
    knots = np.arange(0, 50) * h
    np.testing.assert_array_equal(
        orbits.ecef_m(start, knots, knot_s=h), orbits.ecef_m(start, knots)
    )


def test_interpolated_position_depends_only_on_its_own_time():
    _, orbits = _subset_orbits()
    start = datetime(2026, 5, 13, tzinfo=UTC)
    t_s = np.arange(0.0, 40.0, 0.1)
    whole = orbits.ecef_m(start, t_s, knot_s=2.0)
    for part in (t_s[:7], t_s[123:124], t_s[200:371]):
        np.testing.assert_array_equal(
            orbits.ecef_m(start, part, knot_s=2.0), whole[np.searchsorted(t_s, part)]
        )


def test_knot_spacing_refuses_eccentric_orbits_and_shrinks_with_tolerance():
    c, _ = _subset_orbits()
    h = knot_spacing_s(c.satrecs)
    # The bound goes as tol**(1/4).
    assert knot_spacing_s(c.satrecs, tol_m=INTERPOLATION_TOLERANCE_M / 16) == pytest.approx(h / 2)
    sat = c.satrecs[0]
    molniya = Satrec.twoline2rv(
        "1 99999U 24001A   26132.50000000  .00000000  00000-0  00000-0 0  9990",
        "2 99999  63.4000 100.0000 7400000 270.0000  90.0000  2.00600000    01",
    )
    assert knot_spacing_s([sat, molniya]) == 0.0
    assert knot_spacing_s([]) == 0.0


def test_network_interpolates_only_dense_steps_unless_told_not_to():
    from leosim.scenario import parse_scenario
    from leosim.simulate import build_network

    def net(time):
        data = {
            "constellation": {"preset": "starlink-550-hypatia"},
            "ground_stations": {"builtin": "cities-top-100"},
            "time": time,
        }
        return build_network(parse_scenario(data, source="<t>"))

    h = knot_spacing_s(preset("starlink-550-hypatia").satrecs)
    dense = net({"duration_s": 1.0, "step_s": 0.1})
    m = round(dense.knot_s / 0.1)
    assert m >= 2 and dense.knot_s == m * 0.1 and dense.knot_s <= h < (m + 1) * 0.1
    assert net({"duration_s": 1.0, "step_s": 0.1, "sgp4_every_step": True}).knot_s == 0.0
    assert net({"duration_s": 60.0, "step_s": 2.0}).knot_s == 0.0  # no gain
    assert net({"times_s": [0.0, 0.1, 0.2]}).knot_s == 0.0
