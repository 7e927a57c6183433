"""Flow-level capacity allocation: who gets how many bit/s when links are shared.

A network is a set of links (integer ids ``0..n_links-1``) with a capacity each
(``capacity_bps``) and a ``kind`` (``"uplink"``, ``"downlink"``, ``"isl"``, ``"feeder"``,
``"gateway"``, ...).  A flow has a demand (``demand_bps``) and a route: the links it crosses.
Routes are held as a sparse incidence matrix ``A`` (CSR, shape ``(n_flows, n_links)``) whose
entry ``A[f, l]`` is how many times flow ``f`` crosses link ``l`` (normally 1), so the load
on the links is ``A.T @ rate``.

Two allocations are offered:

* :func:`max_min_fair` -- progressive filling (water-filling): the fair share that TCP-like
  congestion control tends towards.
* :func:`max_throughput` -- the largest total rate (a linear program solved by HiGHS),
  optionally spreading each flow over several candidate paths.

All rates are bit/s internally (names ending ``_bps``); Mbit/s and Gbit/s appear only at the
edges (configuration, CSV input, summaries) with names ending ``_mbps`` / ``_gbps``.

Example
-------
Two links (10 and 4 Gbit/s); flow 0 crosses both, flow 1 only the first, flow 2 only the
second.  Flow 0 is held to 2 Gbit/s by the second link, which leaves 8 Gbit/s for flow 1:

>>> import numpy as np
>>> A = incidence_from_paths([[0, 1], [0], [1]], n_links=2)
>>> alloc = max_min_fair(A, np.array([10e9, 4e9]), np.full(3, np.inf))
>>> (alloc.rate_bps / 1e9).round(6).tolist()
[2.0, 8.0, 2.0]
>>> alloc.bottleneck_link.tolist()
[1, 0, 1]
>>> round(max_throughput(A, np.array([10e9, 4e9]), np.full(3, np.inf)).total_rate_bps / 1e9, 6)
14.0
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from .constants import EARTH_RADIUS_M
from .errors import InputError, LeosimError, quote

__all__ = [
    "DEMAND_LIMITED",
    "LINK_KINDS",
    "NOT_BOTTLENECKED",
    "Allocation",
    "CapacityModel",
    "FlowTable",
    "Flows",
    "GroupSummary",
    "KindSummary",
    "Links",
    "SolverError",
    "SubscriberDemand",
    "array_nbytes",
    "check_memory",
    "gravity_demand",
    "incidence_from_pairs",
    "incidence_from_paths",
    "matrix_to_flows",
    "max_min_fair",
    "max_throughput",
    "memory_budget_bytes",
    "read_flows_csv",
    "subscriber_demand",
]

GBPS = 1e9
MBPS = 1e6

LINK_KINDS = ("uplink", "downlink", "isl", "feeder", "gateway", "beam")
"""The link kinds leosim itself produces.  Any non-empty string is accepted as a kind."""

DEMAND_LIMITED = -1
"""``Allocation.bottleneck_link`` value of a flow that got all it asked for."""

NOT_BOTTLENECKED = -2
"""``Allocation.bottleneck_link`` value of a flow below its demand with no saturated link
(only possible for an LP solution that HiGHS stopped short of optimal by its tolerances)."""


class SolverError(LeosimError, RuntimeError):
    """The LP solver did not return an optimal solution (its status is in the message)."""


# ---------------------------------------------------------------------------------------------
# Capacity model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CapacityModel:
    """Capacities of the link kinds of a Starlink-style system, in Gbit/s.

    Every field is a positive, finite number of Gbit/s; zero or negative values raise
    :class:`~leosim.errors.InputError` naming the field.  The defaults describe a Starlink
    v1.5 satellite.  Public figures for Starlink are sparse: the sources and, where no
    figure is published, the reasoning behind each default are given per field.  Treat
    the fields marked *uncertain* as order-of-magnitude inputs and override them (e.g. from
    a ``[capacity]`` TOML table via :meth:`from_dict`) when better data are available.

    >>> m = CapacityModel.from_dict({"isl_gbps": 200})
    >>> m.isl_bps
    200000000000.0
    >>> CapacityModel.preset("v2mini").satellite_downlink_gbps
    96.0
    """

    satellite_downlink_gbps: float = 20.0
    """Total user down-link (Ku band, 10.7-12.7 GHz) throughput of one satellite.

    Sources: del Portillo, Cameron & Crawley 2019 ("A technical comparison of three
    low earth orbit satellite constellation systems", Acta Astronautica 159) estimate
    ~21 Gbit/s average per Starlink satellite; Pachler et al. 2021 ("An updated comparison
    of four LEO mega-constellation systems", IEEE ICC workshops) update this with the
    2020 FCC modification (SAT-MOD-20200417-00037, 540-570 km shells) to a similar value;
    press statements by SpaceX put v1.5 at roughly 17-20 Gbit/s.  20 Gbit/s is used.
    """

    beam_gbps: float = 1.0
    """User down-link of one beam, i.e. the most one cell can get from one satellite at a
    time.  *Uncertain*: no published figure.  Reasoning: the Ku user spectrum is split into
    250 MHz channels (SpaceX FCC filings, SAT-LOA-20161115-00118 and its modifications);
    one beam uses one channel; at ~4 bit/s/Hz (DVB-S2X high-order APSK at the link budgets
    in Pachler et al. 2021, after framing overheads) that is ~1 Gbit/s.
    """

    satellite_uplink_gbps: float = 4.0
    """Total user up-link (Ku band, 14.0-14.5 GHz) throughput of one satellite.

    *Uncertain*: no published figure.  Reasoning: the up-link band is 500 MHz (a quarter of
    the 2 GHz down-link band, FCC filings above) and terminals transmit at lower spectral
    efficiency (~2 bit/s/Hz), with ~4-fold spatial re-use across beams: ~4 Gbit/s.
    """

    feeder_gbps: float = 20.0
    """Total gateway (feeder, Ka band) link throughput of one satellite.

    *Uncertain*.  Reasoning: v1.x satellites carry two parabolic gateway antennas (SpaceX
    launch material: "four phased array antennas and two parabolic antennas"); the Ka
    gateway down-link spectrum is 17.8-18.6 + 18.8-19.3 GHz (1.3 GHz, FCC filings above)
    in two polarisations; at ~4 bit/s/Hz that is ~10 Gbit/s per antenna, 20 Gbit/s per
    satellite, i.e. about the user down-link, as a bent-pipe design would be dimensioned.
    """

    isl_gbps: float = 100.0
    """Capacity of one inter-satellite laser link.  SpaceX (Starlink laser team, SPIE
    Photonics West, January 2024) stated its space lasers carry up to 100 Gbit/s each."""

    gateway_site_gbps: float = 80.0
    """Total capacity of one ground gateway site (all its antennas).

    *Uncertain*.  Reasoning: Starlink gateway earth-station applications at the FCC
    typically license 8-9 tracking antennas per site (e.g. 8 x 1.47 m dishes); at ~10 Gbit/s
    per antenna-satellite link (see ``feeder_gbps``) that is ~80 Gbit/s.  Terrestrial
    backhaul from the site is not modelled.
    """

    # Names of the presets accepted by ``preset()`` and by a ``preset`` key in ``from_dict``.
    PRESETS = ("v1.5", "v2mini")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_positive(getattr(self, f.name), f.name)
            object.__setattr__(self, f.name, float(getattr(self, f.name)))

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def preset(cls, name: str) -> CapacityModel:
        """A named satellite generation: ``"v1.5"`` (the defaults) or ``"v2mini"``.

        ``v2mini``: SpaceX stated in 2023 that a V2 mini satellite has about four times the
        capacity of a v1.5 one; 96 Gbit/s of user down-link is the figure used in SpaceX's
        2023 statements and the analyses that quote them.  The up-link is scaled by the same
        factor (*uncertain*).  The feeder is set to match the down-link because V2 mini adds
        E-band (71-76 / 81-86 GHz) gateway links (*uncertain*).  The beam, ISL and gateway
        site figures are those of v1.5.
        """
        key = name.strip().lower()
        if key in ("v1.5", "v1_5", "v15"):
            return cls()
        if key in ("v2mini", "v2_mini", "v2-mini"):
            return cls(satellite_downlink_gbps=96.0, satellite_uplink_gbps=16.0, feeder_gbps=96.0)
        raise InputError(
            f"unknown capacity preset {name!r}; expected one of {', '.join(cls.PRESETS)}",
            key="capacity.preset",
        )

    @classmethod
    def from_dict(
        cls,
        table: Mapping[str, Any],
        *,
        source: str | Path | None = None,
        prefix: str = "capacity",
    ) -> CapacityModel:
        """Build a model from a ``[capacity]`` TOML table: an optional ``preset`` key, then
        overrides of any field.  Unknown keys, non-numbers and non-positive values raise
        :class:`InputError` naming the key as ``capacity.<name>``.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        for k in table:
            if k != "preset" and k not in names:
                raise InputError(
                    f"unknown key; expected preset or one of {', '.join(sorted(names))}",
                    source=source,
                    key=f"{prefix}.{k}",
                )
        base = cls()
        if "preset" in table:
            p = table["preset"]
            if not isinstance(p, str):
                raise InputError(
                    f"must be a string, got {p!r}", source=source, key=f"{prefix}.preset"
                )
            try:
                base = cls.preset(p)
            except InputError as e:
                raise InputError(e.message, source=source, key=f"{prefix}.preset") from None
        overrides = {k: v for k, v in table.items() if k != "preset"}
        for k, v in overrides.items():
            try:
                _check_positive(v, k)
            except InputError as e:
                raise InputError(e.message, source=source, key=f"{prefix}.{k}") from None
        return dataclasses.replace(base, **overrides)

    def with_overrides(self, **gbps: float) -> CapacityModel:
        """A copy with some fields replaced (same validation as the constructor)."""
        return CapacityModel.from_dict(dataclasses.asdict(self) | gbps)

    # -- bit/s views --------------------------------------------------------------------------

    @property
    def satellite_downlink_bps(self) -> float:
        return self.satellite_downlink_gbps * GBPS

    @property
    def beam_bps(self) -> float:
        return self.beam_gbps * GBPS

    @property
    def satellite_uplink_bps(self) -> float:
        return self.satellite_uplink_gbps * GBPS

    @property
    def feeder_bps(self) -> float:
        return self.feeder_gbps * GBPS

    @property
    def isl_bps(self) -> float:
        return self.isl_gbps * GBPS

    @property
    def gateway_site_bps(self) -> float:
        return self.gateway_site_gbps * GBPS

    def capacity_by_kind(self) -> dict[str, float]:
        """Capacity in bit/s of one link of each kind in :data:`LINK_KINDS`.

        ``uplink``/``downlink`` are a satellite's aggregate user links, ``beam`` one beam,
        ``feeder`` a satellite's aggregate gateway links, ``gateway`` a gateway site.
        """
        return {
            "uplink": self.satellite_uplink_bps,
            "downlink": self.satellite_downlink_bps,
            "isl": self.isl_bps,
            "feeder": self.feeder_bps,
            "gateway": self.gateway_site_bps,
            "beam": self.beam_bps,
        }

    def link_capacity_bps(self, kinds: Sequence[str] | np.ndarray) -> np.ndarray:
        """Capacity array (bit/s) for links of the given kinds; unknown kinds raise."""
        kinds = np.asarray(kinds, dtype=str)
        table = self.capacity_by_kind()
        uniq, inverse = np.unique(kinds, return_inverse=True)
        values = np.empty(len(uniq))
        for i, k in enumerate(uniq):
            if k not in table:
                raise InputError(
                    f"no capacity for link kind {k!r}; expected one of {', '.join(table)}",
                    key="kind",
                )
            values[i] = table[k]
        return values[inverse].reshape(kinds.shape)


def _check_positive(value: Any, key: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InputError(f"must be a number of Gbit/s, got {value!r}", key=key)
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"must be a finite capacity > 0 Gbit/s, got {value!r}", key=key)


# ---------------------------------------------------------------------------------------------
# Network representation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Links:
    """The links of a network: id ``i`` has capacity ``capacity_bps[i]`` and kind ``kind[i]``.

    A capacity may be zero (a failed link); flows crossing it get nothing.
    """

    capacity_bps: np.ndarray
    kind: np.ndarray

    def __post_init__(self) -> None:
        cap = _as_capacity(self.capacity_bps)
        kind = np.asarray(self.kind, dtype=object)
        if kind.shape != cap.shape:
            raise InputError(
                f"has shape {kind.shape}, expected {cap.shape} (one per link)", key="kind"
            )
        object.__setattr__(self, "capacity_bps", cap)
        object.__setattr__(self, "kind", kind.astype(str))

    @classmethod
    def from_kinds(cls, kinds: Sequence[str] | np.ndarray, model: CapacityModel) -> Links:
        """Links whose capacities are taken from ``model`` by kind."""
        return cls(model.link_capacity_bps(kinds), np.asarray(kinds, dtype=str))

    @property
    def n_links(self) -> int:
        return len(self.capacity_bps)


@dataclass(frozen=True, eq=False)
class Flows:
    """Flows: ``demand_bps[f]`` (``inf`` = take whatever is available) and their routes as an
    incidence matrix (CSR, ``(n_flows, n_links)``, entry = times flow ``f`` crosses link)."""

    demand_bps: np.ndarray
    incidence: sp.csr_array

    def __post_init__(self) -> None:
        dem = _as_demand(self.demand_bps)
        a = _as_incidence(self.incidence, n_rows=len(dem))
        object.__setattr__(self, "demand_bps", dem)
        object.__setattr__(self, "incidence", a)

    @classmethod
    def from_paths(
        cls,
        demand_bps: np.ndarray,
        paths: Sequence[Sequence[int] | np.ndarray],
        n_links: int,
        *,
        duplicates: Literal["count", "once", "error"] = "count",
    ) -> Flows:
        return cls(demand_bps, incidence_from_paths(paths, n_links, duplicates=duplicates))

    @property
    def n_flows(self) -> int:
        return len(self.demand_bps)


def incidence_from_pairs(
    flow_ids: np.ndarray,
    link_ids: np.ndarray,
    n_flows: int,
    n_links: int,
    *,
    duplicates: Literal["count", "once", "error"] = "count",
) -> sp.csr_array:
    """Incidence matrix (CSR, float64, ``(n_flows, n_links)``) from flat (flow, link) pairs.

    A pair that occurs ``k`` times means the flow crosses that link ``k`` times (e.g. a route
    that goes out and back over the same link).  ``duplicates`` says what that means:

    * ``"count"`` (default): the flow loads the link ``k`` times its rate (entry ``k``).  This
      is what a route that really revisits a link does to the link.
    * ``"once"``: repeats are dropped (entry 1), for route lists that repeat ids by accident.
    * ``"error"``: repeats raise :class:`InputError` naming the flow and link.

    >>> incidence_from_pairs(np.array([0, 0, 1]), np.array([2, 2, 0]), 2, 3).toarray()
    array([[0., 0., 2.],
           [1., 0., 0.]])
    """
    flow_ids = np.asarray(flow_ids)
    link_ids = np.asarray(link_ids)
    if flow_ids.shape != link_ids.shape or flow_ids.ndim != 1:
        raise InputError("flow_ids and link_ids must be 1-D arrays of the same length")
    for arr, n, key in ((flow_ids, n_flows, "flow_ids"), (link_ids, n_links, "link_ids")):
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InputError(f"must be integers, got dtype {arr.dtype}", key=key)
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            bad = arr[(arr < 0) | (arr >= n)][0]
            raise InputError(f"id {bad} is out of range 0..{n - 1}", key=key)
    if duplicates not in ("count", "once", "error"):
        raise InputError(f"must be count, once or error, got {duplicates!r}", key="duplicates")
    # scipy's COO->CSR conversion sums repeated (row, col) entries: that sum is exactly the
    # "count" semantics, and the other two modes are derived from it.
    a = sp.csr_array(
        (np.ones(flow_ids.size), (flow_ids.astype(np.int64), link_ids.astype(np.int64))),
        shape=(n_flows, n_links),
    )
    a.sum_duplicates()
    if duplicates == "once":
        a.data[:] = 1.0
    elif duplicates == "error" and a.nnz and a.data.max() > 1:
        k = int(np.argmax(a.data > 1))
        row = int(np.searchsorted(a.indptr, k, side="right") - 1)
        raise InputError(
            f"flow {row} lists link {int(a.indices[k])} {int(a.data[k])} times",
            key="paths",
        )
    return a


def incidence_from_paths(
    paths: Sequence[Sequence[int] | np.ndarray],
    n_links: int,
    *,
    duplicates: Literal["count", "once", "error"] = "count",
) -> sp.csr_array:
    """Incidence matrix from one array of link ids per flow (see :func:`incidence_from_pairs`
    for ``duplicates``).  An empty path is a flow that crosses no link.

    >>> incidence_from_paths([[0, 1], [], [1, 1]], 2).toarray()
    array([[1., 1.],
           [0., 0.],
           [0., 2.]])
    """
    lengths = np.fromiter((len(p) for p in paths), dtype=np.int64, count=len(paths))
    if lengths.sum():
        links = np.concatenate([np.asarray(p, dtype=np.int64).ravel() for p in paths])
    else:
        links = np.zeros(0, dtype=np.int64)
    flows = np.repeat(np.arange(len(paths), dtype=np.int64), lengths)
    return incidence_from_pairs(flows, links, len(paths), n_links, duplicates=duplicates)


def _as_capacity(capacity_bps: Any, key: str = "capacity_bps") -> np.ndarray:
    cap = np.asarray(capacity_bps, dtype=np.float64)
    if cap.ndim != 1:
        raise InputError(f"must be 1-D (one per link), got shape {cap.shape}", key=key)
    bad = ~np.isfinite(cap) | (cap < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"link {i} has capacity {cap[i]!r}, expected finite >= 0", key=key)
    return cap


def _as_demand(demand_bps: Any, key: str = "demand_bps") -> np.ndarray:
    dem = np.asarray(demand_bps, dtype=np.float64)
    if dem.ndim != 1:
        raise InputError(f"must be 1-D (one per flow), got shape {dem.shape}", key=key)
    bad = np.isnan(dem) | (dem < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(f"flow {i} has demand {dem[i]!r}, expected >= 0 (or inf)", key=key)
    return dem


def _as_incidence(
    incidence: Any, n_rows: int | None = None, n_cols: int | None = None
) -> sp.csr_array:
    a = sp.csr_array(incidence, dtype=np.float64)
    a.sum_duplicates()
    if n_rows is not None and a.shape[0] != n_rows:
        raise InputError(f"has {a.shape[0]} rows, expected {n_rows}", key="incidence")
    if n_cols is not None and a.shape[1] != n_cols:
        raise InputError(f"has {a.shape[1]} columns, expected {n_cols} links", key="incidence")
    if a.nnz and (not np.isfinite(a.data).all() or a.data.min() < 0):
        raise InputError("entries must be finite and >= 0", key="incidence")
    a.eliminate_zeros()
    return a


def _validate(
    incidence: Any, capacity_bps: Any, demand_bps: Any
) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    cap = _as_capacity(capacity_bps)
    dem = _as_demand(demand_bps)
    a = _as_incidence(incidence, n_rows=len(dem), n_cols=len(cap))
    return a, cap, dem


# ---------------------------------------------------------------------------------------------
# Allocation result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GroupSummary:
    """Served traffic per group (e.g. country); one entry per group, sorted by group name.

    ``per_subscriber_mbps`` is ``served / subscribers`` (NaN where no subscriber count was
    given or it is zero).
    """

    group: np.ndarray
    n_flows: np.ndarray
    demand_gbps: np.ndarray
    served_gbps: np.ndarray
    share_met: np.ndarray
    subscribers: np.ndarray
    per_subscriber_mbps: np.ndarray

    def to_rows(self) -> list[dict[str, Any]]:
        """One plain dict per group (for tables and JSON)."""
        names = [f.name for f in dataclasses.fields(self)]
        cols = [getattr(self, n).tolist() for n in names]
        return [dict(zip(names, vals, strict=True)) for vals in zip(*cols, strict=True)]


@dataclass(frozen=True)
class KindSummary:
    """Links of one kind: how many, how many saturated, how many flows they bottleneck,
    their utilisation (load / capacity) and total capacity and load (Gbit/s)."""

    kind: str
    n_links: int
    n_saturated: int
    n_bottlenecked_flows: int
    mean_utilisation: float
    max_utilisation: float
    capacity_gbps: float
    load_gbps: float


@dataclass(frozen=True, eq=False)
class Allocation:
    """Rates given to flows and the resulting link loads (all bit/s).

    ``bottleneck_link[f]`` is the saturated link that limits flow ``f`` (for max-min: the
    link whose saturation froze it), :data:`DEMAND_LIMITED` (-1) if the flow got its whole
    demand, or :data:`NOT_BOTTLENECKED` (-2) in the degenerate case described there.
    """

    rate_bps: np.ndarray
    demand_bps: np.ndarray
    load_bps: np.ndarray
    capacity_bps: np.ndarray
    bottleneck_link: np.ndarray
    link_kind: np.ndarray | None = None
    method: str = ""
    status: str = "optimal"
    rounds: int = 0
    path_rate_bps: np.ndarray | None = None
    saturation_rtol: float = 1e-6
    """Relative slack under which a link counts as saturated."""

    @property
    def n_flows(self) -> int:
        return len(self.rate_bps)

    @property
    def n_links(self) -> int:
        return len(self.capacity_bps)

    @property
    def utilisation(self) -> np.ndarray:
        """Load / capacity per link; a zero-capacity link counts as fully used (1.0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.load_bps / self.capacity_bps
        return np.where(self.capacity_bps > 0, u, 1.0)

    @property
    def saturated(self) -> np.ndarray:
        """Boolean mask of links loaded to capacity (within ``saturation_rtol``)."""
        return self.load_bps >= self.capacity_bps * (1.0 - self.saturation_rtol)

    @property
    def saturated_links(self) -> np.ndarray:
        """Ids of the saturated links."""
        return np.flatnonzero(self.saturated)

    @property
    def demand_limited(self) -> np.ndarray:
        """Boolean mask of flows that got their whole demand."""
        return self.bottleneck_link == DEMAND_LIMITED

    @property
    def total_rate_bps(self) -> float:
        return float(self.rate_bps.sum())

    @property
    def total_demand_bps(self) -> float:
        return float(self.demand_bps.sum())

    @property
    def share_met(self) -> float:
        """Total rate / total demand (1.0 when there is no demand; 0.0 if demand is inf)."""
        d = self.total_demand_bps
        return 1.0 if d == 0 else self.total_rate_bps / d

    def _kinds(self) -> np.ndarray:
        if self.link_kind is None:
            return np.full(self.n_links, "link")
        return np.asarray(self.link_kind, dtype=str)

    @property
    def bottleneck_kind(self) -> np.ndarray:
        """Per flow: the kind of its bottleneck link, ``"demand"`` or ``"none"``."""
        kinds = self._kinds()
        out = np.full(self.n_flows, "demand", dtype=object)
        b = self.bottleneck_link
        out[b == NOT_BOTTLENECKED] = "none"
        on_link = b >= 0
        out[on_link] = kinds[b[on_link]]
        return out.astype(str)

    def bottleneck_counts(self) -> dict[str, int]:
        """Number of flows limited by each link kind (and by ``"demand"``)."""
        names, counts = np.unique(self.bottleneck_kind, return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts, strict=True)}

    def by_link_kind(self) -> dict[str, KindSummary]:
        """Utilisation and bottleneck statistics per link kind."""
        kinds = self._kinds()
        util = self.utilisation
        sat = self.saturated
        counts = self.bottleneck_counts()
        out = {}
        for k in np.unique(kinds):
            m = kinds == k
            out[str(k)] = KindSummary(
                kind=str(k),
                n_links=int(m.sum()),
                n_saturated=int(sat[m].sum()),
                n_bottlenecked_flows=counts.get(str(k), 0),
                mean_utilisation=float(util[m].mean()),
                max_utilisation=float(util[m].max()),
                capacity_gbps=float(self.capacity_bps[m].sum() / GBPS),
                load_gbps=float(self.load_bps[m].sum() / GBPS),
            )
        return out

    def by_group(
        self,
        labels: Sequence[str] | np.ndarray,
        subscribers: Mapping[str, float] | None = None,
    ) -> GroupSummary:
        """Aggregate flows by a label per flow (e.g. the country of the user end).

        ``subscribers`` maps a label to its subscriber count, giving the average served
        rate per subscriber in Mbit/s.
        """
        labels = np.asarray(labels, dtype=str)
        if labels.shape != (self.n_flows,):
            raise InputError(
                f"has shape {labels.shape}, expected ({self.n_flows},) (one per flow)",
                key="labels",
            )
        groups, inv = np.unique(labels, return_inverse=True)
        n = len(groups)
        dem = np.bincount(inv, weights=self.demand_bps, minlength=n)
        served = np.bincount(inv, weights=self.rate_bps, minlength=n)
        n_flows = np.bincount(inv, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(dem > 0, served / dem, 1.0)
        subs = np.full(n, np.nan)
        if subscribers is not None:
            for i, g in enumerate(groups):
                if g in subscribers:
                    s = float(subscribers[g])
                    if not math.isfinite(s) or s < 0:
                        raise InputError(f"must be >= 0, got {s!r}", key=f"subscribers.{g}")
                    subs[i] = s
        with np.errstate(divide="ignore", invalid="ignore"):
            per_sub = np.where(subs > 0, served / subs / MBPS, np.nan)
        return GroupSummary(
            group=groups,
            n_flows=n_flows,
            demand_gbps=dem / GBPS,
            served_gbps=served / GBPS,
            share_met=share,
            subscribers=subs,
            per_subscriber_mbps=per_sub,
        )


# ---------------------------------------------------------------------------------------------
# Max-min fairness
# ---------------------------------------------------------------------------------------------


def max_min_fair(
    incidence: Any,
    capacity_bps: Any,
    demand_bps: Any,
    *,
    link_kind: Sequence[str] | np.ndarray | None = None,
    rtol: float = 1e-9,
) -> Allocation:
    """Max-min fair rates by progressive filling (water-filling).

    All unfrozen flows grow at the same rate.  Each round jumps straight to the next event:
    either a link fills (remaining capacity / load growth rate is smallest) or an unfrozen
    flow reaches its demand.  Flows crossing a filled link are frozen with that link as
    their bottleneck; flows that reach their demand are frozen as demand-limited.

    Each link fills at most once and each flow freezes once, so the per-round work is a
    handful of O(n_links) vector operations plus, over the whole run, one pass over the
    non-zeros (growth rates are updated incrementally rather than recomputed).

    ``incidence`` (``(n_flows, n_links)``, any scipy sparse or dense array) holds how many
    times each flow crosses each link; ``demand_bps`` may be ``inf`` (elastic flow) except
    for a flow that crosses no link.  ``rtol`` is the relative slack under which a link or a
    demand counts as reached (so near-simultaneous events are merged into one round).
    """
    a, cap, dem = _validate(incidence, capacity_bps, demand_bps)
    n_f, n_l = a.shape
    kind = _check_kind(link_kind, n_l)
    per_flow = np.diff(a.indptr)
    unbounded = (per_flow == 0) & np.isinf(dem)
    if unbounded.any():
        raise InputError(
            f"flow {int(np.argmax(unbounded))} crosses no link and has infinite demand",
            key="demand_bps",
        )
    at = a.T.tocsr()  # rows = links: which flows cross each link

    rate = np.zeros(n_f)
    bottleneck = np.full(n_f, NOT_BOTTLENECKED, dtype=np.int64)
    active = np.ones(n_f, dtype=bool)
    n_active = n_f
    growth = np.bincount(a.indices, weights=a.data, minlength=n_l)  # d(load)/d(level)
    remaining = cap.copy()
    order = np.argsort(dem, kind="stable")
    sorted_dem = dem[order]
    p = 0  # first position in ``order`` that may still be active
    level = 0.0  # the common rate of all active flows
    rounds = 0

    def freeze(flows: np.ndarray, overshoot: np.ndarray | None = None) -> None:
        """Deactivate ``flows``; ``overshoot`` (per flow, bit/s) is how far ``remaining`` was
        charged beyond the flow's final rate, and is given back."""
        nonlocal n_active
        active[flows] = False
        n_active -= len(flows)
        sub = a[flows]
        growth[:] -= np.bincount(sub.indices, weights=sub.data, minlength=n_l)
        if overshoot is not None:
            w = sub.data * np.repeat(overshoot, np.diff(sub.indptr))
            remaining[:] += np.bincount(sub.indices, weights=w, minlength=n_l)

    while n_active:
        rounds += 1
        while p < n_f and not active[order[p]]:
            p += 1
        live = growth > 0
        t_link = np.full(n_l, np.inf)
        np.divide(remaining, growth, out=t_link, where=live)
        l_min = int(np.argmin(t_link))
        t_l = float(t_link[l_min])
        next_link_level = level + t_l

        if p < n_f and sorted_dem[p] <= next_link_level:
            # Demand events come first.  Freezing a flow only slows the growth of link
            # loads, so every active flow whose demand is at most the next link event
            # (computed with the current, larger growth) reaches it before any link fills:
            # freeze them all in one round, then give back what the flat-rate charge
            # overcounted for those that stopped below the new level.
            hi = int(np.searchsorted(sorted_dem, next_link_level, side="right"))
            cand = order[p:hi]
            cand = cand[active[cand]]
            new_level = float(dem[cand].max())
            remaining[live] -= (new_level - level) * growth[live]
            level = new_level
            rate[cand] = dem[cand]
            bottleneck[cand] = DEMAND_LIMITED
            freeze(cand, overshoot=level - dem[cand])
        else:
            if not math.isfinite(t_l):  # cannot happen after the input checks; guard anyway
                raise SolverError("max-min filling found active flows with nothing to stop them")
            level = next_link_level
            remaining[live] -= t_l * growth[live]
            # A flow whose demand is within rtol above this level is shown as demand-limited
            # (its rate stays at the level, so no link is pushed over capacity).
            hi = int(np.searchsorted(sorted_dem, level + rtol * level, side="right"))
            if hi > p:
                cand = order[p:hi]
                cand = cand[active[cand]]
                if cand.size:
                    rate[cand] = np.minimum(dem[cand], level)
                    bottleneck[cand] = DEMAND_LIMITED
                    freeze(cand)
            remaining[l_min] = 0.0

        full_ids = np.flatnonzero(live & (remaining <= rtol * cap))
        if full_ids.size:
            remaining[full_ids] = 0.0
            sub = at[full_ids]
            fl = sub.indices
            li = np.repeat(full_ids, np.diff(sub.indptr))
            keep = active[fl]
            fl, li = fl[keep], li[keep]
            if fl.size:
                fl, first = np.unique(fl, return_index=True)
                rate[fl] = level
                bottleneck[fl] = li[first]
                freeze(fl)
            # Filled links have no active flows left; zero their growth exactly so rounding
            # in the incremental updates (fractional incidence entries) cannot revive them.
            growth[full_ids] = 0.0

    load = a.T @ rate
    return Allocation(
        rate_bps=rate,
        demand_bps=dem,
        load_bps=load,
        capacity_bps=cap,
        bottleneck_link=bottleneck,
        link_kind=kind,
        method="max-min",
        status="optimal",
        rounds=rounds,
    )


def _check_kind(link_kind: Any, n_links: int) -> np.ndarray | None:
    if link_kind is None:
        return None
    kind = np.asarray(link_kind, dtype=str)
    if kind.shape != (n_links,):
        raise InputError(f"has shape {kind.shape}, expected ({n_links},)", key="link_kind")
    return kind


# ---------------------------------------------------------------------------------------------
# Maximum throughput (LP)
# ---------------------------------------------------------------------------------------------


def max_throughput(
    incidence: Any,
    capacity_bps: Any,
    demand_bps: Any,
    *,
    path_flow: np.ndarray | None = None,
    link_kind: Sequence[str] | np.ndarray | None = None,
    solver: Literal["highs-ipm", "highs-ds", "highs"] = "highs-ipm",
    time_limit_s: float | None = None,
) -> Allocation:
    """Largest total rate: maximise ``sum(x)`` s.t. ``incidence.T @ x <= capacity``,
    ``0 <= x <= demand``; solved with HiGHS through ``scipy.optimize.linprog``.

    Single path (``path_flow=None``): ``incidence`` is ``(n_flows, n_links)``.

    Multipath: ``incidence`` is ``(n_paths, n_links)``, one row per candidate path, and
    ``path_flow[p]`` is the flow that path ``p`` belongs to (``n_flows = len(demand_bps)``).
    The LP has one variable per path and the demand bound becomes a per-flow constraint
    ``sum of its path rates <= demand``.  The per-path rates are in ``path_rate_bps``.

    ``solver`` is the ``linprog`` method.  The default, HiGHS's interior point method (with
    crossover to a vertex), is used because these LPs are highly degenerate when many flows
    are elastic: on a 10,000-flow x 4,000-link network with infinite demands, dual simplex
    (what ``"highs"`` picks) ran for over two minutes where IPM took ~3 s.  On small or
    demand-bound networks ``"highs-ds"`` can be a little faster.

    The optimum is generally not unique; HiGHS returns a vertex, which may starve some
    flows entirely.  Raises :class:`SolverError` if HiGHS does not report an optimum
    (including hitting ``time_limit_s``).
    """
    if solver not in ("highs-ipm", "highs-ds", "highs"):
        raise InputError(f"must be highs-ipm, highs-ds or highs, got {solver!r}", key="solver")
    cap = _as_capacity(capacity_bps)
    dem = _as_demand(demand_bps)
    n_f = len(dem)
    kind = _check_kind(link_kind, len(cap))
    if path_flow is None:
        p_inc = _as_incidence(incidence, n_rows=n_f, n_cols=len(cap))
        member = None
    else:
        path_flow = np.asarray(path_flow)
        p_inc = _as_incidence(incidence, n_cols=len(cap))
        if path_flow.shape != (p_inc.shape[0],):
            raise InputError(
                f"has shape {path_flow.shape}, expected ({p_inc.shape[0]},) (one per path)",
                key="path_flow",
            )
        if path_flow.size and (
            not np.issubdtype(path_flow.dtype, np.integer)
            or path_flow.min() < 0
            or path_flow.max() >= n_f
        ):
            raise InputError(f"must be integer flow ids in 0..{n_f - 1}", key="path_flow")
        member = sp.csr_array(
            (np.ones(len(path_flow)), (path_flow.astype(np.int64), np.arange(len(path_flow)))),
            shape=(n_f, len(path_flow)),
        )
    flow_inc = p_inc if member is None else (member @ p_inc).tocsr()
    n_paths_of = np.diff(flow_inc.indptr)
    unbounded = (n_paths_of == 0) & np.isinf(dem)
    if member is not None:
        # A flow with no candidate path at all gets nothing and cannot be unbounded.
        unbounded &= np.diff(member.indptr) > 0
    if unbounded.any():
        raise InputError(
            f"flow {int(np.argmax(unbounded))} crosses no link and has infinite demand",
            key="demand_bps",
        )

    # HiGHS uses absolute tolerances (~1e-7): solve in units of the largest finite figure so
    # that bit/s magnitudes (~1e10) do not swamp them.
    finite = np.concatenate([cap, dem[np.isfinite(dem)]])
    scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    n_var = p_inc.shape[0]
    c = -np.ones(n_var)
    if member is None:
        a_ub = p_inc.T.tocsr()
        b_ub = cap / scale
        ub = dem / scale
        bounds = np.column_stack([np.zeros(n_var), np.where(np.isfinite(ub), ub, np.inf)])
    else:
        fin = np.isfinite(dem)
        a_ub = sp.vstack([p_inc.T, member[fin]], format="csr")
        b_ub = np.concatenate([cap, dem[fin]]) / scale
        bounds = (0, None)
    if n_var == 0:
        x = np.zeros(0)
        status = "optimal"
    else:
        options = {} if time_limit_s is None else {"time_limit": float(time_limit_s)}
        res = linprog(c, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method=solver, options=options)
        if res.status != 0 or res.x is None:
            raise SolverError(
                f"HiGHS ({solver}) did not find an optimum: status {res.status}, {res.message}"
            )
        x = np.maximum(res.x, 0.0) * scale
        status = "optimal"

    if member is None:
        rate = np.minimum(x, dem)
        path_rate = None
    else:
        path_rate = x
        rate = np.minimum(member @ x, dem)
    load = p_inc.T @ x
    rtol = 1e-6
    return Allocation(
        rate_bps=rate,
        demand_bps=dem,
        load_bps=load,
        capacity_bps=cap,
        bottleneck_link=_bottlenecks(flow_inc, rate, dem, load, cap, rtol),
        link_kind=kind,
        method="max-throughput" if member is None else "max-throughput-multipath",
        status=status,
        path_rate_bps=path_rate,
        saturation_rtol=rtol,
    )


def _bottlenecks(
    flow_inc: sp.csr_array,
    rate: np.ndarray,
    dem: np.ndarray,
    load: np.ndarray,
    cap: np.ndarray,
    rtol: float,
) -> np.ndarray:
    """Per flow: DEMAND_LIMITED, else its most utilised saturated link, else NOT_BOTTLENECKED."""
    n_f = len(rate)
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap > 0, load / cap, 1.0)
    saturated = load >= cap * (1.0 - rtol)
    out = np.full(n_f, NOT_BOTTLENECKED, dtype=np.int64)
    met = rate >= dem * (1.0 - rtol)
    out[met] = DEMAND_LIMITED
    rows = np.repeat(np.arange(n_f), np.diff(flow_inc.indptr))
    cols = flow_inc.indices
    keep = ~met[rows] & saturated[cols]
    rows, cols = rows[keep], cols[keep]
    if rows.size:
        # Sort by flow, then by decreasing utilisation; the first entry per flow wins.
        order = np.lexsort((-util[cols], rows))
        rows, cols = rows[order], cols[order]
        first = np.r_[True, rows[1:] != rows[:-1]]
        out[rows[first]] = cols[first]
    return out


# ---------------------------------------------------------------------------------------------
# Demand models
# ---------------------------------------------------------------------------------------------


def gravity_demand(
    populations: Any,
    positions_lat_lon_deg: Any,
    total_bps: float,
    *,
    exponent: float = 0.0,
    min_distance_km: float = 100.0,
) -> np.ndarray:
    """City-to-city traffic matrix ``T`` (bit/s, ``(n, n)``) with ``T[i, j] ∝ P_i P_j / d_ij^k``.

    ``exponent`` ``k`` defaults to 0: traffic proportional to the product of populations,
    the model used for satellite network studies (Bhattacherjee & Singla, "Network topology
    design at 27,000 km/hour", CoNEXT 2019; Hypatia's experiments), since long-haul
    Internet traffic shows little distance decay.  ``k = 1`` (or 2) gives the classic gravity
    model with distance decay.  Distances are great-circle on a sphere of radius
    :data:`~leosim.constants.EARTH_RADIUS_M`, floored at ``min_distance_km`` so that nearby
    or co-located cities do not dominate when ``k > 0``.  The diagonal is zero and the
    matrix sums to ``total_bps`` (all zeros if fewer than two cities have people).
    """
    pop = np.asarray(populations, dtype=np.float64)
    pos = np.asarray(positions_lat_lon_deg, dtype=np.float64)
    if pop.ndim != 1:
        raise InputError(f"must be 1-D, got shape {pop.shape}", key="populations")
    if pos.shape != (len(pop), 2):
        raise InputError(
            f"has shape {pos.shape}, expected ({len(pop)}, 2) (lat, lon in degrees)",
            key="positions_lat_lon_deg",
        )
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise InputError("must be finite and >= 0", key="populations")
    if not np.isfinite(pos).all() or (np.abs(pos[:, 0]) > 90).any():
        raise InputError("latitudes must be within +-90 degrees", key="positions_lat_lon_deg")
    if not math.isfinite(total_bps) or total_bps < 0:
        raise InputError(f"must be finite and >= 0, got {total_bps!r}", key="total_bps")
    if not math.isfinite(exponent) or exponent < 0:
        raise InputError(f"must be finite and >= 0, got {exponent!r}", key="exponent")
    if not min_distance_km > 0:
        raise InputError(f"must be > 0, got {min_distance_km!r}", key="min_distance_km")
    n = len(pop)
    check_memory(n * n * 8 * 4, f"gravity traffic matrix of {n} x {n} cities")
    weight = np.outer(pop, pop)
    if exponent > 0:
        lat, lon = np.radians(pos[:, 0]), np.radians(pos[:, 1])
        # Haversine: accurate for the short distances where the floor matters.
        h = (
            np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
            + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lon[:, None] - lon) / 2) ** 2
        )
        d_km = 2 * EARTH_RADIUS_M / 1e3 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))
        weight /= np.maximum(d_km, min_distance_km) ** exponent
    np.fill_diagonal(weight, 0.0)
    s = weight.sum()
    return weight * (total_bps / s) if s > 0 else weight


