"""Tests of leosim.capacity against hand-solved networks and independent algorithms."""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from leosim.capacity import (
    DEMAND_LIMITED,
    CapacityModel,
    Links,
    array_nbytes,
    check_memory,
    gravity_demand,
    incidence_from_pairs,
    incidence_from_paths,
    matrix_to_flows,
    max_min_fair,
    max_throughput,
    memory_budget_bytes,
    read_flows_csv,
    subscriber_demand,
)
from leosim.constants import EARTH_RADIUS_M
from leosim.errors import InputError

INF = np.inf


# ---------------------------------------------------------------------------------------------
# Independent checkers
# ---------------------------------------------------------------------------------------------


def assert_feasible(inc, cap, dem, rate, rtol=1e-6):
    """No link over capacity, no flow above demand, no negative rate."""
    a = sp.csr_array(inc).toarray()
    load = a.T @ rate
    assert (rate >= -1e-9).all()
    assert (load <= cap * (1 + rtol) + 1e-9).all(), (load, cap)
    assert (rate <= dem * (1 + rtol) + 1e-9).all()


def assert_max_min_certificate(inc, cap, dem, rate, rtol=1e-6):
    """Every flow either gets its demand, or crosses a saturated link on which no other flow
    has a higher rate.  This characterises the (unique) max-min fair allocation."""
    a = sp.csr_array(inc).toarray()
    load = a.T @ rate
    scale = max(cap.max(initial=0.0), 1.0)
    saturated = load >= cap - rtol * scale
    for f in range(len(rate)):
        if rate[f] >= dem[f] - rtol * scale:
            continue
        ok = False
        for link in np.flatnonzero(a[f]):
            users = a[:, link] > 0
            if saturated[link] and rate[f] >= rate[users].max() - rtol * scale:
                ok = True
                break
        assert ok, f"flow {f} (rate {rate[f]}, demand {dem[f]}) has no bottleneck"


def reference_max_min(a: np.ndarray, cap, dem):
    """Textbook progressive filling with dense arrays and Python loops (one event per round),
    written independently of the library's batched, incremental version."""
    n_f, n_l = a.shape
    rate = np.zeros(n_f)
    frozen = np.zeros(n_f, dtype=bool)
    while not frozen.all():
        act = ~frozen
        step = INF
        for link in range(n_l):
            used = a[act, link].sum()
            if used > 0:
                step = min(step, (cap[link] - a[:, link] @ rate) / used)
        step = min(step, (dem[act] - rate[act]).min())
        rate[act] += step
        for f in np.flatnonzero(act):
            if rate[f] >= dem[f] * (1 - 1e-12):
                frozen[f] = True
        load = a.T @ rate
        for link in range(n_l):
            if load[link] >= cap[link] - 1e-12 * max(cap[link], 1):
                frozen |= a[:, link] > 0
    return rate


def random_network(rng, n_flows, n_links, max_len=5, dup=False):
    lengths = rng.integers(1, max_len + 1, size=n_flows)
    paths = [rng.choice(n_links, size=k, replace=dup) for k in lengths]
    cap = rng.uniform(1.0, 10.0, size=n_links).round(2)
    dem = np.where(rng.random(n_flows) < 0.3, INF, rng.uniform(0.1, 6.0, size=n_flows))
    return paths, cap, dem


# ---------------------------------------------------------------------------------------------
# Max-min fairness: hand-solved networks
# ---------------------------------------------------------------------------------------------


def test_two_flows_share_one_bottleneck_evenly():
    inc = incidence_from_paths([[0], [0, 1]], n_links=2)
    al = max_min_fair(inc, np.array([10e9, 100e9]), np.array([INF, INF]))
    np.testing.assert_allclose(al.rate_bps, [5e9, 5e9])
    assert al.bottleneck_link.tolist() == [0, 0]
    assert al.saturated_links.tolist() == [0]
    np.testing.assert_allclose(al.utilisation, [1.0, 0.05])


