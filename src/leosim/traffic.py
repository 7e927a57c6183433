"""Capacity over the engine's routes: flows on links, allocated at each time step.

Two kinds of demand:

* **Subscribers in cells** (:func:`subscriber_step`): the land of the demand countries is cut
  into equal-area cells (default 0.15°, about 280 km², the size of Starlink's service cells);
  each cell's subscribers are ``take_rate`` × the population Natural Earth places in it.  A cell
  is served, like a terminal in :mod:`leosim.service`, by the visible satellite on its shortest
  path to a gateway its country may land at.  Traffic flows down: gateway site → feeder link of
  the last satellite → lasers → user down-link of the serving satellite → the cell's beam.
* **City pairs** (:func:`city_pair_step`): a traffic matrix between stations (e.g. the gravity
  model of :func:`leosim.capacity.gravity_demand`) routed on the core engine's paths, over
  user up-links, lasers and user down-links.

Each laser is full duplex: its two directions are separate links of ``isl_gbps`` each.  A
satellite's user down-link, user up-link and feeder capacities are shared by everything it
carries.  Capacities come from :class:`leosim.capacity.CapacityModel`.

**Servable subscribers.**  With routes fixed, if ``N`` subscribers are spread over the cells in
proportion to their population and each is to get ``R`` bit/s, link ``l`` carries
``N·R·s_l`` where ``s_l`` is the population share of the cells it serves; the largest ``N``
all of whom get ``R`` is ``min_l cap_l / (R·s_l)``, and the link that attains it is the
bottleneck (:func:`servable_subscribers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .capacity import CapacityModel, incidence_from_pairs
from .errors import InputError
from .ground import geodetic_to_ecef_m, local_up
from .links import best_per_group, ground_links
from .order_stats import grouped_ranks
from .routing import RoutingState

LINK_KIND_ORDER = ("downlink", "uplink", "isl", "feeder", "gateway", "beam")
URBAN_DENSITY_PER_KM2 = 5000.0
"""People per km² assumed when spreading a place's population over cells (dense-city order of
magnitude; Taipei city is ~9,500/km², its metropolitan area ~3,000/km²)."""


@dataclass
class Cells:
    """Demand cells: centre (degrees), country, population and subscribers."""

    latitude_deg: np.ndarray
    longitude_deg: np.ndarray
    country: np.ndarray
    population: np.ndarray
    subscribers: np.ndarray

    def __len__(self) -> int:
        return len(self.latitude_deg)


def country_cells(
    countries: list[str], *, cell_deg: float = 0.15, take_rate: float = 1.0, borders=None
) -> Cells:
    """Equal-area cells over the land of ``countries`` with the population they hold.

    Each populated place (Natural Earth, ``pop_max``) is spread evenly over the cells of its
    country within its urban radius ``sqrt(pop / (π·density))`` (:data:`URBAN_DENSITY_PER_KM2`),
    or given to its nearest cell when that disc holds no cell centre; each country's population estimate (``POP_EST``) is then spread over its cells in proportion
    to those places, so cell populations add up to the country's.  Cells with no place get no
    population (rural demand is folded into the nearest towns) and are dropped.
    """
    from scipy.spatial import cKDTree

    from .borders import Borders
    from .ground_segment import populated_places

    if not (0.0 < take_rate <= 1.0):
        raise InputError(f"must be in (0, 1], got {take_rate}", key="demand.take_rate")
    if not (0.01 <= cell_deg <= 5.0):
        raise InputError(f"must be in [0.01, 5] degrees, got {cell_deg}", key="demand.cell_deg")
    borders = borders or Borders.default()
    places = populated_places()
    out = {k: [] for k in ("lat", "lon", "country", "pop")}
    for code in countries:
        code = borders.validate_code(code, key="demand.countries")
        lon0, lat0, lon1, lat1 = borders.geometry(code).bounds
        if (lat1 - lat0) * (lon1 - lon0) / cell_deg**2 > 2_000_000:
            raise InputError(
                f"{code} at {cell_deg} deg makes more than 2,000,000 cells; use a larger cell_deg",
                key="demand.cell_deg",
            )
        n_bands = int(np.ceil(180.0 / cell_deg))
        edges = np.linspace(-90.0, 90.0, n_bands + 1)
        centres = 0.5 * (edges[:-1] + edges[1:])
        band = (edges[1:] >= lat0) & (edges[:-1] <= lat1)
        lats, lons = [], []
        for c in centres[band]:
            n_lon = max(1, round(360.0 * np.cos(np.radians(c)) / (180.0 / n_bands)))
            k = np.arange(n_lon)
            lon = -180.0 + (k + 0.5) * 360.0 / n_lon
            sel = (lon >= lon0 - cell_deg) & (lon <= lon1 + cell_deg)
            lons.append(lon[sel])
            lats.append(np.full(sel.sum(), c))
        lat = np.concatenate(lats)
        lon = np.concatenate(lons)
        inside = borders.contains(code, lat, lon)
        lat, lon = lat[inside], lon[inside]
        pin = places.country == code
        if len(lat) == 0 or not pin.any():
            continue
        xyz = geodetic_to_ecef_m(lat, lon, 0.0)
        tree = cKDTree(xyz)
        p_xyz = geodetic_to_ecef_m(places.latitude_deg[pin], places.longitude_deg[pin], 0.0)
        p_pop = places.pop_max[pin]
        # A place's people live in an urban disc of density URBAN_DENSITY_PER_KM2, spread over
        # the cells whose centres it covers (at least the nearest cell).
        radius_m = np.sqrt(p_pop / (np.pi * URBAN_DENSITY_PER_KM2)) * 1e3
        weight = np.zeros(len(lat))
        _, nearest = tree.query(p_xyz)
        for i, hits in enumerate(tree.query_ball_point(p_xyz, radius_m)):
            hits = hits or [int(nearest[i])]
            weight[hits] += p_pop[i] / len(hits)
        keep = weight > 0
        pop = borders.population_of(code)
        pop = pop if np.isfinite(pop) and pop > 0 else weight.sum()
        out["lat"].append(lat[keep])
        out["lon"].append(lon[keep])
        out["country"].append(np.full(keep.sum(), code))
        out["pop"].append(weight[keep] / weight.sum() * pop)
    if not out["lat"]:
        raise InputError("no populated cell in the demand countries", key="demand.countries")
    pop = np.concatenate(out["pop"])
    return Cells(
        np.concatenate(out["lat"]),
        np.concatenate(out["lon"]),
        np.concatenate(out["country"]),
        pop,
        pop * take_rate,
    )


@dataclass
class StepFlows:
    """Flows of one time step on the links they cross."""

    incidence: sp.csr_array
    capacity_bps: np.ndarray
    link_kind: np.ndarray
    flow_index: np.ndarray
    """Which cell or pair each flow is (flows exist only for those routed)."""
    candidate_incidence: sp.csr_array | None = None
    """Cells only: one row per (cell, visible satellite) path, for multipath allocation."""
    candidate_cell: np.ndarray | None = None


def _directed_isl_ids(
    isl_pairs: np.ndarray, n_sats: int, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """Index of the directed laser u→v: 2·k for the pair's (low→high) direction, 2·k+1 back."""
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    key = isl_pairs[:, 0].astype(np.int64) * n_sats + isl_pairs[:, 1]
    order = np.argsort(key)
    q = lo.astype(np.int64) * n_sats + hi
    pos = np.searchsorted(key[order], q)
    k = order[np.minimum(pos, len(order) - 1)]
    if len(q) and not np.all(key[k] == q):
        raise RuntimeError("a path uses a laser that is not in the ISL list")  # a bug
    return 2 * k + (u > v)


