"""Tests of leosim.borders against independent truths: known cities, brute-force shapely
point-in-polygon, spherical formulas for straight borders, and pyproj geodesics to a land border
computed independently (shapely overlay) from the raw Natural Earth file when available."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from leosim.borders import EARTH_MEAN_RADIUS_KM, Borders
from leosim.errors import InputError

SHARED = Path(__file__).resolve().parents[2] / "shared"
NE_50M = SHARED / "data" / "natural-earth" / "ne_50m_admin_0_countries.json.gz"
KM_PER_DEG = np.pi / 180 * EARTH_MEAN_RADIUS_KM


@pytest.fixture(scope="module")
def borders() -> Borders:
    return Borders.default()


CITIES = [
    ("Taipei", 25.033, 121.565, "TWN"),
    ("Kyiv", 50.450, 30.523, "UKR"),
    ("Paris", 48.857, 2.352, "FRA"),  # ISO_A3 is -99 for France
    ("Oslo", 59.914, 10.752, "NOR"),  # ISO_A3 is -99 for Norway
    ("Pristina", 42.663, 21.166, "KOS"),
    ("Delhi", 28.614, 77.209, "IND"),
    ("Simferopol", 44.952, 34.102, "RUS"),  # de-facto borders: Crimea drawn inside Russia
    ("Hargeisa", 9.560, 44.065, "SOL"),
    ("Kyrenia", 35.30, 33.35, "CYN"),
    ("Honolulu", 21.307, -157.858, "USA"),
    ("Bilibino, Chukotka", 68.05, 166.44, "RUS"),
    ("Chukotka west of 180", 67.0, -178.0, "RUS"),
    ("Viti Levu interior", -17.8, 178.0, "FJI"),
    ("Buenos Aires", -34.60, -58.38, "ARG"),
    ("Antarctic plateau", -80.0, 0.0, "ATA"),
    ("mid-Atlantic", 30.0, -40.0, ""),
    ("North Pole", 90.0, 0.0, ""),
]


@pytest.mark.parametrize(("city", "lat", "lon", "code"), CITIES, ids=[c[0] for c in CITIES])
def test_known_cities(borders, city, lat, lon, code):
    assert borders.country_of(lat, lon).item() == code


def test_country_of_vectorised_shape_and_dtype(borders):
    lat = np.array([[25.033, 48.857], [30.0, 59.914]])
    lon = np.array([[121.565, 2.352], [-40.0, 10.752]])
    out = borders.country_of(lat, lon)
    assert out.shape == (2, 2)
    assert out.dtype == np.dtype("<U3")
    assert out.tolist() == [["TWN", "FRA"], ["", "NOR"]]
    assert borders.country_of([], []).shape == (0,)


def test_longitude_wraps(borders):
    assert borders.country_of(48.857, 2.352 + 360.0).item() == "FRA"
    assert borders.country_of(21.307, -157.858 + 360.0).item() == "USA"


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 0.0), (np.nan, 0.0), (0.0, np.inf)])
def test_bad_coordinates_raise(borders, lat, lon):
    with pytest.raises(InputError, match="latitude"):
        borders.country_of(lat, lon)


def test_country_of_matches_brute_force(borders):
    # Brute force: test every point against every country with plain shapely, no tree.
    rng = np.random.default_rng(42)
    n = 3000
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lon = rng.uniform(-180, 180, n)
    expected = np.full(n, "", dtype="<U3")
    for code in borders.codes:
        inside = shapely.contains_xy(borders.geometry(code), lon, lat)
        expected[inside & (expected == "")] = code
    np.testing.assert_array_equal(borders.country_of(lat, lon, territorial_sea_km=0), expected)
    # With the territorial sea, land points keep their code and only sea points may gain one.
    with_sea = borders.country_of(lat, lon)
    np.testing.assert_array_equal(with_sea[expected != ""], expected[expected != ""])
    assert 0.2 < np.mean(expected != "") < 0.35  # ~29 % of the Earth is land (with Antarctica)


def test_country_of_is_fast(borders):
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 10_000)))
    lon = rng.uniform(-180, 180, 10_000)
    borders.country_of(lat[:10], lon[:10])
    t0 = time.perf_counter()
    borders.country_of(lat, lon)
    assert time.perf_counter() - t0 < 1.0


def test_codes_names_and_metadata(borders):
    # Natural Earth's 241, plus ISO territories split out of FRA and NOR (GUF, GLP, MTQ, MYT,
    # REU, SJM), taken from the 1:10m disputed areas (GIB, UMI) and a stand-in (TUV).
    assert len(borders) == 241 + 9
    assert {"GUF", "GLP", "MTQ", "MYT", "REU", "SJM", "GIB", "UMI", "TUV"} <= set(borders.codes)
    assert {"FRA", "NOR", "KOS", "TWN", "CYN", "SOL", "PSX"} <= set(borders.codes)
    assert list(borders.codes) == sorted(borders.codes)
    assert borders.names["TWN"] == "Taiwan"
    assert borders.name_of("kos") == "Kosovo"
    assert 60e6 < borders.population_of("FRA") < 70e6
    assert borders.continent_of("BRA") == "South America"
    assert borders.geometry("TWN").geom_type == "MultiPolygon"


def test_validate_code_suggests_close_matches(borders):
    assert borders.validate_code("fra") == "FRA"
    with pytest.raises(InputError) as exc:
        borders.validate_code("FRN")
    msg = str(exc.value)
    assert "'FRN'" in msg and "FRA (France)" in msg
    with pytest.raises(InputError, match=r"FRA \(France\)"):
        borders.validate_code("France")
    with pytest.raises(InputError, match=r"KOS \(Kosovo\)"):
        borders.validate_code("Kosovo")
    # ISO codes that differ from ADM0_A3 are mapped to it (tests/test_country_codes.py).
    for iso, adm0 in [("PSE", "PSX"), ("ESH", "SAH"), ("SSD", "SDS"), ("XKX", "KOS")]:
        assert borders.validate_code(iso) == adm0
    with pytest.raises(InputError, match=r"did you mean DEU \(Germany\)"):
        borders.validate_code("GER")
    with pytest.raises(InputError) as exc:
        borders.validate_code("QQQ", source="policy.toml", line=3)
    assert str(exc.value).startswith("policy.toml:3: unknown country code 'QQQ'")


# ------------------------------------------------------------------ distances, hand-made truths
def test_distance_to_49th_parallel():
    # The USA-Canada border from the Lake of the Woods to the Rockies is the 49th parallel
    # (drawn at 48.993 deg in Natural Earth 1:50m: 0.8 km south).  A point 0.18 deg of latitude
    # south of it is 20.0 km away along the meridian; 1.8 deg south is 200 km.
    b = Borders.default()
    for dlat_deg, expected_km in [(0.18, 0.18 * KM_PER_DEG), (1.8, 1.8 * KM_PER_DEG)]:
        d = b.distance_to_border_km(49.0 - dlat_deg, -105.0, "USA").item()
        assert abs(d - expected_km) < 1.0, (dlat_deg, d, expected_km)
        d = b.distance_to_border_km(49.0 + dlat_deg, -105.0, "CAN").item()
        assert abs(d - expected_km) < 1.0, (dlat_deg, d, expected_km)
    inside = b.within_border_buffer([48.82, 47.2], [-105.0, -105.0], "USA", 50.0)
    assert inside.tolist() == [True, False]


def _toy_borders(tmp_path: Path) -> Borders:
    # Two 1x1 deg squares sharing the meridian lon = 1; C is a separate island.
    def square(x0, y0):
        return {"type": "Polygon", "coordinates": [[[x0, y0], [x0 + 1, y0], [x0 + 1, y0 + 1],
                                                    [x0, y0 + 1], [x0, y0]]]}  # fmt: skip

    doc = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {"ADM0_A3": "AAA", "NAME": "A", "POP_EST": 10},
             "geometry": square(0, 0)},
            {"type": "Feature", "properties": {"ADM0_A3": "BBB", "NAME": "B"},
             "geometry": square(1, 0)},
            {"type": "Feature", "properties": {"ADM0_A3": "CCC", "NAME": "C"},
             "geometry": square(5, 5)},
        ],
    }  # fmt: skip
    path = tmp_path / "toy.geojson"
    path.write_text(json.dumps(doc))
    return Borders.from_geojson(path)


def test_distance_on_toy_squares_matches_spherical_formula(tmp_path):
    b = _toy_borders(tmp_path)
    assert b.country_of([0.5, 0.5, 5.5, 3.0], [0.5, 1.5, 5.5, 3.0]).tolist() == [
        "AAA", "BBB", "CCC", ""
    ]  # fmt: skip
    lat = np.array([0.5, 0.3, 0.1])
    lon = np.array([0.5, 0.8, 0.5])
    # Distance from (lat, lon) to the meridian lon = 1 on a sphere: asin(cos(lat) sin(dlon)).
    to_meridian_km = np.arcsin(np.cos(np.radians(lat)) * np.sin(np.radians(1 - lon)))
    to_meridian_km *= EARTH_MEAN_RADIUS_KM
    land = b.distance_to_border_km(lat, lon, "AAA")
    np.testing.assert_allclose(land, to_meridian_km, atol=0.26)  # nearest vertex: <= s/2
    # With the coast counted, the third point is nearest the equator edge (0.1 deg away).
    every = b.distance_to_border_km(lat, lon, "AAA", border="all")
    np.testing.assert_allclose(every[2], 0.1 * KM_PER_DEG, atol=0.26)
    assert every[1] == pytest.approx(land[1], abs=0.26)
    # An island has no land border.
    assert np.isinf(b.distance_to_border_km(5.5, 5.5, "CCC")).all()
    assert b.within_border_buffer([0.5, 0.5], [0.9, 1.1], "AAA", 20.0).tolist() == [True, False]


def test_from_geojson_errors(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"NAME": "x"},
         "geometry": {"type": "Point", "coordinates": [0, 0]}}]}))  # fmt: skip
    with pytest.raises(InputError, match=r"bad.geojson: \[features\[0\]\] .*ADM0_A3"):
        Borders.from_geojson(bad)
    with pytest.raises(InputError, match=r"missing\.geojson"):
        Borders.from_geojson(tmp_path / "missing.geojson")


def test_max_km_bounds_the_search(borders):
    lat = np.array([31.634, 28.614, 26.727])  # Amritsar, Delhi, Siliguri
    lon = np.array([74.872, 77.209, 88.395])
    full = borders.distance_to_border_km(lat, lon, "IND")
    bounded = borders.distance_to_border_km(lat, lon, "IND", max_km=100.0)
    near = full <= 100.0
    assert near.tolist() == [True, False, True]
    np.testing.assert_array_equal(bounded[near], full[near])
    assert np.isinf(bounded[~near]).all()


def test_land_and_coast_borders(borders):
    mumbai = (19.07, 72.88)  # on the coast, ~500 km from Pakistan
    assert borders.distance_to_border_km(*mumbai, "IND", border="all").item() < 10.0
    assert borders.distance_to_border_km(*mumbai, "IND").item() > 400.0
    assert np.isinf(borders.distance_to_border_km(35.68, 139.69, "JPN")).all()
    assert np.isinf(borders.distance_to_border_km(25.03, 121.56, "TWN")).all()


def test_antimeridian_cut_is_not_a_border(borders):
    # Russia's polygon is cut at 180 deg; a point 0.1 deg west of the cut in Chukotka is ~4 km
    # from that cut but tens of km from any real coast or border.
    assert borders.country_of(68.0, 179.9).item() == "RUS"
    assert borders.distance_to_border_km(68.0, 179.9, "RUS", border="all").item() > 30.0


def test_buffer_rejects_bad_values(borders):
    with pytest.raises(InputError, match="buffer_km"):
        borders.within_border_buffer(28.6, 77.2, "IND", -1.0)
    with pytest.raises(InputError, match="border"):
        borders.distance_to_border_km(28.6, 77.2, "IND", border="coast")  # type: ignore[arg-type]
    assert not borders.within_border_buffer(31.55, 74.34, "IND", 50.0).item()  # Lahore, PAK


# ------------------------------------------------------------------ distances vs pyproj geodesics
def _raw_countries() -> dict[str, shapely.Geometry]:
    if NE_50M.exists():
        with gzip.open(NE_50M, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        return {f["properties"]["ADM0_A3"]: shape(f["geometry"]) for f in doc["features"]}
    b = Borders.default()
    return {c: b.geometry(c) for c in b.codes}


def test_india_border_distance_matches_pyproj_geodesics(borders):
    pyproj = pytest.importorskip("pyproj")
    countries = _raw_countries()
    india = countries["IND"]
    # Independent land border: India's outline where it meets a neighbour's polygon.
    neighbours = [
        g for c, g in countries.items() if c != "IND" and g.intersects(india.buffer(0.01))
    ]
    land = india.boundary.intersection(shapely.union_all([g.buffer(1e-3) for g in neighbours]))
    verts = shapely.get_coordinates(shapely.segmentize(land, 0.002))  # <= 0.22 km apart
    geod = pyproj.Geod(ellps="WGS84")
    # India's land borders total ~15,100 km on the ground; generalised to 1:50m (Bangladesh's
    # convoluted border shrinks most) and de-facto in Kashmir, about 9,500 km remain.
    assert 8_000 < geod.geometry_length(land) / 1000 < 16_000

    rng = np.random.default_rng(7)
    lon0, lat0, lon1, lat1 = india.bounds
    lat = rng.uniform(lat0, lat1, 4000)
    lon = rng.uniform(lon0, lon1, 4000)
    keep = shapely.contains_xy(india, lon, lat)
    lat, lon = lat[keep][:60], lon[keep][:60]
    truth = np.array([
        geod.inv(np.full(len(verts), x), np.full(len(verts), y), verts[:, 0], verts[:, 1])[2].min()
        for y, x in zip(lat, lon, strict=True)
    ]) / 1000.0  # fmt: skip
    ours = borders.distance_to_border_km(lat, lon, "IND")
    near = truth < 300.0
    assert near.sum() >= 10
    # Error bound: 0.25 km (vertex spacing) + 0.5 % (sphere vs WGS84) + 0.06 km (truth's spacing)
    # + ~0.1 km (1e-4 deg snapping of the shipped polygons).
    np.testing.assert_array_less(np.abs(ours - truth)[near], 0.5 + 0.005 * truth[near])

    buffered = borders.within_border_buffer(lat, lon, "IND", 50.0)
    assert buffered[truth < 45.0].all()
    assert not buffered[truth > 55.0].any()


@pytest.mark.parametrize(
    ("place", "lat", "lon", "in_50km_buffer"),
    [
        ("Amritsar, ~28 km from the Wagah crossing", 31.634, 74.872, True),
        ("Delhi, >250 km from any land border", 28.614, 77.209, False),
        ("Jaipur", 26.912, 75.787, False),
        ("Siliguri, in the Chicken's Neck", 26.727, 88.395, True),
    ],
)
def test_india_50km_buffer_known_places(borders, place, lat, lon, in_50km_buffer):
    assert borders.within_border_buffer(lat, lon, "IND", 50.0).item() is in_50km_buffer


def test_docstring_examples():
    import doctest

    import leosim.borders
    import leosim.ground_segment
    import leosim.regions

    for module in (leosim.borders, leosim.regions, leosim.ground_segment):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


# ------------------------------------------------------------------ territorial sea
def _true_distances_km(lat: float, lon: float, borders: Borders) -> dict[str, float]:
    """Distance (km) from a point to each nearby country's polygon, computed independently:
    shapely's exact point-polygon distance in a pyproj azimuthal equidistant projection centred
    on the point (distances from the centre are true geodesic distances on WGS84)."""
    pyproj = pytest.importorskip("pyproj")
    aeqd = pyproj.Proj(proj="aeqd", lat_0=lat, lon_0=lon, datum="WGS84")
    dlon = 1.5 / np.cos(np.radians(lat))
    box = shapely.box(lon - dlon, lat - 1.0, lon + dlon, lat + 1.0)
    out = {}
    for code in borders.codes:
        g = borders.geometry(code)
        if not g.intersects(box):
            continue
        local = shapely.transform(
            shapely.segmentize(g.intersection(box), 0.01),
            lambda xy: np.column_stack(aeqd(xy[:, 0], xy[:, 1])),
        )
        out[code] = local.distance(shapely.Point(0, 0)) / 1000.0
    return out


def test_sevastopol_is_in_crimea_and_russia_de_facto(borders):
    from leosim.regions import Regions

    regions = Regions.default()
    lat, lon = 44.6167, 33.5254  # Sevastopol's city coordinates, 270 m off the 1:10m coast
    assert bool(regions.contains("crimea", lat, lon))
    assert not bool(regions.contains("crimea", lat, lon, territorial_sea_km=0))
    assert borders.country_of(lat, lon).item() == "RUS"  # de-facto borders (module docstring)
    assert regions.get("crimea").claimed_by == ("UKR",)


# (place, coast point, seaward bearing deg, coastal country): open coasts facing one country.
COASTS = [
    ("off Nazare, Portugal", 39.60, -9.08, 270.0, "PRT"),
    ("off Antofagasta, Chile", -23.65, -70.41, 270.0, "CHL"),
    ("off Perth, Australia", -31.95, 115.75, 270.0, "AUS"),
    ("off Landes, France", 44.0, -1.33, 270.0, "FRA"),
    ("off Cayenne, French Guiana", 4.95, -52.3, 30.0, "GUF"),
]


@pytest.mark.parametrize(
    ("place", "lat", "lon", "bearing", "code"), COASTS, ids=[c[0] for c in COASTS]
)
def test_territorial_sea_10_km_in_30_km_out(borders, place, lat, lon, bearing, code):
    pyproj = pytest.importorskip("pyproj")
    geod = pyproj.Geod(ellps="WGS84")
    for step_km, inside in [(10.0, True), (30.0, False)]:
        # Walk seaward until the true distance to the coast is step_km.
        for along in np.arange(0.0, 80.0, 0.25):
            lon1, lat1, _ = geod.fwd(lon, lat, bearing, (along + step_km) * 1000.0)
            d = _true_distances_km(lat1, lon1, borders)
            if min(d.values()) >= step_km - 0.5:
                break
        nearest = min(d, key=d.get)
        assert nearest == code and d[code] == pytest.approx(step_km, abs=0.6)
        assert borders.country_of(lat1, lon1).item() == (code if inside else ""), (place, d)
        assert borders.country_of(lat1, lon1, territorial_sea_km=0).item() == ""
        assert bool(borders.contains(code, lat1, lon1, territorial_sea_km=22.224)) is inside
        assert not borders.contains(code, lat1, lon1)


def test_territorial_sea_matches_independent_distances(borders):
    # Random sea points near coasts: the country whose polygon is nearest (independent AEQD
    # distance) if within 12 nm, else none.  Points within 0.6 km of the 22.224 km limit, or
    # nearly equidistant from two countries, are skipped (vertex spacing, sphere vs WGS84).
    rng = np.random.default_rng(7)
    n = 4000
    lat = np.degrees(np.arcsin(rng.uniform(-0.9, 0.9, n)))
    lon = rng.uniform(-180, 180, n)
    land = borders.country_of(lat, lon, territorial_sea_km=0)
    near = (land == "") & (borders.country_of(lat, lon, territorial_sea_km=60.0) != "")
    checked = 0
    for la, lo in zip(lat[near][:60], lon[near][:60], strict=True):
        d = _true_distances_km(la, lo, borders)
        ranked = sorted(d.items(), key=lambda kv: kv[1])
        best, dist = ranked[0]
        if abs(dist - 22.224) < 0.6 or (len(ranked) > 1 and ranked[1][1] - dist < 1.0):
            continue
        checked += 1
        assert borders.country_of(la, lo).item() == (best if dist < 22.224 else ""), (la, lo, d)
    assert checked >= 30


def test_policy_zone_buffer_km_widens_polygons_and_regions(borders):
    from leosim.policy import parse_policy

    # A 1 deg square on the equator at sea; 10 km buffer.  Along the equator, a point dlon deg
    # east of the edge x = 1 is dlon * pi/180 * R km away (a meridian is a great circle).
    square = [[0.0, -0.5], [1.0, -0.5], [1.0, 0.5], [0.0, 0.5], [0.0, -0.5]]
    pol = parse_policy(
        {"exclusion_zones": [
            {"name": "sq", "polygon": square, "buffer_km": 10.0},
            {"name": "crimea+50", "region": "crimea", "buffer_km": 50.0},
        ]}
    )  # fmt: skip
    sq, crimea = pol.zones
    dlon = np.array([0.05, 9.5, 10.5, 30.0]) / KM_PER_DEG
    inside = sq.contains(np.zeros(4), 1.0 + dlon, borders)
    assert inside.tolist() == [True, True, False, False]
    # Crimea + 50 km reaches Kherson's Henichesk (~25 km from the isthmus) but not Kherson city.
    assert crimea.contains(np.array([46.17]), np.array([34.80]), borders).tolist() == [True]
    assert crimea.contains(np.array([46.64]), np.array([32.61]), borders).tolist() == [False]
    with pytest.raises(InputError, match="buffer_km"):
        parse_policy(
            {"exclusion_zones": [{"name": "p", "point": [0, 0], "radius_km": 5, "buffer_km": 1}]}
        )
