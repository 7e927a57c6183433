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
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import numpy as np
from sgp4.api import SGP4_ERRORS, SatrecArray, jday

from .constants import SECONDS_PER_DAY
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
    ) -> np.ndarray:
        """Earth-fixed positions, metres, shape ``(n_times, n_sats, 3)``.

        ``t_s`` are seconds after ``start`` (UTC).  Satellites SGP4 cannot propagate at a time
        (decayed orbits: error 6) get NaN positions there, with a :class:`PropagationWarning`.
        A NaN position *without* an SGP4 error code (elements SGP4 accepts but cannot use, e.g.
        a negative mean motion or a NaN drag term) is an :class:`InputError` naming the
        satellite.
        """
        t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        r_km, _, err = self.teme_km(start, t_s)
        self._check_finite(r_km, err, t_s)
        d = self.dut1_s if dut1_s is None else dut1_s
        jd, fr = self._jd(start, t_s + np.asarray(d, dtype=np.float64))
        pos = teme_to_ecef(r_km, gmst82_rad(jd, fr))
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
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(t_s_chunk, positions_m_chunk)`` over ``t_s`` in bounded-memory chunks."""
        t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        # SGP4 writes r and v (2 × 24 bytes) and we write one rotated copy.
        per_step = self.num_sats * 3 * 8 * 4
        chunk = max(1, int(max_chunk_bytes // per_step))
        for i in range(0, len(t_s), chunk):
            ts = t_s[i : i + chunk]
            yield ts, self.ecef_m(start, ts)

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
