"""Country borders: which country a point is in, and how far it is from that country's border.

Countries are Natural Earth admin-0 polygons keyed on ``ADM0_A3`` (not ``ISO_A3``, which is
``-99`` for France, Norway, Kosovo, Northern Cyprus, Somaliland and others).  The default set is
the shipped 1:50m file (241 Natural Earth countries and 9 ISO territories, see
``leosim/data/README.md``).  Its point of view is Natural Earth's *de-facto* one, e.g. Crimea
lies inside RUS; see :mod:`leosim.regions` for named disputed areas.

Codes: wherever a country is named, ISO 3166-1 alpha-2 and alpha-3 codes are accepted in any
case and mapped to the borders' code (``'tw'`` -> TWN, ``XKX`` -> KOS, ``SSD`` -> SDS, ``GF`` ->
GUF); :meth:`Borders.validate_code` is that mapping and :meth:`Borders.iso_codes` the reverse
(see :mod:`leosim.countries`).

Territories: Natural Earth 1:50m folds some ISO 3166-1 territories into their sovereign's
multipolygon.  The shipped file splits them out, from data: a part of a multipolygon whose
populated places carry another ISO code (Cayenne is ``GF``) is that territory.  So French Guiana
(GUF), Guadeloupe (GLP), Martinique (MTQ), Mayotte (MYT), Réunion (REU) and Svalbard (SJM) are
their own codes, as in ISO 3166-1, and **FRA means metropolitan France (with Corsica), NOR
mainland Norway (with Jan Mayen)**: a policy that means the overseas parts too must list them
(``FRA``, ``GUF``, ``GLP``, ...).  Gibraltar (GIB) and part of the US Minor Outlying Islands (UMI:
Navassa, Wake) come from Natural Earth's 1:10m disputed areas, Tuvalu (TUV), which 1:50m does not
draw, is a stand-in disc around Funafuti.  An ISO code that still has no polygon (Bouvet Island
BVT, Bonaire BES, Christmas Island CXR...) raises :class:`~leosim.errors.InputError` saying so.

Territorial sea: a point at sea within :data:`TERRITORIAL_SEA_KM` (12 nautical miles, UNCLOS
art. 3) of a coast belongs to the coastal state for :meth:`Borders.country_of` (activation) and
for the named regions of :mod:`leosim.regions`; the nearest coast decides, which is the
equidistance (median) line between facing coasts.  :meth:`Borders.contains` is the land polygon
alone unless asked (terminals are sampled on land).

Units: latitudes and longitudes in degrees (WGS84, longitudes wrapped to [-180, 180)),
distances in km.  Every function takes arrays (or scalars) and broadcasts them.

>>> from leosim.borders import Borders
>>> b = Borders.default()
>>> b.country_of([25.03, 48.86, 0.0], [121.57, 2.35, -30.0]).tolist()
['TWN', 'FRA', '']
>>> b.name_of("KOS"), b.validate_code("xk"), b.iso_codes("KOS")
('Kosovo', 'KOS', ('XK', 'XKX'))
>>> b.country_of(44.6167, 33.5254).item()  # Sevastopol, 260 m off the 1:50m coastline
'RUS'
>>> bool(b.within_border_buffer(31.63, 74.87, "IND", buffer_km=50.0))  # Amritsar
True

Distances (:meth:`Borders.distance_to_border_km`) are computed on a sphere of radius
:data:`EARTH_MEAN_RADIUS_KM` to the vertices of the border densified to at most
:data:`BORDER_VERTEX_SPACING_KM`; see that method for the error bound.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import json
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree
from shapely.geometry import shape

from .countries import CodeTable, build_code_table, unplaced_message
from .errors import InputError

__all__ = [
    "BORDER_VERTEX_SPACING_KM",
    "COAST_VERTEX_SPACING_KM",
    "DEFAULT_COUNTRIES_FILE",
    "EARTH_MEAN_RADIUS_KM",
    "TERRITORIAL_SEA_KM",
    "Borders",
]

EARTH_MEAN_RADIUS_KM = 6371.0088
"""IUGG mean Earth radius R1, km: the sphere the border distances are measured on."""

BORDER_VERTEX_SPACING_KM = 0.5
"""Borders are densified so that consecutive vertices are at most this far apart, km."""

TERRITORIAL_SEA_KM = 22.224
"""Breadth of the territorial sea, km: 12 nautical miles of 1.852 km (UNCLOS art. 3)."""

COAST_VERTEX_SPACING_KM = 1.0
"""Coastlines are densified to vertices at most this far apart for the territorial-sea search,
km: the distance to the nearest vertex over-estimates the distance to the coast by at most half
of it, so the sea claimed is at most 0.5 km narrower than 12 nm, never wider."""

DEFAULT_COUNTRIES_FILE = "ne_50m_admin_0_countries.geojson.gz"
"""Name of the shipped countries file inside ``leosim/data``."""

_KM_PER_DEG = np.pi / 180.0 * EARTH_MEAN_RADIUS_KM
# Vertices of two countries closer than this are one shared (land) border.  The shipped file is
# snapped to a 1e-4 deg grid so shared vertices coincide; the slack absorbs files that are not.
_SHARED_BORDER_TOL_DEG = 1e-3
_ANTIMERIDIAN_EPS_DEG = 1e-7

BorderKind = Literal["land", "all"]


def data_path(name: str) -> Path:
    """Path of a file shipped in ``leosim/data`` (read-only)."""
    return Path(str(resources.files("leosim").joinpath("data", name)))


def as_lat_lon(
    latitude_deg: ArrayLike, longitude_deg: ArrayLike, *, what: str = "point"
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Broadcast and check latitudes/longitudes (deg); longitudes are wrapped to [-180, 180).

    Raises :class:`InputError` for a latitude outside [-90, 90] or a non-finite value.
    """
    lat, lon = np.broadcast_arrays(
        np.asarray(latitude_deg, dtype=np.float64), np.asarray(longitude_deg, dtype=np.float64)
    )
    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | (np.abs(lat) > 90.0)
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise InputError(
            f"{what} {i}: latitude_deg={lat.ravel()[i]!r}, longitude_deg={lon.ravel()[i]!r}; "
            "expected finite values with latitude in [-90, 90]"
        )
    return lat, (lon + 180.0) % 360.0 - 180.0


