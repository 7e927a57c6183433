"""Ground segment: gateways, points of presence (PoPs) and user terminals, as lat/lon points.

Units: latitudes/longitudes in degrees (WGS84), weights in people.  Countries are Natural Earth
ADM0_A3 codes as used by :class:`leosim.borders.Borders`.  Geodetic-to-ECEF conversion is not
done here (see :mod:`leosim.ground`).

Every CSV reader raises :class:`~leosim.errors.InputError` for bad input, naming the file, the
line (as numbered in the file, header = line 1) and the column, e.g.
``gw.csv:7: [latitude_deg] must be in [-90, 90], got 95.0``.

Built-in data (copies shipped in ``leosim/data``; see its README.md):

* :func:`builtin_gateways`: 340 Starlink gateway sites from the community map "Unofficial
  Starlink Global Gateways & PoPs" (KMZ export of 2024-08-13, via github.com/SpaceNetTestbed-public/
  SpaceNetPhase1 @a3efedc).  **Not official SpaceX data**, no licence stated; stale (the live map
  had ~480 sites by 2026); statuses are crowd-sourced judgements; heavily US-weighted (FCC filings
  are public), with no site in e.g. Taiwan or India; includes 3 TT&C (telemetry) sites and a few
  near-duplicate rows (an antenna site and its later "Mega" expansion).
* :func:`builtin_pops`: 64 Starlink PoPs (codes from Starlink's GeoIP feed, coordinates curated by
  github.com/clarkzjw/starlink-geoip @7e3cd6f, April 2026; mostly PeeringDB facility
  locations, not measured).  Includes a few community-gateway/test codes and one planned PoP.
* :func:`sample_terminals`: population-weighted user terminals from Natural Earth's populated
  places (public domain).

>>> from leosim.ground_segment import builtin_gateways, sample_terminals
>>> gw = builtin_gateways()                      # operational, TT&C sites excluded
>>> len(gw), gw.country[:3].tolist()
(193, ['NGA', 'NGA', 'IRL'])
>>> t = sample_terminals(["FRA", "TWN"], n_per_country=100, seed=1)
>>> len(t), sorted(set(t.country.tolist()))
(200, ['FRA', 'TWN'])
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._io import parse_number, read_text
from .borders import Borders, data_path
from .errors import InputError, quote, shorten

__all__ = [
    "GATEWAY_STATUSES",
    "Gateways",
    "PoPs",
    "PopulatedPlaces",
    "Terminals",
    "builtin_gateways",
    "builtin_pops",
    "populated_places",
    "read_gateways_csv",
    "read_pops_csv",
    "read_terminals_csv",
    "sample_terminals",
]

GATEWAY_STATUSES = ("operational", "construction", "planned", "decommissioned", "unknown")
"""Allowed values of a gateway's ``status`` (the community data's normalisation)."""

_KM_PER_DEG_LAT = 111.195  # on the 6371.0 km mean sphere; only used to size the jitter


class _Columns:
    """Arrays of equal length; subclasses are dataclasses of numpy arrays."""

    def __post_init__(self) -> None:
        n = {len(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]
        if len(n) > 1:
            raise ValueError(f"{type(self).__name__}: columns have different lengths {sorted(n)}")

    def __len__(self) -> int:
        return len(getattr(self, fields(self)[0].name))  # type: ignore[arg-type]

    def select(self, mask_or_index: NDArray) -> Any:
        """A new object holding the rows picked by a boolean mask or an index array."""
        return type(self)(**{f.name: getattr(self, f.name)[mask_or_index] for f in fields(self)})  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Gateways(_Columns):
    """Gateway sites: one row per site."""

    name: NDArray[np.object_]
    latitude_deg: NDArray[np.float64]
    longitude_deg: NDArray[np.float64]
    country: NDArray[np.str_]
    """ADM0_A3 code; ``""`` for a site at sea (only possible when the file gives no country)."""
    status: NDArray[np.object_]
    """One of :data:`GATEWAY_STATUSES`."""


@dataclass(frozen=True, eq=False)
class PoPs(_Columns):
    """Points of presence (where user traffic leaves the Starlink network)."""

    code: NDArray[np.object_]
    city: NDArray[np.object_]
    latitude_deg: NDArray[np.float64]
    longitude_deg: NDArray[np.float64]
    country: NDArray[np.str_]


@dataclass(frozen=True, eq=False)
class Terminals(_Columns):
    """User terminals; ``weight`` is what one terminal stands for (e.g. people represented)."""

    terminal_id: NDArray[np.object_]
    latitude_deg: NDArray[np.float64]
    longitude_deg: NDArray[np.float64]
    country: NDArray[np.str_]
    weight: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class PopulatedPlaces(_Columns):
    """Natural Earth 10m populated places, countries re-derived on the shipped 50m borders."""

    name: NDArray[np.object_]
    latitude_deg: NDArray[np.float64]
    longitude_deg: NDArray[np.float64]
    country: NDArray[np.str_]
    pop_max: NDArray[np.float64]


# ---------------------------------------------------------------------------- CSV reading
class _Table:
    """The rows of a CSV file, with the file line of each row, for located error messages."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            self.header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError("empty file; expected a header line", source=path, line=1) from None
        except csv.Error as exc:
            raise InputError(f"bad CSV: {exc}", source=path, line=1) from None
        self.rows: list[list[str]] = []
        self.lines: list[int] = []
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue  # blank lines carry no data
                if len(row) != len(self.header):
                    raise InputError(
                        f"{len(row)} fields, but the header has {len(self.header)}",
                        source=path,
                        line=reader.line_num,
                    )
                self.rows.append([c.strip() for c in row])
                self.lines.append(reader.line_num)
        except csv.Error as exc:
            raise InputError(f"bad CSV: {exc}", source=path, line=reader.line_num) from None

    def column(self, *names: str, required: bool = True) -> str | None:
        """The first of ``names`` present in the header (aliases), or None if optional."""
        for n in names:
            if n in self.header:
                return n
        if required:
            raise InputError(
                f"missing column {' or '.join(repr(n) for n in names)}; header has "
                f"{quote(', '.join(self.header), 120)}",
                source=self.path,
                line=1,
            )
        return None

    def strings(self, name: str, *, nonempty: bool = False, unique: bool = False) -> list[str]:
        j = self.header.index(name)
        values = [r[j] for r in self.rows]
        seen: dict[str, int] = {}
        for v, line in zip(values, self.lines, strict=True):
            if nonempty and not v:
                raise InputError("empty value", source=self.path, line=line, key=name)
            if unique:
                if v in seen:
                    raise InputError(
                        f"duplicate {name} {quote(v)} (first on line {seen[v]})",
                        source=self.path,
                        line=line,
                        key=name,
                    )
                seen[v] = line
        return values

    def floats(self, name: str, lo: float, hi: float) -> NDArray[np.float64]:
        out = np.empty(len(self.rows))
        for i, (v, line) in enumerate(zip(self.strings(name), self.lines, strict=True)):
            try:
                x = parse_number(v)
            except ValueError:
                raise InputError(
                    f"not a number: {quote(v)}", source=self.path, line=line, key=name
                ) from None
            if not (lo <= x <= hi):  # also rejects NaN
                raise InputError(
                    f"must be in [{lo:g}, {hi:g}], got {shorten(v)}",
                    source=self.path,
                    line=line,
                    key=name,
                )
            out[i] = x
        return out

    def countries(
        self,
        borders: Borders,
        latitude_deg: NDArray[np.float64],
        longitude_deg: NDArray[np.float64],
        *names: str,
    ) -> NDArray[np.str_]:
        """Country codes from the first of ``names`` present; blank or absent: from the borders."""
        col = self.column(*names, required=False)
        out = np.full(len(self.rows), "", dtype="<U3")
        missing = np.ones(len(self.rows), dtype=bool)
        if col is not None:
            for i, (v, line) in enumerate(zip(self.strings(col), self.lines, strict=True)):
                if v:
                    out[i] = borders.validate_code(v, source=self.path, line=line, key=col)
                    missing[i] = False
        if missing.any():
            out[missing] = borders.country_of(latitude_deg[missing], longitude_deg[missing])
        return out


