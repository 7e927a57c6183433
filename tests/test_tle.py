"""TLE reading and writing: round trips, formats, checksums and located errors."""

from __future__ import annotations

import math
import random
import re
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sgp4.api import WGS72, Satrec

from leosim.constellation import from_tle
from leosim.errors import InputError
from leosim.orbits import Orbits
from leosim.tle import (
    EpochOutlierWarning,
    parse_tle_text,
    read_tle,
    satrec_to_lines,
    tle_checksum,
    write_tle,
)

DATA = Path(__file__).resolve().parent / "data"
SUBSET_TLE = DATA / "starlink_2026-05-12_subset.tle"
HYPATIA_TLE = DATA / "hypatia" / "tles_starlink550_generated.txt"

# The ISS TLE of the sgp4 / Skyfield documentation (published with its checksums, 7 and 7).
ISS_NAME = "ISS (ZARYA)"
ISS_L1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS_L2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"

ELEMENTS = (
    "satnum_str",
    "classification",
    "intldesg",
    "epochyr",
    "epochdays",
    "jdsatepoch",
    "jdsatepochF",
    "ndot",
    "nddot",
    "bstar",
    "ephtype",
    "elnum",
    "inclo",
    "nodeo",
    "ecco",
    "argpo",
    "mo",
    "no_kozai",
    "revnum",
)


def _elements(sat: Satrec) -> dict:
    return {k: getattr(sat, k) for k in ELEMENTS}


def _with_checksum(line: str) -> str:
    """Recompute column 69 by hand (digits count their value, '-' counts 1)."""
    total = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
    return line[:68] + str(total % 10)


def _write(tmp_path: Path, lines: list[str], name: str = "cat.tle") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="ascii")
    return p


def _subset_lines() -> list[str]:
    return SUBSET_TLE.read_text().splitlines()


# --- checksum -------------------------------------------------------------------------------


def test_checksum_of_known_iss_lines():
    # Hand sum of line 1: 1+2+5+5+4+4+9+8+0+6+7+0+8+2+6+4+5+1+7+8+2+5+2+8
    # + 1 ('-') + 2+1+8+2 + 1 ('-') + 1 ('-') + 1+1+6+0+6 + 1 ('-') + 4 + 0 + 2+9+2 = 157 -> 7
    assert tle_checksum(ISS_L1) == 7 == int(ISS_L1[68])
    assert tle_checksum(ISS_L2) == 7 == int(ISS_L2[68])


def test_checksum_counts_minus_as_one_and_plus_letters_as_zero():
    base = "1 00000U 00000A   00000.00000000  .00000000  00000+0  00000+0 0    0"
    assert len(base) == 68
    assert tle_checksum(base + "0") == 1  # the leading line number
    assert tle_checksum(base.replace("+", "-") + "0") == 3
    assert tle_checksum(base.replace("U", "S").replace("A", "Z") + "0") == 1


def test_checksum_agrees_with_hand_rule_on_real_lines():
    for line in _subset_lines():
        if line[:2] in ("1 ", "2 "):
            assert tle_checksum(line) == int(_with_checksum(line)[68]) == int(line[68])


# --- parsing ----------------------------------------------------------------------------------


def test_three_line_iss_elements():
    cat = parse_tle_text(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}\n")
    assert cat.names == [ISS_NAME]
    want = Satrec.twoline2rv(ISS_L1, ISS_L2)
    assert _elements(cat.satrecs[0]) == _elements(want)
    assert cat.lines == [(ISS_L1, ISS_L2)]


def test_two_line_format_names_by_catalogue_number():
    lines = [ln for ln in _subset_lines() if ln[:2] in ("1 ", "2 ")]
    cat2 = parse_tle_text("\n".join(lines))
    cat3 = read_tle(SUBSET_TLE)
    assert len(cat2) == len(cat3) == 149
    assert cat2.names == [ln[2:7].strip() for ln in lines[::2]]
    for a, b in zip(cat2.satrecs, cat3.satrecs, strict=True):
        assert _elements(a) == _elements(b)


