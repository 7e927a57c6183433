"""Links: ground–satellite links (elevation, slant range) and inter-satellite lasers.

All lengths are metres, angles radians inside and degrees at the edges.

>>> from leosim.links import max_isl_length_m, max_slant_range_m
>>> round(max_isl_length_m(550e3), 4)        # Hypatia's limit for its 550 km shell
5016591.2331
>>> round(max_slant_range_m(550e3, 25.0))    # 25 deg minimum elevation, spherical Earth
1123418

A +Grid shell links each satellite to its two neighbours in its plane and to the satellites in
the same slot of the two adjacent planes (shifted by ``isl_shift`` slots), 4 lasers each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .constants import EARTH_RADIUS_M, ISL_GRAZING_ALTITUDE_M
from .errors import InputError

# Dense GSL geometry below this many station-satellite pairs; a k-d tree above it (measured:
# 100 stations x 9,581 satellites 5.2 ms by k-d tree, 15 ms dense; x 1,584: 1.0 vs 1.2 ms).
_DENSE_PAIR_LIMIT = 100_000


def max_isl_length_m(
    altitude_m,
    other_altitude_m=None,
    *,
    grazing_altitude_m: float = ISL_GRAZING_ALTITUDE_M,
    earth_radius_m: float = EARTH_RADIUS_M,
):
    """Longest laser link between satellites at ``altitude_m`` and ``other_altitude_m`` (default:
    the same) whose straight line clears the atmosphere by ``grazing_altitude_m`` (80 km).

    Each end contributes its tangent length to the sphere of radius R + 80 km:
    ``sqrt(r1^2 - g^2) + sqrt(r2^2 - g^2)``; for one altitude that is Hypatia's rule.  Scalars give
    a float, arrays an array.
    """
    h1 = np.asarray(altitude_m, dtype=np.float64)
    h2 = h1 if other_altitude_m is None else np.asarray(other_altitude_m, dtype=np.float64)
    r_graze = earth_radius_m + grazing_altitude_m
    low = np.minimum(h1, h2)
    if np.any(earth_radius_m + low <= r_graze):
        raise InputError(
            f"altitude {float(np.min(low)) / 1e3:.1f} km is below the "
            f"{grazing_altitude_m / 1e3:.0f} km grazing altitude"
        )
    out = np.sqrt((earth_radius_m + h1) ** 2 - r_graze**2) + np.sqrt(
        (earth_radius_m + h2) ** 2 - r_graze**2
    )
    return float(out) if out.ndim == 0 else out


def max_slant_range_m(
    altitude_m: float, min_elevation_deg: float, *, earth_radius_m: float = EARTH_RADIUS_M
) -> float:
    """Slant range to a satellite at ``altitude_m`` seen at ``min_elevation_deg`` (spherical Earth)."""
    eps = math.radians(min_elevation_deg)
    r = earth_radius_m
    return math.sqrt((r + altitude_m) ** 2 - (r * math.cos(eps)) ** 2) - r * math.sin(eps)


def cone_slant_range_m(altitude_m, cone_radius_m: float):
    """Hypatia's GSL limit: ``sqrt(cone_radius**2 + altitude**2)`` (940.7 km cone ≈ 25°).

    Scalars give a float, an array of altitudes an array."""
    out = np.hypot(cone_radius_m, np.asarray(altitude_m, dtype=np.float64))
    return float(out) if out.ndim == 0 else out


def plus_grid_isls(num_planes: int, sats_per_plane: int, *, isl_shift: int = 0, offset: int = 0):
    """+Grid ISLs of a Walker shell numbered ``offset + o * S + n``; shape ``(n_isl, 2)``.

    Links (o, n)–(o, n+1 mod S) and (o, n)–(o+1 mod P, n+shift mod S): 2·P·S links, 4 per
    satellite, as Hypatia's ``generate_plus_grid_isls``, in its order (satellite by satellite,
    the in-plane link first; each pair as ``(smaller, larger)``), which numbers the laser
    interfaces of its ``isls.txt``.  Degenerate shells (one plane, or two slots per plane)
    would create duplicate links; those are removed.
    """
    p, s = num_planes, sats_per_plane
    o = np.repeat(np.arange(p), s)
    n = np.tile(np.arange(s), p)
    sid = o * s + n
    intra = np.stack([sid, o * s + (n + 1) % s], axis=1)
    inter = np.stack([sid, ((o + 1) % p) * s + (n + isl_shift) % s], axis=1)
    pairs = np.sort(np.stack([intra, inter], axis=1).reshape(-1, 2), axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    _, first = np.unique(pairs, axis=0, return_index=True)
    return pairs[np.sort(first)] + offset


def constellation_isls(constellation, *, mode: str = "plus-grid", isl_shift: int = 0) -> np.ndarray:
    """ISL pairs for a constellation: ``"plus-grid"`` per Walker shell, or ``"none"``.

    A TLE catalogue without shell structure has no +Grid; infer it with
    :mod:`leosim.catalogue` and pass its ``isl_pairs`` instead.
    """
    if mode == "none":
        return np.empty((0, 2), dtype=np.int64)
    if mode != "plus-grid":
        raise InputError(
            f"unknown ISL mode {mode!r}; expected 'plus-grid' or 'none'", key="links.isl"
        )
    grid = getattr(constellation, "index_grid", None)
    if not constellation.walker_shells and grid is not None:
        return index_grid_isls(constellation.plane, constellation.slot, *grid, isl_shift=isl_shift)
    if not constellation.walker_shells:
        raise InputError(
            "+Grid ISLs need Walker shells or an inferred catalogue structure "
            "(set links.infer_structure = true for a TLE catalogue)",
            key="links.isl",
        )
    parts, offset = [], 0
    for sh in constellation.walker_shells:
        if sh.phasing == "walker":
            wraps = sh.raan_spread_deg == 360.0
            parts.append(
                walker_grid_isls(
                    sh.num_planes,
                    sh.sats_per_plane,
                    sh.walker_f,
                    isl_shift=isl_shift,
                    wraps=wraps,
                    offset=offset,
                )
            )
        else:
            parts.append(
                plus_grid_isls(sh.num_planes, sh.sats_per_plane, isl_shift=isl_shift, offset=offset)
            )
        offset += sh.num_sats
    return np.concatenate(parts).astype(np.int64)


def index_grid_isls(
    plane: np.ndarray,
    slot: np.ndarray,
    num_planes: int,
    sats_per_plane: int,
    *,
    isl_shift: int = 0,
) -> np.ndarray:
    """Hypatia's index-based +Grid over satellites given by ``plane`` and ``slot`` (node ``i``
    is ``(plane[i], slot[i])``; a file with the ``"P S"`` header numbers ``sid = plane * S +
    slot``): the links of :func:`plus_grid_isls` whose two satellites are present, in its order.
    """
    p, s = num_planes, sats_per_plane
    node_of = np.full(p * s, -1, dtype=np.int64)
    node_of[np.asarray(plane) * s + np.asarray(slot)] = np.arange(len(plane))
    full = node_of[plus_grid_isls(p, s, isl_shift=isl_shift)]
    return np.sort(full[(full >= 0).all(axis=1)], axis=1)


def walker_grid_isls(
    num_planes: int,
    sats_per_plane: int,
    walker_f: int,
    *,
    isl_shift: int = 0,
    wraps: bool = True,
    offset: int = 0,
) -> np.ndarray:
    """+Grid ISLs of a Walker-delta shell T/P/F (``walker_f`` = F), numbered ``offset + o*S + n``.

    Plane ``o + 1`` leads plane ``o`` by ``F / P`` of a slot, so the cross-plane partner of
    ``(o, n)`` is the nearest slot, ``(o + 1, n + isl_shift - round(F / P))``; across the seam
    (plane P-1 to plane 0) the lead is ``F / P - F`` slots, so the seam partner is ``F`` slots
    further on.  Every cross link then spans the same phase.  ``wraps=False`` (planes spanning
    less than 360 deg of RAAN) leaves the seam unlinked.  F = 0 gives :func:`plus_grid_isls`.
    """
    p, s = num_planes, sats_per_plane
    o = np.repeat(np.arange(p), s)
    n = np.tile(np.arange(s), p)
    sid = o * s + n
    intra = np.stack([sid, o * s + (n + 1) % s], axis=1)
    lead = isl_shift - math.floor(walker_f / p + 0.5) + np.where(o == p - 1, walker_f, 0)
    inter = np.stack([sid, ((o + 1) % p) * s + (n + lead) % s], axis=1)
    if not wraps:
        inter = inter[o < p - 1]
    pairs = np.concatenate([intra, inter])
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    return pairs + offset


def isl_lengths_m(positions_m: np.ndarray, isl_pairs: np.ndarray) -> np.ndarray:
    """Lengths of ISLs ``(n_isl,)`` (or ``(n_times, n_isl)`` for stacked positions), metres."""
    d = positions_m[..., isl_pairs[:, 0], :] - positions_m[..., isl_pairs[:, 1], :]
    return np.sqrt(np.einsum("...i,...i->...", d, d))


@dataclass
class LaserGraph:
    """The lasers usable at one instant, as undirected pairs and as directed graph edges."""

    pairs: np.ndarray
    """``(k, 2)`` satellite pairs within their length limit."""
    length_m: np.ndarray
    dropped: int
    """How many lasers were longer than their limit (or had a satellite without position)."""

    @property
    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, weights_m)`` with both directions of every laser."""
        p, w = self.pairs, self.length_m
        return np.r_[p[:, 0], p[:, 1]], np.r_[p[:, 1], p[:, 0]], np.r_[w, w]


