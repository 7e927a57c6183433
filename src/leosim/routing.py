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
The trees come from the numba kernels of :mod:`leosim.sssp` (a bucket Dijkstra, and from one
step to the next a warm start from the previous trees: :class:`Router`), or from
:func:`scipy.sparse.csgraph.dijkstra`, the reference, with ``sssp="scipy"`` or
``LEOSIM_SSSP=scipy``.  Both give the same distances to the bit.

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

import os
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from . import sssp as _sssp
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
        """Paths of many pairs as a ``(k, max_nodes)`` int64 array padded with -1 (all -1
        when unreachable): a numba walk, or a hop loop over all pairs together."""
        src_gids = np.asarray(src_gids, dtype=np.int64)
        dst_gids = np.asarray(dst_gids, dtype=np.int64)
        self._check(dst_gids)
        n = self.num_sats
        cur = n + src_gids
        dst_nodes = n + dst_gids
        if _sssp.HAVE_NUMBA:
            h = _sssp.walk_paths(self.next_hop, self.dist_m, dst_gids, cur, dst_nodes)
            if h is None:
                raise RuntimeError("forwarding state has a loop or a hole")  # a bug, not input
            return h
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


SSSP_BACKENDS = ("numba", "scipy")
SSSP_ENV = "LEOSIM_SSSP"
"""Environment variable choosing the shortest-path backend (``numba`` or ``scipy``)."""

WARM_MAX_GAP_S = 5.0
"""Longest time between two steps for which :class:`Router` starts from the previous trees
(measured on Starlink 550 + 100 cities: at 5 s steps 85 % of warm starts succeed and the
step is still faster than cold; at 10 s a third abort and cold is faster)."""


def sssp_backend(name: str | None = None) -> str:
    """The shortest-path backend: ``name``, else ``$LEOSIM_SSSP``, else ``"numba"`` (``"scipy"``
    when numba is not installed).  scipy's Dijkstra is the reference the numba kernels are
    tested against."""
    source = "sssp"
    if name is None:
        name = os.environ.get(SSSP_ENV) or None
        source = f"environment variable {SSSP_ENV}"
    if name is None:
        return "numba" if _sssp.HAVE_NUMBA else "scipy"
    if name not in SSSP_BACKENDS:
        raise InputError(f"{source}: expected one of {SSSP_BACKENDS}, got {name!r}")
    if name == "numba" and not _sssp.HAVE_NUMBA:
        raise InputError(f"{source}: 'numba' is not installed; use 'scipy'")
    return name