def test_celestrak_0_prefix_and_blank_lines():
    cat = parse_tle_text(f"\n0 {ISS_NAME}\n\n{ISS_L1}\n{ISS_L2}\n\n")
    assert cat.names == [ISS_NAME]


def test_three_line_names_are_stripped():
    cat = read_tle(SUBSET_TLE)
    raw = _subset_lines()
    assert cat.names == [raw[i].strip() for i in range(0, len(raw), 3)]
    assert all(n.startswith("STARLINK-") for n in cat.names)


@pytest.mark.parametrize("cls", ["U", "C", "S"])
def test_classification_accepted(cls):
    l1 = ISS_L1[:7] + cls + ISS_L1[8:]
    cat = parse_tle_text(f"{l1}\n{ISS_L2}\n")
    assert cat.satrecs[0].classification == cls


@pytest.mark.parametrize("cls", ["X", "u", "1"])
def test_other_classification_rejected(cls, tmp_path):
    # Letters count 0 in the checksum; a digit needs the checksum recomputed.
    l1 = _with_checksum(ISS_L1[:7] + cls + ISS_L1[8:])
    p = _write(tmp_path, [ISS_NAME, l1, ISS_L2])
    with pytest.raises(InputError) as exc:
        read_tle(p)
    assert str(exc.value).startswith(f"{p}:2: ")
    assert "classification" in str(exc.value)


def test_hypatia_file_with_header_line():
    cat = read_tle(HYPATIA_TLE)
    assert len(cat) == 1584 == 72 * 22
    assert cat.names[0] == "Starlink-550 0"
    assert cat.names[-1] == "Starlink-550 1583"
    assert [s.satnum for s in cat.satrecs] == list(range(1, 1585))
    assert HYPATIA_TLE.read_text().splitlines()[0] == "72 22"


# --- round trip -------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["subset", "hypatia", "iss"])
def test_round_trip_gives_identical_elements(source, tmp_path):
    if source == "subset":
        cat = read_tle(SUBSET_TLE)
    elif source == "hypatia":
        cat = read_tle(HYPATIA_TLE)
    else:
        cat = parse_tle_text(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}\n")
    out = tmp_path / "out.tle"
    write_tle(out, cat.names, cat.satrecs)
    back = read_tle(out)
    assert back.names == cat.names
    assert len(back) == len(cat)
    for a, b in zip(cat.satrecs, back.satrecs, strict=True):
        assert _elements(a) == _elements(b)
    # Written lines are valid TLE lines: 69 columns, correct checksums.
    for l1, l2 in back.lines:
        assert len(l1) == len(l2) == 69
        assert int(l1[68]) == int(_with_checksum(l1)[68])
        assert int(l2[68]) == int(_with_checksum(l2)[68])


def test_write_tle_header_and_no_stray_temp_files(tmp_path):
    cat = parse_tle_text(f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2}\n")
    out = tmp_path / "sub" / "h.tle"
    write_tle(out, cat.names, cat.satrecs, header="1 1")
    text = out.read_text()
    assert text.splitlines()[:2] == ["1 1", ISS_NAME]
    assert text.endswith("\n")
    assert [p.name for p in out.parent.iterdir()] == ["h.tle"]
    assert len(read_tle(out)) == 1


# --- located errors ---------------------------------------------------------------------------


def _error_of(path: Path) -> InputError:
    with pytest.raises(InputError) as exc:
        read_tle(path)
    return exc.value


def test_corrupted_digit_names_file_and_line(tmp_path):
    lines = _subset_lines()[:30]  # 10 satellites, 3-line format
    # Line 18 (1-based) is line 2 of the sixth satellite; change one digit of its RAAN.
    target = 17
    assert lines[target].startswith("2 ")
    col = 19
    assert lines[target][col].isdigit()
    new_digit = str((int(lines[target][col]) + 3) % 10)
    lines[target] = lines[target][:col] + new_digit + lines[target][col + 1 :]
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:18: "), str(err)
    assert err.line == 18
    assert err.source == str(p)
    assert "checksum" in str(err)


