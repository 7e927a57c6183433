"""Two- and three-line element sets (TLEs), and OMM files: read, verify and write.

A TLE file holds one satellite per two lines (``1 ...`` / ``2 ...``), optionally preceded by a
name line (the "3-line" format).  Every line is checked against the fixed-column format of
CelesTrak's "NORAD Two-Line Element Set Format" (https://celestrak.org/NORAD/documentation/tle-fmt.php)
and of Vallado et al., "Revisiting Spacetrack Report #3" (AIAA 2006-6753): each field's
characters (digits where digits belong, blanks between fields, no tabs or control
characters, nothing past column 69), the modulo-10 checksum, the values (inclination in
[0, 180] deg; node, argument of perigee and mean anomaly in [0, 360) deg; epoch day inside its
year; mean motion above 0 and below that of an orbit grazing the Earth), that both lines name
the same catalogue number (5 digits or Alpha-5, e.g. ``A0000`` = 100000), that no satellite
appears twice, and that the `sgp4` parser accepts the pair.  A broken line is one
:class:`~leosim.errors.InputError` ``file:line: <field> ... expected ...``.

:func:`read_tle` also reads OMM (CCSDS Orbit Mean-elements Message) files in CelesTrak's JSON,
CSV and XML layouts, detected from the content; see :mod:`leosim.omm`.

>>> from leosim.tle import parse_tle_text
>>> cat = parse_tle_text('''ISS (ZARYA)
... 1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
... 2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537
... ''')
>>> cat.names, len(cat)
(['ISS (ZARYA)'], 1)
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sgp4.alpha5 import from_alpha5
from sgp4.api import WGS72, WGS84, Satrec
from sgp4.exporter import export_tle

from .constants import EARTH_RADIUS_M, MU_EARTH_WGS72_M3_S2, SECONDS_PER_DAY
from .errors import InputError

_GRAVITY = {"WGS72": WGS72, "WGS84": WGS84}

QUOTE_CHARS = 40
"""Most characters of an offending line or value that an error message quotes."""

MAX_MEAN_MOTION_REV_PER_DAY = (
    math.sqrt(MU_EARTH_WGS72_M3_S2 / EARTH_RADIUS_M**3) * SECONDS_PER_DAY / (2.0 * math.pi)
)
"""Mean motion of a circular orbit at the Earth's equatorial radius (WGS72), 17.04 rev/day.

A larger mean motion puts the semi-major axis, and so the whole orbit, inside the Earth."""

EPOCH_OUTLIER_DAYS = 30.0
"""Element epochs further than this from the catalogue's median epoch are warned about, days."""


class EpochOutlierWarning(UserWarning):
    """Some satellites' element epochs lie far from the catalogue's median epoch."""


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of at most ``limit`` characters of ``text`` (``...`` marks a cut).

    >>> quote("x" * 50, 5)
    "'xxxxx'..."
    """
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 characters of a TLE line (a '-' counts as 1)."""
    head = line[:68]
    total = head.count("-")
    for digit in range(1, 10):
        total += digit * head.count(_DIGITS[digit])
    return total % 10


_DIGITS = "0123456789"


# --- the fixed-column format -------------------------------------------------------------------


def _right_justified(width: int) -> str:
    """Regex of an unsigned integer right-justified in ``width`` columns (leading blanks)."""
    return "(?:" + "|".join(" " * k + f"[0-9]{{{width - k}}}" for k in range(width)) + ")"


@dataclass(frozen=True)
class _Field:
    first: int  # first column, 1-based
    last: int  # last column, inclusive
    name: str
    pattern: str
    expected: str


_BLANK = "a blank (fields are separated by one space)"
_SATNUM = _Field(
    3,
    7,
    "catalogue number",
    f"(?:{_right_justified(5)}|[A-HJ-NP-Z][0-9]{{4}})",
    "5 digits, or Alpha-5: a capital letter other than I and O, then 4 digits",
)
_ANGLE = _right_justified(3) + r"\.[0-9]{4}"
_ANGLE_EXPECTED = "degrees as 'ddd.dddd' (right-justified, no sign)"
_EXP = r"[ +-][0-9]{5}[+-][0-9]"
_EXP_EXPECTED = "sign or blank, 5 digits, exponent sign and digit, e.g. ' 12345-4'"

