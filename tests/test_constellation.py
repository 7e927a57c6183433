"""Constellations: presets against the filings, Hypatia's TLE file, Kepler's law, validation,
and the orbital period seen in propagated positions."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sgp4.earth_gravity import wgs72 as SGP4_WGS72

from leosim.constellation import (
    HYPATIA_EPOCH,
    WalkerShell,
    altitude_to_mean_motion,
    from_tle,
    from_walker_shells,
    mean_motion_to_altitude,
    preset,
    preset_names,
)
from leosim.errors import InputError
from leosim.orbits import Orbits

DATA = Path(__file__).resolve().parent / "data"
HYPATIA_TLE = DATA / "hypatia" / "tles_starlink550_generated.txt"
SUBSET_TLE = DATA / "starlink_2026-05-12_subset.tle"

# (planes, sats per plane, inclination deg, altitude km) per shell, from the filings:
# Starlink Gen1: FCC 21-48 (2021-04-27 modification), 1584 + 1584 + 720 + 348 + 172 = 4408.
# Kuiper: FCC 20-102 (2020-07-30), 1156 + 1296 + 784 = 3236.
# Telesat 1015 km polar shell as in Hypatia: 27 x 13 = 351.  OneWeb phase 1: 36 x 55 = 1980.
FILINGS = {
    "starlink-gen1": [
        (72, 22, 53.0, 550.0),
        (72, 22, 53.2, 540.0),
        (36, 20, 70.0, 570.0),
        (6, 58, 97.6, 560.0),
        (4, 43, 97.6, 560.0),
    ],
    "kuiper": [(34, 34, 51.9, 630.0), (36, 36, 42.0, 610.0), (28, 28, 33.0, 590.0)],
    "telesat-1015": [(27, 13, 98.98, 1015.0)],
    "oneweb": [(36, 55, 87.9, 1200.0)],
}
TOTALS = {"starlink-gen1": 4408, "kuiper": 3236, "telesat-1015": 351, "oneweb": 1980}


def _kepler_altitude_km(mean_motion_rev_per_day: float) -> float:
    """a = (mu / n^2)^(1/3) with sgp4's own WGS72 constants, minus the equatorial radius."""
    n = mean_motion_rev_per_day * 2.0 * math.pi / 86400.0  # rad/s
    a_km = (SGP4_WGS72.mu / n**2) ** (1.0 / 3.0)
    return a_km - SGP4_WGS72.radiusearthkm


# --- presets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(FILINGS))
def test_preset_sizes_match_filings(name):
    c = preset(name)
    assert len(c) == TOTALS[name] == sum(p * s for p, s, _, _ in FILINGS[name])
    assert len(c.satrecs) == len(c.names) == len(c.shell) == len(c.plane) == len(c.slot)
    assert np.bincount(c.shell).tolist() == [p * s for p, s, _, _ in FILINGS[name]]
    for k, (p, s, inc, alt) in enumerate(FILINGS[name]):
        info = c.shells[k]
        assert (info.num_planes, info.sats_per_plane) == (p, s)
        assert info.inclination_deg == inc
        assert info.altitude_km == alt
        in_shell = np.flatnonzero(c.shell == k)
        incl = np.degrees([c.satrecs[i].inclo for i in in_shell])
        np.testing.assert_allclose(incl, inc, atol=1e-4)  # TLE rounding
        assert sorted(set(c.plane[in_shell].tolist())) == list(range(p))
        assert sorted(set(c.slot[in_shell].tolist())) == list(range(s))
        # Mean motion from the altitude by Kepler's law.
        n_rev_day = np.array([c.satrecs[i].no_kozai for i in in_shell]) * 1440.0 / (2 * math.pi)
        np.testing.assert_allclose([_kepler_altitude_km(x) for x in n_rev_day[:3]], alt, atol=0.01)
    assert len({s.satnum for s in c.satrecs}) == len(c)


def test_preset_names_and_unknown_preset():
    names = preset_names()
    assert set(FILINGS) | {"starlink-550-hypatia"} <= set(names)
    with pytest.raises(InputError, match="starlink-gen1"):
        preset("starlink-gen")


