"""leosim: a fast simulator for Starlink-style LEO satellite networks.

The package is laid out as the pipeline it computes::

    constellation -> orbits -> links -> routing -> policy -> analysis (coverage, capacity)
                                                         -> reports / cli

"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("leosim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
