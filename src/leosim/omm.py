"""OMM (CCSDS Orbit Mean-elements Message) files: CelesTrak's JSON, CSV and XML layouts.

CelesTrak serves every group as TLEs or as OMM
(``https://celestrak.org/NORAD/elements/gp.php?GROUP=starlink&FORMAT=json|csv|xml``; fields
described at https://celestrak.org/NORAD/documentation/gp-data-formats.php and in CCSDS
502.0-B-3).  The keys are the CCSDS names: ``OBJECT_NAME``, ``OBJECT_ID`` (``YYYY-NNNP``),
``EPOCH`` (ISO 8601 UTC), ``MEAN_MOTION`` (rev/day), ``ECCENTRICITY``, ``INCLINATION``,
``RA_OF_ASC_NODE``, ``ARG_OF_PERICENTER``, ``MEAN_ANOMALY`` (deg), ``EPHEMERIS_TYPE``,
``CLASSIFICATION_TYPE``, ``NORAD_CAT_ID``, ``ELEMENT_SET_NO``, ``REV_AT_EPOCH``, ``BSTAR``
(1/earth radii), ``MEAN_MOTION_DOT`` (rev/day^2) and ``MEAN_MOTION_DDOT`` (rev/day^3).

Records are read with python-sgp4's :mod:`sgp4.omm` (``parse_csv``, ``parse_xml``; JSON with
:mod:`json`), every field is checked as strictly as a TLE column (type, number syntax, range,
the same limits as :mod:`leosim.tle`), and the satellite is built by
:func:`sgp4.omm.initialize`, so it propagates exactly as python-sgp4 does.  A bad record is one
:class:`~leosim.errors.InputError` naming the file, the record (and its line, for CSV and XML)
and the field.  The result is a :class:`~leosim.tle.TLECatalogue` whose ``lines`` are the TLE
lines of :func:`sgp4.exporter.export_tle`, so an OMM catalogue can be written back as TLEs.

JSON values may be numbers or strings of numbers (Space-Track writes strings); ``NaN``,
``Infinity``, booleans and nulls are rejected.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from datetime import datetime
from fractions import Fraction

from sgp4 import omm as sgp4_omm
from sgp4.api import Satrec, jday
from sgp4.exporter import export_tle

from .errors import InputError
from .tle import (
    MAX_MEAN_MOTION_REV_PER_DAY,
    QUOTE_CHARS,
    TLECatalogue,
    gravity_model,
    quote,
)

OMM_FIELDS = (
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
"""CelesTrak's OMM fields, in its column order; all but ``OBJECT_NAME`` are required."""

_REQUIRED = OMM_FIELDS[1:]
# Metadata that, when present, must say these are SGP4 mean elements.
_METADATA = {
    "CENTER_NAME": "EARTH",
    "REF_FRAME": "TEME",
    "TIME_SYSTEM": "UTC",
    "MEAN_ELEMENT_THEORY": "SGP4",
}
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_EPOCH = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?Z?"
)
_OBJECT_ID = re.compile(r"[0-9]{4}-[0-9]{3}[A-Z]{1,3}")
_MAX_SATNUM = 339999  # Alpha-5 'Z9999', the largest number a TLE line can carry

# (field, lowest, highest, highest included?, unit) of the range-checked real numbers
_RANGES = (
    ("INCLINATION", 0.0, 180.0, True, "deg"),
    ("RA_OF_ASC_NODE", 0.0, 360.0, False, "deg"),
    ("ARG_OF_PERICENTER", 0.0, 360.0, False, "deg"),
    ("MEAN_ANOMALY", 0.0, 360.0, False, "deg"),
    ("ECCENTRICITY", 0.0, 1.0, False, ""),
)
# What the TLE fields can carry (' .dddddddd' and ' ddddd+d'), so the lines can be written.
_TLE_LIMITS = {"MEAN_MOTION_DOT": 1.0, "MEAN_MOTION_DDOT": 1e9, "BSTAR": 1e9}
_INTEGERS = (
    ("EPHEMERIS_TYPE", 0, 9),
    ("ELEMENT_SET_NO", 0, 9999),
    ("REV_AT_EPOCH", 0, 99999),
    ("NORAD_CAT_ID", 0, _MAX_SATNUM),
)