def test_hypatia_preset_elements_follow_hypatia_definition():
    """RAAN(o) = o*360/72; M(o,n) = n*360/22 (+360/44 for odd o); 15.19 rev/day; sid = o*22+n."""
    c = preset("starlink-550-hypatia")
    assert len(c) == 1584
    for sid in range(0, 1584, 7):
        o, n = divmod(sid, 22)
        assert (c.plane[sid], c.slot[sid]) == (o, n)
        sat = c.satrecs[sid]
        assert sat.satnum == sid + 1
        raan = o * 360.0 / 72
        ma = n * 360.0 / 22 + (360.0 / 44 if o % 2 else 0.0)
        assert abs(((math.degrees(sat.nodeo) - raan + 180) % 360) - 180) < 1e-4
        assert abs(((math.degrees(sat.mo) - ma + 180) % 360) - 180) < 1e-4
        assert math.degrees(sat.inclo) == pytest.approx(53.0, abs=1e-9)
        assert sat.no_kozai * 1440 / (2 * math.pi) == pytest.approx(15.19, abs=1e-8)
        assert sat.ecco == pytest.approx(1e-7, abs=1e-12)
    assert c.epoch == datetime(2000, 1, 1, tzinfo=UTC)
    assert c.satrecs[0].jdsatepoch + c.satrecs[0].jdsatepochF == pytest.approx(2451544.5)


def test_hypatia_export_is_byte_identical(tmp_path):
    out = tmp_path / "tles.txt"
    preset("starlink-550-hypatia").write_tle(out, hypatia_header=True)
    got, want = out.read_bytes(), HYPATIA_TLE.read_bytes()
    if got != want:
        g, w = got.splitlines(), want.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(g, w, strict=False)) if a != b), None)
        line_info = (
            f"line {first + 1}: {g[first]!r} != {w[first]!r}" if first is not None else "length"
        )
        pytest.fail(f"export differs from Hypatia's file at {line_info}")


def test_hypatia_header_needs_single_walker_shell(tmp_path):
    with pytest.raises(InputError):
        preset("kuiper").write_tle(tmp_path / "k.txt", hypatia_header=True)
    with pytest.raises(InputError):
        from_tle(SUBSET_TLE).write_tle(tmp_path / "s.txt", hypatia_header=True)


def test_walker_phasing():
    f = 3
    sh = WalkerShell("w", 6, 10, 60.0, altitude_km=700.0, phasing="walker", walker_f=f)
    c = from_walker_shells([sh])
    for sid in range(60):
        o, n = divmod(sid, 10)
        ma = (n * 36.0 + o * f * 360.0 / 60) % 360.0
        got = math.degrees(c.satrecs[sid].mo)
        assert abs(((got - ma + 180) % 360) - 180) < 1e-4
        assert abs(((math.degrees(c.satrecs[sid].nodeo) - o * 60.0 + 180) % 360) - 180) < 1e-4


def test_epoch_is_respected():
    ep = datetime(2026, 5, 12, 6, 0, tzinfo=UTC)
    c = preset("telesat-1015", epoch=ep)
    jd = c.satrecs[0].jdsatepoch + c.satrecs[0].jdsatepochF
    assert jd == pytest.approx(2461172.75, abs=1e-8)
    assert c.epoch == ep


# --- Kepler -----------------------------------------------------------------------------------


def test_mean_motion_to_altitude_kepler():
    # 15.19 rev/day is about 509 km, not 550 km.
    want = _kepler_altitude_km(15.19)
    assert 505.0 < want < 512.0
    assert mean_motion_to_altitude(15.19) == pytest.approx(want, abs=1e-6)
    # SGP4's own (un-Kozai'd) semi-major axis is within a few km of Kepler's.
    sat = preset("starlink-550-hypatia").satrecs[0]
    assert sat.a * SGP4_WGS72.radiusearthkm - SGP4_WGS72.radiusearthkm == pytest.approx(
        want, abs=5.0
    )


@pytest.mark.parametrize("alt", [340.0, 550.0, 1015.0, 1200.0, 35786.0])
def test_altitude_to_mean_motion_is_the_inverse(alt):
    n = altitude_to_mean_motion(alt)
    assert _kepler_altitude_km(n) == pytest.approx(alt, abs=1e-6)
    assert mean_motion_to_altitude(n) == pytest.approx(alt, abs=1e-6)
    # Period from Kepler's third law directly: T = 2 pi sqrt(a^3 / mu).
    a_km = SGP4_WGS72.radiusearthkm + alt
    period_s = 2 * math.pi * math.sqrt(a_km**3 / SGP4_WGS72.mu)
    assert 86400.0 / n == pytest.approx(period_s, rel=1e-12)