class Router:
    """Routing state step after step, each step starting from the previous step's trees.

    Holds what stays fixed (stations, lasers, limits, mode, destinations) and the last
    step's forwarding state; :meth:`step` takes the satellites' positions at the next
    instant.  With the numba backend consecutive steps are warm-started
    (:mod:`leosim.sssp`): the result is the same as a cold :func:`route_step` (distances to
    the bit, next hops but for exactly equal-length candidates).  A step more than
    ``warm_max_gap_s`` after the previous one, or after a step whose warm starts mostly
    failed, starts cold.  ``stats`` counts the last step's cold, warm and aborted trees.
    """

    def __init__(
        self,
        gs_pos_m: np.ndarray,
        gs_up: np.ndarray,
        isl_pairs: np.ndarray,
        *,
        max_range_m: float | np.ndarray = np.inf,
        min_elevation_deg: float | np.ndarray = 0.0,
        max_isl_length_m: float | np.ndarray = np.inf,
        mode: str = "isls",
        destinations: np.ndarray | None = None,
        sssp: str | None = None,
        warm_max_gap_s: float = WARM_MAX_GAP_S,
    ):
        if mode not in MODES:
            raise InputError(
                f"unknown routing mode {mode!r}; expected one of {MODES}", key="routing.mode"
            )
        self.gs_pos_m, self.gs_up = gs_pos_m, gs_up
        self.isl_pairs = _check_isl_pairs(isl_pairs)
        self.max_range_m, self.min_elevation_deg = max_range_m, min_elevation_deg
        self.max_isl_length_m = max_isl_length_m
        self.mode, self.backend = mode, sssp_backend(sssp)
        self.warm_max_gap_s = float(warm_max_gap_s)
        g = len(gs_pos_m)
        self.computed = None
        if destinations is None:
            self.dst = np.arange(g)
        else:
            self.dst = np.unique(np.asarray(destinations, dtype=np.int64))
            if len(self.dst) and (self.dst[0] < 0 or self.dst[-1] >= g):
                raise InputError(f"destinations must be station gids in 0..{g - 1}")
            self.computed = np.zeros(g, dtype=bool)
            self.computed[self.dst] = True
        self._ids: np.ndarray | None = None
        self._inv = self._pred = self._hints = None
        self._prev_t: float | None = None
        self._have_prev = False
        self._skip_warm = 0
        self._backoff = 1
        self.stats = {"cold": 0, "warm": 0, "aborted": 0}

    def step(
        self, sat_pos_m: np.ndarray, *, t_s: float | None = None, gsl: GroundLinks | None = None
    ) -> RoutingState:
        """Routing state with the satellites at ``sat_pos_m`` (``(N, 3)`` ECEF metres) at time
        ``t_s`` (seconds; ``None``: the step follows the previous one closely)."""
        n, g = len(sat_pos_m), len(self.gs_pos_m)
        if len(self.isl_pairs) and int(self.isl_pairs.max()) >= n:
            raise InputError(f"ISL pairs name satellite {int(self.isl_pairs.max())} of {n}")
        if gsl is None:
            gsl = ground_links(
                self.gs_pos_m,
                self.gs_up,
                sat_pos_m,
                max_range_m=self.max_range_m,
                min_elevation_deg=self.min_elevation_deg,
            )
        lasers = usable_isls(sat_pos_m, self.isl_pairs, self.max_isl_length_m)
        rows, cols, w = _reversed_graph_edges(lasers, gsl, n, self.mode)
        dst, partial = self.dst, self.computed is not None
        dist = np.full((g, n + g), np.inf) if partial else np.empty((g, n + g))
        next_hop = np.full((g, n + g), -1, dtype=np.int32) if partial else None
        if self.backend == "scipy":
            graph = csr_matrix((w, (rows, cols)), shape=(n + g, n + g))
            d_part, p_part = dijkstra(
                graph, directed=True, indices=n + dst, return_predecessors=True
            )
            p_part[p_part < 0] = -1
            if partial:
                dist[dst], next_hop[dst] = d_part, p_part
            else:
                dist, next_hop = d_part, p_part.astype(np.int32, copy=False)
            if self.mode == "isls" and g > 0:
                _uplink_choice(dist, next_hop, gsl, n, g, dst)
            self.stats = {"cold": len(dst), "warm": 0, "aborted": 0}
        else:
            if next_hop is None:
                next_hop = np.empty((g, n + g), dtype=np.int32)
            ids, inv = self._numbering(n, g)
            warm = self._may_warm_start(t_s)
            keys = _edge_keys(lasers, len(w))
            if ids is None:  # the given numbering is local enough: no renumbering
                graph = _sssp.csr_graph(n + g, rows, cols, w, keys)
                old = self._pred[0] if warm else None
                kw = dict(dist_out=dist, pred_out=next_hop)
                self._pred[0] = next_hop  # read-only next time: changes there only cost time
            else:
                graph = _sssp.csr_graph(n + g, inv[rows], inv[cols], w, keys)
                self._pred.reverse()
                old = self._pred[1] if warm else None
                kw = dict(pred_out=self._pred[0], relabel=(ids, dist, next_hop))
            if self.mode == "isls" and g > 0 and len(gsl):
                # The kernel fills the stations' entries while each tree is in cache.
                kw["uplinks"] = (n, dst, gsl.gs, gsl.sat, gsl.range_m)
            _, _, st = _sssp.shortest_path_trees(
                graph, n + dst, rows=dst, old_pred=old, hints=self._hints, **kw
            )
            self._count(st[:, 0], old is not None)
            self._prev_t = t_s
        return RoutingState(
            n, g, dist, next_hop, gsl, lasers.pairs, lasers.length_m, lasers.dropped, self.computed
        )

    def _numbering(self, n: int, g: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Internal node ids for the kernels, ``(ids, inverse)``: satellites in
        :func:`leosim.sssp.locality_order` then the stations, or ``(None, None)`` to keep the
        given ids when they are about as local (a Walker shell's, but not a catalogue's)."""
        if self._pred is None or len(self._pred[0][0]) != n + g:
            self._ids = self._inv = None
            order = _sssp.locality_order(n, self.isl_pairs)
            pos = np.argsort(order)
            p = self.isl_pairs
            if len(p) and 4 * np.mean(np.abs(pos[p[:, 0]] - pos[p[:, 1]])) < np.mean(
                np.abs(p[:, 0] - p[:, 1])
            ):
                self._ids = np.concatenate([order, n + np.arange(g)]).astype(np.int32)
                self._inv = np.argsort(self._ids).astype(np.int64)
            shape = (g, n + g)
            self._pred = [np.empty(shape, dtype=np.int32) for _ in range(2)]
            self._hints = _sssp.tree_hints(shape)
            self._prev_t, self._have_prev = None, False
        return self._ids, self._inv

    def _may_warm_start(self, t_s: float | None) -> bool:
        """Whether this step may start from the previous step's trees."""
        warm = self._have_prev
        if warm and t_s is not None and self._prev_t is not None:
            warm = abs(t_s - self._prev_t) <= self.warm_max_gap_s
        if warm and self._skip_warm > 0:
            self._skip_warm -= 1
            warm = False
        self._have_prev = True
        return warm

    def _count(self, outcome: np.ndarray, tried: bool) -> None:
        counts = np.bincount(outcome, minlength=3)
        self.stats = {"cold": int(counts[0]), "warm": int(counts[1]), "aborted": int(counts[2])}
        if tried and counts[2] * 2 > len(outcome):
            # Most warm starts failed (large changes between steps): back off, doubling.
            self._skip_warm, self._backoff = self._backoff, min(2 * self._backoff, 64)
        elif tried:
            self._backoff = 1


def _check_isl_pairs(isl_pairs: np.ndarray) -> np.ndarray:
    """ISL pairs as ``(k, 2)`` int64; each undirected pair at most once, no satellite linked
    to itself (a sparse matrix would add up a repeated pair's lengths)."""
    p = np.asarray(isl_pairs, dtype=np.int64).reshape(-1, 2)
    if len(p) == 0:
        return p
    if p.min() < 0:
        raise InputError(f"ISL pairs must be satellite ids >= 0, got {int(p.min())}")
    lo, hi = p.min(axis=1), p.max(axis=1)
    if np.any(lo == hi):
        raise InputError(f"ISL pair {p[np.argmax(lo == hi)].tolist()} links a satellite to itself")
    key = np.sort(lo * (int(hi.max()) + 1) + hi)
    dup = np.flatnonzero(key[1:] == key[:-1])
    if len(dup):
        k = int(key[dup[0]])
        a, b = divmod(k, int(hi.max()) + 1)
        raise InputError(f"ISL pair [{a}, {b}] is listed more than once")
    return p


def _edge_keys(lasers, num_edges: int) -> np.ndarray:
    """Keys of the edges of :func:`_reversed_graph_edges` that name the same edge at every
    step (:func:`leosim.sssp.csr_graph`): ``2 i`` and ``2 i + 1`` for the two directions of
    candidate laser ``i``; -1 for the ground links."""
    i = lasers.index
    keys = np.full(num_edges, -1, dtype=np.int64)
    if i is not None and len(i) and 2 * int(i.max()) + 1 < 2**31:
        keys[: 2 * len(i)] = np.r_[2 * i, 2 * i + 1]
    return keys


def _reversed_graph_edges(lasers, gsl: GroundLinks, n: int, mode: str):
    """``(rows, cols, length_m)`` of the graph Dijkstra runs on: lasers both ways, and in
    ``isls`` mode station -> satellite only, so that no path can pass through a station."""
    rows, cols, w = lasers.edges
    gs_nodes = n + gsl.gs
    if mode == "isls":
        return (
            np.concatenate([rows, gs_nodes]),
            np.concatenate([cols, gsl.sat]),
            np.concatenate([w, gsl.range_m]),
        )
    return (
        np.concatenate([rows, gs_nodes, gsl.sat]),
        np.concatenate([cols, gsl.sat, gs_nodes]),
        np.concatenate([w, gsl.range_m, gsl.range_m]),
    )


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
    sssp: str | None = None,
) -> RoutingState:
    """Shortest-delay routing state at one instant (one-off; :class:`Router` for many steps).

    ``isl_pairs`` must be unique undirected pairs (as :func:`leosim.links.plus_grid_isls`
    returns); a repeated pair is an :class:`~leosim.errors.InputError`.  ISLs longer than
    ``max_isl_length_m`` are dropped and counted in ``RoutingState.dropped_isls``.

    ``destinations`` (station gids) limits the work to the stations that paths must reach:
    one Dijkstra each.  By default all stations get state (the full forwarding state).
    ``sssp`` picks the shortest-path backend (see :func:`sssp_backend`).
    """
    router = Router(
        gs_pos_m,
        gs_up,
        isl_pairs,
        max_range_m=max_range_m,
        min_elevation_deg=min_elevation_deg,
        max_isl_length_m=max_isl_length_m,
        mode=mode,
        destinations=destinations,
        sssp=sssp,
    )
    return router.step(sat_pos_m, gsl=gsl)


