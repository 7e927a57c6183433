"""OMM (JSON, CSV, XML as CelesTrak serves them): same satellites as the TLEs, located errors."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sgp4 import omm as sgp4_omm
from sgp4.api import Satrec

from leosim.constellation import from_tle
from leosim.errors import InputError
from leosim.tle import read_tle, write_tle

DATA = Path(__file__).resolve().parent / "data"
SUBSET_TLE = DATA / "starlink_2026-05-12_subset.tle"
OMM = {ext: DATA / f"starlink_2026-05-12_omm.{ext}" for ext in ("json", "csv", "xml")}
N_OMM = 13  # every 12th satellite of the TLE subset (tests/data/README.md)
DAYS = np.array([-1.0, 0.0, 0.25, 1.0, 3.0])  # propagation times after each epoch


def _tle_satrecs() -> dict[int, tuple[str, Satrec]]:
    """The TLE subset parsed by sgp4 directly: catalogue number -> (name, Satrec)."""
    raw = SUBSET_TLE.read_text(encoding="ascii").splitlines()
    out = {}
    for i in range(0, len(raw), 3):
        sat = Satrec.twoline2rv(raw[i + 1], raw[i + 2])
        out[sat.satnum] = (raw[i].strip(), sat)
    return out


def _positions_km(sat: Satrec, ref: Satrec) -> np.ndarray:
    """TEME positions of ``sat`` at ``DAYS`` after ``ref``'s epoch."""
    out = []
    for d in DAYS:
        err, r, _ = sat.sgp4(ref.jdsatepoch, ref.jdsatepochF + d)
        assert err == 0
        out.append(r)
    return np.array(out)


# --- same satellites as the TLEs ----------------------------------------------------------------


@pytest.mark.parametrize("ext", ["json", "csv", "xml"])
def test_omm_gives_the_tle_positions_within_a_millimetre(ext):
    tle = _tle_satrecs()
    cat = read_tle(OMM[ext])
    assert len(cat) == N_OMM
    for name, sat in zip(cat.names, cat.satrecs, strict=True):
        tle_name, ref = tle[sat.satnum]
        assert name == tle_name
        dr_m = np.linalg.norm(_positions_km(sat, ref) - _positions_km(ref, ref), axis=1) * 1e3
        assert dr_m.max() <= 1e-3, (name, dr_m)


@pytest.mark.parametrize("ext", ["json", "csv", "xml"])
def test_omm_matches_sgp4_omm_initialize_and_keeps_the_exact_epoch(ext):
    """Against python-sgp4's own OMM reading of the same file.

    sgp4.omm.initialize passes the epoch to sgp4init as one double of days since 1949 (steps of
    0.3 microseconds, i.e. up to 2.3 mm along-track at 7.6 km/s); leosim keeps the ISO epoch's
    split Julian date exact, which the second assertion checks against exact rational arithmetic.
    """
    if ext == "json":
        records = json.loads(OMM[ext].read_text())
    elif ext == "csv":
        with OMM[ext].open(newline="") as fh:
            records = list(sgp4_omm.parse_csv(fh))
    else:
        with OMM[ext].open("rb") as fh:
            records = list(sgp4_omm.parse_xml(fh))
    cat = read_tle(OMM[ext])
    for rec, sat in zip(records, cat.satrecs, strict=True):
        direct = Satrec()
        sgp4_omm.initialize(direct, rec)
        dr_m = np.linalg.norm(_positions_km(sat, direct) - _positions_km(direct, direct), axis=1)
        assert dr_m.max() * 1e3 <= 5e-3
        for attr in ("satnum", "inclo", "nodeo", "ecco", "argpo", "mo", "no_kozai", "bstar"):
            assert getattr(sat, attr) == getattr(direct, attr), attr
        t = datetime.strptime(rec["EPOCH"], "%Y-%m-%dT%H:%M:%S.%f")
        day_s = Fraction(t.hour * 3600 + t.minute * 60 + t.second) + Fraction(t.microsecond, 10**6)
        assert sat.jdsatepochF == float(day_s / 86400)
        midnight = datetime(t.year, t.month, t.day)
        assert sat.jdsatepoch == (midnight - datetime(2000, 1, 1, 12)).days + 2451545.0 + 0.5


def test_the_three_layouts_give_identical_satellites():
    cats = [read_tle(p) for p in OMM.values()]
    for a, b in zip(cats[0].satrecs, cats[1].satrecs, strict=True):
        assert np.array_equal(_positions_km(a, a), _positions_km(b, a))
    for a, b in zip(cats[0].satrecs, cats[2].satrecs, strict=True):
        assert np.array_equal(_positions_km(a, a), _positions_km(b, a))
    assert cats[0].names == cats[1].names == cats[2].names