# --- validation -------------------------------------------------------------------------------


def _shell(**kw):
    args = {
        "name": "s",
        "num_planes": 72,
        "sats_per_plane": 22,
        "inclination_deg": 53.0,
        "altitude_km": 550.0,
    }
    args.update(kw)
    return WalkerShell(**args)


def test_valid_shell_builds():
    assert _shell().num_sats == 1584
    # Hypatia's own pair (550 km nominal, 15.19 rev/day = 509 km) is within 50 km: accepted.
    assert _shell(mean_motion_rev_per_day=15.19).mean_motion == 15.19


def test_hypatia_issue_33_mean_motion_mismatch():
    with pytest.raises(InputError) as exc:
        _shell(mean_motion_rev_per_day=13.66)
    msg = str(exc.value)
    assert "mean_motion_rev_per_day" in msg
    assert exc.value.key is not None and "mean_motion_rev_per_day" in exc.value.key
    # 13.66 rev/day is a ~1015 km orbit (Telesat's): the message should say so.
    assert f"{_kepler_altitude_km(13.66):.0f}" in msg


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"altitude_km": -550.0}, "altitude_km"),
        ({"altitude_km": 0.0}, "altitude_km"),
        ({"inclination_deg": 200.0}, "inclination_deg"),
        ({"inclination_deg": -1.0}, "inclination_deg"),
        ({"num_planes": 0}, "num_planes"),
        ({"num_planes": 72.0}, "num_planes"),
        ({"num_planes": 72.5}, "num_planes"),
        ({"num_planes": True}, "num_planes"),
        ({"num_planes": "72"}, "num_planes"),
        ({"sats_per_plane": -22}, "sats_per_plane"),
        ({"sats_per_plane": 22.5}, "sats_per_plane"),
        ({"altitude_km": None}, "altitude_km"),
        ({"mean_motion_rev_per_day": 30.0}, "mean_motion_rev_per_day"),
        ({"eccentricity": 0.5}, "eccentricity"),
        ({"phasing": "random"}, "phasing"),
    ],
)
def test_invalid_shell_names_the_key(kw, key):
    with pytest.raises(InputError) as exc:
        _shell(**kw)
    assert key in str(exc.value), str(exc.value)
    assert exc.value.key is not None and exc.value.key.endswith(key)


def test_empty_and_duplicate_shells_rejected():
    with pytest.raises(InputError):
        from_walker_shells([])
    with pytest.raises(InputError, match="unique"):
        from_walker_shells([_shell(), _shell()])


# --- period of propagated satellites ----------------------------------------------------------


def _ascending_node_times(orbits: Orbits, start: datetime, span_s: float, step_s: float = 5.0):
    """Times (s) where z goes from negative to positive, for each satellite (linear interp)."""
    t = np.arange(0.0, span_s, step_s)
    z = orbits.ecef_m(start, t)[..., 2]  # z is the same in TEME and Earth-fixed axes
    out = []
    for j in range(z.shape[1]):
        zj = z[:, j]
        k = np.flatnonzero((zj[:-1] < 0.0) & (zj[1:] >= 0.0))
        out.append(t[k] + step_s * (-zj[k]) / (zj[k + 1] - zj[k]))
    return out


@pytest.mark.parametrize("source", ["hypatia", "gen1-polar", "real-tle"])
def test_nodal_period_matches_mean_motion(source):
    if source == "hypatia":
        c = preset("starlink-550-hypatia")
        idx = [0, 23, 400, 1000, 1583]
        start = HYPATIA_EPOCH
    elif source == "gen1-polar":
        c = preset("starlink-gen1")
        idx = [3900, 4300, 4407]
        start = HYPATIA_EPOCH
    else:
        c = from_tle(SUBSET_TLE)
        idx = [0, 40, 80, 120, 148]
        start = datetime(2026, 5, 13, tzinfo=UTC)
    sats = [c.satrecs[i] for i in idx]
    crossings = _ascending_node_times(Orbits(sats), start, span_s=4 * 6500.0)
    for sat, tc in zip(sats, crossings, strict=True):
        assert len(tc) >= 3
        period = float(np.mean(np.diff(tc)))
        kepler = 86400.0 / (sat.no_kozai * 1440.0 / (2 * math.pi))
        assert period == pytest.approx(kepler, rel=5e-3), (sat.satnum, period, kepler)
