"""Reading input files safely: one helper for every reader (TOML, CSV, TLE).

:func:`read_text` refuses what is not a regular file (a folder, a FIFO that would block, an
endless device such as ``/dev/zero``) before reading it, refuses files larger than a generous
limit, accepts a UTF-8 byte-order mark, and names the line and byte of any byte that is not
UTF-8.  Every failure is one :class:`~leosim.errors.InputError` line naming the file.

>>> import tempfile, os
>>> with tempfile.NamedTemporaryFile("wb", suffix=".csv", delete=False) as f:
...     _ = f.write(b"\\xef\\xbb\\xbfgid,name\\n0,a\\n")
>>> read_text(f.name)
'gid,name\\n0,a\\n'
>>> os.unlink(f.name)
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import zlib
from pathlib import Path
from typing import Any

from .errors import InputError, shorten

MAX_FILE_MB_ENV = "LEOSIM_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 512
"""Largest input file read, MiB (after decompression); ``LEOSIM_MAX_FILE_MB`` overrides it.
A Starlink TLE catalogue is ~2 MiB and 100,000 stations ~5 MiB."""

__all__ = ["max_file_bytes", "parse_number", "read_bytes", "read_text", "read_toml"]

_NUMBER = re.compile(
    r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I
)


def parse_number(text: str) -> float:
    """A number written in ASCII (``12.5``, ``-3e4``; ``nan``/``inf`` for the range checks to
    refuse).  Unlike ``float``, refuses ``1_000`` and non-ASCII digits such as ``١٢``, which a
    data file would only hold by mistake; raises ``ValueError``."""
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        raise ValueError(f"not a number: {t!r}")
    return float(t)


def max_file_bytes() -> int:
    """The size limit of input files, bytes (``LEOSIM_MAX_FILE_MB`` or 512 MiB)."""
    raw = os.environ.get(MAX_FILE_MB_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_MAX_FILE_MB * 2**20
    try:
        mb = float(raw)
    except ValueError:
        mb = float("nan")
    if not (mb > 0 and mb < 2**40):
        raise InputError(
            f"must be a positive number of MiB, got {shorten(raw)!r}", key=MAX_FILE_MB_ENV
        )
    return int(mb * 2**20)


def file_kind(mode: int) -> str:
    """What an ``os.stat`` mode names, for messages: "a folder", "a FIFO (named pipe)", ..."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISLNK(mode):  # from os.lstat
        return "a symbolic link"
    return "not a regular file"


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def read_bytes(path: str | Path, *, what: str = "input file") -> bytes:
    """The bytes of a regular file (``.gz`` files decompressed), at most :func:`max_file_bytes`.

    The file is opened without blocking (a FIFO with no writer would block an ordinary open)
    and checked with ``fstat`` before anything is read.
    """
    p = Path(path)
    limit = max_file_bytes()
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise InputError(f"cannot read {what}: file not found", source=p) from None
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a folder, not a file", source=p) from None
    except OSError as exc:
        raise InputError(f"cannot open {what}: {exc.strerror}", source=p) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(
                f"cannot read {what}: it is {file_kind(st.st_mode)}, not a regular file", source=p
            )
        if st.st_size > limit:
            raise InputError(
                f"{what} is {_mib(st.st_size)}, more than the {_mib(limit)} allowed "
                f"(set {MAX_FILE_MB_ENV} to raise the limit)",
                source=p,
            )
        chunks = []
        total = 0
        while True:
            b = os.read(fd, min(1 << 22, limit + 1 - total))
            if not b:
                break
            chunks.append(b)
            total += len(b)
            if total > limit:  # the file grew while being read
                raise InputError(
                    f"{what} is more than the {_mib(limit)} allowed (set {MAX_FILE_MB_ENV})",
                    source=p,
                )
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", source=p) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if p.suffix == ".gz":
        data = _gunzip(data, limit, p, what)
    return data


def _gunzip(data: bytes, limit: int, p: Path, what: str) -> bytes:
    d = zlib.decompressobj(wbits=31)  # gzip header
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InputError(f"{what} is not valid gzip: {exc}", source=p) from None
    if len(out) > limit:
        raise InputError(
            f"{what} decompresses to more than the {_mib(limit)} allowed (set {MAX_FILE_MB_ENV})",
            source=p,
        )
    if not d.eof:
        raise InputError(f"{what} is a truncated gzip file", source=p)
    return out


def decode_utf8(data: bytes, *, source: str | Path, what: str = "input file") -> str:
    """UTF-8 text (a leading byte-order mark dropped); a bad byte or a NUL (binary data,
    UTF-16) is located by line and byte offset."""
    nul = data.find(b"\x00")
    if nul >= 0:  # binary data, or UTF-16: no text file of ours holds a NUL
        raise InputError(
            f"{what} is not text: a NUL byte at byte offset {nul}",
            source=source,
            line=data.count(b"\n", 0, nul) + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{what} is not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset "
            f"{exc.start} ({exc.reason})",
            source=source,
            line=line,
        ) from None


def read_text(path: str | Path, *, what: str = "input file") -> str:
    """The text of a regular UTF-8 file (see :func:`read_bytes` and :func:`decode_utf8`).

    Line ends are kept as they are; CSV readers must use ``newline=""`` semantics.
    """
    return decode_utf8(read_bytes(path, what=what), source=Path(path), what=what)


def read_toml(path: str | Path, *, what: str = "TOML file") -> dict[str, Any]:
    """A TOML file as a dict; syntax errors name the line."""
    p = Path(path)
    text = read_text(p, what=what)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r" \(at line (\d+), column \d+\)$", str(exc))
        line = getattr(exc, "lineno", None) or (int(m.group(1)) if m else None)
        msg = getattr(exc, "msg", None) or (str(exc)[: m.start()] if m else str(exc))
        raise InputError(f"not valid TOML: {shorten(msg, 120)}", source=p, line=line) from None
    except RecursionError:
        raise InputError("not valid TOML: nested too deeply", source=p) from None
