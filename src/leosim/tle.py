"""Two- and three-line element sets (TLEs): read, verify and write.

A TLE file holds one satellite per two lines (``1 ...`` / ``2 ...``), optionally preceded by a
name line (the "3-line" format).  Every line is checked: its length, its line number, that
both lines name the same catalogue number, its modulo-10 checksum, and that the `sgp4` parser
accepts it.  A broken line is an :class:`~leosim.errors.InputError` naming the file and line.

>>> from leosim.tle import parse_tle_text
>>> cat = parse_tle_text('''ISS (ZARYA)
... 1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
... 2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537
... ''')
>>> cat.names, len(cat)
(['ISS (ZARYA)'], 1)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sgp4.api import WGS72, WGS84, Satrec
from sgp4.exporter import export_tle

from .errors import InputError

_GRAVITY = {"WGS72": WGS72, "WGS84": WGS84}


def tle_checksum(line: str) -> int:
    """Modulo-10 checksum of the first 68 characters of a TLE line (a '-' counts as 1)."""
    total = 0
    for ch in line[:68]:
        if ch.isdigit():
            total += int(ch)
        elif ch == "-":
            total += 1
    return total % 10


@dataclass
class TLECatalogue:
    """Satellites read from TLEs, in file order.

    ``satrecs`` are ready-to-propagate :class:`sgp4.api.Satrec` objects; ``lines`` keeps the
    original (line1, line2) text so the catalogue can be written back unchanged.
    """

    names: list[str]
    satrecs: list[Satrec]
    lines: list[tuple[str, str]] = field(default_factory=list)
    source: str = "<text>"

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


def _check_line(line: str, expected: str, source: str, lineno: int, verify: bool = True) -> None:
    if len(line) < 69:
        raise InputError(
            f"TLE line {expected} is {len(line)} characters long, expected 69",
            source=source,
            line=lineno,
        )
    if line[0] != expected or line[1] != " ":
        raise InputError(
            f"expected TLE line {expected} (starting '{expected} '), got {line[:20]!r}",
            source=source,
            line=lineno,
        )
    if not verify:
        return
    if not line[68].isdigit():
        raise InputError(
            f"TLE checksum column 69 is {line[68]!r}, expected a digit", source=source, line=lineno
        )
    want = tle_checksum(line)
    if int(line[68]) != want:
        raise InputError(
            f"TLE checksum is {line[68]}, but the line's digits sum to {want} (mod 10): "
            "the line is corrupted",
            source=source,
            line=lineno,
        )


def parse_tle_text(
    text: str, *, source: str = "<text>", gravity: str = "WGS72", verify_checksum: bool = True
) -> TLECatalogue:
    """Parse TLE text (2- or 3-line format, classification U, C or S).

    Blank lines are skipped.  A name line is any line that does not start with ``"1 "`` or
    ``"2 "``; a leading ``"0 "`` (CelesTrak's 3LE style) is stripped.  Hypatia's files start with
    a ``"<planes> <sats>"`` header line, which is also accepted and ignored.
    """
    if gravity.upper() not in _GRAVITY:
        raise InputError(f"unknown gravity model {gravity!r}; expected WGS72 or WGS84")
    whichconst = _GRAVITY[gravity.upper()]
    raw = text.splitlines()
    names: list[str] = []
    satrecs: list[Satrec] = []
    lines: list[tuple[str, str]] = []
    pending_name: str | None = None
    i = 0
    n = len(raw)
    while i < n:
        line = raw[i].rstrip()
        lineno = i + 1
        if not line.strip():
            i += 1
            continue
        if line.startswith("1 ") and len(line) >= 60:
            if i + 1 >= n:
                raise InputError(
                    "TLE line 1 has no line 2 after it (file truncated?)",
                    source=source,
                    line=lineno,
                )
            line2 = raw[i + 1].rstrip()
            _check_line(line, "1", source, lineno, verify_checksum)
            _check_line(line2, "2", source, lineno + 1, verify_checksum)
            if line[2:7] != line2[2:7]:
                raise InputError(
                    f"TLE line 2 is for satellite {line2[2:7].strip()!r} but line 1 is for "
                    f"{line[2:7].strip()!r}",
                    source=source,
                    line=lineno + 1,
                )
            if line[7] not in "UCS ":
                raise InputError(
                    f"TLE classification is {line[7]!r}, expected U, C or S",
                    source=source,
                    line=lineno,
                )
            try:
                sat = Satrec.twoline2rv(line, line2, whichconst)
            except (ValueError, IndexError) as exc:  # the sgp4 parser's own complaints
                raise InputError(
                    f"TLE lines cannot be parsed: {exc}", source=source, line=lineno
                ) from None
            if sat.error != 0:
                raise InputError(
                    f"TLE elements are invalid (sgp4 error {sat.error})", source=source, line=lineno
                )
            names.append(pending_name if pending_name is not None else line[2:7].strip())
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
                    f"expected TLE line 1 after the name {pending_name!r}, got {line[:30]!r}",
                    source=source,
                    line=lineno,
                )
        name = line.strip()
        if name.startswith("0 "):
            name = name[2:].strip()
        pending_name = name
        i += 1
    if pending_name is not None and not (not satrecs and _is_hypatia_header(pending_name)):
        raise InputError(
            f"the file ends after the name {pending_name!r} with no element lines",
            source=source,
            line=n,
        )
    return TLECatalogue(names, satrecs, lines, source)


def _is_hypatia_header(line: str) -> bool:
    parts = line.split()
    return len(parts) == 2 and all(p.isdigit() for p in parts)


def read_tle(path: str | os.PathLike, *, gravity: str = "WGS72") -> TLECatalogue:
    """Read a TLE file.  See :func:`parse_tle_text`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="ascii", errors="strict")
    except FileNotFoundError:
        raise InputError("TLE file not found", source=p) from None
    except UnicodeDecodeError as exc:
        # Locate the offending byte's line for the message.
        data = p.read_bytes()
        lineno = data[: exc.start].count(b"\n") + 1
        raise InputError("TLE file has a non-ASCII byte", source=p, line=lineno) from None
    cat = parse_tle_text(text, source=str(p), gravity=gravity)
    if len(cat) == 0:
        raise InputError("no TLEs found in the file", source=p)
    return cat


def satrec_to_lines(sat: Satrec) -> tuple[str, str]:
    """The two TLE lines of a Satrec (built from text or with ``sgp4init``)."""
    return export_tle(sat)


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
