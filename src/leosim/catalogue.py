"""Infer shells, orbital planes and slots from a real TLE catalogue, and build +Grid ISLs.

A public TLE catalogue says nothing about which shell, plane or slot a satellite occupies, yet a
+Grid inter-satellite-link topology needs exactly that.  :func:`infer_structure` propagates every
satellite to one common time with SGP4, computes its orbit geometry there and clusters it:

1. **Propagation** (``SatrecArray.sgp4``, vectorised).  Satellites for which SGP4 returns a non-zero
   error code are set aside with reason ``"sgp4 error N"`` and counted in a
   :class:`~leosim.errors.PropagationWarning`.  Satellites whose TLE mean eccentricity exceeds
   ``max_eccentricity`` are set aside too (they are manoeuvring, not holding a slot).
2. **Geometry at the common time** from the TEME state ``r, v``: inclination and RAAN from the
   angular momentum ``h = r x v``, argument of latitude ``u`` (ascending node to the satellite).
   The altitude used for banding is the *mean* altitude ``a - 6378.135 km`` with
   ``a = (mu / n^2)^(1/3)`` from the TLE's Kozai mean motion ``Satrec.no_kozai`` (WGS72 ``mu``).
   It is preferred to the instantaneous ``|r| - R``, which swings by +-5 to 10 km around an orbit
   (eccentricity, J2 short-period terms) and would blur bands that Starlink holds within ~1 km.
   Mean altitudes come out about 1 km below the nominal shell altitudes of the filings.
3. **Shells**: greedy mode seeking in the (inclination, altitude) plane.  The satellite with the
   most neighbours within a narrow window (+-0.05 deg, +-1 km) seeds a shell at the median of
   those neighbours (the operational altitude is the densest band, not the mean of a band that
   also holds satellites in transit); the shell takes the unassigned satellites within
   ``+-inc_tol_deg`` and ``+-alt_tol_km`` of that seed, if there are at least ``min_shell_sats`` of
   them.  Repeat until no dense seed is left.  Each satellite then goes to the nearest shell whose
   box contains it.  The rest are set aside: ``"orbit raising/lowering: ..."`` when a shell has
   its inclination but not its altitude, ``"no shell: ..."`` otherwise.  A cluster whose median
   RAAN group (step 4) has fewer than ``min_plane_sats`` satellites is not a shell (launch
   batches drifting from a parking orbit to their planes); its members are set aside too.
4. **Planes**: within a shell, RAANs *at the common time* are sorted around the circle and split
   at every gap wider than ``plane_gap_deg`` (default 1 deg: Starlink planes are >= 3 deg apart,
   while one plane's RAAN spread from differential J2 precession stays below ~1 deg in a band;
   TLE epochs that differ by 0.4 day would smear planes by ~2 deg at 53 deg, which is why the
   epoch RAANs are never used).  Plane 0 is the plane after the widest gap; ids increase
   eastward (increasing RAAN).  The number of planes is whatever the gaps say; empty planes
   are simply absent.  RAAN groups smaller than ``min_plane_sats`` are satellites drifting
   between planes: set aside with reason ``"between planes: ..."``.
5. **Slots**: within a plane, satellites are ordered by argument of latitude, slot 0 being the
   smallest ``u`` in [0, 360).
6. **+Grid ISLs**: each satellite links to its successor by ``u`` in its plane (wrapping), and to
   one satellite of the next plane east.  The cross-plane partner is the one with the closest
   ``u`` (shifted by ``phase_offset_deg``), chosen by a one-to-one minimum-cost assignment
   (``scipy.optimize.linear_sum_assignment``) so that nobody gets more than one east and one
   west partner: every degree is <= 4.  Costs are capped at ``max_cross_phase_deg`` (default
   one slot spacing of the fuller plane) and pairs at the cap are dropped, so that in
   partially populated planes a satellite facing a hole gets no east link rather than a
   forced, far one.  Two planes adjacent in RAAN are linked only if the gap
   between their mean RAANs is at most ``max_plane_link_gap_factor`` times the shell's median
   gap: this links across a missing plane (gap 2x) and wraps plane P-1 to plane 0 in a Walker
   delta shell spanning 360 deg, but does not wrap the seam of a polar shell whose planes span
   only 180 deg (the seam gap is ~P times the spacing; satellites there counter-rotate).
   Links are not length-checked here: use :func:`check_isl_lengths` (or
   :meth:`CatalogueStructure.check_isl_lengths`) and decide what to do with the long ones.

Example::

    from sgp4.api import Satrec
    from leosim.catalogue import infer_structure

    sats = [Satrec.twoline2rv(l1, l2) for l1, l2 in pairs]
    structure = infer_structure(sats, names)
    print(structure.summary())
    report = structure.check_isl_lengths()       # grazing limit (80 km) per link
    good_isls = structure.isl_pairs[~report.too_long]
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from sgp4.api import Satrec, SatrecArray

from .constants import EARTH_RADIUS_M, ISL_GRAZING_ALTITUDE_M, MU_EARTH_WGS72_M3_S2
from .errors import InputError, PropagationWarning
from .links import isl_lengths_m, max_isl_length_m

__all__ = [
    "CatalogueStructure",
    "IslLengthCheck",
    "SetAside",
    "ShellInfo",
    "check_isl_lengths",
    "infer_structure",
    "isl_lengths_m",
    "max_isl_length_m",
]

_EARTH_RADIUS_KM = EARTH_RADIUS_M / 1000.0  # WGS72, as SGP4
_MU_KM3_S2 = MU_EARTH_WGS72_M3_S2 / 1e9
_SGP4_ERRORS = {
    1: "mean eccentricity out of range",
    2: "mean motion below zero",
    3: "perturbed eccentricity out of range",
    4: "semi-latus rectum below zero",
    6: "orbit decayed",
}
# Narrow window used to find the densest (operational) band of a shell.
_PEAK_INC_DEG = 0.05
_PEAK_ALT_KM = 1.0


class SetAside(NamedTuple):
    """A satellite left out of the structure (no shell, plane, slot or ISL)."""

    index: int
    """Index into the input sequence."""
    name: str
    reason: str


@dataclass(frozen=True)
class ShellInfo:
    """One inferred shell.  Angles in degrees, altitudes in km (mean, from mean motion)."""

    shell_id: int
    inclination_deg: float
    """Median inclination of the members at the reference time."""
    altitude_km: float
    """Operational (densest-band) mean altitude."""
    altitude_band_km: tuple[float, float]
    """Members lie within this altitude band (and within the inclination tolerance)."""
    n_sats: int
    n_planes: int
    sats_per_plane: tuple[int, ...]
    """Members per plane, indexed by plane id."""
    plane_raan_deg: tuple[float, ...]
    """Circular mean RAAN of each plane at the reference time, indexed by plane id."""
    wraps: bool
    """Whether the last plane is linked to plane 0 (the shell's planes span 360 deg)."""
    n_isls: int

    @property
    def sats_per_plane_min(self) -> int:
        return min(self.sats_per_plane)

    @property
    def sats_per_plane_median(self) -> float:
        return float(np.median(self.sats_per_plane))

    @property
    def sats_per_plane_max(self) -> int:
        return max(self.sats_per_plane)


@dataclass(frozen=True)
class IslLengthCheck:
    """Lengths of a set of ISLs against a maximum; ``too_long`` marks the offending links."""

    lengths_m: np.ndarray
    """(n_isl,) link lengths, m."""
    max_length_m: np.ndarray
    """(n_isl,) the limit each link was checked against, m."""
    too_long: np.ndarray
    """(n_isl,) bool, True where the link is longer than its limit (or has no length)."""

    @property
    def n_too_long(self) -> int:
        return int(self.too_long.sum())

    @property
    def fraction_within(self) -> float:
        """Fraction of links within their limit (1.0 for no links)."""
        n = self.too_long.size
        return 1.0 if n == 0 else 1.0 - self.n_too_long / n

    def __str__(self) -> str:
        n = self.too_long.size
        if n == 0:
            return "no ISLs to check"
        longest = np.nanmax(self.lengths_m) / 1000.0 if np.isfinite(self.lengths_m).any() else 0
        return (
            f"{n - self.n_too_long} of {n} ISLs ({100 * self.fraction_within:.2f}%) within their "
            f"maximum length; {self.n_too_long} too long; longest {longest:,.0f} km"
        )


@dataclass(frozen=True)
class CatalogueStructure:
    """Shells, planes, slots and +Grid ISLs inferred from a catalogue at one reference time.

    Per-satellite arrays have the input's length and order; ``-1`` (ids) or NaN (geometry) marks
    satellites that were set aside or could not be propagated.  Arrays are read-only.
    """

    jd: float
    fr: float
    """Reference time as an SGP4 Julian date pair (UTC)."""
    names: tuple[str, ...]
    shell_id: np.ndarray
    plane_id: np.ndarray
    """Plane index within the satellite's shell (0 .. n_planes-1, eastward)."""
    slot: np.ndarray
    """Rank by argument of latitude within the plane (0 .. n-1)."""
    inclination_deg: np.ndarray
    raan_deg: np.ndarray
    arg_latitude_deg: np.ndarray
    altitude_km: np.ndarray
    """Mean altitude a - 6378.135 km, a from the Kozai mean motion."""
    eccentricity: np.ndarray
    """TLE mean eccentricity."""
    positions_m: np.ndarray
    """(n_sat, 3) TEME positions at the reference time, m."""
    shells: tuple[ShellInfo, ...]
    set_aside: tuple[SetAside, ...]
    isl_pairs: np.ndarray
    """(n_isl, 2) int64 indices into the input order, i < j, unique, sorted."""
    rejected_clusters: tuple[str, ...] = ()
    """Dense clusters that were not accepted as shells, and why (their satellites are set aside)."""
    params: dict = field(default_factory=dict, compare=False)

    @property
    def n_sats(self) -> int:
        return len(self.names)

    @property
    def reference_utc(self) -> datetime:
        """The reference time as a UTC datetime (to the microsecond)."""
        days = (self.jd - 2451545.0) + self.fr
        return datetime(2000, 1, 1, 12, tzinfo=UTC) + timedelta(days=days)

    def isl_lengths_m(self) -> np.ndarray:
        """(n_isl,) lengths of :attr:`isl_pairs` at the reference time, m."""
        return isl_lengths_m(self.positions_m, self.isl_pairs)

    def check_isl_lengths(self, max_length_m: float | None = None) -> IslLengthCheck:
        """Check the ISLs at the reference time; see :func:`check_isl_lengths`."""
        return check_isl_lengths(self.positions_m, self.isl_pairs, max_length_m)

    def degree(self) -> np.ndarray:
        """(n_sat,) number of ISLs at each satellite."""
        return np.bincount(self.isl_pairs.ravel(), minlength=self.n_sats)

    def set_aside_counts(self) -> dict[str, int]:
        """Number of set-aside satellites per reason category, largest first."""
        counts = Counter(_reason_category(s.reason) for s in self.set_aside)
        return dict(counts.most_common())

    def summary(self) -> str:
        """A plain-text table: satellites per shell, planes, ISLs, and set-aside reasons."""
        n_in = int((self.shell_id >= 0).sum())
        lines = [
            f"Catalogue structure at {self.reference_utc:%Y-%m-%d %H:%M:%S} UTC "
            f"(JD {self.jd + self.fr:.6f}): {self.n_sats} satellites, {n_in} in "
            f"{len(self.shells)} shells, {len(self.set_aside)} set aside, "
            f"{len(self.isl_pairs)} ISLs",
            "",
            f"{'shell':>5} {'incl_deg':>8} {'alt_km':>7} {'band_km':>9} {'sats':>6} "
            f"{'planes':>6} {'sats/plane min/med/max':>22} {'wrap':>4} {'ISLs':>6}",
        ]
        for s in self.shells:
            band = f"{s.altitude_band_km[0]:.0f}-{s.altitude_band_km[1]:.0f}"
            per_plane = (
                f"{s.sats_per_plane_min} / {s.sats_per_plane_median:g} / {s.sats_per_plane_max}"
            )
            lines.append(
                f"{s.shell_id:>5} {s.inclination_deg:>8.2f} {s.altitude_km:>7.1f} {band:>9} "
                f"{s.n_sats:>6} {s.n_planes:>6} {per_plane:>22} {'yes' if s.wraps else 'no':>4} "
                f"{s.n_isls:>6}"
            )
        check = self.check_isl_lengths()
        lines += ["", f"ISL length check (line of sight grazing at 80 km): {check}"]
        lines += ["", f"{'set aside (reason)':<40} {'count':>6}"]
        for reason, count in self.set_aside_counts().items():
            lines.append(f"{reason:<40} {count:>6}")
        if not self.set_aside:
            lines.append(f"{'(none)':<40} {0:>6}")
        if self.rejected_clusters:
            lines += ["", "clusters not accepted as shells (members set aside):"]
            lines += [f"  {c}" for c in self.rejected_clusters]
        return "\n".join(lines)


def check_isl_lengths(
    positions_m: np.ndarray,
    isl_pairs: np.ndarray,
    max_length_m: float | np.ndarray | None = None,
    *,
    grazing_altitude_m: float = ISL_GRAZING_ALTITUDE_M,
) -> IslLengthCheck:
    """Flag ISLs longer than ``max_length_m`` (m, scalar or per link).

    With ``max_length_m=None`` each link is checked against its own line-of-sight limit
    (:func:`max_isl_length_m` for the radii of its two ends, grazing at ``grazing_altitude_m``).
    Nothing is removed: the caller decides what to do with ``too_long``.
    """
    pos = np.asarray(positions_m, dtype=float)
    pairs = np.asarray(isl_pairs, dtype=np.int64).reshape(-1, 2)
    lengths = isl_lengths_m(pos, pairs)
    if max_length_m is None:
        alt = np.linalg.norm(pos, axis=1) - EARTH_RADIUS_M
        limit = max_isl_length_m(
            alt[pairs[:, 0]], alt[pairs[:, 1]], grazing_altitude_m=grazing_altitude_m
        )
    else:
        limit = np.broadcast_to(np.asarray(max_length_m, dtype=float), lengths.shape).copy()
    too_long = ~(lengths <= limit)  # NaN lengths count as too long
    return IslLengthCheck(_ro(lengths), _ro(limit), _ro(too_long))


def infer_structure(
    satrecs: Sequence[Satrec],
    names: Sequence[str] | None = None,
    *,
    jd: float | None = None,
    fr: float = 0.0,
    inc_tol_deg: float = 0.1,
    alt_tol_km: float = 10.0,
    min_shell_sats: int = 50,
    min_plane_sats: int = 3,
    max_eccentricity: float = 0.005,
    plane_gap_deg: float = 1.0,
    max_plane_link_gap_factor: float = 2.5,
    phase_offset_deg: float = 0.0,
    max_cross_phase_deg: float | None = None,
) -> CatalogueStructure:
    """Infer shells, planes, slots and +Grid ISLs of a catalogue at one common time.

    Parameters
    ----------
    satrecs, names:
        Parsed satellites and (optionally) their names; names default to the catalogue numbers.
    jd, fr:
        Reference time, SGP4 Julian date pair (UTC).  Default: the median TLE epoch.
    inc_tol_deg, alt_tol_km:
        Half-widths of a shell's box around its operational inclination and mean altitude.
        0.1 deg, not 0.5: Starlink's Gen1 shells 53.0 deg/550 km and 53.2 deg/540 km differ by
        only 0.17 deg and 8 km of mean altitude (a 0.5 deg box merges them into one 144-plane
        "shell" in the 2023 catalogue), while each shell holds its inclination within +-0.03 deg.
    min_shell_sats:
        Smallest cluster accepted as a shell; smaller ones are set aside.
    min_plane_sats:
        A plane needs this many satellites: smaller RAAN groups are satellites drifting
        between planes and are set aside.  A cluster whose median RAAN group is smaller is
        scattered traffic (parking or transfer orbits), not a shell, and is set aside whole.
    max_eccentricity:
        Satellites with a larger TLE mean eccentricity are set aside.
    plane_gap_deg:
        A RAAN gap wider than this separates two planes of a shell.
    max_plane_link_gap_factor:
        Two planes adjacent in RAAN get cross-plane ISLs only if their mean RAANs differ by at
        most this times the shell's median inter-plane gap (see the module notes on wrapping).
    phase_offset_deg:
        Cross-plane partners minimise ``|u_east - u - phase_offset_deg|``.
    max_cross_phase_deg:
        Cross-plane pairs whose ``u`` differ by this much or more (after the offset) are not
        linked.  Default: one slot spacing of the fuller of the two planes (360 / n), i.e. a
        partner must be beside the satellite, not a slot or more ahead or behind.

    Raises
    ------
    InputError
        Empty catalogue, names of the wrong length, or a bad parameter.
    """
    n = len(satrecs)
    if n == 0:
        raise InputError("the catalogue is empty: no satellites to structure", key="satrecs")
    if names is None:
        names = [getattr(s, "satnum_str", None) or str(s.satnum) for s in satrecs]
    elif len(names) != n:
        raise InputError(f"got {len(names)} names for {n} satellites", key="names")
    for key, value in (
        ("inc_tol_deg", inc_tol_deg),
        ("alt_tol_km", alt_tol_km),
        ("plane_gap_deg", plane_gap_deg),
        ("max_plane_link_gap_factor", max_plane_link_gap_factor),
        ("max_eccentricity", max_eccentricity),
    ):
        if not value > 0:
            raise InputError(f"must be > 0, got {value!r}", key=key)
    for key, count in (("min_shell_sats", min_shell_sats), ("min_plane_sats", min_plane_sats)):
        if count < 1:
            raise InputError(f"must be >= 1, got {count!r}", key=key)
    names = tuple(str(x).strip() for x in names)

    epoch_whole = np.array([s.jdsatepoch for s in satrecs], dtype=float)
    epoch_frac = np.array([s.jdsatepochF for s in satrecs], dtype=float)
    if jd is None:
        # Median in (day, fraction) form so that no precision is lost in the large JD.
        base = np.floor(np.min(epoch_whole + epoch_frac) - 0.5) + 0.5
        med = float(np.median((epoch_whole - base) + epoch_frac))
        jd, fr = base + np.floor(med), med - np.floor(med)
    jd, fr = float(jd), float(fr)

    err, r_km, v_km_s = SatrecArray(list(satrecs)).sgp4(np.array([jd]), np.array([fr]))
    err, r_km, v_km_s = err[:, 0], r_km[:, 0], v_km_s[:, 0]
    bad = err != 0
    r_km[bad] = np.nan
    v_km_s[bad] = np.nan
    if bad.any():
        codes = Counter(int(e) for e in err[bad])
        detail = ", ".join(f"{c} with error {e}" for e, c in sorted(codes.items()))
        warnings.warn(
            f"{int(bad.sum())} of {n} satellites could not be propagated to JD {jd + fr:.6f} "
            f"({detail}); they are set aside",
            PropagationWarning,
            stacklevel=2,
        )

    inc, raan, u = _plane_angles_deg(r_km, v_km_s)
    no_kozai = np.array([s.no_kozai for s in satrecs], dtype=float)  # rad/min
    with np.errstate(divide="ignore", invalid="ignore"):
        a_km = (_MU_KM3_S2 / (no_kozai / 60.0) ** 2) ** (1.0 / 3.0)
    alt = a_km - _EARTH_RADIUS_KM
    ecc = np.array([s.ecco for s in satrecs], dtype=float)
    for arr in (inc, raan, u, alt):
        arr[bad] = np.nan

    reasons: dict[int, str] = {int(i): f"sgp4 error {int(err[i])}" for i in np.flatnonzero(bad)}
    too_eccentric = ~bad & (ecc > max_eccentricity)
    for i in np.flatnonzero(too_eccentric):
        reasons[int(i)] = f"eccentricity {ecc[i]:.4f} too high (max {max_eccentricity:g})"
    ok = ~bad & ~too_eccentric & np.isfinite(alt) & np.isfinite(inc)

    centres = _find_shell_centres(inc, alt, ok, inc_tol_deg, alt_tol_km, min_shell_sats)
    # Shell ids by inclination then altitude, for a stable, readable table.
    centres.sort(key=lambda c: (round(c[0], 1), c[1]))
    rejected: list[str] = []
    while True:
        shell_id = _assign_shells(inc, alt, ok, centres, inc_tol_deg, alt_tol_km)
        counts = np.bincount(shell_id[shell_id >= 0], minlength=len(centres))
        drop = []
        for k, (c_inc, c_alt) in enumerate(centres):
            # A seed box can lose members to a closer shell and fall below the minimum.
            if counts[k] < min_shell_sats:
                drop.append(k)
                rejected.append(
                    f"{c_inc:.2f}°/{c_alt:.0f} km: {counts[k]} satellites < {min_shell_sats}"
                )
                continue
            members = np.flatnonzero(shell_id == k)
            planes, _ = _split_planes(raan[members], plane_gap_deg)
            median_per_plane = float(np.median(np.bincount(planes)))
            if median_per_plane < min_plane_sats:
                # Mostly lone satellites scattered in RAAN: launch batches in a parking orbit
                # drifting to their planes, or transfer traffic, not an organised shell.
                drop.append(k)
                rejected.append(
                    f"{c_inc:.2f}°/{c_alt:.0f} km: {counts[k]} satellites in "
                    f"{int(planes.max()) + 1} RAAN groups, median {median_per_plane:g} per "
                    f"group < {min_plane_sats}"
                )
        if not drop:
            break
        centres = [c for k, c in enumerate(centres) if k not in drop]

    for i in np.flatnonzero(ok & (shell_id < 0)):
        reasons[int(i)] = _no_shell_reason(
            inc[i], alt[i], centres, inc_tol_deg, alt_tol_km, min_shell_sats
        )

    plane_id = np.full(n, -1, dtype=np.int64)
    slot = np.full(n, -1, dtype=np.int64)
    isl_chunks: list[np.ndarray] = []
    shells: list[ShellInfo] = []
    for k, (c_inc, c_alt) in enumerate(centres):
        members = np.flatnonzero(shell_id == k)
        planes, plane_raan = _split_planes(raan[members], plane_gap_deg)
        sizes = np.bincount(planes, minlength=len(plane_raan))
        kept = sizes >= min_plane_sats
        if not kept.all():
            # A lone satellite (or two) in its own RAAN group is drifting between planes
            # (re-phasing by differential precession), not holding a slot in one.
            kept_raan = plane_raan[kept]
            stray = ~kept[planes]
            for i, g in zip(members[stray], planes[stray], strict=True):
                gap = np.abs((kept_raan - raan[i] + 180.0) % 360.0 - 180.0).min()
                reasons[int(i)] = (
                    f"between planes: RAAN {raan[i]:.1f}° in a group of {sizes[g]} "
                    f"(< {min_plane_sats}) in shell {c_inc:.2f}°/{c_alt:.0f} km, "
                    f"{gap:.1f}° from the nearest plane"
                )
            shell_id[members[stray]] = -1
            remap = np.cumsum(kept) - 1
            members, planes = members[~stray], remap[planes[~stray]]
            plane_raan = kept_raan
        n_planes = len(plane_raan)
        plane_id[members] = planes
        per_plane = [members[planes == p] for p in range(n_planes)]
        per_plane = [m[np.argsort(u[m], kind="stable")] for m in per_plane]
        for m in per_plane:
            slot[m] = np.arange(len(m))
        links, wraps = _grid_links(
            per_plane,
            plane_raan,
            u,
            max_plane_link_gap_factor,
            phase_offset_deg,
            max_cross_phase_deg,
        )
        links = _normalise_pairs(links)
        isl_chunks.append(links)
        shells.append(
            ShellInfo(
                shell_id=k,
                inclination_deg=float(np.median(inc[members])),
                altitude_km=float(c_alt),
                altitude_band_km=(float(c_alt - alt_tol_km), float(c_alt + alt_tol_km)),
                n_sats=len(members),
                n_planes=n_planes,
                sats_per_plane=tuple(len(m) for m in per_plane),
                plane_raan_deg=tuple(float(x) for x in plane_raan),
                wraps=wraps,
                n_isls=len(links),
            )
        )

    isl_pairs = (
        _normalise_pairs(np.concatenate(isl_chunks)) if isl_chunks else np.empty((0, 2), np.int64)
    )
    set_aside = tuple(SetAside(i, names[i], reasons[i]) for i in sorted(reasons))
    return CatalogueStructure(
        jd=jd,
        fr=fr,
        names=names,
        shell_id=_ro(shell_id),
        plane_id=_ro(plane_id),
        slot=_ro(slot),
        inclination_deg=_ro(inc),
        raan_deg=_ro(raan),
        arg_latitude_deg=_ro(u),
        altitude_km=_ro(alt),
        eccentricity=_ro(ecc),
        positions_m=_ro(r_km * 1000.0),
        shells=tuple(shells),
        set_aside=set_aside,
        isl_pairs=_ro(isl_pairs),
        rejected_clusters=tuple(rejected),
        params={
            "inc_tol_deg": inc_tol_deg,
            "alt_tol_km": alt_tol_km,
            "min_shell_sats": min_shell_sats,
            "min_plane_sats": min_plane_sats,
            "max_eccentricity": max_eccentricity,
            "plane_gap_deg": plane_gap_deg,
            "max_plane_link_gap_factor": max_plane_link_gap_factor,
            "phase_offset_deg": phase_offset_deg,
            "max_cross_phase_deg": max_cross_phase_deg,
        },
    )


# --- internals -------------------------------------------------------------------------------


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.flags.writeable = False
    return a


def _plane_angles_deg(r: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Osculating inclination, RAAN and argument of latitude (deg) from TEME r, v."""
    h = np.cross(r, v)
    h_norm = np.linalg.norm(h, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        inc = np.degrees(np.arccos(np.clip(h[:, 2] / h_norm, -1.0, 1.0)))
        # Node vector is z x h = (-h_y, h_x, 0).
        raan_rad = np.arctan2(h[:, 0], -h[:, 1])
        # In the orbital plane: r . node_dir = |r| cos u, r . (h_hat x node_dir) = |r| sin u.
        node = np.stack([np.cos(raan_rad), np.sin(raan_rad), np.zeros_like(raan_rad)], axis=1)
        h_hat = h / h_norm[:, None]
        across = np.cross(h_hat, node)
        u = np.arctan2(np.einsum("ij,ij->i", r, across), np.einsum("ij,ij->i", r, node))
    return inc, np.degrees(raan_rad) % 360.0, np.degrees(u) % 360.0


def _find_shell_centres(
    inc: np.ndarray,
    alt: np.ndarray,
    ok: np.ndarray,
    inc_tol: float,
    alt_tol: float,
    min_sats: int,
) -> list[tuple[float, float]]:
    """Greedy densest-band seeds (inclination deg, altitude km) of clusters >= min_sats."""
    idx = np.flatnonzero(ok)
    if idx.size == 0:
        return []
    x_inc, x_alt = inc[idx], alt[idx]
    narrow = np.column_stack([x_inc / _PEAK_INC_DEG, x_alt / _PEAK_ALT_KM])
    tree = cKDTree(narrow)
    density = np.asarray(tree.query_ball_point(narrow, r=1.0, p=np.inf, return_length=True))
    # A seed needs a dense core; anything sparser is transit traffic, not a shell.
    min_core = max(1, int(np.ceil(min_sats / 10)))
    free = np.ones(idx.size, dtype=bool)  # not yet taken by a shell
    candidate = density >= min_core
    centres: list[tuple[float, float]] = []
    while True:
        cand = np.flatnonzero(free & candidate)
        if cand.size == 0:
            break
        k = cand[np.argmax(density[cand])]
        core = (
            free
            & (np.abs(x_inc - x_inc[k]) <= _PEAK_INC_DEG)
            & (np.abs(x_alt - x_alt[k]) <= _PEAK_ALT_KM)
        )
        c_inc, c_alt = float(np.median(x_inc[core])), float(np.median(x_alt[core]))
        box = free & (np.abs(x_inc - c_inc) <= inc_tol) & (np.abs(x_alt - c_alt) <= alt_tol)
        if box.sum() >= min_sats:
            centres.append((c_inc, c_alt))
            free &= ~box
        else:
            candidate &= ~core
            candidate[k] = False
    return centres


def _assign_shells(
    inc: np.ndarray,
    alt: np.ndarray,
    ok: np.ndarray,
    centres: list[tuple[float, float]],
    inc_tol: float,
    alt_tol: float,
) -> np.ndarray:
    """Index of the nearest shell whose box holds each satellite, or -1."""
    n = inc.size
    if not centres:
        return np.full(n, -1, dtype=np.int64)
    ci = np.array([c[0] for c in centres])
    ca = np.array([c[1] for c in centres])
    d_inc = inc[:, None] - ci
    d_alt = alt[:, None] - ca
    inside = ok[:, None] & (np.abs(d_inc) <= inc_tol) & (np.abs(d_alt) <= alt_tol)
    d2 = np.where(inside, (d_inc / inc_tol) ** 2 + (d_alt / alt_tol) ** 2, np.inf)
    best = np.argmin(d2, axis=1)
    return np.where(np.isfinite(d2[np.arange(n), best]), best, -1).astype(np.int64)


def _no_shell_reason(
    inc: float,
    alt: float,
    centres: list[tuple[float, float]],
    inc_tol: float,
    alt_tol: float,
    min_sats: int,
) -> str:
    same_inc = [(ci, ca) for ci, ca in centres if abs(inc - ci) <= inc_tol]
    if same_inc:
        ci, ca = min(same_inc, key=lambda c: abs(alt - c[1]))
        return (
            f"orbit raising/lowering: altitude {alt:.0f} km outside band "
            f"{ca - alt_tol:.0f}–{ca + alt_tol:.0f} km of shell {ci:.2f}°/{ca:.0f} km"
        )
    return (
        f"no shell: inclination {inc:.2f}°, altitude {alt:.0f} km not in any cluster of "
        f">= {min_sats} satellites"
    )


def _reason_category(reason: str) -> str:
    if reason.startswith("sgp4 error"):
        code = int(reason.split()[-1])
        return f"{reason} ({_SGP4_ERRORS.get(code, 'unknown')})"
    if reason.startswith("eccentricity"):
        return "eccentricity too high"
    return reason.split(":", 1)[0]


def _split_planes(raan_deg: np.ndarray, gap_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Plane index of each RAAN and each plane's circular mean RAAN (deg).

    Sorted RAANs are cut at every circular gap wider than ``gap_deg``; plane 0 follows the
    widest gap and ids increase with RAAN.
    """
    n = raan_deg.size
    if n == 0:
        return np.empty(0, np.int64), np.empty(0)
    order = np.argsort(raan_deg, kind="stable")
    r = raan_deg[order]
    gaps = np.diff(np.append(r, r[0] + 360.0))  # gap after each sorted element
    start = (int(np.argmax(gaps)) + 1) % n
    order = np.roll(order, -start)
    gaps = np.roll(gaps, -start)
    boundary = gaps[:-1] > gap_deg
    local = np.concatenate([[0], np.cumsum(boundary)]).astype(np.int64)
    planes = np.empty(n, np.int64)
    planes[order] = local
    n_planes = int(local[-1]) + 1
    ang = np.radians(raan_deg)
    s = np.bincount(planes, weights=np.sin(ang), minlength=n_planes)
    c = np.bincount(planes, weights=np.cos(ang), minlength=n_planes)
    return planes, np.degrees(np.arctan2(s, c)) % 360.0


def _grid_links(
    per_plane: list[np.ndarray],
    plane_raan: np.ndarray,
    u: np.ndarray,
    link_gap_factor: float,
    phase_offset_deg: float,
    max_cross_phase_deg: float | None,
) -> tuple[np.ndarray, bool]:
    """+Grid links of one shell (unnormalised) and whether the last plane wraps to plane 0.

    ``per_plane[p]`` holds the member indices of plane p sorted by argument of latitude.
    """
    links = []
    for m in per_plane:
        if len(m) >= 2:
            links.append(np.column_stack([m, np.roll(m, -1)]))
    n_planes = len(per_plane)
    wraps = False
    if n_planes >= 2:
        gaps = (np.diff(np.append(plane_raan, plane_raan[0])) + 360.0) % 360.0
        typical = float(np.median(gaps[:-1]))
        limit = link_gap_factor * typical
        pairs = [(p, p + 1) for p in range(n_planes - 1) if gaps[p] <= limit]
        if n_planes >= 3 and gaps[-1] <= limit:
            pairs.append((n_planes - 1, 0))
            wraps = True
        for p, q in pairs:
            a, b = per_plane[p], per_plane[q]
            du = (u[b][None, :] - u[a][:, None] - phase_offset_deg + 180.0) % 360.0 - 180.0
            cost = np.abs(du)
            cap = (
                360.0 / max(len(a), len(b)) if max_cross_phase_deg is None else max_cross_phase_deg
            )
            # Capping the cost makes "no partner" as cheap as a far partner, so the assignment
            # never pulls a satellite away from its counterpart to fill a hole elsewhere.
            capped = np.minimum(cost, cap)
            ia, ib = linear_sum_assignment(capped)
            keep = cost[ia, ib] < cap
            ia, ib = ia[keep], ib[keep]
            links.append(np.column_stack([a[ia], b[ib]]))
    if not links:
        return np.empty((0, 2), np.int64), wraps
    return np.concatenate(links).astype(np.int64), wraps


def _normalise_pairs(pairs: np.ndarray) -> np.ndarray:
    """Sorted unique (i < j) pairs without self-links."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = np.sort(pairs, axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if pairs.size == 0:
        return np.empty((0, 2), np.int64)
    return np.unique(pairs, axis=0)
