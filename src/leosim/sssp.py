"""Shortest-path trees for routing: numba kernels, with scipy's Dijkstra as the reference.

:func:`shortest_path_trees` computes, for each source node, the distance of every node and its
predecessor in a shortest-path tree of a directed graph with non-negative edge lengths
(metres in leosim).  Two kernels, run in parallel over the sources with numba's threads:

cold
    A bucket Dijkstra (Dial's algorithm with buckets of width ``delta``; Dinitz 1978, Dial
    1969).  With ``delta`` no wider than the shortest edge, every node in the lowest
    non-empty bucket is final, so a bucket is emptied in any order and no heap is needed.  A
    node relaxed into the bucket being emptied is processed again, which keeps the result
    exact for any width (Δ-stepping, Meyer & Sanders 2003): near-zero edges only cost time,
    and ``delta`` is floored so that at most :data:`MAX_BUCKETS` buckets are in use (should
    that make the bucket entries overflow, the tree is redone with a binary heap).
warm
    From the previous step's trees, kept as positions (every node after its parent, sorted
    by label, with each tree edge's key or place among the node's in-edges): the lengths
    along each old tree are re-evaluated with the new edge lengths in one sequential pass (an
    old tree edge that no longer exists cuts its subtree off); one pass over every node's
    in-edges, four trees at a time sharing each edge's loads, finds the labels a better edge
    improves; and a binary-heap Dijkstra from those fixes up the labels that change.  When
    the fix-up grows past ``max_fixup`` pops the tree is redone cold.  The positions are
    patched where parents changed, and sorted again (an insertion sort, as they are nearly
    sorted) only where a new parent comes after its child.

Both are exact.  A label is always the length of a real path summed from the source in path
order, as scipy sums it, labels only decrease, and at the end no edge improves any label;
since floating-point addition of a non-negative length is monotone, the labels are then the
minimum over paths of those sums: the same bits as :func:`scipy.sparse.csgraph.dijkstra`.
Predecessors satisfy ``dist[pred[v]] + w(pred[v], v) == dist[v]`` exactly; they may differ
from scipy's only where two candidates give exactly equal lengths.  A predecessor is only
replaced on a strict improvement, so the predecessor graph is always a tree.

Compiled code is cached on disk (numba's ``cache=True``): next to this file, or, in a
read-only install, in numba's user cache or a temporary folder (see :func:`cache_dir`).
``NUMBA_CACHE_DIR`` overrides both.

>>> import numpy as np
>>> g = csr_graph(3, np.array([0, 1, 0]), np.array([1, 2, 2]), np.array([1.0, 1.0, 3.0]))
>>> dist, pred, _ = shortest_path_trees(g, np.array([0]))
>>> dist[0].tolist(), pred[0].tolist()
([0.0, 1.0, 2.0], [-1, 0, 1])
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _threading

LANES = 4
"""Trees relaxed together in a warm start, sharing each edge's loads (written out for 4)."""

MAX_BUCKETS = 4096
"""Most buckets a cold tree uses: ``delta`` is at least the longest edge / this."""

# Outcome of each tree in the statistics that shortest_path_trees returns.
COLD, WARM, WARM_ABORTED = 0, 1, 2


def cache_dir(
    package_dir: Path,
    env: dict[str, str] | os._Environ = os.environ,
    user_cache: Path | None = None,
    writable=None,
) -> Path | None:
    """Where numba should cache compiled kernels: ``None`` for numba's own choice.

    numba writes next to the source file when it can and otherwise in its user cache; when
    neither is writable (a read-only install under a read-only home) it fails, so a folder
    in the temporary directory is used instead.  ``NUMBA_CACHE_DIR`` always wins.
    ``writable(path)`` tells whether a folder can be written to (default: ``os.access``).
    """
    if env.get("NUMBA_CACHE_DIR"):
        return None
    writable = writable or _writable
    pycache = package_dir / "__pycache__"
    if writable(pycache if pycache.exists() else package_dir):
        return None
    if user_cache is None:
        base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        user_cache = Path(base) / "numba"
    probe = user_cache
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if writable(probe):
        return None
    return Path(tempfile.gettempdir()) / f"leosim-numba-cache-{_uid()}"


def _writable(path: Path) -> bool:
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def _uid() -> str:
    getuid = getattr(os, "getuid", None)
    return str(getuid()) if getuid else "user"


try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; routing falls back to scipy
    numba = None
    HAVE_NUMBA = False
else:
    HAVE_NUMBA = True
    _dir = cache_dir(Path(__file__).resolve().parent)
    if _dir is not None:
        numba.config.CACHE_DIR = str(_dir)
    _threading.configure(numba)  # TBB where installed: fast and fork-safe


@dataclass(frozen=True)
class CSRGraph:
    """A directed graph as out- and in-adjacency (CSR), lengths in metres.

    ``out_ptr[v]:out_ptr[v + 1]`` index the edges leaving ``v`` in ``out_dst``/``out_w``;
    ``in_ptr``/``in_src``/``in_w`` the edges entering it.
    """

    num_nodes: int
    out_ptr: np.ndarray
    out_dst: np.ndarray
    out_w: np.ndarray
    in_ptr: np.ndarray
    in_src: np.ndarray
    in_w: np.ndarray
    in_key: np.ndarray
    """Each in-edge's key (-1: none), see :func:`csr_graph`."""
    num_keys: int

    @property
    def num_edges(self) -> int:
        return len(self.out_w)