def usable_isls(sat_pos_m: np.ndarray, isl_pairs: np.ndarray, max_length_m=np.inf) -> LaserGraph:
    """Lasers no longer than ``max_length_m`` (scalar or per pair) at these positions.

    A laser over its limit is dropped and counted, never silently kept; one whose satellite
    failed to propagate (NaN position) is dropped too.
    """
    isl_pairs = np.asarray(isl_pairs, dtype=np.int64).reshape(-1, 2)
    if len(isl_pairs) == 0:
        return LaserGraph(isl_pairs, np.empty(0), 0)
    lengths = isl_lengths_m(sat_pos_m, isl_pairs)
    ok = lengths <= max_length_m
    return LaserGraph(isl_pairs[ok], lengths[ok], int((~ok).sum()))


@dataclass
class GroundLinks:
    """Usable ground–satellite links at one instant, sorted by station then satellite."""

    gs: np.ndarray
    sat: np.ndarray
    range_m: np.ndarray
    elevation_deg: np.ndarray

    def __len__(self) -> int:
        return len(self.gs)

    def counts(self, num_gs: int) -> np.ndarray:
        """Number of usable satellites per station."""
        return np.bincount(self.gs, minlength=num_gs)


def _search_radius_m(sat_r: np.ndarray, ground_pos_m: np.ndarray, min_elevation_deg) -> np.ndarray:
    """Per satellite, a slant range beyond which no ground point sees it above the mask.

    The slant range at the elevation limit on a sphere through the lowest point (a lower point
    sees farther), with 0.3 deg of slack for the angle between the geodetic and the geocentric
    vertical (at most 0.19 deg), plus 1 m; 0 for satellites without a position.
    """
    if len(ground_pos_m) == 0:  # no ground point: nothing is in view
        return np.zeros(np.shape(sat_r))
    r_g = float(np.min(np.linalg.norm(ground_pos_m, axis=1))) - 1.0
    eps = np.radians(np.asarray(min_elevation_deg, dtype=np.float64) - 0.3)
    with np.errstate(invalid="ignore"):
        r = np.sqrt(np.maximum(sat_r**2 - (r_g * np.cos(eps)) ** 2, 0.0)) - r_g * np.sin(eps)
    return np.where(np.isfinite(r), r, 0.0) + 1.0


