"""Ground stations: reading them, built-in city sets, and geodetic → Earth-fixed coordinates.

A ground-station file is CSV with the header ``gid,name,latitude_deg,longitude_deg,elevation_m``
(Hypatia's format; extra columns are kept).  ``gid`` must be 0, 1, 2, … in order, because station
``gid`` is network node ``num_sats + gid``.

>>> from leosim.ground import builtin_stations, geodetic_to_ecef_m
>>> gs = builtin_stations("hypatia-top-100")
>>> gs.names[24], len(gs)
('Paris', 100)
>>> x, y, z = geodetic_to_ecef_m(0.0, 0.0, 0.0)
>>> round(float(x)), round(float(y)), round(float(z))
(6378135, 0, 0)
"""

from __future__ import annotations

import csv
import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ._io import parse_number, read_text
from .constants import WGS72, Ellipsoid
from .errors import InputError, quote, shorten

BUILTIN_STATION_SETS = {
    "hypatia-top-100": "hypatia_top_100.csv",
    "hypatia-top-1000": "hypatia_top_1000.csv",
    "hypatia-paris-moscow-grid": "hypatia_paris_moscow_grid.csv",
    "cities-top-100": "ne_cities_top_1000.csv",
    "cities-top-1000": "ne_cities_top_1000.csv",
}
"""Built-in station sets.  ``hypatia-*``: Hypatia's lists (MIT licence, github snkas/hypatia),
needed for parity with it.  ``cities-*``: the most populous places of Natural Earth's populated
places v4.0.0 (public domain), ranked by ``pop_max``."""


def geodetic_to_ecef_m(
    latitude_deg, longitude_deg, elevation_m=0.0, ellipsoid: Ellipsoid = WGS72
) -> np.ndarray:
    """Earth-fixed ``(..., 3)`` position in metres of geodetic coordinates on ``ellipsoid``."""
    lat = np.radians(np.asarray(latitude_deg, dtype=np.float64))
    lon = np.radians(np.asarray(longitude_deg, dtype=np.float64))
    h = np.asarray(elevation_m, dtype=np.float64)
    sin_lat = np.sin(lat)
    n = ellipsoid.a_m / np.sqrt(1.0 - ellipsoid.e2 * sin_lat**2)  # prime-vertical radius
    x = (n + h) * np.cos(lat) * np.cos(lon)
    y = (n + h) * np.cos(lat) * np.sin(lon)
    z = (n * (1.0 - ellipsoid.e2) + h) * sin_lat
    return np.stack(np.broadcast_arrays(x, y, z), axis=-1)


def ecef_to_geodetic(position_m: np.ndarray, ellipsoid: Ellipsoid = WGS72) -> tuple:
    """Geodetic ``(latitude_deg, longitude_deg, height_m)`` of Earth-fixed positions.

    Bowring's method with two refinements: better than 1 mm for LEO heights.
    """
    p = np.asarray(position_m, dtype=np.float64)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    a, e2 = ellipsoid.a_m, ellipsoid.e2
    b = ellipsoid.b_m
    rho = np.hypot(x, y)
    ep2 = (a * a - b * b) / (b * b)
    beta = np.arctan2(z * a, rho * b)
    for _ in range(3):
        lat = np.arctan2(z + ep2 * b * np.sin(beta) ** 3, rho - e2 * a * np.cos(beta) ** 3)
        beta = np.arctan2(b * np.sin(lat), a * np.cos(lat))
    n = a / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    cos_lat = np.cos(lat)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(
            np.abs(cos_lat) > 1e-10,
            rho / cos_lat - n,
            np.abs(z) / np.abs(np.sin(lat)) - n * (1 - e2),
        )
    return np.degrees(lat), np.degrees(np.arctan2(y, x)), h


def local_up(latitude_deg, longitude_deg) -> np.ndarray:
    """Unit vector of the geodetic vertical (ellipsoid normal), shape ``(..., 3)``."""
    lat = np.radians(np.asarray(latitude_deg, dtype=np.float64))
    lon = np.radians(np.asarray(longitude_deg, dtype=np.float64))
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


EARTH_MEAN_RADIUS_M = 6_371_008.8
"""IUGG mean Earth radius R1 (Moritz, Geodetic Reference System 1980), for great circles."""


