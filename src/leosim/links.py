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
from .sssp import HAVE_NUMBA

if HAVE_NUMBA:
    import numba
    from numba import njit, prange


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
    index: np.ndarray | None = None
    """Where each pair sits among the candidate pairs (``None``: not known)."""

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
        return LaserGraph(isl_pairs, np.empty(0), 0, np.empty(0, dtype=np.int64))
    lengths = isl_lengths_m(sat_pos_m, isl_pairs)
    ok = lengths <= max_length_m
    return LaserGraph(isl_pairs[ok], lengths[ok], int((~ok).sum()), np.flatnonzero(ok))


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

    The slant range at elevation ``e`` from a point at radius ``r``,
    ``sqrt(sat_r^2 - (r cos e)^2) - r sin e``, bounded over the ground points' radii
    ``[r_lo, r_hi]``: ``r_lo`` in the square root, and in the last term ``r_lo`` for
    ``e >= 0`` (a lower point sees farther) or ``r_hi`` below the horizon.  ``e`` is the mask
    less 0.3 deg of slack for the angle between the geodetic and the geocentric vertical (at
    most 0.19 deg); plus 1 m; 0 for satellites without a position.
    """
    if len(ground_pos_m) == 0:  # no ground point: nothing is in view
        return np.zeros(np.shape(sat_r))
    radii = np.linalg.norm(ground_pos_m, axis=1)
    r_lo, r_hi = float(np.min(radii)) - 1.0, float(np.max(radii)) + 1.0
    eps = np.radians(np.asarray(min_elevation_deg, dtype=np.float64) - 0.3)
    sin_e = np.sin(eps)
    with np.errstate(invalid="ignore"):
        r = (
            np.sqrt(np.maximum(sat_r**2 - (r_lo * np.cos(eps)) ** 2, 0.0))
            - np.where(sin_e >= 0.0, r_lo, r_hi) * sin_e
        )
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

    The pairs come from a grid search (numba, :func:`_grid_links`) already in (station,
    satellite) order, with the range ``sqrt(d.d)`` and ``sin(elevation) = d.up / range``
    computed with the same floating-point operations as numpy's ``einsum`` here; the
    elevation is numpy's ``degrees(arcsin(...))`` (so the values do not depend on numba's
    math library).
    """
    n_gs, n_sat = len(gs_pos_m), len(sat_pos_m)
    if n_gs == 0 or n_sat == 0:  # an empty ground or space segment has no links
        empty = np.empty(0, dtype=np.int64)
        return GroundLinks(empty, empty.copy(), np.empty(0), np.empty(0))
    max_range = np.broadcast_to(np.asarray(max_range_m, dtype=np.float64), (n_sat,))
    min_el = np.broadcast_to(np.asarray(min_elevation_deg, dtype=np.float64), (n_sat,))
    sat_r = np.linalg.norm(sat_pos_m, axis=1)
    search = np.minimum(max_range, _search_radius_m(sat_r, gs_pos_m, min_el))
    order = _einsum3_order() if HAVE_NUMBA else -1
    if order >= 0:
        g, s, r, sin_el = _grid_links(gs_pos_m, gs_up, sat_pos_m, sat_r, search, order)
    else:  # pragma: no cover - numba missing, or an einsum we cannot reproduce
        if HAVE_NUMBA:
            g, s, _, _ = _grid_links(gs_pos_m, gs_up, sat_pos_m, sat_r, search, -1)
        else:
            g, s = _tree_candidates(gs_pos_m, sat_pos_m, sat_r, search)
            key = np.lexsort((s, g))
            g, s = g[key], s[key]
        dvec = sat_pos_m[s] - gs_pos_m[g]
        r = np.sqrt(np.einsum("ki,ki->k", dvec, dvec))
        with np.errstate(invalid="ignore", divide="ignore"):
            sin_el = np.einsum("ki,ki->k", dvec, gs_up[g]) / r
    el = np.degrees(np.arcsin(np.clip(sin_el, -1.0, 1.0)))
    ok = (r <= max_range[s]) & (el >= min_el[s])
    return GroundLinks(g[ok], s[ok], r[ok], el[ok])


def _tree_candidates(gs_pos_m, sat_pos_m, sat_r, search):
    """Candidate pairs ``(g, s)`` (unordered) by scipy's dual k-d tree search: the fallback
    without numba."""
    finite = np.isfinite(sat_r)
    sat_ids = np.flatnonzero(finite)
    radius = float(np.max(search[finite])) + 1.0 if finite.any() else 0.0
    pairs = cKDTree(gs_pos_m).sparse_distance_matrix(
        cKDTree(sat_pos_m[finite]), radius, output_type="ndarray"
    )
    return pairs["i"].astype(np.int64), sat_ids[pairs["j"]]


_EINSUM3_ORDER: list[int] = []