def test_flow_limited_elsewhere_frees_capacity():
    # Links: L0 = 10, L1 = 4.  A crosses both, B only L0, C only L1.  L1 fills first at 2
    # each (A, C); B then takes the 8 that A leaves on L0.
    inc = incidence_from_paths([[0, 1], [0], [1]], n_links=2)
    al = max_min_fair(inc, np.array([10.0, 4.0]), np.full(3, INF))
    np.testing.assert_allclose(al.rate_bps, [2.0, 8.0, 2.0])
    assert al.bottleneck_link.tolist() == [1, 0, 1]
    np.testing.assert_allclose(al.load_bps, [10.0, 4.0])


def test_parking_lot():
    # Long flow 0 crosses L0, L1, L2 (capacity 1 each); one short flow on L0 (flow 1), one on
    # L1 (flow 2), two on L2 (flows 3, 4).  L2 has 3 users: it fills at 1/3, freezing the
    # long flow; the short flows on L0 and L1 then grow to 1 - 1/3 = 2/3.
    inc = incidence_from_paths([[0, 1, 2], [0], [1], [2], [2]], n_links=3)
    al = max_min_fair(inc, np.ones(3), np.full(5, INF))
    np.testing.assert_allclose(al.rate_bps, [1 / 3, 2 / 3, 2 / 3, 1 / 3, 1 / 3])
    assert al.bottleneck_link.tolist() == [2, 0, 1, 2, 2]
    assert al.saturated.all()


def test_parking_lot_unequal_capacities():
    # Long flow over L0 (1), L1 (2), L2 (3) with one short flow each: L0 fills at 0.5;
    # the others then get 2 - 0.5 = 1.5 and 3 - 0.5 = 2.5.
    inc = incidence_from_paths([[0, 1, 2], [0], [1], [2]], n_links=3)
    al = max_min_fair(inc, np.array([1.0, 2.0, 3.0]), np.full(4, INF))
    np.testing.assert_allclose(al.rate_bps, [0.5, 0.5, 1.5, 2.5])


def test_demand_limited_flow_leaves_rest_to_others():
    inc = incidence_from_paths([[0], [0]], n_links=1)
    al = max_min_fair(inc, np.array([10.0]), np.array([2.0, INF]))
    np.testing.assert_allclose(al.rate_bps, [2.0, 8.0])
    assert al.bottleneck_link.tolist() == [DEMAND_LIMITED, 0]
    assert al.bottleneck_kind.tolist() == ["demand", "link"]


def test_everything_demand_limited_when_capacity_ample():
    inc = incidence_from_paths([[0], [0, 1], [1]], n_links=2)
    dem = np.array([1.0, 2.0, 3.0])
    al = max_min_fair(inc, np.array([100.0, 100.0]), dem)
    np.testing.assert_allclose(al.rate_bps, dem)
    assert al.demand_limited.all()
    assert al.share_met == pytest.approx(1.0)
    assert al.saturated_links.size == 0


def test_zero_capacity_link_and_linkless_flow():
    inc = incidence_from_paths([[0], [0, 1], [], [1]], n_links=2)
    al = max_min_fair(inc, np.array([0.0, 6.0]), np.array([INF, INF, 4.0, INF]))
    np.testing.assert_allclose(al.rate_bps, [0.0, 0.0, 4.0, 6.0])
    assert al.bottleneck_link.tolist() == [0, 0, DEMAND_LIMITED, 1]


def test_linkless_flow_with_infinite_demand_is_rejected():
    inc = incidence_from_paths([[0], []], n_links=1)
    with pytest.raises(InputError, match="flow 1") as e:
        max_min_fair(inc, np.array([1.0]), np.array([1.0, INF]))
    assert e.value.key == "demand_bps"


