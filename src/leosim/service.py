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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from .borders import Borders
from .constants import SPEED_OF_LIGHT_M_S
from .ground import geodetic_to_ecef_m, local_up
from .ground_segment import Terminals
from .links import best_per_group, ground_links, usable_isls
from .orbits import Orbits
from .policy import Policy

_MAX_RTT_SAMPLES_BYTES = 2 * 2**30


@dataclass
class ServiceResult:
    """Per-terminal results of a policy evaluation over a time window.

    ``rtt_ms`` is ``(n_times, n_terminals)`` (NaN when not served); ``gateway`` the index of the
    gateway used (-1 when not served) into ``gateway_country``.
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

    @property
    def served(self) -> np.ndarray:
        return self.gateway >= 0

    @property
    def served_fraction(self) -> np.ndarray:
        return self.served.mean(axis=0) if len(self.t_s) else np.zeros(len(self.terminals))

    def reason(self) -> np.ndarray:
        """Why each terminal was not served at some steps ("" if always served)."""
        out = self.block_reason.copy()
        never_vis = (self.visible == 0) & (out == "")
        out[never_vis] = "no satellite in view"
        part = (out == "") & (self.served_fraction < 1.0)
        out[part] = "no allowed gateway reachable at some steps"
        return out

    def terminal_table(self) -> dict[str, np.ndarray]:
        """Columns of ``terminals.csv``."""
        t = self.terminals
        rtt = self.rtt_ms
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                med = np.nanmedian(rtt, axis=0) if len(rtt) else np.full(len(t), np.nan)
                p95 = np.nanpercentile(rtt, 95, axis=0) if len(rtt) else np.full(len(t), np.nan)
        gw_countries = []
        for k in range(len(t)):
            g = self.gateway[:, k]
            used = np.unique(self.gateway_country[g[g >= 0]]) if (g >= 0).any() else []
            gw_countries.append(";".join(sorted(used)))
        return {
            "terminal_id": t.terminal_id.astype(str).astype(object),
            "latitude_deg": t.latitude_deg,
            "longitude_deg": t.longitude_deg,
            "country": t.country.astype(object),
            "weight": t.weight,
            "served_fraction": self.served_fraction,
            "median_rtt_ms": med,
            "p95_rtt_ms": p95,
            "gateway_countries": np.array(gw_countries, dtype=object),
            "reason": self.reason().astype(object),
            "state": (self.state if self.state is not None else np.full(len(t), "")).astype(object),
        }

    def country_table(self, borders: Borders | None = None) -> dict[str, np.ndarray]:
        """Columns of ``countries.csv``: served share, RTT and where traffic lands, per country.

        Shares are weighted by terminal weight (people represented), over terminals × steps.
        ``landing`` lists ``country:share`` of served traffic per gateway country, largest first;
        ``foreign_landing_share`` is the share landing outside the users' country.
        """
        t = self.terminals
        codes = np.unique(t.country)
        w = t.weight
        served = self.served
        out: dict[str, list] = {
            k: []
            for k in (
                "country",
                "name",
                "terminals",
                "weight",
                "served_share",
                "median_rtt_ms",
                "p95_rtt_ms",
                "foreign_landing_share",
                "landing",
                "policy_block",
                "state",
            )
        }
        for c in codes:
            sel = np.flatnonzero(t.country == c)
            ww = w[sel]
            s = served[:, sel]
            total = ww.sum() * max(len(self.t_s), 1)
            share = min(1.0, float((s * ww).sum() / total)) if total > 0 else 0.0
            r = self.rtt_ms[:, sel][s]
            rw = np.broadcast_to(ww, s.shape)[s]
            g = self.gateway[:, sel][s]
            land = self.gateway_country[g] if len(g) else np.array([], dtype=str)
            landing = []
            foreign = np.nan
            if len(g):
                lc, inv = np.unique(land, return_inverse=True)
                sh = np.clip(np.bincount(inv, weights=rw) / rw.sum(), 0.0, 1.0)
                order = np.argsort(-sh)
                landing = [f"{lc[i]}:{sh[i]:.3f}" for i in order]
                foreign = min(1.0, float(sh[lc != c].sum()))
            blocks = self.block_reason[sel]
            blocked = np.unique(blocks[blocks != ""])
            out["country"].append(c or "(sea)")
            out["name"].append(borders.name_of(c) if borders is not None and c in borders else "")
            out["terminals"].append(len(sel))
            out["weight"].append(float(ww.sum()))
            out["served_share"].append(share)
            out["median_rtt_ms"].append(_weighted_quantile(r, rw, 0.5))
            out["p95_rtt_ms"].append(_weighted_quantile(r, rw, 0.95))
            out["foreign_landing_share"].append(foreign)
            out["landing"].append(";".join(landing))
            out["policy_block"].append(";".join(blocked))
            out["state"].append(str(self.state[sel][0]) if self.state is not None else "")
        return {
            k: np.asarray(
                v,
                dtype=object
                if k in ("country", "name", "landing", "policy_block", "state")
                else None,
            )
            for k, v in out.items()
        }


def _weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    if len(x) == 0:
        return float("nan")
    order = np.argsort(x)
    cw = np.cumsum(w[order])
    return float(x[order][np.searchsorted(cw, q * cw[-1])])


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
    which gateway (-1: none) and the next hop towards it; plus the lasers used."""

    dist_m: np.ndarray
    gateway: np.ndarray
    next_hop: np.ndarray
    lasers: object


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
    )


