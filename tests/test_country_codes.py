"""ISO 3166-1 codes as users write them, and the ISO territories split out of their sovereign.

Truths used: the ISO 3166-1 list of the pycountry package (independent of Natural Earth),
Natural Earth's own ``ISO_A2``/``ISO_A3`` columns and the ``iso_a2`` of its populated places
(raw files in ../shared, skipped when absent), known cities, and the codes Starlink itself writes
in its per-country metrics (tests/data copy) and GeoIP feed (../shared).
"""

from __future__ import annotations

import collections
import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pycountry
import pytest
import shapely
from shapely.geometry import shape

from leosim.borders import Borders
from leosim.countries import iso_a2, iso_a3, to_adm0
from leosim.errors import InputError
from leosim.ground_segment import sample_terminals

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared"
NE = SHARED / "data" / "natural-earth"
TRAIN = SHARED / "reference" / "starlink-latency" / "country_latency_2025-12_train.csv"
GEOIP = SHARED / "data" / "starlink-ground" / "geoip-pops-ptr-2025-12-15.csv"
TRAIN_CODES = HERE / "data" / "starlink_latency_2025-12_train_codes.txt"


@pytest.fixture(scope="module")
def borders() -> Borders:
    return Borders.default()


def _read_gz_json(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------ codes
@pytest.mark.parametrize(
    ("code", "adm0"),
    [("TW", "TWN"), ("tw", "TWN"), (" twn ", "TWN"), ("XKX", "KOS"), ("xk", "KOS"),
     ("SSD", "SDS"), ("SS", "SDS"), ("ALA", "ALD"), ("AX", "ALD"), ("PSE", "PSX"),
     ("ESH", "SAH"), ("FR", "FRA"), ("NO", "NOR"), ("UK", "GBR"), ("GB", "GBR"), ("PH", "PHL"),
     ("GF", "GUF"), ("RE", "REU"), ("MQ", "MTQ"), ("YT", "MYT"), ("GP", "GLP"), ("SJ", "SJM"),
     ("KOS", "KOS"), ("CYN", "CYN")],
)  # fmt: skip
def test_iso_codes_resolve(borders, code, adm0):
    assert borders.validate_code(code) == adm0
    assert to_adm0(code) == adm0


def test_every_iso_code_resolves_or_says_why(borders):
    # Independent list: pycountry's ISO 3166-1 (249 codes).  All but five have a polygon.
    unplaced = set()
    for c in pycountry.countries:
        try:
            a = borders.validate_code(c.alpha_2)
        except InputError as exc:
            assert "has no polygon of its own" in str(exc) and c.alpha_3 in str(exc)
            with pytest.raises(InputError, match="no polygon of its own"):
                borders.validate_code(c.alpha_3.lower())
            unplaced.add(c.alpha_3)
            continue
        assert borders.validate_code(c.alpha_3) == a
        assert borders.iso_codes(a) == (c.alpha_2, c.alpha_3)
    # Bouvet, Bonaire/St Eustatius/Saba, Christmas I., Cocos Is., Tokelau: no 1:50m polygon,
    # no populated place.
    assert unplaced == {"BVT", "BES", "CXR", "CCK", "TKL"}


def test_reverse_mapping(borders):
    assert borders.iso_codes("KOS") == ("XK", "XKX")
    assert (iso_a2("SDS"), iso_a3("SDS")) == ("SS", "SSD")
    assert (iso_a2("FRA"), iso_a3("GUF")) == ("FR", "GUF")
    for code in ("CYN", "SOL", "KAS", "ATC", "IOA"):  # no ISO 3166-1 code of their own
        assert borders.iso_codes(code) == ("", "")
    for code in borders.codes:
        a2, a3 = borders.iso_codes(code)
        if a2:
            assert borders.validate_code(a2) == code and borders.validate_code(a3) == code


def test_unplaced_code_names_where_it_lies(borders):
    with pytest.raises(InputError) as exc:
        borders.validate_code("BQ", source="p.toml", key="countries.BQ")
    msg = str(exc.value)
    assert msg.startswith("p.toml: [countries.BQ] ISO 3166-1 BQ/BES (Bonaire")
    assert "NLD's polygon" in msg and "\n" not in msg
    with pytest.raises(InputError, match=r"BV/BVT \(Bouvet Island\) has no polygon.*not in the"):
        borders.validate_code("BVT")
    with pytest.raises(InputError, match="unknown country code 'QQ'"):
        borders.validate_code("QQ")


@pytest.mark.skipif(not NE.exists(), reason="needs ../shared/data/natural-earth")
def test_natural_earth_iso_columns_agree(borders):
    # Every raw 1:50m feature with an ISO_A3 (ALD has ALA, PSX has PSE, ...) is found by it.
    for f in _read_gz_json(NE / "ne_50m_admin_0_countries.json.gz")["features"]:
        p = f["properties"]
        if p["ISO_A3"] != "-99":
            assert borders.validate_code(p["ISO_A3"]) == p["ADM0_A3"]
        if p["ISO_A2"] != "-99":
            assert borders.validate_code(p["ISO_A2"]) == p["ADM0_A3"]


@pytest.mark.skipif(not NE.exists(), reason="needs ../shared/data/natural-earth")
def test_populated_places_lie_in_the_polygon_of_their_iso_code(borders):
    # Natural Earth's places carry iso_a2 independently of the polygons: most places of each
    # code must fall in (or in the territorial sea of) the polygon the code maps to.
    by_code = collections.defaultdict(list)
    for f in _read_gz_json(NE / "ne_10m_populated_places_simple.json.gz")["features"]:
        p = f["properties"]
        if p["iso_a2"] != "-99":
            by_code[p["iso_a2"]].append((p["latitude"], p["longitude"]))
    off = {}
    for a2, pts in by_code.items():
        lat, lon = np.array(pts).T
        share = np.mean(borders.country_of(lat, lon) == borders.validate_code(a2))
        if share < 0.5:
            off[a2] = share
    # Vatican City's place falls in ITA at 1:50m; Grand Turk is not drawn; Gibraltar's place is
    # in the bay, in Spain's territorial sea.
    assert set(off) <= {"VA", "TC", "GI"}


# ------------------------------------------------------------------ territories
CITIES = [
    ("Cayenne", 4.933, -52.33, "GUF"),
    ("Kourou", 5.16, -52.65, "GUF"),
    ("Fort-de-France", 14.616, -61.079, "MTQ"),
    ("Saint-Denis, Reunion", -20.879, 55.448, "REU"),
    ("Pointe-a-Pitre", 16.243, -61.526, "GLP"),
    ("Mamoudzou", -12.78, 45.227, "MYT"),
    ("Longyearbyen", 78.217, 15.55, "SJM"),
    ("Nordaustlandet", 79.8, 22.0, "SJM"),
    ("Paris", 48.857, 2.352, "FRA"),
    ("Ajaccio", 41.93, 8.74, "FRA"),
    ("Oslo", 59.914, 10.752, "NOR"),
    ("Funafuti", -8.517, 179.217, "TUV"),
    ("Gibraltar", 36.14, -5.35, "GIB"),
]


@pytest.mark.parametrize(("city", "lat", "lon", "code"), CITIES, ids=[c[0] for c in CITIES])
def test_territories_are_their_own_codes(borders, city, lat, lon, code):
    assert borders.country_of(lat, lon).item() == code


@pytest.mark.skipif(not NE.exists(), reason="needs ../shared/data/natural-earth")
def test_split_loses_no_land(borders):
    # The sovereign and its split-out territories together are exactly the raw multipolygon.
    raw = {
        f["properties"]["ADM0_A3"]: shape(f["geometry"])
        for f in _read_gz_json(NE / "ne_50m_admin_0_countries.json.gz")["features"]
    }
    for sov, parts in [("FRA", ("GUF", "GLP", "MTQ", "MYT", "REU")), ("NOR", ("SJM",))]:
        pieces = [borders.geometry(c) for c in (sov, *parts)]
        for i, a in enumerate(pieces):
            for b in pieces[i + 1 :]:
                assert a.intersection(b).area < 1e-9
        total = shapely.union_all(pieces)
        assert total.symmetric_difference(raw[sov]).area / raw[sov].area < 1e-4
    assert borders.population_of("GUF") > 1e5 and borders.population_of("FRA") > 6e7


def _train_codes() -> list[str]:
    return TRAIN_CODES.read_text().split()


@pytest.mark.parametrize("code", _train_codes())
def test_starlink_metrics_codes_resolve_and_get_terminals(borders, code):
    adm0 = borders.validate_code(code)
    t = sample_terminals([code], n_per_country=20, seed=0)
    assert len(t) == 20 and set(t.country.tolist()) == {adm0}
    assert (borders.country_of(t.latitude_deg, t.longitude_deg, territorial_sea_km=0) == adm0).all()


@pytest.mark.skipif(not TRAIN.exists(), reason="needs ../shared/reference/starlink-latency")
def test_copy_of_the_training_codes_is_current():
    with TRAIN.open(newline="") as f:
        assert [r["adm0_a3"] for r in csv.DictReader(f)] == _train_codes()


@pytest.mark.skipif(not GEOIP.exists(), reason="needs ../shared/data/starlink-ground")
def test_geoip_feed_codes_resolve(borders):
    with GEOIP.open(newline="") as f:
        codes = {r["country"] for r in csv.DictReader(f)}
    failed = set()
    for c in codes:
        try:
            borders.validate_code(c)
        except InputError:
            failed.add(c)
    assert failed == {"BQ"}  # Bonaire: no polygon of its own (see above)
