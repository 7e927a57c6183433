"""Coverage: how many satellites each point on Earth sees, how often, and the longest gap.

Points are an equal-area grid (:func:`equal_area_grid`) or given ones (cities, terminals).
At every time step a point counts the satellites above the minimum elevation; over the window
it gets the mean and minimum count, the share of time with at least one, and the longest run
without any.  Aggregates are per latitude band, per country (weighted by cell area) and per
country weighted by population.  With a policy, points where service is not allowed count as
not served, and say why.

>>> grid = equal_area_grid(10.0)
>>> len(grid.latitude_deg), round(float(grid.weight.sum() / 1e6), 1)   # Earth: 510.1 M km2
(412, 510.1)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from .errors import InputError
from .ground import geodetic_to_ecef_m, local_up
from .links import visible_counts
from .orbits import Orbits

EARTH_AREA_KM2 = 4 * np.pi * 6371.0088**2


@dataclass
class Points:
    """Ground points (degrees) with a weight each: cell area in km² for a grid, people for
    population points (the aggregates are weighted by it)."""

    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    weight: np.ndarray
    label: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.latitude_deg)


def equal_area_grid(resolution_deg: float, *, max_points: int = 5_000_000) -> Points:
    """Cell centres of an equal-area grid with cells of about ``resolution_deg`` × ``resolution_deg``.

    Latitude bands are ``resolution_deg`` tall; band ``i`` holds ``round(360 cos(φ_i) / res)``
    cells, so every cell covers nearly the same area (exact band areas from the sphere are
    shared equally between its cells).  1° gives 41,252 cells.
    """
    if not (np.isfinite(resolution_deg) and resolution_deg > 0):
        raise InputError(
            f"grid resolution must be > 0 degrees, got {resolution_deg}",
            key="coverage.resolution_deg",
        )
    expected = 41_253 / resolution_deg / resolution_deg  # a float: inf for a tiny resolution
    if expected > max_points:
        raise InputError(
            f"a {resolution_deg:g} deg grid has about {expected:,.3g} points, more than the "
            f"{max_points:,} allowed; use a coarser resolution_deg",
            key="coverage.resolution_deg",
        )
    n_bands = int(np.ceil(180.0 / resolution_deg))
    edges = np.linspace(-90.0, 90.0, n_bands + 1)
    centres = 0.5 * (edges[:-1] + edges[1:])
    n_lon = np.maximum(
        1, np.round(360.0 * np.cos(np.radians(centres)) / (180.0 / n_bands)).astype(int)
    )
    band_area = (
        2 * np.pi * 6371.0088**2 * (np.sin(np.radians(edges[1:])) - np.sin(np.radians(edges[:-1])))
    )
    lat = np.repeat(centres, n_lon)
    k = np.concatenate([np.arange(m) for m in n_lon])
    lon = -180.0 + (k + 0.5) * np.repeat(360.0 / n_lon, n_lon)
    area = np.repeat(band_area / n_lon, n_lon)
    return Points(lat, lon, area)


@dataclass
class CoverageResult:
    points: Points
    t_s: np.ndarray
    mean_visible: np.ndarray
    min_visible: np.ndarray
    max_visible: np.ndarray
    covered_fraction: np.ndarray
    longest_gap_s: np.ndarray
    allowed: np.ndarray
    block_reason: np.ndarray
    country: np.ndarray

    @property
    def served_fraction(self) -> np.ndarray:
        """Covered fraction where policy allows service, 0 where it does not."""
        return np.where(self.allowed, self.covered_fraction, 0.0)

    def point_table(self) -> dict[str, np.ndarray]:
        p = self.points
        out = {
            "latitude_deg": p.latitude_deg,
            "longitude_deg": p.longitude_deg,
            "country": self.country.astype(object),
            "weight": p.weight,
            "mean_visible": self.mean_visible,
            "min_visible": self.min_visible,
            "max_visible": self.max_visible,
            "covered_fraction": self.covered_fraction,
            "longest_gap_s": self.longest_gap_s,
            "served_fraction": self.served_fraction,
            "policy_block": self.block_reason.astype(object),
        }
        if p.label is not None:
            out = {"label": p.label.astype(object), **out}
        return out

    def _aggregate(self, keys: np.ndarray) -> dict[str, np.ndarray]:
        w = self.points.weight
        uniq, inv = np.unique(keys, return_inverse=True)
        tot = np.bincount(inv, weights=w)

        def wmean(x):
            return np.bincount(inv, weights=w * x) / np.where(tot > 0, tot, 1)

        always = (self.covered_fraction >= 1.0).astype(float)
        return {
            "key": uniq,
            "points": np.bincount(inv),
            "weight": tot,
            "mean_visible": wmean(self.mean_visible),
            "covered_fraction": wmean(self.covered_fraction),
            "always_covered_share": wmean(always),
            "served_fraction": wmean(self.served_fraction),
            "policy_blocked_share": wmean((~self.allowed).astype(float)),
            "worst_gap_s": np.array([self.longest_gap_s[inv == i].max() for i in range(len(uniq))]),
        }

    def by_latitude_band(self, band_deg: float = 10.0) -> dict[str, np.ndarray]:
        lo = np.floor(self.points.latitude_deg / band_deg) * band_deg
        agg = self._aggregate(lo)
        agg["band_lat_min_deg"] = agg.pop("key")
        return {"band_lat_min_deg": agg.pop("band_lat_min_deg"), **agg}

    def by_country(self, borders=None) -> dict[str, np.ndarray]:
        agg = self._aggregate(self.country.astype(str))
        codes = agg.pop("key")
        names = np.array(
            [borders.name_of(c) if borders is not None and c in borders else "" for c in codes],
            dtype=object,
        )
        codes = np.where(codes == "", "(sea)", codes)
        return {"country": codes.astype(object), "name": names, **agg}


@dataclass
class CoverageSetup:
    """What every step of a coverage run needs, fixed over the window."""

    points: Points
    pos_m: np.ndarray
    up: np.ndarray
    min_elevation_deg: float
    allowed: np.ndarray
    block_reason: np.ndarray
    country: np.ndarray


def prepare_coverage(
    net,
    points: Points,
    *,
    min_elevation_deg: float = 25.0,
    policy=None,
    borders=None,
    country: np.ndarray | None = None,
) -> CoverageSetup:
    """Countries, policy permissions (a policy's ``min_elevation_deg`` wins) and geometry."""
    n = len(points)
    if borders is None:
        from .borders import Borders

        borders = Borders.default()
    if country is None:
        country = borders.country_of(points.latitude_deg, points.longitude_deg)
    allowed = np.ones(n, bool)
    reason = np.full(n, "", dtype=object)
    if policy is not None:
        from .ground_segment import Terminals

        terms = Terminals(
            np.arange(n).astype(str).astype(object),
            points.latitude_deg,
            points.longitude_deg,
            np.asarray(country),
            points.weight,
        )
        allowed, reason = policy.terminal_permission(terms, borders)
        if policy.spec.min_elevation_deg is not None:
            min_elevation_deg = policy.spec.min_elevation_deg
    pos_g = geodetic_to_ecef_m(points.latitude_deg, points.longitude_deg, 0.0, net.ellipsoid)
    up = local_up(points.latitude_deg, points.longitude_deg)
    return CoverageSetup(
        points, pos_g, up, float(min_elevation_deg), allowed, reason, np.asarray(country)
    )


def step_lengths_ns(t_s: np.ndarray) -> np.ndarray:
    """Time each step stands for, integer nanoseconds: to the next step, the last one the
    median step (integers, so sums over any split of the window are exact and equal)."""
    t_s = np.asarray(t_s, dtype=np.float64)
    last = np.median(np.diff(t_s)) if len(t_s) > 1 else 0.0
    dt = np.diff(t_s, append=t_s[-1] + last) if len(t_s) else np.zeros(0)
    return np.round(dt * 1e9).astype(np.int64)


@dataclass
class CoveragePartial:
    """Per-point statistics of a run of consecutive steps, mergeable in time order
    (:func:`merge_coverage`); times in integer nanoseconds."""

    steps: int
    span_ns: int
    total: np.ndarray
    """Sum of the visible counts."""
    vmin: np.ndarray
    vmax: np.ndarray
    covered_ns: np.ndarray
    lead_ns: np.ndarray
    """Uncovered time before the first covered step (all of it if none is covered)."""
    trail_ns: np.ndarray
    """Uncovered time after the last covered step."""
    longest_ns: np.ndarray
    """Longest uncovered run inside (counted from the first step)."""
    any_covered: np.ndarray

    @classmethod
    def empty(cls, n: int) -> CoveragePartial:
        """The statistics of no steps at ``n`` points: :meth:`then` of it and ``p`` is ``p``."""
        z = np.zeros(n, dtype=np.int64)
        top = np.full(n, np.iinfo(np.int64).max)
        return cls(0, 0, z, top, z.copy(), z.copy(), z.copy(), z.copy(), z.copy(), z > 0)

    def then(self, p: CoveragePartial) -> CoveragePartial:
        """These steps followed by ``p``'s (associative, exact in integers)."""
        return CoveragePartial(
            self.steps + p.steps,
            self.span_ns + p.span_ns,
            self.total + p.total,
            np.minimum(self.vmin, p.vmin),
            np.maximum(self.vmax, p.vmax),
            self.covered_ns + p.covered_ns,
            np.where(self.any_covered, self.lead_ns, self.lead_ns + p.lead_ns),
            np.where(p.any_covered, p.trail_ns, self.trail_ns + p.trail_ns),
            # A gap running from these steps into p's is the two ends joined.
            np.maximum(np.maximum(self.longest_ns, p.longest_ns), self.trail_ns + p.lead_ns),
            self.any_covered | p.any_covered,
        )


def coverage_partial(
    net,
    setup: CoverageSetup,
    t_s: np.ndarray,
    dt_ns: np.ndarray,
    on_progress: Callable[[int], None] | None = None,
) -> CoveragePartial:
    """Visible-satellite statistics of ``setup.points`` at times ``t_s`` (seconds after
    ``net.start``), each standing for ``dt_ns`` (:func:`step_lengths_ns` of the window)."""
    t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    dt_ns = np.asarray(dt_ns, dtype=np.int64)
    acc = CoveragePartial.empty(len(setup.points))
    total, vmin, vmax, covered = acc.total, acc.vmin, acc.vmax, acc.covered_ns
    lead, run, longest, seen = acc.lead_ns, acc.trail_ns, acc.longest_ns, acc.any_covered
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    step = 0
    tree = cKDTree(setup.pos_m)  # the points do not move: one tree for all steps
    for ts, chunk in orbits.iter_ecef_m(net.start, t_s):
        for k in range(len(ts)):
            cnt = visible_counts(
                setup.pos_m,
                setup.up,
                chunk[k],
                min_elevation_deg=setup.min_elevation_deg,
                points_tree=tree,
            )
            total += cnt
            np.minimum(vmin, cnt, out=vmin)
            np.maximum(vmax, cnt, out=vmax)
            cov = cnt > 0
            d = dt_ns[step]
            covered += np.where(cov, d, 0)
            seen |= cov
            lead += np.where(seen, 0, d)
            run = np.where(cov, 0, run + d)
            np.maximum(longest, run, out=longest)
            step += 1
        if on_progress is not None:
            on_progress(len(ts))
    return CoveragePartial(
        len(t_s), int(dt_ns.sum()), total, vmin, vmax, covered, lead, run, longest, seen
    )


def merge_coverage(
    setup: CoverageSetup, t_s: np.ndarray, partials: Iterable[CoveragePartial]
) -> CoverageResult:
    """The :class:`CoverageResult` of the window ``t_s`` from its parts, in time order (one
    part in memory at a time; the same numbers whatever the split)."""
    acc = CoveragePartial.empty(len(setup.points))
    for p in partials:
        acc = acc.then(p)
    return CoverageResult(
        setup.points,
        np.asarray(t_s, dtype=np.float64),
        acc.total / max(acc.steps, 1),
        acc.vmin,
        acc.vmax,
        acc.covered_ns / acc.span_ns if acc.span_ns > 0 else (acc.vmin > 0).astype(float),
        acc.longest_ns / 1e9,
        setup.allowed,
        setup.block_reason,
        setup.country,
    )


def coverage(
    net,
    points: Points,
    t_s: Sequence[float] | np.ndarray,
    *,
    min_elevation_deg: float = 25.0,
    policy=None,
    borders=None,
    country: np.ndarray | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> CoverageResult:
    """Visible-satellite statistics of ``points`` over ``t_s`` (seconds after ``net.start``).

    Gaps: a step without a satellite counts for the time to the next step (the last step for the
    median step length), so the longest gap is in seconds and comparable across step lengths.
    The same as :func:`coverage_partial` of the whole window merged (:func:`merge_coverage`);
    ``leosim coverage`` computes the parts chunk by chunk.
    """
    t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    setup = prepare_coverage(
        net,
        points,
        min_elevation_deg=min_elevation_deg,
        policy=policy,
        borders=borders,
        country=country,
    )
    part = coverage_partial(net, setup, t_s, step_lengths_ns(t_s), on_progress)
    return merge_coverage(setup, t_s, [part])


def coverage_chunk(shared: tuple, item: tuple) -> CoveragePartial:
    """One chunk of a chunked coverage run (a task of :mod:`leosim.execution`): ``shared`` is
    ``(net, setups)``, ``item`` ``(index into setups, t_s, dt_ns)``."""
    net, setups = shared
    k, t_s, dt_ns = item
    return coverage_partial(net, setups[k], t_s, dt_ns)


def population_points(countries: Sequence[str] | None = None) -> Points:
    """Natural Earth populated places as points weighted by ``pop_max`` (people)."""
    from .ground_segment import populated_places

    pp = populated_places()
    sel = np.ones(len(pp), bool) if countries is None else np.isin(pp.country, list(countries))
    return Points(
        pp.latitude_deg[sel], pp.longitude_deg[sel], pp.pop_max[sel].astype(float), pp.name[sel]
    )
