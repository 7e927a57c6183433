"""Physical constants and reference ellipsoids (SI units).

SGP4 is defined with the WGS72 constants, so WGS72 is the default Earth model: it is what
Hypatia (via pyephem) and the TLE producers use.  WGS84 is available for ground positions.
"""

from __future__ import annotations

from dataclasses import dataclass

SPEED_OF_LIGHT_M_S = 299_792_458.0
"""Speed of light in vacuum, m/s (exact)."""

SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Ellipsoid:
    """A reference ellipsoid: equatorial radius ``a_m`` and flattening ``f``."""

    name: str
    a_m: float
    f: float

    @property
    def e2(self) -> float:
        """First eccentricity squared."""
        return self.f * (2.0 - self.f)

    @property
    def b_m(self) -> float:
        """Polar radius, m."""
        return self.a_m * (1.0 - self.f)


WGS72 = Ellipsoid("WGS72", 6_378_135.0, 1.0 / 298.26)
WGS84 = Ellipsoid("WGS84", 6_378_137.0, 1.0 / 298.257223563)
ELLIPSOIDS = {"WGS72": WGS72, "WGS84": WGS84}

EARTH_RADIUS_M = WGS72.a_m
"""Equatorial radius used for spherical approximations (WGS72, as Hypatia), m."""

MU_EARTH_WGS72_M3_S2 = 398_600.8e9
"""Gravitational parameter of WGS72, m^3/s^2 (the value SGP4 uses)."""

ISL_GRAZING_ALTITUDE_M = 80_000.0
"""An inter-satellite laser must clear the atmosphere by this height (Hypatia's rule), m."""


def ellipsoid(name: str) -> Ellipsoid:
    """Look up an ellipsoid by name (``"WGS72"`` or ``"WGS84"``, case-insensitive)."""
    from .errors import InputError

    try:
        return ELLIPSOIDS[name.upper()]
    except KeyError:
        raise InputError(f"unknown ellipsoid {name!r}; expected one of WGS72, WGS84") from None
