"""Up-front size checks: refuse a run that cannot fit in memory (or finish) before it starts.

Every command estimates what its largest arrays need from the sizes it was given (stations,
satellites, terminals, time steps) and calls :func:`check_memory`, which refuses the run with
the estimate and the limit, e.g. ``[ground_stations.file] routing 100,000 stations needs about
75.3 GiB of memory, more than the limit of 12.8 GiB (80% of this machine's 16.0 GiB); set
LEOSIM_MAX_MEMORY_GB to change it``.  :func:`check_time` does the same with a lower bound of the
run time.

Limits: ``LEOSIM_MAX_MEMORY_GB`` (default: 80% of the physical memory) and
``LEOSIM_MAX_HOURS`` (default: 24 hours of estimated run time).

>>> format_bytes(3 * 2**30)
'3.0 GiB'
"""

from __future__ import annotations

import math
import os

from .errors import InputError, shorten

MEMORY_ENV = "LEOSIM_MAX_MEMORY_GB"
LEGACY_MEMORY_ENV = "LEOSIM_MEMORY_BUDGET_GIB"
"""Also honoured (the capacity module's per-array budget variable)."""
HOURS_ENV = "LEOSIM_MAX_HOURS"
DEFAULT_MEMORY_SHARE = 0.8
DEFAULT_MAX_HOURS = 24.0

TERMINAL_BYTES = 400
"""Memory per user terminal outside the per-step arrays (id string, position, country, weight,
sampling scratch, report tables): a generous figure from the arrays of
:class:`leosim.ground_segment.Terminals` and :func:`leosim.service.evaluate`."""
TERMINAL_STEP_BYTES = 16
"""Memory per terminal and time step in :func:`leosim.service.evaluate` (RTT float32, gateway
int32, and the copies its statistics make)."""
ROUTE_ROW_BYTES = 32
"""Memory per pair and step of routes held in memory (4 columns of 8 bytes): a whole window
for :func:`leosim.simulate.run_pairs`, only the chunks in flight for ``leosim run``, whose
merge streams (:func:`routing_time_s`, :data:`RTT_PLOT_STEP_BYTES`)."""
RTT_PLOT_STEP_BYTES = 1024
"""Memory per time step of ``rtt.png`` (up to 12 lines of two float64 each, or five
percentiles, and matplotlib's paths and drawing of them), generous."""

SECONDS_PER_SAT_STEP = 5e-7
"""Lower bound of the time per satellite and step of a routing run (SGP4, links, trees to a few
stations): measured 2.3-3.1 µs on one core of the project's 2-core machine (Hypatia's 1,584
and Starlink Gen1's 4,408 satellites, 100 stations)."""
SECONDS_PER_TREE_NODE = 2e-8
"""Lower bound of the time per shortest-path tree and graph node: measured 0.2 µs (Gen1 with
1,000 stations and full forwarding state, 5.4 million tree nodes a step)."""


def format_bytes(n: float) -> str:
    """Bytes in binary units, e.g. ``'75.3 GiB'``."""
    if not math.isfinite(n):
        return f"{n} bytes"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size or unit == "MiB":
            return f"{n / size:,.1f} {unit}"
    return f"{n:,.0f} bytes"  # pragma: no cover


def _physical_memory_bytes() -> float | None:
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return None


def _env_number(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not (v > 0 and math.isfinite(v)):
        raise InputError(f"must be a positive number, got {shorten(raw)!r}", key=name)
    return v


def memory_limit() -> tuple[float, str]:
    """The memory limit in bytes, and how it was set (for messages)."""
    for name in (MEMORY_ENV, LEGACY_MEMORY_ENV):
        gb = _env_number(name)
        if gb is not None:
            return gb * 2**30, f"{name} = {gb:g}"
    phys = _physical_memory_bytes()
    if phys is None:  # pragma: no cover
        return math.inf, "no limit"
    share = DEFAULT_MEMORY_SHARE
    return share * phys, f"{share:.0%} of this machine's {format_bytes(phys)}"


def check_memory(
    need_bytes: float,
    what: str,
    *,
    source: str | None = None,
    line: int | None = None,
    key: str | None = None,
    limit_bytes: float | None = None,
) -> None:
    """Refuse (:class:`InputError`) when ``need_bytes`` exceeds the memory limit
    (:func:`memory_limit`, or ``limit_bytes`` when given).

    ``what`` says what needs the memory, e.g. ``"routing 100,000 stations"``.
    """
    if limit_bytes is None:
        limit, how = memory_limit()
    else:
        limit, how = float(limit_bytes), "given"
    if need_bytes > limit:
        raise InputError(
            f"{what} needs about {format_bytes(need_bytes)} of memory, more than the limit of "
            f"{format_bytes(limit)} ({how}); make it smaller, or set {MEMORY_ENV} to change the "
            "limit",
            source=source,
            line=line,
            key=key,
        )


def check_time(
    seconds: float,
    what: str,
    *,
    source: str | None = None,
    key: str | None = None,
) -> None:
    """Refuse (:class:`InputError`) when a lower bound of the run time exceeds the time limit."""
    hours = _env_number(HOURS_ENV)
    limit_h = DEFAULT_MAX_HOURS if hours is None else hours
    if seconds > limit_h * 3600:
        raise InputError(
            f"{what} would take at least {seconds / 3600:,.1f} hours, more than the limit of "
            f"{limit_h:g} hours; make it smaller, or set {HOURS_ENV} to change the limit",
            source=source,
            key=key,
        )


def routing_time_s(
    num_sats: int, num_nodes: int, num_dst: int, n_steps: int, workers: int
) -> float:
    """Lower bound of a routing run's time, seconds: ``n_steps`` steps of ``num_sats``
    satellites and shortest-path trees of ``num_nodes`` nodes to ``num_dst`` destinations, on
    ``workers`` workers (:data:`SECONDS_PER_SAT_STEP`, :data:`SECONDS_PER_TREE_NODE`)."""
    per_step = num_sats * SECONDS_PER_SAT_STEP + num_dst * num_nodes * SECONDS_PER_TREE_NODE
    return n_steps * per_step / max(1, workers)