_LINE1 = (
    _Field(1, 1, "line number", "1", "'1'"),
    _Field(2, 2, "column 2", " ", _BLANK),
    _SATNUM,
    _Field(8, 8, "classification", "[UCS ]", "U, C or S"),
    _Field(9, 9, "column 9", " ", _BLANK),
    _Field(
        10,
        17,
        "international designator",
        r"(?:[0-9]{5}(?:[A-Z]{3}|[A-Z]{2} |[A-Z]  )| {8})",
        "2-digit year, 3-digit launch number, 1-3 capital letters (or all blank)",
    ),
    _Field(18, 18, "column 18", " ", _BLANK),
    _Field(19, 20, "epoch year", "[0-9]{2}", "2 digits"),
    _Field(21, 32, "epoch day", _right_justified(3) + r"\.[0-9]{8}", "day of year 'ddd.dddddddd'"),
    _Field(33, 33, "column 33", " ", _BLANK),
    _Field(
        34,
        43,
        "mean motion derivative",
        r"[ +-]\.[0-9]{8}",
        "sign or blank, '.', 8 digits, e.g. '-.00002182'",
    ),
    _Field(44, 44, "column 44", " ", _BLANK),
    _Field(45, 52, "mean motion second derivative", _EXP, _EXP_EXPECTED),
    _Field(53, 53, "column 53", " ", _BLANK),
    _Field(54, 61, "drag term (B*)", _EXP, _EXP_EXPECTED),
    _Field(62, 62, "column 62", " ", _BLANK),
    _Field(63, 63, "ephemeris type", "[0-9 ]", "a digit (0)"),
    _Field(64, 64, "column 64", " ", _BLANK),
    _Field(65, 68, "element set number", _right_justified(4), "up to 4 digits, right-justified"),
    _Field(69, 69, "checksum", "[0-9]", "a digit"),
)
_LINE2 = (
    _Field(1, 1, "line number", "2", "'2'"),
    _Field(2, 2, "column 2", " ", _BLANK),
    _SATNUM,
    _Field(8, 8, "column 8", " ", _BLANK),
    _Field(9, 16, "inclination", _ANGLE, _ANGLE_EXPECTED),
    _Field(17, 17, "column 17", " ", _BLANK),
    _Field(18, 25, "right ascension of the ascending node", _ANGLE, _ANGLE_EXPECTED),
    _Field(26, 26, "column 26", " ", _BLANK),
    _Field(27, 33, "eccentricity", "[0-9]{7}", "7 digits (a leading '0.' is implied)"),
    _Field(34, 34, "column 34", " ", _BLANK),
    _Field(35, 42, "argument of perigee", _ANGLE, _ANGLE_EXPECTED),
    _Field(43, 43, "column 43", " ", _BLANK),
    _Field(44, 51, "mean anomaly", _ANGLE, _ANGLE_EXPECTED),
    _Field(52, 52, "column 52", " ", _BLANK),
    _Field(
        53,
        63,
        "mean motion",
        _right_justified(2) + r"\.[0-9]{8}",
        "revolutions per day as 'dd.dddddddd' (no sign)",
    ),
    _Field(64, 68, "revolution number", _right_justified(5), "up to 5 digits, right-justified"),
    _Field(69, 69, "checksum", "[0-9]", "a digit"),
)
_LINE_RE = {
    "1": re.compile("".join(f.pattern for f in _LINE1)),
    "2": re.compile("".join(f.pattern for f in _LINE2)),
}
_FIELDS = {"1": _LINE1, "2": _LINE2}
_FIELD_RE = {id(f): re.compile(f.pattern) for f in _LINE1 + _LINE2}

# Anything but printable characters and line ends: tabs, control characters, a lone CR.
_BAD_CHAR = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)")


def _columns(f: _Field) -> str:
    return f"column {f.first}" if f.first == f.last else f"columns {f.first}-{f.last}"