def unit_vectors(latitude_deg: NDArray[np.float64], longitude_deg: NDArray[np.float64]):
    """Unit vectors (..., 3) on the sphere for latitudes/longitudes in degrees."""
    lat = np.radians(latitude_deg)
    lon = np.radians(longitude_deg)
    cos_lat = np.cos(lat)
    return np.stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)], axis=-1)


def _densify_segments(x0, y0, x1, y1, spacing_km: float, *, return_segment: bool = False):
    """Points (n, 2) of lon/lat along straight lon/lat segments, at most spacing_km apart.

    With ``return_segment``, also the index of the segment each point comes from.

    Natural Earth edges are straight in lon/lat, so the densified points lie on the border as
    drawn.  The segment length is over-estimated with the larger |cos(lat)| of its ends, which
    can only make the spacing finer.
    """
    cos_lat = np.maximum(np.cos(np.radians(y0)), np.cos(np.radians(y1)))
    length_km = np.hypot((x1 - x0) * cos_lat, y1 - y0) * _KM_PER_DEG
    n = np.maximum(1, np.ceil(length_km / spacing_km).astype(np.int64))
    seg = np.repeat(np.arange(len(n)), n)
    # position j/n of each point along its segment, j = 0..n-1 (segment ends are added below)
    t = (np.arange(len(seg)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    pts = np.empty((len(seg) + len(x1), 2))
    pts[: len(seg), 0] = x0[seg] + t * (x1 - x0)[seg]
    pts[: len(seg), 1] = y0[seg] + t * (y1 - y0)[seg]
    pts[len(seg) :, 0] = x1
    pts[len(seg) :, 1] = y1
    if return_segment:
        return pts, np.concatenate([seg, np.arange(len(x1))])
    return pts


_COAST_GRID_DEG = 0.25
_COAST_GRID_MAX_KM = 200.0


def _grid_rows(lat: NDArray[np.float64], n_rows: int) -> NDArray[np.int64]:
    return np.clip(((lat + 90.0) / _COAST_GRID_DEG).astype(np.int64), 0, n_rows - 1)


def _grid_cols(lon: NDArray[np.float64], n_cols: int) -> NDArray[np.int64]:
    return ((lon + 180.0) / _COAST_GRID_DEG).astype(np.int64) % n_cols


def _coast_grid(coast_deg: NDArray[np.float64], max_km: float) -> NDArray[np.bool_]:
    """Cells (lat rows x lon columns of _COAST_GRID_DEG) that may hold a point within max_km
    of a coast vertex: the vertices' cells, dilated by max_km in latitude and, row by row, by
    max_km / cos(latitude) in longitude (whole rows near the poles)."""
    n_rows, n_cols = round(180 / _COAST_GRID_DEG), round(360 / _COAST_GRID_DEG)
    grid = np.zeros((n_rows, n_cols), dtype=bool)
    grid[_grid_rows(coast_deg[:, 1], n_rows), _grid_cols(coast_deg[:, 0], n_cols)] = True
    d_deg = max_km / _KM_PER_DEG * 1.01
    dr = int(np.ceil(d_deg / _COAST_GRID_DEG))
    rows = grid.copy()
    for k in range(1, dr + 1):
        rows[k:] |= grid[:-k]
        rows[:-k] |= grid[k:]
    # A point's row is within dr rows of its vertex's: take the row's farthest latitude from
    # the equator, widened by dr rows, for the longitude reach.
    edge = np.abs(-90.0 + _COAST_GRID_DEG * np.arange(n_rows + 1))
    lat_far = np.minimum(np.maximum(edge[:-1], edge[1:]) + dr * _COAST_GRID_DEG, 90.0)
    cos_far = np.cos(np.radians(lat_far))
    with np.errstate(divide="ignore"):
        dc = np.where(cos_far > 1e-3, np.ceil(d_deg / cos_far / _COAST_GRID_DEG), n_cols)
    dc = np.minimum(dc, n_cols).astype(np.int64)
    out = np.zeros_like(rows)
    for k in np.unique(dc):
        r = np.flatnonzero(dc == k)
        if k >= n_cols // 2:
            out[r] = rows[r].any(axis=1, keepdims=True)
            continue
        pad = np.concatenate([rows[r][:, n_cols - k :], rows[r], rows[r][:, :k]], axis=1)
        cs = np.concatenate([np.zeros((len(r), 1), np.int64), np.cumsum(pad, axis=1)], axis=1)
        out[r] = (cs[:, 2 * k + 1 :] - cs[:, : -2 * k - 1]) > 0
    return out


def _artificial_edges(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.bool_]:
    """True for edges a-b (lon/lat) along the +-180 deg cut or the South Pole: no border."""
    on_cut = (np.abs(a[:, 0]) >= 180.0 - _ANTIMERIDIAN_EPS_DEG) & (
        np.abs(b[:, 0]) >= 180.0 - _ANTIMERIDIAN_EPS_DEG
    )
    on_pole = (a[:, 1] <= -90.0 + _ANTIMERIDIAN_EPS_DEG) & (
        b[:, 1] <= -90.0 + _ANTIMERIDIAN_EPS_DEG
    )
    return on_cut | on_pole


class Borders:
    """A set of country polygons keyed on ADM0_A3 codes.

    Build with :meth:`default` (the shipped Natural Earth 1:50m countries) or
    :meth:`from_geojson` (any GeoJSON FeatureCollection of (Multi)Polygons with an ``ADM0_A3``
    property, optionally ``NAME``, ``POP_EST``, ``CONTINENT``, ``ISO_A2``, ``ISO_A3``).

    Codes are ``ADM0_A3``; ISO 3166-1 alpha-2/alpha-3 codes are accepted everywhere through
    :meth:`validate_code`.  In the default borders the ISO territories that Natural Earth 1:50m
    draws inside their sovereign are split out (GUF, GLP, MTQ, MYT, REU out of FRA; SJM out of
    NOR): FRA is then metropolitan France only, as in ISO 3166-1, and a policy about all of
    France must list the overseas codes too.  See the module docstring.
    """

    def __init__(
        self,
        codes: Iterable[str],
        geometries: Iterable[shapely.Geometry],
        names: Iterable[str] | None = None,
        population: Iterable[float] | None = None,
        continents: Iterable[str] | None = None,
        *,
        iso_a3: Iterable[str] | None = None,
        iso_a2: Iterable[str] | None = None,
        source: str = "<memory>",
    ) -> None:
        self._source = source
        codes = [str(c) for c in codes]
        n = len(codes)
        columns = {
            "geometries": list(geometries),
            "names": [str(x) for x in names] if names is not None else list(codes),
            "population": [float(x) for x in population]
            if population is not None
            else [np.nan] * n,
            "continents": [str(x) for x in continents] if continents is not None else [""] * n,
            "iso_a3": [str(x) for x in iso_a3] if iso_a3 is not None else [""] * n,
            "iso_a2": [str(x) for x in iso_a2] if iso_a2 is not None else [""] * n,
        }
        for what, values in columns.items():
            if len(values) != n:
                raise InputError(f"{n} codes but {len(values)} {what}", source=source)
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise InputError(f"duplicate ADM0_A3 code(s) {', '.join(dup)}", source=source)
        order = np.argsort(codes, kind="stable")
        self._codes = np.array(codes, dtype=object)[order]
        self._geoms = np.empty(n, dtype=object)
        self._geoms[:] = [columns["geometries"][i] for i in order]
        self._index = {c: i for i, c in enumerate(self._codes)}

        def by_code(values: list) -> dict:
            return {c: values[i] for c, i in zip(self._codes, order, strict=True)}

        self._names: dict[str, str] = by_code(columns["names"])
        self._population: dict[str, float] = by_code(columns["population"])
        self._continents: dict[str, str] = by_code(columns["continents"])
        # ISO 3166-1 alpha-2/alpha-3 -> ADM0_A3 (accepted as input), and common non-ISO
        # aliases (only used to suggest the right code in error messages).
        self._iso: CodeTable = build_code_table(codes, columns["iso_a2"], columns["iso_a3"])
        self._aliases = {"GER": "DEU"}

        # Index individual polygons, not whole MultiPolygons: tighter boxes (France's box would
        # otherwise span from Guiana to Réunion) mean fewer exact point-in-polygon tests.
        parts, owner = shapely.get_parts(self._geoms, return_index=True)
        self._parts = parts
        self._part_owner = owner
        shapely.prepare(parts)
        self._tree = shapely.STRtree(parts)
        self._border_cache: dict[tuple[str, str], cKDTree | None] = {}
        self._coast: tuple[cKDTree, NDArray[np.float64], NDArray[np.int64]] | None = None
        self._coast_grids: dict[float, NDArray[np.bool_]] = {}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_geojson(cls, path: str | Path) -> Borders:
        """Load countries from a GeoJSON file (``.gz`` is decompressed) keyed on ``ADM0_A3``."""
        path = Path(path)
        try:
            opener = gzip.open if path.suffix == ".gz" else open
            with opener(path, "rt", encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read GeoJSON: {exc}", source=path) from None
        codes, geoms, names, pops, conts, isos, iso2s = [], [], [], [], [], [], []
        for i, feat in enumerate(doc.get("features", [])):
            props = feat.get("properties") or {}
            code = props.get("ADM0_A3")
            if not code:
                raise InputError(
                    "feature has no ADM0_A3 property", source=path, key=f"features[{i}]"
                )
            try:
                geom = shape(feat["geometry"])
            except Exception as exc:  # shapely raises several types for bad geometry
                raise InputError(
                    f"bad geometry: {exc}", source=path, key=f"features[{i}]"
                ) from None
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise InputError(
                    f"{code}: expected a Polygon or MultiPolygon, got {geom.geom_type}",
                    source=path,
                    key=f"features[{i}]",
                )
            codes.append(code)
            geoms.append(geom)
            names.append(props.get("NAME") or code)
            pop = props.get("POP_EST")
            pops.append(np.nan if pop is None else float(pop))
            conts.append(props.get("CONTINENT") or "")
            isos.append(props.get("ISO_A3") or "")
            iso2s.append(props.get("ISO_A2") or "")
        if not codes:
            raise InputError("no features", source=path)
        return cls(codes, geoms, names, pops, conts, iso_a3=isos, iso_a2=iso2s, source=str(path))

    @staticmethod
    @functools.cache
    def default() -> Borders:
        """The shipped Natural Earth 1:50m countries (cached; treat it as read-only)."""
        return Borders.from_geojson(data_path(DEFAULT_COUNTRIES_FILE))

    # ------------------------------------------------------------------ lookups
    @property
    def codes(self) -> tuple[str, ...]:
        """All ADM0_A3 codes, sorted."""
        return tuple(self._codes)

    @property
    def names(self) -> dict[str, str]:
        """ADM0_A3 code -> Natural Earth short name (``NAME``), e.g. ``'CYN' -> 'N. Cyprus'``."""
        return dict(self._names)

    def __contains__(self, code: object) -> bool:
        return code in self._index

    def __len__(self) -> int:
        return len(self._codes)

    def validate_code(
        self,
        code: str,
        *,
        source: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> str:
        """The ADM0_A3 code of a country named by ADM0_A3, ISO 3166-1 alpha-3 or alpha-2 code.

        Any case; surrounding blanks are ignored: ``'tw'``, ``'TWN'`` -> ``'TWN'``; ``'XK'``,
        ``'XKX'``, ``'KOS'`` -> ``'KOS'``; ``'GF'``, ``'GUF'`` -> ``'GUF'``.  Raises InputError
        for an ISO code with no polygon of its own (saying so, e.g. Bouvet Island ``BV``) and for
        an unknown code, suggesting close codes and country names, e.g. ``unknown country code
        'FRN'; did you mean FRA (France), ...``.  ``source``/``line``/``key`` locate the input.
        """
        norm = str(code).strip().upper()
        if norm in self._index:
            return norm
        if norm in self._iso.adm0:
            return self._iso.adm0[norm]
        if norm in self._iso.unplaced:
            raise InputError(
                unplaced_message(*self._iso.unplaced[norm], self._iso, Path(self._source).name),
                source=source,
                line=line,
                key=key,
            )
        by_name = {n.lower(): c for c, n in self._names.items()}
        hints = [self._aliases[norm]] if self._aliases.get(norm) else []
        if str(code).strip().lower() in by_name:
            c = by_name[str(code).strip().lower()]
            hints.append(c)
        hints += self._close_codes(norm)
        hints += [
            by_name[n]
            for n in difflib.get_close_matches(
                str(code).strip().lower(), list(by_name), n=3, cutoff=0.7
            )
        ]
        hints = list(dict.fromkeys(hints))[:5]
        hint = (
            "; did you mean " + ", ".join(f"{c} ({self._names[c]})" for c in hints) + "?"
            if hints
            else ""
        )
        raise InputError(
            f"unknown country code {code!r}{hint} (codes are ISO 3166-1 alpha-2 or alpha-3, or "
            "Natural Earth ADM0_A3, e.g. FR, FRA, KOS, TWN)",
            source=source,
            line=line,
            key=key,
        )

    def _close_codes(self, code: str, n: int = 4) -> list[str]:
        # difflib alone ranks FRN's neighbours IRN, FRO, FRA, FIN equally; prefer a shared prefix.
        def prefix(c: str) -> int:
            return next(
                (i for i, (x, y) in enumerate(zip(c, code, strict=False)) if x != y),
                min(len(c), len(code)),
            )

        scored = [
            (difflib.SequenceMatcher(None, code, c).ratio(), prefix(c), c) for c in self._codes
        ]
        scored = [t for t in scored if t[0] >= 0.6]
        scored.sort(key=lambda t: (-t[0], -t[1], t[2]))
        return [c for _, _, c in scored[:n]]

    def iso_codes(self, code: str) -> tuple[str, str]:
        """ISO 3166-1 ``(alpha_2, alpha_3)`` of a country, e.g. ``('XK', 'XKX')`` for KOS and
        ``('SS', 'SSD')`` for SDS; ``('', '')`` for a polygon with no ISO code (CYN, SOL, KAS)."""
        return self._iso.iso[self.validate_code(code)]

    def name_of(self, code: str) -> str:
        """Natural Earth short name of a country, e.g. ``name_of('TWN') == 'Taiwan'``."""
        return self._names[self.validate_code(code)]

    def population_of(self, code: str) -> float:
        """Natural Earth ``POP_EST`` (mostly 2017 estimates) of a country; NaN if unknown."""
        return float(self._population[self.validate_code(code)])

    def continent_of(self, code: str) -> str:
        """Natural Earth ``CONTINENT`` of a country ('' if the file has none)."""
        return str(self._continents[self.validate_code(code)])

    def geometry(self, code: str) -> shapely.Geometry:
        """The (Multi)Polygon of a country, in lon/lat degrees (shapely's x = longitude)."""
        return self._geoms[self._index[self.validate_code(code)]]

    # ------------------------------------------------------------------ point in polygon
    def country_of(
        self,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        *,
        territorial_sea_km: float = TERRITORIAL_SEA_KM,
    ) -> NDArray[np.str_]:
        """ADM0_A3 code of the country each point is in, or whose territorial sea it is in.

        A point inside a polygon gets its code; a point at sea gets the code of the nearest coast
        if that is within ``territorial_sea_km`` (default 12 nm; 0 for land only), else ``""``
        (the high seas).  See :meth:`nearest_coast` for the method and accuracy.

        Returns a ``'<U3'`` array of the broadcast shape of the inputs (0-d for scalars; use
        ``.item()``).  A point exactly on a shared border gets the code that sorts first.
        Vectorised with shapely's STRtree and a KD-tree of coast vertices: ~1-2 us per point
        (see benchmarks/bench_borders.py).
        """
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        out = np.full(lat.size, "", dtype="<U3")
        if lat.size == 0:
            return out.reshape(lat.shape)
        x, y = lon.ravel(), lat.ravel()
        # Bounding-box candidates from the tree, then an exact test against the *prepared*
        # polygons: ~10x faster than query(predicate=...), which prepares the points instead.
        i_point, i_part = self._tree.query(shapely.points(x, y))
        hit = shapely.intersects_xy(self._parts[i_part], x[i_point], y[i_point])
        i_point, i_part = i_point[hit], i_part[hit]
        owner = self._part_owner[i_part]
        # Query results come sorted by point; for a point on a border keep its lowest owner.
        order = np.lexsort((owner, i_point))
        i_point, owner = i_point[order], owner[order]
        first = np.ones(len(i_point), dtype=bool)
        first[1:] = i_point[1:] != i_point[:-1]
        out[i_point[first]] = self._codes[owner[first]].astype("<U3")
        if territorial_sea_km > 0:
            sea = np.flatnonzero(out == "")
            if len(sea):
                out[sea] = self.nearest_coast(y[sea], x[sea], max_km=territorial_sea_km)[0]
        return out.reshape(lat.shape)

    def nearest_coast(
        self, latitude_deg: ArrayLike, longitude_deg: ArrayLike, *, max_km: float
    ) -> tuple[NDArray[np.str_], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """The nearest coast vertex within ``max_km`` of each point, and its country.

        Returns ``(code, latitude_deg, longitude_deg, distance_km)`` arrays of the points' shape;
        ``""``, NaN, NaN, ``inf`` where no coast is within ``max_km``.  "Coast" is every edge of
        every polygon except the artificial antimeridian and South Pole edges (a land border
        reaching the sea ends on the coast, so its vertices may be the nearest too).

        Method and error bound: edges are densified (straight lon/lat) to vertices at most
        :data:`COAST_VERTEX_SPACING_KM` (1 km) apart and searched with a KD-tree on unit vectors
        (chord -> arc on the :data:`EARTH_MEAN_RADIUS_KM` sphere), built on first use (~1 s,
        1.2 M vertices for the shipped file).  The nearest vertex is at most 0.5 km farther
        than the coast itself, so a point up to 0.5 km inside the limit may be missed, never one
        beyond it; the sphere adds at most ~0.5 % (0.1 km at 12 nm).
        """
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        tree, coast_deg, owner = self._coast_tree()
        code = np.full(lat.size, "", dtype="<U3")
        c_lat, c_lon = np.full(lat.size, np.nan), np.full(lat.size, np.nan)
        km = np.full(lat.size, np.inf)
        # Only points in grid cells near a coast go to the KD-tree (most of the ocean is not).
        near = np.flatnonzero(self._near_coast(lat.ravel(), lon.ravel(), max_km))
        bound = 2.0 * np.sin(min(max(max_km, 0.0) / EARTH_MEAN_RADIUS_KM, np.pi) / 2.0)
        chord, i = tree.query(
            unit_vectors(lat.ravel()[near], lon.ravel()[near]),
            k=1,
            distance_upper_bound=bound * (1 + 1e-9),
        )
        hit = np.isfinite(chord)
        found, j = near[hit], i[hit]
        code[found] = self._codes[owner[j]].astype("<U3")
        c_lon[found], c_lat[found] = coast_deg[j, 0], coast_deg[j, 1]
        km[found] = 2.0 * np.arcsin(np.clip(chord[hit] / 2.0, 0.0, 1.0)) * EARTH_MEAN_RADIUS_KM
        shape_ = lat.shape
        return (
            code.reshape(shape_),
            c_lat.reshape(shape_),
            c_lon.reshape(shape_),
            km.reshape(shape_),
        )

    def contains(
        self,
        code: str,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        *,
        territorial_sea_km: float = 0.0,
    ) -> NDArray[np.bool_]:
        """True where the point is inside (or on the border of) country ``code``.

        Land only by default (sampling terminals, demand cells); with ``territorial_sea_km`` (e.g.
        :data:`TERRITORIAL_SEA_KM`) also where :meth:`country_of` gives ``code`` at sea.
        """
        code = self.validate_code(code)
        geom = self.geometry(code)
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        shapely.prepare(geom)
        inside = np.asarray(shapely.intersects_xy(geom, lon, lat))
        if territorial_sea_km > 0 and not inside.all():
            flat, out = inside.ravel(), ~inside.ravel()
            flat[out] = (
                self.country_of(
                    lat.ravel()[out], lon.ravel()[out], territorial_sea_km=territorial_sea_km
                )
                == code
            )
            inside = flat.reshape(inside.shape)
        return inside

    # ------------------------------------------------------------------ distance to border
    def distance_to_border_km(
        self,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        code: str,
        *,
        border: BorderKind = "land",
        max_km: float | None = None,
    ) -> NDArray[np.float64]:
        """Great-circle distance (km) from each point to the border of country ``code``.

        With ``max_km``, distances beyond it are returned as ``inf``; the search is then bounded
        and much faster for points far from the border (as :meth:`within_border_buffer` uses).

        ``border="land"`` (default) measures to the land borders only: the parts of the
        country's outline shared with another country's polygon, which is what "within 50 km of
        India's border" means.  ``border="all"`` also counts the coastline.  A country without
        any land border (Japan, Taiwan, Australia...) gives ``inf`` for ``"land"``.  The
        artificial edges of the shipped polygons along the antimeridian and the South Pole are
        never counted as border.

        The distance is unsigned and defined for every point: combine it with
        :meth:`contains` (as :meth:`within_border_buffer` does) for "inside, near the border".

        Method and error bound: the border is densified (straight lon/lat edges, as Natural
        Earth draws them) to vertices at most ``s =`` :data:`BORDER_VERTEX_SPACING_KM` (0.5 km)
        apart; the distance to the nearest vertex is found with a KD-tree on unit vectors
        (chord -> arc on a sphere of radius :data:`EARTH_MEAN_RADIUS_KM`).  The nearest vertex
        over-estimates the distance to the polyline by at most ``s/2`` = 0.25 km, and the sphere
        differs from WGS84 geodesics by at most ~0.5 % of the distance (0.25 km at 50 km).  So
        for distances up to 100 km the result is within ~0.75 km of the geodesic distance to the
        border *as drawn at 1:50m*; the 1:50m generalisation itself moves borders by up to a few km.
        """
        code = self.validate_code(code)
        if border not in ("land", "all"):
            raise InputError(f"border must be 'land' or 'all', got {border!r}")
        lat, lon = as_lat_lon(latitude_deg, longitude_deg)
        tree = self._border_tree(code, border)
        if tree is None:
            return np.full(lat.shape, np.inf)
        if max_km is None:
            chord, _ = tree.query(unit_vectors(lat.ravel(), lon.ravel()), k=1)
        else:
            # A chord is shorter than its arc, so bounding the chord by the arc loses nothing.
            bound = 2.0 * np.sin(min(max(max_km, 0.0) / EARTH_MEAN_RADIUS_KM, np.pi) / 2.0)
            chord, _ = tree.query(
                unit_vectors(lat.ravel(), lon.ravel()), k=1, distance_upper_bound=bound * (1 + 1e-9)
            )
        with np.errstate(invalid="ignore"):
            arc = 2.0 * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))
        arc[np.isinf(chord)] = np.inf  # beyond max_km
        return (arc * EARTH_MEAN_RADIUS_KM).reshape(lat.shape)

    def within_border_buffer(
        self,
        latitude_deg: ArrayLike,
        longitude_deg: ArrayLike,
        code: str,
        buffer_km: float,
        *,
        border: BorderKind = "land",
    ) -> NDArray[np.bool_]:
        """True where the point is inside country ``code`` and within ``buffer_km`` of its border.

        E.g. ``within_border_buffer(lat, lon, "IND", 50.0)`` is the 50 km strip inside India's
        land borders.  See :meth:`distance_to_border_km` for ``border`` and the accuracy.
        """
        if not np.isfinite(buffer_km) or buffer_km < 0:
            raise InputError(f"buffer_km must be a finite number >= 0, got {buffer_km!r}")
        inside = self.contains(code, latitude_deg, longitude_deg)
        dist = np.full(inside.shape, np.inf)
        if inside.any():
            lat, lon = as_lat_lon(latitude_deg, longitude_deg)
            dist[inside] = self.distance_to_border_km(
                lat[inside], lon[inside], code, border=border, max_km=buffer_km
            )
        return inside & (dist <= buffer_km)

    def border_vertices_deg(self, code: str, *, border: BorderKind = "land") -> NDArray[np.float64]:
        """The densified border vertices (n, 2) as (longitude_deg, latitude_deg); for plots/tests."""
        code = self.validate_code(code)
        return self._border_vertices(code, border)

    def _near_coast(
        self, lat: NDArray[np.float64], lon: NDArray[np.float64], max_km: float
    ) -> NDArray[np.bool_]:
        """A cheap superset of the points within ``max_km`` of a coast vertex: those in cells of
        a :data:`_COAST_GRID_DEG` grid marked near one (all points if ``max_km`` is large)."""
        if max_km > _COAST_GRID_MAX_KM:
            return np.ones(len(lat), dtype=bool)
        if max_km not in self._coast_grids:
            self._coast_grids[max_km] = _coast_grid(self._coast_tree()[1], max_km)
        grid = self._coast_grids[max_km]
        return grid[_grid_rows(lat, grid.shape[0]), _grid_cols(lon, grid.shape[1])]

    def _coast_tree(self) -> tuple[cKDTree, NDArray[np.float64], NDArray[np.int64]]:
        """KD-tree of all densified polygon edges (see :meth:`nearest_coast`), their lon/lat
        and owning country index; built once."""
        if self._coast is None:
            rings, part = shapely.get_rings(self._parts, return_index=True)
            coords, ring = shapely.get_coordinates(rings, return_index=True)
            same_ring = ring[1:] == ring[:-1]
            a, b = coords[:-1][same_ring], coords[1:][same_ring]
            owner = self._part_owner[part[ring[:-1][same_ring]]]
            keep = ~_artificial_edges(a, b)
            a, b, owner = a[keep], b[keep], owner[keep]
            pts, seg = _densify_segments(
                a[:, 0], a[:, 1], b[:, 0], b[:, 1], COAST_VERTEX_SPACING_KM, return_segment=True
            )
            tree = cKDTree(unit_vectors(pts[:, 1], pts[:, 0]), leafsize=64)
            self._coast = (tree, pts, owner[seg])
        return self._coast

    def _border_tree(self, code: str, border: BorderKind) -> cKDTree | None:
        key = (code, border)
        if key not in self._border_cache:
            pts = self._border_vertices(code, border)
            self._border_cache[key] = (
                # Large leaves: the border is a 1-D curve and queries from afar visit fewer nodes.
                cKDTree(unit_vectors(pts[:, 1], pts[:, 0]), leafsize=128) if len(pts) else None
            )
        return self._border_cache[key]

    def _border_vertices(self, code: str, border: BorderKind) -> NDArray[np.float64]:
        geom = self._geoms[self._index[code]]
        rings = shapely.get_rings(shapely.get_parts(geom))
        coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        # A segment joins consecutive vertices of the same ring.
        same_ring = ring_index[1:] == ring_index[:-1]
        a, b = coords[:-1][same_ring], coords[1:][same_ring]
        keep = ~_artificial_edges(a, b)
        if border == "land":
            # A vertex is on a land border if another country's polygon touches it; a segment is
            # land border if both of its ends are.
            vertex_pts = shapely.points(coords)
            i_v, i_part = self._tree.query(
                vertex_pts, predicate="dwithin", distance=_SHARED_BORDER_TOL_DEG
            )
            other = self._part_owner[i_part] != self._index[code]
            shared = np.zeros(len(coords), dtype=bool)
            shared[i_v[other]] = True
            keep &= shared[:-1][same_ring] & shared[1:][same_ring]
        a, b = a[keep], b[keep]
        if len(a) == 0:
            return np.empty((0, 2))
        pts = _densify_segments(a[:, 0], a[:, 1], b[:, 0], b[:, 1], BORDER_VERTEX_SPACING_KM)
        return np.unique(pts, axis=0)