def test_corrupted_digit_in_line_1_two_line_format(tmp_path):
    lines = [ln for ln in _subset_lines()[:30] if ln[:2] in ("1 ", "2 ")]
    # Line 5 is line 1 of the third satellite; corrupt its epoch.
    assert lines[4].startswith("1 ")
    lines[4] = lines[4][:25] + str((int(lines[4][25]) + 1) % 10) + lines[4][26:]
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:5: "), str(err)


def test_truncated_file_missing_line_2(tmp_path):
    lines = _subset_lines()[:8]  # two whole satellites, then a name and line 1
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:8: "), str(err)
    assert "truncated" in str(err) or "line 2" in str(err)


def test_truncated_file_ends_after_name(tmp_path):
    lines = _subset_lines()[:7]
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:"), str(err)
    assert err.line == 7


def test_truncated_in_the_middle_of_line_2(tmp_path):
    lines = _subset_lines()[:9]
    lines[8] = lines[8][:50]
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:9: "), str(err)


def test_line_2_of_a_different_satellite(tmp_path):
    lines = _subset_lines()[:12]
    # Give satellite 3 (lines 7-9) the line 2 of satellite 4 (line 12).
    assert lines[8][2:7] != lines[11][2:7]
    lines[8] = lines[11]
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:9: "), str(err)
    assert lines[11][2:7].strip() in str(err)


def test_line_2_without_line_1(tmp_path):
    lines = _subset_lines()[:6]
    del lines[4]  # satellite 2 loses its line 1
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:5: "), str(err)


def test_two_names_in_a_row(tmp_path):
    lines = _subset_lines()[:9]
    del lines[4:6]  # satellite 2's element lines are gone: name, name
    p = _write(tmp_path, lines)
    err = _error_of(p)
    assert str(err).startswith(f"{p}:5: "), str(err)


def test_non_ascii_byte_located(tmp_path):
    lines = [ISS_NAME, ISS_L1, ISS_L2, "STATION Ü", ISS_L1, ISS_L2]
    p = tmp_path / "u.tle"
    p.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    err = _error_of(p)
    assert str(err).startswith(f"{p}:4: "), str(err)


def test_missing_and_empty_files(tmp_path):
    err = _error_of(tmp_path / "nope.tle")
    assert str(err).startswith(str(tmp_path / "nope.tle"))
    empty = tmp_path / "empty.tle"
    empty.write_text("\n\n")
    assert str(_error_of(empty)).startswith(str(empty))


def test_parse_text_source_in_message():
    bad = ISS_L2[:68] + str((int(ISS_L2[68]) + 1) % 10)
    with pytest.raises(InputError, match=r"^mem\.tle:3: "):
        parse_tle_text(f"{ISS_NAME}\n{ISS_L1}\n{bad}\n", source="mem.tle")


def test_unknown_gravity_model_rejected():
    with pytest.raises(InputError, match="WGS"):
        parse_tle_text(f"{ISS_L1}\n{ISS_L2}\n", gravity="GRS80")


def test_wgs84_gravity_changes_propagation():
    a = parse_tle_text(f"{ISS_L1}\n{ISS_L2}\n").satrecs[0]
    b = parse_tle_text(f"{ISS_L1}\n{ISS_L2}\n", gravity="wgs84").satrecs[0]
    ra = a.sgp4(a.jdsatepoch, a.jdsatepochF + 1.0)[1]
    rb = b.sgp4(b.jdsatepoch, b.jdsatepochF + 1.0)[1]
    assert ra != rb


# --- every field of both lines against the format ------------------------------------------


def _put(line: str, first: int, last: int, text: str) -> str:
    """``line`` with 1-based columns ``first..last`` replaced by ``text``, checksum recomputed."""
    assert len(text) == last - first + 1
    return _with_checksum(line[: first - 1] + text + line[last:])