def _format_error(line: str, which: str, source: str, lineno: int) -> InputError:
    """The first field of ``line`` that does not match the format (the line does not)."""
    for f in _FIELDS[which]:
        text = line[f.first - 1 : f.last]
        if not _FIELD_RE[id(f)].fullmatch(text):
            what = f.name if f.name.startswith("column") else f"{f.name} ({_columns(f)})"
            return InputError(
                f"{what} of TLE line {which} is {quote(text)}, expected {f.expected}",
                source=source,
                line=lineno,
            )
    return InputError(f"TLE line {which} does not match the format", source=source, line=lineno)


def _check_line(line: str, expected: str, source: str, lineno: int, verify: bool = True) -> None:
    """Length, format of every field and (if ``verify``) the checksum of one TLE line."""
    if len(line) < 69:
        raise InputError(
            f"TLE line {expected} is {len(line)} characters long, expected 69",
            source=source,
            line=lineno,
        )
    if line[0] != expected or line[1] != " ":
        raise InputError(
            f"expected TLE line {expected} (starting '{expected} '), got {quote(line, 20)}",
            source=source,
            line=lineno,
        )
    if len(line) > 69:
        raise InputError(
            f"TLE line {expected} has characters past column 69: {quote(line[69:])}, "
            "expected 69 columns",
            source=source,
            line=lineno,
        )
    if not _LINE_RE[expected].fullmatch(line):
        raise _format_error(line, expected, source, lineno)
    if not verify:
        return
    want = tle_checksum(line)
    if int(line[68]) != want:
        raise InputError(
            f"TLE checksum is {line[68]}, but the line's digits sum to {want} (mod 10): "
            "the line is corrupted",
            source=source,
            line=lineno,
        )


def _check_values_line1(line: str, source: str, lineno: int) -> None:
    """Epoch day within its year (the format has already been checked)."""
    yy = int(line[18:20])
    year = 1900 + yy if yy >= 57 else 2000 + yy
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 366 if leap else 365
    day = float(line[20:32])
    if not 1.0 <= day < days + 1.0:
        raise InputError(
            f"epoch day (columns 21-32) of TLE line 1 is {line[20:32].strip()}, expected "
            f"1 <= day < {days + 1} in {year}",
            source=source,
            line=lineno,
        )


def _check_values_line2(line: str, source: str, lineno: int) -> None:
    """Angles and mean motion in range (the format has already been checked)."""
    incl = float(line[8:16])
    if incl > 180.0:
        raise InputError(
            f"inclination (columns 9-16) of TLE line 2 is {incl:g} deg, expected 0 to 180",
            source=source,
            line=lineno,
        )
    for name, cols in (
        ("right ascension of the ascending node (columns 18-25)", slice(17, 25)),
        ("argument of perigee (columns 35-42)", slice(34, 42)),
        ("mean anomaly (columns 44-51)", slice(43, 51)),
    ):
        value = float(line[cols])
        if value >= 360.0:
            raise InputError(
                f"{name} of TLE line 2 is {value:g} deg, expected 0 <= angle < 360",
                source=source,
                line=lineno,
            )
    n = float(line[52:63])
    if not 0.0 < n < MAX_MEAN_MOTION_REV_PER_DAY:
        raise InputError(
            f"mean motion (columns 53-63) of TLE line 2 is {n:g} rev/day, expected "
            f"0 < n < {MAX_MEAN_MOTION_REV_PER_DAY:.2f} (larger puts the orbit inside the Earth)",
            source=source,
            line=lineno,
        )


def catalogue_number(field_text: str) -> int:
    """The satellite number of a TLE catalogue-number field (5 digits or Alpha-5).

    >>> catalogue_number("25544"), catalogue_number("A0000"), catalogue_number("Z9999")
    (25544, 100000, 339999)
    """
    return from_alpha5(field_text.strip())


def _check_bad_characters(text: str, source: str) -> None:
    m = _BAD_CHAR.search(text)
    if m is None:
        return
    lineno = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    what = "a tab" if m.group() == "\t" else f"the control character {m.group()!r}"
    raise InputError(
        f"column {column} holds {what}; expected printable characters (TLE columns are "
        "fixed-width, separated by spaces)",
        source=source,
        line=lineno,
    )