def detect_format(data: bytes) -> str:
    """``"json"``, ``"xml"``, ``"csv"`` (OMM) or ``"tle"``, from the start of a file's bytes."""
    head = data[:4096].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] in (b"[", b"{"):
        return "json"
    if head[:1] == b"<":
        return "xml"
    first = head.split(b"\n", 1)[0]
    if b"," in first and b"NORAD_CAT_ID" in first.upper():
        return "csv"
    return "tle"


def parse_omm_bytes(
    data: bytes, fmt: str, *, source: str = "<omm>", gravity: str = "WGS72"
) -> TLECatalogue:
    """Parse OMM ``data`` in format ``fmt`` (``"json"``, ``"csv"`` or ``"xml"``)."""
    whichconst = gravity_model(gravity)
    readers = {"json": _json_records, "csv": _csv_records, "xml": _xml_records}
    if fmt not in readers:
        raise InputError(f"unknown OMM format {fmt!r}; expected json, csv or xml", source=source)
    names, satrecs, lines = [], [], []
    first_record_of: dict[int, str] = {}
    for where, line, rec in readers[fmt](data, source):
        label = where
        if isinstance(rec.get("OBJECT_NAME"), str) and rec["OBJECT_NAME"].strip():
            label += f" ({quote(rec['OBJECT_NAME'].strip(), 24)})"
        name, sat = _satellite(rec, whichconst, _Where(source, label, line))
        seen = first_record_of.setdefault(sat.satnum, where)
        if seen != where:
            raise InputError(
                f"{label}: satellite {sat.satnum} appears twice: in {seen} and in {where}; "
                "expected each NORAD_CAT_ID once",
                source=source,
                line=line,
            )
        names.append(name)
        satrecs.append(sat)
        lines.append(export_tle(sat))
    return TLECatalogue(names, satrecs, lines, source)


class _Where:
    """Where a record is: file, ``record N`` (1-based) and, for CSV and XML, its line."""

    def __init__(self, source: str, record: str, line: int | None) -> None:
        self.source, self.record, self.line = source, record, line

    def error(self, message: str) -> InputError:
        return InputError(f"{self.record}: {message}", source=self.source, line=self.line)


# --- the three layouts ---------------------------------------------------------------------------


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError("OMM file is not valid UTF-8", source=source, line=line) from None


def _json_records(data: bytes, source: str) -> Iterator[tuple[str, int | None, Mapping]]:
    try:
        doc = json.loads(_decode(data, source), parse_constant=float)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"OMM JSON is not valid JSON: {exc.msg} (column {exc.colno})",
            source=source,
            line=exc.lineno,
        ) from None
    if isinstance(doc, dict):
        doc = [doc]
    if not isinstance(doc, list):
        raise InputError(
            f"OMM JSON holds {_type_name(doc)}, expected a list of objects", source=source
        )
    for i, rec in enumerate(doc):
        if not isinstance(rec, dict):
            raise InputError(
                f"record {i + 1} is {_type_name(rec)}, expected an object of OMM fields",
                source=source,
            )
        yield f"record {i + 1}", None, rec


def _csv_records(data: bytes, source: str) -> Iterator[tuple[str, int | None, Mapping]]:
    reader = sgp4_omm.parse_csv(io.StringIO(_decode(data, source), newline=""))
    try:
        header = reader.fieldnames or []
        missing = [k for k in _REQUIRED if k not in header]
        if missing:
            raise InputError(
                f"OMM CSV header lacks {', '.join(missing)}; expected CelesTrak's columns "
                f"{','.join(OMM_FIELDS)}",
                source=source,
                line=1,
            )
        for k, row in enumerate(reader):
            where = f"record {k + 1}"
            if None in row:
                raise InputError(
                    f"{where} has {len(header) + len(row[None])} values, expected "
                    f"{len(header)} (one per header column)",
                    source=source,
                    line=reader.line_num,
                )
            short = [key for key, value in row.items() if value is None]
            if short:
                raise InputError(
                    f"{where} has {len(header) - len(short)} values, expected {len(header)} "
                    f"(one per header column; {short[0]} is missing)",
                    source=source,
                    line=reader.line_num,
                )
            yield where, reader.line_num, row
    except csv.Error as exc:
        raise InputError(
            f"OMM CSV cannot be read: {exc}", source=source, line=reader.line_num
        ) from None