def _einsum3_order() -> int:
    """How this numpy sums ``einsum("ki,ki->k")`` over 3 components: 0 for ``(p0 + p1) + p2``,
    1 for ``(p0 + p2) + p1`` (numpy 2 with 2-lane SIMD), 2 for ``p0 + (p1 + p2)``; -1 when
    none matches.  Found once per process on random vectors (any other order disagrees
    with each of these on about a third of them)."""
    if not _EINSUM3_ORDER:
        rng = np.random.default_rng(12345)
        a, b = rng.normal(size=(2, 4096, 3)) * 1e6
        e = np.einsum("ki,ki->k", a, b)
        p = a * b
        sums = ((p[:, 0] + p[:, 1]) + p[:, 2], (p[:, 0] + p[:, 2]) + p[:, 1],
                p[:, 0] + (p[:, 1] + p[:, 2]))  # fmt: skip
        found = [i for i, v in enumerate(sums) if np.array_equal(v, e)]
        _EINSUM3_ORDER.append(found[0] if found else -1)
    return _EINSUM3_ORDER[0]


_GRID_MAX_CELLS_PER_AXIS = 64
_PARALLEL_MIN_PAIRS = 10_000_000
"""Station x satellite pairs from which the grid search uses numba's threads."""
"""The grid of :func:`_grid_links` has at most this many cells along an axis (cells grow
when the search radius is small against the constellation's extent)."""