@dataclass
class TLECatalogue:
    """Satellites read from TLEs (or OMM), in file order.

    ``satrecs`` are ready-to-propagate :class:`sgp4.api.Satrec` objects; ``lines`` keeps the
    original (line1, line2) text so the catalogue can be written back unchanged (for OMM
    input, the lines that :func:`sgp4.exporter.export_tle` makes of the elements).
    """

    names: list[str]
    satrecs: list[Satrec]
    lines: list[tuple[str, str]] = field(default_factory=list)
    source: str = "<text>"
    grid: tuple[int, int] | None = None
    """``(planes, sats per plane)`` of Hypatia's ``"<planes> <sats>"`` header line, if the file
    has one: satellite ``sid`` (file order) is in plane ``sid // sats``, slot ``sid % sats``."""

    def __len__(self) -> int:
        return len(self.satrecs)

    def subset(self, indices: Iterable[int]) -> TLECatalogue:
        """A new catalogue with only the satellites at ``indices`` (in that order)."""
        idx = list(indices)
        return TLECatalogue(
            [self.names[i] for i in idx],
            [self.satrecs[i] for i in idx],
            [self.lines[i] for i in idx] if self.lines else [],
            self.source,
        )


def gravity_model(gravity: str):
    """The sgp4 gravity constant set (``WGS72`` or ``WGS84``, case-insensitive)."""
    if gravity.upper() not in _GRAVITY:
        raise InputError(f"unknown gravity model {gravity!r}; expected WGS72 or WGS84")
    return _GRAVITY[gravity.upper()]


def _parse_pair(
    line: str, line2: str, whichconst, source: str, lineno: int, verify_checksum: bool
) -> Satrec:
    """Check both lines of one satellite and parse them (``lineno`` is line 1's number)."""
    _check_line(line, "1", source, lineno, verify_checksum)
    _check_line(line2, "2", source, lineno + 1, verify_checksum)
    _check_values_line1(line, source, lineno)
    _check_values_line2(line2, source, lineno + 1)
    if catalogue_number(line[2:7]) != catalogue_number(line2[2:7]):
        raise InputError(
            f"TLE line 2 is for satellite {line2[2:7].strip()!r} but line 1 is for "
            f"{line[2:7].strip()!r}",
            source=source,
            line=lineno + 1,
        )
    try:
        sat = Satrec.twoline2rv(line, line2, whichconst)
    except (ValueError, IndexError) as exc:  # the sgp4 parser's own complaints
        raise InputError(
            f"TLE lines cannot be parsed: {quote(str(exc))}", source=source, line=lineno
        ) from None
    if sat.error != 0:
        raise InputError(
            f"TLE elements are invalid (sgp4 error {sat.error})", source=source, line=lineno
        )
    return sat