def test_zero_demand_flow_gets_nothing():
    inc = incidence_from_paths([[0], [0]], n_links=1)
    al = max_min_fair(inc, np.array([5.0]), np.array([0.0, INF]))
    np.testing.assert_allclose(al.rate_bps, [0.0, 5.0])


# ---------------------------------------------------------------------------------------------
# Duplicate links in a route
# ---------------------------------------------------------------------------------------------


def test_duplicate_link_counts_twice_by_default():
    inc = incidence_from_paths([[0, 0], [0]], n_links=1)
    assert inc.toarray().tolist() == [[2.0], [1.0]]
    # Both grow together; the link carries 2x + x = 9 at x = 3.
    al = max_min_fair(inc, np.array([9.0]), np.array([INF, INF]))
    np.testing.assert_allclose(al.rate_bps, [3.0, 3.0])
    np.testing.assert_allclose(al.load_bps, [9.0])
    lp = max_throughput(inc, np.array([9.0]), np.array([INF, INF]))
    assert lp.total_rate_bps == pytest.approx(9.0)  # all to flow 1, which uses it once
    np.testing.assert_allclose(lp.rate_bps, [0.0, 9.0], atol=1e-9)


def test_duplicate_link_once_and_error_modes():
    once = incidence_from_paths([[0, 0, 1], [0]], n_links=2, duplicates="once")
    assert once.toarray().tolist() == [[1.0, 1.0], [1.0, 0.0]]
    al = max_min_fair(once, np.array([9.0, 9.0]), np.array([INF, INF]))
    np.testing.assert_allclose(al.rate_bps, [4.5, 4.5])
    with pytest.raises(InputError, match="flow 1 lists link 3 2 times"):
        incidence_from_paths([[0], [3, 1, 3]], n_links=4, duplicates="error")


def test_incidence_from_pairs_matches_dense_construction():
    rng = np.random.default_rng(7)
    flows = rng.integers(0, 50, size=400)
    links = rng.integers(0, 30, size=400)
    dense = np.zeros((50, 30))
    np.add.at(dense, (flows, links), 1.0)
    got = incidence_from_pairs(flows, links, 50, 30)
    assert sp.issparse(got) and got.format == "csr"
    np.testing.assert_array_equal(got.toarray(), dense)
    np.testing.assert_array_equal(
        incidence_from_pairs(flows, links, 50, 30, duplicates="once").toarray(), dense > 0
    )


def test_incidence_rejects_out_of_range_ids():
    with pytest.raises(InputError) as e:
        incidence_from_paths([[0, 5]], n_links=3)
    assert e.value.key == "link_ids"
    with pytest.raises(InputError) as e:
        incidence_from_pairs(np.array([0.5]), np.array([0]), 1, 1)
    assert e.value.key == "flow_ids"


# ---------------------------------------------------------------------------------------------
# Bad input to the allocators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cap", "dem", "key"),
    [
        ([-1.0, 1.0], [1.0, 1.0], "capacity_bps"),
        ([np.nan, 1.0], [1.0, 1.0], "capacity_bps"),
        ([1.0, INF], [1.0, 1.0], "capacity_bps"),
        ([1.0, 1.0], [1.0, -2.0], "demand_bps"),
        ([1.0, 1.0], [np.nan, 1.0], "demand_bps"),
        ([1.0, 1.0, 1.0], [1.0, 1.0], "incidence"),
        ([1.0, 1.0], [1.0, 1.0, 1.0], "incidence"),
    ],
)
@pytest.mark.parametrize("fn", [max_min_fair, max_throughput])
def test_bad_input_names_the_key(fn, cap, dem, key):
    inc = incidence_from_paths([[0], [0, 1]], n_links=2)
    with pytest.raises(InputError) as e:
        fn(inc, np.array(cap), np.array(dem))
    assert e.value.key == key
    assert f"[{key}]" in str(e.value)


def test_negative_incidence_rejected():
    with pytest.raises(InputError) as e:
        max_min_fair(np.array([[1.0, -1.0]]), np.ones(2), np.ones(1))
    assert e.value.key == "incidence"


