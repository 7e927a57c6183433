"""Coverage against brute-force geometry and hand-computed cases."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from leosim.coverage import Points, coverage, equal_area_grid
from leosim.errors import InputError
from leosim.ground import geodetic_to_ecef_m, local_up
from leosim.links import visible_counts
from leosim.orbits import Orbits
from leosim.policy import parse_policy
from leosim.scenario import parse_scenario
from leosim.simulate import build_network


@pytest.fixture(scope="module")
def net550():
    return build_network(
        parse_scenario(
            {
                "constellation": {"preset": "starlink-550-hypatia"},
                "links": {"isl": "none"},
                "time": {"times_s": [0]},
            }
        )
    )


def _brute_counts(lat, lon, sats, min_el):
    """Elevation of every satellite from every point, from first principles (ENU 'up')."""
    p = geodetic_to_ecef_m(lat, lon, 0.0)
    up = local_up(lat, lon)
    d = sats[None, :, :] - p[:, None, :]
    el = np.degrees(np.arcsin(np.einsum("psi,pi->ps", d, up) / np.linalg.norm(d, axis=2)))
    return (el >= min_el).sum(axis=1), el


def test_equal_area_grid_cells_have_equal_area():
    g = equal_area_grid(1.0)
    assert abs(len(g) - 41_253) < 50
    assert g.weight.sum() == pytest.approx(4 * np.pi * 6371.0088**2, rel=1e-9)
    # Cells per band are rounded: 99 % of cells within 1 % of the mean area, all within 10 %.
    dev = np.abs(g.weight / g.weight.mean() - 1.0)
    assert np.percentile(dev, 99) < 0.01 and dev.max() < 0.1
    assert g.latitude_deg.min() > -90 and g.longitude_deg.max() < 180


def test_grid_too_fine_is_refused_before_any_work():
    with pytest.raises(InputError, match=r"coverage\.resolution_deg"):
        equal_area_grid(0.001)
    with pytest.raises(InputError):
        equal_area_grid(-1.0)


def test_visible_counts_match_brute_force(net550):
    pos = Orbits.from_constellation(net550.constellation).ecef_m(net550.start, [123.0])[0]
    rng = np.random.default_rng(3)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    lon = rng.uniform(-180, 180, 2000)
    for min_el in (10.0, 25.0, 40.0):
        want, el = _brute_counts(lat, lon, pos, min_el)
        got = visible_counts(
            geodetic_to_ecef_m(lat, lon, 0.0), local_up(lat, lon), pos, min_elevation_deg=min_el
        )
        near = (np.abs(el - min_el) < 1e-7).sum(axis=1)
        assert np.all(np.abs(got - want) <= near), f"min_el {min_el}"
        assert want.sum() > 1000


def test_equator_sees_a_53_deg_shell_and_the_pole_does_not(net550):
    # The ground track of a 53 deg shell never goes beyond 53 deg; at 25 deg elevation a 550 km
    # satellite is seen up to ~9 deg of arc away, so nothing reaches the pole.
    pts = Points(np.array([0.0, 0.0, 89.9, -89.9]), np.array([0.0, 90.0, 0.0, 0.0]), np.ones(4))
    res = coverage(net550, pts, np.arange(0, 5700, 300.0), min_elevation_deg=25.0)
    assert np.all(res.min_visible[:2] >= 1) and np.all(res.covered_fraction[:2] == 1.0)
    assert np.all(res.max_visible[2:] == 0) and np.all(res.covered_fraction[2:] == 0.0)
    assert np.all(res.longest_gap_s[2:] == pytest.approx(5700.0))


def test_gaps_and_covered_fraction_by_hand(net550):
    """A point at 61 deg latitude is at the edge of a 53 deg shell's reach: compare the gap
    statistics with the per-step counts computed independently."""
    t = np.arange(0, 3000, 30.0)
    pts = Points(np.array([61.0]), np.array([10.0]), np.ones(1))
    res = coverage(net550, pts, t, min_elevation_deg=25.0)
    pos = Orbits.from_constellation(net550.constellation).ecef_m(net550.start, t)
    seen = np.array(
        [
            _brute_counts(pts.latitude_deg, pts.longitude_deg, pos[k], 25.0)[0][0]
            for k in range(len(t))
        ]
    )
    assert res.covered_fraction[0] == pytest.approx(np.mean(seen > 0))
    assert res.mean_visible[0] == pytest.approx(seen.mean())
    longest = run = 0
    for s in seen:
        run = 0 if s > 0 else run + 1
        longest = max(longest, run)
    assert res.longest_gap_s[0] == pytest.approx(longest * 30.0)
    assert 0 < np.mean(seen > 0) < 1, "the test point should be partly covered"


def test_policy_fenced_points_count_as_not_served(net550):
    pol = parse_policy({"countries": {"TWN": "not_activated"}})
    pts = Points(np.array([25.03, 35.68]), np.array([121.57, 139.69]), np.ones(2))
    res = coverage(net550, pts, [0.0, 600.0], policy=pol)
    assert res.covered_fraction[0] > 0 and res.served_fraction[0] == 0.0
    assert "not activated in TWN" in res.block_reason[0]
    assert res.served_fraction[1] == res.covered_fraction[1]
    agg = res.by_country()
    i = list(agg["country"]).index("TWN")
    assert agg["policy_blocked_share"][i] == 1.0 and agg["served_fraction"][i] == 0.0


def test_coverage_cli(tmp_path):
    sc = tmp_path / "c.toml"
    sc.write_text(
        '[constellation]\npreset = "starlink-550-hypatia"\n[links]\nisl = "none"\n'
        "[coverage]\nresolution_deg = 10\npopulation = false\n[time]\nduration_s = 600\nstep_s = 300\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "leosim.cli", "coverage", str(sc), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    for f in ("grid.csv", "bands.csv", "countries.csv", "coverage_map.png"):
        assert (tmp_path / "o" / f).is_file()
    # Given points: the equator sees the 53 deg shell all the time, the pole never.
    (tmp_path / "p.csv").write_text(
        "terminal_id,latitude_deg,longitude_deg\nquito,0.0,-78.5\npole,89.9,0\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "leosim.cli",
            "coverage",
            str(sc),
            "--points",
            str(tmp_path / "p.csv"),
            "--out",
            str(tmp_path / "op"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    import csv

    rows = {row["label"]: row for row in csv.DictReader(open(tmp_path / "op" / "points.csv"))}
    assert (
        float(rows["quito"]["covered_fraction"]) == 1.0
        and float(rows["pole"]["covered_fraction"]) == 0.0
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "leosim.cli",
            "coverage",
            str(sc),
            "--resolution-deg",
            "0.0001",
            "--out",
            str(tmp_path / "o2"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "resolution_deg" in r.stderr and not (tmp_path / "o2").exists()
