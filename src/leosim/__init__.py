"""leosim: a fast simulator for Starlink-style LEO satellite networks.

The package is laid out as the pipeline it computes::

    constellation -> orbits -> links -> routing -> policy -> analysis (coverage, capacity)
                                                         -> reports / cli

"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on first use: importing importlib.metadata costs ~30 ms, and the command
    # line installs its Ctrl-C handling only once this package is imported.
    if name != "__version__":
        raise AttributeError(f"module 'leosim' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("leosim")
    except PackageNotFoundError:  # running from a source tree that was never installed
        v = "0.0.0+unknown"
    globals()["__version__"] = v
    return v