# ---------------------------------------------------------------------------------------------
# Randomised property tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_random_networks_max_min_certificate(seed):
    rng = np.random.default_rng(seed)
    n_flows, n_links = int(rng.integers(2, 40)), int(rng.integers(1, 25))
    paths, cap, dem = random_network(rng, n_flows, min(n_links, 25), dup=seed % 3 == 0)
    n_links = len(cap)
    paths = [np.minimum(p, n_links - 1) for p in paths]
    if seed % 4 == 1:
        cap[rng.integers(0, n_links)] = 0.0
    inc = incidence_from_paths(paths, n_links)
    al = max_min_fair(inc, cap, dem)
    assert_feasible(inc, cap, dem, al.rate_bps)
    assert_max_min_certificate(inc, cap, dem, al.rate_bps)
    np.testing.assert_allclose(
        al.rate_bps, reference_max_min(inc.toarray(), cap, dem), rtol=1e-9, atol=1e-9
    )
    # The library's own bottleneck labels must satisfy the certificate too.
    for f, b in enumerate(al.bottleneck_link):
        if b == DEMAND_LIMITED:
            assert al.rate_bps[f] == pytest.approx(dem[f])
        else:
            assert b >= 0 and inc[f, b] > 0 and al.saturated[b]
            users = inc.toarray()[:, b] > 0
            assert al.rate_bps[f] >= al.rate_bps[users].max() * (1 - 1e-9)
    # The LP total is an upper bound on any feasible allocation, max-min included.
    lp = max_throughput(inc, cap, dem)
    assert_feasible(inc, cap, dem, lp.rate_bps)
    assert lp.total_rate_bps >= al.total_rate_bps * (1 - 1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_random_large_scale_conservation(seed):
    rng = np.random.default_rng(100 + seed)
    n_flows, n_links = 3000, 800
    lengths = rng.integers(1, 12, size=n_flows)
    fl = np.repeat(np.arange(n_flows), lengths)
    inc = incidence_from_pairs(fl, rng.integers(0, n_links, size=fl.size), n_flows, n_links)
    cap = rng.uniform(1e9, 50e9, size=n_links)
    dem = rng.lognormal(np.log(2e8), 1.0, size=n_flows)
    al = max_min_fair(inc, cap, dem)
    assert (al.load_bps <= cap * (1 + 1e-6)).all()
    assert (al.rate_bps <= dem * (1 + 1e-9)).all()
    # Certificate, vectorised: max rate among the users of each link.
    rows = np.repeat(np.arange(n_flows), np.diff(inc.indptr))
    max_on_link = np.zeros(n_links)
    np.maximum.at(max_on_link, inc.indices, al.rate_bps[rows])
    good = al.saturated[inc.indices] & (al.rate_bps[rows] >= max_on_link[inc.indices] * (1 - 1e-9))
    has_bottleneck = np.zeros(n_flows, dtype=bool)
    has_bottleneck[rows[good]] = True
    assert (has_bottleneck | (al.rate_bps >= dem * (1 - 1e-9))).all()


def test_performance_10k_flows():
    rng = np.random.default_rng(1)
    n_flows, n_links = 10_000, 4_000
    lengths = rng.integers(7, 14, size=n_flows)
    fl = np.repeat(np.arange(n_flows), lengths)
    inc = incidence_from_pairs(fl, rng.integers(0, n_links, size=fl.size), n_flows, n_links)
    cap = rng.uniform(10e9, 100e9, size=n_links)
    for dem in (np.full(n_flows, INF), rng.lognormal(np.log(3e8), 1.0, size=n_flows)):
        t0 = time.perf_counter()
        al = max_min_fair(inc, cap, dem)
        elapsed = time.perf_counter() - t0
        assert elapsed < 5.0, f"max_min_fair took {elapsed:.2f} s"
        assert (al.load_bps <= cap * (1 + 1e-6)).all()


# ---------------------------------------------------------------------------------------------
# Maximum throughput (LP)
# ---------------------------------------------------------------------------------------------


def test_lp_hand_computed_optimum():
    # max A + B + C  s.t.  A + B <= 10, A + C <= 4: A = 0, B = 10, C = 4, total 14.
    inc = incidence_from_paths([[0, 1], [0], [1]], n_links=2)
    lp = max_throughput(inc, np.array([10.0, 4.0]), np.full(3, INF), link_kind=["isl", "beam"])
    assert lp.status == "optimal"
    assert lp.total_rate_bps == pytest.approx(14.0)
    np.testing.assert_allclose(lp.rate_bps, [0.0, 10.0, 4.0], atol=1e-9)
    assert lp.bottleneck_kind.tolist() == ["isl", "isl", "beam"]


def test_lp_respects_demand():
    inc = incidence_from_paths([[0], [0], [0]], n_links=1)
    lp = max_throughput(inc, np.array([10e9]), np.array([1e9, 2e9, 3e9]))
    np.testing.assert_allclose(lp.rate_bps, [1e9, 2e9, 3e9], rtol=1e-9)
    assert lp.demand_limited.all()
    assert lp.share_met == pytest.approx(1.0)


# Cormen et al., "Introduction to Algorithms", fig. 26.6: maximum flow 23 from 0 to 5.
CLRS_EDGES = [
    (0, 1, 16),
    (0, 2, 13),
    (1, 3, 12),
    (2, 1, 4),
    (2, 4, 14),
    (3, 2, 9),
    (3, 5, 20),
    (4, 3, 7),
    (4, 5, 4),
]


def simple_paths(edges, s, t):
    """All simple s-t paths as lists of edge indices (depth-first search)."""
    out = []
    adj: dict[int, list[tuple[int, int]]] = {}
    for i, (u, v, _) in enumerate(edges):
        adj.setdefault(u, []).append((v, i))

    def dfs(node, seen, path):
        if node == t:
            out.append(list(path))
            return
        for v, i in adj.get(node, []):
            if v not in seen:
                seen.add(v)
                path.append(i)
                dfs(v, seen, path)
                path.pop()
                seen.remove(v)

    dfs(s, {s}, [])
    return out


def lp_max_flow(edges, s, t):
    paths = simple_paths(edges, s, t)
    inc = incidence_from_paths(paths, n_links=len(edges))
    cap = np.array([c for _, _, c in edges], dtype=float)
    lp = max_throughput(inc, cap, np.array([INF]), path_flow=np.zeros(len(paths), dtype=int))
    assert lp.path_rate_bps is not None and len(lp.path_rate_bps) == len(paths)
    assert_feasible(inc, cap, np.full(len(paths), INF), lp.path_rate_bps)
    return lp.total_rate_bps


def csgraph_max_flow(edges, n, s, t):
    u, v, c = (np.array(x) for x in zip(*edges, strict=True))
    g = sp.csr_array((c.astype(np.int32), (u, v)), shape=(n, n))
    return maximum_flow(g, s, t).flow_value


@pytest.mark.parametrize("solver", ["highs-ipm", "highs-ds", "highs"])
def test_lp_solvers_agree_on_hand_optimum(solver):
    inc = incidence_from_paths([[0, 1], [0], [1], [0, 1, 2]], n_links=3)
    dem = np.array([INF, INF, 1.0, 2.0])
    # Flows 0, 1, 3 all cross L0 (10), so together they carry at most 10; flow 2 (on L1
    # only) adds at most its demand of 1.  The optimum is 11, reached by flow 1 = 10, flow 2 = 1.
    lp = max_throughput(inc, np.array([10.0, 4.0, 5.0]), dem, solver=solver)
    assert lp.total_rate_bps == pytest.approx(11.0)
    assert_feasible(inc, np.array([10.0, 4.0, 5.0]), dem, lp.rate_bps)


def test_lp_bad_solver_and_solver_failure(monkeypatch):
    inc = incidence_from_paths([[0]], n_links=1)
    with pytest.raises(InputError) as e:
        max_throughput(inc, np.ones(1), np.ones(1), solver="glpk")
    assert e.value.key == "solver"

    from scipy.optimize import OptimizeResult

    import leosim.capacity as capacity

    def failing(*args, **kwargs):
        return OptimizeResult(status=4, message="Numerical difficulties", x=None)

    monkeypatch.setattr(capacity, "linprog", failing)
    with pytest.raises(capacity.SolverError, match="Numerical difficulties"):
        max_throughput(inc, np.ones(1), np.ones(1))


def test_lp_multipath_equals_clrs_max_flow():
    assert lp_max_flow(CLRS_EDGES, 0, 5) == pytest.approx(23.0)
    assert csgraph_max_flow(CLRS_EDGES, 6, 0, 5) == 23


@pytest.mark.parametrize("seed", range(8))
def test_lp_multipath_equals_csgraph_maximum_flow(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 8))
    pairs = [(u, v) for u in range(n) for v in range(n) if u != v and rng.random() < 0.45]
    edges = [(u, v, int(rng.integers(1, 20))) for u, v in pairs]
    if not edges:
        pytest.skip("empty graph")
    expected = csgraph_max_flow(edges, n, 0, n - 1)
    assert lp_max_flow(edges, 0, n - 1) == pytest.approx(expected, abs=1e-6)