# (line, first column, last column, new text, the message's field)
BAD_FIELDS = [
    (2, 53, 63, "-5.00000000", "mean motion"),  # negative
    (2, 53, 63, "15.7x125391", "mean motion"),  # garbled
    (2, 53, 63, " 0.00000000", "mean motion"),  # zero
    (2, 53, 63, "18.00000000", "mean motion"),  # inside the Earth
    (2, 53, 63, "15.72125391"[:-1] + " ", "mean motion"),  # a blank inside
    (2, 9, 16, "200.0000", "inclination"),
    (2, 9, 16, " 51.64l6", "inclination"),  # a letter read as a partial number
    (2, 9, 16, "-51.6416", "inclination"),
    (2, 18, 25, "400.0000", "right ascension of the ascending node"),
    (2, 18, 25, "360.0000", "right ascension of the ascending node"),
    (2, 35, 42, "360.0001", "argument of perigee"),
    (2, 44, 51, "999.9999", "mean anomaly"),
    (2, 27, 33, "       ", "eccentricity"),  # blank
    (2, 27, 33, "-006703", "eccentricity"),
    (2, 27, 33, "0006.03", "eccentricity"),
    (2, 64, 68, "5635x", "revolution number"),
    (1, 21, 32, "999.00000000", "epoch day"),
    (1, 21, 32, "000.51782528", "epoch day"),
    (1, 21, 32, "264.5178252a", "epoch day"),
    (1, 21, 32, "264 51782528", "epoch day"),
    (1, 19, 20, " 8", "epoch year"),
    (1, 54, 61, "     NaN", "drag term (B*)"),
    (1, 54, 61, " nan-000", "drag term (B*)"),
    (1, 54, 61, "-11606 4", "drag term (B*)"),
    (1, 45, 52, " 0000a-0", "mean motion second derivative"),
    (1, 34, 43, "-.0000218x", "mean motion derivative"),
    (1, 34, 43, "-0.0000218", "mean motion derivative"),
    (1, 10, 17, "98o67A  ", "international designator"),
    (1, 10, 17, "98067 A ", "international designator"),
    (1, 63, 63, "x", "ephemeris type"),
    (1, 65, 68, "29 2", "element set number"),
    (1, 9, 9, "0", "column 9"),
    (1, 3, 7, "     ", "catalogue number"),  # blank
    (1, 3, 7, "2554a", "catalogue number"),
    (1, 3, 7, "a0000", "catalogue number"),  # lower-case Alpha-5
    (1, 3, 7, "I0000", "catalogue number"),  # Alpha-5 skips I and O
    (1, 3, 7, "O1234", "catalogue number"),
    (2, 3, 7, "2554 ", "catalogue number"),
]


@pytest.mark.parametrize(("which", "first", "last", "text", "field"), BAD_FIELDS)
def test_bad_field_is_one_located_error(tmp_path, which, first, last, text, field):
    l1 = _put(ISS_L1, first, last, text) if which == 1 else ISS_L1
    l2 = _put(ISS_L2, first, last, text) if which == 2 else ISS_L2
    lines = [*_subset_lines()[:3], ISS_NAME, l1, l2]  # the ISS on lines 4-6
    p = _write(tmp_path, lines)
    msg = str(_error_of(p))
    assert msg.startswith(f"{p}:{4 + which}: {field}"), msg
    assert "expected" in msg and "\n" not in msg


def test_epoch_day_366_only_in_leap_years():
    day = "366.50000000"
    leap = _put(ISS_L1, 21, 32, day)  # 2008
    assert parse_tle_text(f"{leap}\n{ISS_L2}\n").satrecs[0].epochdays == 366.5
    common = _put(_put(ISS_L1, 19, 20, "09"), 21, 32, day)
    with pytest.raises(InputError, match=r"^x:1: epoch day .* expected 1 <= day < 366 in 2009"):
        parse_tle_text(f"{common}\n{ISS_L2}\n", source="x")