def evaluate(
    net,
    policy: Policy,
    terminals: Terminals,
    t_s: Sequence[float] | np.ndarray | None = None,
    *,
    borders: Borders | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ServiceResult:
    """Evaluate ``policy`` for ``terminals`` over the times of ``net`` (a
    :class:`~leosim.simulate.Network`; its stations are not used).

    ``t_s`` defaults to the single time 0 after the network's start.
    """
    borders = borders or Borders.default()
    t_s = np.atleast_1d(np.asarray([0.0] if t_s is None else t_s, dtype=np.float64))
    n_t, n_term = len(t_s), len(terminals)
    need = n_t * n_term * (4 + 4)
    if need > _MAX_RTT_SAMPLES_BYTES:
        from .errors import InputError

        raise InputError(
            f"{n_t} steps x {n_term} terminals needs {need / 2**30:.1f} GiB of per-step results; "
            "use fewer terminals or a longer step",
            key="time",
        )
    allowed, reason = policy.terminal_permission(terminals, borders)
    cls, classes = policy.landing_classes(terminals.country)
    gw = policy.gateways
    ell = net.ellipsoid
    gw_pos = geodetic_to_ecef_m(gw.latitude_deg, gw.longitude_deg, 0.0, ell)
    gw_up = local_up(gw.latitude_deg, gw.longitude_deg)
    term_pos = geodetic_to_ecef_m(terminals.latitude_deg, terminals.longitude_deg, 0.0, ell)
    term_up = local_up(terminals.latitude_deg, terminals.longitude_deg)
    # Only terminals policy allows need geometry at all.
    active = np.flatnonzero(allowed)
    rtt = np.full((n_t, n_term), np.nan, dtype=np.float32)
    gateway = np.full((n_t, n_term), -1, dtype=np.int32)
    visible = np.zeros(n_term, dtype=np.int64)
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    step = 0
    for ts, pos_chunk in orbits.iter_ecef_m(net.start, t_s):
        for k in range(len(ts)):
            pos = pos_chunk[k]
            trees = gateway_trees(
                pos,
                net.isl_pairs,
                net.isl_max_length_m,
                gw_pos,
                gw_up,
                classes,
                gateway_min_elevation_deg=policy.spec.gateways.min_elevation_deg,
            )
            dist, via = trees.dist_m, trees.gateway
            if len(active):
                tl = ground_links(
                    term_pos[active],
                    term_up[active],
                    pos,
                    min_elevation_deg=policy.user_min_elevation_deg(net),
                )
                if len(tl):
                    visible[active[np.unique(tl.gs)]] += 1
                    cost = tl.range_m + dist[cls[active[tl.gs]], tl.sat]
                    local, best, k = best_per_group(tl.gs, cost)
                    who = active[local]
                    g = via[cls[who], tl.sat[k]]
                    ok = g >= 0
                    rtt[step, who[ok]] = 2.0 * best[ok] / SPEED_OF_LIGHT_M_S * 1e3
                    gateway[step, who[ok]] = g[ok]
            step += 1
        if on_progress is not None:
            on_progress(len(ts))
    return ServiceResult(
        policy.name,
        terminals,
        t_s,
        allowed,
        reason,
        rtt,
        gateway,
        np.asarray(gw.country),
        visible,
        policy.state_of(terminals.country),
    )


def compare(
    a: ServiceResult, b: ServiceResult, borders: Borders | None = None
) -> dict[str, np.ndarray]:
    """Per-country difference B − A: served share, RTT, foreign landing and landing countries."""
    ca, cb = a.country_table(borders), b.country_table(borders)
    codes = sorted(set(ca["country"]) | set(cb["country"]))
    ia = {c: i for i, c in enumerate(ca["country"])}
    ib = {c: i for i, c in enumerate(cb["country"])}

    def get(tab, idx, key, c, default=np.nan):
        return tab[key][idx[c]] if c in idx else default

    out: dict[str, list] = {
        k: []
        for k in (
            "country",
            "name",
            "served_share_a",
            "served_share_b",
            "served_share_change",
            "median_rtt_ms_a",
            "median_rtt_ms_b",
            "median_rtt_ms_change",
            "foreign_landing_share_a",
            "foreign_landing_share_b",
            "landing_a",
            "landing_b",
        )
    }
    for c in codes:
        sa, sb = get(ca, ia, "served_share", c, 0.0), get(cb, ib, "served_share", c, 0.0)
        ra, rb = get(ca, ia, "median_rtt_ms", c), get(cb, ib, "median_rtt_ms", c)
        out["country"].append(c)
        out["name"].append(get(ca, ia, "name", c, "") or get(cb, ib, "name", c, ""))
        out["served_share_a"].append(sa)
        out["served_share_b"].append(sb)
        out["served_share_change"].append(sb - sa)
        out["median_rtt_ms_a"].append(ra)
        out["median_rtt_ms_b"].append(rb)
        out["median_rtt_ms_change"].append(rb - ra)
        out["foreign_landing_share_a"].append(get(ca, ia, "foreign_landing_share", c))
        out["foreign_landing_share_b"].append(get(cb, ib, "foreign_landing_share", c))
        out["landing_a"].append(get(ca, ia, "landing", c, ""))
        out["landing_b"].append(get(cb, ib, "landing", c, ""))
    return {
        k: np.asarray(
            v, dtype=object if k in ("country", "name", "landing_a", "landing_b") else float
        )
        for k, v in out.items()
    }