def _xml_records(data: bytes, source: str) -> Iterator[tuple[str, int | None, Mapping]]:
    if re.search(rb"<!(?:DOCTYPE|ENTITY)", data):
        raise InputError(
            "OMM XML with a DOCTYPE or entity declarations is not accepted", source=source
        )
    seg_lines = [data[: m.start()].count(b"\n") + 1 for m in re.finditer(rb"<segment[\s>]", data)]
    records = sgp4_omm.parse_xml(io.BytesIO(data))
    k = 0
    while True:
        line = seg_lines[k] if k < len(seg_lines) else None
        try:
            rec = next(records)
        except StopIteration:
            break
        except ET.ParseError as exc:
            raise InputError(
                f"OMM XML is not well-formed: {exc}", source=source, line=exc.position[0]
            ) from None
        except (AttributeError, TypeError):  # a segment without metadata, data or their parts
            raise InputError(
                f"segment {k + 1}: expected <metadata> and <data> holding <meanElements> and "
                "<tleParameters>",
                source=source,
                line=line,
            ) from None
        k += 1
        yield f"record {k}", line, rec
    if k == 0 and seg_lines:
        raise InputError(
            "no OMM <segment> found outside an XML namespace; expected CelesTrak's NDM/OMM XML "
            "(no xmlns=...)",
            source=source,
        )


# --- one record ----------------------------------------------------------------------------------


def _satellite(rec: Mapping, whichconst, where: _Where) -> tuple[str, Satrec]:
    """Validate one record and build its Satrec with :func:`sgp4.omm.initialize`."""
    fields = _validated_fields(rec, where)
    sat = Satrec()
    try:
        sgp4_omm.initialize(sat, fields, whichconst)
    except (ValueError, KeyError, TypeError) as exc:
        raise where.error(f"sgp4 cannot use the elements: {quote(str(exc))}") from None
    if sat.error != 0:
        raise where.error(f"the elements are invalid (sgp4 error {sat.error})")
    sat.jdsatepoch, sat.jdsatepochF = _epoch_jd(fields["EPOCH"])
    name = rec.get("OBJECT_NAME")
    if name is None or (isinstance(name, str) and not name.strip()):
        name = fields["NORAD_CAT_ID"]
    elif not isinstance(name, str):
        raise where.error(f"OBJECT_NAME is {_show(name)}, expected a string")
    return name.strip(), sat


def _validated_fields(rec: Mapping, where: _Where) -> dict[str, str]:
    """The fields :func:`sgp4.omm.initialize` reads, checked and as normalised strings."""
    for key, want in _METADATA.items():
        value = rec.get(key)
        if value not in (None, "") and (not isinstance(value, str) or value.strip() != want):
            raise where.error(f"{key} is {_show(value)}, expected {want}")
    out: dict[str, str] = {}
    for key in ("MEAN_MOTION", "BSTAR", "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT"):
        out[key] = repr(_real(rec, key, where))
    for key, limit in _TLE_LIMITS.items():
        if not abs(float(out[key])) < limit:
            raise where.error(
                f"{key} is {out[key]}, expected |value| < {limit:g} (the TLE field's range)"
            )
    n = float(out["MEAN_MOTION"])
    if not 0.0 < n < MAX_MEAN_MOTION_REV_PER_DAY:
        raise where.error(
            f"MEAN_MOTION is {n:g} rev/day, expected 0 < n < {MAX_MEAN_MOTION_REV_PER_DAY:.2f} "
            "(larger puts the orbit inside the Earth)"
        )
    for key, lo, hi, hi_ok, unit in _RANGES:
        x = _real(rec, key, where)
        if not (lo <= x <= hi if hi_ok else lo <= x < hi):
            bound = f"{lo:g} to {hi:g}" if hi_ok else f"{lo:g} <= value < {hi:g}"
            raise where.error(f"{key} is {x:g}{' ' + unit if unit else ''}, expected {bound}")
        out[key] = repr(x)
    for key, lo, hi in _INTEGERS:
        out[key] = str(_integer(rec, key, lo, hi, where))
    out["EPOCH"] = _epoch(rec, where)
    out["CLASSIFICATION_TYPE"] = _choice(rec, "CLASSIFICATION_TYPE", ("U", "C", "S"), where)
    out["OBJECT_ID"] = _object_id(rec, where)
    return out