def matrix_to_flows(
    traffic_bps: Any, *, min_bps: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, demand_bps)`` of the entries of a traffic matrix above ``min_bps``."""
    t = np.asarray(traffic_bps, dtype=np.float64)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise InputError(f"must be a square matrix, got shape {t.shape}", key="traffic_bps")
    src, dst = np.nonzero(t > min_bps)
    return src, dst, t[src, dst]


class SubscriberDemand(NamedTuple):
    """Subscribers and their busy-hour demand (bit/s), one entry per area."""

    subscribers: np.ndarray
    demand_bps: np.ndarray


def subscriber_demand(
    population: Any, take_rate: Any, mbps_per_subscriber: Any
) -> SubscriberDemand:
    """Demand of subscribers per area (e.g. country): ``subscribers = population x take_rate``
    and ``demand = subscribers x mbps_per_subscriber`` (busy-hour average per subscriber,
    Mbit/s, not the plan's peak speed).  Arguments broadcast against each other.
    """
    pop = np.asarray(population, dtype=np.float64)
    take = np.asarray(take_rate, dtype=np.float64)
    mbps = np.asarray(mbps_per_subscriber, dtype=np.float64)
    if not np.isfinite(pop).all() or (pop < 0).any():
        raise InputError("must be finite and >= 0", key="population")
    if not np.isfinite(take).all() or (take < 0).any() or (take > 1).any():
        raise InputError("must be a fraction in [0, 1]", key="take_rate")
    if not np.isfinite(mbps).all() or (mbps < 0).any():
        raise InputError("must be finite and >= 0", key="mbps_per_subscriber")
    subs = pop * take
    return SubscriberDemand(subscribers=subs, demand_bps=subs * mbps * MBPS)


class FlowTable(NamedTuple):
    """Flows read from a CSV file: endpoint names and demand (bit/s)."""

    src: np.ndarray
    dst: np.ndarray
    demand_bps: np.ndarray


def read_flows_csv(path: str | Path) -> FlowTable:
    """Read flows from a CSV file with a header containing ``src,dst,demand_mbps``.

    Other columns are ignored; blank lines are skipped.  A bad row raises
    :class:`InputError` naming the file, line and column (e.g. a negative or non-numeric
    ``demand_mbps``, an empty ``src``, a missing field); so does a file with no flow.  The file
    is read with :func:`leosim._io.read_text` (regular UTF-8 files only, byte-order mark allowed).
    """
    from .ground_segment import read_csv_table

    path = Path(path)
    t = read_csv_table(path, what="flows file")
    missing = [c for c in ("src", "dst", "demand_mbps") if c not in t.header]
    if missing:
        raise InputError(
            f"header lacks column(s) {', '.join(missing)}; got {quote(', '.join(t.header), 120)}",
            source=path,
            line=1,
            key=missing[0],
        )
    src = t.strings("src", nonempty=True)
    dst = t.strings("dst", nonempty=True)
    dem = t.floats("demand_mbps", 0.0, 1e15)
    if not len(src):
        raise InputError("no flows: the file has a header but no rows", source=path, line=2)
    return FlowTable(np.array(src, dtype=str), np.array(dst, dtype=str), dem * MBPS)


def resolve_flow_stations(
    names: np.ndarray, stations: Any, *, source: str | Path | None, key: str = "demand.flows"
) -> np.ndarray:
    """Station gids of flow endpoints given by gid (ASCII digits) or name; an unknown one is an
    :class:`InputError` naming ``source``."""
    out = np.empty(len(names), dtype=np.int64)
    for i, x in enumerate(names):
        s = str(x)
        ref: int | str = int(s) if s.isascii() and s.isdigit() and len(s) <= 18 else s
        try:
            out[i] = stations.resolve(ref, key=key)
        except InputError as exc:
            raise InputError(exc.message, source=source, key=key) from None
    return out


# ---------------------------------------------------------------------------------------------
# Memory guard
# ---------------------------------------------------------------------------------------------


def memory_budget_bytes() -> int:
    """The memory limit in bytes: ``LEOSIM_MAX_MEMORY_GB`` (or the older
    ``LEOSIM_MEMORY_BUDGET_GIB``), else 80 % of the physical memory, as every command's
    up-front check (:func:`leosim._limits.memory_limit`)."""
    from ._limits import memory_limit

    limit = memory_limit()[0]
    return int(limit) if math.isfinite(limit) else 2**63 - 1


def array_nbytes(shape: int | Iterable[int], dtype: Any = np.float64) -> int:
    """Bytes an array of this shape and dtype would take (exact integer arithmetic)."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    return math.prod(int(d) for d in dims) * np.dtype(dtype).itemsize


def check_memory(
    n_bytes: int | float,
    what: str,
    *,
    budget_bytes: int | None = None,
    key: str | None = None,
) -> int:
    """Raise :class:`InputError` if ``n_bytes`` exceeds the memory limit (or ``budget_bytes``)
    ; otherwise return it: the same check and message as every command's
    (:func:`leosim._limits.check_memory`).

    Call before allocating something large, so that a request that cannot fit fails at
    once with a message naming ``what`` instead of swapping or being killed later.

    >>> check_memory(array_nbytes((1000, 1000)), "a 1000 x 1000 grid")
    8000000
    >>> check_memory(2 * 2**30, "a 2 GiB grid", budget_bytes=2**30)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    leosim.errors.InputError: a 2 GiB grid needs about 2.0 GiB of memory, more than the limit...
    """
    from ._limits import check_memory as check

    check(n_bytes, what, key=key, limit_bytes=budget_bytes)
    return int(n_bytes)
