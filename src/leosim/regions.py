"""Named regions: disputed, breakaway and leased areas that a service policy may name on its own.

Point of view of the default borders
------------------------------------
:meth:`leosim.borders.Borders.default` uses Natural Earth's *de-facto* point of view: each
area is drawn inside the country that controls it on the ground (as Natural Earth saw it in
its v4 release).  Crimea is drawn inside RUS, Jammu and Kashmir inside IND, Aksai Chin inside
CHN, Gilgit-Baltistan and Azad Kashmir inside PAK, the Moroccan-administered part of Western
Sahara inside MAR, and Abkhazia, South Ossetia, Transnistria and the 2014 Donbas lines inside
the countries that claim them (GEO, MDA, UKR).  Kosovo (KOS), Northern Cyprus (CYN),
Somaliland (SOL), Western Sahara's Polisario-held part (SAH), Siachen (KAS) and Taiwan (TWN)
are their own polygons.  ``country_of`` therefore answers "who runs this place", never "whose is
it".  A policy that means Crimea (e.g. "no service in Crimea", or "treat Crimea as UKR") must
name the region ``crimea`` explicitly; it must not rely on whose polygon a point falls in.

This module gives each such area a stable snake_case key.  Sources:

* Natural Earth 1:10m *admin-0 disputed areas* (80 areas, shipped trimmed in
  ``leosim/data/ne_10m_admin_0_disputed_areas.geojson.gz``), with ``administered_by`` /
  ``claimed_by`` ADM0_A3 codes parsed from Natural Earth's ``NOTE_BRK`` (kept verbatim as
  ``note``).  For a lease, ``administered_by`` is the lessee and ``claimed_by`` the lessor.
* ``kosovo``, ``northern_cyprus``, ``somaliland`` and ``siachen_glacier`` are taken from the
  1:50m *countries* polygons (KOS, CYN, SOL, KAS), so they agree exactly with
  :meth:`~leosim.borders.Borders.country_of`.  The 10m copies of the last three are also
  available as ``northern_cyprus_10m``, ``somaliland_10m`` and ``siachen_glacier_10m``.
* Groups made of parts: ``kashmir`` (Jammu and Kashmir, Gilgit-Baltistan, Azad Kashmir, Aksai
  Chin, Shaksgam Valley, Siachen), ``western_sahara`` (both administered parts) and
  ``palestinian_territories`` (Gaza, West Bank).

The 1:50m countries also lack some small territories: Ceuta and Melilla fall inside MAR's
polygon (the regions ``ceuta`` and ``melilla`` cover them); Gibraltar's polygon (GIB) is this
1:10m region, as the 1:50m file has none.  The 1:10m regions' edges differ from the 1:50m country borders by up to a km or two, so a point
within that distance of a region's edge may be in the region but ``country_of`` a neighbour.
Natural Earth's notes predate the events of 2020-2023 (Nagorno-Karabakh's 2023 reintegration
into Azerbaijan, the Russian occupation lines in Ukraine after 2022): treat ``administered_by``
as Natural Earth's statement, not current fact.

Territorial sea: a region includes its 12 nm territorial sea
(:data:`~leosim.borders.TERRITORIAL_SEA_KM`, UNCLOS art. 3): a point outside the region's polygon
is in the region when it is at sea and the region's coast is both within 12 nm and the nearest
coast (the equidistance line between facing coasts, e.g. in the Kerch Strait).  "At sea" uses the
1:50m countries, except that the 1:50m polygon a region is drawn in (its host, RUS for Crimea)
is ignored within :data:`COAST_TOLERANCE_KM` of the region, where the 1:10m and 1:50m coastlines
disagree: Sevastopol's city point, 270 m off the 1:10m coast but 2.6 km inside the 1:50m one, is
in ``crimea``.  Regions taken from country polygons (``kosovo``...) use
:meth:`~leosim.borders.Borders.country_of` itself.  Pass ``territorial_sea_km=0`` for the polygon
alone.  :func:`within_km` tests an outward buffer of any geometry (policy zones' ``buffer_km``).

Units: degrees in, booleans out.

>>> from leosim.regions import Regions
>>> r = Regions.default()
>>> bool(r.contains("crimea", 44.95, 34.10))  # Simferopol
True
>>> r.get("crimea").administered_by, r.get("crimea").claimed_by
(('RUS',), ('UKR',))
>>> bool(r.contains("crimea", 44.6167, 33.5254))  # Sevastopol, in the water by 1:10m
True
"""

from __future__ import annotations

import difflib
import functools
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from shapely.geometry import shape

from .borders import (
    BORDER_VERTEX_SPACING_KM,
    EARTH_MEAN_RADIUS_KM,
    TERRITORIAL_SEA_KM,
    Borders,
    _densify_segments,
    as_lat_lon,
    data_path,
    unit_vectors,
)
from .errors import InputError

__all__ = [
    "COAST_TOLERANCE_KM",
    "DEFAULT_REGIONS_FILE",
    "POINT_OF_VIEW",
    "Region",
    "Regions",
    "within_km",
]

COAST_TOLERANCE_KM = 4.0
"""Within this distance of a region, its host's 1:50m land does not count as land for the
region's territorial sea (the 1:10m and 1:50m coastlines differ by up to a few km), km."""
_KM_PER_DEG = np.pi / 180.0 * EARTH_MEAN_RADIUS_KM

POINT_OF_VIEW = "de-facto (Natural Earth)"
"""The point of view of the default borders; see the module docstring."""

DEFAULT_REGIONS_FILE = "ne_10m_admin_0_disputed_areas.geojson.gz"

_NE_10M = "Natural Earth v4.0.0 1:10m admin-0 disputed areas"
_NE_50M = "Natural Earth v4.0.0 1:50m admin-0 countries"

# (key, name, ADM0_A3 of the 50m polygon, administered_by, claimed_by, note)
_FROM_COUNTRIES = (
    ("kosovo", "Kosovo", "KOS", ("KOS",), ("SRB",),
     "Self admin.; claimed by Serbia (Natural Earth gives no NOTE_BRK for KOS; claim added by leosim)"),
    ("northern_cyprus", "Northern Cyprus", "CYN", ("CYN",), ("CYP",), "Self admin.; Claimed by Cyprus"),
    ("somaliland", "Somaliland", "SOL", ("SOL",), ("SOM",), "Self admin.; Claimed by Somalia"),
    ("siachen_glacier", "Siachen Glacier", "KAS", (), ("IND", "PAK"), "Claimed by Pakistan and India"),
)  # fmt: skip

_GROUPS = (
    ("kashmir", "Kashmir (all administered parts)",
     ("jammu_and_kashmir", "gilgit_baltistan", "azad_kashmir", "aksai_chin", "shaksgam_valley",
      "siachen_glacier")),
    ("western_sahara", "Western Sahara",
     ("western_sahara_moroccan_administered", "western_sahara_polisario_administered")),
    ("palestinian_territories", "Palestinian territories (Gaza and West Bank)",
     ("gaza", "west_bank")),
)  # fmt: skip


@dataclass(frozen=True)
class Region:
    """A named area.  ``geometry`` is in lon/lat degrees (shapely's x = longitude).

    ``administered_by`` / ``claimed_by`` are ADM0_A3 codes (possibly empty: Natural Earth says
    e.g. "Self admin." for Abkhazia, whose administration has no code of its own, or "None").
    ``parts`` lists the keys a group region is made of (empty for a simple region).
    ``adm0`` is the borders code of a region taken from a country polygon; ``borders`` (set by
    :class:`Regions`) gives the territorial sea (see the module docstring).
    """

    key: str
    name: str
    geometry: shapely.Geometry = field(repr=False)
    administered_by: tuple[str, ...]
    claimed_by: tuple[str, ...]
    source: str
    note: str = ""
    self_administered: bool = False
    parts: tuple[str, ...] = ()
    adm0: str = ""
    borders: Borders | None = field(default=None, repr=False, compare=False)
    _waters: dict = field(default_factory=dict, repr=False, compare=False)

    def contains(
        self,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        *,
        territorial_sea_km: float = TERRITORIAL_SEA_KM,
    ) -> NDArray[np.bool_]:
        """True where the point is inside (or on the edge of) the region or in its territorial
        sea (``territorial_sea_km``, default 12 nm; 0 or no ``borders``: the polygon alone)."""
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        inside = shapely.intersects_xy(self.geometry, lon, lat)
        if self.borders is None or territorial_sea_km <= 0 or inside.all():
            return inside
        if self.adm0:
            return inside | (
                self.borders.country_of(lat, lon, territorial_sea_km=territorial_sea_km)
                == self.adm0
            )
        out = np.flatnonzero(~inside.ravel())
        la, lo = lat.ravel()[out], lon.ravel()[out]
        waters = self._sea_test(territorial_sea_km)
        if waters is not None:
            flat = inside.ravel()
            flat[out] = waters(la, lo)
            inside = flat.reshape(inside.shape)
        return inside

    def _sea_test(self, km: float):
        """A function (lat, lon) -> bool for points outside the polygon; None if no sea."""
        if km not in self._waters:
            self._waters[km] = _territorial_sea(self.geometry, self.borders, km)
        return self._waters[km]


def _edge_tree(geometry: shapely.Geometry) -> cKDTree | None:
    """KD-tree of a geometry's edges densified to BORDER_VERTEX_SPACING_KM (unit vectors)."""
    rings = shapely.get_rings(shapely.get_parts(geometry))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[1:] == ring[:-1]
    a, b = coords[:-1][same], coords[1:][same]
    if len(a) == 0:
        return None
    pts = _densify_segments(a[:, 0], a[:, 1], b[:, 0], b[:, 1], BORDER_VERTEX_SPACING_KM)
    return cKDTree(unit_vectors(pts[:, 1], pts[:, 0]), leafsize=64)


def _distance_km(tree: cKDTree | None, lat, lon, max_km: float) -> NDArray[np.float64]:
    """Great-circle km to the nearest vertex of ``tree`` (inf beyond ``max_km``)."""
    if tree is None or len(lat) == 0:
        return np.full(len(lat), np.inf)
    bound = 2.0 * np.sin(min(max_km / EARTH_MEAN_RADIUS_KM, np.pi) / 2.0) * (1 + 1e-9)
    chord, _ = tree.query(unit_vectors(lat, lon), k=1, distance_upper_bound=bound)
    with np.errstate(invalid="ignore"):
        km = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0)) * EARTH_MEAN_RADIUS_KM
    km[~np.isfinite(chord)] = np.inf
    return km


def _reach(geometry: shapely.Geometry, km: float) -> shapely.Geometry:
    """A lon/lat box containing every point within ``km`` of ``geometry`` (generous)."""
    lon0, lat0, lon1, lat1 = geometry.bounds
    dlat = km / _KM_PER_DEG * 1.05
    lat_max = min(89.0, max(abs(lat0), abs(lat1)) + dlat)
    dlon = min(180.0, dlat / np.cos(np.radians(lat_max)))
    return shapely.box(lon0 - dlon, max(-90.0, lat0 - dlat), lon1 + dlon, min(90.0, lat1 + dlat))


def within_km(
    geometry: shapely.Geometry, latitude_deg: ArrayLike, longitude_deg: ArrayLike, km: float
) -> NDArray[np.bool_]:
    """True where a point is inside ``geometry`` (lon/lat) or within ``km`` of its edge.

    Great-circle distance on the mean sphere to the edge densified to 0.5 km
    (:data:`~leosim.borders.BORDER_VERTEX_SPACING_KM`): the buffer may be up to 0.25 km
    narrower than ``km``, never wider.  Used for outward buffers of policy zones.
    """
    lat, lon = as_lat_lon(latitude_deg, longitude_deg)
    inside = shapely.intersects_xy(geometry, lon, lat)
    if km <= 0:
        return inside
    near = ~inside & shapely.intersects_xy(_reach(geometry, km), lon, lat)
    if near.any():
        tree = _cached_edge_tree(geometry)
        inside[near] = _distance_km(tree, lat[near], lon[near], km) <= km
    return inside


@functools.lru_cache(maxsize=64)
def _cached_edge_tree(geometry: shapely.Geometry) -> cKDTree | None:
    return _edge_tree(geometry)


def _territorial_sea(geometry: shapely.Geometry, borders: Borders, km: float):
    """The territorial-sea test of a 1:10m region against the 1:50m land (module docstring)."""
    reach = _reach(geometry, km)
    tol_deg = COAST_TOLERANCE_KM / _KM_PER_DEG
    _, lat0, _, lat1 = geometry.bounds
    tol_box = tol_deg / max(np.cos(np.radians(max(abs(lat0), abs(lat1)))), 0.05)
    near_region = geometry.buffer(tol_box)
    point = geometry.representative_point()
    host = set(borders.country_of(point.y, point.x, territorial_sea_km=0).ravel().tolist())
    pieces = []
    for code in borders.codes:
        g = borders.geometry(code)
        if not g.intersects(reach):
            continue
        piece = g.intersection(reach)
        if code in host:
            piece = piece.difference(near_region)
        pieces.append(piece)
    other = shapely.union_all(pieces).difference(geometry) if pieces else shapely.Polygon()
    if shapely.union_all([other, geometry]).covers(reach):
        return None  # landlocked: no sea within reach
    shapely.prepare(other)
    shapely.prepare(reach)
    own_tree = _edge_tree(geometry)
    other_tree = _edge_tree(other) if not other.is_empty else None

    def test(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.bool_]:
        ok = shapely.intersects_xy(reach, lon, lat) & ~shapely.intersects_xy(other, lon, lat)
        idx = np.flatnonzero(ok)
        d_own = _distance_km(own_tree, lat[idx], lon[idx], km)
        d_other = _distance_km(other_tree, lat[idx], lon[idx], km * 1.01 + 1.0)
        ok[idx] = (d_own <= km) & (d_own <= d_other)
        return ok

    return test