def parse_tle_text(
    text: str, *, source: str = "<text>", gravity: str = "WGS72", verify_checksum: bool = True
) -> TLECatalogue:
    """Parse TLE text (2- or 3-line format, classification U, C or S).

    Blank lines are skipped.  A name line is any line that does not start with ``"1 "`` or
    ``"2 "``; a leading ``"0 "`` (CelesTrak's 3LE style) is stripped.  Hypatia's files start with
    a ``"<planes> <sats>"`` header line, which is also accepted and ignored.  Lines end with LF
    or CRLF; trailing blanks are ignored.  See the module docstring for what is checked.
    """
    whichconst = gravity_model(gravity)
    _check_bad_characters(text, source)
    raw = text.split("\n")
    names: list[str] = []
    satrecs: list[Satrec] = []
    lines: list[tuple[str, str]] = []
    first_line_of: dict[int, int] = {}  # catalogue number -> line number of its line 1
    pending_name: str | None = None
    grid: tuple[int, int] | None = None
    grid_line = pending_line = 0
    i = 0
    n = len(raw)
    while i < n:
        line = raw[i].rstrip(" \r")
        lineno = i + 1
        if not line.strip():
            i += 1
            continue
        if line.startswith("1 ") and len(line) >= 60:
            if i + 1 >= n or not raw[i + 1].strip(" \r"):
                raise InputError(
                    "TLE line 1 has no line 2 after it (file truncated?)",
                    source=source,
                    line=lineno,
                )
            line2 = raw[i + 1].rstrip(" \r")
            sat = _parse_pair(line, line2, whichconst, source, lineno, verify_checksum)
            name = pending_name if pending_name is not None else line[2:7].strip()
            first = first_line_of.setdefault(sat.satnum, lineno)
            if first != lineno:
                raise InputError(
                    f"satellite {line[2:7].strip()} ({quote(name)}) appears twice: on line "
                    f"{first} and on line {lineno}; expected each catalogue number once",
                    source=source,
                    line=lineno,
                )
            names.append(name)
            satrecs.append(sat)
            lines.append((line, line2))
            pending_name = None
            i += 2
            continue
        if line.startswith("2 ") and len(line) >= 60:
            raise InputError("TLE line 2 without a line 1 before it", source=source, line=lineno)
        if pending_name is not None:
            # Two name lines in a row means the element lines of the first are missing.
            if not (len(names) == 0 and len(satrecs) == 0 and _is_hypatia_header(pending_name)):
                raise InputError(
                    f"expected TLE line 1 after the name {quote(pending_name)}, got {quote(line)}",
                    source=source,
                    line=lineno,
                )
            grid = (int(pending_name.split()[0]), int(pending_name.split()[1]))
            grid_line = pending_line
        name = line.strip()
        if name.startswith("0 "):
            name = name[2:].strip()
        pending_name, pending_line = name, lineno
        i += 1
    if pending_name is not None and not (not satrecs and _is_hypatia_header(pending_name)):
        raise InputError(
            f"the file ends after the name {quote(pending_name)} with no element lines",
            source=source,
            line=_last_nonblank_line(raw),
        )
    if grid is not None and grid[0] * grid[1] != len(satrecs):
        raise InputError(
            f"Hypatia's header line says {grid[0]} planes x {grid[1]} satellites = "
            f"{grid[0] * grid[1]}, but the file holds {len(satrecs)} satellites",
            source=source,
            line=grid_line,
        )
    return TLECatalogue(names, satrecs, lines, source, grid)


def _last_nonblank_line(raw: list[str]) -> int:
    for k in range(len(raw), 0, -1):
        if raw[k - 1].strip():
            return k
    return len(raw)


def _is_hypatia_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def read_tle(path: str | os.PathLike, *, gravity: str = "WGS72") -> TLECatalogue:
    """Read a file of element sets: TLEs, or OMM as JSON, CSV or XML.

    The format is told from the content: a first non-blank character ``[`` or ``{`` is OMM
    JSON, ``<`` OMM XML, a first line naming ``NORAD_CAT_ID`` among commas OMM CSV (see
    :mod:`leosim.omm`); anything else is read as TLEs (:func:`parse_tle_text`), unless the
    file name ends in ``.json``, ``.csv`` or ``.xml``.
    """
    from . import omm  # omm builds on this module
    from ._io import read_bytes

    p = Path(path)
    # Regular files only, opened without blocking and size-checked first: a FIFO, a device
    # such as /dev/zero or a huge file is one error line, not a hang.
    data = read_bytes(p, what="element set file")
    fmt = omm.detect_format(data)
    suffix = Path(p.stem).suffix if p.suffix.lower() == ".gz" else p.suffix
    if fmt == "tle" and suffix.lower() in (".json", ".csv", ".xml"):
        fmt = suffix.lower()[1:]
    if fmt != "tle":
        cat = omm.parse_omm_bytes(data, fmt, source=str(p), gravity=gravity)
    else:
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            lineno = data[: exc.start].count(b"\n") + 1
            raise InputError("TLE file has a non-ASCII byte", source=p, line=lineno) from None
        # Universal newlines, as text-mode reading would give.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        cat = parse_tle_text(text, source=str(p), gravity=gravity)
    if len(cat) == 0:
        raise InputError(
            f"no {'TLEs' if fmt == 'tle' else 'OMM records'} found in the file", source=p
        )
    return cat


