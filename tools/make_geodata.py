"""Derive the geographic data files shipped in ``src/leosim/data/`` from ``../shared``.

Not part of the package: run it by hand when the upstream data changes::

    uv run python tools/make_geodata.py [--shared ../shared]

What it writes (see ``src/leosim/data/README.md`` for sources and licences):

* ``ne_50m_admin_0_countries.geojson.gz``: Natural Earth 50m admin-0 countries, properties trimmed
  to ``ADM0_A3, ISO_A3, NAME, NAME_LONG, POP_EST, POP_YEAR, CONTINENT``, coordinates snapped to a 1e-4 deg
  grid with ``shapely.set_precision`` (which keeps polygons valid and keeps shared borders shared).
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
import csv
import gzip
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
from shapely.geometry import mapping, shape

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "leosim" / "data"
GRID_DEG = 1e-4

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


def make_countries(shared: Path) -> list[dict]:
    src = _read_geojson(shared / "data/natural-earth/ne_50m_admin_0_countries.json.gz")
    features = []
    for f in src["features"]:
        p = f["properties"]
        geom = _snap(f["geometry"])
        assert geom.is_valid and not geom.is_empty, p["ADM0_A3"]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "ADM0_A3": p["ADM0_A3"],
                    "ISO_A3": p["ISO_A3"],
                    "NAME": p["NAME"],
                    "NAME_LONG": p["NAME_LONG"],
                    "POP_EST": int(p["POP_EST"]),
                    "POP_YEAR": int(p["POP_YEAR"]),
                    "CONTINENT": p["CONTINENT"],
                },
                "geometry": _round_mapping(geom),
            }
        )
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
            g = by_code.get(p["adm0_a3"])
            if g is None:
                print(f"    dropped {p['name']!r}: {p['adm0_a3']} is not a 50m country")
                dropped += 1
                continue
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
            x, y, code = inner.x, inner.y, p["adm0_a3"]
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