def _grid_links(gs_pos_m, gs_up, sat_pos_m, sat_r, search, order):
    """Candidate pairs ``(g, s, range_m, sin_el)`` sorted by station then satellite: every
    pair closer than ``search[s] + 1`` m, with its range and the sine of its elevation
    computed in numpy's einsum summation ``order`` (see :func:`_einsum3_order`); with
    ``order < 0`` only ``(g, s)`` (range and sine empty).

    Satellites and stations are binned in one uniform grid of cubes (Earth-fixed, metres) no
    smaller than the largest search radius, so a satellite in range of a station lies in one
    of the 27 cubes around the station's.  Per occupied station cube (numba threads over
    cubes) those satellites are gathered once, in id order, and tested against each of its
    stations: a count pass, then a fill pass.
    """
    finite = np.isfinite(sat_r)
    if not finite.any():
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0), np.empty(0)
    sats = np.ascontiguousarray(sat_pos_m, dtype=np.float64)
    gs = np.ascontiguousarray(gs_pos_m, dtype=np.float64)
    up = np.ascontiguousarray(gs_up, dtype=np.float64)
    lim = np.where(finite, search + 1.0, -1.0)
    lo, hi = _bounding_box(sats, finite, gs)
    extent = float(np.max(hi - lo))
    cell = max(float(lim.max()) * (1.0 + 1e-9) + 1.0, extent / _GRID_MAX_CELLS_PER_AXIS, 1.0)
    dims = (np.floor((hi - lo) / cell) + 1).astype(np.int64)
    inv = 1.0 / cell
    s_start, s_members = _bin_points(sats, finite, lo, inv, dims)
    g_start, g_members = _bin_points(gs, np.ones(len(gs), dtype=np.bool_), lo, inv, dims)
    occupied = np.flatnonzero(np.diff(g_start)).astype(np.int64)
    lim2 = lim * lim
    grid = (s_start, s_members, g_start, g_members, occupied, dims)
    counts = np.zeros(len(gs), dtype=np.int64)
    threads = numba.get_num_threads()
    # Few stations: one thread (waking the others costs more than it saves, and on a busy
    # machine a parallel region can wait a whole time slice for a descheduled thread).
    numba.set_num_threads(threads if len(gs) * len(sats) >= _PARALLEL_MIN_PAIRS else 1)
    try:
        _count_cells(gs, sats, lim2, grid, counts)
        offsets = np.zeros(len(gs) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        k = int(offsets[-1])
        s = np.empty(k, dtype=np.int64)
        r, sin_el = (np.empty(k), np.empty(k)) if order >= 0 else (np.empty(0), np.empty(0))
        _fill_cells(gs, up, sats, lim2, grid, order, offsets, s, r, sin_el)
    finally:
        numba.set_num_threads(threads)
    g = np.repeat(np.arange(len(gs), dtype=np.int64), counts)
    return g, s, r, sin_el


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _bounding_box(sats, use, gs):  # pragma: no cover - compiled
        """Corners ``(lo, hi)`` of the box around the satellites ``use`` marks and the
        stations, in one pass (numpy's axis reductions over ``(n, 3)`` are strided)."""
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for i in range(len(sats)):
            if use[i]:
                for j in range(3):
                    lo[j] = min(lo[j], sats[i, j])
                    hi[j] = max(hi[j], sats[i, j])
        for i in range(len(gs)):
            for j in range(3):
                lo[j] = min(lo[j], gs[i, j])
                hi[j] = max(hi[j], gs[i, j])
        return lo, hi

    @njit(cache=True, nogil=True)
    def _bin_points(pts, use, lo, inv_cell, dims):  # pragma: no cover - compiled
        """Counting sort of the points ``use`` marks into grid cells: ``(start, members)``;
        the members of cell ``c`` are ``members[start[c]:start[c + 1]]``, in increasing id."""
        nx, ny, nz = dims[0], dims[1], dims[2]
        n = len(pts)
        cell_of = np.full(n, -1, dtype=np.int64)
        start = np.zeros(nx * ny * nz + 1, dtype=np.int64)
        for s in range(n):
            if use[s]:
                ix = min(max(int((pts[s, 0] - lo[0]) * inv_cell), 0), nx - 1)
                iy = min(max(int((pts[s, 1] - lo[1]) * inv_cell), 0), ny - 1)
                iz = min(max(int((pts[s, 2] - lo[2]) * inv_cell), 0), nz - 1)
                c = (ix * ny + iy) * nz + iz
                cell_of[s] = c
                start[c + 1] += 1
        for c in range(nx * ny * nz):
            start[c + 1] += start[c]
        fill = start[:-1].copy()
        members = np.empty(start[-1], dtype=np.int64)
        for s in range(n):
            c = cell_of[s]
            if c >= 0:
                members[fill[c]] = s
                fill[c] += 1
        return start, members

    @njit(cache=True, nogil=True, inline="always")
    def _gather(c, sats, lim2, s_start, s_members, dims):  # pragma: no cover - compiled
        """Satellites of the 27 cells around cell ``c``, in increasing id: ids, x, y, z and
        squared search radius as separate arrays (for SIMD)."""
        nx, ny, nz = dims[0], dims[1], dims[2]
        cz = c % nz
        cy = (c // nz) % ny
        cx = c // (ny * nz)
        m = 0
        for pas in range(2):
            if pas == 1:
                ids = np.empty(m, dtype=np.int64)
                m = 0
            for ix in range(max(cx - 1, 0), min(cx + 2, nx)):
                for iy in range(max(cy - 1, 0), min(cy + 2, ny)):
                    for iz in range(max(cz - 1, 0), min(cz + 2, nz)):
                        q = (ix * ny + iy) * nz + iz
                        if pas == 0:
                            m += s_start[q + 1] - s_start[q]
                        else:
                            for j in range(s_start[q], s_start[q + 1]):
                                ids[m] = s_members[j]
                                m += 1
        ids.sort()
        px, py, pz, pl = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
        for j in range(m):
            q = ids[j]
            px[j] = sats[q, 0]
            py[j] = sats[q, 1]
            pz[j] = sats[q, 2]
            pl[j] = lim2[q]
        return ids, px, py, pz, pl

    @njit(cache=True, nogil=True, parallel=True)
    def _count_cells(gs, sats, lim2, grid, counts):  # pragma: no cover - compiled
        """``counts[g]``: satellites closer to station ``g`` than ``sqrt(lim2[s])``."""
        s_start, s_members, g_start, g_members, occupied, dims = grid
        for i in prange(len(occupied)):
            c = occupied[i]
            _, px, py, pz, pl = _gather(c, sats, lim2, s_start, s_members, dims)
            for jg in range(g_start[c], g_start[c + 1]):
                g = g_members[jg]
                x, y, z = gs[g, 0], gs[g, 1], gs[g, 2]
                k = 0
                for j in range(len(px)):
                    dx = px[j] - x
                    dy = py[j] - y
                    dz = pz[j] - z
                    k += dx * dx + dy * dy + dz * dz <= pl[j]
                counts[g] = k

    @njit(cache=True, nogil=True, inline="always")
    def _dot3(a0, a1, a2, b0, b1, b2, order):  # pragma: no cover - compiled
        p0 = a0 * b0
        p1 = a1 * b1
        p2 = a2 * b2
        if order == 1:
            return (p0 + p2) + p1
        if order == 2:
            return p0 + (p1 + p2)
        return (p0 + p1) + p2

    @njit(cache=True, nogil=True, parallel=True, error_model="numpy")
    def _fill_cells(
        gs, up, sats, lim2, grid, order, offsets, out_s, out_r, out_sin
    ):  # pragma: no cover - compiled
        """The pairs :func:`_count_cells` counted, from ``offsets[g]`` on, in increasing
        satellite id, with range and sine of elevation when ``order >= 0``."""
        s_start, s_members, g_start, g_members, occupied, dims = grid
        for i in prange(len(occupied)):
            c = occupied[i]
            ids, px, py, pz, pl = _gather(c, sats, lim2, s_start, s_members, dims)
            hit = np.empty(len(ids), dtype=np.int64)
            for jg in range(g_start[c], g_start[c + 1]):
                g = g_members[jg]
                x, y, z = gs[g, 0], gs[g, 1], gs[g, 2]
                nh = 0
                for j in range(len(px)):  # branch-free: most are misses
                    dx = px[j] - x
                    dy = py[j] - y
                    dz = pz[j] - z
                    hit[nh] = j
                    nh += dx * dx + dy * dy + dz * dz <= pl[j]
                k = offsets[g]
                for t in range(nh):
                    j = hit[t]
                    out_s[k + t] = ids[j]
                    if order >= 0:
                        dx = px[j] - x
                        dy = py[j] - y
                        dz = pz[j] - z
                        r = np.sqrt(_dot3(dx, dy, dz, dx, dy, dz, order))
                        out_r[k + t] = r
                        out_sin[k + t] = _dot3(dx, dy, dz, up[g, 0], up[g, 1], up[g, 2], order) / r

else:  # pragma: no cover
    _bin_points = _count_cells = _fill_cells = None


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
