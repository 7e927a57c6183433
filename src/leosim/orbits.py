"""Orbits: SGP4 vectorised over satellites × times, and the TEME → Earth-fixed rotation.

Positions come out as arrays of shape ``(n_times, n_sats, 3)`` in metres, Earth-centred
Earth-fixed (ECEF, the ITRS without polar motion).  SGP4 gives positions in the TEME frame;
turning them Earth-fixed is a rotation about z by the Greenwich mean sidereal angle of the
IAU 1982 model, exactly as in AIAA 2006-6753 and Skyfield's ``TEME_to_ITRF``.  That angle
needs UT1; leosim takes time as UTC and adds ``dut1_s`` (UT1 − UTC, within ±0.9 s) when
given.  Ignoring it (as Hypatia does) moves a point on the equator by up to 420 m.

>>> from datetime import datetime, UTC
>>> from leosim.constellation import preset
>>> from leosim.orbits import Orbits
>>> orbits = Orbits.from_constellation(preset("starlink-550-hypatia"))
>>> r_m = orbits.ecef_m(datetime(2000, 1, 1, tzinfo=UTC), [0.0, 60.0])
>>> r_m.shape
(2, 1584, 3)

Long horizons are streamed with :meth:`Orbits.iter_ecef_m`, which yields chunks of time
steps so memory stays bounded whatever the number of steps.

Dense time grids (100 ms steps) need not run SGP4 at every step: with ``knot_s`` the positions
between SGP4 knots every ``knot_s`` seconds are interpolated by the cubic through the four
nearest knots (in TEME; the rotation to Earth-fixed stays exact at every step).
:func:`knot_spacing_s` picks the spacing that keeps the interpolation error within
:data:`INTERPOLATION_TOLERANCE_M`; at the knots themselves the positions are SGP4's, bit for bit.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
from sgp4.api import SGP4_ERRORS, SatrecArray, jday

from .constants import MU_EARTH_WGS72_M3_S2, SECONDS_PER_DAY
from .errors import InputError, PropagationWarning

_J2000_JD = 2451545.0
_TAU = 2.0 * math.pi


def datetime_to_jd(dt: datetime) -> tuple[float, float]:
    """Split Julian date ``(whole, fraction)`` of a UTC datetime (naive means UTC)."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    seconds = dt.second + dt.microsecond * 1e-6
    return jday(dt.year, dt.month, dt.day, dt.hour, dt.minute, seconds)


