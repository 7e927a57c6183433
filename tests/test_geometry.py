"""Geometry: geodetic ↔ Earth-fixed, link-length limits, ground links and +Grid ISLs.

Truth comes from pyproj (PROJ), Skyfield's topocentric alt/az, hand formulas written here, the
numbers in Hypatia's README and Hypatia's own per-station visibility output.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyproj
import pytest
from skyfield.api import EarthSatellite, load
from skyfield.toposlib import Geoid

from leosim.constants import WGS72, WGS84
from leosim.constellation import preset
from leosim.ground import builtin_stations, ecef_to_geodetic, geodetic_to_ecef_m, local_up
from leosim.links import (
    cone_slant_range_m,
    ground_links,
    max_isl_length_m,
    max_slant_range_m,
    plus_grid_isls,
)
from leosim.orbits import Orbits

DATA = Path(__file__).resolve().parent / "data"
R_WGS72 = 6_378_135.0
TS = load.timescale(builtin=True)
HYPATIA_T0 = datetime(2000, 1, 1, tzinfo=UTC)


def _pyproj_geocentric(ellps: str):
    if ellps == "WGS84":
        return pyproj.Transformer.from_crs("EPSG:4326", "EPSG:4978", always_xy=True)
    return pyproj.Transformer.from_crs(
        f"+proj=latlong +ellps={ellps}", f"+proj=geocent +ellps={ellps}", always_xy=True
    )


def _random_geodetic(n: int, seed: int, h_max: float):
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))  # uniform over the sphere
    lon = rng.uniform(-180.0, 180.0, n)
    h = rng.uniform(-500.0, h_max, n)
    # Edge cases: poles, equator, date line, prime meridian.
    lat[:6] = [90.0, -90.0, 0.0, 0.0, 89.999999, -45.0]
    lon[:6] = [0.0, 123.0, 180.0, -180.0, 10.0, 0.0]
    return lat, lon, h


# --- geodetic ↔ ECEF --------------------------------------------------------------------------


@pytest.mark.parametrize(("ellipsoid", "ellps"), [(WGS72, "WGS72"), (WGS84, "WGS84")])
def test_geodetic_to_ecef_matches_pyproj(ellipsoid, ellps):
    lat, lon, h = _random_geodetic(20_000, 1, 2_000e3)
    x, y, z = _pyproj_geocentric(ellps).transform(lon, lat, h)
    got = geodetic_to_ecef_m(lat, lon, h, ellipsoid)
    assert got.shape == (len(lat), 3)
    err = np.linalg.norm(got - np.stack([x, y, z], axis=-1), axis=-1)
    assert err.max() < 1e-3, f"max error vs pyproj {err.max():.2e} m"


def test_geodetic_to_ecef_default_is_wgs72_and_broadcasts():
    got = geodetic_to_ecef_m(np.array([[10.0], [20.0]]), np.array([1.0, 2.0, 3.0]))
    assert got.shape == (2, 3, 3)
    x, y, z = _pyproj_geocentric("WGS72").transform(2.0, 20.0, 0.0)
    np.testing.assert_allclose(got[1, 1], [x, y, z], atol=1e-3, rtol=0)


@pytest.mark.parametrize(("ellipsoid", "ellps"), [(WGS72, "WGS72"), (WGS84, "WGS84")])
def test_ecef_to_geodetic_inverts_pyproj_positions(ellipsoid, ellps):
    lat, lon, h = _random_geodetic(20_000, 2, 2_000e3)
    x, y, z = _pyproj_geocentric(ellps).transform(lon, lat, h)
    glat, glon, gh = ecef_to_geodetic(np.stack([x, y, z], axis=-1), ellipsoid)
    assert np.abs(glat - lat).max() < 1e-9
    assert np.abs(gh - h).max() < 1e-3, f"max height error {np.abs(gh - h).max():.2e} m"
    not_pole = np.abs(lat) < 90.0
    dlon = (glon - lon + 180.0) % 360.0 - 180.0
    # Longitude error measured as a distance along the parallel (degrees at the pole mean nothing).
    assert (np.abs(dlon[not_pole]) * np.cos(np.radians(lat[not_pole]))).max() < 1e-9


def test_ecef_to_geodetic_of_arbitrary_points_maps_back_through_pyproj():
    """Arbitrary Earth-fixed points (radius 6300..8400 km): pyproj's forward transform of the
    geodetic coordinates leosim finds must land on the point again.  (PROJ 9's own inverse is
    not the reference here: it is a non-iterated Bowring step, off by up to 3 cm at 2000 km.)"""
    rng = np.random.default_rng(3)
    p = rng.normal(size=(5000, 3))
    p *= (rng.uniform(6.3e6, 8.4e6, 5000) / np.linalg.norm(p, axis=1))[:, None]
    glat, glon, gh = ecef_to_geodetic(p)
    x, y, z = _pyproj_geocentric("WGS72").transform(glon, glat, gh)
    err = np.linalg.norm(np.stack([x, y, z], axis=-1) - p, axis=-1)
    assert err.max() < 1e-3, f"max error {err.max():.2e} m"


def test_local_up_is_the_ellipsoid_normal():
    """The vertical is the gradient of x²/a² + y²/a² + z²/b² at the surface point."""
    lat, lon, _ = _random_geodetic(2000, 4, 0.0)
    x, y, z = _pyproj_geocentric("WGS72").transform(lon, lat, np.zeros_like(lat))
    a, b = WGS72.a_m, WGS72.b_m
    grad = np.stack([x / a**2, y / a**2, z / b**2], axis=-1)
    grad /= np.linalg.norm(grad, axis=-1, keepdims=True)
    up = local_up(lat, lon)
    np.testing.assert_allclose(np.linalg.norm(up, axis=-1), 1.0, atol=1e-14)
    assert np.abs(up - grad).max() < 1e-12


# --- link limits ------------------------------------------------------------------------------


def test_max_isl_length_hypatia_value():
    hand = 2.0 * math.sqrt((R_WGS72 + 550e3) ** 2 - (R_WGS72 + 80e3) ** 2)
    assert round(hand, 4) == 5_016_591.2331  # the value printed in Hypatia's README
    assert max_isl_length_m(550e3) == pytest.approx(5_016_591.2331, abs=5e-5)


def test_max_isl_length_below_grazing_rejected():
    from leosim.errors import InputError

    with pytest.raises(InputError):
        max_isl_length_m(50e3)


def test_max_slant_range_limits():
    for h in (340e3, 550e3, 1015e3, 1200e3):
        assert max_slant_range_m(h, 90.0) == pytest.approx(h, abs=1e-6)
        horizon = math.sqrt((R_WGS72 + h) ** 2 - R_WGS72**2)
        assert max_slant_range_m(h, 0.0) == pytest.approx(horizon, abs=1e-6)


@pytest.mark.parametrize("elev", [10.0, 25.0, 40.0, 65.0])
def test_max_slant_range_law_of_sines(elev):
    """Triangle Earth centre O, station G, satellite S: the angle at G is 90° + ε."""
    h = 550e3
    r, rs = R_WGS72, R_WGS72 + h
    eps = math.radians(elev)
    angle_s = math.asin(r * math.sin(math.pi / 2 + eps) / rs)
    angle_o = math.pi - (math.pi / 2 + eps) - angle_s
    d = rs * math.sin(angle_o) / math.sin(math.pi / 2 + eps)
    assert max_slant_range_m(h, elev) == pytest.approx(d, rel=1e-12)
    # Decreasing with elevation.
    assert max_slant_range_m(h, elev + 1.0) < max_slant_range_m(h, elev)


def test_cone_slant_range_hypatia_value():
    assert round(cone_slant_range_m(550e3, 940.7e3), 4) == 1_089_686.4182
    # Hypatia's 940.7 km cone stands for about 25°: within 4% of the spherical 25° range.
    assert cone_slant_range_m(550e3, 940.7e3) == pytest.approx(
        max_slant_range_m(550e3, 25.0), rel=0.04
    )


# --- ground links -----------------------------------------------------------------------------


def _brute_force(gs_lat, gs_lon, gs_h, sat_pos):
    """Elevation (deg) and range (m) of every station-satellite pair, from pyproj positions and
    the ellipsoid-gradient vertical (not leosim's local_up)."""
    x, y, z = _pyproj_geocentric("WGS72").transform(gs_lon, gs_lat, gs_h)
    g = np.stack([x, y, z], axis=-1)
    a, b = WGS72.a_m, WGS72.b_m
    # The normal at the foot point (h = 0); the vertical does not change with height.
    x0, y0, z0 = _pyproj_geocentric("WGS72").transform(gs_lon, gs_lat, np.zeros_like(gs_h))
    n = np.stack([x0 / a**2, y0 / a**2, z0 / b**2], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    d = sat_pos[None, :, :] - g[:, None, :]
    rng = np.linalg.norm(d, axis=-1)
    el = np.degrees(np.arcsin(np.einsum("gsi,gi->gs", d, n) / rng))
    return el, rng


@pytest.fixture(scope="module")
def hypatia_step():
    """Positions of the Hypatia Starlink shell 100 s after its epoch, and the top-100 cities."""
    sats = Orbits.from_constellation(preset("starlink-550-hypatia")).ecef_m(HYPATIA_T0, [100.0])[0]
    return sats, builtin_stations("hypatia-top-100")


def _pairs(gl) -> set[tuple[int, int]]:
    return set(zip(gl.gs.tolist(), gl.sat.tolist(), strict=True))


def test_ground_links_match_brute_force_elevation(hypatia_step):
    sats, gs = hypatia_step
    el, rng = _brute_force(gs.latitude_deg, gs.longitude_deg, gs.elevation_m, sats)
    gl = ground_links(gs.ecef_m(), gs.up(), sats, min_elevation_deg=25.0)
    got = _pairs(gl)
    want = set(map(tuple, np.argwhere(el >= 25.0).tolist()))
    assert len(want) > 300  # about 5 satellites per city above 25°
    for g, s in got ^ want:
        assert abs(el[g, s] - 25.0) < 1e-6, (g, s, el[g, s])
    # Sorted by station then satellite, with exact ranges and elevations.
    order = np.lexsort((gl.sat, gl.gs))
    np.testing.assert_array_equal(order, np.arange(len(gl)))
    np.testing.assert_allclose(gl.range_m, rng[gl.gs, gl.sat], rtol=0, atol=1e-3)
    np.testing.assert_allclose(gl.elevation_deg, el[gl.gs, gl.sat], rtol=0, atol=1e-8)
    np.testing.assert_array_equal(gl.counts(len(gs)), np.bincount(gl.gs, minlength=len(gs)))


def test_ground_links_range_and_elevation_limits_together(hypatia_step):
    sats, gs = hypatia_step
    el, rng = _brute_force(gs.latitude_deg, gs.longitude_deg, gs.elevation_m, sats)
    max_r = cone_slant_range_m(550e3, 940.7e3)
    gl = ground_links(gs.ecef_m(), gs.up(), sats, max_range_m=max_r, min_elevation_deg=30.0)
    want = set(map(tuple, np.argwhere((rng <= max_r) & (el >= 30.0)).tolist()))
    assert _pairs(gl) == want
    # Per-satellite limits: half the satellites get a stricter elevation mask.
    mask = np.where(np.arange(len(sats)) % 2 == 0, 25.0, 40.0)
    gl2 = ground_links(gs.ecef_m(), gs.up(), sats, min_elevation_deg=mask)
    want2 = set(map(tuple, np.argwhere(el >= mask[None, :]).tolist()))
    assert _pairs(gl2) == want2


def test_ground_links_elevations_match_skyfield_altaz():
    """A handful of pairs checked against Skyfield's topocentric alt/az on the WGS72 ellipsoid."""
    c = preset("starlink-550-hypatia")
    gs = builtin_stations("hypatia-top-100")
    t = TS.utc(2000, 1, 1, 0, 0, 100.0)
    sats = Orbits.from_constellation(c).ecef_m(HYPATIA_T0, [100.0], dut1_s=float(t.dut1))[0]
    gl = ground_links(gs.ecef_m(), gs.up(), sats, min_elevation_deg=10.0)
    wgs72 = Geoid("WGS72", WGS72.a_m, 1.0 / WGS72.f)
    picks = np.linspace(0, len(gl) - 1, 12).astype(int)
    for k in picks:
        g, s = int(gl.gs[k]), int(gl.sat[k])
        station = wgs72.latlon(gs.latitude_deg[g], gs.longitude_deg[g], gs.elevation_m[g])
        sat = EarthSatellite.from_satrec(c.satrecs[s], TS)
        alt, _, dist = (sat - station).at(t).altaz()
        assert gl.elevation_deg[k] == pytest.approx(alt.degrees, abs=1e-6), (g, s)
        assert gl.range_m[k] == pytest.approx(dist.m, abs=1e-2), (g, s)


def test_ground_links_match_hypatia_visibility_counts():
    """Hypatia's own output: satellites within 1,089,686.4182 m of each city at t = 0."""
    sats = Orbits.from_constellation(preset("starlink-550-hypatia")).ecef_m(HYPATIA_T0, [0.0])[0]
    gs = builtin_stations("hypatia-top-100")
    with (DATA / "hypatia" / "gs_visibility_t0.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(gs) == 100
    max_r = cone_slant_range_m(550e3, 940.7e3)
    gl = ground_links(gs.ecef_m(), gs.up(), sats, max_range_m=max_r, min_elevation_deg=-90.0)
    counts = gl.counts(len(gs))
    for row in rows:
        g = int(row["gid"])
        assert row["name"] == gs.names[g]
        mine = gl.range_m[gl.gs == g]
        # Hypatia (pyephem) and SGP4 + GMST agree to ~26 m: a satellite within that of the
        # limit may count differently.
        near_edge = int((np.abs(mine - max_r) < 50.0).sum())
        assert abs(counts[g] - int(row["num_sats_in_range"])) <= near_edge, row
        best = int(np.argmin(mine))
        assert int(gl.sat[gl.gs == g][best]) == int(row["nearest_sat"]), row
        assert mine[best] == pytest.approx(float(row["nearest_range_m"]), abs=50.0), row


def test_ground_links_many_stations_with_failed_satellites(hypatia_step):
    sats, _ = hypatia_step
    sats = sats.copy()
    sats[::97] = np.nan  # a few failed propagations: never visible
    rng = np.random.default_rng(5)
    n = 3000
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    h = rng.uniform(-400.0, 5000.0, n)
    gpos, up = geodetic_to_ecef_m(lat, lon, h), local_up(lat, lon)
    kd = ground_links(gpos, up, sats, max_range_m=2.0e6, min_elevation_deg=25.0)

    assert len(kd) > 1000
    assert np.all(np.diff(kd.gs * len(sats) + kd.sat) > 0)  # sorted by (station, satellite)
    assert not np.isin(kd.sat, np.arange(0, len(sats), 97)).any()
    # The brute-force answer.
    el, _ = _brute_force(lat, lon, h, sats)
    with np.errstate(invalid="ignore"):
        want = set(map(tuple, np.argwhere(el >= 25.0).tolist()))
    for g, s in _pairs(kd) ^ want:
        assert abs(el[g, s] - 25.0) < 1e-6


# Regression: the search radius once clamped the 0.3 deg slack away for masks below 0.3 deg.
def test_ground_links_zero_elevation_mask_misses_nothing(hypatia_step):
    sats, _ = hypatia_step
    rng = np.random.default_rng(6)
    n = 200
    lat = np.full(n, 45.0)
    lon = rng.uniform(-180.0, 180.0, n)
    h = np.zeros(n)
    el, _ = _brute_force(lat, lon, h, sats)
    gl = ground_links(geodetic_to_ecef_m(lat, lon, h), local_up(lat, lon), sats)
    want = set(map(tuple, np.argwhere(el >= 1e-6).tolist()))
    missing = want - _pairs(gl)
    assert not missing, f"{len(missing)} visible pairs missed, max elevation " + str(
        max(el[g, s] for g, s in missing)
    )


# --- +Grid ISLs -------------------------------------------------------------------------------


def _hypatia_plus_grid(p: int, s: int, shift: int = 0, offset: int = 0) -> set[tuple[int, int]]:
    """Hypatia README: (o,n)-(o,n+1 mod S) and (o,n)-(o+1 mod P,(n+shift) mod S)."""
    out = set()
    for o in range(p):
        for n in range(s):
            a = o * s + n
            for b in (o * s + (n + 1) % s, ((o + 1) % p) * s + (n + shift) % s):
                if a != b:
                    out.add((offset + min(a, b), offset + max(a, b)))
    return out


def test_plus_grid_starlink_550():
    pairs = plus_grid_isls(72, 22)
    assert pairs.shape == (3168, 2)
    as_set = set(map(tuple, pairs.tolist()))
    assert len(as_set) == 3168
    assert as_set == _hypatia_plus_grid(72, 22)
    degree = np.bincount(pairs.ravel(), minlength=1584)
    assert (degree == 4).all()
    assert pairs.min() == 0 and pairs.max() == 1583


@pytest.mark.parametrize(("p", "s", "shift", "offset"), [(72, 22, 1, 0), (34, 34, 5, 1584)])
def test_plus_grid_with_shift_and_offset(p, s, shift, offset):
    pairs = plus_grid_isls(p, s, isl_shift=shift, offset=offset)
    as_set = set(map(tuple, (np.sort(pairs, axis=1)).tolist()))
    assert len(as_set) == len(pairs) == 2 * p * s
    assert as_set == _hypatia_plus_grid(p, s, shift, offset)
    degree = np.bincount(pairs.ravel() - offset, minlength=p * s)
    assert (degree == 4).all()
    # A shift really changes the inter-plane links.
    assert as_set != _hypatia_plus_grid(p, s, 0, offset)


@pytest.mark.parametrize(("p", "s"), [(2, 3), (1, 5), (3, 2)])
def test_plus_grid_degenerate_shells_have_no_duplicates(p, s):
    pairs = plus_grid_isls(p, s)
    as_set = set(map(tuple, np.sort(pairs, axis=1).tolist()))
    assert len(as_set) == len(pairs)
    assert as_set == _hypatia_plus_grid(p, s)


def test_plus_grid_isl_lengths_within_limit_for_hypatia_shell(hypatia_step):
    sats, _ = hypatia_step
    pairs = plus_grid_isls(72, 22)
    d = np.linalg.norm(sats[pairs[:, 0]] - sats[pairs[:, 1]], axis=-1)
    assert d.max() < max_isl_length_m(550e3)
    assert d.min() > 100e3