def test_multipath_per_flow_demand_constraint():
    # Flow 0 has two paths (via L0 = 3 or L1 = 10) and demand 5; flow 1 only L1, demand 7.
    # Total <= 5 + 7 = 12 and <= 3 + 10 = 13, so the optimum is both flows at demand, with
    # flow 0 putting at least 2 on L1.
    inc = incidence_from_paths([[0], [1], [1]], n_links=2)
    lp = max_throughput(
        inc, np.array([3.0, 10.0]), np.array([5.0, 7.0]), path_flow=np.array([0, 0, 1])
    )
    np.testing.assert_allclose(lp.rate_bps, [5.0, 7.0])
    assert lp.total_rate_bps == pytest.approx(12.0)
    assert lp.path_rate_bps[0] + lp.path_rate_bps[1] == pytest.approx(5.0)
    assert lp.path_rate_bps[1] >= 2.0 - 1e-9
    assert lp.demand_limited.all()
    assert lp.method == "max-throughput-multipath"
    with pytest.raises(InputError) as e:
        max_throughput(inc, np.ones(2), np.ones(2), path_flow=np.array([0, 2, 1]))
    assert e.value.key == "path_flow"


# ---------------------------------------------------------------------------------------------
# Aggregation
# ---------------------------------------------------------------------------------------------


