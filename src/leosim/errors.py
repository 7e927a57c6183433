"""Errors that leosim raises for bad input.

Every user-facing error is a :class:`LeosimError` whose message is one line naming the file,
line or key at fault and what was expected.  The CLI prints that line and exits non-zero
instead of showing a traceback.
"""

from __future__ import annotations

from pathlib import Path


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
        self.source = None if source is None else str(source)
        self.line = line
        self.key = key
        self.message = message
        where = ""
        if self.source is not None:
            where = self.source + (f":{line}" if line is not None else "") + ": "
        elif line is not None:
            where = f"line {line}: "
        if key is not None:
            where += f"[{key}] "
        super().__init__(where + message)


class PropagationWarning(UserWarning):
    """Some satellites could not be propagated (e.g. decayed orbits, SGP4 error 6)."""
