"""Ground-link search: the numba grid search returns exactly the links, order, ranges and
elevations of the previous implementation (kept here as the reference: a dense distance
matrix for few pairs, scipy's dual k-d tree search above, then a full ``lexsort``), and of a
brute-force elevation computed here from first principles.

Random stations everywhere (poles, the antimeridian, from below sea level to mountain tops),
random satellites on several shells, per-satellite range and elevation limits, and satellites
without a position (NaN).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from leosim.ground import geodetic_to_ecef_m, local_up
from leosim.links import ground_links

_DENSE_PAIR_LIMIT = 100_000


def _reference_search_radius_m(sat_r, ground_pos_m, min_elevation_deg):
    # As before, but for a mask below the horizon the last term's radius is the highest
    # point's (the one change: before, a -90 deg mask missed links of higher stations).
    if len(ground_pos_m) == 0:
        return np.zeros(np.shape(sat_r))
    radii = np.linalg.norm(ground_pos_m, axis=1)
    r_g, r_hi = float(np.min(radii)) - 1.0, float(np.max(radii)) + 1.0
    eps = np.radians(np.asarray(min_elevation_deg, dtype=np.float64) - 0.3)
    with np.errstate(invalid="ignore"):
        r = np.sqrt(np.maximum(sat_r**2 - (r_g * np.cos(eps)) ** 2, 0.0)) - np.where(
            np.sin(eps) >= 0, r_g, r_hi
        ) * np.sin(eps)
    return np.where(np.isfinite(r), r, 0.0) + 1.0


def reference_ground_links(
    gs_pos_m, gs_up, sat_pos_m, *, max_range_m=np.inf, min_elevation_deg=0.0
):
    """leosim's ground_links before the grid search (commit 4c638d5), verbatim in substance."""
    n_gs, n_sat = len(gs_pos_m), len(sat_pos_m)
    if n_gs == 0 or n_sat == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0), np.empty(0)
    max_range = np.broadcast_to(np.asarray(max_range_m, dtype=np.float64), (n_sat,))
    min_el = np.broadcast_to(np.asarray(min_elevation_deg, dtype=np.float64), (n_sat,))
    sat_r = np.linalg.norm(sat_pos_m, axis=1)
    search = np.minimum(max_range, _reference_search_radius_m(sat_r, gs_pos_m, min_el))
    if n_gs * n_sat <= _DENSE_PAIR_LIMIT:
        gs_r2 = np.einsum("gi,gi->g", gs_pos_m, gs_pos_m)
        d2 = (sat_r**2)[None, :] + gs_r2[:, None] - 2.0 * (gs_pos_m @ sat_pos_m.T)
        with np.errstate(invalid="ignore"):
            g, s = np.nonzero(d2 <= (search[None, :] + 1.0) ** 2)
    else:
        finite = np.isfinite(sat_r)
        sat_ids = np.flatnonzero(finite)
        radius = float(np.max(search[finite])) + 1.0 if finite.any() else 0.0
        pairs = cKDTree(gs_pos_m).sparse_distance_matrix(
            cKDTree(sat_pos_m[finite]), radius, output_type="ndarray"
        )
        g = pairs["i"].astype(np.int64)
        s = sat_ids[pairs["j"]]
    dvec = sat_pos_m[s] - gs_pos_m[g]
    r = np.sqrt(np.einsum("ki,ki->k", dvec, dvec))
    with np.errstate(invalid="ignore", divide="ignore"):
        sin_el = np.einsum("ki,ki->k", dvec, gs_up[g]) / r
    el = np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))
    ok = (r <= max_range[s]) & (el >= min_el[s])
    g, s, r, el = g[ok], s[ok], r[ok], el[ok]
    order = np.lexsort((s, g))
    return g[order], s[order], r[order], el[order]


def _stations(n: int, seed: int):
    rng = np.random.default_rng(seed)
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    # Poles and both sides of the antimeridian.
    special_lat = np.array([90.0, -90.0, 89.999, -89.999, 0.0, 0.0, 45.0, -45.0])
    special_lon = np.array([0.0, 0.0, 180.0, -180.0, 180.0, -179.9999, 179.9999, -180.0])
    lat = np.r_[special_lat, lat][:n]
    lon = np.r_[special_lon, lon][:n]
    h = rng.uniform(-400.0, 5000.0, n)
    return geodetic_to_ecef_m(lat, lon, h), local_up(lat, lon)


def _satellites(n: int, seed: int, altitudes_km=(340.0, 550.0, 570.0, 1150.0)):
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    alt = rng.choice(np.asarray(altitudes_km) * 1e3, n) + rng.uniform(-2e3, 2e3, n)
    pos = v * (6_378_135.0 + alt)[:, None]
    pos[::53] = np.nan  # failed propagations
    return pos, alt


def _assert_same(new, ref):
    g, s, r, el = ref
    np.testing.assert_array_equal(new.gs, g)
    np.testing.assert_array_equal(new.sat, s)
    np.testing.assert_array_equal(new.range_m, r)  # bit for bit
    np.testing.assert_array_equal(new.elevation_deg, el)