def test_by_group_and_by_kind():
    # Flows 0, 1 share L0 (beam, 10 Gbit/s); flow 2 is alone on L1 (isl) with demand 1 Gbit/s.
    inc = incidence_from_paths([[0], [0], [1]], n_links=2)
    links = Links(np.array([10e9, 100e9]), np.array(["beam", "isl"]))
    al = max_min_fair(inc, links.capacity_bps, np.array([INF, 20e9, 1e9]), link_kind=links.kind)
    g = al.by_group(["FR", "FR", "DE"], subscribers={"FR": 1000, "DE": 0})
    assert g.group.tolist() == ["DE", "FR"]
    np.testing.assert_allclose(g.served_gbps, [1.0, 10.0])
    assert g.demand_gbps[0] == pytest.approx(1.0) and math.isinf(g.demand_gbps[1])
    np.testing.assert_allclose(g.share_met, [1.0, 0.0])
    np.testing.assert_allclose(g.per_subscriber_mbps, [np.nan, 10.0])  # 10 Gbit/s / 1000
    assert g.n_flows.tolist() == [1, 2]
    assert g.to_rows()[1]["group"] == "FR"
    assert al.bottleneck_counts() == {"beam": 2, "demand": 1}
    kinds = al.by_link_kind()
    assert kinds["beam"].n_saturated == 1 and kinds["beam"].n_bottlenecked_flows == 2
    assert kinds["isl"].mean_utilisation == pytest.approx(0.01)
    with pytest.raises(InputError) as e:
        al.by_group(["FR"])
    assert e.value.key == "labels"