def read_csv_table(path: str | Path, *, what: str = "CSV file") -> _Table:
    """The rows of a CSV file (``.gz`` too), read with :func:`leosim._io.read_text`: a folder,
    FIFO, device, oversized or non-UTF-8 file is one located :class:`InputError`."""
    path = Path(path)
    return _Table(path, read_text(path, what=what))


_read_table = read_csv_table


def _positions(t: _Table) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lat = t.floats(t.column("latitude_deg"), -90.0, 90.0)  # type: ignore[arg-type]
    lon = t.floats(t.column("longitude_deg"), -180.0, 180.0)  # type: ignore[arg-type]
    return lat, lon


# ---------------------------------------------------------------------------- gateways
def read_gateways_csv(path: str | Path, *, borders: Borders | None = None) -> Gateways:
    """Read gateways from CSV: ``name,latitude_deg,longitude_deg[,country][,status]``.

    ``country`` may also be called ``country_adm0_a3``; when the column is absent or a cell is
    blank the country is looked up in ``borders`` (default: the shipped 50m borders; ``""`` at
    sea).  ``status`` is optional: absent means every site is ``"operational"``, a blank cell
    ``"unknown"``.  Other columns (e.g. ``source``) are ignored.  Names need not be unique (the
    community data has repeats).
    """
    borders = borders or Borders.default()
    t = _read_table(path, what="gateways file")
    name = t.strings(t.column("name"), nonempty=True)  # type: ignore[arg-type]
    lat, lon = _positions(t)
    country = t.countries(borders, lat, lon, "country", "country_adm0_a3")
    status_col = t.column("status", required=False)
    if status_col is None:
        status = ["operational"] * len(name)
    else:
        status = [s.lower() or "unknown" for s in t.strings(status_col)]
        for s, line in zip(status, t.lines, strict=True):
            if s not in GATEWAY_STATUSES:
                raise InputError(
                    f"unknown status {s!r}; expected one of {', '.join(GATEWAY_STATUSES)}",
                    source=t.path,
                    line=line,
                    key=status_col,
                )
    return Gateways(np.array(name, dtype=object), lat, lon, country, np.array(status, dtype=object))


