"""Tests of the ``starlink-2026-05`` preset: Starlink as deployed in May 2026, as Walker shells.

Without ../shared: the preset is what its data file says (counts, shells, epoch), propagates,
and its +Grid lasers are exactly those that :mod:`leosim.catalogue` infers independently from
the preset's own satellites (nearest argument of latitude in the next plane).  With
../shared (skipped when absent): the preset is bounded against the real catalogue it was fitted
to, by the mean number of satellites visible per 10 deg latitude band, and by where its
satellites are at the epoch.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree
from sgp4.api import SatrecArray

from leosim.catalogue import infer_structure
from leosim.constellation import (
    HYPATIA_EPOCH,
    from_walker_shells,
    preset,
    preset_epoch,
    preset_names,
    preset_shells,
)
from leosim.links import constellation_isls, isl_lengths_m, max_isl_length_m
from leosim.orbits import Orbits, datetime_to_jd

NAME = "starlink-2026-05"
SHARED = Path(__file__).resolve().parents[2] / "shared"
TLE_2026 = SHARED / "data" / "tle" / "starlink-2026-05-12.tle"
EPOCH = datetime(2026, 5, 13, tzinfo=UTC)
R_SPHERE_KM = 6371.0  # mean Earth radius: both constellations are counted on the same sphere
MIN_ELEVATION_DEG = 25.0
ORBIT_S = 5700.0  # longer than the longest period in the preset (~96 min at 572 km)


@pytest.fixture(scope="module")
def doc() -> dict:
    text = resources.files("leosim.data").joinpath("starlink_2026_05_shells.json").read_text()
    return json.loads(text)


@pytest.fixture(scope="module")
def constellation():
    return preset(NAME)


# --- without shared data ----------------------------------------------------------------------


def test_preset_is_what_its_data_file_says(doc, constellation):
    c = constellation
    assert NAME in preset_names()
    assert (
        len(c) == doc["n_sats"] == sum(s["num_planes"] * s["sats_per_plane"] for s in doc["shells"])
    )
    # "≈ 9.6k satellites": within 1 % of the satellites the catalogue puts in shells.
    assert abs(len(c) / doc["source"]["n_sats_in_shells"] - 1) < 0.01
    assert 9_000 < len(c) < 10_000
    assert np.bincount(c.shell).tolist() == [
        s["num_planes"] * s["sats_per_plane"] for s in doc["shells"]
    ]
    keys = [(round(s.inclination_deg, 1), s.altitude_km) for s in c.shells]
    assert keys == sorted(keys)
    assert len({s.name for s in c.shells}) == len(c.shells) == len(doc["shells"]) == 10
    for k, (info, d) in enumerate(zip(c.shells, doc["shells"], strict=True)):
        assert (info.name, info.num_planes, info.sats_per_plane) == (
            d["name"],
            d["num_planes"],
            d["sats_per_plane"],
        )
        members = np.flatnonzero(c.shell == k)
        incl = np.degrees([c.satrecs[i].inclo for i in members])
        np.testing.assert_allclose(incl, d["inclination_deg"], atol=1e-4)  # TLE rounding
        rev_day = np.array([c.satrecs[i].no_kozai for i in members]) * 1440 / (2 * math.pi)
        np.testing.assert_allclose(rev_day, d["mean_motion_rev_per_day"], rtol=1e-7)
        # Mean motion and altitude agree by Kepler's law (WGS72 mu and equatorial radius).
        a_km = (398_600.8 / (rev_day[0] * 2 * math.pi / 86400) ** 2) ** (1 / 3)
        assert a_km - 6378.135 == pytest.approx(d["altitude_km"], abs=0.01)
        assert sorted(set(c.plane[members].tolist())) == list(range(d["num_planes"]))
        assert sorted(set(c.slot[members].tolist())) == list(range(d["sats_per_plane"]))


def test_preset_carries_its_own_epoch(doc, constellation):
    assert datetime.fromisoformat(doc["epoch_utc"]) == EPOCH
    assert preset_epoch(NAME) == EPOCH == constellation.epoch
    jd = constellation.satrecs[0].jdsatepoch + constellation.satrecs[0].jdsatepochF
    assert jd == pytest.approx(2461173.5, abs=1e-8)  # 2026-05-13 00:00 UTC
    assert preset_epoch("starlink-gen1") == HYPATIA_EPOCH == preset("telesat-1015").epoch
    later = datetime(2026, 6, 1, tzinfo=UTC)
    assert preset(NAME, epoch=later).epoch == later


def test_preset_shells_are_placed_by_their_fitted_angles(constellation):
    """Plane 0 slot 0 sits at (raan_offset_deg, mean_anomaly_offset_deg); plane o is
    o * spread / P further east; the Walker phase advances F / P of a slot per plane."""
    c = constellation
    first = 0
    for sh in preset_shells(NAME):
        p, s = sh.num_planes, sh.sats_per_plane
        for o, n in [(0, 0), (1, 0), (p - 1, s - 1), (p // 2, s // 3)]:
            sat = c.satrecs[first + o * s + n]
            raan = sh.raan_offset_deg + o * sh.raan_spread_deg / p
            ma = sh.mean_anomaly_offset_deg + n * 360 / s + o * sh.walker_f * 360 / (p * s)
            assert abs((math.degrees(sat.nodeo) - raan + 180) % 360 - 180) < 1e-4
            assert abs((math.degrees(sat.mo) - ma + 180) % 360 - 180) < 1e-4
        first += p * s


def test_preset_propagates_without_nan_over_one_orbit(constellation):
    pos = Orbits.from_constellation(constellation).ecef_m(EPOCH, np.linspace(0, ORBIT_S, 7))
    assert np.isfinite(pos).all()
    r_km = np.linalg.norm(pos, axis=2) / 1e3
    alt = constellation.altitude_km_per_sat()
    assert np.isfinite(alt).all()
    # Geocentric radius within the ellipsoid's flattening (21 km) and J2 terms of the shell's.
    assert np.all(np.abs(r_km - 6378.135 - alt) < 35.0)


def test_plus_grid_lasers_are_the_ones_the_catalogue_infers(constellation):
    """The catalogue links each satellite to its neighbours by argument of latitude, found by
    assignment from positions alone: an independent derivation of the +Grid of Walker shells,
    including the seam (plane P-1 meets plane 0 shifted by F slots) and its absence for
    shells whose planes span less than 360 degrees."""
    c = constellation
    isl = constellation_isls(c)
    jd, fr = datetime_to_jd(c.epoch)
    st = infer_structure(c.satrecs, c.names, jd=jd, fr=fr)
    assert (st.shell_id >= 0).all() and len(st.shells) == len(c.shells)
    assert {tuple(p) for p in isl.tolist()} == {tuple(p) for p in st.isl_pairs.tolist()}
    assert (c.shell[isl[:, 0]] == c.shell[isl[:, 1]]).all()
    degree = np.bincount(isl.ravel(), minlength=len(c))
    for k, sh in enumerate(c.walker_shells):
        members = c.shell == k
        if sh.raan_spread_deg == 360.0:
            assert (degree[members] == 4).all()
        else:  # the two edge planes have no neighbour beyond the seam
            edge = members & np.isin(c.plane, [0, sh.num_planes - 1])
            assert (degree[edge] == 3).all() and (degree[members & ~edge] == 4).all()


def test_lasers_within_each_shells_length_limit(constellation):
    """Each laser against the grazing limit of its own shell's altitude, over one orbit."""
    c = constellation
    isl = constellation_isls(c)
    pos = Orbits.from_constellation(c).ecef_m(EPOCH, np.linspace(0, ORBIT_S, 13))
    h_m = c.altitude_km_per_sat() * 1e3
    limit = max_isl_length_m(h_m[isl[:, 0]], h_m[isl[:, 1]])
    within = isl_lengths_m(pos, isl) <= limit
    shell = c.shell[isl[:, 0]]
    per_shell = [float(within[:, shell == k].mean()) for k in range(len(c.shells))]
    # Nine shells keep every laser; the sparse 7-plane polar shell at 344 km loses some
    # cross-plane lasers near the equator, where its planes are 35 deg of RAAN apart.
    assert sum(f == 1.0 for f in per_shell) >= 9
    assert min(per_shell) > 0.8
    assert within.mean() > 0.99