# ---------------------------------------------------------------------------------------------
# Capacity model
# ---------------------------------------------------------------------------------------------


def test_capacity_model_defaults_and_presets():
    m = CapacityModel()
    assert m.isl_bps == 100e9
    assert 17 <= m.satellite_downlink_gbps <= 21
    assert CapacityModel.preset("v2mini").satellite_downlink_bps == 96e9
    caps = Links.from_kinds(["isl", "downlink", "beam"], m).capacity_bps
    np.testing.assert_allclose(caps, [100e9, 20e9, 1e9])
    with pytest.raises(InputError) as e:
        m.link_capacity_bps(["isl", "teleport"])
    assert e.value.key == "kind" and "teleport" in str(e.value)


@pytest.mark.parametrize("bad", [0, -5.0, math.nan, math.inf, "fast", True])
def test_capacity_model_rejects_bad_values(bad):
    with pytest.raises(InputError) as e:
        CapacityModel(isl_gbps=bad)
    assert e.value.key == "isl_gbps"
    with pytest.raises(InputError) as e:
        CapacityModel.from_dict({"beam_gbps": bad}, source="run.toml")
    assert e.value.key == "capacity.beam_gbps"
    assert str(e.value).startswith("run.toml: [capacity.beam_gbps]")


def test_capacity_model_from_dict():
    m = CapacityModel.from_dict({"preset": "v2mini", "isl_gbps": 200})
    assert m.isl_gbps == 200.0 and m.satellite_downlink_gbps == 96.0
    with pytest.raises(InputError) as e:
        CapacityModel.from_dict({"isl_gpbs": 200})
    assert e.value.key == "capacity.isl_gpbs"
    with pytest.raises(InputError) as e:
        CapacityModel.from_dict({"preset": "v9"})
    assert e.value.key == "capacity.preset"
    assert m.with_overrides(beam_gbps=2).beam_gbps == 2.0


# ---------------------------------------------------------------------------------------------
# Demand models
# ---------------------------------------------------------------------------------------------


def test_gravity_population_product():
    pop = np.array([1.0, 2.0, 3.0])
    pos = np.array([[0.0, 0.0], [10.0, 10.0], [-20.0, 50.0]])
    t = gravity_demand(pop, pos, total_bps=22e9)
    # Off-diagonal products: 2, 3, 6 each twice -> sum 22, so T = P_i P_j * 1e9.
    expected = np.outer(pop, pop) * 1e9
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(t, expected)
    src, dst, d = matrix_to_flows(t)
    assert len(src) == 6 and (src != dst).all() and d.sum() == pytest.approx(22e9)


def test_gravity_distance_decay():
    # Three cities on the equator at 0, 90, 180 degrees: distances pi R/2, pi R/2, pi R.
    pos = np.array([[0.0, 0.0], [0.0, 90.0], [0.0, 180.0]])
    t = gravity_demand(np.ones(3), pos, total_bps=1.0, exponent=1.0)
    q = math.pi * EARTH_RADIUS_M / 2e3  # km
    w = np.array([[0, 1 / q, 1 / (2 * q)], [1 / q, 0, 1 / q], [1 / (2 * q), 1 / q, 0]])
    np.testing.assert_allclose(t, w / w.sum(), rtol=1e-9)
    assert t.sum() == pytest.approx(1.0)
    # Co-located cities are floored at min_distance_km instead of dividing by zero.
    t2 = gravity_demand(np.ones(2), np.zeros((2, 2)), total_bps=2.0, exponent=1.0)
    np.testing.assert_allclose(t2, [[0, 1], [1, 0]])


