"""TLE reading and writing: round trips, formats, checksums and located errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sgp4.api import Satrec

from leosim.errors import InputError
from leosim.tle import parse_tle_text, read_tle, tle_checksum, write_tle

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