def test_omm_written_back_as_tle_reads_back_the_same_elements(tmp_path):
    cat = read_tle(OMM["json"])
    raw = {n: s for n, s in _tle_satrecs().values()}
    out = tmp_path / "back.tle"
    write_tle(out, cat.names, cat.satrecs)
    back = read_tle(out)
    assert back.names == cat.names
    for name, sat in zip(back.names, back.satrecs, strict=True):
        ref = raw[name]
        for attr in ("satnum", "epochdays", "inclo", "nodeo", "ecco", "argpo", "mo", "no_kozai"):
            assert getattr(sat, attr) == getattr(ref, attr), (name, attr)
        assert sat.bstar == pytest.approx(ref.bstar, rel=1e-12)
    # The lines carried by the OMM catalogue are valid TLE lines for the same satellites.
    assert [int(l1[2:7]) for l1, _ in cat.lines] == [s.satnum for s in cat.satrecs]


def test_format_comes_from_the_content_not_the_extension(tmp_path):
    for ext, path in OMM.items():
        copy = tmp_path / f"elements_{ext}.tle"
        copy.write_bytes(path.read_bytes())
        assert len(read_tle(copy)) == N_OMM


def test_from_tle_accepts_omm_and_uses_the_median_epoch():
    c = from_tle(OMM["xml"])
    jd = sorted(s.jdsatepoch + s.jdsatepochF for s in c.satrecs)
    median = jd[len(jd) // 2]  # 13 satellites: the middle one
    got = c.epoch.timestamp() / 86400.0 + 2440587.5
    assert abs(got - median) * 86400 < 1e-3


def test_celestrak_mario_xml_and_csv_match_its_tle():
    """CelesTrak's own XML and CSV of MARIO (every field non-zero), kept in python-sgp4's tests."""
    sgp4_tests = pytest.importorskip("sgp4.tests")
    _, l1, l2 = sgp4_tests.MARIO_TLE.splitlines()
    ref = Satrec.twoline2rv(l1, l2)
    for text in (sgp4_tests.MARIO_XML, sgp4_tests.MARIO_CSV):
        from leosim.omm import detect_format, parse_omm_bytes

        data = text.encode()
        cat = parse_omm_bytes(data, detect_format(data), source="mario")
        assert cat.names == ["MARIO"]
        sat = cat.satrecs[0]
        for attr in ("nddot", "ndot", "bstar", "revnum", "elnum", "intldesg", "satnum"):
            assert getattr(sat, attr) == getattr(ref, attr), attr
        dr = np.linalg.norm(_positions_km(sat, ref) - _positions_km(ref, ref), axis=1)
        assert dr.max() * 1e3 <= 1e-3


# --- located errors -----------------------------------------------------------------------------


def _json_records() -> list[dict]:
    return json.loads(OMM["json"].read_text())


def _json_error(tmp_path: Path, records) -> InputError:
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(records))
    with pytest.raises(InputError) as exc:
        read_tle(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: "), msg
    assert "\n" not in msg
    return exc.value


BAD_VALUES = [
    # (field, value, words the message must hold)
    ("MEAN_MOTION", -15.5, ["MEAN_MOTION", "expected 0 < n"]),
    ("MEAN_MOTION", 0, ["MEAN_MOTION", "expected 0 < n"]),
    ("MEAN_MOTION", 18.2, ["MEAN_MOTION", "inside the Earth"]),
    ("MEAN_MOTION", "15.4x691953", ["MEAN_MOTION", "expected a number"]),
    ("MEAN_MOTION", True, ["MEAN_MOTION", "boolean"]),
    ("MEAN_MOTION", [15.5], ["MEAN_MOTION", "a list"]),
    ("MEAN_MOTION", None, ["MEAN_MOTION", "empty"]),
    ("INCLINATION", 200.0, ["INCLINATION", "0 to 180"]),
    ("INCLINATION", -0.5, ["INCLINATION", "0 to 180"]),
    ("RA_OF_ASC_NODE", 400.0, ["RA_OF_ASC_NODE", "< 360"]),
    ("ARG_OF_PERICENTER", 360.0, ["ARG_OF_PERICENTER", "< 360"]),
    ("MEAN_ANOMALY", "1e400", ["MEAN_ANOMALY", "finite"]),
    ("ECCENTRICITY", 1.2, ["ECCENTRICITY", "< 1"]),
    ("ECCENTRICITY", "", ["ECCENTRICITY", "empty"]),
    ("BSTAR", "nan", ["BSTAR", "expected a number"]),
    ("BSTAR", math.nan, ["BSTAR", "finite"]),
    ("MEAN_MOTION_DOT", "1_000", ["MEAN_MOTION_DOT", "expected a number"]),
    ("EPOCH", "2026-13-01T00:00:00.000000", ["EPOCH", "month"]),
    ("EPOCH", "2026-05-12 22:48:41", ["EPOCH", "ISO 8601"]),
    ("EPOCH", "2070-01-01T00:00:00", ["EPOCH", "1957 to 2056"]),
    ("EPOCH", 26132.95, ["EPOCH", "ISO 8601"]),
    ("NORAD_CAT_ID", 400000, ["NORAD_CAT_ID", "0 to 339999"]),
    ("NORAD_CAT_ID", 44714.5, ["NORAD_CAT_ID", "integer"]),
    ("NORAD_CAT_ID", "4471A", ["NORAD_CAT_ID", "integer"]),
    ("CLASSIFICATION_TYPE", "X", ["CLASSIFICATION_TYPE", "U, C, S"]),
    ("OBJECT_ID", "19074B", ["OBJECT_ID", "YYYY-NNNP"]),
    ("ELEMENT_SET_NO", -1, ["ELEMENT_SET_NO", "0 to 9999"]),
    ("REV_AT_EPOCH", "many", ["REV_AT_EPOCH", "integer"]),
    ("OBJECT_NAME", 7, ["OBJECT_NAME", "string"]),
    ("MEAN_MOTION_DOT", 1.5, ["MEAN_MOTION_DOT", "< 1"]),
    ("BSTAR", -2e9, ["BSTAR", "< 1e+09"]),
    ("REF_FRAME", "GCRF", ["REF_FRAME", "TEME"]),
    ("MEAN_ELEMENT_THEORY", "SGP4-XP", ["MEAN_ELEMENT_THEORY", "SGP4"]),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_VALUES)
def test_json_bad_value_names_record_and_field(tmp_path, key, value, words):
    records = _json_records()
    records[4][key] = value
    err = _json_error(tmp_path, records)
    assert "record 5" in str(err)
    for w in words:
        assert w in str(err), str(err)


@pytest.mark.parametrize("key", ["EPOCH", "MEAN_MOTION", "NORAD_CAT_ID", "BSTAR", "OBJECT_ID"])
def test_json_missing_field(tmp_path, key):
    records = _json_records()
    del records[2][key]
    err = _json_error(tmp_path, records)
    assert "record 3" in str(err) and key in str(err) and "missing" in str(err)


def test_json_duplicate_satellite_names_both_records(tmp_path):
    records = _json_records()
    records.append(dict(records[1], OBJECT_NAME="COPY"))
    err = _json_error(tmp_path, records)
    assert "record 2" in str(err) and f"record {N_OMM + 1}" in str(err)
    assert str(records[1]["NORAD_CAT_ID"]) in str(err)


def test_json_structure_errors(tmp_path):
    assert "null, expected a list" in str(_json_error(tmp_path, None))
    p = tmp_path / "broken.json"
    p.write_text('[{"OBJECT_NAME": "X",\n "EPOCH": }]')
    with pytest.raises(InputError, match=rf"^{p}:2: .*JSON"):
        read_tle(p)
    assert "record 2 is a list" in str(_json_error(tmp_path, [_json_records()[0], [1, 2]]))
    assert "expected a list" in str(_json_error(tmp_path, "text"))
    p.write_text("[]")
    with pytest.raises(InputError, match="no OMM records"):
        read_tle(p)


def test_json_strings_as_space_track_writes_them():
    records = [{k: str(v) for k, v in r.items()} for r in _json_records()]
    from leosim.omm import parse_omm_bytes

    cat = parse_omm_bytes(json.dumps(records).encode(), "json")
    ref = read_tle(OMM["json"])
    for a, b in zip(cat.satrecs, ref.satrecs, strict=True):
        assert np.array_equal(_positions_km(a, b), _positions_km(b, b))


def _csv_rows() -> list[list[str]]:
    return list(csv.reader(io.StringIO(OMM["csv"].read_text(), newline="")))


def _csv_error(tmp_path: Path, rows: list[list[str]]) -> InputError:
    p = tmp_path / "bad.csv"
    p.write_text("".join(",".join(r) + "\r\n" for r in rows))
    with pytest.raises(InputError) as exc:
        read_tle(p)
    return exc.value


@pytest.mark.parametrize(
    ("key", "value", "word"),
    [
        ("MEAN_MOTION", "-15.5", "MEAN_MOTION"),
        ("MEAN_MOTION", "15,5", "values"),  # an unquoted comma shifts every later column
        ("INCLINATION", "200", "INCLINATION"),
        ("ECCENTRICITY", "", "ECCENTRICITY"),
        ("BSTAR", "NaN", "BSTAR"),
        ("EPOCH", "2026-02-30T00:00:00", "EPOCH"),
    ],
)
def test_csv_bad_value_names_line_and_field(tmp_path, key, value, word):
    rows = _csv_rows()
    rows[6][rows[0].index(key)] = value
    err = _csv_error(tmp_path, rows)
    assert err.line == 7 and str(err).startswith(f"{err.source}:7: record 6"), str(err)
    assert word in str(err)


def test_csv_short_row_and_missing_header_column(tmp_path):
    rows = _csv_rows()
    rows[3] = rows[3][:-2]
    err = _csv_error(tmp_path, rows)
    assert err.line == 4 and "values" in str(err) and "MEAN_MOTION_DOT" in str(err)
    rows = [[c for c in r] for r in _csv_rows()]
    k = rows[0].index("RA_OF_ASC_NODE")
    rows = [r[:k] + r[k + 1 :] for r in rows]
    err = _csv_error(tmp_path, rows)
    assert err.line == 1 and "RA_OF_ASC_NODE" in str(err)


def _xml_lines() -> list[str]:
    return OMM["xml"].read_text().splitlines()


def _xml_error(tmp_path: Path, lines: list[str]) -> InputError:
    p = tmp_path / "bad.xml"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as exc:
        read_tle(p)
    return exc.value


@pytest.mark.parametrize(
    ("old", "new", "word"),
    [
        ("<MEAN_MOTION>", "<MEAN_MOTION>-", "MEAN_MOTION"),
        ("<INCLINATION>", "<INCLINATION>2", "INCLINATION"),  # 43 or 53 deg -> 243 or 253
        ("<ECCENTRICITY>.", "<ECCENTRICITY>x", "ECCENTRICITY"),
        ("<REF_FRAME>TEME", "<REF_FRAME>GCRF", "REF_FRAME"),
        ("<BSTAR>", "<BSTAR>NaN", "BSTAR"),
        ("<EPOCH>2026-05-12T", "<EPOCH>2026-05-12 ", "EPOCH"),
    ],
)
def test_xml_bad_value_names_line_and_field(tmp_path, old, new, word):
    lines = _xml_lines()
    target = 2 + 5  # the 6th satellite's <omm> is on line 8
    lines[target] = lines[target].replace(old, new, 1)
    err = _xml_error(tmp_path, lines)
    assert err.line == 8 and "record 6 (" in str(err), str(err)
    assert word in str(err)


def test_xml_structure_errors(tmp_path):
    lines = _xml_lines()
    lines[4] = lines[4].replace("</meanElements>", "")
    err = _xml_error(tmp_path, lines)
    assert "not well-formed" in str(err) and err.line == 5
    lines = _xml_lines()
    lines[5] = lines[5].replace("<meanElements>", "<mean>").replace("</meanElements>", "</mean>")
    err = _xml_error(tmp_path, lines)
    assert err.line == 6 and "meanElements" in str(err)
    lines = _xml_lines()
    lines[3] = re.sub("<MEAN_MOTION_DOT>[^<]*</MEAN_MOTION_DOT>", "", lines[3])
    err = _xml_error(tmp_path, lines)
    assert err.line == 4 and "MEAN_MOTION_DOT" in str(err) and "missing" in str(err)
    lines = _xml_lines()
    lines[1] = lines[1].replace("<ndm ", '<ndm xmlns="urn:ccsds:schema:ndmxml" ')
    assert "namespace" in str(_xml_error(tmp_path, lines))
    lines = _xml_lines()
    lines.insert(1, '<!DOCTYPE ndm [<!ENTITY a "aaaaaaaa">]>')
    assert "DOCTYPE" in str(_xml_error(tmp_path, lines))


def test_omm_values_beyond_tle_rounding_are_written_back_as_valid_tles(tmp_path):
    """Angles that round to 360.0000, an epoch that rounds into the next year, a tiny B*."""
    records = _json_records()[:2]
    records[0].update(
        MEAN_ANOMALY=359.99999, RA_OF_ASC_NODE=359.999951, EPOCH="2026-12-31T23:59:59.999999"
    )
    records[1].update(BSTAR=1.23e-14, MEAN_MOTION_DDOT=-4.5e-13)
    p = tmp_path / "edge.json"
    p.write_text(json.dumps(records))
    cat = read_tle(p)
    out = tmp_path / "edge.tle"
    write_tle(out, cat.names, cat.satrecs)
    back = read_tle(out)
    a, b = back.satrecs
    assert a.epochyr == 27 and a.epochdays == 1.0
    assert a.mo == 0.0 and a.nodeo == 0.0
    assert b.bstar == pytest.approx(1e-14) and back.lines[1][0][53:61] == " 00001-9"
    # Positions agree within what the TLE's rounding allows (1e-4 deg: ~12 m at 550 km).
    for s0, s1 in zip(cat.satrecs, back.satrecs, strict=True):
        dr = np.linalg.norm(_positions_km(s0, s0) - _positions_km(s1, s0), axis=1)
        assert dr.max() < 0.05