@pytest.mark.parametrize(
    ("n_gs", "n_sat", "seed"),
    [(1, 50, 1), (30, 400, 2), (300, 2000, 3), (2500, 3000, 4)],  # dense and k-d tree paths
)
@pytest.mark.parametrize(
    "limits",
    [
        {"min_elevation_deg": 25.0},
        {"min_elevation_deg": 0.0},
        {"min_elevation_deg": -90.0},
        {"max_range_m": 1.2e6},
        {"max_range_m": 2.0e6, "min_elevation_deg": 25.0},
        "per-satellite",
    ],
    ids=["el25", "el0", "el-90", "range", "range+el", "per-sat"],
)
def test_grid_search_equals_reference(n_gs, n_sat, seed, limits):
    gpos, up = _stations(n_gs, seed)
    sats, alt = _satellites(n_sat, seed + 100)
    if limits == "per-satellite":
        rng = np.random.default_rng(seed + 7)
        limits = {
            "min_elevation_deg": rng.choice([10.0, 25.0, 40.0], n_sat),
            "max_range_m": np.where(alt > 1e6, np.inf, np.hypot(940.7e3, alt)),
        }
    new = ground_links(gpos, up, sats, **limits)
    ref = reference_ground_links(gpos, up, sats, **limits)
    assert len(ref[0]) > 0 or n_gs == 1
    _assert_same(new, ref)


def test_grid_search_equals_brute_force_elevation():
    """Independent truth: elevation from the geodetic vertical computed here, for every
    station-satellite pair, then thresholded."""
    rng = np.random.default_rng(11)
    n = 400
    lat = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    lon = rng.uniform(-180.0, 180.0, n)
    lat[:4] = [90.0, -90.0, 0.0, 0.0]
    lon[:4] = [0.0, 0.0, 180.0, -180.0]
    h = rng.uniform(0.0, 3000.0, n)
    gpos = geodetic_to_ecef_m(lat, lon, h)
    phi, lam = np.radians(lat), np.radians(lon)
    up = np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], axis=1)
    sats, _ = _satellites(3000, 12)
    gl = ground_links(gpos, up, sats, min_elevation_deg=25.0)
    d = sats[None, :, :] - gpos[:, None, :]
    with np.errstate(invalid="ignore"):
        el = np.degrees(np.arcsin(np.einsum("gsi,gi->gs", d, up) / np.linalg.norm(d, axis=2)))
        want = set(map(tuple, np.argwhere(el >= 25.0).tolist()))
    got = set(zip(gl.gs.tolist(), gl.sat.tolist(), strict=True))
    for g, s in got ^ want:
        assert abs(el[g, s] - 25.0) < 1e-9
    assert len(got) > 1000
    assert not np.isin(gl.sat, np.arange(0, 3000, 53)).any()  # NaN satellites never visible
    key = gl.gs * 3000 + gl.sat
    assert np.all(np.diff(key) > 0)  # sorted by (station, satellite), unique


def test_mask_below_horizon_sees_everything():
    """A -90 deg mask: every station sees every satellite with a position (through the Earth)."""
    gpos, up = _stations(300, 31)
    sats, _ = _satellites(2000, 32)
    gl = ground_links(gpos, up, sats, min_elevation_deg=-90.0)
    finite = np.flatnonzero(np.isfinite(sats[:, 0]))
    np.testing.assert_array_equal(gl.gs, np.repeat(np.arange(300), len(finite)))
    np.testing.assert_array_equal(gl.sat, np.tile(finite, 300))


def test_all_nan_or_empty_segments():
    gpos, up = _stations(5, 1)
    sats = np.full((4, 3), np.nan)
    gl = ground_links(gpos, up, sats)
    assert len(gl) == 0 and gl.gs.dtype == np.int64
    gl = ground_links(gpos[:0], up[:0], _satellites(10, 1)[0])
    assert len(gl) == 0


def test_tiny_range_many_cells():
    """A search radius far smaller than the constellation (the grid's cells are then capped
    and grow): still the reference's links."""
    gpos, up = _stations(2000, 21)
    sats, _ = _satellites(4000, 22, altitudes_km=(550.0,))
    new = ground_links(gpos, up, sats, max_range_m=600e3)
    _assert_same(new, reference_ground_links(gpos, up, sats, max_range_m=600e3))


@pytest.mark.parametrize("path", ["grid, einsum in numpy", "k-d tree (no numba)"])
def test_fallback_paths_equal_reference(path, monkeypatch):
    """The paths taken when numba's sums cannot reproduce numpy's einsum, or numba is
    missing, give the same links too."""
    import leosim.links as links_mod

    if path.startswith("grid"):
        monkeypatch.setattr(links_mod, "_EINSUM3_ORDER", [-1])
    else:
        monkeypatch.setattr(links_mod, "HAVE_NUMBA", False)
    gpos, up = _stations(1500, 41)
    sats, alt = _satellites(3000, 42)
    mask = np.where(alt > 1e6, 10.0, 25.0)
    new = links_mod.ground_links(gpos, up, sats, min_elevation_deg=mask, max_range_m=2.2e6)
    _assert_same(
        new, reference_ground_links(gpos, up, sats, min_elevation_deg=mask, max_range_m=2.2e6)
    )


def test_einsum_order_is_found():
    """This numpy's 3-term einsum matches one of the orders the kernel knows (else the
    slower numpy path is taken: still exact, see above)."""
    import leosim.links as links_mod

    assert links_mod._einsum3_order() in (0, 1, 2)
