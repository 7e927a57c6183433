"""leosim: a fast simulator for Starlink-style LEO satellite networks.

The package is laid out as the pipeline it computes::

    constellation -> orbits -> links -> routing -> policy -> analysis (coverage, capacity)
                                                         -> reports / cli

"""

from __future__ import annotations

__version__ = "0.1.0"