def test_gravity_bad_input():
    with pytest.raises(InputError) as e:
        gravity_demand(np.array([1.0, -1.0]), np.zeros((2, 2)), 1.0)
    assert e.value.key == "populations"
    with pytest.raises(InputError) as e:
        gravity_demand(np.ones(2), np.zeros((3, 2)), 1.0)
    assert e.value.key == "positions_lat_lon_deg"


def test_subscriber_demand():
    subs, dem = subscriber_demand(np.array([1e6, 2e6]), 0.01, 2.5)
    np.testing.assert_allclose(subs, [1e4, 2e4])
    np.testing.assert_allclose(dem, [25e9, 50e9])
    with pytest.raises(InputError) as e:
        subscriber_demand(1e6, 1.5, 2.5)
    assert e.value.key == "take_rate"


def test_read_flows_csv(tmp_path):
    f = tmp_path / "flows.csv"
    f.write_text("src,dst,demand_mbps,note\nParis,Lagos,120.5,x\n\nLima,Oslo,0,\n")
    t = read_flows_csv(f)
    assert t.src.tolist() == ["Paris", "Lima"] and t.dst.tolist() == ["Lagos", "Oslo"]
    np.testing.assert_allclose(t.demand_bps, [120.5e6, 0.0])


@pytest.mark.parametrize(
    ("body", "line", "key"),
    [
        ("src,dst,demand_mbps\nA,B,1\nA,B,-3\n", 3, "demand_mbps"),
        ("src,dst,demand_mbps\nA,B,lots\n", 2, "demand_mbps"),
        ("src,dst,demand_mbps\nA,B,nan\n", 2, "demand_mbps"),
        ("src,dst,demand_mbps\n,B,1\n", 2, "src"),
        ("src,dst,demand_mbps\nA,B\n", 2, None),
        ("src,dst,rate\nA,B,1\n", 1, "demand_mbps"),
    ],
)
def test_read_flows_csv_bad_rows(tmp_path, body, line, key):
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(InputError) as e:
        read_flows_csv(f)
    assert e.value.line == line and e.value.key == key
    assert str(e.value).startswith(f"{f}:{line}: ")


def test_read_flows_csv_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_flows_csv(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# Memory guard
# ---------------------------------------------------------------------------------------------


def test_check_memory(monkeypatch):
    assert array_nbytes((1000, 1000)) == 8_000_000
    assert array_nbytes(10, np.float32) == 40
    assert check_memory(1000, "small") == 1000
    with pytest.raises(InputError, match=r"a 3 GiB grid needs about 3\.0 GiB") as e:
        check_memory(3 * 2**30, "a 3 GiB grid", budget_bytes=2**30, key="grid.step_km")
    assert e.value.key == "grid.step_km"
    # The same limit as every command's up-front check, under both variable names.
    for name in ("LEOSIM_MAX_MEMORY_GB", "LEOSIM_MEMORY_BUDGET_GIB"):
        monkeypatch.setenv(name, "0.5")
        with pytest.raises(InputError, match=f"coverage grid.*{name} = 0.5"):
            check_memory(2**30, "coverage grid")
        check_memory(2**28, "coverage grid")
        assert memory_budget_bytes() == 2**29
        monkeypatch.setenv(name, "lots")
        with pytest.raises(InputError) as e:
            check_memory(1, "x")
        assert e.value.key == name
        monkeypatch.delenv(name)
    # Default: 80 % of the physical memory.
    phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory_budget_bytes() == int(0.8 * phys)
    with pytest.raises(InputError, match="100k x 100k matrix"):
        check_memory(0.81 * phys, "100k x 100k matrix")
