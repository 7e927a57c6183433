"""Latency as users measure it: terminal → satellite (→ lasers) → gateway → fibre → PoP.

SpaceX's published latency is "the time for a packet to be sent from the Starlink router to the
internet and for the response to be received": a round trip from the user's router to the Point
of Presence (PoP) where traffic leaves the Starlink network.  leosim models it as

    rtt = 2 (radio + lasers) / c  +  2 · fibre · n_g / c  +  access overhead

* **radio**: the user link (terminal ↔ satellite) and the feeder link (satellite ↔ gateway)
  slant ranges; **lasers**: the inter-satellite hops between them;
* **fibre**: gateway → PoP, the great-circle distance times a route detour factor, in glass of
  group index ``n_g`` (light at c / 1.468);
* **access overhead**: what light time leaves out — the radio MAC's scheduling and framing,
  processing in the dish, satellite, gateway and PoP — one number per round trip, fitted openly
  to SpaceX's per-country medians by ``tools/fit_access_overhead.py`` (``docs/latency.md``).

The gateway is the one that minimises the whole path to the user's PoP, among those the policy
lets the user's country land at: one Dijkstra per (landing class, PoP) from a virtual PoP node
whose edges to the gateways weigh their fibre's light-time-equivalent length.  Starlink's
scheduler reassigns user ↔ satellite links every 15 s at seconds 12, 27, 42 and 57 of each
minute (Tanveer et al., "Making Sense of Constellations", CoNEXT 2023; Mohan et al., "A
Multifaceted Look at Starlink Performance", WWW 2024): with ``reconfiguration_s = 15`` a
terminal keeps the satellite chosen at the start of its slot for the whole slot.

>>> m = LatencyModel(access_overhead_ms=10.0)
>>> round(float(m.rtt_ms(radio_m=1_000e3, laser_m=0.0, fibre_m=100e3)), 3)  # 2·(1000 + 100·1.468) km / c + 10
17.651
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .constants import SPEED_OF_LIGHT_M_S
from .ground import great_circle_m
from .links import best_per_group
from .routing import sssp_backend
from .sssp import csr_graph, shortest_path_trees

__all__ = [
    "ACCESS_OVERHEAD_MS",
    "FIBRE_DETOUR",
    "FIBRE_GROUP_INDEX",
    "LatencyModel",
    "PopPaths",
    "PopRouter",
    "StepArrays",
    "pop_paths",
]

FIBRE_GROUP_INDEX = 1.468
"""Group index of standard single-mode fibre at 1550 nm (Corning SMF-28 Ultra data sheet:
1.4682): light in fibre travels at c / 1.468."""

FIBRE_DETOUR = 2.1
"""Fibre route length over great-circle distance: the rule of thumb of Internet latency
measurements (Bozkurt et al., "Dissecting Latency in the Internet's Fiber Infrastructure",
arXiv:1811.10737, 2018: "multiply line-of-sight distance by 2.1"; 1.3 along the shortest
conduits).  Uncertain; override per scenario."""

ACCESS_OVERHEAD_MS = 19.53
"""Per-round-trip access overhead, fitted by ``tools/fit_access_overhead.py`` on the 68 training
countries of SpaceX's December 2025 medians (``docs/latency.md`` lists every residual)."""

LASER_HOP_MS = 2.57
"""Per-hop addition to the round trip of a laser path, fitted with the access overhead."""

RECONFIGURATION_S = 15.0
RECONFIGURATION_OFFSET_S = 12.0