def csr_graph(
    num_nodes: int,
    rows: np.ndarray,
    cols: np.ndarray,
    w: np.ndarray,
    keys: np.ndarray | None = None,
) -> CSRGraph:
    """The graph of edges ``rows[i] -> cols[i]`` of length ``w[i]`` (finite, >= 0).

    Parallel edges are kept (the shortest one counts), unlike a scipy sparse matrix, which
    would add them up.  ``keys[i] >= 0`` optionally names edge ``i`` the same way in the
    graphs of successive steps (-1: no name), e.g. a laser's index among the candidate
    lasers: warm starts then find the length of an old tree edge directly.  A key that names
    another edge next time only costs time.
    """
    rows = np.ascontiguousarray(rows, dtype=np.int32)
    cols = np.ascontiguousarray(cols, dtype=np.int32)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not (len(rows) == len(cols) == len(w)):
        raise ValueError("rows, cols and w must have the same length")
    if len(w) and not (np.all(np.isfinite(w)) and w.min() >= 0.0):
        raise ValueError("edge lengths must be finite and >= 0")
    if len(w) and (min(rows.min(), cols.min()) < 0 or max(rows.max(), cols.max()) >= num_nodes):
        raise ValueError(f"edge endpoints must be node ids in 0..{num_nodes - 1}")
    if keys is None:
        keys = np.full(len(w), -1, dtype=np.int32)
    keys = np.ascontiguousarray(keys, dtype=np.int32)
    if len(keys) != len(w):
        raise ValueError("keys must name every edge (-1: no name)")
    out_ptr, out_dst, out_w, _ = _csr(num_nodes, rows, cols, w, keys)
    in_ptr, in_src, in_w, in_key = _csr(num_nodes, cols, rows, w, keys)
    num_keys = int(keys.max()) + 1 if len(keys) else 0
    return CSRGraph(num_nodes, out_ptr, out_dst, out_w, in_ptr, in_src, in_w, in_key, num_keys)


def _csr_numpy(num_nodes, key, other, w, names):
    order = np.argsort(key, kind="stable")
    ptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=num_nodes), out=ptr[1:])
    return ptr, other[order], w[order], names[order]


def bucket_width_m(w: np.ndarray) -> tuple[float, int]:
    """``(delta, num_buckets)`` for the cold kernel: the shortest edge, floored at the longest
    edge / :data:`MAX_BUCKETS` (and 1 m when every edge has length 0), and enough circular
    buckets (a power of two) that a relaxation never wraps around onto the bucket being
    emptied."""
    if len(w) == 0:
        return 1.0, 3
    w_max = float(w.max())
    # A hair under the shortest edge, so rounding never drops a relaxed label into the
    # bucket being emptied.
    delta = max(float(w.min()) * (1.0 - 2.0**-20), w_max / MAX_BUCKETS)
    if not delta > 0.0:
        delta = 1.0
    return delta, 1 << (int(w_max / delta) + 3).bit_length()


