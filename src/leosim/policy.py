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

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import shapely
import shapely.affinity
from pydantic import Field, ValidationError, model_validator

from ._config import _pydantic_to_input_error, _Strict
from .borders import Borders
from .errors import InputError
from .ground_segment import (
    Gateways,
    Terminals,
    builtin_gateways,
    read_gateways_csv,
)
from .regions import Regions

STATES = ("active", "not_activated", "sanctioned_but_active")
State = Literal["active", "not_activated", "sanctioned_but_active"]
SERVED_STATES = ("active", "sanctioned_but_active")


class ExclusionZoneSpec(_Strict):
    name: str
    region: str | None = None
    polygon: list[tuple[float, float]] | None = None
    """Vertices as [longitude_deg, latitude_deg]; the last must equal the first."""
    point: tuple[float, float] | None = None
    """[latitude_deg, longitude_deg] of a centre; with radius_km."""
    radius_km: Annotated[float, Field(gt=0)] | None = None
    country: str | None = None
    border_buffer_km: Annotated[float, Field(gt=0)] | None = None

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
        if self.point is not None and not (
            -90 <= self.point[0] <= 90 and -180 <= self.point[1] <= 360
        ):
            raise ValueError(f"point must be [latitude_deg, longitude_deg], got {list(self.point)}")
        return self


class GatewayRow(_Strict):
    name: str
    latitude_deg: Annotated[float, Field(ge=-90, le=90)]
    longitude_deg: Annotated[float, Field(ge=-180, le=360)]
    country: str


class GatewaysSpec(_Strict):
    builtin: Literal["operational", "all", "none"] = "operational"
    file: str | None = None
    add: list[GatewayRow] = Field(default_factory=list)
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] = 25.0


class PolicySpec(_Strict):
    name: str = "policy"
    description: str = ""
    default_state: State = "active"
    countries: dict[str, State] = Field(default_factory=dict)
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    """User-link minimum elevation; default: the scenario's ``links.gsl_min_elevation_deg``,
    else 25 degrees."""
    exclusion_zones: list[ExclusionZoneSpec] = Field(default_factory=list)
    landing_rights: dict[str, list[str]] = Field(default_factory=dict)
    forbidden_gateway_countries: list[str] = Field(default_factory=list)
    allow_lists: dict[str, list[str] | str] = Field(default_factory=dict)
    """Per country: terminal ids, or a CSV path (column ``terminal_id``)."""
    gateways: GatewaysSpec = GatewaysSpec()


@dataclass
class ExclusionZone:
    name: str
    kind: str
    geometry: shapely.Geometry | None = None
    centre_deg: tuple[float, float] | None = None
    radius_km: float | None = None
    country: str | None = None
    buffer_km: float | None = None

    def contains(
        self, latitude_deg: np.ndarray, longitude_deg: np.ndarray, borders: Borders
    ) -> np.ndarray:
        lat = np.asarray(latitude_deg, dtype=float)
        lon = np.asarray(longitude_deg, dtype=float)
        if self.kind in ("region", "polygon"):
            return shapely.intersects_xy(self.geometry, lon, lat)
        if self.kind == "point":
            return _great_circle_km(lat, lon, *self.centre_deg) <= self.radius_km
        return borders.within_border_buffer(lat, lon, self.country, buffer_km=self.buffer_km)


def _great_circle_km(lat, lon, lat0, lon0) -> np.ndarray:
    """Haversine distance on the 6371.0088 km mean sphere."""
    p1, p2 = np.radians(lat), np.radians(lat0)
    dl = np.radians(np.asarray(lon) - lon0)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


@dataclass
class Policy:
    """A validated policy, bound to borders, regions and its gateways."""

    spec: PolicySpec
    gateways: Gateways
    zones: list[ExclusionZone]
    allow_lists: dict[str, set[str]]
    source: str = "<policy>"

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
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or "terminal_id" not in reader.fieldnames:
                raise InputError("missing column terminal_id", source=path, line=1)
            ids = set()
            for lineno, row in enumerate(reader, start=2):
                tid = (row.get("terminal_id") or "").strip()
                if not tid:
                    raise InputError(
                        "empty terminal_id", source=path, line=lineno, key="terminal_id"
                    )
                ids.add(tid)
    except FileNotFoundError:
        raise InputError("allow-list file not found", source=path) from None
    return ids


def _validate_code(borders: Borders, code: str, source: str, key: str) -> str:
    try:
        return borders.validate_code(code, source=source, key=key)
    except InputError:
        raise
    except Exception as exc:  # pragma: no cover - validate_code raises InputError
        raise InputError(str(exc), source=source, key=key) from None


def load_policy(
    path: str | Path, *, borders: Borders | None = None, regions: Regions | None = None
) -> Policy:
    """Read and validate a policy TOML file."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("policy file not found", source=p) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(
            f"not valid TOML: {exc}", source=p, line=getattr(exc, "lineno", None)
        ) from None
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
    countries = {
        _validate_code(borders, c, source, f"countries.{c}"): v for c, v in spec.countries.items()
    }
    forbidden = [
        _validate_code(borders, c, source, "forbidden_gateway_countries")
        for c in spec.forbidden_gateway_countries
    ]
    landing = {
        _validate_code(borders, c, source, f"landing_rights.{c}"): [
            _validate_code(borders, a, source, f"landing_rights.{c}") for a in allowed
        ]
        for c, allowed in spec.landing_rights.items()
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
        parts.append(read_gateways_csv(resolve(g.file), borders=borders))
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
            zones.append(ExclusionZone(z.name, "region", geometry=region.geometry))
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
            zones.append(ExclusionZone(z.name, "polygon", geometry=geom))
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
    for country, ids in spec.allow_lists.items():
        code = _validate_code(borders, country, source, f"allow_lists.{country}")
        allow[code] = _read_id_list(resolve(ids)) if isinstance(ids, str) else {str(i) for i in ids}
    return Policy(spec, gateways, zones, allow, source)
