"""Service policy: where an operator serves users, and where their traffic may land.

A policy file (TOML) states, with the physics left to :mod:`leosim.service`:

* per-country **activation**: ``active``, ``not_activated`` (no service at all, e.g. Taiwan) or
  ``sanctioned_but_active`` (served despite sanctions, flagged in the reports);
* **exclusion zones**: a named region (``crimea``: see :mod:`leosim.regions`), a closed polygon,
  a point and radius (a cut-off around a city), or a buffer of N km inside a country's border;
* **landing rights**: users in country X may land only at gateways in the countries listed;
* **forbidden gateway countries** for all traffic;
* **terminal allow-lists** per country (only the listed terminals are served there);
* the **minimum elevation** of user links, and the **gateways** (built-in community list,
  a CSV, and hypothetical sites added for a what-if).

::

    name = "India: landing rights and a 50 km border buffer"
    min_elevation_deg = 25

    [countries]
    TWN = "not_activated"

    [[exclusion_zones]]
    name = "border buffer"
    country = "IND"
    border_buffer_km = 50

    [landing_rights]
    IND = ["IND"]

    [[gateways.add]]
    name = "Mumbai (hypothetical)"
    latitude_deg = 19.07
    longitude_deg = 72.88
    country = "IND"

Validation names the key at fault: an unknown country code, a polygon that does not close,
a region that does not exist, a landing-rights country with no gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import shapely
import shapely.affinity
from pydantic import Field, ValidationError, model_validator

from ._config import AsTuple, _pydantic_to_input_error, _Strict
from ._io import read_toml
from .borders import Borders
from .errors import InputError
from .ground import great_circle_m
from .ground_segment import (
    Gateways,
    PoPs,
    Terminals,
    builtin_gateways,
    builtin_pops,
    read_gateways_csv,
)
from .regions import Region, Regions, within_km

STATES = ("active", "not_activated", "sanctioned_but_active")
State = Literal["active", "not_activated", "sanctioned_but_active"]
SERVED_STATES = ("active", "sanctioned_but_active")


class ExclusionZoneSpec(_Strict):
    """An area where users are not served: exactly one of region, polygon, point + radius_km,
    country + border_buffer_km."""

    name: Annotated[str, Field(max_length=200)]
    """Zone name, shown as the reason a terminal is not served."""
    region: str | None = None
    """A named region of :mod:`leosim.regions`, e.g. "crimea"."""
    polygon: (
        Annotated[list[Annotated[tuple[float, float], AsTuple]], Field(max_length=100_000)] | None
    ) = None
    """Vertices as [longitude_deg, latitude_deg] (note: longitude FIRST, as in GeoJSON, unlike
    point); the last must equal the first."""
    point: Annotated[tuple[float, float], AsTuple] | None = None
    """Centre as [latitude_deg, longitude_deg] (note: latitude FIRST, unlike polygon); with
    radius_km."""
    radius_km: Annotated[float, Field(gt=0, le=20_100)] | None = None
    """Radius around point, km (great circle)."""
    country: str | None = None
    """ADM0_A3 code of the country whose border zone is excluded; with border_buffer_km."""
    border_buffer_km: Annotated[float, Field(gt=0, le=20_100)] | None = None
    """Width of the excluded strip inside the country's land border, km."""
    buffer_km: Annotated[float, Field(gt=0, le=20_100)] | None = None
    """With region or polygon: also exclude everything within this many km outside it (great
    circle; a region already includes its 12 nm territorial sea)."""

    @model_validator(mode="after")
    def _one_form(self) -> ExclusionZoneSpec:
        forms = {
            "region": self.region is not None,
            "polygon": self.polygon is not None,
            "point + radius_km": self.point is not None or self.radius_km is not None,
            "country + border_buffer_km": self.country is not None
            or self.border_buffer_km is not None,
        }
        given = [k for k, v in forms.items() if v]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of region, polygon, point + radius_km, country + border_buffer_km"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if forms["point + radius_km"] and (self.point is None or self.radius_km is None):
            raise ValueError("a point zone needs both point = [lat, lon] and radius_km")
        if forms["country + border_buffer_km"] and (
            self.country is None or self.border_buffer_km is None
        ):
            raise ValueError("a border-buffer zone needs both country and border_buffer_km")
        if self.buffer_km is not None and not (forms["region"] or forms["polygon"]):
            raise ValueError("buffer_km widens a region or polygon zone; give one of them")
        if self.point is not None and not (
            -90 <= self.point[0] <= 90 and -180 <= self.point[1] <= 360
        ):
            raise ValueError(f"point must be [latitude_deg, longitude_deg], got {list(self.point)}")
        return self