def median_epoch_jd(
    cat: TLECatalogue, *, outlier_days: float = EPOCH_OUTLIER_DAYS, stacklevel: int = 2
) -> float:
    """Median element epoch of a catalogue, Julian date (UTC).

    Satellites whose epoch is more than ``outlier_days`` from the median get an
    :class:`EpochOutlierWarning` naming them: SGP4 elements are accurate for days around their
    epoch, so a stale (or far-future) element set gives a position far from the truth.
    """
    jd = np.array([s.jdsatepoch + s.jdsatepochF for s in cat.satrecs], dtype=np.float64)
    median = float(np.median(jd))
    far = np.flatnonzero(np.abs(jd - median) > outlier_days)
    if far.size:
        shown = ", ".join(
            f"{quote(cat.names[i], 24)} ({_iso_date(jd[i])}, {jd[i] - median:+.0f} d)"
            for i in far[:5]
        )
        more = f" and {far.size - 5} more" if far.size > 5 else ""
        warnings.warn(
            f"{cat.source}: {far.size} of {len(jd)} satellites have element epochs more than "
            f"{outlier_days:g} days from the median epoch {_iso_date(median)}: {shown}{more}; "
            "their positions will be inaccurate",
            EpochOutlierWarning,
            stacklevel=stacklevel,
        )
    return median


def _iso_date(jd: float) -> str:
    """UTC date of a Julian date, ISO 8601 (``YYYY-MM-DD``)."""
    return (
        (datetime(2000, 1, 1, 12, tzinfo=UTC) + timedelta(days=jd - 2451545.0)).date().isoformat()
    )


def satrec_to_lines(sat: Satrec) -> tuple[str, str]:
    """The two TLE lines of a Satrec (built from text, from OMM or with ``sgp4init``).

    These are :func:`sgp4.exporter.export_tle`'s lines with three repairs, so that every line
    written reads back: a drag term below 1e-10 (which the exporter writes as ``10000e-13``)
    is written with the exponent -9 and leading zeros; an angle that rounds to ``360.0000`` is
    written as ``0.0000``; an epoch that rounds up past the end of its year moves to day 1 of
    the next year.
    """
    l1, l2 = export_tle(sat)
    if len(l1) != 69:
        nddot = sat.nddot * (1440.0 / (2.0 * math.pi)) * 1440.0 * 1440.0
        l1 = l1[:44] + _assumed_point(nddot) + " " + _assumed_point(sat.bstar) + l1[-8:]
    yy, day = int(l1[18:20]), float(l1[20:32])
    year = 1900 + yy if yy >= 57 else 2000 + yy
    days = 366 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 365
    if day >= days + 1.0:
        l1 = l1[:18] + f"{(yy + 1) % 100:02d}{day - days:012.8f}" + l1[32:]
    for first in (18, 35, 44):  # node, argument of perigee, mean anomaly
        if l2[first - 1 : first + 7] == "360.0000":
            l2 = l2[: first - 1] + "  0.0000" + l2[first + 7 :]
    return l1[:68] + str(tle_checksum(l1)), l2[:68] + str(tle_checksum(l2))


def _assumed_point(x: float) -> str:
    """A TLE drag-term field: ``-0.12345e-4`` as ``'-12345-4'`` (|x| < 1e9)."""
    sign = "-" if x < 0 else " "
    if x == 0.0:
        return " 00000-0"
    exp = math.floor(math.log10(abs(x))) + 1  # abs(x) = 0.mmmmm * 10**exp
    exp = max(exp, -9)  # smaller values get leading zeros
    digits = round(abs(x) / 10.0**exp * 1e5)
    if digits >= 100000:
        digits, exp = digits // 10, exp + 1
    if digits == 0:
        return " 00000-0"
    if exp > 9:
        raise InputError(f"a drag term of {x:g} does not fit a TLE field (at most 0.99999e9)")
    return f"{sign}{digits:05d}{'-' if exp < 0 else '+'}{abs(exp)}"


def write_tle(
    path: str | os.PathLike,
    names: Sequence[str],
    satrecs: Sequence[Satrec],
    *,
    header: str | None = None,
) -> None:
    """Write satellites as a 3-line TLE file, atomically (temporary file, then rename).

    ``header`` is an optional first line, e.g. ``"72 22"`` for Hypatia's format.
    """
    p = Path(path)
    out = [header] if header is not None else []
    for name, sat in zip(names, satrecs, strict=True):
        l1, l2 = satrec_to_lines(sat)
        out.extend([name, l1, l2])
    atomic_write_text(p, "\n".join(out) + "\n")


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