def gmst82_rad(jd_ut1: np.ndarray, fraction_ut1: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal angle (IAU 1982), radians, for a split UT1 Julian date.

    The same expression as Skyfield's ``theta_GMST1982`` and Vallado's ``gstime``: keeping the
    whole day and its fraction apart preserves sub-microsecond time resolution.
    """
    jd_ut1 = np.asarray(jd_ut1, dtype=np.float64)
    fraction_ut1 = np.asarray(fraction_ut1, dtype=np.float64)
    t = (jd_ut1 - _J2000_JD + fraction_ut1) / 36525.0
    g = 67310.54841 + (8640184.812866 + (0.093104 + (-6.2e-6) * t) * t) * t
    return (jd_ut1 % 1.0 + fraction_ut1 + g / SECONDS_PER_DAY % 1.0) % 1.0 * _TAU


INTERPOLATION_TOLERANCE_M = 1e-4
"""Largest position error (metres) that :func:`knot_spacing_s` lets interpolation
between SGP4 knots add: 0.1 mm, far below SGP4's own error (about a kilometre a day from the
epoch, Vallado et al. 2006) and below a 1e-10 relative change of any path length."""

MAX_KNOT_S = 10.0
"""The knots are never further apart than this (seconds)."""

_MAX_ECCENTRICITY_INTERPOLATED = 0.1


def knot_spacing_s(satrecs: Sequence, tol_m: float = INTERPOLATION_TOLERANCE_M) -> float:
    """Longest SGP4 knot spacing (seconds) for which the cubic through the four nearest knots
    (:func:`interpolate_knots`) errs by at most ``tol_m`` metres on every orbit of
    ``satrecs``; 0 when some orbit is too eccentric (e > 0.1) to bound simply; never above
    :data:`MAX_KNOT_S`.

    The cubic through knots at ``-h, 0, h, 2h`` errs on ``[0, h]`` by at most
    ``(9/16) h**4 / 4!`` times the largest fourth time derivative of the position (the
    Lagrange remainder, Burden & Faires, *Numerical Analysis*, 9th ed., thm. 3.3).  On a
    Keplerian orbit that derivative is largest at perigee, about ``r_p * w_p**4`` with the
    perigee angular rate ``w_p = n sqrt(1 - e**2) / (1 - e)**2``; a factor 16 covers
    eccentricity up to 0.1 and SGP4's perturbations (J2's short-period terms at twice the
    orbital rate, relative size 1e-3).  SGP4's velocities are not used: they are not the
    exact derivative of its positions (a Hermite cubic with them errs by centimetres).
    ``tests/test_orbits.py`` checks the error against SGP4 itself.

    >>> from leosim.constellation import preset
    >>> round(knot_spacing_s(preset("starlink-550-hypatia").satrecs), 2)
    2.26
    """
    if len(satrecs) == 0:
        return 0.0
    n = np.array([s.no_kozai for s in satrecs], dtype=np.float64) / 60.0  # rad/s
    e = np.array([s.ecco for s in satrecs], dtype=np.float64)
    if not (np.all(np.isfinite(n)) and np.all(n > 0)) or e.max() > _MAX_ECCENTRICITY_INTERPOLATED:
        return 0.0
    a = np.cbrt(MU_EARTH_WGS72_M3_S2 / n**2)
    w_p = n * np.sqrt(1.0 - e**2) / (1.0 - e) ** 2
    r4 = 16.0 * float(np.max(a * (1.0 - e) * w_p**4))
    return float(min(MAX_KNOT_S, (tol_m * 24.0 * 16.0 / 9.0 / r4) ** 0.25))


def _lagrange_weights(s: np.ndarray) -> np.ndarray:
    """``(len(s), 4)`` weights of knots ``k - 1 .. k + 2`` at fractions ``s`` of the way from
    knot ``k`` to ``k + 1``; exactly (0, 1, 0, 0) at ``s = 0``."""
    sm, sp, s2 = s - 1.0, s + 1.0, s - 2.0
    return np.stack(
        [-s * sm * s2 / 6.0, sp * sm * s2 / 2.0, -sp * s * s2 / 2.0, sp * s * sm / 6.0], 1
    )


def interpolate_knots(r_knots: np.ndarray, k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The cubic through knots ``k - 1, k, k + 1, k + 2`` of ``r_knots`` (``(n_knots, n_sats,
    3)``, equally spaced) at fractions ``s`` of the way from knot ``k`` to ``k + 1``; returns
    ``(len(s), n_sats, 3)``.  At ``s = 0`` the result is knot ``k`` exactly."""
    w = _lagrange_weights(s)[:, :, None, None]
    return sum(w[:, j] * r_knots[k - 1 + j] for j in range(4))


try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency
    _knots_to_ecef = None
else:

    @njit(cache=True, nogil=True)
    def _knots_to_ecef(r_knots, k, w, c, s_, out):  # pragma: no cover - compiled
        """:func:`interpolate_knots`, the rotation of :func:`teme_to_ecef` and km -> m in one
        pass (no temporaries of the chunk's size)."""
        for t in range(len(k)):
            i = k[t] - 1
            w0, w1, w2, w3 = w[t, 0], w[t, 1], w[t, 2], w[t, 3]
            ct, st = c[t], s_[t]
            for j in range(r_knots.shape[1]):
                x = w0 * r_knots[i, j, 0] + w1 * r_knots[i + 1, j, 0]
                x = x + w2 * r_knots[i + 2, j, 0] + w3 * r_knots[i + 3, j, 0]
                y = w0 * r_knots[i, j, 1] + w1 * r_knots[i + 1, j, 1]
                y = y + w2 * r_knots[i + 2, j, 1] + w3 * r_knots[i + 3, j, 1]
                z = w0 * r_knots[i, j, 2] + w1 * r_knots[i + 1, j, 2]
                z = z + w2 * r_knots[i + 2, j, 2] + w3 * r_knots[i + 3, j, 2]
                out[t, j, 0] = (ct * x + st * y) * 1e3
                out[t, j, 1] = (ct * y - st * x) * 1e3
                out[t, j, 2] = z * 1e3


def teme_to_ecef(r_teme: np.ndarray, gmst_rad: np.ndarray) -> np.ndarray:
    """Rotate TEME vectors ``(n_times, n_sats, 3)`` into the Earth-fixed frame.

    ``gmst_rad`` has shape ``(n_times,)``.  Polar motion (< 20 m) is neglected.
    """
    c = np.cos(gmst_rad)[:, None]
    s = np.sin(gmst_rad)[:, None]
    out = np.empty_like(r_teme)
    x = r_teme[..., 0]
    y = r_teme[..., 1]
    out[..., 0] = c * x + s * y
    out[..., 1] = c * y - s * x
    out[..., 2] = r_teme[..., 2]
    return out