class GatewayRow(_Strict):
    """A hypothetical gateway site ([[gateways.add]])."""

    name: Annotated[str, Field(max_length=200)]
    """Site name."""
    latitude_deg: Annotated[float, Field(ge=-90, le=90)]
    """Latitude, degrees (WGS84)."""
    longitude_deg: Annotated[float, Field(ge=-180, le=360)]
    """Longitude, degrees (WGS84; 180-360 is folded to -180-0)."""
    country: str
    """ADM0_A3 code of the country the site is in."""


class PopRow(_Strict):
    """A hypothetical point of presence ([[pops.add]])."""

    code: str
    """PoP code, new (not a built-in one)."""
    city: str = ""
    """City name; default: the code."""
    latitude_deg: Annotated[float, Field(ge=-90, le=90)]
    """Latitude, degrees (WGS84)."""
    longitude_deg: Annotated[float, Field(ge=-180, le=360)]
    """Longitude, degrees (WGS84; 180-360 is folded to -180-0)."""
    country: str
    """ADM0_A3 code of the country the PoP is in."""


class GatewaysSpec(_Strict):
    """The gateway sites the policy may use."""

    builtin: Literal["operational", "all", "none"] = "operational"
    """The shipped community list: its "operational" sites, "all" of them, or "none"."""
    file: str | None = None
    """A CSV name,latitude_deg,longitude_deg[,country][,status] of more sites."""
    add: Annotated[list[GatewayRow], Field(max_length=100_000)] = Field(default_factory=list)
    """Hypothetical sites ([[gateways.add]] tables), for a what-if."""
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] = 25.0
    """Minimum elevation of gateway (feeder) links, degrees."""
    at_pops: bool | None = None
    """Assume a gateway at every built-in PoP that the GeoIP feed homes users to (status
    "assumed"): the 2024-08 gateway list misses the sites built since, many of them beside PoPs
    (Botswana, Qatar, Kenya, Bangladesh, ...).  Default: true unless builtin = "none"."""


class PolicySpec(_Strict):
    """A policy file: who is served where, and where their traffic may land."""

    name: Annotated[str, Field(max_length=200)] = "policy"
    """Name shown in outputs."""
    description: Annotated[str, Field(max_length=10_000)] = ""
    """Free text."""
    default_state: State = "active"
    """Activation of countries not listed in [countries] (and of the sea)."""
    countries: dict[str, State] = Field(default_factory=dict)
    """Per country (ADM0_A3 code, any case): "active", "not_activated" or
    "sanctioned_but_active"; a country may appear once."""
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    """User-link minimum elevation; default: the scenario's ``links.gsl_min_elevation_deg``,
    else 25 degrees."""
    exclusion_zones: Annotated[list[ExclusionZoneSpec], Field(max_length=10_000)] = Field(
        default_factory=list
    )
    """Areas where users are not served ([[exclusion_zones]] tables)."""
    landing_rights: dict[str, list[str]] = Field(default_factory=dict)
    """Per user country: the countries whose gateways its traffic may land at."""
    forbidden_gateway_countries: list[str] = Field(default_factory=list)
    """Countries whose gateways carry no traffic at all."""
    allow_lists: dict[str, list[str] | str] = Field(default_factory=dict)
    """Per country: terminal ids, or a CSV path (column ``terminal_id``); only those are served there."""
    gateways: GatewaysSpec = GatewaysSpec()
    """[gateways]: the sites the policy may use."""
    pops: dict[str, str | list[PopRow]] = Field(default_factory=dict)
    """PoP homing overrides, country -> PoP code (``TWN = "tkyojpn1"``), and hypothetical PoPs
    under ``[[pops.add]]`` (code, city, latitude_deg, longitude_deg, country)."""