def builtin_gateways(
    status: Sequence[str] | str | None = ("operational",), *, include_ttc: bool = False
) -> Gateways:
    """The shipped community list of Starlink gateways (2024-08-13 snapshot; see module docs).

    ``status``: statuses to keep (``None`` keeps all 340 rows).  ``include_ttc``: keep the three
    TT&C (telemetry, tracking and command) sites, which serve no user traffic.

    Caveats: unofficial, crowd-sourced, stale and US-heavy data; countries are ADM0_A3 of the
    50m polygon containing the site (15 coastal sites take the nearest country, <= ~11 km).
    """
    gw = _builtin_gateways_all()
    keep = np.ones(len(gw), dtype=bool)
    if status is not None:
        wanted = (status,) if isinstance(status, str) else tuple(status)
        bad = [s for s in wanted if s not in GATEWAY_STATUSES]
        if bad:
            raise InputError(
                f"unknown gateway status {bad[0]!r}; expected some of {', '.join(GATEWAY_STATUSES)}"
            )
        keep &= np.isin(gw.status, wanted)
    if not include_ttc:
        keep &= np.array(["TT&C" not in n for n in gw.name])
    return gw.select(keep)


@functools.cache
def _builtin_gateways_all() -> Gateways:
    return read_gateways_csv(data_path("starlink_gateways.csv"))


# ---------------------------------------------------------------------------- PoPs
def read_pops_csv(path: str | Path, *, borders: Borders | None = None) -> PoPs:
    """Read PoPs from CSV: ``code,latitude_deg,longitude_deg[,city][,country]``.

    ``code`` must be unique and non-empty; ``country`` may be called ``country_adm0_a3`` and is
    looked up in ``borders`` when absent or blank.
    """
    borders = borders or Borders.default()
    t = _read_table(path, what="PoPs file")
    code = t.strings(t.column("code"), nonempty=True, unique=True)  # type: ignore[arg-type]
    city_col = t.column("city", required=False)
    city = t.strings(city_col) if city_col else [""] * len(code)
    lat, lon = _positions(t)
    country = t.countries(borders, lat, lon, "country", "country_adm0_a3")
    return PoPs(np.array(code, dtype=object), np.array(city, dtype=object), lat, lon, country)


@functools.cache
def builtin_pops() -> PoPs:
    """The shipped 64 Starlink PoPs (clarkzjw/starlink-geoip, April 2026; see module docs).

    Caveats: community data; coordinates are believed facility locations, not measurements;
    includes community-gateway/test codes (e.g. ``dtcrakx1``, ``aafbgux1``), a planned PoP
    (``krcipak1``) and a city-level location (``almykaz1``).
    """
    return read_pops_csv(data_path("starlink_pops.csv"))