def shortest_path_trees(
    graph: CSRGraph,
    sources: np.ndarray,
    *,
    dist_out: np.ndarray | None = None,
    pred_out: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    old_pred: np.ndarray | None = None,
    relabel: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    hints: tuple[np.ndarray, np.ndarray] | None = None,
    max_fixup: int | None = None,
    uplinks: tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Distances (metres) and predecessors from each of ``sources`` to every node.

    Returns ``(dist, pred, stats)``: ``dist[i, v]`` (inf when unreachable) and ``pred[i, v]``
    (int32, -1 at the source and when unreachable) for ``i`` over ``sources``, or written into
    rows ``rows[i]`` of ``dist_out``/``pred_out`` when given.  ``old_pred`` (the layout of
    ``pred_out``) warm-starts every tree from the previous step's predecessors; any content
    is safe there (a broken or cyclic tree only costs time).  ``stats[i]`` is ``(outcome,
    fix-up pops)`` with outcome :data:`COLD`, :data:`WARM` or :data:`WARM_ABORTED` (warm start
    tried, then redone cold).

    ``relabel = (ids, dist_ext, pred_ext)`` also writes each tree in another numbering, node
    ``v`` as ``ids[v]`` (predecessors renumbered too), into row ``rows[i]`` of ``dist_ext`` and
    ``pred_ext``; ``dist_out`` may then be omitted (the distances are not kept twice).  The
    kernels run fastest when neighbouring nodes have nearby ids (see :func:`locality_order`).

    ``hints``, :func:`tree_hints` of the layout of ``pred_out`` kept from one call to the
    next, make warm starts faster: each tree as positions (any content is safe: without them
    the positions are rebuilt from ``old_pred``).  Give the graph edge keys
    (:func:`csr_graph`) that name the same edges from one call to the next.

    ``uplinks = (num_sats, station, gs, sat, range_m)``: source ``i`` is station
    ``station[i]`` (node ``num_sats + station[i]``) and each tree's row (the external one with
    ``relabel``) also gets the stations' entries as :func:`best_uplinks` computes them, over
    the ground links ``(gs, sat, range_m)`` sorted by station then satellite, while the row
    is still in cache.
    """
    if not HAVE_NUMBA:  # pragma: no cover
        raise RuntimeError("numba is not installed; use the scipy shortest-path backend")
    n = graph.num_nodes
    sources = np.ascontiguousarray(sources, dtype=np.int64)
    if len(sources) and (sources.min() < 0 or sources.max() >= n):
        raise ValueError(f"sources must be node ids in 0..{n - 1}")
    k = len(sources)
    if pred_out is None:
        pred_out = np.empty((k, n), dtype=np.int32)
        rows = np.arange(k)
        if relabel is None:
            dist_out = np.empty((k, n))
    rows = np.ascontiguousarray(rows if rows is not None else np.arange(k), dtype=np.int64)
    keep_dist = dist_out is not None
    if not keep_dist and relabel is None:
        raise ValueError("dist_out is needed unless relabel is given")
    if pred_out.shape[1] != n or pred_out.dtype != np.int32:
        raise ValueError("pred_out must be (rows, num_nodes) int32")
    if keep_dist and dist_out.shape != pred_out.shape:
        raise ValueError("dist_out must have the shape of pred_out")
    if len(rows) != k or (k and (rows.min() < 0 or rows.max() >= len(pred_out))):
        raise ValueError("rows must give one row of pred_out per source")
    warm = old_pred is not None
    if not warm:
        old_pred = np.empty((1, n), dtype=np.int32)
    elif old_pred.shape != pred_out.shape or old_pred.dtype != np.int32:
        raise ValueError("old_pred must have the shape of pred_out and dtype int32")
    if relabel is None:
        ids = np.empty(0, dtype=np.int32)
        dist_ext, pred_ext = np.empty((1, 0)), np.empty((1, 0), dtype=np.int32)
    else:
        ids, dist_ext, pred_ext = relabel
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        if len(ids) != n or dist_ext.shape != pred_ext.shape or pred_ext.dtype != np.int32:
            raise ValueError("relabel must be (ids of every node, dist rows, int32 pred rows)")
    if not keep_dist:
        dist_out = np.empty((1, n))
    if hints is None:
        hints = tree_hints(pred_out.shape)
    elif len(hints) != 4 or any(h.shape != pred_out.shape for h in hints):
        raise ValueError("hints must be tree_hints() of the shape of pred_out")
    elif any(h.dtype != np.int32 for h in hints):
        raise ValueError("hints must be tree_hints(): four int32 arrays")
    delta, nb = bucket_width_m(graph.out_w)
    limit = max(1, n // 8) if max_fixup is None else int(max_fixup)
    stats = np.zeros((k, 2), dtype=np.int64)
    threads = numba.get_num_threads()
    blocks = -(-k // LANES)
    chunks = min(blocks, 4 * threads) if threads > 1 else min(blocks, 1)
    g = graph
    up = _uplink_args(uplinks, k, n)
    # Only warm starts look edges up by key or map the uplinks' satellites into the lanes;
    # (p * n + v) must be exact in a float64.
    num_keys = g.num_keys if warm and float(n) * n < 2.0**53 else 0
    g_in = (g.in_ptr, g.in_src, g.in_w, g.in_key)
    _trees(
        (g.out_ptr, g.out_dst, g.out_w),
        g_in,
        _key_table(*g_in, num_keys),
        sources,
        rows,
        dist_out,
        keep_dist,
        pred_out,
        old_pred,
        warm,
        hints,
        ids,
        dist_ext,
        pred_ext,
        1.0 / delta,
        nb,
        limit,
        chunks,
        stats,
        up,
        _internal_ids(up[2], ids if relabel is not None else None, n) if warm else up[2],
    )
    return (dist_out if keep_dist else None), pred_out, stats


def tree_hints(shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Empty warm-start hints for :func:`shortest_path_trees` with ``pred_out`` of ``shape``:
    each row's tree as positions, every node after its parent (node, parent, where the parent
    sits among the node's in-edges, and each node's position)."""
    return (
        np.full(shape, -1, dtype=np.int32),
        np.full(shape, -1, dtype=np.int32),
        np.full(shape, -1, dtype=np.int32),
        np.full(shape, -1, dtype=np.int32),
    )


def _internal_ids(ext: np.ndarray, ids: np.ndarray | None, n: int) -> np.ndarray:
    """Internal node ids of the nodes ``ext`` (external ids; the internal node ``v`` is
    external ``ids[v]``, the same when ``ids`` is None)."""
    if ids is None:
        return ext
    inv = np.empty(n, dtype=np.int64)
    inv[np.asarray(ids, dtype=np.int64)] = np.arange(n)
    return inv[ext]


def _uplink_args(uplinks, k: int, n: int):
    """The kernel's form of ``uplinks = (num_sats, station of each source, gs, sat, range_m)``
    (empty arrays: no uplinks)."""
    if uplinks is None:
        e = np.empty(0, dtype=np.int64)
        return (0, np.zeros(1, dtype=np.int64), e, np.empty(0), e)
    num_sats, station, gs, sat, rng = uplinks
    g = n - int(num_sats)
    station = np.ascontiguousarray(station, dtype=np.int64)
    if len(station) != k or (k and (station.min() < 0 or station.max() >= g)):
        raise ValueError("uplinks must name one station (0..num_stations-1) per source")
    ptr = np.zeros(g + 1, dtype=np.int64)
    np.cumsum(np.bincount(gs, minlength=g), out=ptr[1:])
    return (
        int(num_sats),
        ptr,
        np.ascontiguousarray(sat, dtype=np.int64),
        np.ascontiguousarray(rng, dtype=np.float64),
        station,
    )


