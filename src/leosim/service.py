"""Service evaluation: who is served where, at what latency, landing in which countries.

At each time step a terminal is **served** when

1. the policy allows service where it stands (country activated, outside every exclusion zone,
   on the allow-list where there is one),
2. it sees a satellite above the policy's minimum elevation, and
3. a path up-link → ISLs → down-link reaches a gateway its country may land at (landing rights,
   forbidden gateway countries).

Per landing class (the set of gateways a group of terminals may use) one multi-source Dijkstra
on the reversed graph gives, for every satellite, the distance to its nearest allowed gateway
and which gateway that is; a terminal then picks the visible satellite minimising GSL + that
distance.  The RTT is twice that length over c (terminal ↔ gateway; the terrestrial part
beyond the gateway is not modelled).

>>> import numpy as np
>>> from leosim.policy import parse_policy
>>> from leosim.ground_segment import Terminals
>>> from leosim.scenario import parse_scenario
>>> from leosim.simulate import build_network
>>> net = build_network(parse_scenario({"constellation": {"preset": "starlink-550-hypatia"},
...     "time": {"times_s": [0.0]}}))
>>> t = Terminals(np.array(["paris", "taipei"], dtype=object), np.array([48.86, 25.03]),
...     np.array([2.35, 121.57]), np.array(["FRA", "TWN"]), np.ones(2))
>>> res = evaluate(net, parse_policy({"countries": {"TWN": "not_activated"}}), t)
>>> res.served_fraction.tolist(), res.block_reason.tolist()
([1.0, 0.0], ['', 'not activated in TWN'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .borders import Borders
from .constants import SPEED_OF_LIGHT_M_S
from .ground import geodetic_to_ecef_m, local_up
from .ground_segment import PoPs, Terminals
from .latency import LatencyModel, PopRouter, StepArrays
from .links import best_per_group, ground_links, usable_isls
from .orbits import Orbits
from .policy import Policy
from .pop_homing import PopHoming

_MAX_RTT_SAMPLES_BYTES = 2 * 2**30
_BYTES_PER_SAMPLE = 4 * 6 + 4 * 2  # six float32 and two int32 per terminal and step


@dataclass
class ServiceResult:
    """Per-terminal results of a policy evaluation over a time window.

    ``rtt_ms`` is ``(n_times, n_terminals)``: light time to the nearest allowed gateway (NaN
    when not served); ``gateway`` the index of that gateway (-1 when not served) into
    ``gateway_country``.  ``pop_paths`` holds the round trip to each terminal's PoP ``pop``
    (index into ``pops``) and its parts, per step.
    """

    policy_name: str
    terminals: Terminals
    t_s: np.ndarray
    allowed: np.ndarray
    block_reason: np.ndarray
    rtt_ms: np.ndarray
    gateway: np.ndarray
    gateway_country: np.ndarray
    visible: np.ndarray
    """Steps at which each terminal saw at least one satellite."""
    state: np.ndarray | None = None
    """Activation state of each terminal's country (``sanctioned_but_active`` is flagged)."""
    pops: PoPs | None = None
    pop: np.ndarray | None = None
    pop_source: np.ndarray | None = None
    """How each terminal's PoP was chosen: ``policy``, ``geoip`` or ``nearest``."""
    gateway_name: np.ndarray | None = None
    pop_paths: StepArrays | None = None
    latency: LatencyModel | None = None
    source: object = None
    """A :class:`~leosim.policy_merge.StepSource` the tables read the per-step results from
    (those of a chunked evaluation, whose per-step arrays are then None)."""

    @property
    def served(self) -> np.ndarray:
        return self.gateway >= 0

    @property
    def landing_gateway(self) -> np.ndarray:
        """``(n_times, n_terminals)`` gateway where each terminal's traffic lands (-1 when not
        served): the one on its path to the PoP, which need not be the nearest one."""
        return self.pop_paths.pop_gateway if self.pop_paths is not None else self.gateway

    @property
    def served_fraction(self) -> np.ndarray:
        return self.served.mean(axis=0) if len(self.t_s) else np.zeros(len(self.terminals))

    def reason(self) -> np.ndarray:
        """Why each terminal was not served at some steps ("" if always served)."""
        from .policy_merge import block_reasons

        return block_reasons(self.block_reason, self.visible, self.served_fraction)

    def tables(self, borders: Borders | None = None) -> tuple[dict, dict]:
        """The columns of ``terminals.csv`` and ``countries.csv`` (:meth:`terminal_table`,
        :meth:`country_table`), read from ``source`` one chunk of steps at a time, or from
        the per-step arrays as one chunk (:func:`leosim.policy_merge.merge_tables`)."""
        from .policy_merge import array_source, merge_tables

        src = self.source
        if src is None:
            pp = self.pop_paths
            cols = {f.name: getattr(pp, f.name) for f in dataclasses.fields(pp)} if pp else {}
            cols.update(rtt_gw_ms=self.rtt_ms, gateway=self.gateway)
            src = array_source(cols, self.visible, len(self.t_s))
        return merge_tables(self, src, borders)

    def terminal_table(self) -> dict[str, np.ndarray]:
        """Columns of ``terminals.csv``: per terminal its served fraction, PoP and gateway,
        the median (the parts at its step) and p95 of its round trip to the PoP, the median
        and p95 light time to the nearest allowed gateway, where its traffic lands, and why
        it was not served."""
        return self.tables()[0]

    def country_table(self, borders: Borders | None = None) -> dict[str, np.ndarray]:
        """Columns of ``countries.csv``: served share, RTT and where traffic lands, per country.

        Shares are weighted by terminal weight (people represented), over terminals × steps.
        ``landing`` lists ``country:share`` of served traffic per gateway country, largest first;
        ``foreign_landing_share`` is the share landing outside the users' country; ``pops``
        lists ``code:share`` of the terminals' PoPs.  ``*_rtt_pop_ms`` are round trips to the
        PoP, ``*_rtt_gateway_ms`` light time to the nearest allowed gateway.
        """
        return self.tables(borders)[1]


