"""The numba shortest-path kernels against scipy's Dijkstra, the independent reference.

Property tests on random +Grid graphs with random station links, random lengths (continuous,
small integers that make many exact ties, zeros and near-zero lengths) and random sequences
of steps (lengths drift, links come and go): at every step, cold and warm-started, the
distances must equal scipy's bit for bit and every predecessor must lie on a shortest path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from leosim import sssp
from leosim.errors import InputError
from leosim.links import plus_grid_isls

pytestmark = pytest.mark.skipif(not sssp.HAVE_NUMBA, reason="numba is not installed")


def _random_world(rng):
    """Undirected +Grid lasers between ``n`` satellites and ``g`` stations with one-way
    links to random satellites (as the reversed routing graph has)."""
    p, s = int(rng.integers(2, 9)), int(rng.integers(2, 11))
    isl = plus_grid_isls(p, s, isl_shift=int(rng.integers(0, 3)))
    n, g = p * s, int(rng.integers(1, 6))
    gsl = [(n + j, int(a)) for j in range(g) for a in rng.choice(n, size=min(n, 4), replace=False)]
    return n, g, isl, np.array(gsl, dtype=np.int64).reshape(-1, 2)


def _lengths(rng, k, kind):
    if kind == "continuous":
        return rng.uniform(1e5, 5e6, k)
    if kind == "integer":  # many exact ties between different paths
        return rng.integers(1, 4, k).astype(float)
    if kind == "zeros":  # zero and near-zero lengths among ordinary ones
        w = rng.uniform(1.0, 10.0, k)
        pick = rng.random(k)
        w[pick < 0.2] = 0.0
        w[(pick >= 0.2) & (pick < 0.3)] = 1e-13
        return w
    raise AssertionError(kind)


def _edges(rng, n, isl, gsl, kind, keep):
    w_isl = _lengths(rng, len(isl), kind)
    idx = np.flatnonzero(keep)
    isl, w_isl = isl[keep], w_isl[keep]
    w_gsl = _lengths(rng, len(gsl), kind)
    rows = np.r_[isl[:, 0], isl[:, 1], gsl[:, 0]]
    cols = np.r_[isl[:, 1], isl[:, 0], gsl[:, 1]]
    # Keys as routing gives them: each candidate laser direction named the same at every step.
    keys = np.r_[2 * idx, 2 * idx + 1, np.full(len(gsl), -1)]
    return rows, cols, np.r_[w_isl, w_isl, w_gsl], keys


def _keys_for(rng, how, keys):
    if how == "none":
        return None
    if how == "stable":
        return keys
    # Keys that name other edges at every step (a caller's bug) may only cost time.
    return (
        rng.permutation(keys) if how == "shuffled" else rng.integers(-1, 3 * len(keys), len(keys))
    )


def _check(num_nodes, rows, cols, w, sources, dist, pred):
    ref = dijkstra(csr_matrix((w, (rows, cols)), shape=(num_nodes, num_nodes)), indices=sources)
    assert np.array_equal(dist, ref)  # bit for bit, inf where unreachable
    length = {(int(a), int(b)): x for a, b, x in zip(rows, cols, w, strict=True)}
    for i, src in enumerate(sources):
        assert pred[i, src] == -1
        for v in range(num_nodes):
            p = int(pred[i, v])
            if v == src or not np.isfinite(dist[i, v]):
                assert p == -1
                continue
            # The predecessor's edge exists and is tight: it lies on a shortest path.
            assert dist[i, p] + length[(p, v)] == dist[i, v]
            hops, x = 0, v
            while x != src:  # and the predecessors form a tree rooted at the source
                x = int(pred[i, x])
                hops += 1
                assert x >= 0 and hops <= num_nodes


@pytest.mark.parametrize("keys", ["stable", "none", "shuffled", "random"])
@pytest.mark.parametrize("kind", ["continuous", "integer", "zeros"])
@pytest.mark.parametrize("seed", range(8))
def test_random_step_sequences_match_scipy_exactly(seed, kind, keys):
    rng = np.random.default_rng([seed, len(kind), len(keys)])
    n, g, isl, gsl = _random_world(rng)
    num_nodes = n + g
    # More sources than four lanes, so that trees share relaxation passes and one is alone.
    extra = rng.choice(n, size=min(n, 3), replace=False)
    sources = np.r_[n + np.arange(g), extra]
    prev = None
    hints = sssp.tree_hints((len(sources), num_nodes))
    outcomes = []
    for _step in range(6):
        keep = rng.random(len(isl)) > 0.15  # lasers come and go
        rows, cols, w, names = _edges(rng, n, isl, gsl, kind, keep)
        graph = sssp.csr_graph(num_nodes, rows, cols, w, _keys_for(rng, keys, names))
        # No fix-up limit, so the warm path runs to the end however much changed.
        dist, pred, st = sssp.shortest_path_trees(
            graph, sources, old_pred=prev, hints=hints, max_fixup=num_nodes
        )
        _check(num_nodes, rows, cols, w, sources, dist, pred)
        cold_dist, cold_pred, _ = sssp.shortest_path_trees(graph, sources)
        _check(num_nodes, rows, cols, w, sources, cold_dist, cold_pred)
        outcomes.extend(st[:, 0].tolist())
        prev = pred
    assert sssp.WARM in outcomes  # the warm path was exercised


def test_small_drift_keeps_warm_starts_and_a_forced_abort_redoes_cold():
    rng = np.random.default_rng(7)
    isl = plus_grid_isls(12, 10)
    n = 120
    w0 = rng.uniform(5e5, 2e6, len(isl))
    rows, cols = np.r_[isl[:, 0], isl[:, 1]], np.r_[isl[:, 1], isl[:, 0]]
    sources = np.arange(0, n, 7)
    g0 = sssp.csr_graph(n, rows, cols, np.r_[w0, w0])
    _, pred, _ = sssp.shortest_path_trees(g0, sources)
    w1 = w0 * (1 + rng.normal(0, 1e-4, len(w0)))
    w = np.r_[w1, w1]
    g1 = sssp.csr_graph(n, rows, cols, w)
    dist, p1, st = sssp.shortest_path_trees(g1, sources, old_pred=pred)
    assert np.all(st[:, 0] == sssp.WARM)
    _check(n, rows, cols, w, sources, dist, p1)
    dist, p2, st = sssp.shortest_path_trees(g1, sources, old_pred=pred, max_fixup=0)
    # Trees whose fix-up needed any pop were redone cold; the rest stayed warm.
    assert set(st[:, 0].tolist()) <= {sssp.WARM, sssp.WARM_ABORTED}
    _check(n, rows, cols, w, sources, dist, p2)


def test_garbage_and_cyclic_old_trees_only_cost_time():
    rng = np.random.default_rng(3)
    isl = plus_grid_isls(6, 8)
    n = 48
    w = rng.uniform(1.0, 2.0, len(isl))
    rows, cols, w = np.r_[isl[:, 0], isl[:, 1]], np.r_[isl[:, 1], isl[:, 0]], np.r_[w, w]
    sources = np.array([0, 17, 40])
    graph = sssp.csr_graph(n, rows, cols, w)
    garbage = rng.integers(-3, n + 3, size=(3, n)).astype(np.int32)
    garbage[:, 5], garbage[:, 6] = 6, 5  # a two-cycle
    dist, pred, _ = sssp.shortest_path_trees(graph, sources, old_pred=garbage)
    _check(n, rows, cols, w, sources, dist, pred)
    # Garbage positions too, some of them passing the check that they hold the source's tree.
    hints = tuple(rng.integers(-3, n + 3, size=(3, n)).astype(np.int32) for _ in range(4))
    hints[0][:2, 0], hints[1][:2, 0], hints[3][:2, :] = sources[:2, None][:, 0], -2, 0
    for _ in range(3):
        keys = rng.integers(-1, len(w), len(w))
        graph = sssp.csr_graph(n, rows, cols, w, keys)
        dist, pred, _ = sssp.shortest_path_trees(graph, sources, old_pred=garbage, hints=hints)
        _check(n, rows, cols, w, sources, dist, pred)


def test_tiny_edges_floor_the_bucket_width_and_stay_exact():
    # One edge of 1e-9 m among edges of ~1e6 m: buckets as wide as the shortest edge would
    # need 1e15 of them; the width is floored and nodes are reprocessed instead.
    isl = plus_grid_isls(5, 6)
    n = 30
    rng = np.random.default_rng(11)
    w = rng.uniform(1e6, 2e6, len(isl))
    w[3] = 1e-9
    rows, cols, w = np.r_[isl[:, 0], isl[:, 1]], np.r_[isl[:, 1], isl[:, 0]], np.r_[w, w]
    delta, nb = sssp.bucket_width_m(w)
    assert delta >= w.max() / sssp.MAX_BUCKETS and nb <= 2 * sssp.MAX_BUCKETS + 8
    assert nb & (nb - 1) == 0 and nb * delta > w.max()
    graph = sssp.csr_graph(n, rows, cols, w)
    dist, pred, _ = sssp.shortest_path_trees(graph, np.arange(n))
    _check(n, rows, cols, w, np.arange(n), dist, pred)


def test_relabelled_output_is_the_same_trees_in_the_other_numbering():
    rng = np.random.default_rng(5)
    isl = plus_grid_isls(4, 5)
    n = 20
    w = rng.uniform(1.0, 2.0, len(isl))
    rows, cols, w = np.r_[isl[:, 0], isl[:, 1]], np.r_[isl[:, 1], isl[:, 0]], np.r_[w, w]
    ids = rng.permutation(n).astype(np.int32)  # internal node v is external ids[v]
    inv = np.argsort(ids)
    graph = sssp.csr_graph(n, inv[rows], inv[cols], w)
    src_ext = np.array([3, 11])
    dist_ext = np.empty((2, n))
    pred_ext = np.empty((2, n), dtype=np.int32)
    sssp.shortest_path_trees(graph, inv[src_ext], relabel=(ids, dist_ext, pred_ext))
    _check(n, rows, cols, w, src_ext, dist_ext, pred_ext)


def test_locality_order_is_a_permutation_with_short_id_gaps():
    # A +Grid shell numbered at random (as a catalogue lists satellites by launch).
    rng = np.random.default_rng(2)
    isl = plus_grid_isls(20, 20)
    shuffle = rng.permutation(400)
    pairs = shuffle[isl]
    order = sssp.locality_order(400, pairs)
    assert sorted(order.tolist()) == list(range(400))
    pos = np.argsort(order)
    gap = np.abs(pos[pairs[:, 0]] - pos[pairs[:, 1]])
    assert np.median(gap) < np.median(np.abs(pairs[:, 0] - pairs[:, 1])) / 4


def test_csr_graph_rejects_bad_edges():
    with pytest.raises(ValueError, match="finite"):
        sssp.csr_graph(2, np.array([0]), np.array([1]), np.array([-1.0]))
    with pytest.raises(ValueError, match="node ids"):
        sssp.csr_graph(2, np.array([0]), np.array([2]), np.array([1.0]))


def test_cache_dir_falls_back_when_nothing_is_writable(tmp_path):
    pkg = tmp_path / "site" / "leosim"
    (pkg / "__pycache__").mkdir(parents=True)
    user = tmp_path / "home" / ".cache" / "numba"
    # Writable install, or NUMBA_CACHE_DIR set: numba's own choice.
    assert sssp.cache_dir(pkg, env={}, user_cache=user) is None
    assert sssp.cache_dir(pkg, env={"NUMBA_CACHE_DIR": "/x"}, writable=lambda p: False) is None
    # Read-only install, writable home (the user cache's nearest existing parent): numba's.
    home = tmp_path / "home"
    home.mkdir()
    assert sssp.cache_dir(pkg, env={}, user_cache=user, writable=lambda p: p == home) is None
    # Neither: a folder in the temporary directory.
    out = sssp.cache_dir(pkg, env={}, user_cache=user, writable=lambda p: False)
    assert out is not None and out.parent == Path(tempfile.gettempdir())


def test_backend_choice_by_argument_and_environment(monkeypatch):
    from leosim.routing import sssp_backend

    monkeypatch.delenv("LEOSIM_SSSP", raising=False)
    assert sssp_backend() == "numba" and sssp_backend("scipy") == "scipy"
    monkeypatch.setenv("LEOSIM_SSSP", "scipy")
    assert sssp_backend() == "scipy"
    monkeypatch.setenv("LEOSIM_SSSP", "dijkstra")
    with pytest.raises(InputError, match="LEOSIM_SSSP"):
        sssp_backend()
