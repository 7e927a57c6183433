"""Write the OMM test fixtures from the TLE subset, by text conversion only (no leosim, no sgp4).

Every 12th satellite of ``starlink_2026-05-12_subset.tle`` (13 satellites) is written as OMM in
CelesTrak's JSON, CSV (CRLF line ends) and XML layouts
(https://celestrak.org/NORAD/documentation/gp-data-formats.php), with CelesTrak's field names,
order and number styles: ``EPOCH`` as ISO 8601 with microseconds (exact: the TLE's 8 decimals
of a day are multiples of 864 microseconds), eccentricity ``.0001912``, drag terms ``-.54858E-3``.
Run from the repository root: ``python tests/data/make_omm_fixtures.py``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
TLE = HERE / "starlink_2026-05-12_subset.tle"
STEM = "starlink_2026-05-12_omm"
EVERY = 12
KEYS = (
    "OBJECT_NAME",
    "OBJECT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE",
    "NORAD_CAT_ID",
    "ELEMENT_SET_NO",
    "REV_AT_EPOCH",
    "BSTAR",
    "MEAN_MOTION_DOT",
    "MEAN_MOTION_DDOT",
)


def _exponent_field(text: str) -> Decimal:
    """A TLE ' 12345-4' field: sign, 5 mantissa digits after an implied point, exponent."""
    sign = "-" if text[0] == "-" else ""
    return Decimal(f"{sign}0.{text[1:6]}E{text[6:8]}")


def _celestrak(x: Decimal) -> str:
    """CelesTrak's CSV/XML style for small numbers: '0', '.1568E-2', '-.27894E-3'."""
    if x == 0:
        return "0"
    sign, digits, exp = x.normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    return f"{'-' if sign else ''}.{mantissa}E{exp + len(digits)}"


def _plain(x: Decimal) -> str:
    s = format(x.normalize(), "f")
    return "0" if s in ("0", "-0") else s


def record(name: str, l1: str, l2: str) -> tuple[dict[str, str], dict]:
    """One satellite as (CSV/XML strings, JSON values)."""
    yy = int(l1[18:20])
    year = 1900 + yy if yy >= 57 else 2000 + yy
    day = Decimal(l1[20:32])
    whole = int(day)
    micro = (day - whole) * 86400 * 10**6
    assert micro == int(micro), "8-decimal days are whole microseconds"
    epoch = datetime(year, 1, 1) + timedelta(days=whole - 1, microseconds=int(micro))
    intl = l1[9:17].strip()
    launch_year = int(intl[:2])
    launch_year += 1900 if launch_year >= 57 else 2000
    ecc = Decimal("0." + l2[26:33])
    ndot = Decimal(l1[33:43].replace(" ", ""))
    nddot, bstar = _exponent_field(l1[44:52]), _exponent_field(l1[53:61])
    text = {
        "OBJECT_NAME": name,
        "OBJECT_ID": f"{launch_year}-{intl[2:]}",
        "EPOCH": epoch.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "MEAN_MOTION": l2[52:63].strip(),
        "ECCENTRICITY": "." + l2[26:33],
        "INCLINATION": l2[8:16].strip(),
        "RA_OF_ASC_NODE": l2[17:25].strip(),
        "ARG_OF_PERICENTER": l2[34:42].strip(),
        "MEAN_ANOMALY": l2[43:51].strip(),
        "EPHEMERIS_TYPE": l1[62],
        "CLASSIFICATION_TYPE": l1[7],
        "NORAD_CAT_ID": str(int(l1[2:7])),
        "ELEMENT_SET_NO": str(int(l1[64:68])),
        "REV_AT_EPOCH": str(int(l2[63:68])),
        "BSTAR": _celestrak(bstar),
        "MEAN_MOTION_DOT": _celestrak(ndot),
        "MEAN_MOTION_DDOT": _celestrak(nddot),
    }
    numbers = {
        "MEAN_MOTION": Decimal(text["MEAN_MOTION"]),
        "ECCENTRICITY": ecc,
        "INCLINATION": Decimal(text["INCLINATION"]),
        "RA_OF_ASC_NODE": Decimal(text["RA_OF_ASC_NODE"]),
        "ARG_OF_PERICENTER": Decimal(text["ARG_OF_PERICENTER"]),
        "MEAN_ANOMALY": Decimal(text["MEAN_ANOMALY"]),
        "BSTAR": bstar,
        "MEAN_MOTION_DOT": ndot,
        "MEAN_MOTION_DDOT": nddot,
    }
    as_json: dict = {}
    for k in KEYS:
        if k in numbers:
            as_json[k] = _plain(numbers[k])  # written unquoted below
        elif k in ("EPHEMERIS_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH"):
            as_json[k] = int(text[k])
        else:
            as_json[k] = text[k]
    return text, as_json


def _json_object(values: dict) -> str:
    parts = []
    for k in KEYS:
        v = values[k]
        is_number_text = isinstance(v, str) and k not in (
            "OBJECT_NAME",
            "OBJECT_ID",
            "EPOCH",
            "CLASSIFICATION_TYPE",
        )
        parts.append(f'"{k}":{v if is_number_text else json.dumps(v)}')
    return "{" + ",".join(parts) + "}"


def _xml_omm(t: dict[str, str]) -> str:
    def tags(keys):
        return "".join(f"<{k}>{t[k]}</{k}>" for k in keys)

    return (
        '<omm id="CCSDS_OMM_VERS" version="2.0">'
        "<header><CREATION_DATE/><ORIGINATOR/></header><body><segment><metadata>"
        f"{tags(['OBJECT_NAME', 'OBJECT_ID'])}<CENTER_NAME>EARTH</CENTER_NAME>"
        "<REF_FRAME>TEME</REF_FRAME><TIME_SYSTEM>UTC</TIME_SYSTEM>"
        "<MEAN_ELEMENT_THEORY>SGP4</MEAN_ELEMENT_THEORY></metadata><data><meanElements>"
        f"{tags(KEYS[2:9])}</meanElements><tleParameters>{tags(KEYS[9:])}</tleParameters>"
        "</data></segment></body></omm>"
    )


def main() -> None:
    raw = TLE.read_text(encoding="ascii").splitlines()
    triples = [(raw[i].strip(), raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
    recs = [record(*t) for t in triples[::EVERY]]
    (HERE / f"{STEM}.json").write_text(
        "[" + ",".join(_json_object(j) for _, j in recs) + "]\n", encoding="ascii"
    )
    rows = [",".join(KEYS)] + [",".join(t[k] for k in KEYS) for t, _ in recs]
    (HERE / f"{STEM}.csv").write_bytes(("\r\n".join(rows) + "\r\n").encode("ascii"))
    xml = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<ndm xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="https://sanaregistry.org/r/ndmxml_unqualified/'
        'ndmxml-2.0.0-master-2.0.xsd">',
        *(_xml_omm(t) for t, _ in recs),
        "</ndm>",
    ]
    (HERE / f"{STEM}.xml").write_text("\n".join(xml) + "\n", encoding="ascii")


if __name__ == "__main__":
    main()
