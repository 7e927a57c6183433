"""Parity with Hypatia (snkas/hypatia, IMC 2020) on its own Starlink 550 km scenario.

The truth is Hypatia's output in ``tests/data/hypatia/`` (a copy of ``../shared/reference/
hypatia/``; see its README for the exact parameters).  Nothing here is computed by leosim.
"""

from __future__ import annotations

import csv
import filecmp
from pathlib import Path

import numpy as np
import pytest

from leosim.constellation import preset
from leosim.ground import builtin_stations
from leosim.links import cone_slant_range_m, constellation_isls, ground_links, max_isl_length_m
from leosim.orbits import Orbits
from leosim.routing import num_isl_hops, path_to_str, route_step

DATA = Path(__file__).parent / "data" / "hypatia"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hypatia"
# Hypatia's GSL limit: 940.7 km cone at 550 km, and the 80 km grazing ISL limit.
MAX_GSL_M = cone_slant_range_m(550e3, 940.7e3)
MAX_ISL_M = max_isl_length_m(550e3)


def _rows() -> list[dict[str, str]]:
    with open(DATA / "starlink550_pairs_100ms_0_2s.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def states():
    c = preset("starlink-550-hypatia")
    gs = builtin_stations("hypatia-top-100")
    isl = constellation_isls(c)
    times_ns = sorted({int(r["time_ns"]) for r in _rows()})
    pos = Orbits.from_constellation(c).ecef_m(c.epoch, np.array(times_ns) / 1e9)
    gs_pos, up = gs.ecef_m(), gs.up()
    return {
        t: route_step(pos[i], gs_pos, up, isl, max_range_m=MAX_GSL_M, max_isl_length_m=MAX_ISL_M)
        for i, t in enumerate(times_ns)
    }


def test_test_data_is_a_faithful_copy_of_shared():
    if not SHARED.is_dir():
        pytest.skip("../shared is absent")
    for name in (
        "starlink550_pairs_100ms_0_2s.csv",
        "gs_visibility_t0.csv",
        "tles_starlink550_generated.txt",
    ):
        assert filecmp.cmp(DATA / name, SHARED / name, shallow=False), name


def test_limits_match_hypatia_readme():
    assert MAX_GSL_M == pytest.approx(1_089_686.4182, abs=1e-3)
    assert MAX_ISL_M == pytest.approx(5_016_591.2331, abs=1e-3)


def test_every_rtt_within_0_01_ms(states):
    rows = _rows()
    assert len(rows) == 140
    worst = 0.0
    for r in rows:
        st = states[int(r["time_ns"])]
        rtt = st.rtt_ms(int(r["src_gid"]), int(r["dst_gid"]))
        worst = max(worst, abs(rtt - float(r["rtt_ms"])))
    assert worst < 0.01, f"worst RTT difference {worst:.6f} ms"


def test_forward_paths_identical_on_at_least_95_percent(states):
    rows = _rows()
    same = 0
    for r in rows:
        st = states[int(r["time_ns"])]
        p = path_to_str(st.path(int(r["src_gid"]), int(r["dst_gid"])))
        same += p == r["path_fwd"]
    assert same / len(rows) >= 0.95, f"{same}/{len(rows)} forward paths identical"


def test_hops_links_and_reverse_paths(states):
    n_sats = 1584
    mismatch_rev = 0
    for r in _rows():
        st = states[int(r["time_ns"])]
        s, d = int(r["src_gid"]), int(r["dst_gid"])
        fwd = st.path(s, d)
        if path_to_str(fwd) != r["path_fwd"]:
            continue
        assert num_isl_hops(fwd, n_sats) == int(r["num_isl_hops_fwd"])
        assert fwd[1] == int(r["uplink_sat_fwd"]) and fwd[-2] == int(r["downlink_sat_fwd"])
        # Hypatia's pyephem ranges and ours differ by at most tens of metres (README: 26.3 m).
        assert st.length_m(s, d) == pytest.approx(float(r["length_m_fwd"]), abs=200.0)
        mismatch_rev += path_to_str(st.path(d, s)) != r["path_rev"]
    assert mismatch_rev <= 7


def test_gsl_visibility_at_t0():
    c = preset("starlink-550-hypatia")
    gs = builtin_stations("hypatia-top-100")
    pos = Orbits.from_constellation(c).ecef_m(c.epoch, [0.0])[0]
    links = ground_links(gs.ecef_m(), gs.up(), pos, max_range_m=MAX_GSL_M)
    counts = links.counts(len(gs))
    with open(DATA / "gs_visibility_t0.csv", newline="") as fh:
        truth = list(csv.DictReader(fh))
    assert len(truth) == 100
    diffs = 0
    worst = 0.0
    for r in truth:
        g = int(r["gid"])
        sel = links.gs == g
        # A satellite within ~30 m of the limit may fall either side (pyephem vs sgp4).
        near_edge = np.abs(np.linalg.norm(pos - gs.ecef_m()[g], axis=1) - MAX_GSL_M) < 50.0
        diffs += abs(int(counts[g]) - int(r["num_sats_in_range"])) > int(near_edge.sum())
        if int(r["num_sats_in_range"]) > 0:
            k = np.argmin(links.range_m[sel])
            assert links.sat[sel][k] == int(r["nearest_sat"]), r["name"]
            worst = max(worst, abs(links.range_m[sel][k] - float(r["nearest_range_m"])))
    assert diffs == 0
    # pyephem's and sgp4's ranges differ by tens of metres (README: 26.3 m on the pair rows).
    assert worst < 50.0, f"nearest-satellite range differs by up to {worst:.1f} m"


def test_paris_luanda_quoted_in_hypatia_readme():
    """Hypatia's README: 117 ms at t = 46.8 s and 85 ms at t = 139.9 s (this run: 117.257,
    85.535 ms; 12 and 8 ISL hops)."""
    c = preset("starlink-550-hypatia")
    gs = builtin_stations("hypatia-top-100")
    pos = Orbits.from_constellation(c).ecef_m(c.epoch, [46.8, 139.9])
    isl = constellation_isls(c)
    got = []
    for k in range(2):
        st = route_step(
            pos[k], gs.ecef_m(), gs.up(), isl, max_range_m=MAX_GSL_M, max_isl_length_m=MAX_ISL_M
        )
        got.append((st.rtt_ms(24, 66), num_isl_hops(st.path(24, 66), 1584)))
    assert got[0][0] == pytest.approx(117.257, abs=0.01) and got[0][1] == 12
    assert got[1][0] == pytest.approx(85.535, abs=0.01) and got[1][1] == 8