@dataclass(frozen=True)
class LatencyModel:
    """Parameters of the terminal → PoP round trip (see the module docstring for sources)."""

    access_overhead_ms: float = ACCESS_OVERHEAD_MS
    laser_hop_ms: float = LASER_HOP_MS
    """Added per inter-satellite hop to the round trip (switching on board, and the detours of
    the operator's laser routing that shortest paths leave out)."""
    fibre_detour: float = FIBRE_DETOUR
    fibre_group_index: float = FIBRE_GROUP_INDEX
    reconfiguration_s: float = RECONFIGURATION_S
    """User ↔ satellite assignment held for slots of this length (0: re-chosen every step)."""
    reconfiguration_offset_s: float = RECONFIGURATION_OFFSET_S
    """Slots start at UTC seconds ≡ this offset (mod the slot length)."""

    def fibre_m(self, lat1_deg, lon1_deg, lat2_deg, lon2_deg) -> np.ndarray:
        """Fibre route length (m) between two points: great circle × detour."""
        return great_circle_m(lat1_deg, lon1_deg, lat2_deg, lon2_deg) * self.fibre_detour

    def rtt_ms(self, radio_m, laser_m, fibre_m, laser_hops=0):
        """Round trip in ms of a one-way path with these lengths (m), overhead included."""
        light_m = np.asarray(radio_m) + laser_m + np.asarray(fibre_m) * self.fibre_group_index
        hops_ms = np.asarray(laser_hops) * self.laser_hop_ms
        return 2e3 * light_m / SPEED_OF_LIGHT_M_S + hops_ms + self.access_overhead_ms

    def slot_start_s(self, start_unix_s: float, t_s: np.ndarray) -> np.ndarray:
        """Start (offset from the run's start, s) of the reconfiguration slot holding each time.

        >>> LatencyModel().slot_start_s(0.0, np.array([11.0, 12.0, 26.9, 27.0])).tolist()
        [-3.0, 12.0, 12.0, 27.0]
        """
        t_s = np.asarray(t_s, dtype=np.float64)
        if self.reconfiguration_s <= 0:
            return t_s
        # Reduce the (large) Unix time first so that adding t_s loses no precision.
        base = np.mod(start_unix_s - self.reconfiguration_offset_s, self.reconfiguration_s)
        phase = np.mod(base + t_s, self.reconfiguration_s)
        # Times that sit on a boundary up to rounding belong to the slot they open.
        phase = np.where(np.isclose(phase, self.reconfiguration_s, atol=1e-6), 0.0, phase)
        return np.round(t_s - phase, 9)


@dataclass
class PopPaths:
    """For each (landing class, PoP) combination (rows) and satellite (columns), the best path
    from the satellite down to a gateway and on to the PoP.  Lengths in metres; ``dist_m`` is
    the light-time-equivalent length (fibre counted ``n_g`` times); ``gateway`` is -1 where no
    allowed gateway is reachable."""

    dist_m: np.ndarray
    gateway: np.ndarray
    feeder_m: np.ndarray
    laser_m: np.ndarray
    fibre_m: np.ndarray
    laser_hops: np.ndarray
    """Number of inter-satellite hops from the satellite to the gateway's satellite."""


def pop_paths(
    sat_pos_m: np.ndarray,
    laser_edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    gw_links,
    gw_pos_m: np.ndarray,
    combo_gateways: list[np.ndarray],
    combo_fibre_m: np.ndarray,
    fibre_group_index: float = FIBRE_GROUP_INDEX,
) -> PopPaths:
    """Best path from every satellite to each combination's PoP through its allowed gateways.

    ``combo_gateways[k]`` lists the gateways combination ``k`` may land at and
    ``combo_fibre_m[k, g]`` the fibre length from gateway ``g`` to its PoP.  One Dijkstra from a
    virtual node per combination on the graph PoP → gateway (fibre) → satellite (feeder link,
    gateways never transited) ↔ satellite (lasers); the breakdown is read off the trees.
    """
    n, n_gw, k_n = len(sat_pos_m), len(gw_pos_m), len(combo_gateways)
    shape = (k_n, n)
    empty = PopPaths(
        np.full(shape, np.inf),
        np.full(shape, -1),
        *(np.zeros(shape) for _ in range(3)),
        np.zeros(shape, dtype=np.int32),
    )
    if k_n == 0 or len(gw_links) == 0:
        return empty
    rows, cols, w = laser_edges
    virt = np.concatenate([np.full(len(g), n + n_gw + k) for k, g in enumerate(combo_gateways)])
    gws = np.concatenate(combo_gateways).astype(np.int64)
    # A zero weight would vanish from the sparse graph: a PoP at its gateway gets 1 mm.
    fibre_eq = np.maximum(combo_fibre_m[virt - n - n_gw, gws] * fibre_group_index, 1e-3)
    size = n + n_gw + k_n
    src = np.concatenate([rows, n + gw_links.gs, virt])
    dst = np.concatenate([cols, gw_links.sat, n + gws])
    length = np.concatenate([w, gw_links.range_m, fibre_eq])
    dist, pred = _trees(size, src, dst, length, n + n_gw + np.arange(k_n))
    dist, sat_pred = dist[:, :n], pred[:, :n]
    last, hops = _last_satellite(sat_pred, n)
    gw_node = np.take_along_axis(sat_pred, last, axis=1)
    reach = np.isfinite(dist) & (gw_node >= n)
    g = np.where(reach, gw_node - n, -1)
    gi = np.where(reach, g, 0)
    feeder = np.where(reach, np.linalg.norm(sat_pos_m[last] - gw_pos_m[gi], axis=-1), 0.0)
    fibre = np.where(reach, np.take_along_axis(combo_fibre_m, gi, axis=1), 0.0)
    laser = np.where(reach, np.maximum(dist - fibre * fibre_group_index - feeder, 0.0), 0.0)
    return PopPaths(
        np.where(reach, dist, np.inf), g, feeder, laser, fibre, np.where(reach, hops, 0)
    )