def _uplink_choice(dist, next_hop, gsl: GroundLinks, n: int, g: int, dst: np.ndarray) -> None:
    """Fill station rows: a source station picks the visible satellite ``a`` minimising
    GSL(src, a) + dist(a, dst), ties to the smaller satellite id (Hypatia's rule).

    Over the real links (sorted by station, then satellite): the numba kernel
    :func:`leosim.sssp.best_uplinks`, or without numba a segmented minimum per station
    (destinations in blocks to bound memory).
    """
    if len(gsl) == 0:
        return
    if _sssp.HAVE_NUMBA:
        _sssp.best_uplinks(dist, next_hop, dst, n, gsl.gs, gsl.sat, gsl.range_m)
    else:  # pragma: no cover - numba is a dependency
        _uplink_choice_numpy(dist, next_hop, gsl, n, dst)


def _uplink_choice_numpy(dist, next_hop, gsl: GroundLinks, n: int, dst: np.ndarray) -> None:
    """:func:`_uplink_choice` in numpy: a segmented minimum over each station's links."""
    if len(gsl) == 0:
        return
    starts = np.flatnonzero(np.r_[True, gsl.gs[1:] != gsl.gs[:-1]])
    src_nodes = n + gsl.gs[starts]
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(gsl)]))
    block = max(1, 4_000_000 // len(gsl))
    for i in range(0, len(dst), block):
        d = dst[i : i + block]
        val = gsl.range_m[None, :] + dist[d][:, gsl.sat]  # (dst, links)
        best = np.minimum.reduceat(val, starts, axis=1)
        # First link reaching the minimum: the smaller satellite id.
        pos = np.where(val == best[:, seg], np.arange(len(gsl)), len(gsl))
        first = np.minimum.reduceat(pos, starts, axis=1)
        nh = np.where(np.isfinite(best), gsl.sat[np.minimum(first, len(gsl) - 1)], -1)
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
