"""Errors that leosim raises for bad input.

Every user-facing error is a :class:`LeosimError` whose message is one line naming the file,
line or key at fault and what was expected.  The CLI prints that line and exits non-zero
instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path

QUOTE_LIMIT = 60
"""Most characters of a value that an error message quotes (the rest becomes "...")."""
_MESSAGE_LIMIT = 400


def shorten(text: object, limit: int = QUOTE_LIMIT) -> str:
    """``text`` on one line, cut to ``limit`` characters with ``...`` when longer.

    >>> shorten("x" * 100, 10)
    'xxxxxxx...'
    """
    s = " ".join(str(text).splitlines())
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """``repr(value)`` for an error message, cut to ``limit`` characters.

    >>> quote("a" * 100, 12)
    "'aaaaaaaa..."
    """
    return shorten(repr(value), limit)


class LeosimError(Exception):
    """Base class of every error caused by bad input or an impossible request."""


class InputError(LeosimError, ValueError):
    """Bad input, located as precisely as possible.

    >>> str(InputError("a TLE checksum is 3, expected 4", source="cat.tle", line=7))
    'cat.tle:7: a TLE checksum is 3, expected 4'
    >>> str(InputError("must be > 0, got -1", source="run.toml", key="time.step_s"))
    'run.toml: [time.step_s] must be > 0, got -1'
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.source = None if source is None else shorten(source, 200)
        self.line = line
        self.key = None if key is None else shorten(key)
        # One line, and never a whole file quoted back: long messages keep head and tail.
        message = " ".join(str(message).splitlines())
        if len(message) > _MESSAGE_LIMIT:
            half = _MESSAGE_LIMIT // 2
            message = message[: half - 3] + " ... " + message[-half + 2 :]
        self.message = message
        where = ""
        if self.source is not None:
            where = self.source + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        if self.key is not None:
            where += f"[{self.key}] "
        super().__init__(where + message)


class PropagationWarning(UserWarning):
    """Some satellites could not be propagated (e.g. decayed orbits, SGP4 error 6)."""