def test_scenario_runs_the_preset_at_its_epoch():
    from leosim.scenario import parse_scenario
    from leosim.simulate import build_network, run_pairs

    sc = parse_scenario(
        {
            "constellation": {"preset": NAME},
            "ground_stations": {"builtin": "hypatia-top-100"},
            "routing": {"pairs": [["London", "New-York-Newark"]]},
            "time": {"times_s": [0.0]},
        }
    )
    net = build_network(sc)
    assert net.start == EPOCH
    assert net.num_sats == len(preset(NAME))
    assert len(net.isl_pairs) > 1.9 * net.num_sats
    assert np.isfinite(net.isl_max_length_m).all()
    table = run_pairs(net, sc.time.offsets_s(), net.pairs)
    rtt = float(table.columns["rtt_ms"][0])
    # London-Newark: 5,570 km great circle, 37 ms round trip at c; a LEO path is longer.
    assert 37.0 < rtt < 80.0


# --- against the real catalogue (../shared) -------------------------------------------------


needs_shared = pytest.mark.skipif(not TLE_2026.exists(), reason="needs ../shared TLE data")


@pytest.fixture(scope="module")
def real():
    from leosim.tle import read_tle

    cat = read_tle(TLE_2026)
    jd, fr = datetime_to_jd(EPOCH)
    return cat, infer_structure(cat.satrecs, cat.names, jd=jd, fr=fr)


def _mean_visible_per_band(satrecs, lat_deg, lon_deg, t_s, band_edges_deg):
    """Mean count of satellites at >= 25 deg elevation, per latitude band.

    Brute force on a sphere in the TEME frame: a satellite at radius r is visible from a
    ground point when their central angle is at most ``acos(R cos(e) / r) - e``.  Averaged
    over all longitudes the frame's rotation does not matter.  Points are weighted by
    cos(latitude) (area).
    """
    la, lo = np.meshgrid(np.radians(lat_deg), np.radians(lon_deg), indexing="ij")
    pts = np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], -1)
    pts = pts.reshape(-1, 3)
    jd, fr = datetime_to_jd(EPOCH)
    err, r_km, _ = SatrecArray(list(satrecs)).sgp4(
        np.full(len(t_s), jd), fr + np.asarray(t_s) / 86400.0
    )
    assert (err == 0).all()
    e = math.radians(MIN_ELEVATION_DEG)
    counts = np.zeros(len(pts))
    for k in range(len(t_s)):
        r = r_km[:, k]
        rn = np.linalg.norm(r, axis=1)
        cos_max = np.cos(np.arccos(R_SPHERE_KM * math.cos(e) / rn) - e)
        unit = r / rn[:, None]
        for i in range(0, len(pts), 2048):
            counts[i : i + 2048] += (pts[i : i + 2048] @ unit.T >= cos_max).sum(axis=1)
    counts = counts.reshape(len(lat_deg), len(lon_deg)).mean(axis=1) / len(t_s)
    w = np.cos(np.radians(lat_deg))
    band = np.digitize(lat_deg, band_edges_deg) - 1
    return np.array(
        [
            np.sum((counts * w)[band == b]) / np.sum(w[band == b])
            for b in range(len(band_edges_deg) - 1)
        ]
    )


@needs_shared
def test_visible_satellites_per_latitude_band_match_the_real_catalogue(real, constellation):
    cat, st = real
    in_shells = [cat.satrecs[i] for i in np.flatnonzero(st.shell_id >= 0)]
    edges = np.arange(-70.0, 71.0, 10.0)
    lat = np.arange(-69.0, 70.0, 2.0)
    lon = np.arange(0.0, 360.0, 6.0)
    t_s = np.linspace(0.0, ORBIT_S, 5, endpoint=False)
    want = _mean_visible_per_band(in_shells, lat, lon, t_s, edges)
    got = _mean_visible_per_band(constellation.satrecs, lat, lon, t_s, edges)
    assert (want > 10).all()  # Starlink covers every band from 70 S to 70 N
    rel = got / want - 1
    for lo_deg, w, g, r in zip(edges[:-1], want, got, rel, strict=True):
        print(
            f"{lo_deg:+.0f}..{lo_deg + 10:+.0f} deg: real {w:.2f}, preset {g:.2f} ({100 * r:+.1f} %)"
        )
    assert np.all(np.abs(rel) < 0.10), rel


@needs_shared
def test_preset_is_where_the_real_shells_are_at_the_epoch(real, constellation):
    """Per real shell, distance from each real satellite to the nearest satellite of the
    matching preset shell, against the same preset shifted by half a plane and half a slot."""
    _, st = real
    shells = preset_shells(NAME)
    jd, fr = datetime_to_jd(EPOCH)

    def medians(walker_shells):
        c = from_walker_shells(walker_shells, epoch=EPOCH)
        _, r, _ = SatrecArray(c.satrecs).sgp4(np.array([jd]), np.array([fr]))
        out = {}
        for s in st.shells:
            k = int(
                np.argmin(
                    [
                        abs(w.inclination_deg - s.inclination_deg)
                        + abs(w.nominal_altitude_km - s.altitude_km) / 10
                        for w in walker_shells
                    ]
                )
            )
            real_km = np.asarray(st.positions_m)[st.shell_id == s.shell_id] / 1e3
            d_km, _ = cKDTree(r[c.shell == k, 0]).query(real_km)
            out[(round(s.inclination_deg, 1), round(s.altitude_km))] = (len(d_km), np.median(d_km))
        return out

    fitted = medians(shells)
    shifted = medians(
        [
            dataclasses.replace(
                w,
                raan_offset_deg=w.raan_offset_deg + 0.5 * w.raan_spread_deg / w.num_planes,
                mean_anomaly_offset_deg=w.mean_anomaly_offset_deg + 180.0 / w.sats_per_plane,
            )
            for w in shells
        ]
    )
    assert fitted.keys() == shifted.keys() and len(fitted) == 10

    def weighted(m):
        return sum(n * d for n, d in m.values()) / sum(n for n, _ in m.values())

    assert weighted(fitted) < 0.9 * weighted(shifted)
    # The fully deployed Gen1 shell (72 planes of 16-20) is reproduced satellite by satellite.
    n, d = fitted[(53.2, 540)]
    assert n > 1200 and d < 100.0 and shifted[(53.2, 540)][1] > 2 * d
