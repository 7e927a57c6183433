"""Tests of leosim.regions: named disputed areas, their codes, and consistency with the borders."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import shape

import leosim.regions
from leosim.borders import Borders
from leosim.errors import InputError
from leosim.regions import POINT_OF_VIEW, Regions

SHARED = Path(__file__).resolve().parents[2] / "shared"
NE_DISPUTED = SHARED / "data" / "natural-earth" / "ne_10m_admin_0_disputed_areas.json.gz"


@pytest.fixture(scope="module")
def regions() -> Regions:
    return Regions.default()


@pytest.fixture(scope="module")
def borders() -> Borders:
    return Borders.default()


REQUIRED = [
    "crimea", "kashmir", "jammu_and_kashmir", "gilgit_baltistan", "azad_kashmir", "aksai_chin",
    "siachen_glacier", "western_sahara", "northern_cyprus", "kosovo", "somaliland", "donbas",
    "abkhazia", "south_ossetia", "transnistria", "nagorno_karabakh", "golan_heights", "gaza",
    "west_bank", "arunachal_pradesh", "kuril_islands", "falkland_islands",
]  # fmt: skip


@pytest.mark.parametrize("key", REQUIRED)
def test_required_keys_exist(regions, key):
    assert key in regions.keys()
    r = regions.get(key)
    assert r.key == key and r.name and r.source
    assert not r.geometry.is_empty and r.geometry.is_valid


# (place, lat, lon, country by the default de-facto borders, regions that must contain it)
PLACES = [
    ("Simferopol", 44.952, 34.102, "RUS", {"crimea"}),
    ("Sevastopol", 44.60, 33.52, "RUS", {"crimea"}),
    ("Kerch", 45.36, 36.47, "RUS", {"crimea"}),
    ("Kyiv", 50.45, 30.52, "UKR", set()),
    ("Donetsk", 48.00, 37.80, "UKR", {"donbas"}),
    ("Srinagar", 34.08, 74.80, "IND", {"jammu_and_kashmir", "kashmir"}),
    ("Leh", 34.16, 77.58, "IND", {"jammu_and_kashmir", "kashmir"}),
    ("Muzaffarabad", 34.37, 73.47, "PAK", {"azad_kashmir", "kashmir"}),
    ("Gilgit", 35.92, 74.31, "PAK", {"gilgit_baltistan", "kashmir"}),
    ("Aksai Chin", 35.0, 79.5, "CHN", {"aksai_chin", "kashmir"}),
    ("Laayoune", 27.15, -13.20, "MAR", {"western_sahara", "western_sahara_moroccan_administered"}),
    ("Tifariti", 26.16, -10.57, "SAH", {"western_sahara", "western_sahara_polisario_administered"}),
    ("Pristina", 42.663, 21.166, "KOS", {"kosovo"}),
    ("Kyrenia", 35.30, 33.35, "CYN", {"northern_cyprus"}),
    ("Hargeisa", 9.56, 44.065, "SOL", {"somaliland"}),
    ("Sukhumi", 43.00, 41.02, "GEO", {"abkhazia"}),
    ("Tskhinvali", 42.23, 43.97, "GEO", {"south_ossetia"}),
    ("Tiraspol", 46.84, 29.63, "MDA", {"transnistria"}),
    ("Stepanakert", 39.82, 46.75, "AZE", {"nagorno_karabakh"}),
    ("Gaza City", 31.50, 34.47, "PSX", {"gaza", "palestinian_territories"}),
    ("Ramallah", 31.90, 35.20, "PSX", {"west_bank", "palestinian_territories"}),
    ("Katzrin", 32.99, 35.69, "ISR", {"golan_heights"}),
    ("Itanagar", 27.08, 93.61, "IND", {"arunachal_pradesh"}),
    ("Ceuta, drawn inside MAR at 1:50m", 35.889, -5.32, "MAR", {"ceuta"}),
    ("Gibraltar, from the 1:10m disputed area", 36.14, -5.35, "GIB", {"gibraltar"}),
    ("Paris", 48.857, 2.352, "FRA", set()),
    ("Taipei", 25.033, 121.565, "TWN", set()),
    ("Tbilisi", 41.72, 44.79, "GEO", set()),
]


@pytest.mark.parametrize(
    ("place", "lat", "lon", "code", "keys"), PLACES, ids=[p[0] for p in PLACES]
)
def test_places_fall_in_the_right_regions(regions, borders, place, lat, lon, code, keys):
    assert borders.country_of(lat, lon).item() == code
    found = set(regions.regions_of(lat, lon))
    # Only the 10m "_10m" twins may add to the expected set.
    assert keys <= found and all(k in keys or k.endswith("_10m") for k in found), found
    for key in keys:
        assert regions.contains(key, lat, lon).item()


def test_crimea_point_of_view(regions, borders):
    # The default borders are de-facto: Crimea is drawn inside RUS, so a policy about Crimea
    # must name the region.
    assert POINT_OF_VIEW.startswith("de-facto")
    assert "Crimea" in leosim.regions.__doc__ and "RUS" in leosim.regions.__doc__
    crimea = regions.get("crimea")
    assert crimea.administered_by == ("RUS",)
    assert crimea.claimed_by == ("UKR",)
    assert crimea.note == "Admin. by Russia; Claimed by Ukraine"
    # Almost all of the region lies in the RUS polygon, none in UKR's.
    rus = borders.geometry("RUS").intersection(crimea.geometry).area / crimea.geometry.area
    assert rus > 0.95
    assert borders.geometry("UKR").intersection(crimea.geometry).area / crimea.geometry.area < 0.01


def test_contains_is_vectorised(regions):
    lat = np.array([44.952, 50.45, 44.60])
    lon = np.array([34.102, 30.52, 33.52])
    out = regions.contains("crimea", lat, lon)
    assert out.dtype == bool and out.tolist() == [True, False, True]
    assert regions.contains("crimea", lat.reshape(3, 1), lon.reshape(3, 1)).shape == (3, 1)


def test_regions_from_country_polygons_agree_with_borders(regions, borders):
    for key, code in [("kosovo", "KOS"), ("northern_cyprus", "CYN"), ("somaliland", "SOL"),
                      ("siachen_glacier", "KAS")]:  # fmt: skip
        r = regions.get(key)
        assert "ADM0_A3=" + code in r.source
        rng = np.random.default_rng(0)
        lon0, lat0, lon1, lat1 = r.geometry.bounds
        lat, lon = rng.uniform(lat0, lat1, 2000), rng.uniform(lon0, lon1, 2000)
        inside = r.contains(lat, lon)
        assert inside.sum() > 100
        np.testing.assert_array_equal(borders.country_of(lat, lon) == code, inside)


def test_groups_are_unions_of_their_parts(regions):
    kashmir = regions.get("kashmir")
    assert set(kashmir.parts) == {"jammu_and_kashmir", "gilgit_baltistan", "azad_kashmir",
                                  "aksai_chin", "shaksgam_valley", "siachen_glacier"}  # fmt: skip
    assert set(kashmir.administered_by) == {"IND", "PAK", "CHN"}
    assert set(kashmir.claimed_by) == {"IND", "PAK"}
    total = sum(regions.get(k).geometry.area for k in kashmir.parts)
    assert kashmir.geometry.area == pytest.approx(total, rel=0.01)
    ws = regions.get("western_sahara")
    assert set(ws.administered_by) == {"MAR", "SAH"}


def test_codes_are_known_countries(regions, borders):
    for r in regions:
        for code in r.administered_by + r.claimed_by:
            borders.validate_code(code)


# Hand-read from NOTE_BRK (independent of the parser in tools/make_geodata.py).
NOTES = {
    "jammu_and_kashmir": (("IND",), ("PAK",)),
    "aksai_chin": (("CHN",), ("IND",)),
    "shaksgam_valley": (("CHN",), ("IND",)),
    "abkhazia": ((), ("GEO",)),
    "transnistria": ((), ("MDA",)),
    "donbas": ((), ("UKR",)),
    "baikonur": (("RUS",), ("KAZ",)),  # "Leased to Russia by Kazakhstan"
    "golan_heights": (("ISR",), ("SYR",)),
    "kuril_islands": (("RUS",), ("JPN",)),
    "spratly_islands": ((), ("BRN", "CHN", "MYS", "PHL", "TWN")),
    "western_sahara_polisario_administered": (("SAH",), ("MAR",)),
    "gaza": ((), ()),
}


@pytest.mark.parametrize("key", sorted(NOTES))
def test_administered_and_claimed_codes(regions, key):
    r = regions.get(key)
    assert (r.administered_by, r.claimed_by) == NOTES[key]


def test_unknown_key_lists_close_matches(regions):
    with pytest.raises(InputError) as exc:
        regions.get("crimia")
    assert "'crimia'" in str(exc.value) and "crimea" in str(exc.value)
    with pytest.raises(InputError, match="western_sahara"):
        regions.contains("sahara", 0.0, 0.0)
    assert regions.get("Northern Cyprus").key == "northern_cyprus"


def test_all_disputed_areas_shipped():
    if not NE_DISPUTED.exists():
        pytest.skip("shared/ data not available")
    with gzip.open(NE_DISPUTED, "rt", encoding="utf-8") as f:
        src = json.load(f)
    shipped = {r.note for r in Regions.default() if "1:10m" in r.source}
    src_notes = {f["properties"]["NOTE_BRK"] or "" for f in src["features"]}
    assert src_notes == shipped
    keys_10m = [r for r in Regions.default() if "1:10m" in r.source]
    assert len(keys_10m) == len(src["features"]) == 80
    # Snapping to 1e-4 deg must not move any area by more than ~1 %.
    by_brk = {f["properties"]["BRK_A3"]: shape(f["geometry"]) for f in src["features"]}
    crimea = Regions.default().get("crimea").geometry
    assert crimea.area == pytest.approx(by_brk["B89"].area, rel=0.01)
