"""The per-step kernels around the shortest-path trees, each against a plain Python
definition: the uplink choice over the real ground links (numba and numpy), the path walk
along next hops, and Hypatia's path strings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from leosim import sssp
from leosim.links import GroundLinks, plus_grid_isls
from leosim.routing import _uplink_choice_numpy
from leosim.simulate import _path_strings


def _random_links(rng, g: int, n: int, *, empty_station: int | None = 3):
    gs, sat = [], []
    for s in range(g):
        if s == empty_station:
            continue
        m = int(rng.integers(1, 12))
        gs += [s] * m
        sat += sorted(rng.choice(n, m, replace=False).tolist())
    gs, sat = np.array(gs), np.array(sat)
    rng_m = rng.uniform(5e5, 1.2e6, len(gs))
    rng_m[::7] = 8e5  # exact ties between links are decided by the satellite id
    return GroundLinks(gs, sat, rng_m, np.zeros(len(gs)))


def _python_uplinks(dist, next_hop, gsl, n, dst):
    dist, next_hop = dist.copy(), next_hop.copy()
    g = dist.shape[1] - n
    for d in dst:
        for s in range(g):
            idx = np.flatnonzero(gsl.gs == s)
            if len(idx) == 0:
                continue
            best, best_sat = np.inf, -1
            for k in idx:  # links sorted by satellite: a tie keeps the smaller id
                v = gsl.range_m[k] + dist[d, gsl.sat[k]]
                if v < best:
                    best, best_sat = v, int(gsl.sat[k])
            dist[d, n + s], next_hop[d, n + s] = best, best_sat
        dist[d, n + d], next_hop[d, n + d] = 0.0, -1
    return dist, next_hop


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uplink_choice_equals_python_definition(seed):
    rng = np.random.default_rng(seed)
    g, n = 9, 60
    gsl = _random_links(rng, g, n)
    dist = rng.uniform(1e6, 2e7, (g, n + g))
    dist[:, rng.choice(n, 10, replace=False)] = np.inf  # satellites cut off from a station
    dist[:, 5] = 1e7  # equal totals through different satellites
    dist[:, 6] = 1e7
    next_hop = rng.integers(-1, n, (g, n + g)).astype(np.int32)
    dst = np.array([0, 2, 3, 8])
    want_d, want_h = _python_uplinks(dist, next_hop, gsl, n, dst)
    for impl in ("numba", "numpy"):
        d, h = dist.copy(), next_hop.copy()
        if impl == "numba":
            sssp.best_uplinks(d, h, dst, n, gsl.gs, gsl.sat, gsl.range_m)
        else:
            _uplink_choice_numpy(d, h, gsl, n, dst)
        np.testing.assert_array_equal(d, want_d, err_msg=impl)
        np.testing.assert_array_equal(h, want_h, err_msg=impl)


def _python_walk(next_hop, dist, rows, src, dst):
    paths = []
    for r, s, t in zip(rows, src, dst, strict=True):
        if not np.isfinite(dist[r, s]):
            paths.append([])
            continue
        p = [int(s)]
        while p[-1] != t:
            p.append(int(next_hop[r, p[-1]]))
        paths.append(p)
    width = max([1] + [len(p) for p in paths])
    out = np.full((len(paths), width), -1, dtype=np.int64)
    for i, p in enumerate(paths):
        out[i, : len(p)] = p
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_walk_paths_follows_shortest_path_trees(seed):
    rng = np.random.default_rng(seed)
    nodes = 300
    rows_e = rng.integers(0, nodes, 1200)
    cols_e = rng.integers(0, nodes, 1200)
    w = rng.uniform(1.0, 10.0, 1200)
    graph = csr_matrix((w, (rows_e, cols_e)), shape=(nodes, nodes))
    targets = np.array([3, 17, 250])
    # Trees towards the targets: Dijkstra on the reversed graph, predecessor = next hop.
    dist, pred = dijkstra(graph.T, indices=targets, return_predecessors=True)
    pred = np.where(pred < 0, -1, pred).astype(np.int32)
    k = 400
    rows = rng.integers(0, len(targets), k)
    src = rng.integers(0, nodes, k)
    got = sssp.walk_paths(pred, dist, rows, src, targets[rows])
    np.testing.assert_array_equal(got, _python_walk(pred, dist, rows, src, targets[rows]))
    assert (got[:, 0] >= 0).sum() > k // 2  # most pairs are connected


def test_walk_paths_refuses_a_loop_or_a_hole():
    nh = np.array([[1, 2, 0, -1]], dtype=np.int32)  # 0 -> 1 -> 2 -> 0 ...; 3 is the target
    dist = np.zeros((1, 4))
    assert sssp.walk_paths(nh, dist, [0], [0], [3]) is None
    nh = np.array([[1, -1, -1, -1]], dtype=np.int32)  # 0 -> 1 -> hole
    assert sssp.walk_paths(nh, dist, [0], [0], [3]) is None


def test_path_strings_are_hypatias_notation():
    h = np.array(
        [[1584, 0, 12, 1599], [1590, 1583, 1591, -1], [-1, -1, -1, -1], [7, -1, -1, -1]],
        dtype=np.int64,
    )
    got = _path_strings(h)
    assert got.dtype == object
    assert got.tolist() == ["1584-0-12-1599", "1590-1583-1591", "", "7"]
    rng = np.random.default_rng(3)
    big = rng.integers(0, 10**9, (500, 30))
    big[rng.random((500, 30)) < 0.3] = -1
    want = ["-".join(str(x) for x in row if x >= 0) for row in big.tolist()]
    assert _path_strings(big).tolist() == want
    assert _path_strings(np.empty((0, 1), dtype=np.int64)).tolist() == []


@pytest.mark.parametrize("lengths", ["continuous", "integer"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("relabel", [False, True])
def test_uplinks_folded_into_the_tree_kernel_equal_the_definition(seed, relabel, lengths):
    """``shortest_path_trees(..., uplinks=...)`` fills the stations' entries of each tree's row
    as the Python definition does from that tree (cold and warm-started, in either numbering)."""
    rng = np.random.default_rng(seed)
    p, s, g = 4, 6, 7
    n = p * s
    isl = plus_grid_isls(p, s)
    gsl = _random_links(rng, g, n)
    if lengths == "integer":  # exact ties between uplinks: the first link must win
        gsl.range_m = rng.integers(1, 3, len(gsl)).astype(float)
    # The reversed routing graph of isls mode: lasers both ways, downlinks station -> sat.
    rows = np.r_[isl[:, 0], isl[:, 1], n + gsl.gs]
    cols = np.r_[isl[:, 1], isl[:, 0], gsl.sat]
    ids = (
        np.r_[rng.permutation(n), n + np.arange(g)].astype(np.int32)
        if relabel
        else np.arange(n + g, dtype=np.int32)
    )
    inv = np.argsort(ids)
    dst = np.array([0, 1, 3, 4, 6])  # more trees than lanes (sssp.LANES)
    old = None
    integer = lengths == "integer"
    base = (
        rng.integers(1, 4, len(isl)).astype(float) if integer else rng.uniform(1e5, 2e6, len(isl))
    )
    warm_done = 0
    for step in range(6):  # cold, then warm steps with lengths drifting by a few per cent
        drift = rng.integers(0, 2, len(isl)) if integer else rng.uniform(0.9, 1.1, len(isl))
        w_isl = (base + drift if integer else base * drift) if step else base
        w = np.r_[w_isl, w_isl, gsl.range_m]
        graph = sssp.csr_graph(n + g, inv[rows], inv[cols], w)
        dist = np.full((g, n + g), np.inf)
        hop = np.full((g, n + g), -1, dtype=np.int32)
        pred = np.full((g, n + g), -1, dtype=np.int32)
        _, _, st = sssp.shortest_path_trees(
            graph, n + dst, rows=dst, pred_out=pred, old_pred=old, max_fixup=n + g,
            relabel=(ids, dist, hop), uplinks=(n, dst, gsl.gs, gsl.sat, gsl.range_m),
        )  # fmt: skip
        warm_done += int(np.sum((st[:, 0] == 1) & (st[:, 1] > 0)))  # warm, with fix-ups
        old = pred.copy()
        ref = dijkstra(csr_matrix((w, (rows, cols)), shape=(n + g, n + g)), indices=n + dst)
        want = np.full((g, n + g), np.inf)
        want[dst] = ref
        want_d, _ = _python_uplinks(want, hop.copy(), gsl, n, dst)
        np.testing.assert_array_equal(dist, want_d)
        _, want_h = _python_uplinks(dist.copy(), hop.copy(), gsl, n, dst)
        np.testing.assert_array_equal(hop[:, n:], want_h[:, n:])
        # Every satellite's next hop lies on a shortest path (reversed graph: edge hop -> v).
        length = {(int(a), int(b)): float(x) for a, b, x in zip(rows, cols, w, strict=True)}
        for d in dst:
            for v in range(n):
                h = int(hop[d, v])
                if h >= 0:
                    assert dist[d, v] == dist[d, h] + length[(h, v)]
    assert warm_done > 0  # the warm path and its fix-ups were exercised