# ---------------------------------------------------------------------------- terminals
def read_terminals_csv(path: str | Path, *, borders: Borders | None = None) -> Terminals:
    """Read user terminals: ``terminal_id,latitude_deg,longitude_deg[,country][,weight]``.

    ``terminal_id`` must be unique and non-empty.  ``country`` (or ``country_adm0_a3``) is filled
    from ``borders`` when absent or blank (``""`` at sea, e.g. a ship).  ``weight`` (>= 0,
    default 1) is what the terminal stands for, e.g. users or people represented.
    """
    borders = borders or Borders.default()
    t = _read_table(path, what="terminals file")
    ids = t.strings(t.column("terminal_id"), nonempty=True, unique=True)  # type: ignore[arg-type]
    lat, lon = _positions(t)
    country = t.countries(borders, lat, lon, "country", "country_adm0_a3")
    weight_col = t.column("weight", required=False)
    weight = t.floats(weight_col, 0.0, math.inf) if weight_col else np.ones(len(ids))
    return Terminals(np.array(ids, dtype=object), lat, lon, country, weight)


@functools.cache
def populated_places() -> PopulatedPlaces:
    """The shipped Natural Earth 10m populated places (7,324 with ``pop_max`` > 0).

    ``country`` is the shipped 50m polygon each place lies in (coastal places outside the 50m
    coastline were moved just inside it at build time; see ``tools/make_geodata.py``).
    """
    t = _read_table(data_path("ne_10m_populated_places.csv.gz"))
    lat, lon = _positions(t)
    return PopulatedPlaces(
        np.array(t.strings("name"), dtype=object),
        lat,
        lon,
        np.array(t.strings("country"), dtype="<U3"),
        t.floats("pop_max", 0.0, math.inf),
    )


def _allocate(n_total: int, population: NDArray[np.float64]) -> NDArray[np.int64]:
    """Split n_total in proportion to population, by largest remainder (sums to n_total)."""
    share = np.where(np.isfinite(population) & (population > 0), population, 0.0)
    if share.sum() == 0:
        share = np.ones_like(share)
    quota = n_total * share / share.sum()
    n = np.floor(quota).astype(np.int64)
    n[np.argsort(-(quota - n), kind="stable")[: n_total - n.sum()]] += 1
    return n