def great_circle_m(lat1_deg, lon1_deg, lat2_deg, lon2_deg) -> np.ndarray:
    """Great-circle distance (haversine) in metres on the mean sphere; arrays broadcast.

    >>> round(float(great_circle_m(0.0, 0.0, 0.0, 90.0)) / 1e3, 1)   # a quarter of the equator
    10007.6
    """
    p1, p2 = np.radians(lat1_deg), np.radians(lat2_deg)
    dl = np.radians(np.asarray(lon2_deg) - np.asarray(lon1_deg))
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2.0 * EARTH_MEAN_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass
class GroundStations:
    """Ground stations; station ``gid`` is ``gids[gid]`` and network node ``num_sats + gid``."""

    gids: np.ndarray
    names: list[str]
    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    elevation_m: np.ndarray
    source: str = "<memory>"
    extra: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.names)

    def ecef_m(self, ellipsoid: Ellipsoid = WGS72) -> np.ndarray:
        """Earth-fixed positions, metres, shape ``(n_stations, 3)``."""
        return geodetic_to_ecef_m(
            self.latitude_deg, self.longitude_deg, self.elevation_m, ellipsoid
        )

    def up(self) -> np.ndarray:
        return local_up(self.latitude_deg, self.longitude_deg)

    def resolve(self, ref: int | str, *, key: str = "pairs") -> int:
        """The gid of a station given by gid or by (case-insensitive) name."""
        if isinstance(ref, bool):
            raise InputError(f"a station is a gid or a name, got {ref!r}", key=key)
        if isinstance(ref, int | np.integer):
            if 0 <= int(ref) < len(self):
                return int(ref)
            raise InputError(
                f"station gid {ref} does not exist (this set has gids 0..{len(self) - 1})",
                key=key,
            )
        if isinstance(ref, str):
            lookup = {n.casefold(): i for i, n in reversed(list(enumerate(self.names)))}
            hit = lookup.get(ref.casefold())
            if hit is not None:
                return hit
            close = difflib.get_close_matches(ref, self.names, n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise InputError(f"unknown station name {ref!r} in {self.source}{hint}", key=key)
        raise InputError(f"a station is a gid or a name, got {ref!r}", key=key)

    def subset(self, gids: Sequence[int]) -> GroundStations:
        """Stations ``gids``, renumbered 0..k-1 in that order."""
        idx = np.asarray(gids, dtype=int)
        return GroundStations(
            np.arange(len(idx)),
            [self.names[i] for i in idx],
            self.latitude_deg[idx],
            self.longitude_deg[idx],
            self.elevation_m[idx],
            self.source,
            {k: [v[i] for i in idx] for k, v in self.extra.items()},
        )


_REQUIRED = ("gid", "name", "latitude_deg", "longitude_deg", "elevation_m")


def parse_stations_csv(text: str, source: str = "<text>") -> GroundStations:
    """Parse ground stations from CSV text; errors name the source, line and column."""
    try:
        return _parse_stations_csv(text, source)
    except csv.Error as exc:  # e.g. a field over the csv module's 131,072 characters
        raise InputError(f"bad CSV: {exc}", source=source) from None


def _parse_stations_csv(text: str, source: str) -> GroundStations:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise InputError("empty ground-station file", source=source) from None
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(missing)}; expected header "
            f"{','.join(_REQUIRED)} (found {shorten(','.join(header), 120)})",
            source=source,
            line=1,
        )
    col = {c: header.index(c) for c in header}
    gids, names, lats, lons, elevs = [], [], [], [], []
    extra: dict[str, list[str]] = {c: [] for c in header if c not in _REQUIRED}
    for row in reader:
        lineno = reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise InputError(
                f"{len(row)} fields, expected {len(header)} ({shorten(','.join(header), 120)})",
                source=source,
                line=lineno,
            )

        def num(column: str, lo: float, hi: float, row=row, lineno=lineno) -> float:
            raw = row[col[column]].strip()
            try:
                v = parse_number(raw)
            except ValueError:
                raise InputError(
                    f"column {column} is {quote(raw)}, expected a number",
                    source=source,
                    line=lineno,
                ) from None
            if not (lo <= v <= hi):
                raise InputError(
                    f"column {column} is {v}, expected a value in [{lo}, {hi}]",
                    source=source,
                    line=lineno,
                )
            return v

        raw_gid = row[col["gid"]].strip()
        # "²".isdigit() is True; int() refuses more than 4,300 digits
        if not (raw_gid.isascii() and raw_gid.isdigit() and len(raw_gid) <= 18):
            raise InputError(
                f"column gid is {quote(raw_gid)}, expected a non-negative integer",
                source=source,
                line=lineno,
            )
        gid = int(raw_gid)
        if gid != len(gids):
            raise InputError(
                f"column gid is {gid}, expected {len(gids)}: gids must be 0, 1, 2, ... in order "
                "(station gid g is network node num_sats + g)",
                source=source,
                line=lineno,
            )
        gids.append(gid)
        names.append(row[col["name"]].strip())
        lats.append(num("latitude_deg", -90.0, 90.0))
        lons.append(num("longitude_deg", -180.0, 360.0))
        elevs.append(num("elevation_m", -500.0, 9000.0))
        for c in extra:
            extra[c].append(row[col[c]])
    if not gids:
        raise InputError("no ground stations in the file", source=source)
    lon = np.asarray(lons)
    lon = np.where(lon > 180.0, lon - 360.0, lon)
    return GroundStations(
        np.asarray(gids), names, np.asarray(lats), lon, np.asarray(elevs), source, extra
    )


def read_stations_csv(path: str | Path) -> GroundStations:
    """Read a ground-station CSV file (see :func:`parse_stations_csv`)."""
    p = Path(path)
    return parse_stations_csv(read_text(p, what="ground-station file"), str(p))


def builtin_station_names() -> list[str]:
    return sorted(BUILTIN_STATION_SETS)


def builtin_stations(name: str) -> GroundStations:
    """A built-in station set (see :data:`BUILTIN_STATION_SETS`)."""
    if name not in BUILTIN_STATION_SETS:
        close = difflib.get_close_matches(name, BUILTIN_STATION_SETS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(
            f"unknown built-in station set {name!r}{hint} "
            f"(known: {', '.join(builtin_station_names())})",
            key="ground_stations.builtin",
        )
    fname = BUILTIN_STATION_SETS[name]
    text = resources.files("leosim.data").joinpath(fname).read_text(encoding="utf-8")
    gs = parse_stations_csv(text, f"leosim/data/{fname}")
    if name == "cities-top-100":
        gs = gs.subset(range(100))
    gs.source = name
    return gs