_COUNTRY_COLUMNS = (
    "country",
    "name",
    "terminals",
    "weight",
    "served_share",
    "pops",
    "median_rtt_pop_ms",
    "p95_rtt_pop_ms",
    "radio_ms",
    "lasers_ms",
    "fibre_ms",
    "overhead_ms",
    "median_rtt_gateway_ms",
    "p95_rtt_gateway_ms",
    "foreign_landing_share",
    "landing",
    "policy_block",
    "state",
)


def _shares(labels: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted share of each label, largest first (ties by label)."""
    if len(labels) == 0:
        return np.array([], dtype=object), np.array([])
    lc, inv = np.unique(labels, return_inverse=True)
    sh = np.clip(np.bincount(inv, weights=weights) / weights.sum(), 0.0, 1.0)
    order = np.lexsort((lc, -sh))
    return lc[order], sh[order]


def _weighted_quantile_index(x: np.ndarray, w: np.ndarray, q: float) -> int:
    """Index of the weighted (lower) ``q``-quantile of ``x``; -1 if empty."""
    if len(x) == 0:
        return -1
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return int(order[np.searchsorted(cw, q * cw[-1])])


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The ``q`` quantile of ``x`` with weights ``w`` (the lower one at a tie; NaN if empty)."""
    i = _weighted_quantile_index(x, w, q)
    return float(x[i]) if i >= 0 else float("nan")


def nearest_gateway_tree(
    n_sats: int,
    isl_rows: np.ndarray,
    isl_cols: np.ndarray,
    isl_w: np.ndarray,
    gw_links,
    gw_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every satellite: distance (m) to its nearest gateway among ``gw_ids``, which gateway
    (-1: none reachable) and its next hop towards it (a satellite, or ``n_sats + gateway``).

    One multi-source Dijkstra on the reversed graph (gateway → satellite edges only, so no
    path passes through a gateway).  ``isl_rows/cols/w`` are the directed ISL edges.
    """
    if len(gw_ids) == 0 or len(gw_links) == 0:
        return np.full(n_sats, np.inf), np.full(n_sats, -1), np.full(n_sats, -1)
    use = np.isin(gw_links.gs, gw_ids)
    g_nodes = n_sats + gw_links.gs[use]
    rows = np.concatenate([isl_rows, g_nodes])
    cols = np.concatenate([isl_cols, gw_links.sat[use]])
    w = np.concatenate([isl_w, gw_links.range_m[use]])
    n_gw = int(gw_links.gs.max()) + 1 if len(gw_links) else 0
    n_gw = max(n_gw, int(gw_ids.max()) + 1)
    graph = csr_matrix((w, (rows, cols)), shape=(n_sats + n_gw, n_sats + n_gw))
    dist, pred, sources = dijkstra(
        graph, directed=True, indices=n_sats + gw_ids, min_only=True, return_predecessors=True
    )
    src = sources[:n_sats]
    nxt = pred[:n_sats].astype(np.int64)
    return dist[:n_sats], np.where(src >= 0, src - n_sats, -1), np.where(nxt >= 0, nxt, -1)


@dataclass
class GatewayTrees:
    """Per landing class (rows), for every satellite: distance to its nearest allowed gateway,
    which gateway (-1: none) and the next hop towards it; plus the lasers and gateway links."""

    dist_m: np.ndarray
    gateway: np.ndarray
    next_hop: np.ndarray
    lasers: object
    gw_links: object = None


def gateway_trees(
    sat_pos_m: np.ndarray,
    isl_pairs: np.ndarray,
    isl_max_length_m,
    gw_pos_m: np.ndarray,
    gw_up: np.ndarray,
    classes: list[np.ndarray],
    *,
    gateway_min_elevation_deg: float = 25.0,
) -> GatewayTrees:
    """One time step's :func:`nearest_gateway_tree` for every landing class."""
    n = len(sat_pos_m)
    lasers = usable_isls(sat_pos_m, isl_pairs, isl_max_length_m)
    rows, cols, w = lasers.edges
    gwl = ground_links(gw_pos_m, gw_up, sat_pos_m, min_elevation_deg=gateway_min_elevation_deg)
    trees = [nearest_gateway_tree(n, rows, cols, w, gwl, ids) for ids in classes]
    return GatewayTrees(
        np.stack([t[0] for t in trees]).reshape(len(classes), n),
        np.stack([t[1] for t in trees]).reshape(len(classes), n),
        np.stack([t[2] for t in trees]).reshape(len(classes), n),
        lasers,
        gwl,
    )


@dataclass
class _Geometry:
    """What a step needs of the ground, fixed over the window."""

    gw_pos: np.ndarray
    gw_up: np.ndarray
    term_pos: np.ndarray
    term_up: np.ndarray
    active: np.ndarray
    """Terminals that policy allows (only they need geometry)."""
    cls: np.ndarray
    classes: list[np.ndarray]
    min_el: object


def check_evaluation_size(n_t: int, n_term: int) -> None:
    need = n_t * n_term * _BYTES_PER_SAMPLE
    if need > _MAX_RTT_SAMPLES_BYTES:
        from .errors import InputError

        raise InputError(
            f"{n_t} steps x {n_term} terminals needs {need / 2**30:.1f} GiB of per-step results; "
            "use fewer terminals or a longer step",
            key="time",
        )


def _gateway_rtt(geo: _Geometry, trees: GatewayTrees, tl, out: StepArrays, i: int) -> None:
    """Today's terminal ↔ nearest allowed gateway light-time RTT, at step ``i``."""
    cost = tl.range_m + trees.dist_m[geo.cls[geo.active[tl.gs]], tl.sat]
    local, best, k = best_per_group(tl.gs, cost)
    who = geo.active[local]
    g = trees.gateway[geo.cls[who], tl.sat[k]]
    ok = g >= 0
    out.rtt_gw_ms[i, who[ok]] = 2.0 * best[ok] / SPEED_OF_LIGHT_M_S * 1e3
    out.gateway[i, who[ok]] = g[ok]


@dataclass
class EvaluationSetup:
    """What every step of a policy evaluation needs, fixed over the window (computed once,
    sent to the workers that evaluate chunks of the window)."""

    policy: Policy
    terminals: Terminals
    latency: LatencyModel
    geo: _Geometry
    allowed: np.ndarray
    reason: np.ndarray
    pop_of: np.ndarray
    pop_how: np.ndarray


def prepare_evaluation(
    net,
    policy: Policy,
    terminals: Terminals,
    *,
    borders: Borders | None = None,
    latency: LatencyModel | None = None,
) -> EvaluationSetup:
    """Permissions, landing classes, ground geometry and PoP homing of ``terminals``."""
    borders = borders or Borders.default()
    latency = latency or LatencyModel()
    allowed, reason = policy.terminal_permission(terminals, borders)
    cls, classes = policy.landing_classes(terminals.country)
    gw, ell = policy.gateways, net.ellipsoid
    geo = _Geometry(
        geodetic_to_ecef_m(gw.latitude_deg, gw.longitude_deg, 0.0, ell),
        local_up(gw.latitude_deg, gw.longitude_deg),
        geodetic_to_ecef_m(terminals.latitude_deg, terminals.longitude_deg, 0.0, ell),
        local_up(terminals.latitude_deg, terminals.longitude_deg),
        np.flatnonzero(allowed),
        cls,
        classes,
        policy.user_min_elevation_deg(net),
    )
    pop_of, pop_how = PopHoming.builtin().home(
        np.asarray(terminals.country),
        terminals.latitude_deg,
        terminals.longitude_deg,
        policy.pops,
        policy.pop_overrides,
    )
    return EvaluationSetup(policy, terminals, latency, geo, allowed, reason, pop_of, pop_how)


def slot_warmup(latency: LatencyModel, start_unix_s: float, t_s: np.ndarray, a: int) -> int:
    """First step of the reconfiguration slot that step ``a`` of ``t_s`` is in: a chunk that
    starts at ``a`` replays steps ``[slot_warmup(...), a)`` (without recording them) so that its
    terminals hold the satellites they held at ``a`` in a run of the whole window."""
    t = np.asarray(t_s, dtype=np.float64)
    if a <= 0 or a >= len(t):
        return max(0, min(a, len(t)))
    slot = latency.slot_start_s(start_unix_s, t[: a + 1])
    return int(np.searchsorted(slot, slot[a], side="left"))


def evaluate_steps(
    net,
    setup: EvaluationSetup,
    t_s: Sequence[float] | np.ndarray,
    *,
    warmup_t_s: Sequence[float] | np.ndarray = (),
    on_progress: Callable[[int], None] | None = None,
) -> StepArrays:
    """The per-step results at times ``t_s`` (seconds after ``net.start``, increasing).

    The satellites held in the reconfiguration slot of ``t_s[0]`` are chosen at the slot's
    start; steps ``warmup_t_s`` of that slot before ``t_s[0]`` (see :func:`slot_warmup`) are
    replayed first, for their handovers, so any chunk of a window gives the rows a run of the
    whole window gives.
    """
    policy, geo, latency = setup.policy, setup.geo, setup.latency
    t_s = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
    warm = np.asarray(warmup_t_s, dtype=np.float64).reshape(-1)
    n_t, n_term = len(t_s), len(setup.terminals)
    gw = policy.gateways
    router = PopRouter(latency, gw, policy.pops, geo.cls, geo.classes, setup.pop_of, geo.active)
    out = StepArrays.empty(n_t, n_term)
    scratch = StepArrays.empty(1, n_term)
    start = net.start.timestamp()
    slot_t = latency.slot_start_s(start, t_s)
    warm_slot = latency.slot_start_s(start, warm)
    all_t = np.unique(np.r_[warm, t_s, slot_t, warm_slot])
    eval_step = {float(t): i for i, t in enumerate(t_s)}
    warm_step = {float(t): float(s) for t, s in zip(warm, warm_slot, strict=True)}
    is_slot = set(slot_t.tolist()) | set(warm_slot.tolist())
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    for ts, pos_chunk in orbits.iter_ecef_m(net.start, all_t):
        for tau, pos in zip(ts, pos_chunk, strict=True):
            trees = gateway_trees(
                pos,
                net.isl_pairs,
                net.isl_max_length_m,
                geo.gw_pos,
                geo.gw_up,
                geo.classes,
                gateway_min_elevation_deg=policy.spec.gateways.min_elevation_deg,
            )
            tl = ground_links(
                geo.term_pos[geo.active],
                geo.term_up[geo.active],
                pos,
                min_elevation_deg=geo.min_el,
            )
            paths = router.paths(pos, trees.lasers.edges, trees.gw_links, geo.gw_pos)
            if float(tau) in is_slot:
                router.assign(float(tau), tl, paths)
            i = eval_step.get(float(tau))
            if i is None:
                if float(tau) in warm_step:
                    router.measure(warm_step[float(tau)], tl, paths, scratch, 0)
                continue
            if len(tl):
                out.visible[geo.active[np.unique(tl.gs)]] += 1
                _gateway_rtt(geo, trees, tl, out, i)
            router.measure(float(slot_t[i]), tl, paths, out, i)
            if on_progress is not None:
                on_progress(1)
    return out


def evaluation_result(
    setup: EvaluationSetup, t_s: np.ndarray, out: StepArrays | None, source=None
) -> ServiceResult:
    """The :class:`ServiceResult` of the per-step results ``out`` at times ``t_s`` (or of those
    that ``source``, a :class:`~leosim.policy_merge.StepSource`, reads chunk by chunk)."""
    policy, gw = setup.policy, setup.policy.gateways
    return ServiceResult(
        policy.name,
        setup.terminals,
        np.asarray(t_s, dtype=np.float64),
        setup.allowed,
        setup.reason,
        out.rtt_gw_ms if out is not None else None,
        out.gateway if out is not None else None,
        np.asarray(gw.country),
        out.visible if out is not None else None,
        policy.state_of(setup.terminals.country),
        pops=policy.pops,
        pop=setup.pop_of,
        pop_source=setup.pop_how,
        gateway_name=np.asarray(gw.name),
        pop_paths=out,
        latency=setup.latency,
        source=source,
    )


def evaluate(
    net,
    policy: Policy,
    terminals: Terminals,
    t_s: Sequence[float] | np.ndarray | None = None,
    *,
    borders: Borders | None = None,
    on_progress: Callable[[int], None] | None = None,
    latency: LatencyModel | None = None,
) -> ServiceResult:
    """Evaluate ``policy`` for ``terminals`` over the times of ``net`` (a
    :class:`~leosim.simulate.Network`; its stations are not used).

    ``t_s`` defaults to the single time 0 after the network's start.  Besides who is served and
    the light time to the nearest allowed gateway, every served terminal gets the round trip to
    its PoP (:mod:`leosim.latency`) under ``latency`` (default :class:`LatencyModel`).  The
    same as :func:`prepare_evaluation`, :func:`evaluate_steps` over the whole window and
    :func:`evaluation_result` (what ``leosim policy evaluate`` does chunk by chunk).
    """
    t_s = np.atleast_1d(np.asarray([0.0] if t_s is None else t_s, dtype=np.float64))
    check_evaluation_size(len(t_s), len(terminals))
    setup = prepare_evaluation(net, policy, terminals, borders=borders, latency=latency)
    return evaluation_result(setup, t_s, evaluate_steps(net, setup, t_s, on_progress=on_progress))


def compare(
    a: ServiceResult, b: ServiceResult, borders: Borders | None = None
) -> dict[str, np.ndarray]:
    """Per-country difference B − A: served share, RTT to the PoP and to the gateway, foreign
    landing, landing countries and PoPs."""
    ca, cb = a.country_table(borders), b.country_table(borders)
    codes = sorted(set(ca["country"]) | set(cb["country"]))
    ia = {c: i for i, c in enumerate(ca["country"])}
    ib = {c: i for i, c in enumerate(cb["country"])}
    text = ("landing", "pops")

    def get(tab, idx, key, c):
        default = 0.0 if key == "served_share" else ("" if key in text else np.nan)
        return tab[key][idx[c]] if c in idx else default

    out: dict[str, list] = {"country": list(codes), "name": []}
    for c in codes:
        out["name"].append(get(ca, ia, "name", c) if c in ia else get(cb, ib, "name", c))
    for key in ("served_share", "median_rtt_pop_ms", "median_rtt_gateway_ms"):
        va = [get(ca, ia, key, c) for c in codes]
        vb = [get(cb, ib, key, c) for c in codes]
        out[f"{key}_a"], out[f"{key}_b"] = va, vb
        out[f"{key}_change"] = list(np.subtract(vb, va))
    for key in ("foreign_landing_share", *text):
        out[f"{key}_a"] = [get(ca, ia, key, c) for c in codes]
        out[f"{key}_b"] = [get(cb, ib, key, c) for c in codes]
    keep_text = {"country", "name", "landing_a", "landing_b", "pops_a", "pops_b"}
    return {k: np.asarray(v, dtype=object if k in keep_text else float) for k, v in out.items()}


def evaluate_chunk(shared: tuple, item: tuple) -> StepArrays:
    """One chunk of a chunked evaluation (a task of :mod:`leosim.execution`): ``shared`` is
    ``(net, setups)``, ``item`` ``(policy index into setups, t_s, warmup_t_s)``."""
    net, setups = shared
    k, t_s, warm = item
    return evaluate_steps(net, setups[k], t_s, warmup_t_s=warm)