def test_edge_values_are_accepted():
    l2 = _put(_put(_put(ISS_L2, 9, 16, "180.0000"), 18, 25, "359.9999"), 44, 51, "  0.0000")
    sat = parse_tle_text(f"{ISS_L1}\n{l2}\n").satrecs[0]
    assert sat.inclo == pytest.approx(math.pi)
    assert sat.nodeo == pytest.approx(math.radians(359.9999))


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (f"{ISS_NAME}\n{ISS_L1}XYZ\n{ISS_L2}\n", 2, "past column 69: 'XYZ'"),
        (f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2[:20]}\t{ISS_L2[21:]}\n", 3, "column 21 holds a tab"),
        (f"{ISS_NAME}\n\t{ISS_L1}\n{ISS_L2}\n", 2, "column 1 holds a tab"),
        (f"IS\x01S\n{ISS_L1}\n{ISS_L2}\n", 1, "control character '\\x01'"),
        (f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2[:40]}\x00{ISS_L2[41:]}\n", 3, "control character"),
        (f"{ISS_NAME}\n{ISS_L1}\n{ISS_L2[:40]}\x0c{ISS_L2[41:]}\n", 3, "control character"),
        (f"{ISS_NAME}\n{ISS_L1}\r{ISS_L2}\n", 2, "control character '\\r'"),
    ],
)
def test_stray_characters_are_located(text, line, words):
    with pytest.raises(InputError) as exc:
        parse_tle_text(text, source="s.tle")
    assert str(exc.value).startswith(f"s.tle:{line}: "), str(exc.value)
    assert words in str(exc.value)


def test_crlf_line_ends_and_trailing_blanks_are_fine():
    cat = parse_tle_text(f"{ISS_NAME}   \r\n{ISS_L1}  \r\n{ISS_L2}\r\n")
    assert cat.names == [ISS_NAME] and cat.lines == [(ISS_L1, ISS_L2)]


def test_long_offending_text_is_quoted_short():
    with pytest.raises(InputError) as exc:
        parse_tle_text(f"{ISS_NAME}\n{ISS_L1}{'Y' * 5000}\n{ISS_L2}\n", source="s.tle")
    assert len(str(exc.value)) < 160 and "..." in str(exc.value)
    with pytest.raises(InputError) as exc:
        parse_tle_text(f"{'N' * 5000}\n{'M' * 5000}\n", source="s.tle")
    assert len(str(exc.value)) < 200


def test_duplicate_satellite_names_both_lines(tmp_path):
    lines = _subset_lines()[:9] + _subset_lines()[3:6]  # satellite 2 again on lines 10-12
    p = _write(tmp_path, lines)
    msg = str(_error_of(p))
    assert msg.startswith(f"{p}:11: "), msg
    assert "line 5" in msg and "line 11" in msg and lines[4][2:7] in msg


# --- Alpha-5 catalogue numbers -----------------------------------------------------------------