def _uniform_in_country(
    borders: Borders, code: str, n: int, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """n points uniform on the sphere inside a country (rejection sampling in its bounding box)."""
    lon0, lat0, lon1, lat1 = borders.geometry(code).bounds
    lat_out, lon_out = np.empty(0), np.empty(0)
    for _ in range(100):
        m = max(64, 4 * (n - len(lat_out)))
        z = rng.uniform(np.sin(np.radians(lat0)), np.sin(np.radians(lat1)), m)
        lat = np.degrees(np.arcsin(z))
        lon = rng.uniform(lon0, lon1, m)
        ok = borders.contains(code, lat, lon)
        lat_out = np.concatenate([lat_out, lat[ok]])
        lon_out = np.concatenate([lon_out, lon[ok]])
        if len(lat_out) >= n:
            return lat_out[:n], lon_out[:n]
    # A sliver-shaped country in a huge box: fall back to one interior point.
    p = borders.geometry(code).representative_point()
    return np.full(n, p.y), np.full(n, p.x)


def sample_terminals(
    countries: Iterable[str] | str,
    *,
    n_per_country: int | None = None,
    n_total: int | None = None,
    seed: int | np.random.Generator | None = 0,
    jitter_km: float = 5.0,
    borders: Borders | None = None,
) -> Terminals:
    """Population-weighted user terminals in the given countries.

    Give exactly one of ``n_per_country`` (that many terminals in each country) or ``n_total``
    (split across the countries in proportion to Natural Earth ``POP_EST``, largest remainder;
    a small country may get none).

    Method: in each country, draw ``n`` Natural Earth populated places with replacement, with
    probability proportional to ``pop_max``, and move each uniformly within a disc of radius
    ``jitter_km`` around its place (redrawing the offset, up to 8 times, when it leaves the
    country; a terminal still outside after that sits on the place itself).  Because the draw
    is proportional to population, every terminal of a country carries the same ``weight`` =
    ``POP_EST / n`` people (1.0 if the population is unknown), so weights sum to the country's
    population.  A country with no populated place gets points uniform over its area.

    Caveats: ``pop_max`` counts metropolitan populations, and suburbs listed as separate places
    are counted again, so big cities are somewhat over-represented; rural population is
    represented only by the nearest small towns.  Terminal ids are ``"<ADM0_A3>-<index>"``.
    """
    borders = borders or Borders.default()
    codes = [countries] if isinstance(countries, str) else list(countries)
    codes = list(dict.fromkeys(borders.validate_code(c) for c in codes))
    if not codes:
        raise InputError("no countries given")
    if (n_per_country is None) == (n_total is None):
        raise InputError("give exactly one of n_per_country and n_total")
    count = n_per_country if n_per_country is not None else n_total
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise InputError(f"number of terminals must be an integer >= 0, got {count!r}")
    if not (np.isfinite(jitter_km) and jitter_km >= 0):
        raise InputError(f"jitter_km must be a finite number >= 0, got {jitter_km!r}")
    population = np.array([borders.population_of(c) for c in codes])
    if n_total is not None:
        counts = _allocate(int(n_total), population)
    else:
        counts = np.full(len(codes), int(count), dtype=np.int64)

    rng = np.random.default_rng(seed)
    places = populated_places()
    parts: list[tuple] = []
    for code, n, pop in zip(codes, counts, population, strict=True):
        if n == 0:
            continue
        in_country = np.flatnonzero(places.country == code)
        if len(in_country) == 0:
            lat, lon = _uniform_in_country(borders, code, int(n), rng)
        else:
            p = places.pop_max[in_country]
            pick = in_country[rng.choice(len(in_country), size=int(n), p=p / p.sum())]
            lat0, lon0 = places.latitude_deg[pick], places.longitude_deg[pick]
            lat, lon = lat0.copy(), lon0.copy()
            todo = np.arange(int(n))
            for _ in range(8):
                if len(todo) == 0 or jitter_km == 0:
                    break
                # sqrt makes the offsets uniform over the disc's area, not clustered at its centre
                r_km = jitter_km * np.sqrt(rng.uniform(size=len(todo)))
                az = rng.uniform(0.0, 2.0 * np.pi, len(todo))
                cand_lat = np.clip(lat0[todo] + r_km * np.cos(az) / _KM_PER_DEG_LAT, -90.0, 90.0)
                cos_lat = np.maximum(np.cos(np.radians(lat0[todo])), 1e-6)
                cand_lon = lon0[todo] + r_km * np.sin(az) / (_KM_PER_DEG_LAT * cos_lat)
                cand_lon = (cand_lon + 180.0) % 360.0 - 180.0
                ok = borders.contains(code, cand_lat, cand_lon)
                lat[todo[ok]], lon[todo[ok]] = cand_lat[ok], cand_lon[ok]
                todo = todo[~ok]
        weight = pop / n if np.isfinite(pop) else 1.0
        ids = np.array([f"{code}-{i:06d}" for i in range(int(n))], dtype=object)
        parts.append((ids, lat, lon, np.full(int(n), code, dtype="<U3"), np.full(int(n), weight)))
    if not parts:
        return Terminals(
            np.empty(0, dtype=object), np.empty(0), np.empty(0), np.empty(0, "<U3"), np.empty(0)
        )
    cols = [np.concatenate(c) for c in zip(*parts, strict=True)]
    return Terminals(*cols)


def scenario_terminals(sc, borders: Borders, terminals_csv: str | Path | None = None) -> Terminals:
    """The terminals of a run: ``terminals_csv`` if given, else the scenario's ``[terminals]``
    table (its CSV file, or population-weighted samples of its countries; every country code
    checked, errors naming ``terminals.countries[i]``)."""
    if terminals_csv is not None:
        return read_terminals_csv(terminals_csv, borders=borders)
    spec = sc.terminals
    if spec.file is not None:
        return read_terminals_csv(sc.resolve_path(spec.file), borders=borders)
    countries = spec.countries or list(borders.codes)
    for i, c in enumerate(countries):
        try:
            borders.validate_code(c)
        except InputError as exc:
            raise InputError(
                exc.message, source=sc.source, key=f"terminals.countries[{i}]"
            ) from None
    if spec.n_per_country is not None:
        return sample_terminals(
            countries, n_per_country=spec.n_per_country, seed=spec.seed, borders=borders
        )
    return sample_terminals(
        countries, n_total=spec.n_total or 2000, seed=spec.seed, borders=borders
    )