def _present(rec: Mapping, key: str, where: _Where):
    value = rec.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise where.error(f"{key} is {'missing' if key not in rec else 'empty'}, expected a value")
    return value


def _real(rec: Mapping, key: str, where: _Where) -> float:
    value = _present(rec, key, where)
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        x = float(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        x = float(value)
    else:
        raise where.error(f"{key} is {_show(value)}, expected a number")
    if not math.isfinite(x):
        raise where.error(f"{key} is {_show(value)}, expected a finite number")
    return x


def _integer(rec: Mapping, key: str, lo: int, hi: int, where: _Where) -> int:
    value = _present(rec, key, where)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        k = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        k = value
    else:
        raise where.error(f"{key} is {_show(value)}, expected an integer")
    if not lo <= k <= hi:
        raise where.error(f"{key} is {k}, expected an integer from {lo} to {hi}")
    return k


def _epoch(rec: Mapping, where: _Where) -> str:
    """``EPOCH`` as ``YYYY-MM-DDTHH:MM:SS.ffffff`` (what :func:`sgp4.omm.initialize` parses)."""
    value = _present(rec, "EPOCH", where)
    m = _EPOCH.fullmatch(value.strip()) if isinstance(value, str) else None
    expected = "an ISO 8601 UTC time 'YYYY-MM-DDTHH:MM:SS[.ffffff]'"
    if m is None:
        raise where.error(f"EPOCH is {_show(value)}, expected {expected}")
    try:
        dt = datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError as exc:
        raise where.error(f"EPOCH is {_show(value)}, {exc}; expected {expected}") from None
    if not 1957 <= dt.year <= 2056:
        raise where.error(
            f"EPOCH is {_show(value)}, expected a year from 1957 to 2056 (the TLE two-digit "
            "year's range)"
        )
    micro = (m.group(7) or ".0")[1:].ljust(6, "0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + micro


def _epoch_jd(epoch: str) -> tuple[float, float]:
    """Split Julian date (midnight, day fraction) of a normalised ``EPOCH``, exact to the bit.

    :func:`sgp4.omm.initialize` hands the epoch to ``sgp4init`` as one double of days since
    1949, whose 0.3 microsecond steps move a LEO satellite by up to 2 mm; a TLE's epoch is kept
    as an exact day fraction.  Setting the split date here makes OMM and TLE of the same
    elements propagate identically.
    """
    dt = datetime.strptime(epoch, "%Y-%m-%dT%H:%M:%S.%f")
    whole, _ = jday(dt.year, dt.month, dt.day, 0, 0, 0)
    micro = ((dt.hour * 60 + dt.minute) * 60 + dt.second) * 10**6 + dt.microsecond
    return whole, float(Fraction(micro, 86_400 * 10**6))


def _choice(rec: Mapping, key: str, allowed: tuple[str, ...], where: _Where) -> str:
    value = _present(rec, key, where)
    if not isinstance(value, str) or value.strip() not in allowed:
        raise where.error(f"{key} is {_show(value)}, expected one of {', '.join(allowed)}")
    return value.strip()


def _object_id(rec: Mapping, where: _Where) -> str:
    """International designator ``YYYY-NNNP`` (launch year, number and piece), or empty."""
    if "OBJECT_ID" not in rec:
        raise where.error("OBJECT_ID is missing, expected 'YYYY-NNNP' (e.g. 2019-074B)")
    value = rec["OBJECT_ID"]
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value.strip()):
        raise where.error(f"OBJECT_ID is {_show(value)}, expected 'YYYY-NNNP' (e.g. 2019-074B)")
    return value.strip()


def _show(value) -> str:
    """A field's value for a message: strings quoted and cut, other types named."""
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, bool) or value is None or isinstance(value, list | dict):
        return _type_name(value)
    return repr(value)[:QUOTE_CHARS]


def _type_name(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return "a number"
    return {list: "a list", dict: "an object", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )
