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
polygon and Gibraltar is sea (``""``); the regions ``ceuta``, ``melilla`` and ``gibraltar``
cover them.  The 1:10m regions' edges differ from the 1:50m country borders by up to a km or two, so a point
within that distance of a region's edge may be in the region but ``country_of`` a neighbour.
Natural Earth's notes predate the events of 2020-2023 (Nagorno-Karabakh's 2023 reintegration
into Azerbaijan, the Russian occupation lines in Ukraine after 2022): treat ``administered_by``
as Natural Earth's statement, not current fact.

Units: degrees in, booleans out.

>>> from leosim.regions import Regions
>>> r = Regions.default()
>>> bool(r.contains("crimea", 44.95, 34.10))  # Simferopol
True
>>> r.get("crimea").administered_by, r.get("crimea").claimed_by
(('RUS',), ('UKR',))
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
from shapely.geometry import shape

from .borders import Borders, as_lat_lon, data_path
from .errors import InputError

__all__ = ["DEFAULT_REGIONS_FILE", "POINT_OF_VIEW", "Region", "Regions"]

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

    def contains(self, latitude_deg: ArrayLike, longitude_deg: ArrayLike) -> NDArray[np.bool_]:
        """True where the point is inside (or on the edge of) the region."""
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        return shapely.intersects_xy(self.geometry, lon, lat)


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
        regions = []
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
                )
            )
        if borders is not None:
            for key, name, code, admin, claim, note in _FROM_COUNTRIES:
                if code in borders:
                    regions.append(
                        Region(key, name, borders.geometry(code), admin, claim,
                               source=f"{_NE_50M} polygon ADM0_A3={code}", note=note,
                               self_administered=code in admin)
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
        self, key: str, latitude_deg: ArrayLike, longitude_deg: ArrayLike
    ) -> NDArray[np.bool_]:
        """True where the point is inside (or on the edge of) region ``key``."""
        return self.get(key).contains(latitude_deg, longitude_deg)

    def regions_of(self, latitude_deg: float, longitude_deg: float) -> list[str]:
        """Keys of every region containing one point (groups and their parts both appear)."""
        return [r.key for r in self if bool(r.contains(latitude_deg, longitude_deg))]