class Orbits:
    """SGP4 propagation of a fixed set of satellites.

    ``satrecs`` are :class:`sgp4.api.Satrec` objects (from :mod:`leosim.tle` or
    :mod:`leosim.constellation`).  All methods are vectorised over satellites and times through
    :class:`sgp4.api.SatrecArray`, which runs the C++ SGP4 without Python loops.
    """

    def __init__(
        self, satrecs: Sequence, *, dut1_s: float = 0.0, names: Sequence[str] | None = None
    ) -> None:
        if len(satrecs) == 0:
            raise InputError("no satellites to propagate")
        self.satrecs = list(satrecs)
        self._array = SatrecArray(self.satrecs)
        self.dut1_s = float(dut1_s)
        self.names = None if names is None else list(names)

    @classmethod
    def from_constellation(cls, constellation, *, dut1_s: float = 0.0) -> Orbits:
        return cls(constellation.satrecs, dut1_s=dut1_s, names=constellation.names)

    @property
    def num_sats(self) -> int:
        return len(self.satrecs)

    def _jd(self, start: datetime, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        jd0, fr0 = datetime_to_jd(start)
        fr = fr0 + np.asarray(t_s, dtype=np.float64) / SECONDS_PER_DAY
        # Keep the fraction in [0, 1) so that whole + fraction stays exact for long runs.
        whole = np.floor(fr)
        return jd0 + whole, fr - whole

    def teme_km(
        self, start: datetime, t_s: Sequence[float] | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """TEME position (km), velocity (km/s) and SGP4 error code, each ``(n_times, n_sats, …)``."""
        jd, fr = self._jd(start, np.atleast_1d(t_s))
        err, r, v = self._array.sgp4(jd, fr)
        return r.transpose(1, 0, 2), v.transpose(1, 0, 2), err.T

    def ecef_m(
        self,
        start: datetime,
        t_s: Sequence[float] | np.ndarray,
        *,
        dut1_s: float | np.ndarray | None = None,
        warn: bool = True,
        knot_s: float = 0.0,
    ) -> np.ndarray:
        """Earth-fixed positions, metres, shape ``(n_times, n_sats, 3)``.

        ``knot_s > 0``: SGP4 at the knots ``j * knot_s`` (seconds after ``start``) around each
        time and cubic interpolation between them (see :func:`knot_spacing_s`);
        a position depends only on its own time, never on the other times asked for.

        ``t_s`` are seconds after ``start`` (UTC).  Satellites SGP4 cannot propagate at a time
        (decayed orbits: error 6) get NaN positions there, with a :class:`PropagationWarning`.
        A NaN position *without* an SGP4 error code (elements SGP4 accepts but cannot use, e.g.
        a negative mean motion or a NaN drag term) is an :class:`InputError` naming the
        satellite.
        """
        t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        d = self.dut1_s if dut1_s is None else dut1_s
        jd, fr = self._jd(start, t_s + np.asarray(d, dtype=np.float64))
        gmst = gmst82_rad(jd, fr)
        if knot_s > 0 and len(t_s):
            pos, err = self._interpolated_ecef_m(start, t_s, float(knot_s), gmst)
        else:
            r_km, _, err = self.teme_km(start, t_s)
            self._check_finite(r_km, err, t_s)
            pos = teme_to_ecef(r_km, gmst)
            pos *= 1e3
        bad = err != 0
        if bad.any():
            pos[bad] = np.nan
            if warn:
                codes = np.unique(err[bad])
                n_bad_sats = int(bad.any(axis=0).sum())
                reasons = ", ".join(f"error {c}: {SGP4_ERRORS.get(int(c), '?')}" for c in codes)
                warnings.warn(
                    f"{n_bad_sats} satellite(s) could not be propagated ({reasons});"
                    " their positions are NaN",
                    PropagationWarning,
                    stacklevel=2,
                )
        return pos

    def _interpolated_ecef_m(
        self, start: datetime, t_s: np.ndarray, knot_s: float, gmst: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Earth-fixed positions (m) at ``t_s`` interpolated in TEME between SGP4 knots, and
        error codes (an error at any of a time's four knots marks it)."""
        # A time on a knot (to rounding) takes that knot's interval: its position is SGP4's.
        k = np.floor(t_s / knot_s + 1e-9)
        knots = np.unique(np.concatenate([k - 1.0, k, k + 1.0, k + 2.0]))
        r, _, err = self.teme_km(start, knots * knot_s)
        self._check_finite(r, err, knots * knot_s)
        i = np.searchsorted(knots, k)
        frac = (t_s - k * knot_s) / knot_s
        if _knots_to_ecef is not None:
            pos = np.empty((len(t_s), self.num_sats, 3))
            w = _lagrange_weights(frac)
            _knots_to_ecef(np.ascontiguousarray(r), i, w, np.cos(gmst), np.sin(gmst), pos)
        else:  # pragma: no cover - numba is a dependency
            pos = teme_to_ecef(interpolate_knots(r, i, frac), gmst) * 1e3
        err_t = err[i - 1]
        for j in (0, 1, 2):
            err_t = np.where(err_t != 0, err_t, err[i + j])
        return pos, err_t

    def _check_finite(self, r_km: np.ndarray, err: np.ndarray, t_s: np.ndarray) -> None:
        """Raise for positions that are NaN though SGP4 reported no error."""
        silent = ~np.isfinite(r_km).all(axis=2) & (err == 0)
        if not silent.any():
            return
        steps, sats = np.nonzero(silent)
        i, k = int(sats[0]), int(steps[0])
        sat = self.satrecs[i]
        who = f"satellite {i}" + (f" {self.names[i][:40]!r}" if self.names else "")
        n_sats = len(np.unique(sats))
        more = f" (and {n_sats - 1} more satellites)" if n_sats > 1 else ""
        raise InputError(
            f"{who} (catalogue number {sat.satnum}): SGP4 gives a NaN position at "
            f"t = {t_s[k]:g} s without an error code{more}; its elements are invalid (mean "
            f"motion {sat.no_kozai * 1440 / _TAU:g} rev/day, eccentricity {sat.ecco:g}, "
            f"B* {sat.bstar:g})"
        )

    def iter_ecef_m(
        self,
        start: datetime,
        t_s: Sequence[float] | np.ndarray,
        *,
        max_chunk_bytes: int = 64 * 2**20,
        knot_s: float = 0.0,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(t_s_chunk, positions_m_chunk)`` over ``t_s`` in bounded-memory chunks
        (``knot_s``: see :meth:`ecef_m`)."""
        t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        # SGP4 writes r and v (2 × 24 bytes) and we write one rotated copy.
        # Interpolated: only the output and a few knots per step.
        per_step = self.num_sats * 3 * 8 * (4 if knot_s <= 0 else 2)
        chunk = max(1, int(max_chunk_bytes // per_step))
        for i in range(0, len(t_s), chunk):
            ts = t_s[i : i + chunk]
            yield ts, self.ecef_m(start, ts, knot_s=knot_s)

    def error_codes(self, start: datetime, t_s: Sequence[float] | np.ndarray) -> np.ndarray:
        """SGP4 error codes ``(n_times, n_sats)`` (0: fine)."""
        return self.teme_km(start, t_s)[2]


def drop_unpropagatable(constellation, start: datetime, t_s=(0.0,)):
    """Remove satellites SGP4 cannot propagate at any of ``t_s``; warn with the count.

    Returns ``(constellation, kept_indices)``.  Decayed satellites in old catalogues make SGP4
    return error 6; they are set aside rather than crashing the run.
    """
    from dataclasses import replace

    err = Orbits.from_constellation(constellation).error_codes(start, np.asarray(t_s))
    bad = (err != 0).any(axis=0)
    if not bad.any():
        return constellation, np.arange(len(constellation))
    keep = np.flatnonzero(~bad)
    codes, _counts = np.unique(err[err != 0], return_counts=True)
    reason = ", ".join(f"error {c} ({SGP4_ERRORS.get(int(c), '?')})" for c in codes)
    warnings.warn(
        f"dropped {int(bad.sum())} of {len(constellation)} satellites that SGP4 cannot "
        f"propagate: {reason}",
        PropagationWarning,
        stacklevel=2,
    )
    c = constellation
    set_aside = list(c.set_aside) + [
        (int(i), c.names[i], f"sgp4 error {int(err[:, i][err[:, i] != 0][0])}")
        for i in np.flatnonzero(bad)
    ]
    new = replace(
        c,
        names=[c.names[i] for i in keep],
        satrecs=[c.satrecs[i] for i in keep],
        shell=c.shell[keep],
        plane=c.plane[keep],
        slot=c.slot[keep],
        set_aside=set_aside,
    )
    return new, keep