@dataclass
class ExclusionZone:
    name: str
    kind: str
    geometry: shapely.Geometry | None = None
    centre_deg: tuple[float, float] | None = None
    radius_km: float | None = None
    country: str | None = None
    buffer_km: float | None = None
    region: Region | None = None
    outward_km: float | None = None

    def contains(
        self, latitude_deg: np.ndarray, longitude_deg: np.ndarray, borders: Borders
    ) -> np.ndarray:
        lat = np.asarray(latitude_deg, dtype=float)
        lon = np.asarray(longitude_deg, dtype=float)
        if self.kind in ("region", "polygon"):
            inside = (
                self.region.contains(lat, lon)
                if self.region is not None
                else shapely.intersects_xy(self.geometry, lon, lat)
            )
            if self.outward_km:
                inside = inside | within_km(self.geometry, lat, lon, self.outward_km)
            return inside
        if self.kind == "point":
            return great_circle_m(lat, lon, *self.centre_deg) <= self.radius_km * 1e3
        return borders.within_border_buffer(lat, lon, self.country, buffer_km=self.buffer_km)


@dataclass
class Policy:
    """A validated policy, bound to borders, regions and its gateways."""

    spec: PolicySpec
    gateways: Gateways
    zones: list[ExclusionZone]
    allow_lists: dict[str, set[str]]
    source: str = "<policy>"
    pops: PoPs | None = None
    """The PoPs users may be homed to: the built-in ones plus ``[[pops.add]]``."""
    pop_overrides: dict[str, str] = field(default_factory=dict)
    """Country (ADM0_A3) -> PoP code, from the policy's ``[pops]`` table."""

    @property
    def name(self) -> str:
        return self.spec.name

    def state_of(self, country: np.ndarray) -> np.ndarray:
        """Activation state of each country code (the default for unlisted ones and the sea)."""
        out = np.full(len(country), self.spec.default_state, dtype=object)
        for code, state in self.spec.countries.items():
            out[np.asarray(country) == code] = state
        return out

    def user_min_elevation_deg(self, net=None):
        """The policy's user-link elevation mask, else the network's (per satellite), else 25."""
        if self.spec.min_elevation_deg is not None:
            return self.spec.min_elevation_deg
        if net is not None:
            return net.gsl_min_elevation_deg
        return 25.0

    def usable_gateways(self) -> np.ndarray:
        """Mask of gateways that may carry traffic (not in a forbidden country)."""
        return ~np.isin(self.gateways.country, self.spec.forbidden_gateway_countries)

    def landing_classes(self, terminal_country: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Group terminals by the gateways they may land at.

        Returns ``class_of_terminal`` and, per class, the indices of its allowed gateways.
        Class 0 is "any usable gateway".
        """
        usable = self.usable_gateways()
        classes: list[np.ndarray] = [np.flatnonzero(usable)]
        cls = np.zeros(len(terminal_country), dtype=np.int64)
        seen: dict[tuple[str, ...], int] = {}
        for country, allowed in self.spec.landing_rights.items():
            key = tuple(sorted(allowed))
            if key not in seen:
                seen[key] = len(classes)
                classes.append(np.flatnonzero(usable & np.isin(self.gateways.country, key)))
            cls[np.asarray(terminal_country) == country] = seen[key]
        return cls, classes

    def terminal_permission(
        self, terminals: Terminals, borders: Borders
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which terminals policy allows to be served, and why not (``""`` when allowed)."""
        n = len(terminals)
        reason = np.full(n, "", dtype=object)
        state = self.state_of(terminals.country)
        off = ~np.isin(state, SERVED_STATES)
        reason[off] = [
            f"not activated in {c or 'international waters'}" for c in terminals.country[off]
        ]
        for zone in self.zones:
            inside = zone.contains(terminals.latitude_deg, terminals.longitude_deg, borders)
            hit = inside & (reason == "")
            reason[hit] = f"exclusion zone {zone.name!r}"
        for country, ids in self.allow_lists.items():
            sel = (np.asarray(terminals.country) == country) & (reason == "")
            listed = np.isin(terminals.terminal_id.astype(str), list(ids))
            reason[sel & ~listed] = f"not on the {country} allow-list"
        return reason == "", reason


def _read_id_list(path: Path) -> set[str]:
    """Terminal ids from a CSV with a ``terminal_id`` column (other columns are ignored)."""
    from .ground_segment import read_csv_table

    t = read_csv_table(path, what="allow-list file")
    col = t.column("terminal_id")
    return set(t.strings(col, nonempty=True))


def _validate_code(borders: Borders, code: str, source: str, key: str) -> str:
    try:
        return borders.validate_code(code, source=source, key=key)
    except InputError:
        raise
    except Exception as exc:  # pragma: no cover - validate_code raises InputError
        raise InputError(str(exc), source=source, key=key) from None


SITE_COAST_KM = 50.0
"""A hypothetical gateway or PoP may sit this far off its country's coast (ports, islets
the 50m borders leave out); farther, its coordinates contradict its country."""


def _check_site_country(borders: Borders, rows, countries, source: str, table: str) -> None:
    """Each added site (``[[gateways.add]]``, ``[[pops.add]]``) lies in the country it names
    (``countries``, the canonical codes of ``rows``): swapped or mistyped coordinates would
    otherwise land traffic in the wrong country."""
    if not rows:
        return
    found = borders.country_of(
        [r.latitude_deg for r in rows],
        [r.longitude_deg for r in rows],
        territorial_sea_km=SITE_COAST_KM,
    )
    for i, (r, country, where) in enumerate(zip(rows, countries, found, strict=True)):
        if where != country:
            at = f"in {where} ({borders.name_of(where)})" if where else "at sea"
            raise InputError(
                f"({r.latitude_deg:g}, {r.longitude_deg:g}) lies {at}, not in {country}; "
                "check latitude_deg/longitude_deg (swapped?) or country",
                source=source,
                key=f"{table}[{i}]",
            )


def _referenced(read, source: str, key: str):
    """``read()`` of a file the policy names; a file that cannot be opened at all is reported
    with the policy file and key that named it (errors inside the file name its line)."""
    try:
        return read()
    except InputError as exc:
        if exc.line is not None or exc.source == source:
            raise
        raise InputError(f"{exc.source}: {exc.message}", source=source, key=key) from None


def _by_code(borders: Borders, table: dict, source: str, name: str) -> dict:
    """``table`` keyed by canonical ADM0_A3 codes; a country given twice (``TWN`` and ``twn``)
    is an error, never a silent choice of the last."""
    out: dict = {}
    given: dict[str, str] = {}
    for c, v in table.items():
        code = _validate_code(borders, c, source, f"{name}.{c}")
        if code in out:
            raise InputError(
                f"country {code} is given twice (as {given[code]!r} and {c!r}); give it once",
                source=source,
                key=f"{name}.{c}",
            )
        out[code], given[code] = v, c
    return out


def load_policy(
    path: str | Path, *, borders: Borders | None = None, regions: Regions | None = None
) -> Policy:
    """Read and validate a policy TOML file."""
    p = Path(path)
    data = read_toml(p, what="policy file")
    return parse_policy(data, source=str(p), base_dir=p.parent, borders=borders, regions=regions)


def parse_policy(
    data: dict,
    *,
    source: str = "<policy>",
    base_dir: Path | None = None,
    borders: Borders | None = None,
    regions: Regions | None = None,
) -> Policy:
    """Validate a policy given as a dict (the parsed TOML) and bind it to its data."""
    try:
        spec = PolicySpec.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_input_error(exc, source, PolicySpec) from None
    borders = borders or Borders.default()
    regions = regions or Regions.default()
    base = base_dir or Path(".")

    def resolve(p: str) -> Path:
        q = Path(p).expanduser()
        return q if q.is_absolute() else base / q

    # Codes are matched exactly later on: keep the canonical (upper-case ADM0_A3) form.
    countries = _by_code(borders, spec.countries, source, "countries")
    forbidden = [
        _validate_code(borders, c, source, "forbidden_gateway_countries")
        for c in spec.forbidden_gateway_countries
    ]
    landing = {
        c: [_validate_code(borders, a, source, f"landing_rights.{c}") for a in allowed]
        for c, allowed in _by_code(borders, spec.landing_rights, source, "landing_rights").items()
    }
    added = [
        row.model_copy(
            update={
                "country": _validate_code(
                    borders, row.country, source, f"gateways.add[{i}].country"
                )
            }
        )
        for i, row in enumerate(spec.gateways.add)
    ]
    _check_site_country(borders, added, [r.country for r in added], source, "gateways.add")
    spec = spec.model_copy(
        update={
            "countries": countries,
            "forbidden_gateway_countries": forbidden,
            "landing_rights": landing,
            "gateways": spec.gateways.model_copy(update={"add": added}),
        }
    )

    # Gateways: the physical sites this policy may use.
    g = spec.gateways
    parts: list[Gateways] = []
    if g.builtin != "none":
        parts.append(builtin_gateways(None if g.builtin == "all" else ("operational",)))
    if g.file is not None:
        parts.append(
            _referenced(
                lambda: read_gateways_csv(resolve(g.file), borders=borders), source, "gateways.file"
            )
        )
    if g.at_pops if g.at_pops is not None else g.builtin != "none":
        parts.append(_pop_site_gateways())
    if g.add:
        parts.append(
            Gateways(
                np.array([r.name for r in g.add], dtype=object),
                np.array([r.latitude_deg for r in g.add]),
                np.array([(r.longitude_deg + 180) % 360 - 180 for r in g.add]),
                np.array([r.country for r in g.add]),
                np.array(["hypothetical"] * len(g.add), dtype=object),
            )
        )
    if not parts:
        raise InputError(
            'the policy has no gateways (builtin = "none" and no file or add)',
            source=source,
            key="gateways",
        )
    gateways = Gateways(
        *(
            np.concatenate([getattr(p_, f) for p_ in parts])
            for f in ("name", "latitude_deg", "longitude_deg", "country", "status")
        )
    )

    zones: list[ExclusionZone] = []
    for i, z in enumerate(spec.exclusion_zones):
        key = f"exclusion_zones[{i}]"
        if z.region is not None:
            try:
                region = regions.get(z.region)
            except InputError as exc:
                raise InputError(exc.message, source=source, key=f"{key}.region") from None
            zones.append(
                ExclusionZone(
                    z.name,
                    "region",
                    geometry=region.geometry,
                    region=region,
                    outward_km=z.buffer_km,
                )
            )
        elif z.polygon is not None:
            pts = z.polygon
            if len(pts) < 4:
                raise InputError(
                    f"a polygon needs at least 4 vertices (3 corners and the first again), got {len(pts)}",
                    source=source,
                    key=f"{key}.polygon",
                )
            if tuple(pts[0]) != tuple(pts[-1]):
                raise InputError(
                    f"the polygon does not close: first vertex {list(pts[0])} != last {list(pts[-1])} "
                    "(repeat the first vertex at the end)",
                    source=source,
                    key=f"{key}.polygon",
                )
            lons = [q[0] for q in pts]
            lats = [q[1] for q in pts]
            if not all(-90 <= la <= 90 for la in lats) or not all(-180 <= lo <= 360 for lo in lons):
                raise InputError(
                    "polygon vertices are [longitude_deg, latitude_deg] with latitude in [-90, 90]",
                    source=source,
                    key=f"{key}.polygon",
                )
            geom = shapely.Polygon(pts)
            if not geom.is_valid:
                raise InputError(
                    f"the polygon is not valid ({shapely.is_valid_reason(geom)})",
                    source=source,
                    key=f"{key}.polygon",
                )
            # Longitudes may run past 180 (0-360 convention, or across the antimeridian):
            # fold the shape into [-180, 180] where points are tested.
            world = shapely.box(-180.0, -90.0, 180.0, 90.0)
            geom = shapely.union_all(
                [
                    shapely.affinity.translate(geom, xoff=dx).intersection(world)
                    for dx in (-360.0, 0.0, 360.0)
                ]
            )
            shapely.prepare(geom)
            zones.append(ExclusionZone(z.name, "polygon", geometry=geom, outward_km=z.buffer_km))
        elif z.point is not None:
            zones.append(
                ExclusionZone(z.name, "point", centre_deg=tuple(z.point), radius_km=z.radius_km)
            )
        else:
            code = _validate_code(borders, z.country, source, f"{key}.country")
            zones.append(
                ExclusionZone(z.name, "buffer", country=code, buffer_km=z.border_buffer_km)
            )

    usable = ~np.isin(gateways.country, spec.forbidden_gateway_countries)
    for country, allowed in spec.landing_rights.items():
        key = f"landing_rights.{country}"
        if not allowed:
            raise InputError("lists no gateway country; give at least one", source=source, key=key)
        if not np.any(usable & np.isin(gateways.country, allowed)):
            raise InputError(
                f"no usable gateway in {', '.join(allowed)} among the policy's {len(gateways)} "
                "gateways: add one under [[gateways.add]] or change the landing rights",
                source=source,
                key=key,
            )

    allow: dict[str, set[str]] = {}
    for code, ids in _by_code(borders, spec.allow_lists, source, "allow_lists").items():
        allow[code] = (
            _referenced(lambda ids=ids: _read_id_list(resolve(ids)), source, f"allow_lists.{code}")
            if isinstance(ids, str)
            else {str(i) for i in ids}
        )
    pops, overrides = _policy_pops(spec.pops, borders, source)
    return Policy(spec, gateways, zones, allow, source, pops, overrides)


def _pop_site_gateways() -> Gateways:
    """One assumed gateway at each built-in PoP that users are homed to."""
    from .pop_homing import PopHoming

    pops = builtin_pops()
    homed = np.isin(pops.code, sorted(PopHoming.builtin().homed_pops()))
    p = pops.select(homed)
    return Gateways(
        np.array(
            [f"PoP site {c} ({city}), assumed" for c, city in zip(p.code, p.city, strict=True)],
            dtype=object,
        ),
        p.latitude_deg.copy(),
        p.longitude_deg.copy(),
        np.asarray(p.country).copy(),
        np.array(["assumed"] * len(p), dtype=object),
    )


def _policy_pops(table: dict, borders: Borders, source: str) -> tuple[PoPs, dict[str, str]]:
    """The built-in PoPs plus the policy's hypothetical ones, and its homing overrides."""
    from .pop_homing import check_pop_code

    added = table.get("add", [])
    if isinstance(added, str):
        raise InputError("must be a list of [[pops.add]] tables", source=source, key="pops.add")
    base = builtin_pops()
    pops = base
    if added:
        codes = [r.code for r in added]
        # Codes are matched case aside, so "X1" and "x1" would be one PoP.
        folded = [c.casefold() for c in codes]
        taken = {str(c).casefold() for c in base.code}
        dup = sorted({c for c, f in zip(codes, folded, strict=True)
                      if folded.count(f) > 1 or f in taken})  # fmt: skip
        if dup:
            raise InputError(
                f"PoP code(s) {', '.join(dup)} already used; give each added PoP a new code",
                source=source,
                key="pops.add",
            )
        extra = PoPs(
            np.array(codes, dtype=object),
            np.array([r.city or r.code for r in added], dtype=object),
            np.array([r.latitude_deg for r in added]),
            np.array([(r.longitude_deg + 180) % 360 - 180 for r in added]),
            np.array(
                [
                    _validate_code(borders, r.country, source, f"pops.add[{i}].country")
                    for i, r in enumerate(added)
                ]
            ),
        )
        _check_site_country(borders, added, extra.country, source, "pops.add")
        pops = PoPs(
            *(
                np.concatenate([getattr(base, f), getattr(extra, f)])
                for f in ("code", "city", "latitude_deg", "longitude_deg", "country")
            )
        )
    overrides: dict[str, str] = {}
    for country, code in table.items():
        if country == "add":
            continue
        key = f"pops.{country}"
        if not isinstance(code, str):
            raise InputError('must be a PoP code such as "tkyojpn1"', source=source, key=key)
        adm0 = _validate_code(borders, country, source, key)
        if adm0 in overrides:
            raise InputError(f"{adm0} is given twice", source=source, key=key)
        overrides[adm0] = check_pop_code(code.strip(), pops, source=source, key=key)
    return pops, overrides