def _alpha5(n: int) -> str:
    """Alpha-5 by hand: 10..33 -> A..Z without I and O, then the last 4 digits."""
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    return letters[n // 10000 - 10] + f"{n % 10000:04d}"


@pytest.mark.parametrize("number", [100000, 182345, 234567, 339999])
def test_alpha5_catalogue_numbers(number, tmp_path):
    field = _alpha5(number)
    l1, l2 = _put(ISS_L1, 3, 7, field), _put(ISS_L2, 3, 7, field)
    p = _write(tmp_path, ["ALPHA", l1, l2, ISS_NAME, ISS_L1, ISS_L2])
    cat = read_tle(p)
    assert [s.satnum for s in cat.satrecs] == [number, 25544]
    assert cat.satrecs[0].satnum_str == field
    out = tmp_path / "back.tle"
    write_tle(out, cat.names, cat.satrecs)
    assert read_tle(out).lines[0][0][2:7] == field
    # A different Alpha-5 number on line 2 is caught like any other mismatch.
    other = _put(ISS_L2, 3, 7, _alpha5(number - 1))
    p = _write(tmp_path, ["ALPHA", l1, other])
    msg = str(_error_of(p))
    assert msg.startswith(f"{p}:3: ") and _alpha5(number - 1) in msg


def test_hand_made_alpha5_tle_and_its_checksum():
    # Line 1 of the ISS with 'A0000' for '25544': the digits 2,5,5,4,4 (sum 20) are replaced
    # by 0,0,0,0 (the letter counts 0), so the checksum drops from 7 by 20 mod 10: 7.
    l1 = "1 A0000U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
    l2 = "2 A0000  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"
    sat = parse_tle_text(f"{l1}\n{l2}\n").satrecs[0]
    assert sat.satnum == 100000
    assert tle_checksum(l1) == 7


def test_blank_padded_and_zero_padded_numbers_compare_equal():
    l1 = _put(ISS_L1, 3, 7, "00005")
    l2 = _put(ISS_L2, 3, 7, "    5")
    assert parse_tle_text(f"{l1}\n{l2}\n").satrecs[0].satnum == 5


# --- a seeded mutation test: one field at a time, many random values --------------------------

_XPDOTP = 1440.0 / (2.0 * math.pi)


def _int_rj(text: str) -> int | None:
    """A right-justified unsigned integer (leading blanks only), else None."""
    return int(text) if re.fullmatch(r" *[0-9]+", text) else None


def _fixed(text: str, int_digits: int, decimals: int) -> float | None:
    """'ddd.dddd'-style unsigned decimal, right-justified, else None."""
    pattern = rf" {{0,{int_digits - 1}}}[0-9]{{1,{int_digits}}}\.[0-9]{{{decimals}}}"
    return float(text) if re.fullmatch(pattern, text) else None


def _angle(text: str, top: float, closed: bool) -> float | None:
    x = _fixed(text, 3, 4)
    if x is None or x > top or (x == top and not closed):
        return None
    return x


def _exp_field(text: str) -> float | None:
    m = re.fullmatch(r"([ +-])([0-9]{5})([+-][0-9])", text)
    if m is None:
        return None
    return float(f"{'-' if m[1] == '-' else ''}0.{m[2]}e{m[3]}")


def _satnum(text: str) -> int | None:
    if re.fullmatch(r"[0-9]{5}", text) or re.fullmatch(r" +[0-9]+", text):
        return int(text)
    if re.fullmatch(r"[A-HJ-NP-Z][0-9]{4}", text):
        letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
        return (letters.index(text[0]) + 10) * 10000 + int(text[1:])
    return None


def _epoch_day(text: str, year: int = 2008) -> float | None:
    x = _fixed(text, 3, 8)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return x if x is not None and 1.0 <= x < (367 if leap else 366) else None


def _mean_motion(text: str) -> float | None:
    x = _fixed(text, 2, 8)
    return x if x is not None and 0.0 < x < 17.04 else None


def _intl(text: str) -> str | None:
    ok = re.fullmatch(r"[0-9]{5}[A-Z]{1,3} *", text) or text == " " * 8
    return text.strip() if ok else None


# (line, first, last, decode(text) -> expected value or None, Satrec value, valid generator)
MUTATIONS = [
    (1, 3, 7, _satnum, lambda s: s.satnum, lambda r: f"{r.randrange(100000):05d}"),
    (
        1,
        8,
        8,
        lambda t: {" ": "U"}.get(t, t) if t in "UCS " else None,
        lambda s: s.classification,
        lambda r: r.choice("UCS"),
    ),
    (
        1,
        10,
        17,
        _intl,
        lambda s: s.intldesg,
        lambda r: f"{r.randrange(100000):05d}" + "".join(r.choice("ABCZ") for _ in range(3)),
    ),
    (
        1,
        19,
        20,
        lambda t: int(t) if re.fullmatch("[0-9]{2}", t) else None,
        lambda s: s.epochyr,
        lambda r: f"{r.randrange(100):02d}",
    ),
    (1, 21, 32, _epoch_day, lambda s: s.epochdays, lambda r: f"{r.uniform(1, 365.99):012.8f}"),
    (
        1,
        34,
        43,
        lambda t: float(t.replace(" ", "")) if re.fullmatch(r"[ +-]\.[0-9]{8}", t) else None,
        lambda s: s.ndot * _XPDOTP * 1440.0,
        lambda r: f"{r.uniform(-0.99, 0.99):.8f}".replace("0.", ".").rjust(10),
    ),
    (
        1,
        45,
        52,
        _exp_field,
        lambda s: s.nddot * _XPDOTP * 1440.0 * 1440.0,
        lambda r: (
            r.choice(" -") + f"{r.randrange(100000):05d}" + r.choice("+-") + str(r.randrange(10))
        ),
    ),
    (
        1,
        54,
        61,
        _exp_field,
        lambda s: s.bstar,
        lambda r: (
            r.choice(" -") + f"{r.randrange(100000):05d}" + r.choice("+-") + str(r.randrange(10))
        ),
    ),
    (
        1,
        63,
        63,
        lambda t: int(t) if t.isdigit() else (0 if t == " " else None),
        lambda s: s.ephtype,
        lambda r: str(r.randrange(10)),
    ),
    (1, 65, 68, _int_rj, lambda s: s.elnum, lambda r: str(r.randrange(10000)).rjust(4)),
    (
        2,
        9,
        16,
        lambda t: _angle(t, 180.0, True),
        lambda s: math.degrees(s.inclo),
        lambda r: f"{r.uniform(0, 180):8.4f}",
    ),
    (
        2,
        18,
        25,
        lambda t: _angle(t, 360.0, False),
        lambda s: math.degrees(s.nodeo),
        lambda r: f"{r.uniform(0, 359.9999):8.4f}",
    ),
    (
        2,
        27,
        33,
        lambda t: float("0." + t) if re.fullmatch("[0-9]{7}", t) else None,
        lambda s: s.ecco,
        lambda r: f"{r.randrange(20000):07d}",
    ),
    (
        2,
        35,
        42,
        lambda t: _angle(t, 360.0, False),
        lambda s: math.degrees(s.argpo),
        lambda r: f"{r.uniform(0, 359.9999):8.4f}",
    ),
    (
        2,
        44,
        51,
        lambda t: _angle(t, 360.0, False),
        lambda s: math.degrees(s.mo),
        lambda r: f"{r.uniform(0, 359.9999):8.4f}",
    ),
    (
        2,
        53,
        63,
        _mean_motion,
        lambda s: s.no_kozai * _XPDOTP,
        lambda r: f"{r.uniform(11.0, 16.5):11.8f}",
    ),
    (2, 64, 68, _int_rj, lambda s: s.revnum, lambda r: str(r.randrange(100000)).rjust(5)),
]
_JUNK = "0123456789     ..++--eEaAzZIOx"


def _junk(rng, width: int) -> str:
    """Random text of ``width`` characters: digits, blanks, signs, points and letters."""
    kind = rng.random()
    if kind < 0.15:
        return rng.choice(["nan", "NaN", "inf", "-0", "1e5", "0x1"]).rjust(width)[:width]
    return "".join(rng.choice(_JUNK) for _ in range(width))


@pytest.mark.parametrize("m", range(len(MUTATIONS)), ids=lambda k: f"{MUTATIONS[k][:3]}")
def test_mutating_one_field_gives_a_located_error_or_the_value(m):
    which, first, last, decode, value_of, valid = MUTATIONS[m]
    rng = random.Random(20260512 + m)
    before = _subset_lines()[:3]  # satellite 44714 on lines 1-3, the mutated ISS on 4-6
    mutated_line = 4 + which
    for k in range(300):
        text = valid(rng) if k % 2 else _junk(rng, last - first + 1)
        assert len(text) == last - first + 1, text
        l1, l2 = ISS_L1, ISS_L2
        if which == 1:
            l1 = _put(l1, first, last, text)
        if which == 2 or first == 3:  # the catalogue number is on both lines
            l2 = _put(l2, first, last, text)
        expected = decode(text)
        if first == 3 and expected == 44714:
            expected = None  # a duplicate of the first satellite
        try:
            cat = parse_tle_text("\n".join([*before, ISS_NAME, l1, l2]), source="mut.tle")
        except InputError as exc:
            msg = str(exc)
            assert msg.startswith(f"mut.tle:{mutated_line}: ") or "sgp4" in msg, (text, msg)
            assert "\n" not in msg and len(msg) < 300
            assert expected is None or "sgp4 error" in msg, (text, msg)
            continue
        assert expected is not None, f"accepted {text!r} in columns {first}-{last}"
        sat = cat.satrecs[1]
        got = value_of(sat)
        if isinstance(expected, float):
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-15), text
        else:
            assert got == expected, text
        # Written back and read again, the satellite keeps its elements (sgp4's exporter
        # rounds the drag terms' mantissa through a float: 1 ulp).
        back = parse_tle_text("\n".join(satrec_to_lines(sat))).satrecs[0]
        for key, want in _elements(sat).items():
            have = _elements(back)[key]
            assert have == (pytest.approx(want, rel=1e-15) if isinstance(want, float) else want)