def locality_order(num_nodes: int, pairs: np.ndarray) -> np.ndarray:
    """A numbering of ``num_nodes`` nodes that puts the ends of ``pairs`` (undirected links)
    close together: reverse Cuthill–McKee (George & Liu 1981) over the links.

    Returns ``order``: the node at position ``i`` is ``order[i]``.  A real catalogue lists its
    satellites by launch, so laser neighbours are thousands of ids apart; in this order the
    kernels' memory accesses stay within a few cache lines.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if num_nodes == 0:
        return np.empty(0, dtype=np.int64)
    m = coo_matrix(
        (
            np.ones(2 * len(pairs)),
            (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]]),
        ),
        shape=(num_nodes, num_nodes),
    ).tocsr()
    return np.asarray(reverse_cuthill_mckee(m, symmetric_mode=True), dtype=np.int64)


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _csr(num_nodes, key, other, w, names):  # pragma: no cover - compiled
        """Counting sort of edges by ``key``: (ptr, other, w, names), stable."""
        ptr = np.zeros(num_nodes + 1, dtype=np.int64)
        for i in range(len(key)):
            ptr[key[i] + 1] += 1
        for v in range(num_nodes):
            ptr[v + 1] += ptr[v]
        fill = ptr[:-1].copy()
        o = np.empty(len(key), dtype=np.int32)
        ww = np.empty(len(key), dtype=np.float64)
        nn = np.empty(len(key), dtype=np.int32)
        for i in range(len(key)):
            j = fill[key[i]]
            o[j] = other[i]
            ww[j] = w[i]
            nn[j] = names[i]
            fill[key[i]] = j + 1
        return ptr, o, ww, nn

    @njit(cache=True, nogil=True, inline="always")
    def _heap_push(hk, hv, size, key, v):  # pragma: no cover - compiled
        i = size
        while i > 0:
            parent = (i - 1) >> 1
            if hk[parent] <= key:
                break
            hk[i] = hk[parent]
            hv[i] = hv[parent]
            i = parent
        hk[i] = key
        hv[i] = v
        return size + 1

    @njit(cache=True, nogil=True, inline="always")
    def _heap_pop(hk, hv, size):  # pragma: no cover - compiled
        """Remove the root; returns the new size (the root was read before)."""
        size -= 1
        key, v = hk[size], hv[size]
        i = 0
        while True:
            c = 2 * i + 1
            if c >= size:
                break
            if c + 1 < size and hk[c + 1] < hk[c]:
                c += 1
            if hk[c] >= key:
                break
            hk[i] = hk[c]
            hv[i] = hv[c]
            i = c
        if size > 0:
            hk[i] = key
            hv[i] = v
        return size

    @njit(cache=True, nogil=True)
    def _cold(
        ptr, dst, w, src, inv_delta, nb, dist, pred, head, ent_v, ent_d, ent_next
    ):  # pragma: no cover
        """Bucket Dijkstra from ``src`` into the rows ``dist``/``pred``; False when the entry
        pool ran out (only possible with buckets wider than the shortest edge).

        Buckets are singly linked lists of entries ``(node, label)``; an entry is stale once
        the node's label has dropped below the entry's (lazy deletion), so a node is
        processed once per label it is pushed with."""
        dist[:] = np.inf
        pred[:] = -1
        head[:] = -1
        mask = nb - 1
        cap = len(ent_v)
        dist[src] = 0.0
        ent_v[0], ent_d[0], ent_next[0] = src, 0.0, -1
        head[0] = 0
        used = 1
        live = 1
        cur = 0
        while live > 0:
            b = cur & mask
            while head[b] >= 0:
                e = head[b]
                head[b] = -1
                while e >= 0:
                    v, dv, e_next = ent_v[e], ent_d[e], ent_next[e]
                    live -= 1
                    e = e_next
                    if dv != dist[v]:
                        continue
                    for k in range(ptr[v], ptr[v + 1]):
                        u = dst[k]
                        nd = dv + w[k]
                        if nd < dist[u]:
                            if used == cap:
                                return False
                            dist[u] = nd
                            pred[u] = v
                            bu = np.int64(nd * inv_delta) & mask
                            ent_v[used], ent_d[used], ent_next[used] = u, nd, head[bu]
                            head[bu] = used
                            used += 1
                            live += 1
            cur += 1
        return True

    @njit(cache=True, nogil=True)
    def _heap_dijkstra(ptr, dst, w, src, dist, pred, hk, hv):  # pragma: no cover - compiled
        """Binary-heap Dijkstra (lazy deletion; at most one push per edge plus the source)."""
        dist[:] = np.inf
        pred[:] = -1
        dist[src] = 0.0
        hk[0], hv[0] = 0.0, src
        size = 1
        while size > 0:
            key, v = hk[0], hv[0]
            size = _heap_pop(hk, hv, size)
            if key != dist[v]:
                continue
            for k in range(ptr[v], ptr[v + 1]):
                u = dst[k]
                nd = key + w[k]
                if nd < dist[u]:
                    dist[u] = nd
                    pred[u] = v
                    size = _heap_push(hk, hv, size, nd, u)

    @njit(cache=True, nogil=True)
    def _key_table(in_ptr, in_src, in_w, in_key, num_keys):  # pragma: no cover - compiled
        """``ktab[key] = (length, p * n + v)`` of the edge ``p -> v`` named ``key`` for keys
        below ``num_keys`` (the last one when a key names several; (inf, -1) when none)."""
        n = len(in_ptr) - 1
        ktab = np.empty((num_keys, 2))
        ktab[:, 0] = np.inf
        ktab[:, 1] = -1.0
        for v in range(n):
            for k in range(in_ptr[v], in_ptr[v + 1]):
                e = in_key[k]
                if e >= 0 and e < num_keys:  # a smaller table keeps only the first keys
                    ktab[e, 0] = in_w[k]
                    ktab[e, 1] = in_src[k] * np.float64(n) + v
        return ktab

    @njit(cache=True, nogil=True, inline="always")
    def _edge_code(g_in, ktab, v, p):  # pragma: no cover - compiled
        """How a tree remembers its edge ``p -> v``: the edge's key (``>= 0``), else ``-2 -``
        its place among the in-edges of ``v``; -1 when there is no such edge."""
        in_ptr, in_src, _in_w, in_key = g_in
        n = len(in_ptr) - 1
        lo = in_ptr[v]
        for k in range(lo, in_ptr[v + 1]):
            if in_src[k] == p:
                e = in_key[k]
                if e >= 0 and e < len(ktab) and ktab[e, 1] == p * np.float64(n) + v:
                    return e
                return -2 - (k - lo)
        return -1

    @njit(cache=True, nogil=True)
    def _edge_length(g_in, ktab, v, p):  # pragma: no cover - compiled
        """``(length, code)`` of the edge ``p -> v`` (see :func:`_edge_code`), inf if none."""
        in_ptr, _in_src, in_w, _in_key = g_in
        code = _edge_code(g_in, ktab, v, p)
        if code >= 0:
            return ktab[code, 0], code
        if code <= -2:
            return in_w[in_ptr[v] - 2 - code], code
        return np.inf, code

    @njit(cache=True, nogil=True)
    def _index_dfs(g_in, ktab, src, old, hints, cnt, kids, stack):  # pragma: no cover
        """Positions of the old tree ``old`` (any content) in depth-first order from ``src``:
        every node after its parent, each node once, nodes the tree does not reach left out."""
        order, par, code, where = hints
        n = len(old)
        cnt[:] = 0
        for v in range(n):
            p = old[v]
            if p >= 0 and p < n and v != src:
                cnt[p + 1] += 1
        for v in range(n):
            cnt[v + 1] += cnt[v]
        fill = where  # scratch until the positions are written below
        for v in range(n):
            fill[v] = cnt[v]
        for v in range(n):
            p = old[v]
            if p >= 0 and p < n and v != src:
                kids[fill[p]] = v
                fill[p] += 1
        where[:] = -1
        stack[0] = src
        top = 1
        j = 0
        while top > 0:
            top -= 1
            v = stack[top]
            where[v] = j
            order[j] = v
            if v == src:
                par[j] = -2
                code[j] = -1
            else:
                par[j] = old[v]
                code[j] = _edge_code(g_in, ktab, v, old[v])
            j += 1
            for k in range(cnt[v], cnt[v + 1]):
                stack[top] = kids[k]
                top += 1
        if j < n:
            order[j] = -1

    @njit(cache=True, nogil=True)
    def _index_sorted(g_in, ktab, src, dist, pred, hints, tmp):  # pragma: no cover
        """Positions of the tree ``pred`` sorted by ``dist`` (reached nodes only), from the
        present positions, whose parents must be up to date: they are usually nearly sorted
        (an insertion sort; a full sort when they are not)."""
        order, par, code, where = hints
        tv, tp, tc = tmp
        n = len(dist)
        j = 0
        for i in range(n):
            v = order[i]
            if v < 0:
                break
            if v < n and where[v] == i and dist[v] < np.inf:
                tv[j], tp[j], tc[j] = v, par[i], code[i]
                j += 1
                where[v] = -3  # taken
        for v in range(n):
            if where[v] != -3 and dist[v] < np.inf:  # reached, and not in the positions
                p = pred[v]
                tv[j] = v
                tp[j] = p if v != src else -2
                tc[j] = _edge_code(g_in, ktab, v, p) if p >= 0 else -1
                j += 1
        moves = 0
        for i in range(1, j):
            v, p, c = tv[i], tp[i], tc[i]
            dv = dist[v]
            q = i - 1
            while q >= 0 and dist[tv[q]] > dv:
                tv[q + 1], tp[q + 1], tc[q + 1] = tv[q], tp[q], tc[q]
                q -= 1
            moves += i - 1 - q
            tv[q + 1], tp[q + 1], tc[q + 1] = v, p, c
            if moves > 4 * n:
                break
        if moves > 4 * n:
            srt = np.argsort(dist[tv[:j]], kind="mergesort")
            order[:j] = tv[:j][srt]
            par[:j] = tp[:j][srt]
            code[:j] = tc[:j][srt]
        else:
            order[:j] = tv[:j]
            par[:j] = tp[:j]
            code[:j] = tc[:j]
        where[:] = -1
        for i in range(j):
            where[order[i]] = i
        if j < n:
            order[j] = -1

    @njit(cache=True, nogil=True)
    def _reevaluate(g_in, ktab, src, dist, pred, hints):  # pragma: no cover - compiled
        """Lengths along the old tree with the new edge lengths, position by position (every
        parent before its children): a node whose parent edge is gone, or whose parent is not
        labelled before it, stays unlabelled (inf), and with it its subtree.  Every finite
        label is the length of a path of the new graph, summed in path order."""
        order, par, code, _where = hints
        in_ptr, in_src, in_w, _in_key = g_in
        n = len(dist)
        nk = len(ktab)
        fn = np.float64(n)
        dist[:] = np.inf
        pred[:] = -1
        dist[src] = 0.0
        for i in range(1, n):
            v = order[i]
            if v < 0:
                break
            p = par[i]
            if v >= n or p < 0 or p >= n or dist[v] < np.inf:
                continue
            dp = dist[p]
            if not dp < np.inf:
                continue
            # The two usual codes decoded here rather than in a helper: called once per
            # node, the helper made this pass several times slower.
            c = code[i]
            if c >= 0 and c < nk and ktab[c, 1] == p * fn + v:
                w = ktab[c, 0]  # the usual case: the edge's key
            else:
                k = in_ptr[v] - 2 - c
                if c <= -2 and k < in_ptr[v + 1] and in_src[k] == p:
                    w = in_w[k]
                else:
                    w, c = _edge_length(g_in, ktab, v, p)
                    code[i] = c
            if w < np.inf:
                dist[v] = dp + w
                pred[v] = p

    @njit(cache=True, nogil=True)
    def _warm_start(g_in, ktab, src, old, dist, pred, work, hints):  # pragma: no cover
        """Labels along the old tree (see :func:`_reevaluate`), its positions first rebuilt
        from ``old`` when the hints do not hold this tree's."""
        cnt, kids, stack, _hk, _hv, _chg, _tcode = work
        order, par, _code, where = hints
        if not (order[0] == src and par[0] == -2 and where[src] == 0):
            _index_dfs(g_in, ktab, src, old, hints, cnt, kids, stack)
        _reevaluate(g_in, ktab, src, dist, pred, hints)

    @njit(cache=True, nogil=True, inline="always")
    def _lowered(s, p, x, v, row_d, pred, rows, better, num_better):  # pragma: no cover
        if p >= 0:
            row_d[s, v] = x
            pred[rows[s], v] = p
            better[s, num_better[s]] = v
            num_better[s] += 1

    @njit(cache=True, nogil=True)
    def _relax_lanes(g_in, lane_d, row_d, pred, rows, better, num_better):  # pragma: no cover
        """One pass over every node's in-edges for four trees at once, tree ``s`` in column
        ``lane_d[:, s]`` (unused columns all inf): a label an edge improves is lowered there and
        in ``row_d[s]``, its predecessor set in row ``pred[rows[s]]`` and the node listed in
        ``better[s]``.  The four trees share each edge's loads; written out by hand, as numba
        does not unroll."""
        in_ptr, in_src, in_w, _in_key = g_in
        d = lane_d.reshape(-1)
        num_better[:] = 0
        for v in range(len(in_ptr) - 1):
            b = 4 * v
            d0, d1, d2, d3 = d[b], d[b + 1], d[b + 2], d[b + 3]
            p0 = p1 = p2 = p3 = -1
            for k in range(in_ptr[v], in_ptr[v + 1]):
                u = in_src[k]
                a = 4 * u
                w = in_w[k]
                x = d[a] + w
                if x < d0:
                    d0, p0 = x, u
                x = d[a + 1] + w
                if x < d1:
                    d1, p1 = x, u
                x = d[a + 2] + w
                if x < d2:
                    d2, p2 = x, u
                x = d[a + 3] + w
                if x < d3:
                    d3, p3 = x, u
            if p0 >= 0 or p1 >= 0 or p2 >= 0 or p3 >= 0:
                d[b], d[b + 1], d[b + 2], d[b + 3] = d0, d1, d2, d3
                _lowered(0, p0, d0, v, row_d, pred, rows, better, num_better)
                _lowered(1, p1, d1, v, row_d, pred, rows, better, num_better)
                _lowered(2, p2, d2, v, row_d, pred, rows, better, num_better)
                _lowered(3, p3, d3, v, row_d, pred, rows, better, num_better)

    @njit(cache=True, nogil=True)
    def _fix_up(g_out, g_in, ktab, src, dist, pred, better, work, hints, limit):  # pragma: no cover
        """Dijkstra from the nodes ``better`` whose labels the relaxation pass lowered; then
        the tree's positions kept for the next step.  Returns the pops, or -1 when they grew
        past ``limit``."""
        out_ptr, out_dst, out_w = g_out
        _cnt, kids, stack, hk, hv, chg, tcode = work
        order, par, code, where = hints
        cap = len(hk)
        size = 0
        for t in range(len(better)):
            v = better[t]
            if size >= cap:
                return -1
            size = _heap_push(hk, hv, size, dist[v], v)
        m = 0
        pops = 0
        while size > 0:
            key, v = hk[0], hv[0]
            size = _heap_pop(hk, hv, size)
            if key != dist[v]:
                continue
            pops += 1
            if pops > limit:
                return -1
            if m < len(chg):
                chg[m] = v
            m += 1
            for k in range(out_ptr[v], out_ptr[v + 1]):
                u = out_dst[k]
                nd = key + out_w[k]
                if nd < dist[u]:
                    if size >= cap:
                        return -1
                    dist[u] = nd
                    pred[u] = v
                    size = _heap_push(hk, hv, size, nd, u)
        # Keep the positions: new parents for the nodes that changed, and sorted again by the
        # new labels where a parent no longer comes first (or too many changed).
        ok = m <= len(chg)
        for t in range(min(m, len(chg))):
            v = chg[t]
            i = where[v]
            p = pred[v]
            if i < 0 or i >= len(order) or order[i] != v or p < 0:
                ok = False
                continue
            par[i] = p
            code[i] = _edge_code(g_in, ktab, v, p)
            ip = where[p]
            if ip < 0 or ip >= i:
                ok = False
        if not ok:
            _index_sorted(g_in, ktab, src, dist, pred, hints, (kids, stack, tcode))
        return pops

    @njit(cache=True, nogil=True)
    def _emit(d_row, p_row, ids, de, pe, relabel, copy, uplinks, station):  # pragma: no cover
        """A finished tree into the caller's rows ``de``/``pe``: renumbered (``relabel``) or
        the distances copied (``copy``; else ``de`` is ``d_row``), and the source station's
        uplinks (isls mode; not for ``station < 0``) while the row is in cache."""
        up_n, up_ptr, up_sat, up_rng, up_station = uplinks
        up = len(up_station) > 0 and station >= 0
        if relabel:
            for v in range(len(p_row)):
                x = ids[v]
                de[x] = d_row[v]
                q = p_row[v]
                pe[x] = ids[q] if q >= 0 else -1
            if up:
                _uplink_row(de, pe, up_n, up_ptr, up_sat, up_rng, station)
        else:
            if copy:
                de[:] = d_row
            if up:
                _uplink_row(de, p_row, up_n, up_ptr, up_sat, up_rng, station)

    @njit(cache=True, nogil=True)
    def _uplink_lanes(lane_d, use, rows, d_out, p_out, station, uplinks, isat):  # pragma: no cover
        """Station entries (see :func:`best_uplinks`) of the four trees in the columns of
        ``lane_d`` (internal numbering; satellite ``sat[k]`` is node ``isat[k]`` there) whose
        ``use`` is set, into rows ``rows[s]`` of ``d_out``/``p_out``: one load of each link's
        four labels instead of four."""
        n, ptr, sat, rng, _ = uplinks
        d = lane_d.reshape(-1)
        for g in range(len(ptr) - 1):
            if ptr[g + 1] == ptr[g]:
                continue
            b0 = b1 = b2 = b3 = np.inf
            s0 = s1 = s2 = s3 = -1
            for k in range(ptr[g], ptr[g + 1]):
                a = 4 * isat[k]
                r = rng[k]
                x = r + d[a]
                if x < b0:
                    b0, s0 = x, sat[k]
                x = r + d[a + 1]
                if x < b1:
                    b1, s1 = x, sat[k]
                x = r + d[a + 2]
                if x < b2:
                    b2, s2 = x, sat[k]
                x = r + d[a + 3]
                if x < b3:
                    b3, s3 = x, sat[k]
            for j, bj, sj in ((0, b0, s0), (1, b1, s1), (2, b2, s2), (3, b3, s3)):
                if use[j]:
                    d_out[rows[j], n + g] = bj
                    p_out[rows[j], n + g] = sj
        for j in range(LANES):
            if use[j]:
                d_out[rows[j], n + station[j]] = 0.0
                p_out[rows[j], n + station[j]] = -1

    @njit(cache=True, parallel=True)
    def _trees(
        g_out,
        g_in,
        ktab,
        sources,
        rows,
        dist,
        keep_dist,
        pred,
        old_pred,
        warm,
        hints,
        ids,
        dist_ext,
        pred_ext,
        inv_delta,
        nb,
        limit,
        chunks,
        stats,
        uplinks,
        isat,
    ):  # pragma: no cover - compiled
        out_ptr, out_dst, out_w = g_out
        order, par, code, where = hints
        station = uplinks[4] if len(uplinks[4]) else np.zeros(len(sources), dtype=np.int64)
        n = pred.shape[1]
        k = len(sources)
        cap = len(out_w) + n + 16
        relabel = len(ids) > 0
        blocks = (k + LANES - 1) // LANES
        lanes_up = len(uplinks[4]) > 0
        for c in prange(chunks):
            head = np.empty(nb, dtype=np.int32)
            ent_v = np.empty(cap, dtype=np.int32)
            ent_d = np.empty(cap, dtype=np.float64)
            ent_next = np.empty(cap, dtype=np.int32)
            hk = np.empty(cap, dtype=np.float64)
            hv = np.empty(cap, dtype=np.int32)
            scratch = np.empty(n, dtype=np.float64)
            work = (
                np.empty(n + 1, dtype=np.int64),
                np.empty(n, dtype=np.int32),
                np.empty(n + 1, dtype=np.int32),
                hk,
                hv,
                np.empty(n, dtype=np.int32),
                np.empty(n, dtype=np.int32),
            )
            no_pred = np.empty(0, dtype=np.int32)
            lane_d = np.empty((n, LANES))
            row_d = np.empty((LANES, n))
            better = np.empty((LANES, n), dtype=np.int32)
            num_better = np.zeros(LANES, dtype=np.int64)
            lane_rows = np.empty(LANES, dtype=np.int64)
            use = np.zeros(LANES, dtype=np.bool_)
            lane_station = np.zeros(LANES, dtype=np.int64)
            chg = work[5]
            for b in range(c * blocks // chunks, (c + 1) * blocks // chunks):
                i0 = b * LANES
                lanes = min(LANES, k - i0)
                if warm:
                    for s in range(LANES):
                        if s >= lanes:
                            row_d[s] = np.inf
                            continue
                        r = rows[i0 + s]
                        lane_rows[s] = r
                        h_row = (order[r], par[r], code[r], where[r])
                        _warm_start(g_in, ktab, sources[i0 + s], old_pred[r], row_d[s], pred[r],
                                    work, h_row)  # fmt: skip
                    lane_d[:] = row_d.T
                    _relax_lanes(g_in, lane_d, row_d, pred, lane_rows, better, num_better)
                for s in range(lanes):
                    i = i0 + s
                    r = rows[i]
                    p_row = pred[r]
                    h_row = (order[r], par[r], code[r], where[r])
                    de = dist_ext[r] if relabel else (dist[r] if keep_dist else scratch)
                    pe = pred_ext[r] if relabel else no_pred
                    done = False
                    if warm:
                        pops = _fix_up(g_out, g_in, ktab, sources[i], row_d[s], p_row,
                                       better[s, : num_better[s]], work, h_row, limit)  # fmt: skip
                        done = pops >= 0
                        stats[i, 0] = 1 if done else 2
                        stats[i, 1] = max(pops, 0)
                        use[s] = done and lanes_up
                        if done:
                            _emit(row_d[s], p_row, ids, de, pe, relabel, True, uplinks,
                                  -1 if lanes_up else station[i])  # fmt: skip
                            if lanes_up:  # the fix-up's labels into the lanes too
                                if pops <= len(chg):
                                    for t in range(pops):
                                        lane_d[chg[t], s] = row_d[s, chg[t]]
                                else:  # more pops than the list holds
                                    lane_d[:, s] = row_d[s]
                                lane_station[s] = station[i]
                    if not done:
                        d_row = dist[r] if keep_dist else scratch
                        ok = _cold(
                            out_ptr, out_dst, out_w, sources[i], inv_delta, nb, d_row, p_row, head,
                            ent_v, ent_d, ent_next,
                        )  # fmt: skip
                        if not ok:
                            _heap_dijkstra(
                                out_ptr, out_dst, out_w, sources[i], d_row, p_row, hk, hv
                            )
                        par[r, 0] = -1  # positions of another tree: rebuilt when next warm
                        _emit(d_row, p_row, ids, de if relabel else d_row, pe, relabel, False,
                              uplinks, station[i])  # fmt: skip
                if warm and lanes_up:
                    _uplink_lanes(lane_d, use, lane_rows, dist_ext if relabel else dist,
                                  pred_ext if relabel else pred, lane_station, uplinks, isat)  # fmt: skip
                    use[:] = False

    @njit(cache=True, nogil=True, inline="always")
    def _uplink_row(dist, nh, n, ptr, sat, rng, d):  # pragma: no cover - compiled
        """Station entries of one destination's row (see :func:`best_uplinks`)."""
        for s in range(len(ptr) - 1):
            best = np.inf
            bs = -1
            for k in range(ptr[s], ptr[s + 1]):
                v = rng[k] + dist[sat[k]]
                if v < best:
                    best = v
                    bs = sat[k]
            if ptr[s + 1] > ptr[s]:
                dist[n + s] = best
                nh[n + s] = bs
        dist[n + d] = 0.0
        nh[n + d] = -1

    @njit(cache=True, parallel=True)
    def _best_uplinks(dist, nh, rows, n, ptr, sat, rng):  # pragma: no cover - compiled
        for i in prange(len(rows)):
            d = rows[i]
            _uplink_row(dist[d], nh[d], n, ptr, sat, rng, d)

    @njit(cache=True, nogil=True)
    def _walk_paths(next_hop, dist, rows, cur0, dst_nodes, limit):  # pragma: no cover
        """Nodes of each path as a -1 padded ``(k, width)`` int64 matrix; None on a loop.
        Pairs are walked grouped by row (``next_hop[row]`` stays in cache), into one flat
        buffer, then copied out."""
        k = len(rows)
        order = np.argsort(rows, kind="mergesort")
        start = np.zeros(k + 1, dtype=np.int64)
        buf = np.empty(max(16, 24 * k), dtype=np.int64)
        p = 0
        width = 1
        for t in range(k):
            i = order[t]
            r = rows[i]
            cur = cur0[i]
            if np.isfinite(dist[r, cur]):
                m = 0
                while True:
                    if p >= len(buf):
                        grown = np.empty(2 * len(buf), dtype=np.int64)
                        grown[:p] = buf[:p]
                        buf = grown
                    buf[p] = cur
                    p += 1
                    m += 1
                    if cur == dst_nodes[i]:
                        break
                    cur = next_hop[r, cur]
                    if cur < 0 or m >= limit:
                        return None
                width = max(width, m)
            start[t + 1] = p
        out = np.full((k, width), -1, dtype=np.int64)
        for t in range(k):
            i = order[t]
            for j in range(start[t + 1] - start[t]):
                out[i, j] = buf[start[t] + j]
        return out

else:  # pragma: no cover
    _csr = _csr_numpy
    _walk_paths = None


def walk_paths(
    next_hop: np.ndarray,
    dist: np.ndarray,
    rows: np.ndarray,
    src_nodes: np.ndarray,
    dst_nodes: np.ndarray,
) -> np.ndarray | None:
    """Follow ``next_hop[rows[i]]`` from ``src_nodes[i]`` to ``dst_nodes[i]``: the nodes of
    every path as a ``(k, max nodes)`` int64 matrix padded with -1 (all -1 when
    ``dist[rows[i], src_nodes[i]]`` is inf).  None when a path runs into a hole or a loop
    (longer than every node), or without numba."""
    if not HAVE_NUMBA:  # pragma: no cover
        return None
    return _walk_paths(
        next_hop,
        dist,
        np.ascontiguousarray(rows, dtype=np.int64),
        np.ascontiguousarray(src_nodes, dtype=np.int64),
        np.ascontiguousarray(dst_nodes, dtype=np.int64),
        next_hop.shape[1],
    )


def best_uplinks(
    dist: np.ndarray,
    next_hop: np.ndarray,
    rows: np.ndarray,
    num_sats: int,
    gsl_gs: np.ndarray,
    gsl_sat: np.ndarray,
    gsl_range_m: np.ndarray,
) -> None:
    """Station rows of routing state in place: towards destination station ``d`` (each of
    ``rows``), station ``s`` goes up to the satellite ``a`` minimising
    ``range(s, a) + dist[d, a]`` over its links, ties to the first link (links sorted by
    station, then satellite: the smaller satellite id, Hypatia's rule).  Station ``d`` itself
    gets distance 0 and no next hop; a station without links keeps its row entries."""
    num_sats, ptr, sat, rng, rows = _uplink_args(
        (num_sats, rows, gsl_gs, gsl_sat, gsl_range_m), len(rows), dist.shape[1]
    )
    _best_uplinks(dist, next_hop, rows, num_sats, ptr, sat, rng)


def warm_up() -> float:
    """Compile (or load from the cache) every kernel on a tiny graph; returns seconds taken."""
    t0 = time.perf_counter()
    if HAVE_NUMBA:
        g = csr_graph(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 2.0]))
        _, pred, _ = shortest_path_trees(g, np.array([0, 1]))
        shortest_path_trees(g, np.array([0, 1]), old_pred=pred)
    return time.perf_counter() - t0