def _trees(size: int, src, dst, length, sources) -> tuple[np.ndarray, np.ndarray]:
    """Distances and predecessors from ``sources`` (the backend of :func:`sssp_backend`: the
    numba kernels in parallel over the sources, or scipy's Dijkstra; the same distances)."""
    if sssp_backend() == "numba":
        dist, pred, _ = shortest_path_trees(csr_graph(size, src, dst, length), sources)
        return dist, pred
    graph = csr_matrix((length, (src, dst)), shape=(size, size))
    return dijkstra(graph, directed=True, indices=sources, return_predecessors=True)


def _last_satellite(sat_pred: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per tree and satellite, the last satellite before the gateway on its path and the
    number of laser hops to it (pointer jumping: log2(hops) vectorised passes, not a walk)."""
    own = np.broadcast_to(np.arange(n), sat_pred.shape)
    via_sat = (sat_pred >= 0) & (sat_pred < n)
    anc = np.where(via_sat, sat_pred, own)
    hops = via_sat.astype(np.int32)
    for _ in range(64):
        nxt = np.take_along_axis(anc, anc, axis=1)
        if np.array_equal(nxt, anc):
            break
        hops = hops + np.take_along_axis(hops, anc, axis=1)
        anc = nxt
    return anc, hops


@dataclass
class StepArrays:
    """Per step (rows) and terminal (columns) results of a service evaluation.

    NaN / -1 where a terminal is not served.  ``rtt_gw_ms`` is the light time to the nearest
    allowed gateway; the ``*_ms`` parts of the PoP round trip add up to ``rtt_pop_ms`` with the
    model's access overhead.
    """

    rtt_gw_ms: np.ndarray
    gateway: np.ndarray
    visible: np.ndarray
    """Steps at which each terminal saw at least one satellite."""
    rtt_pop_ms: np.ndarray
    radio_ms: np.ndarray
    lasers_ms: np.ndarray
    fibre_ms: np.ndarray
    pop_gateway: np.ndarray
    """Gateway on the path to the PoP (index into the policy's gateways)."""
    satellite: np.ndarray
    """The user link's satellite."""
    laser_hops: np.ndarray
    """Inter-satellite hops on the path (the ``lasers_ms`` part includes their processing)."""

    @classmethod
    def empty(cls, n_t: int, n_term: int) -> StepArrays:
        def f() -> np.ndarray:
            return np.full((n_t, n_term), np.nan, dtype=np.float32)

        def i() -> np.ndarray:
            return np.full((n_t, n_term), -1, dtype=np.int32)

        return cls(f(), i(), np.zeros(n_term, dtype=np.int64), f(), f(), f(), f(), i(), i(), i())


class PopRouter:
    """Routes each allowed terminal to its PoP step after step, holding its satellite for the
    model's reconfiguration slots.

    Terminals are grouped into (landing class, PoP) combinations; :meth:`paths` computes the
    trees of one instant, :meth:`assign` makes the slot-start choice, :meth:`measure` fills a
    step of :class:`StepArrays`.
    """

    def __init__(self, model: LatencyModel, gateways, pops, cls, classes, pop_of, active) -> None:
        self.model = model
        n_pop = len(pops)
        fibre_gp = model.fibre_m(
            gateways.latitude_deg[:, None],
            gateways.longitude_deg[:, None],
            pops.latitude_deg[None, :],
            pops.longitude_deg[None, :],
        )
        keys = np.asarray(cls)[active] * n_pop + np.asarray(pop_of)[active]
        uniq, inv = np.unique(keys, return_inverse=True)
        self.active = np.asarray(active)
        self.combo = np.full(len(cls), -1, dtype=np.int64)
        self.combo[self.active] = inv
        self.combo_gateways = [classes[k // n_pop] for k in uniq]
        self.combo_fibre_m = fibre_gp[:, uniq % n_pop].T.reshape(len(uniq), len(gateways))
        self.held = np.full(len(cls), -1, dtype=np.int64)
        self.held_slot = np.full(len(cls), np.nan)

    def paths(self, sat_pos_m, laser_edges, gw_links, gw_pos_m) -> PopPaths:
        return pop_paths(
            sat_pos_m,
            laser_edges,
            gw_links,
            gw_pos_m,
            self.combo_gateways,
            self.combo_fibre_m,
            self.model.fibre_group_index,
        )

    def _best(self, tl, paths: PopPaths):
        cost = tl.range_m + paths.dist_m[self.combo[self.active[tl.gs]], tl.sat]
        local, _, k = best_per_group(tl.gs, cost)
        return local, k

    def assign(self, slot_s: float, tl, paths: PopPaths) -> None:
        """Choose each terminal's satellite for the slot starting at ``slot_s``."""
        if len(tl):
            local, k = self._best(tl, paths)
            who = self.active[local]
            self.held[who], self.held_slot[who] = tl.sat[k], slot_s

    def measure(self, slot_s: float, tl, paths: PopPaths, out: StepArrays, i: int) -> None:
        """Fill step ``i``: the slot's satellite while it is in view and reaches a gateway,
        else a handover to the best one now (held for the rest of the slot)."""
        if not len(tl):
            return
        local, k = self._best(tl, paths)
        who = self.active[local]
        n = int(paths.dist_m.shape[1])
        keys = tl.gs.astype(np.int64) * n + tl.sat
        held = self.held[who]
        q = local.astype(np.int64) * n + np.maximum(held, 0)
        at = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
        c = self.combo[who]
        keep = (self.held_slot[who] == slot_s) & (held >= 0) & (keys[at] == q)
        keep &= np.isfinite(paths.dist_m[c, np.maximum(held, 0)])
        idx = np.where(keep, at, k)
        sat = tl.sat[idx]
        self.held[who[~keep]], self.held_slot[who[~keep]] = sat[~keep], slot_s
        g = paths.gateway[c, sat]
        ok = g >= 0
        who, sat, c, idx, g = who[ok], sat[ok], c[ok], idx[ok], g[ok]
        to_ms = 2e3 / SPEED_OF_LIGHT_M_S
        radio = (tl.range_m[idx] + paths.feeder_m[c, sat]) * to_ms
        hops = paths.laser_hops[c, sat]
        # No hop, no laser: what laser_m holds then is rounding left by a subtraction.
        lasers = np.where(hops > 0, paths.laser_m[c, sat] * to_ms, 0.0)
        lasers += hops * self.model.laser_hop_ms
        fibre = paths.fibre_m[c, sat] * self.model.fibre_group_index * to_ms
        out.radio_ms[i, who], out.lasers_ms[i, who], out.fibre_ms[i, who] = radio, lasers, fibre
        out.rtt_pop_ms[i, who] = radio + lasers + fibre + self.model.access_overhead_ms
        out.pop_gateway[i, who], out.satellite[i, who] = g, sat
        out.laser_hops[i, who] = hops