# --- real catalogues still load ----------------------------------------------------------------

SHARED_TLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tle"


@pytest.mark.skipif(not SHARED_TLE.is_dir(), reason="shared/ data absent")
@pytest.mark.parametrize(
    ("name", "count"), [("starlink-2026-05-12.tle", 10361), ("starlink-2023-07-18.tle", 4428)]
)
def test_real_catalogues_load_without_epoch_warnings(name, count):
    with warnings.catch_warnings():
        warnings.simplefilter("error", EpochOutlierWarning)
        c = from_tle(SHARED_TLE / name)
    assert len(c) == count
    raw = (SHARED_TLE / name).read_text().splitlines()
    assert {ln[7] for ln in raw if ln.startswith("1 ")} == {c.satrecs[0].classification}


# --- epoch of a catalogue ----------------------------------------------------------------------


def test_default_epoch_is_the_median_and_far_epochs_are_warned_about(tmp_path):
    lines = _subset_lines()
    # Move satellite 5's epoch to 2056 (a typo'd year), keeping the rest of its line 1.
    k = 3 * 4 + 1
    lines[k] = _put(lines[k], 19, 20, "56")
    p = _write(tmp_path, lines)
    with pytest.warns(EpochOutlierWarning) as rec:
        c = from_tle(p)
    assert issubclass(EpochOutlierWarning, UserWarning)
    msg = str(rec[0].message)
    assert "1 of 149" in msg and lines[k - 1].strip() in msg and "2056" in msg
    jd = [
        s.jdsatepoch + s.jdsatepochF
        for s in (Satrec.twoline2rv(lines[i + 1], lines[i + 2]) for i in range(0, 447, 3))
    ]
    want = float(np.median(jd))
    got_jd = c.epoch.timestamp() / 86400.0 + 2440587.5
    assert abs(got_jd - want) * 86400 < 1e-3
    assert c.epoch.year == 2026


