"""The command line: ``leosim`` and its sub-commands, one module per command group.

An interface, like :mod:`leosim.web`: nothing in the core imports it.  :mod:`.main` holds the
top-level commands (``run``, ``demo``, ``presets``, ``regions``, ...) and registers the groups
(:mod:`.policy`, :mod:`.coverage`, :mod:`.capacity`, :mod:`.catalogue`, :mod:`.sweep`,
:mod:`.report`, :mod:`.serve`, :mod:`.export`); :mod:`.runner` runs a scenario end to end and
writes its outputs; :mod:`._util` holds the consoles, progress bars and error line.
"""

from .main import app, main

__all__ = ["app", "main"]