def _kinds_and_capacity(
    model: CapacityModel, counts: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    offsets, kinds = {}, []
    total = 0
    for k in LINK_KIND_ORDER:
        offsets[k] = total
        total += counts.get(k, 0)
        kinds.extend([k] * counts.get(k, 0))
    kinds = np.asarray(kinds)
    return kinds, model.link_capacity_bps(kinds) if len(kinds) else np.empty(0), offsets


def subscriber_step(
    sat_pos_m: np.ndarray,
    isl_pairs: np.ndarray,
    isl_max_length_m,
    cells: Cells,
    cell_class: np.ndarray,
    classes: list[np.ndarray],
    gw_pos_m: np.ndarray,
    gw_up: np.ndarray,
    model: CapacityModel,
    *,
    min_elevation_deg: float = 25.0,
    gateway_min_elevation_deg: float = 25.0,
    cell_allowed: np.ndarray | None = None,
) -> StepFlows:
    """Route every cell to a gateway (see module docs) and build its flow's links."""
    from .service import gateway_trees

    n = len(sat_pos_m)
    n_gw = len(gw_pos_m)
    trees = gateway_trees(
        sat_pos_m,
        isl_pairs,
        isl_max_length_m,
        gw_pos_m,
        gw_up,
        classes,
        gateway_min_elevation_deg=gateway_min_elevation_deg,
    )
    pairs = trees.lasers.pairs
    dist, via, nxt = trees.dist_m, trees.gateway, trees.next_hop
    c_pos = geodetic_to_ecef_m(cells.latitude_deg, cells.longitude_deg, 0.0)
    c_up = local_up(cells.latitude_deg, cells.longitude_deg)
    active = np.arange(len(cells)) if cell_allowed is None else np.flatnonzero(cell_allowed)
    tl = ground_links(c_pos[active], c_up[active], sat_pos_m, min_elevation_deg=min_elevation_deg)
    cell_of = active[tl.gs]
    cand_ok = np.isfinite(dist[cell_class[cell_of], tl.sat]) if len(tl) else np.zeros(0, bool)
    # Candidates: every (cell, visible satellite with a route to an allowed gateway).
    c_cell, c_sat = cell_of[cand_ok], tl.sat[cand_ok]
    c_val = tl.range_m[cand_ok] + dist[cell_class[c_cell], c_sat]
    n_c = len(c_cell)
    counts = {"downlink": n, "isl": 2 * len(pairs), "feeder": n, "gateway": n_gw, "beam": n_c}
    kinds, cap, off = _kinds_and_capacity(model, counts)
    if n_c == 0:
        z = sp.csr_array((0, len(kinds)))
        return StepFlows(z, cap, kinds, np.empty(0, dtype=np.int64), z, np.empty(0, dtype=np.int64))
    cls = cell_class[c_cell]
    # Walk every candidate's path from its satellite to the gateway, all together.
    p_idx = np.arange(n_c)
    flow_parts, link_parts = [p_idx, p_idx], [off["beam"] + p_idx, off["downlink"] + c_sat]
    cur = c_sat.copy()
    for _ in range(n + 1):
        step_next = nxt[cls, cur]
        go = step_next < n
        if not go.any():
            break
        # Traffic flows gateway -> user: over the laser from the next hop to the current one.
        flow_parts.append(p_idx[go])
        link_parts.append(off["isl"] + _directed_isl_ids(pairs, n, step_next[go], cur[go]))
        cur = np.where(go, step_next, cur)
    else:  # pragma: no cover - a shortest-path tree has no cycle
        raise RuntimeError("gateway tree has a loop")
    flow_parts += [p_idx, p_idx]
    link_parts += [off["feeder"] + cur, off["gateway"] + via[cls, cur]]
    paths = incidence_from_pairs(
        np.concatenate(flow_parts), np.concatenate(link_parts), n_c, len(kinds)
    )
    # Single path per cell: the candidate of least length (ties: lowest satellite id).
    _, _, best = best_per_group(c_cell, c_val)
    return StepFlows(paths[best], cap, kinds, c_cell[best], paths, c_cell)


def city_pair_step(
    state: RoutingState, src: np.ndarray, dst: np.ndarray, model: CapacityModel
) -> StepFlows:
    """Flows of station pairs on the routing state's paths: user up-link, lasers, down-link."""
    n = state.num_sats
    h = state.path_matrix(src, dst)
    routed = np.flatnonzero(h[:, 0] >= 0)
    h = h[routed]
    u, v = h[:, :-1], h[:, 1:]
    valid = (u >= 0) & (v >= 0)
    f = np.broadcast_to(np.arange(len(routed))[:, None], u.shape)[valid]
    u, v = u[valid], v[valid]
    counts = {"uplink": n, "downlink": n, "isl": 2 * len(state.isl_pairs)}
    kinds, cap, off = _kinds_and_capacity(model, counts)
    up = (u >= n) & (v < n)
    down = (u < n) & (v >= n)
    isl = (u < n) & (v < n)
    link = np.empty(len(u), dtype=np.int64)
    link[up] = off["uplink"] + v[up]
    link[down] = off["downlink"] + u[down]
    link[isl] = off["isl"] + _directed_isl_ids(state.isl_pairs, n, u[isl], v[isl])
    keep = up | down | isl  # station-to-station hops (none in "isls" mode) carry no radio link
    inc = incidence_from_pairs(f[keep], link[keep], len(routed), len(kinds))
    return StepFlows(inc, cap, kinds, routed)


def servable_subscribers(flows: StepFlows, share: np.ndarray, rate_bps: float) -> tuple[float, int]:
    """Largest number of subscribers, spread with population ``share`` per flow, that can all
    get ``rate_bps`` at once on these routes; and the bottleneck link (-1 if nothing flows)."""
    if flows.incidence.shape[0] == 0:
        return 0.0, -1
    load_per_sub = flows.incidence.T @ (share * rate_bps)
    used = load_per_sub > 0
    if not used.any():
        return 0.0, -1
    ratio = np.full(len(load_per_sub), np.inf)
    ratio[used] = flows.capacity_bps[used] / load_per_sub[used]
    k = int(np.argmin(ratio))
    return float(ratio[k]), k


def servable_subscribers_multipath(
    flows: StepFlows, cell_share: dict[int, float] | np.ndarray, rate_bps: float
) -> tuple[float, str]:
    """Like :func:`servable_subscribers`, but each cell's traffic may be split over all the
    satellites it sees (each with its own beam and path to a gateway), as an operator
    balancing load would: the largest ``N`` with ``N·R·share_c`` delivered to every cell,
    a maximum-concurrent-flow linear program solved by HiGHS.

    ``cell_share`` is indexed by cell id.  Returns ``N`` and the kind of link whose capacity
    binds most (largest total dual value).
    """
    from scipy.optimize import linprog

    from .capacity import SolverError

    P = flows.candidate_incidence
    if P is None or P.shape[0] == 0:
        return 0.0, "no route"
    cells, col = np.unique(flows.candidate_cell, return_inverse=True)
    share = np.asarray(cell_share, dtype=float)[cells]
    share = share / share.sum()
    n_p = P.shape[0]
    used = np.flatnonzero(np.asarray(P.sum(axis=0)).ravel() > 0)
    a_links = sp.hstack([P[:, used].T.tocsr(), sp.csr_array((len(used), 1))]).tocsr()
    # Units of the rate R keep the LP well scaled: y_p = x_p / R subscribers.
    b_links = flows.capacity_bps[used] / rate_bps
    a_cells = sp.hstack(
        [
            sp.csr_array((np.ones(n_p), (col, np.arange(n_p))), shape=(len(cells), n_p)),
            sp.csr_array(-share[:, None]),
        ]
    ).tocsr()
    c = np.zeros(n_p + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=a_links,
        b_ub=b_links,
        A_eq=a_cells,
        b_eq=np.zeros(len(cells)),
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        raise SolverError(f"HiGHS: {res.message}")
    duals = -np.asarray(res.ineqlin.marginals)
    kinds = flows.link_kind[used]
    weight = {
        str(k): float(np.sum(duals[kinds == k] * b_links[kinds == k])) for k in np.unique(kinds)
    }
    binding = max(weight, key=weight.get) if any(v > 0 for v in weight.values()) else ""
    return float(res.x[-1]), binding


@dataclass
class CapacityRun:
    """What :func:`run_subscriber_capacity` finds over its window: the per-step columns are
    streamed (``on_steps`` of :func:`subscriber_result`), only these summaries are kept."""

    t_s: np.ndarray
    rates_mbps: list[float]
    servable_rows: list[dict]
    """One row a rate: servable subscribers (min and median over the steps) with and without
    multipath, and the kinds of link that limit them (``kind:steps``, most steps first)."""
    country_rows: list[dict]
    kind_rows: list[dict]

    def summary_rows(self) -> list[dict]:
        """The rows of ``servable.csv`` (:attr:`servable_rows`)."""
        return self.servable_rows


@dataclass
class SubscriberSetup:
    """What every step of :func:`run_subscriber_capacity` needs, fixed over the window."""

    cells: Cells
    model: CapacityModel
    rates_mbps: tuple[float, ...]
    allowed: np.ndarray
    cell_class: np.ndarray
    classes: list
    gw_pos: np.ndarray
    gw_up: np.ndarray
    demand_bps: np.ndarray
    min_elevation_deg: float
    gateway_min_elevation_deg: float


def subscriber_setup(
    net,
    policy,
    cells: Cells,
    model: CapacityModel,
    *,
    rates_mbps: tuple[float, ...] = (25.0, 100.0),
    mbps_per_subscriber: float = 25.0,
    concurrency: float = 1.0,
    borders=None,
) -> SubscriberSetup:
    """Permissions, landing classes, gateways and demand of ``cells`` under ``policy``."""
    from .ground_segment import Terminals

    if borders is None:
        from .borders import Borders

        borders = Borders.default()
    if not (0 < concurrency <= 1):
        raise InputError(f"must be in (0, 1], got {concurrency}", key="demand.concurrency")
    terms = Terminals(
        np.arange(len(cells)).astype(str).astype(object),
        cells.latitude_deg,
        cells.longitude_deg,
        cells.country,
        cells.population,
    )
    allowed, _ = policy.terminal_permission(terms, borders)
    cell_class, classes = policy.landing_classes(cells.country)
    gw = policy.gateways
    return SubscriberSetup(
        cells,
        model,
        tuple(rates_mbps),
        allowed,
        cell_class,
        classes,
        geodetic_to_ecef_m(gw.latitude_deg, gw.longitude_deg, 0.0, net.ellipsoid),
        local_up(gw.latitude_deg, gw.longitude_deg),
        cells.subscribers * mbps_per_subscriber * 1e6 * concurrency,
        policy.user_min_elevation_deg(net),
        policy.spec.gateways.min_elevation_deg,
    )


def subscriber_steps(net, setup: SubscriberSetup, t_s, on_progress=None) -> dict[str, dict]:
    """Per-step records of :func:`run_subscriber_capacity` at times ``t_s``, as columns:
    ``steps`` (one row a step), ``countries`` (a row per step and country: the max-min rate
    and demand) and ``kinds`` (a row per step and link kind used); steps are independent, so
    any split of a window gives the same rows (:func:`subscriber_result` merges them)."""
    from .capacity import max_min_fair, max_throughput
    from .orbits import Orbits

    cells, rates = setup.cells, setup.rates_mbps
    demand_bps = setup.demand_bps
    steps: dict[str, list] = {k: [] for k in ("routed_share", "served", "demand", "lp_total")}
    for j in range(len(rates)):
        for k in ("servable", "bottleneck", "servable_mp", "bottleneck_mp"):
            steps[f"{k}_{j}"] = []
    countries: dict[str, list] = {k: [] for k in ("step", "country", "rate_bps", "demand_bps")}
    kinds: dict[str, list] = {
        k: [] for k in ("step", "kind", "used", "saturated", "util_mean", "util_max", "flows")
    }
    codes = np.unique(cells.country)
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    i = 0
    for ts, chunk in orbits.iter_ecef_m(net.start, np.asarray(t_s, dtype=np.float64)):
        for k in range(len(ts)):
            fl = subscriber_step(
                chunk[k],
                net.isl_pairs,
                net.isl_max_length_m,
                cells,
                setup.cell_class,
                setup.classes,
                setup.gw_pos,
                setup.gw_up,
                setup.model,
                min_elevation_deg=setup.min_elevation_deg,
                gateway_min_elevation_deg=setup.gateway_min_elevation_deg,
                cell_allowed=setup.allowed,
            )
            subs = cells.subscribers[fl.flow_index]
            tot = subs.sum()
            steps["routed_share"].append(float(tot / cells.subscribers.sum()))
            for j, r in enumerate(rates):
                if tot > 0:
                    nmax, link = servable_subscribers(fl, subs / tot, r * 1e6)
                    steps[f"servable_{j}"].append(nmax)
                    steps[f"bottleneck_{j}"].append(str(fl.link_kind[link]) if link >= 0 else "")
                else:
                    steps[f"servable_{j}"].append(0.0)
                    steps[f"bottleneck_{j}"].append("no route")
                nmp, bmp = servable_subscribers_multipath(fl, cells.subscribers, r * 1e6)
                steps[f"servable_mp_{j}"].append(nmp)
                steps[f"bottleneck_mp_{j}"].append(bmp)
            d = demand_bps[fl.flow_index]
            steps["demand"].append(float(demand_bps.sum() / 1e9))
            rate_c = np.zeros(len(codes))
            if len(d):
                mm = max_min_fair(fl.incidence, fl.capacity_bps, d, link_kind=fl.link_kind)
                lp = max_throughput(fl.incidence, fl.capacity_bps, d, link_kind=fl.link_kind)
                steps["served"].append(mm.total_rate_bps / 1e9)
                steps["lp_total"].append(lp.total_rate_bps / 1e9)
                flow_c = cells.country[fl.flow_index]
                rate_c = np.array([mm.rate_bps[flow_c == c].sum() for c in codes])
                used = mm.load_bps > 0
                util = mm.utilisation
                for kind in np.unique(fl.link_kind[used]):
                    m = used & (fl.link_kind == kind)
                    nb = int(np.sum(mm.bottleneck_kind == kind)) if mm.link_kind is not None else 0
                    row = (i, str(kind), m.sum(), np.sum(m & mm.saturated))
                    row += (util[m].mean(), util[m].max(), nb)
                    for key, v in zip(kinds, row, strict=True):
                        kinds[key].append(v)
            else:
                steps["served"].append(0.0)
                steps["lp_total"].append(0.0)
            for c, rate in zip(codes, rate_c, strict=True):
                countries["step"].append(i)
                countries["country"].append(str(c))
                countries["rate_bps"].append(float(rate))
                countries["demand_bps"].append(float(demand_bps[cells.country == c].sum()))
            i += 1
        if on_progress is not None:
            on_progress(len(ts))
    floats = {"used", "saturated", "util_mean", "util_max", "flows", "rate_bps", "demand_bps"}

    def arrays(cols: dict[str, list]) -> dict[str, np.ndarray]:
        return {
            k: np.asarray(v, dtype=float if k in floats else None)
            if not k.startswith("bottleneck") and k not in ("country", "kind")
            else np.asarray(v, dtype=object)
            for k, v in cols.items()
        }

    return {"steps": arrays(steps), "countries": arrays(countries), "kinds": arrays(kinds)}


# ---------------------------------------------------------------------------- streamed merges

MERGE_MAX_VALUES = 4_000_000
"""Most values the merges' medians sort at once (:func:`leosim.order_stats.grouped_ranks`);
more are narrowed down by counting passes over the chunks first."""

Parts = Callable[..., Iterable[dict[str, dict]]]
"""``parts(names)``: the records of a window's chunks in time order (``name -> columns``), of
the tables ``names`` only (all with none); every call reads them again, one chunk at a time."""


def replay(records: list[dict[str, dict]]) -> Parts:
    """The :data:`Parts` of records held in memory (one pass over a whole window)."""

    def parts(names: tuple[str, ...] | None = None):
        for rec in records:
            yield rec if names is None else {n: rec[n] for n in names}

    return parts


def _chunks(t_s: np.ndarray, parts: Parts, names: tuple[str, ...], key: str):
    """``(times, record)`` of every chunk in order: a chunk's times are the next
    ``len(record["steps"][key])`` of ``t_s``; RuntimeError unless they cover ``t_s`` exactly."""
    t_s = np.asarray(t_s)
    a = 0
    for rec in parts(names):
        m = len(rec["steps"][key])
        yield t_s[a : a + m], rec
        a += m
    if a != len(t_s):
        raise RuntimeError(f"the chunks hold {a} steps, the window {len(t_s)}")  # a bug


def _pairwise_leaves(n: int):
    """numpy's pairwise summation of ``n`` values (``pairwise_sum`` of
    numpy/_core/src/umath/loops_utils.h.src), in post order: a leaf's length (at most 128
    values, which ``np.add.reduce`` sums alone exactly so), or 0 to add the last two sums."""
    if n <= 128:
        yield n
        return
    n2 = n // 2
    n2 -= n2 % 8
    yield from _pairwise_leaves(n2)
    yield from _pairwise_leaves(n - n2)
    yield 0


class PairwiseSum:
    """``np.add.reduce`` of ``n`` float64 values bit for bit (so ``np.mean`` is the total over
    ``n``), the values pushed in order in blocks of any length: memory of one leaf (128
    values) and one partial sum per level (``log2(n / 128)``).

    >>> v = np.random.default_rng(1).random(1000)
    >>> s = PairwiseSum(len(v)); s.push(v[:3]); s.push(v[3:])
    >>> bool(s.total() == np.add.reduce(v))
    True
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._plan = _pairwise_leaves(n) if n > 0 else iter(())
        self._sums: list[float] = []
        self._leaf: list[np.ndarray] = []
        self._have = 0
        self._need = self._next_leaf()

    def _next_leaf(self) -> int:
        for step in self._plan:
            if step:
                return step
            b = self._sums.pop()
            self._sums.append(self._sums.pop() + b)
        return 0

    def push(self, values) -> None:
        """The next values, in order."""
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        while len(v):
            if self._need == 0:
                raise ValueError(f"more than the {self.n} values announced")
            take = min(self._need - self._have, len(v))
            self._leaf.append(v[:take])
            self._have += take
            v = v[take:]
            if self._have == self._need:
                leaf = np.concatenate(self._leaf)
                self._sums.append(float(np.add.reduce(leaf)) if len(leaf) else 0.0)
                self._leaf, self._have = [], 0
                self._need = self._next_leaf()

    def total(self) -> float:
        """The sum, once all ``n`` values are in."""
        if self.n == 0:
            return 0.0
        if self._need or self._have:
            raise ValueError(f"fewer than the {self.n} values announced")
        return self._sums[0]


class StepStats:
    """``np.min`` and ``np.median`` over the steps of ``n_groups`` per-step values, exactly,
    with memory of a few numbers per group: :meth:`add` takes each chunk's ``(steps,
    n_groups)`` values once; :meth:`median` reads them again (any order) and finds the middle
    values by counting passes (:func:`leosim.order_stats.grouped_ranks`).  As numpy: NaN if a
    group holds a NaN (or no value), infinities sort at the ends, an even count gives the mean
    of the two middle values ``(a + b) / 2``; a median of zero is ``0.0`` (numpy may give
    ``-0.0``, which the CSV files write as ``0`` too)."""

    def __init__(self, n_groups: int) -> None:
        self.count = np.zeros(n_groups, dtype=np.int64)
        self.nan = np.zeros(n_groups, dtype=np.int64)
        self.neg_inf = np.zeros(n_groups, dtype=np.int64)
        self.pos_inf = np.zeros(n_groups, dtype=np.int64)
        self._min = np.full(n_groups, np.inf)
        self.finite_min = np.full(n_groups, np.inf)
        self.finite_max = np.full(n_groups, -np.inf)

    def add(self, values: np.ndarray) -> None:
        """One chunk's values, ``(steps, n_groups)``."""
        v = np.asarray(values, dtype=np.float64).reshape(-1, len(self.count))
        if not len(v):
            return
        fin = np.isfinite(v)
        z = v + 0.0  # -0.0 as 0.0: the order statistics' keys tell them apart, numpy does not
        self.count += len(v)
        self.nan += np.isnan(v).sum(axis=0)
        self.neg_inf += (v == -np.inf).sum(axis=0)
        self.pos_inf += (v == np.inf).sum(axis=0)
        self._min = np.minimum(self._min, np.min(v, axis=0))  # a NaN stays
        self.finite_min = np.minimum(self.finite_min, np.where(fin, z, np.inf).min(axis=0))
        self.finite_max = np.maximum(self.finite_max, np.where(fin, z, -np.inf).max(axis=0))

    def min(self) -> np.ndarray:
        """``np.min`` of each group (NaN where it has no value)."""
        return np.where(self.count > 0, self._min, np.nan)

    def median(self, blocks: Callable[[], Iterable[np.ndarray]], max_values: int) -> np.ndarray:
        """``np.median`` of each group; ``blocks()`` yields the ``(steps, n_groups)`` values
        of :meth:`add` again, in any order and split."""
        n, g = self.count, len(self.count)
        n_fin = n - self.nan - self.neg_inf - self.pos_inf
        mid = np.stack([(n - 1) // 2, np.where(n % 2 == 0, n // 2, -1)], axis=1)
        inner = mid - self.neg_inf[:, None]  # rank among the finite values
        finite = (mid >= 0) & (inner >= 0) & (inner < n_fin[:, None])
        has = n_fin > 0

        def pairs():
            for v in blocks():
                v = np.asarray(v, dtype=np.float64).reshape(-1, g)
                ok = np.isfinite(v)
                yield np.broadcast_to(np.arange(g), v.shape)[ok], v[ok] + 0.0

        val = grouped_ranks(
            pairs,
            g_count=n_fin,
            g_min=np.where(has, self.finite_min, 0.0),
            g_max=np.where(has, self.finite_max, 0.0),
            ranks=np.where(finite, inner, -1),
            max_values=max_values,
        )
        val = np.where(finite, val, np.where(inner < 0, -np.inf, np.inf))
        with np.errstate(invalid="ignore"):  # -inf + inf: NaN, as numpy's
            out = np.where(mid[:, 1] >= 0, (val[:, 0] + val[:, 1]) / 2.0, val[:, 0])
        return np.where((self.nan > 0) | (n == 0), np.nan, out)


def _servable(steps: dict, n_rates: int) -> np.ndarray:
    """``(steps, 2 n_rates)``: servable with multipath (column ``2 j``) and on the shortest
    paths (``2 j + 1``) at rate ``j``."""
    cols = []
    for j in range(n_rates):
        cols += [steps[f"servable_mp_{j}"], steps[f"servable_{j}"]]
    m = len(steps["routed_share"])
    return np.stack(cols, axis=1).astype(np.float64) if cols else np.zeros((m, 0))


_KIND_MEANS = ("used", "saturated", "util_mean", "flows")


def subscriber_result(
    setup: SubscriberSetup,
    t_s: np.ndarray,
    parts: Parts,
    *,
    on_steps: Callable[[np.ndarray, dict], None] | None = None,
    max_values: int = MERGE_MAX_VALUES,
) -> CapacityRun:
    """The :class:`CapacityRun` of window ``t_s`` from the records of its chunks
    (:func:`subscriber_steps`), read one chunk at a time: ``on_steps(times, steps)`` gets each
    chunk's step columns in time order (to stream them to a file); the summaries keep a few
    numbers per rate, country and link kind, whatever the number of steps.  Country sums run
    step by step as in one pass over the window; the link kinds' means are ``np.mean`` of
    their per-step values bit for bit (:class:`PairwiseSum`), the medians ``np.median``
    (:class:`StepStats`)."""
    cells, rates = setup.cells, setup.rates_mbps
    stats = StepStats(2 * len(rates))
    limits: list[dict[str, int]] = [{} for _ in range(2 * len(rates))]
    by_country: dict[str, np.ndarray] = {}
    kind_n: dict[str, int] = {}  # in the order of first use, as one pass over the rows
    kind_max: dict[str, float] = {}
    for times, part in _chunks(t_s, parts, ("steps", "countries", "kinds"), "routed_share"):
        s = part["steps"]
        if on_steps is not None:
            on_steps(times, s)
        stats.add(_servable(s, len(rates)))
        for j in range(len(rates)):
            for g, col in ((2 * j, f"bottleneck_mp_{j}"), (2 * j + 1, f"bottleneck_{j}")):
                for k, c in zip(*np.unique(s[col].astype(str), return_counts=True), strict=True):
                    limits[g][str(k)] = limits[g].get(str(k), 0) + int(c)
        c = part["countries"]
        for code, rate, dmd in zip(c["country"], c["rate_bps"], c["demand_bps"], strict=True):
            acc = by_country.setdefault(str(code), np.zeros(3))
            acc += [rate, dmd, 1.0]
        kd = part["kinds"]
        kind = np.asarray(kd["kind"], dtype=object).astype(str)
        _, first = np.unique(kind, return_index=True)
        for k in kind[np.sort(first)]:
            m = kind == k
            kind_n[k] = kind_n.get(k, 0) + int(m.sum())
            top = float(np.max(np.asarray(kd["util_max"], dtype=np.float64)[m]))
            kind_max[k] = float(np.maximum(kind_max.get(k, -np.inf), top))
    sums = {k: [PairwiseSum(n) for _ in _KIND_MEANS] for k, n in kind_n.items()}
    for part in parts(("kinds",)):
        kd = part["kinds"]
        kind = np.asarray(kd["kind"], dtype=object).astype(str)
        for k in np.unique(kind):
            m = kind == k
            for acc, name in zip(sums[k], _KIND_MEANS, strict=True):
                acc.push(np.asarray(kd[name], dtype=np.float64)[m])
    median = stats.median(
        lambda: (_servable(p["steps"], len(rates)) for p in parts(("steps",))), max_values
    )
    return CapacityRun(
        np.asarray(t_s),
        list(rates),
        _servable_rows(rates, stats.min(), median, limits),
        _country_rows(cells, by_country),
        _kind_rows(kind_n, kind_max, sums),
    )


def _limited_by(counts: dict[str, int]) -> str:
    """``kind:steps;...``, most steps first (ties: by kind, as ``np.unique`` sorts them)."""
    ranked = sorted(sorted(counts.items()), key=lambda x: -x[1])
    return ";".join(f"{k}:{c}" for k, c in ranked)


def _servable_rows(rates, low: np.ndarray, median: np.ndarray, limits) -> list[dict]:
    return [
        {
            "rate_mbps": r,
            "servable_multipath_min": float(low[2 * j]),
            "servable_multipath_median": float(median[2 * j]),
            "bottleneck_multipath": _limited_by(limits[2 * j]),
            "servable_shortest_path_min": float(low[2 * j + 1]),
            "servable_shortest_path_median": float(median[2 * j + 1]),
            "bottleneck_shortest_path": _limited_by(limits[2 * j + 1]),
        }
        for j, r in enumerate(rates)
    ]


def _country_rows(cells: Cells, by_country: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for c, (srv, dmd, nsteps) in sorted(by_country.items()):
        subs_c = float(cells.subscribers[cells.country == c].sum())
        rows.append(
            {
                "country": c,
                "subscribers": subs_c,
                "demand_gbps": dmd / nsteps / 1e9,
                "served_gbps_maxmin": srv / nsteps / 1e9,
                "share_met": srv / dmd if dmd > 0 else np.nan,
                "per_subscriber_mbps": srv / nsteps / 1e6 / subs_c if subs_c > 0 else np.nan,
            }
        )
    return rows


def _kind_rows(kind_n: dict[str, int], kind_max: dict[str, float], sums: dict) -> list[dict]:
    rows = []
    for kind, n in kind_n.items():
        used, saturated, util, flows = (acc.total() / n for acc in sums[kind])
        rows.append(
            {
                "kind": kind,
                "links_used_mean": float(used),
                "saturated_mean": float(saturated),
                "utilisation_mean": float(util),
                "utilisation_max": kind_max[kind],
                "flows_bottlenecked_mean": float(flows),
            }
        )
    return rows


def run_subscriber_capacity(
    net,
    policy,
    cells: Cells,
    model: CapacityModel,
    t_s: np.ndarray,
    *,
    rates_mbps: tuple[float, ...] = (25.0, 100.0),
    mbps_per_subscriber: float = 25.0,
    concurrency: float = 1.0,
    borders=None,
    on_progress=None,
) -> CapacityRun:
    """Servable subscribers and flow allocations for ``cells`` under ``policy`` at every step
    (:func:`subscriber_setup`, :func:`subscriber_steps` of the window, :func:`subscriber_result`;
    ``leosim capacity`` runs the steps chunk by chunk)."""
    setup = subscriber_setup(
        net,
        policy,
        cells,
        model,
        rates_mbps=rates_mbps,
        mbps_per_subscriber=mbps_per_subscriber,
        concurrency=concurrency,
        borders=borders,
    )
    return subscriber_result(setup, t_s, replay([subscriber_steps(net, setup, t_s, on_progress)]))


@dataclass
class CityRun:
    """What :func:`run_city_capacity` finds over its window (Gbit/s): the per-step columns are
    streamed (``on_steps`` of :func:`city_result`), only these summaries are kept."""

    t_s: np.ndarray
    demand_gbps: float
    served_gbps_maxmin_median: float
    """Median over the steps of the max-min fair total."""
    served_gbps_max_throughput_median: float
    bottleneck_kinds: list[str]
    """Kinds of link or limit (``demand``) that bound a flow at some step, sorted."""
    pair_rate_bps: np.ndarray
    """``(n_pairs,)`` mean max-min rate of every pair over the steps."""


def city_steps(net, flows: tuple, model: CapacityModel, t_s) -> dict[str, dict]:
    """Per-step records of :func:`run_city_capacity` at times ``t_s`` (the routing warm-starts
    within these steps only), as columns: ``steps`` (served and routed shares), ``bottlenecks``
    (a row per step and bottleneck kind) and ``rates`` (every flow's max-min rate, time-major);
    :func:`city_result` merges them."""
    from .capacity import max_min_fair, max_throughput
    from .simulate import iter_states

    src, dst, demand_bps = flows
    steps: dict[str, list] = {"served_mm": [], "served_lp": [], "routed": []}
    bott: dict[str, list] = {"step": [], "kind": [], "count": []}
    rates = []
    for i, (_, state) in enumerate(iter_states(net, t_s, destinations=np.unique(dst))):
        fl = city_pair_step(state, src, dst, model)
        d = demand_bps[fl.flow_index]
        steps["routed"].append(float(d.sum() / demand_bps.sum()) if demand_bps.sum() > 0 else 0.0)
        rate = np.zeros(len(src))
        if len(d):
            mm = max_min_fair(fl.incidence, fl.capacity_bps, d, link_kind=fl.link_kind)
            lp = max_throughput(fl.incidence, fl.capacity_bps, d, link_kind=fl.link_kind)
            steps["served_mm"].append(mm.total_rate_bps / 1e9)
            steps["served_lp"].append(lp.total_rate_bps / 1e9)
            for kind, count in mm.bottleneck_counts().items():
                bott["step"].append(i)
                bott["kind"].append(str(kind))
                bott["count"].append(int(count))
            rate[fl.flow_index] = mm.rate_bps
        else:
            steps["served_mm"].append(0.0)
            steps["served_lp"].append(0.0)
        rates.append(rate)
    return {
        "steps": {k: np.asarray(v, dtype=float) for k, v in steps.items()},
        "bottlenecks": {
            "step": np.asarray(bott["step"], dtype=np.int64),
            "kind": np.asarray(bott["kind"], dtype=object),
            "count": np.asarray(bott["count"], dtype=np.int64),
        },
        "rates": {"rate_bps": np.concatenate(rates) if rates else np.zeros(0)},
    }


def city_bottleneck_kinds(parts: Parts) -> list[str]:
    """The sorted kinds that bound a flow at some step of the chunks (one pass over their
    ``bottlenecks`` tables)."""
    kinds: set[str] = set()
    for part in parts(("bottlenecks",)):
        kinds.update(np.asarray(part["bottlenecks"]["kind"], dtype=object).astype(str).tolist())
    return sorted(kinds)


def city_step_columns(part: dict[str, dict], kinds: list[str]) -> dict:
    """One chunk's step columns: ``routed``, ``served_mm``, ``served_lp`` and ``limited_by``
    (kind -> flows it bounds at each step, 0 where none; every kind of ``kinds``)."""
    st = part["steps"]
    m = len(st["routed"])
    b = part["bottlenecks"]
    step = np.asarray(b["step"], dtype=np.int64)
    kind = np.asarray(b["kind"], dtype=object).astype(str)
    count = np.asarray(b["count"], dtype=np.int64)
    limited = {}
    for k in kinds:
        col = np.zeros(m, dtype=np.int64)
        sel = kind == k
        col[step[sel]] = count[sel]
        limited[k] = col
    cols = {k: np.asarray(st[k], dtype=float) for k in ("routed", "served_mm", "served_lp")}
    return {**cols, "limited_by": limited}


def city_result(
    flows: tuple,
    t_s,
    parts: Parts,
    *,
    on_steps: Callable[[np.ndarray, dict], None] | None = None,
    max_values: int = MERGE_MAX_VALUES,
) -> CityRun:
    """The :class:`CityRun` of window ``t_s`` from the records of its chunks
    (:func:`city_steps`), read one chunk at a time: ``on_steps(times, columns)`` gets each
    chunk's :func:`city_step_columns` in time order; the pairs' rates are summed step by step
    as in one pass, the medians are ``np.median``'s (:class:`StepStats`)."""
    src, _, demand_bps = flows
    t_s = np.asarray(t_s, dtype=float)
    kinds = city_bottleneck_kinds(parts)
    stats = StepStats(2)
    rate_sum = np.zeros(len(src))
    n = 0
    for times, part in _chunks(t_s, parts, ("steps", "bottlenecks", "rates"), "routed"):
        cols = city_step_columns(part, kinds)
        if on_steps is not None:
            on_steps(times, cols)
        stats.add(np.stack([cols["served_mm"], cols["served_lp"]], axis=1))
        rates = np.asarray(part["rates"]["rate_bps"]).reshape(len(times), len(src))
        for r in rates:  # step by step, as in one pass (a flow not routed adds 0.0)
            rate_sum += r
        n += len(times)

    def blocks():
        for p in parts(("steps",)):
            yield np.stack([p["steps"]["served_mm"], p["steps"]["served_lp"]], axis=1)

    median = stats.median(blocks, max_values)
    return CityRun(
        t_s,
        float(demand_bps.sum() / 1e9),
        float(median[0]),
        float(median[1]),
        kinds,
        rate_sum / max(n, 1),
    )


def run_city_capacity(
    net,
    src: np.ndarray,
    dst: np.ndarray,
    demand_bps: np.ndarray,
    model: CapacityModel,
    t_s,
    *,
    on_progress=None,
) -> CityRun:
    """Max-min fair and maximum-throughput allocation of station-pair flows at every step,
    on the core engine's shortest paths (up-link, lasers, down-link); :func:`city_steps` of
    the whole window, merged by :func:`city_result`."""
    flows = city_flows(src, dst, demand_bps)
    part = city_steps(net, flows, model, t_s)
    if on_progress is not None:
        on_progress(len(part["steps"]["routed"]))
    return city_result(flows, t_s, replay([part]))


def city_flows(src, dst, demand_bps) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(src, dst, demand_bps)`` as the arrays :func:`city_steps` takes."""
    return (
        np.asarray(src, dtype=np.int64),
        np.asarray(dst, dtype=np.int64),
        np.asarray(demand_bps, dtype=float),
    )


def capacity_chunk(shared: tuple, item: tuple) -> dict[str, dict]:
    """One chunk of a chunked ``leosim capacity`` (a task of :mod:`leosim.execution`):
    ``shared`` is ``(net, "cells", SubscriberSetup)`` or ``(net, "cities", (flows, model))``,
    ``item`` the chunk's times."""
    net, kind, setup = shared
    if kind == "cells":
        return subscriber_steps(net, setup, item)
    flows, model = setup
    return city_steps(net, flows, model, item)