def test_no_epoch_warning_for_a_tight_catalogue():
    with warnings.catch_warnings():
        warnings.simplefilter("error", EpochOutlierWarning)
        from_tle(SUBSET_TLE)


# --- NaN positions from valid-looking elements -------------------------------------------------


def _satrec(no_kozai: float, bstar: float = 0.0, satnum: int = 77) -> Satrec:
    sat = Satrec()
    sat.sgp4init(WGS72, "i", satnum, 27000.0, bstar, 0.0, 0.0, 0.001, 0.0, 0.9, 0.0, no_kozai, 0.0)
    return sat


@pytest.mark.parametrize(("no_kozai", "bstar"), [(-0.06, 0.0), (0.06, math.nan)])
def test_nan_position_without_error_code_names_the_satellite(no_kozai, bstar):
    good = parse_tle_text(f"{ISS_L1}\n{ISS_L2}\n").satrecs[0]
    bad = _satrec(no_kozai, bstar)
    assert bad.error == 0 and math.isnan(bad.sgp4(bad.jdsatepoch, bad.jdsatepochF)[1][0])
    orbits = Orbits([good, bad], names=["ISS", "BROKEN-1"])
    with pytest.raises(InputError) as exc:
        orbits.ecef_m(datetime(2023, 12, 3, tzinfo=UTC), [0.0, 60.0])
    msg = str(exc.value)
    assert "satellite 1 'BROKEN-1'" in msg and "catalogue number 77" in msg and "NaN" in msg
    with pytest.raises(InputError, match="catalogue number 77"):
        Orbits([bad]).ecef_m(datetime(2023, 12, 3, tzinfo=UTC), [0.0])
