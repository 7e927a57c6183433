"""Derive the geographic data files shipped in ``src/leosim/data/`` from ``../shared``.

Not part of the package: run it by hand when the upstream data changes::

    uv run python tools/make_geodata.py [--shared ../shared]

What it writes (see ``src/leosim/data/README.md`` for sources and licences):

* ``ne_50m_admin_0_countries.geojson.gz``: Natural Earth 50m admin-0 countries, properties trimmed
  to ``ADM0_A3, ISO_A2, ISO_A3, SOV_A3, NAME, NAME_LONG, POP_EST, POP_YEAR, CONTINENT`` (+
  ``LEOSIM_NOTE``), coordinates snapped to a 1e-4 deg grid with ``shapely.set_precision`` (which
  keeps polygons valid and keeps shared borders shared), with the ISO 3166-1 territories that
  1:50m folds into a sovereign split out (``_split_territories``), and ISO codes without a 1:50m
  polygon added from the 1:10m disputed areas (``_from_disputed``) or as stand-ins around their
  places (``_standins``).
* ``ne_10m_admin_0_disputed_areas.geojson.gz``: the 80 Natural Earth 10m disputed/breakaway/leased
  areas, same snapping, each with a leosim ``key`` and ``administered_by`` / ``claimed_by`` codes
  parsed from ``NOTE_BRK`` (the note itself is kept verbatim).
* ``ne_10m_populated_places.csv.gz``: the 10m populated places (name, position, ``pop_max``) with
  ``country`` re-derived against the shipped 50m borders, so that every place lies inside the
  polygon of the country it is listed under (see ``_assign_places``).
* ``starlink_gateways.csv`` and ``starlink_pops.csv``: byte-for-byte copies of the community files.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pycountry
import shapely
import shapely.ops
from shapely.geometry import mapping, shape

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "leosim" / "data"
GRID_DEG = 1e-4
_KM_PER_DEG = np.pi / 180.0 * 6371.0088
TERRITORIAL_SEA_KM = 22.224  # 12 nautical miles (UNCLOS art. 3)
SPLIT_PLACE_KM = 15.0  # a coastal place this close to a part counts as in it (as _assign_places)
STANDIN_RADIUS_KM = 2.0  # stand-in land for an ISO territory 1:50m does not draw

# Names as NOTE_BRK spells them -> ADM0_A3 (NOTE_BRK has typos such as "Columbia", "Azer.").
NOTE_NAMES = {
    "India": "IND",
    "China": "CHN",
    "Pakistan": "PAK",
    "U.K.": "GBR",
    "Argentina": "ARG",
    "Sudan": "SDN",
    "South Sudan": "SDS",
    "France": "FRA",
    "Suriname": "SUR",
    "Guyana": "GUY",
    "Israel": "ISR",
    "Syria": "SYR",
    "Kenya": "KEN",
    "Japan": "JPN",
    "Taiwan": "TWN",
    "Morocco": "MAR",
    "Western Sahara": "SAH",
    "Cyprus": "CYP",
    "Denmark": "DNK",
    "Canada": "CAN",
    "Comoros": "COM",
    "Madagascar": "MDG",
    "Mauritius": "MUS",
    "Seychelles": "SYC",
    "Russia": "RUS",
    "Somalia": "SOM",
    "North Korea": "PRK",
    "Ireland": "IRL",
    "Iceland": "ISL",
    "U.S.A.": "USA",
    "U.S.A": "USA",
    "United States": "USA",
    "Haiti": "HTI",
    "Georgia": "GEO",
    "Moldova": "MDA",
    "Azer.": "AZE",
    "South Korea": "KOR",
    "Kazakhstan": "KAZ",
    "Columbia": "COL",
    "Jamaica": "JAM",
    "Nicaragua": "NIC",
    "Honduras": "HND",
    "Malaysia": "MYS",
    "Philippines": "PHL",
    "Brunei": "BRN",
    "Vietnam": "VNM",
    "Cuba": "CUB",
    "Gabon": "GAB",
    "Equatorial Guinea": "GNQ",
    "Lebanon": "LBN",
    "Spain": "ESP",
    "Marshall Islands": "MHL",
    "Portugal": "PRT",
    "Egypt": "EGY",
    "Saudi Arabia": "SAU",
    "Vanuatu": "VUT",
    "Bolivia": "BOL",
    "Chile": "CHL",
    "Iran": "IRN",
    "UAE": "ARE",
    "Bhutan": "BTN",
    "Nepal": "NPL",
    "Ukraine": "UKR",
    "Guatemala": "GTM",
    "Belize": "BLZ",
    "Venezuela": "VEN",
    "New Caledonia for France": "FRA",
    "American Samoa for U.S.A.": "USA",
    "Tokelau": None,  # not an ADM0_A3 unit in the 50m countries (part of NZL's territory)
    "multiple": None,
}

# leosim keys for the areas policies are likely to name; the rest get a slug of BRK_NAME.
KEYS = {
    "B00": "arunachal_pradesh",
    "B03": "demchok",
    "B05": "jammu_and_kashmir",
    "B06": "shaksgam_valley",
    "B07": "aksai_chin",
    "B08": "gilgit_baltistan",
    "B09": "azad_kashmir",
    "B10": "korean_dmz_south",
    "B11": "korean_dmz_north",
    "B12": "falkland_islands",
    "B13": "abyei",
    "B16": "golan_heights",
    "B17": "ilemi_triangle",
    "B18": "senkaku_islands",
    "B19": "western_sahara_moroccan_administered",
    "B20": "northern_cyprus_10m",
    "B28": "western_sahara_polisario_administered",
    "B29": "kuril_islands",
    "B30": "somaliland_10m",
    "B35": "abkhazia",
    "B36": "transnistria",
    "B37": "south_ossetia",
    "B38": "nagorno_karabakh",
    "B39": "dokdo",
    "B40": "baikonur",
    "B43": "cyprus_un_buffer_zone",
    "B44": "diego_garcia",
    "B45": "siachen_glacier_10m",
    "B46": "spratly_islands",
    "B47": "paracel_islands",
    "B50": "guantanamo_bay",
    "B53": "gaza",
    "B54": "west_bank",
    "B56": "essequibo",
    "B58": "shebaa_farms",
    "B74": "ilemi_triangle_south_sudan",
    "B88": "kalapani",
    "B89": "crimea",
    "B90": "donbas",
}

# Display names where BRK_NAME is an abbreviation, misspelt, or needs its qualifier.
NAMES = {
    "B05": "Jammu and Kashmir (Indian-administered)",
    "B06": "Shaksgam Valley",
    "B08": "Gilgit-Baltistan",
    "B09": "Azad Kashmir",
    "B18": "Senkaku Islands (Pinnacle Is.)",
    "B19": "Western Sahara (Moroccan-administered)",
    "B28": "Western Sahara (Polisario-administered)",
    "B29": "Kuril Islands",
    "B51": "Belize (claimed by Guatemala)",
    "B74": "Ilemi Triangle (South Sudan part)",
    "B88": "Kalapani (near Om Parvat)",
    "B90": "Donbas (2014-2022 line of contact)",
}
KEYS["B51"] = "belize_disputed"


def _read_geojson(path: Path) -> dict:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def _snap(geom):
    # set_precision snaps to the grid and repairs what snapping breaks, so rings stay valid and
    # two countries' copies of a shared border snap to identical vertices.
    snapped = shapely.set_precision(shape(geom), GRID_DEG)
    if snapped.geom_type == "GeometryCollection":
        snapped = shapely.MultiPolygon(
            [p for g in snapped.geoms for p in shapely.get_parts(g) if p.geom_type == "Polygon"]
        )
    return snapped


def _round_mapping(geom) -> dict:
    m = mapping(geom)
    return json.loads(json.dumps(m), parse_float=lambda s: round(float(s), 4))


def _write_geojson_gz(path: Path, features: list[dict]) -> None:
    text = json.dumps(
        {"type": "FeatureCollection", "features": features},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # mtime=0 so that rerunning the script on unchanged input gives identical bytes.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(text.encode("utf-8"))


def _parse_note(note: str | None, own_code: str) -> tuple[list[str], list[str], bool, list[str]]:
    """NOTE_BRK -> (administered_by, claimed_by, self_administered, unmapped names)."""
    admin: list[str] = []
    claim: list[str] = []
    unmapped: list[str] = []
    self_admin = False
    if not note or note == "None":
        return admin, claim, self_admin, unmapped

    def codes(text: str) -> list[str]:
        out = []
        for name in re.split(r",\s*(?:and\s+)?|\s+and\s+", text.strip()):
            name = re.sub(r"^the\s+", "", name.strip())
            name = re.sub(r"\s+after ceded to .*$", "", name)
            if not name:
                continue
            if name not in NOTE_NAMES:
                unmapped.append(name)
            elif NOTE_NAMES[name] is not None:
                out.append(NOTE_NAMES[name])
        return out

    for part in (p.strip() for p in note.split(";")):
        low = part.lower()
        if low.startswith("self admin"):
            self_admin = True
        elif m := re.match(r"admin\.? by (.*)$", part, re.IGNORECASE):
            admin += codes(m.group(1))
        elif m := re.match(r"leased to (.*) by (.*)$", part, re.IGNORECASE):
            # A lease: the lessee administers; the lessor keeps sovereignty (recorded as a claim).
            admin += codes(m.group(1))
            claim += codes(m.group(2))
        elif m := re.match(r"claimed by (.*)$", part, re.IGNORECASE):
            claim += codes(m.group(1))
        elif m := re.search(r"patrolled by (.*)$", part, re.IGNORECASE):
            admin += codes(m.group(1))  # the Korean DMZ halves
        elif part == "UN Patrolled Zone in Syria":
            claim += ["SYR"]  # UNDOF zone: Syrian territory under UN patrol
        elif low.startswith("ceded to"):
            pass
        else:
            unmapped.append(part)
    if self_admin and own_code not in claim:
        admin.append(own_code)
    return sorted(set(admin)), sorted(set(claim) - set(admin)), self_admin, unmapped


def _iso(alpha_2: str | None = None, alpha_3: str | None = None):
    """The pycountry ISO 3166-1 record for a code, or None (NE writes ``-99`` for none)."""
    if alpha_2 and alpha_2 != "-99":
        return pycountry.countries.get(alpha_2=alpha_2)
    if alpha_3 and alpha_3 != "-99":
        return pycountry.countries.get(alpha_3=alpha_3)
    return None


def _country_feature(props: dict, geom, note: str = "") -> dict:
    return {
        "type": "Feature",
        "properties": {
            "ADM0_A3": props["ADM0_A3"],
            "ISO_A2": props["ISO_A2"],
            "ISO_A3": props["ISO_A3"],
            "SOV_A3": props["SOV_A3"],
            "NAME": props["NAME"],
            "NAME_LONG": props["NAME_LONG"],
            "POP_EST": props["POP_EST"],
            "POP_YEAR": props["POP_YEAR"],
            "CONTINENT": props["CONTINENT"],
            "LEOSIM_NOTE": note,
        },
        "geometry": geom,
    }


def _iso_props(record, sov: dict, pop_est, continent: str) -> dict:
    """Properties of a leosim-added ISO 3166-1 territory, keyed on its ISO alpha-3."""
    return {
        "ADM0_A3": record.alpha_3,
        "ISO_A2": record.alpha_2,
        "ISO_A3": record.alpha_3,
        "SOV_A3": sov.get("SOV_A3", ""),
        "NAME": getattr(record, "common_name", None) or record.name,
        "NAME_LONG": getattr(record, "official_name", None) or record.name,
        "POP_EST": pop_est,
        "POP_YEAR": sov.get("POP_YEAR"),
        "CONTINENT": continent,
    }


def _own_alpha_2(p: dict) -> str:
    rec = _iso(p["ISO_A2"]) or _iso(alpha_3=p["ISO_A3"]) or _iso(alpha_3=p["ADM0_A3"])
    return rec.alpha_2 if rec else p["ISO_A2"]


def _places_by_part(parts, places: list[dict]) -> np.ndarray:
    """Index of the polygon part each place is in, or nearest to within SPLIT_PLACE_KM; -1."""
    tree = shapely.STRtree(parts)
    lon = np.array([f["properties"]["longitude"] for f in places])
    lat = np.array([f["properties"]["latitude"] for f in places])
    pts = shapely.points(lon, lat)
    where = np.full(len(places), -1)
    ip, ipart = tree.query(pts, predicate="intersects")
    where[ip[::-1]] = ipart[::-1]
    out = np.flatnonzero(where < 0)
    (jp, jn), dist_deg = tree.query_nearest(pts[out], return_distance=True, all_matches=False)
    near = dist_deg * _KM_PER_DEG <= SPLIT_PLACE_KM
    where[out[jp[near]]] = jn[near]
    return where


def _split_territories(features: list[dict], places: list[dict]) -> list[dict]:
    """Split ISO 3166-1 territories out of the multipolygons that 1:50m folds them into.

    A polygon part of a feature is a territory X when most of the Natural Earth populated places
    in it (or within SPLIT_PLACE_KM of it) have ``iso_a2`` X, X is not the feature's own ISO code
    and no feature has X's alpha-3 yet (Cayenne's part of FRA is GF -> GUF).  A part without
    places takes the label of the nearest part of the same feature that has places (Svalbard's
    other islands follow Spitsbergen).  The territory's POP_EST is its sovereign's, split in
    proportion to the places' ``pop_max``.
    """
    known = {f["properties"]["ADM0_A3"] for f in features} | {
        f["properties"]["ISO_A3"] for f in features
    }
    parts, owner = [], []
    for i, f in enumerate(features):
        for q in shapely.get_parts(shape(f["geometry"])):
            parts.append(q)
            owner.append(i)
    parts_arr, owner = np.array(parts, dtype=object), np.array(owner)
    where = _places_by_part(parts_arr, places)
    label = np.full(len(parts), "", dtype=object)
    pop = np.zeros(len(parts))
    for j in np.unique(where[where >= 0]):
        mine = [places[i]["properties"] for i in np.flatnonzero(where == j)]
        pop[j] = sum(float(p["pop_max"]) for p in mine if p["pop_max"] > 0)
        count = collections.Counter(p["iso_a2"] for p in mine)
        top = max(
            count, key=lambda c: (count[c], sum(p["pop_max"] for p in mine if p["iso_a2"] == c))
        )
        rec = _iso(top)
        own = features[owner[j]]["properties"]
        if rec and top != _own_alpha_2(own) and rec.alpha_3 not in known:
            label[j] = rec.alpha_3
    out = []
    for i, f in enumerate(features):
        mine = np.flatnonzero(owner == i)
        if not any(label[mine]):
            out.append(f)
            continue
        with_places = [j for j in mine if pop[j] > 0 or label[j]]
        for j in mine:
            if j not in with_places:
                near = min(with_places, key=lambda k: parts_arr[j].distance(parts_arr[k]))
                label[j] = label[near]
        p = f["properties"]
        total = pop[mine].sum()
        rest = [j for j in mine if not label[j]]
        for code in sorted({label[j] for j in mine} - {""}):
            js = [j for j in mine if label[j] == code]
            rec = pycountry.countries.get(alpha_3=code)
            geom = _snap(mapping(shapely.MultiPolygon([parts_arr[j] for j in js])))
            share = pop[js].sum() / total
            names = sorted(
                {places[k]["properties"]["name"] for k in np.flatnonzero(np.isin(where, js))}
            )
            note = (
                f"split from {p['ADM0_A3']}'s 1:50m multipolygon: the part(s) holding the Natural "
                f"Earth populated places with iso_a2 {rec.alpha_2} ({', '.join(names)}); POP_EST "
                f"is {share:.4f} of {p['ADM0_A3']}'s, the share of its places' pop_max"
            )
            print(f"  {code}: {note}")
            props = _iso_props(rec, p, round(p["POP_EST"] * share), p["CONTINENT"])
            out.append(_country_feature(props, _round_mapping(geom), note))
        geom = _snap(mapping(shapely.MultiPolygon([parts_arr[j] for j in rest])))
        kept = dict(p, POP_EST=round(p["POP_EST"] * pop[rest].sum() / total))
        note = f"{p['LEOSIM_NOTE']} without its parts split out as " + ", ".join(
            sorted({label[j] for j in mine} - {""})
        )
        out.append(_country_feature(kept, _round_mapping(geom), note.strip()))
    return out


def _from_disputed(features: list[dict], disputed: list[dict], places: list[dict]) -> list[dict]:
    """ISO 3166-1 codes with no 1:50m polygon but a 1:10m disputed area (Gibraltar, parts of
    the US Minor Outlying Islands): that area, less any 1:50m polygon it overlaps."""
    known = {f["properties"]["ADM0_A3"] for f in features}
    land = shapely.union_all([shape(f["geometry"]) for f in features])
    by_code: dict[str, list[dict]] = {}
    for f in disputed:
        code = f["properties"]["ADM0_A3"]
        if code not in known and pycountry.countries.get(alpha_3=code):
            by_code.setdefault(code, []).append(f)
    out = []
    for code, fs in sorted(by_code.items()):
        rec = pycountry.countries.get(alpha_3=code)
        geom = shapely.union_all([shape(f["geometry"]) for f in fs]).difference(land)
        geom = _snap(mapping(geom))
        if geom.is_empty:
            continue
        pops = [
            p["properties"]["pop_max"] for p in places if p["properties"]["iso_a2"] == rec.alpha_2
        ]
        names = ", ".join(f["properties"]["BRK_NAME"] for f in fs)
        note = (
            f"no 1:50m polygon: Natural Earth 1:10m disputed area(s) {names} (ADM0_A3 {code}), "
            "less the 1:50m polygons they overlap; POP_EST is the sum of its places' pop_max"
        )
        print(f"  {code}: {note}")
        sov = {"SOV_A3": fs[0]["properties"].get("SOV_A3", ""), "POP_YEAR": None}
        props = _iso_props(rec, sov, int(sum(pops)) if pops else None, "")
        out.append(_country_feature(props, _round_mapping(geom), note))
    return out


def _disc(lon: float, lat: float, radius_km: float, n: int = 64):
    az = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    dlat = radius_km / _KM_PER_DEG * np.cos(az)
    dlon = radius_km / (_KM_PER_DEG * np.cos(np.radians(lat))) * np.sin(az)
    return shapely.Polygon(np.column_stack([lon + dlon, lat + dlat]))


def _standins(features: list[dict], places: list[dict]) -> list[dict]:
    """ISO 3166-1 codes whose populated places lie beyond every polygon's territorial sea
    (islands 1:50m does not draw, e.g. Tuvalu): a disc of STANDIN_RADIUS_KM around each place."""
    known = {f["properties"]["ADM0_A3"] for f in features}
    tree = shapely.STRtree([shape(f["geometry"]) for f in features])
    by_code: dict[str, list[dict]] = {}
    for f in places:
        p = f["properties"]
        rec = _iso(p["iso_a2"])
        if rec is None or rec.alpha_3 in known or p["pop_max"] <= 0:
            continue
        pt = shapely.Point(p["longitude"], p["latitude"])
        _, d = tree.query_nearest(pt, return_distance=True)
        if d[0] * _KM_PER_DEG * np.cos(np.radians(p["latitude"])) > TERRITORIAL_SEA_KM:
            by_code.setdefault(rec.alpha_3, []).append(p)
    out = []
    for code, ps in sorted(by_code.items()):
        rec = pycountry.countries.get(alpha_3=code)
        geom = _snap(
            mapping(
                shapely.union_all(
                    [_disc(p["longitude"], p["latitude"], STANDIN_RADIUS_KM) for p in ps]
                )
            )
        )
        names = ", ".join(p["name"] for p in ps)
        note = (
            f"no 1:50m polygon: stand-in discs of {STANDIN_RADIUS_KM:g} km radius around its "
            f"Natural Earth populated places ({names}); POP_EST is the sum of their pop_max"
        )
        print(f"  {code}: {note}")
        sov = {"SOV_A3": ps[0]["sov_a3"], "POP_YEAR": None}
        props = _iso_props(rec, sov, int(sum(p["pop_max"] for p in ps)), "")
        out.append(_country_feature(props, _round_mapping(geom), note))
    return out


def make_countries(shared: Path) -> list[dict]:
    ne = shared / "data/natural-earth"
    src = _read_geojson(ne / "ne_50m_admin_0_countries.json.gz")
    places = _read_geojson(ne / "ne_10m_populated_places_simple.json.gz")["features"]
    disputed = _read_geojson(ne / "ne_10m_admin_0_disputed_areas.json.gz")["features"]
    features = []
    for f in src["features"]:
        p = dict(f["properties"], POP_EST=int(f["properties"]["POP_EST"]))
        p["POP_YEAR"] = int(p["POP_YEAR"])
        geom = _snap(f["geometry"])
        assert geom.is_valid and not geom.is_empty, p["ADM0_A3"]
        features.append(_country_feature(p, _round_mapping(geom)))
    features = _split_territories(features, places)
    features += _from_disputed(features, disputed, places)
    features += _standins(features, places)
    for f in features:
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty, f["properties"]["ADM0_A3"]
    features.sort(key=lambda f: f["properties"]["ADM0_A3"])
    _write_geojson_gz(OUT / "ne_50m_admin_0_countries.geojson.gz", features)
    return features


def make_disputed(shared: Path, country_codes: set[str]) -> None:
    src = _read_geojson(shared / "data/natural-earth/ne_10m_admin_0_disputed_areas.json.gz")
    features = []
    seen: set[str] = set()
    for f in src["features"]:
        p = f["properties"]
        brk = p["BRK_A3"]
        name = NAMES.get(brk) or (
            p["NAME_LONG"] if p["BRK_NAME"] in (p["NAME"], p["NAME_LONG"]) else p["BRK_NAME"]
        )
        key = KEYS.get(brk) or re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
        assert key not in seen, key
        seen.add(key)
        admin, claim, self_admin, unmapped = _parse_note(p["NOTE_BRK"], p["ADM0_A3"])
        if unmapped:
            print(f"  {brk} {p['BRK_NAME']}: NOTE_BRK parts not mapped to codes: {unmapped}")
        unknown = [c for c in admin + claim if c not in country_codes]
        if unknown:
            print(f"  {brk} {p['BRK_NAME']}: codes absent from the 50m countries: {unknown}")
        geom = _snap(f["geometry"])
        assert geom.is_valid and not geom.is_empty, brk
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "key": key,
                    "name": name,
                    "BRK_A3": brk,
                    "BRK_NAME": p["BRK_NAME"],
                    "NAME": p["NAME"],
                    "ADM0_A3": p["ADM0_A3"],
                    "TYPE": p["TYPE"],
                    "NOTE_BRK": p["NOTE_BRK"],
                    "administered_by": admin,
                    "claimed_by": claim,
                    "self_administered": self_admin,
                },
                "geometry": _round_mapping(geom),
            }
        )
    _write_geojson_gz(OUT / "ne_10m_admin_0_disputed_areas.geojson.gz", features)


def _assign_places(places: list[dict], countries: list[dict]) -> list[tuple]:
    """Give every place the shipped-50m country it lies in.

    The 10m places' own ``adm0_a3`` follows the 10m borders; terminals sampled from them must fall
    inside the 50m polygon they are attributed to.  A place inside a 50m polygon takes that
    polygon's code (so e.g. Simferopol is RUS, as the shipped borders draw it).  A coastal place
    just outside the 50m coastline is moved to the nearest point of its own country's polygon
    (``adm0_a3``) if that is within 15 km, and dropped otherwise.
    """
    geoms = [shape(f["geometry"]) for f in countries]
    codes = np.array([f["properties"]["ADM0_A3"] for f in countries])
    by_code = dict(zip(codes, geoms, strict=True))
    tree = shapely.STRtree(geoms)
    lon = np.array([p["geometry"]["coordinates"][0] for p in places])
    lat = np.array([p["geometry"]["coordinates"][1] for p in places])
    pts = shapely.points(lon, lat)
    ip, ig = tree.query(pts, predicate="intersects")
    country = np.full(len(places), "", dtype=object)
    country[ip[::-1]] = codes[ig[::-1]]  # first hit wins
    rows, moved, dropped, recoded = [], 0, 0, 0
    for i, f in enumerate(places):
        p = f["properties"]
        pop = int(p["pop_max"])
        if pop <= 0:
            dropped += 1
            continue
        x, y, code = lon[i], lat[i], country[i]
        if code == "":
            # Its own country: Natural Earth's adm0_a3, or the territory split out by its iso_a2
            # (Fort-de-France is adm0_a3 FRA but iso_a2 MQ, now polygon MTQ); the nearer one.
            rec = _iso(p["iso_a2"])
            own = [c for c in (p["adm0_a3"], rec and rec.alpha_3) if c in by_code]
            if not own:
                print(f"    dropped {p['name']!r}: {p['adm0_a3']} is not a 50m country")
                dropped += 1
                continue
            own_code = min(own, key=lambda c: by_code[c].distance(pts[i]))
            g = by_code[own_code]
            # Move to the nearest point of the polygon shrunk by 2e-4 deg (~20 m), so that the
            # place stays inside after rounding to 4 decimals.
            near = shapely.ops.nearest_points(g, pts[i])[0]
            shrunk = g.buffer(-2e-4)
            inner = near if shrunk.is_empty else shapely.ops.nearest_points(shrunk, pts[i])[0]
            km = np.hypot((near.x - x) * np.cos(np.radians(y)), near.y - y) * 111.2
            if km > 15.0 or not g.contains(inner):
                print(f"    dropped {p['name']!r} ({p['adm0_a3']}): {km:.0f} km off the 50m coast")
                dropped += 1
                continue
            x, y, code = inner.x, inner.y, own_code
            moved += 1
        elif code != p["adm0_a3"]:
            recoded += 1
        rows.append((p["name"], round(float(y), 4), round(float(x), 4), code, pop))
    print(
        f"  places: {len(rows)} kept, {moved} moved onto the 50m coast, {dropped} dropped, "
        f"{recoded} re-coded to the 50m polygon they lie in"
    )
    return rows


def make_places(shared: Path, countries: list[dict]) -> None:
    src = _read_geojson(shared / "data/natural-earth/ne_10m_populated_places_simple.json.gz")
    rows = _assign_places(src["features"], countries)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["name", "latitude_deg", "longitude_deg", "country", "pop_max"])
    w.writerows(rows)
    with (
        open(OUT / "ne_10m_populated_places.csv.gz", "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f,
    ):
        f.write(buf.getvalue().encode("utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    print("countries")
    countries = make_countries(args.shared)
    print("disputed areas")
    make_disputed(args.shared, {f["properties"]["ADM0_A3"] for f in countries})
    print("populated places")
    make_places(args.shared, countries)
    for name in ("gateways.csv", "pops.csv"):
        shutil.copyfile(args.shared / "data/starlink-ground" / name, OUT / f"starlink_{name}")
    for path in sorted(OUT.iterdir()):
        print(f"{path.name:45s} {path.stat().st_size / 1024:8.1f} KiB")


if __name__ == "__main__":
    main()