class Regions:
    """A keyed collection of :class:`Region`; see the module docstring for the default set."""

    def __init__(self, regions: list[Region]) -> None:
        self._regions: dict[str, Region] = {}
        for r in regions:
            if r.key in self._regions:
                raise InputError(f"duplicate region key {r.key!r}")
            shapely.prepare(r.geometry)
            self._regions[r.key] = r

    @staticmethod
    @functools.cache
    def default() -> Regions:
        """The shipped regions (cached; treat as read-only), consistent with ``Borders.default()``."""
        return Regions.from_geojson(data_path(DEFAULT_REGIONS_FILE), borders=Borders.default())

    @classmethod
    def from_geojson(cls, path: str | Path, *, borders: Borders | None = None) -> Regions:
        """Load regions from a GeoJSON file in the shipped format (properties ``key``, ``name``,
        ``administered_by``, ``claimed_by``, ``NOTE_BRK``, ``self_administered``).

        With ``borders``, also add the regions taken from country polygons (``kosovo``...) and
        the group regions whose parts are all present.
        """
        path = Path(path)
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read GeoJSON: {exc}", source=path) from None
        regions: list[Region] = []
        for i, feat in enumerate(doc.get("features", [])):
            p = feat.get("properties") or {}
            if not p.get("key"):
                raise InputError("feature has no 'key' property", source=path, key=f"features[{i}]")
            brk = f" {p['BRK_A3']}" if p.get("BRK_A3") else ""
            regions.append(
                Region(
                    key=p["key"],
                    name=p.get("name") or p["key"],
                    geometry=shape(feat["geometry"]),
                    administered_by=tuple(p.get("administered_by") or ()),
                    claimed_by=tuple(p.get("claimed_by") or ()),
                    source=f"{_NE_10M} ({path.name}{brk})",
                    note=p.get("NOTE_BRK") or "",
                    self_administered=bool(p.get("self_administered")),
                    borders=borders,
                )
            )
        if borders is not None:
            for key, name, code, admin, claim, note in _FROM_COUNTRIES:
                if code in borders:
                    regions.append(
                        Region(key, name, borders.geometry(code), admin, claim,
                               source=f"{_NE_50M} polygon ADM0_A3={code}", note=note,
                               self_administered=code in admin, adm0=code, borders=borders)
                    )  # fmt: skip
        by_key = {r.key: r for r in regions}
        for key, name, part_keys in _GROUPS:
            if key in by_key or not all(k in by_key for k in part_keys):
                continue
            parts = [by_key[k] for k in part_keys]
            regions.append(
                Region(
                    key=key,
                    name=name,
                    geometry=shapely.union_all([r.geometry for r in parts]),
                    administered_by=tuple(sorted({c for r in parts for c in r.administered_by})),
                    claimed_by=tuple(sorted({c for r in parts for c in r.claimed_by})),
                    source="union of regions " + ", ".join(part_keys),
                    parts=tuple(part_keys),
                    borders=borders,
                )
            )
        return cls(regions)

    def keys(self) -> list[str]:
        """All region keys, sorted."""
        return sorted(self._regions)

    def __iter__(self) -> Iterator[Region]:
        return iter(self._regions[k] for k in self.keys())

    def __len__(self) -> int:
        return len(self._regions)

    def __contains__(self, key: object) -> bool:
        return key in self._regions

    def get(self, key: str) -> Region:
        """The region called ``key``; InputError naming close keys if there is none."""
        try:
            return self._regions[key]
        except KeyError:
            pass
        norm = str(key).strip().lower().replace("-", "_").replace(" ", "_")
        if norm in self._regions:
            return self._regions[norm]
        close = difflib.get_close_matches(norm, list(self._regions), n=5, cutoff=0.6)
        close += [k for k in self._regions if norm and norm in k and k not in close][:5]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown region {key!r}{hint} ({len(self)} regions, see Regions.keys())")

    def contains(
        self,
        key: str,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        *,
        territorial_sea_km: float = TERRITORIAL_SEA_KM,
    ) -> NDArray[np.bool_]:
        """True where the point is inside (or on the edge of) region ``key`` or its territorial
        sea (see :meth:`Region.contains`)."""
        return self.get(key).contains(
            latitude_deg, longitude_deg, territorial_sea_km=territorial_sea_km
        )

    def regions_of(self, latitude_deg: float, longitude_deg: float) -> list[str]:
        """Keys of every region containing one point (groups and their parts both appear)."""
        return [r.key for r in self if bool(r.contains(latitude_deg, longitude_deg))]