def best_per_group(
    group: np.ndarray, cost: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least-cost entry of each group of a table sorted by ``group``.

    Returns ``(groups, best_cost, index)`` for the groups with at least one finite cost;
    ``index`` points into the table.  Ties go to the first entry: for :class:`GroundLinks`
    (sorted by station, then satellite) the smaller satellite id, as Hypatia breaks ties.
    """
    ok = np.isfinite(cost)
    idx = np.flatnonzero(ok)
    if len(idx) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, np.empty(0), empty
    g, c = group[idx], cost[idx]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    best = np.minimum.reduceat(c, starts)
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(g)]))
    first = np.minimum.reduceat(np.where(c == best[seg], np.arange(len(g)), len(g)), starts)
    return g[starts], best, idx[first]


def ground_links(
    gs_pos_m: np.ndarray,
    gs_up: np.ndarray,
    sat_pos_m: np.ndarray,
    *,
    max_range_m: float | np.ndarray = np.inf,
    min_elevation_deg: float | np.ndarray = 0.0,
) -> GroundLinks:
    """Station–satellite pairs within ``max_range_m`` and above ``min_elevation_deg``.

    ``max_range_m`` and ``min_elevation_deg`` are scalars or per-satellite arrays (shells may
    differ).  ``gs_up`` is each station's unit vertical.  Satellites with NaN positions
    (failed propagation) are never visible.
    """
    n_gs, n_sat = len(gs_pos_m), len(sat_pos_m)
    if n_gs == 0 or n_sat == 0:  # an empty ground or space segment has no links
        empty = np.empty(0, dtype=np.int64)
        return GroundLinks(empty, empty.copy(), np.empty(0), np.empty(0))
    max_range = np.broadcast_to(np.asarray(max_range_m, dtype=np.float64), (n_sat,))
    min_el = np.broadcast_to(np.asarray(min_elevation_deg, dtype=np.float64), (n_sat,))
    sat_r = np.linalg.norm(sat_pos_m, axis=1)
    search = np.minimum(max_range, _search_radius_m(sat_r, gs_pos_m, min_el))
    if n_gs * n_sat <= _DENSE_PAIR_LIMIT:
        # |s - g|^2 = |s|^2 + |g|^2 - 2 g.s as one matrix product picks the candidates; their
        # ranges are then recomputed exactly (the expansion loses ~1e-3 m^2 to rounding).
        gs_r2 = np.einsum("gi,gi->g", gs_pos_m, gs_pos_m)
        d2 = (sat_r**2)[None, :] + gs_r2[:, None] - 2.0 * (gs_pos_m @ sat_pos_m.T)
        with np.errstate(invalid="ignore"):
            g, s = np.nonzero(d2 <= (search[None, :] + 1.0) ** 2)
    else:
        # Both sides in k-d trees: scipy's dual-tree search returns all candidate pairs as arrays.
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
    return GroundLinks(g[order], s[order], r[order], el[order])


def visible_counts(
    points_m: np.ndarray,
    points_up: np.ndarray,
    sat_pos_m: np.ndarray,
    *,
    min_elevation_deg: float = 0.0,
    points_tree: cKDTree | None = None,
) -> np.ndarray:
    """Number of satellites above ``min_elevation_deg`` from each point (same rule as
    :func:`ground_links`, without building the pair table: for coverage over large grids).

    ``points_tree`` may be given to reuse a k-d tree of ``points_m`` across time steps.
    """
    n = len(points_m)
    sat_r = np.linalg.norm(sat_pos_m, axis=1)
    finite = np.isfinite(sat_r)
    if not finite.any() or n == 0:
        return np.zeros(n, dtype=np.int64)
    radius = float(np.max(_search_radius_m(sat_r[finite], points_m, min_elevation_deg)))
    sats = sat_pos_m[finite]
    tree = points_tree if points_tree is not None else cKDTree(points_m)
    pairs = tree.sparse_distance_matrix(cKDTree(sats), radius, output_type="ndarray")
    i, j, rng = pairs["i"], pairs["j"], pairs["v"]
    d = sats[j] - points_m[i]
    # sin(elevation) >= sin(min) without the arcsin: up . d >= sin(min) |d|
    ok = np.einsum("ki,ki->k", d, points_up[i]) >= math.sin(math.radians(min_elevation_deg)) * rng
    return np.bincount(i[ok], minlength=n)
