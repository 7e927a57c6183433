"""Routing: shortest-delay paths over satellites and ground stations at one instant.

Nodes are numbered as in Hypatia: satellites ``0 .. N-1`` then ground station ``g`` as
``N + g``.  Two modes:

``"isls"`` (default)
    Hypatia's ``algorithm_free_one_only_over_isls``: a packet goes up from its source station,
    along inter-satellite lasers, and down to its destination station.  Stations never relay.
``"bent-pipe"``
    Stations may relay (satellite → station → satellite), with or without lasers: the
    bent-pipe network of first-generation satellites.

For every destination station we run one Dijkstra on the *reversed* graph, in which a station
has edges only towards the satellites it sees.  Shortest paths that end at that station then
cannot pass through another station, and the predecessor of each node in the Dijkstra tree is
its next hop towards the destination: the full forwarding state, at the cost of the distances.
All stations are done in one call of :func:`scipy.sparse.csgraph.dijkstra`.

>>> import numpy as np
>>> from leosim.routing import route_step
>>> sats = np.array([[7e6, 0, 0], [7e6, 1e6, 0]])
>>> stations = np.array([[6.4e6, 0, 0], [6.4e6, 1e6, 0]])
>>> up = stations / np.linalg.norm(stations, axis=1, keepdims=True)
>>> state = route_step(sats, stations, up, np.array([[0, 1]]), max_range_m=7e5)
>>> state.path(0, 1)
[2, 0, 1, 3]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .constants import SPEED_OF_LIGHT_M_S
from .errors import InputError
from .links import GroundLinks, ground_links, usable_isls

MODES = ("isls", "bent-pipe")


@dataclass
class RoutingState:
    """Distances and next hops towards every destination station at one instant.

    ``dist_m[d, v]``: length of the shortest path from node ``v`` to station ``d`` (inf when
    unreachable).  ``next_hop[d, v]``: the node after ``v`` on that path (-1 at ``d`` itself or
    when unreachable).  Shape ``(num_gs, num_sats + num_gs)``.
    """

    num_sats: int
    num_gs: int
    dist_m: np.ndarray
    next_hop: np.ndarray
    gsl: GroundLinks
    isl_pairs: np.ndarray
    isl_length_m: np.ndarray
    dropped_isls: int = 0
    computed: np.ndarray | None = None
    """Which destination stations have state (all when None)."""

    def _check(self, dst_gid) -> None:
        if self.computed is not None and not np.all(self.computed[np.asarray(dst_gid)]):
            missing = np.setdiff1d(np.atleast_1d(dst_gid), np.flatnonzero(self.computed))
            raise ValueError(
                f"no routing state towards station(s) {missing.tolist()}: "
                "route_step was given destinations without them"
            )

    def path(self, src_gid: int, dst_gid: int) -> list[int]:
        """Node ids from station ``src_gid`` to station ``dst_gid`` ([] when unreachable)."""
        self._check(dst_gid)
        n = self.num_sats
        node, dst_node = n + src_gid, n + dst_gid
        if not np.isfinite(self.dist_m[dst_gid, node]):
            return []
        out = [node]
        while node != dst_node:
            node = int(self.next_hop[dst_gid, node])
            if node < 0 or len(out) > n + self.num_gs:
                raise RuntimeError("forwarding state has a loop or a hole")  # a bug, not input
            out.append(node)
        return out

    def path_matrix(self, src_gids: np.ndarray, dst_gids: np.ndarray) -> np.ndarray:
        """Paths of many pairs as a ``(k, max_nodes)`` array padded with -1 (all -1 when
        unreachable): the hop loop runs over all pairs together."""
        src_gids = np.asarray(src_gids, dtype=np.int64)
        dst_gids = np.asarray(dst_gids, dtype=np.int64)
        self._check(dst_gids)
        n = self.num_sats
        cur = n + src_gids
        dst_nodes = n + dst_gids
        reachable = np.isfinite(self.dist_m[dst_gids, cur])
        hops = [np.where(reachable, cur, -1)]
        active = reachable & (cur != dst_nodes)
        limit = n + self.num_gs
        while active.any():
            cur = np.where(active, self.next_hop[dst_gids, cur], cur)
            hops.append(np.where(active, cur, -1))
            active = active & (cur != dst_nodes)
            if len(hops) > limit:
                raise RuntimeError("forwarding state has a loop")
        return np.stack(hops, axis=1)

    def paths(self, src_gids: np.ndarray, dst_gids: np.ndarray) -> list[list[int]]:
        """Paths for many pairs at once, as lists of node ids ([] when unreachable)."""
        h = self.path_matrix(src_gids, dst_gids)
        return [row[row >= 0].tolist() for row in h]

    def length_m(self, src_gid, dst_gid):
        """Shortest path length(s) from station(s) ``src_gid`` to ``dst_gid``, metres."""
        self._check(dst_gid)
        return self.dist_m[dst_gid, self.num_sats + np.asarray(src_gid)]

    def rtt_ms(self, src_gid, dst_gid):
        """Round-trip time (ms): (length src→dst + length dst→src) / c."""
        fwd = self.length_m(src_gid, dst_gid)
        rev = self.length_m(dst_gid, src_gid)
        return (fwd + rev) / SPEED_OF_LIGHT_M_S * 1e3


def route_step(
    sat_pos_m: np.ndarray,
    gs_pos_m: np.ndarray,
    gs_up: np.ndarray,
    isl_pairs: np.ndarray,
    *,
    max_range_m: float | np.ndarray = np.inf,
    min_elevation_deg: float | np.ndarray = 0.0,
    max_isl_length_m: float | np.ndarray = np.inf,
    mode: str = "isls",
    gsl: GroundLinks | None = None,
    destinations: np.ndarray | None = None,
) -> RoutingState:
    """Shortest-delay routing state at one instant.

    ``isl_pairs`` must be unique undirected pairs (as :func:`leosim.links.plus_grid_isls`
    returns): scipy sums duplicate entries when it builds the sparse graph, which would
    silently double a link's length.  ISLs longer than ``max_isl_length_m`` are dropped and
    counted in ``RoutingState.dropped_isls``.

    ``destinations`` (station gids) limits the work to the stations that paths must reach:
    one Dijkstra each.  By default all stations get state (the full forwarding state).
    """
    if mode not in MODES:
        raise InputError(
            f"unknown routing mode {mode!r}; expected one of {MODES}", key="routing.mode"
        )
    n, g = len(sat_pos_m), len(gs_pos_m)
    if gsl is None:
        gsl = ground_links(
            gs_pos_m, gs_up, sat_pos_m, max_range_m=max_range_m, min_elevation_deg=min_elevation_deg
        )
    lasers = usable_isls(sat_pos_m, isl_pairs, max_isl_length_m)
    rows, cols, w = lasers.edges
    gs_nodes = n + gsl.gs
    if mode == "isls":
        # Reversed graph: station -> satellite only, so no path can pass through a station.
        rows = np.concatenate([rows, gs_nodes])
        cols = np.concatenate([cols, gsl.sat])
        w = np.concatenate([w, gsl.range_m])
    else:
        rows = np.concatenate([rows, gs_nodes, gsl.sat])
        cols = np.concatenate([cols, gsl.sat, gs_nodes])
        w = np.concatenate([w, gsl.range_m, gsl.range_m])
    graph = csr_matrix((w, (rows, cols)), shape=(n + g, n + g))
    computed = None
    if destinations is None:
        dst = np.arange(g)
    else:
        dst = np.unique(np.asarray(destinations, dtype=np.int64))
        if len(dst) and (dst[0] < 0 or dst[-1] >= g):
            raise InputError(f"destinations must be station gids in 0..{g - 1}")
        computed = np.zeros(g, dtype=bool)
        computed[dst] = True
    d_part, p_part = dijkstra(graph, directed=True, indices=n + dst, return_predecessors=True)
    if computed is None:
        dist, next_hop = d_part, p_part.astype(np.int64, copy=False)
    else:
        dist = np.full((g, n + g), np.inf)
        next_hop = np.full((g, n + g), -1, dtype=np.int64)
        dist[dst] = d_part
        next_hop[dst] = p_part
    next_hop[next_hop < 0] = -1
    if mode == "isls" and g > 0:
        _uplink_choice(dist, next_hop, gsl, n, g, dst)
    return RoutingState(
        n, g, dist, next_hop, gsl, lasers.pairs, lasers.length_m, lasers.dropped, computed
    )


def _uplink_choice(dist, next_hop, gsl: GroundLinks, n: int, g: int, dst: np.ndarray) -> None:
    """Fill station rows: a source station picks the visible satellite ``a`` minimising
    GSL(src, a) + dist(a, dst), ties to the smaller satellite id (Hypatia's rule).

    Each station's links are padded to the same count K, so the choice is one ``argmin``
    over a ``(dst, src, K)`` block (links are sorted by satellite id, and argmin keeps the
    first of equal values: the smaller id).  Destinations go in blocks to bound memory.
    """
    if len(gsl) == 0:
        return
    counts = gsl.counts(g)
    src = np.flatnonzero(counts > 0)
    k_max = int(counts.max())
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(gsl)) - starts[gsl.gs]
    row = np.searchsorted(src, gsl.gs)
    sat_pad = np.zeros((len(src), k_max), dtype=np.int64)
    rng_pad = np.full((len(src), k_max), np.inf)
    sat_pad[row, slot] = gsl.sat
    rng_pad[row, slot] = gsl.range_m
    block = max(1, int(4_000_000 // max(len(src) * k_max, 1)))
    src_nodes = n + src
    for i in range(0, len(dst), block):
        d = dst[i : i + block]
        val = rng_pad[None, :, :] + dist[d][:, sat_pad]  # (dst, src, K)
        k = np.argmin(val, axis=2)
        best = np.take_along_axis(val, k[:, :, None], axis=2)[:, :, 0]
        nh = np.where(np.isfinite(best), sat_pad[np.arange(len(src))[None, :], k], -1)
        dist[np.ix_(d, src_nodes)] = best
        next_hop[np.ix_(d, src_nodes)] = nh
    # A station's distance to itself is 0 and it has no next hop.
    dist[dst, n + dst] = 0.0
    next_hop[dst, n + dst] = -1


def path_to_str(path: list[int]) -> str:
    """Hypatia's path notation: node ids joined by ``-`` (empty when unreachable)."""
    return "-".join(map(str, path))


def num_isl_hops(path: list[int], num_sats: int) -> int:
    """Number of satellite-to-satellite hops on a path (-1 when unreachable)."""
    if not path:
        return -1
    p = np.asarray(path)
    return int(np.sum((p[:-1] < num_sats) & (p[1:] < num_sats)))
