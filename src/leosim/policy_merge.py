"""The terminal and country tables of a policy evaluation, streamed over chunks of its steps.

``terminals.csv`` and ``countries.csv`` (:meth:`leosim.service.ServiceResult.tables`) are read
from the per-step results one chunk of steps at a time (:class:`StepSource`: the chunks of
``leosim policy evaluate`` in a :class:`~leosim.chunkstore.ChunkStore`, or one in-memory
window as one chunk), so memory is one chunk, :data:`MERGE_VALUES` values and per-terminal
and per-country state, whatever the horizon.  Every statistic is the formula of one pass over
the whole window, computed exactly:

- counts (served, visible, landing steps) and sets (gateway countries) are summed;
- per-terminal order statistics (the median and p95 RTTs, numpy's ``nanmedian`` and
  ``nanpercentile(.., 95)`` in float32) come from :func:`leosim.order_stats.grouped_ranks`;
  the step of the median PoP round trip (lower median, stable order) from two more passes;
- per-country weighted quantiles sort each chunk's values by country and value into runs
  (spilled next to the chunks) and merge the runs by value ranges: the cumulative weights are
  summed in the order of one stable sort of the whole window, bit for bit;
- weighted sums over terminal-steps (served share, the landing shares' denominator) are exact
  (:func:`exact_dot`: one rounding), so no chunk boundary can change them; the landing
  numerators are summed sequentially in step order (as ``np.bincount`` does over the window).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

MERGE_VALUES = 4_000_000
"""Most values the merge sorts at once (the order statistics' last pass, a country's range)."""
MERGE_VALUE_BYTES = 40
"""Memory per value it sorts: value, weight, ids, sort order and cumulative weight."""
MERGE_STEP_BYTES = 96
"""Memory per terminal and step of the chunk being merged: its columns and derived masks."""
MERGE_TERMINAL_BYTES = 1024
"""Memory per terminal of the merge's state: counts, extremes, ranks and their search
(:func:`~leosim.order_stats.grouped_ranks`, eight targets), parts, gateway countries."""
_P95 = 0.95
_PARTS = ("rtt_pop_ms", "radio_ms", "lasers_ms", "fibre_ms", "pop_gateway")


@dataclasses.dataclass
class StepSource:
    """Per-step results (:class:`~leosim.latency.StepArrays` columns) of ``n_term`` terminals
    over the chunks ``steps`` (``[start, stop)`` step indices, in order): ``read(j, names)``
    gives chunk ``j``'s columns as ``(stop - start, n_term)`` arrays, ``visible(j)`` its
    per-terminal visible steps; ``spill`` a folder for sorted runs (None: kept in memory)."""

    steps: list[tuple[int, int]]
    n_term: int
    read: Callable[[int, tuple[str, ...]], dict[str, np.ndarray]]
    visible: Callable[[int], np.ndarray]
    spill: Path | None = None

    def chunks(self, *names: str) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """``(first step, columns)`` of every chunk, one read at a time."""
        for j, (a, _) in enumerate(self.steps):
            yield a, self.read(j, names)


def array_source(cols: dict[str, np.ndarray], visible: np.ndarray, n_t: int) -> StepSource:
    """One chunk holding all ``n_t`` steps of in-memory per-step results: ``cols`` by name
    (:class:`~leosim.latency.StepArrays`'), ``visible`` steps per terminal."""
    return StepSource(
        [(0, n_t)] if n_t else [],
        len(visible),
        lambda j, names: {k: cols[k] for k in names},
        lambda j: visible,
    )


def store_source(store, k: int, steps: list[tuple[int, int]], n_term: int, spill) -> StepSource:
    """Policy ``k``'s chunks in a :class:`~leosim.chunkstore.ChunkStore` (chunk ``j`` of the
    policy is the store's ``k * len(steps) + j``), runs spilled into folder ``spill``."""

    def read(j: int, names) -> dict[str, np.ndarray]:
        a, b = steps[j]
        tab = store.read(k * len(steps) + j, "steps", columns=list(names))
        return {c: tab.column(c).to_numpy().reshape(b - a, n_term) for c in names}

    def visible(j: int) -> np.ndarray:
        return store.read(k * len(steps) + j, "visible").column("visible").to_numpy()

    return StepSource(list(steps), n_term, read, visible, spill)


# ---------------------------------------------------------------------------- exact arithmetic


def exact_dot(w: np.ndarray, n: np.ndarray) -> float:
    """``sum(w * n)`` rounded once (float64): weights ``w`` (finite floats) times counts ``n``
    (integers below 2**53), whatever their order; each product is split exactly into four
    (Dekker's splitting, 26-bit halves) and summed by :func:`math.fsum`."""
    w = np.asarray(w, dtype=np.float64)
    n = np.asarray(n, dtype=np.int64)
    c = 134217729.0 * w  # 2**27 + 1
    w_hi = c - (c - w)
    w_lo = w - w_hi
    n_hi = (n >> 26).astype(np.float64) * 2.0**26
    n_lo = (n & (2**26 - 1)).astype(np.float64)
    return math.fsum(np.concatenate([w_hi * n_hi, w_hi * n_lo, w_lo * n_hi, w_lo * n_lo]))


def p95_ranks(count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """numpy's ``percentile(.., 95)`` (method ``linear``) of ``count`` values: the ranks of the
    two order statistics it interpolates between (-1 where ``count`` is 0) and the weight."""
    c = np.asarray(count, dtype=np.int64)
    vi = (c - 1) * _P95
    lo = np.floor(vi)
    top = vi >= c - 1
    gamma = vi - np.where(top, -1.0, lo)
    lo = np.where(top, c - 1, lo).astype(np.int64)
    hi = np.where(top, c - 1, lo + 1)
    empty = c <= 0
    return np.where(empty, -1, lo), np.where(empty, -1, hi), gamma


def numpy_lerp(a: np.ndarray, b: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """numpy's quantile interpolation between order statistics ``a <= b`` (float32) at weights
    ``gamma`` (float64, cast to float32 as numpy's scalar weight is), in their dtype."""
    a, b = np.asarray(a), np.asarray(b)
    dt = a.dtype.type
    d = b - a
    low = a + d * gamma.astype(dt)
    high = b - d * (1.0 - gamma).astype(dt)
    return np.where(gamma >= 0.5, high, low).astype(a.dtype)


# ---------------------------------------------------------------------------- sorted runs


class _Runs:
    """Each chunk's values of one kind sorted by (country, value), stable, kept in memory or
    as ``.npy`` files in ``spill``: ``val`` (float32), ``term``, ``step`` (int32) and ``off``
    (each country's first position, one more at the end)."""

    FIELDS = ("val", "term", "step", "off")

    def __init__(self, name: str, spill: Path | None) -> None:
        self.name, self.spill, self.kept, self.n = name, spill, [], 0

    def add(self, country: np.ndarray, val, term, step, n_c: int) -> None:
        order = np.lexsort((val, country))
        arrays = {
            "val": val[order],
            "term": term[order].astype(np.int32),
            "step": step[order].astype(np.int32),
            "off": np.searchsorted(country[order], np.arange(n_c + 1)),
        }
        if self.spill is None:
            self.kept.append(arrays)
        else:
            for f, x in arrays.items():
                np.save(self.spill / f"{self.name}-{self.n}-{f}.npy", x)
        self.n += 1

    def run(self, j: int) -> dict[str, np.ndarray]:
        if self.spill is None:
            return self.kept[j]
        return {
            f: np.load(self.spill / f"{self.name}-{j}-{f}.npy", mmap_mode="r") for f in self.FIELDS
        }

    def ranges(self, c: int, max_values: int) -> Iterator[tuple[np.ndarray, ...]]:
        """Country ``c``'s ``(values, terminals, steps)`` in the order of one stable sort of
        all its values (by value, then step, then terminal), in ranges of about
        ``max_values`` (more only where one value repeats across runs)."""
        runs = [self.run(j) for j in range(self.n)]
        pos = [int(r["off"][c]) for r in runs]
        end = [int(r["off"][c + 1]) for r in runs]
        while True:
            live = [i for i in range(len(runs)) if pos[i] < end[i]]
            if not live:
                return
            per = max(1, max_values // len(live))
            cut = min(runs[i]["val"][min(pos[i] + per, end[i]) - 1] for i in live)
            parts = []
            for i in live:
                v = runs[i]["val"][pos[i] : end[i]]
                stop = pos[i] + int(np.searchsorted(v, cut, side="right"))
                parts.append(tuple(np.asarray(runs[i][f][pos[i] : stop]) for f in self.FIELDS[:3]))
                pos[i] = stop
            x, t, s = (np.concatenate([p[f] for p in parts]) for f in range(3))
            order = np.argsort(x, kind="stable")  # runs in step order: ties keep theirs
            yield x[order], t[order], s[order]


def weighted_picks(
    ranges: Callable[[], Iterator[tuple[np.ndarray, ...]]], w: np.ndarray, qs: tuple[float, ...]
) -> list[tuple[float, int, int] | None]:
    """Per ``q`` of ``qs``, :func:`leosim.service.weighted_quantile`'s pick among the values
    that ``ranges()`` yields in sorted order (``(values, terminals, steps)``, weights
    ``w[terminal]``): ``(value, terminal, step)``, or None if there are none.  Two passes:
    the total weight, then the first value whose cumulative weight reaches ``q`` of it."""
    total, seen = 0.0, False
    for _, t, _ in ranges():
        total = float(np.cumsum(np.r_[total, w[t]])[-1])
        seen = True
    if not seen:
        return [None] * len(qs)
    hs = [q * total for q in qs]
    picks: list = [None] * len(qs)
    running = 0.0
    for x, t, s in ranges():
        cw = np.cumsum(np.r_[running, w[t]])[1:]
        for i, h in enumerate(hs):
            if picks[i] is None and cw[-1] >= h:
                j = int(np.searchsorted(cw, h))
                picks[i] = (float(x[j]), int(t[j]), int(s[j]))
        running = float(cw[-1])
        if all(p is not None for p in picks):
            break
    return picks


# ---------------------------------------------------------------------------- the passes


@dataclasses.dataclass
class _State:
    """What the first pass sums per terminal (and per country x gateway country)."""

    served: np.ndarray
    visible: np.ndarray
    landing: np.ndarray
    lands_in: np.ndarray
    """Terminal x gateway country: ever landed there."""
    land_w: np.ndarray
    """Country x gateway country: weight landed, summed in step order."""
    land_n: np.ndarray
    n: dict[str, np.ndarray]
    lo: dict[str, np.ndarray]
    hi: dict[str, np.ndarray]


def _first_pass(src: StepSource, cinv, ginv, n_g: int, w, runs: dict) -> _State:
    """Counts, sets, extremes and landing weights over every chunk; the runs of both kinds."""
    n, n_c = src.n_term, int(cinv.max(initial=-1)) + 1
    st = _State(
        *(np.zeros(n, dtype=np.int64) for _ in range(3)),
        np.zeros((n, n_g), dtype=bool),
        np.zeros(n_c * n_g),
        np.zeros(n_c * n_g, dtype=np.int64),
        {k: np.zeros(n, dtype=np.int64) for k in ("pop", "gw")},
        {k: np.full(n, np.inf) for k in ("pop", "gw")},
        {k: np.full(n, -np.inf) for k in ("pop", "gw")},
    )
    names = ("rtt_pop_ms", "rtt_gw_ms", "gateway", "pop_gateway")
    for j, (a, cols) in enumerate(src.chunks(*names)):
        st.visible += src.visible(j)
        st.served += (cols["gateway"] >= 0).sum(axis=0)
        s, t = np.nonzero(cols["pop_gateway"] >= 0)  # step-major, as the window's flat order
        st.landing += np.bincount(t, minlength=n)
        g = ginv[cols["pop_gateway"][s, t]]
        st.lands_in[t, g] = True
        np.add.at(st.land_w, cinv[t] * n_g + g, w[t])
        st.land_n += np.bincount(cinv[t] * n_g + g, minlength=len(st.land_n))
        for kind, mask, v in (
            ("pop", np.isfinite(cols["rtt_pop_ms"]), cols["rtt_pop_ms"]),
            ("gw", cols["gateway"] >= 0, cols["rtt_gw_ms"]),
        ):
            s, t = np.nonzero(mask)
            x = v[s, t]
            st.n[kind] += np.bincount(t, minlength=n)
            np.minimum.at(st.lo[kind], t, x)
            np.maximum.at(st.hi[kind], t, x)
            runs[kind].add(cinv[t], x, t, s + a, n_c)
    return st


def _finite(src: StepSource, n: int) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]:
    """:func:`~leosim.order_stats.grouped_ranks` blocks: PoP RTTs as groups ``0..n-1``,
    gateway RTTs (served steps) as ``n..2n-1``."""

    def blocks():
        for _, cols in src.chunks("rtt_pop_ms", "rtt_gw_ms", "gateway"):
            s, t = np.nonzero(np.isfinite(cols["rtt_pop_ms"]))
            yield t, cols["rtt_pop_ms"][s, t].astype(np.float64)
            s, t = np.nonzero(cols["gateway"] >= 0)
            yield t + n, cols["rtt_gw_ms"][s, t].astype(np.float64)

    return blocks


def _terminal_ranks(src: StepSource, st: _State, max_values: int) -> dict[str, np.ndarray]:
    """Per terminal: the PoP RTTs' lower median and p95 order statistics, the gateway RTTs'
    two middle and p95 ones (float32, NaN where none), and the p95 weights."""
    from .order_stats import grouped_ranks

    n = src.n_term
    cp, cg = st.n["pop"], st.n["gw"]
    mid = np.where(cp > 0, (cp - 1) // 2, -1)
    pl, ph, p_gamma = p95_ranks(cp)
    gl, gh, g_gamma = p95_ranks(cg)
    ranks = np.concatenate(
        [
            np.stack([mid, pl, ph, np.full(n, -1)], axis=1),
            np.stack(
                [np.where(cg > 0, (cg - 1) // 2, -1), np.where(cg > 0, cg // 2, -1), gl, gh], 1
            ),
        ]
    ).astype(np.int64)
    count = np.r_[cp, cg]
    lo = np.where(count > 0, np.r_[st.lo["pop"], st.lo["gw"]], 0.0)
    hi = np.where(count > 0, np.r_[st.hi["pop"], st.hi["gw"]], 0.0)
    v = grouped_ranks(
        _finite(src, n), g_count=count, g_min=lo, g_max=hi, ranks=ranks, max_values=max_values
    ).astype(np.float32)
    return {
        "pop_mid": v[:n, 0],
        "pop_p95": numpy_lerp(v[:n, 1], v[:n, 2], p_gamma),
        "gw_median": ((v[n:, 0] + v[n:, 1]) / np.float32(2)).astype(np.float32),
        "gw_p95": numpy_lerp(v[n:, 2], v[n:, 3], g_gamma),
        "mid": mid,
    }


def _median_steps(src: StepSource, v: np.ndarray, mid: np.ndarray, picks: dict) -> tuple:
    """The step of each terminal's lower-median PoP RTT ``v`` (rank ``mid``; -1: none) in a
    stable sort, and :data:`_PARTS` there; and those parts at each ``(terminal, step)`` of
    ``picks``.  Two passes: values below ``v``, then the right occurrence of ``v``."""
    n = src.n_term
    below = np.zeros(n, dtype=np.int64)
    for _, cols in src.chunks("rtt_pop_ms"):
        below += (cols["rtt_pop_ms"] < v).sum(axis=0)
    need = mid - below + 1  # the occurrence of v, counted from 1, in step order
    step = np.where(mid >= 0, -2, -1)
    seen = np.zeros(n, dtype=np.int64)
    parts = {k: np.full(n, np.nan, dtype=np.float32) for k in _PARTS[:-1]}
    parts["pop_gateway"] = np.full(n, -1, dtype=np.int64)
    at = {key: None for key in picks}
    for a, cols in src.chunks(*_PARTS):
        eq = cols["rtt_pop_ms"] == v
        hit = eq & (np.cumsum(eq, axis=0, dtype=np.int64) + seen == need)
        r, t = np.nonzero(hit & (step == -2))
        step[t] = a + r
        for k in _PARTS:
            parts[k][t] = cols[k][r, t]
        seen += eq.sum(axis=0)
        for key, (tt, ss) in picks.items():
            if a <= ss < a + len(eq):
                at[key] = {k: cols[k][ss - a, tt] for k in _PARTS}
    return step, parts, at


# ---------------------------------------------------------------------------- the tables


def merge_tables(res, src: StepSource, borders=None, *, max_values: int | None = None):
    """``(terminals.csv columns, countries.csv columns)`` of result ``res`` (a
    :class:`~leosim.service.ServiceResult`: its terminals, permissions, PoPs, gateways and
    latency model) over the per-step results ``src``, sorting at most about ``max_values``
    (default :data:`MERGE_VALUES`) values at once."""
    max_values = MERGE_VALUES if max_values is None else max_values
    t = res.terminals
    w = np.asarray(t.weight, dtype=np.float64)
    codes, cinv = np.unique(np.asarray(t.country), return_inverse=True)
    cinv = cinv.reshape(-1)
    gcodes, ginv = np.unique(np.asarray(res.gateway_country), return_inverse=True)
    ginv = ginv.reshape(-1)
    runs = {k: _Runs(k, src.spill) for k in ("pop", "gw")}
    st = _first_pass(src, cinv, ginv, len(gcodes), w, runs)
    ranks = _terminal_ranks(src, st, max_values) if src.n_term else None
    picks = [
        (
            weighted_picks(lambda c=c: runs["pop"].ranges(c, max_values), w, (0.5, _P95)),
            weighted_picks(lambda c=c: runs["gw"].ranges(c, max_values), w, (0.5, _P95)),
        )
        for c in range(len(codes))
    ]
    wanted = {c: p[0][0][1:] for c, p in enumerate(picks) if p[0][0] is not None}
    if ranks is not None:
        step, parts, at = _median_steps(src, ranks["pop_mid"], ranks["mid"], wanted)
    else:
        step, parts, at = np.zeros(0, dtype=np.int64), {}, {}
    tt = _terminal_columns(res, st, ranks, step, parts, gcodes)
    ct = _country_columns(res, st, picks, at, codes, cinv, gcodes, borders)
    return tt, ct


def served_fraction(served: np.ndarray, n_t: int) -> np.ndarray:
    """Share of the ``n_t`` steps at which each terminal was served (``served`` steps)."""
    return served / n_t if n_t else np.zeros(len(served))


def block_reasons(block: np.ndarray, visible: np.ndarray, fraction: np.ndarray) -> np.ndarray:
    """Why each terminal was not served at some steps ("" if always served), from the policy's
    ``block`` reasons, its ``visible`` steps and served ``fraction``."""
    out = np.asarray(block, dtype=object).copy()
    out[(visible == 0) & (out == "")] = "no satellite in view"
    out[(out == "") & (fraction < 1.0)] = "no allowed gateway reachable at some steps"
    return out


def _terminal_columns(res, st: _State, ranks, step, parts, gcodes) -> dict[str, np.ndarray]:
    t, n_t, n = res.terminals, len(res.t_s), len(res.terminals)
    frac = served_fraction(st.served, n_t)
    ok = step >= 0
    dt = np.float32 if n_t else np.float64

    def at(k: str) -> np.ndarray:
        return np.where(ok, parts[k], np.nan).astype(dt) if n else np.zeros(0, dt)

    def stat(k: str) -> np.ndarray:
        return ranks[k].astype(dt) if n_t and n else np.full(n, np.nan)

    gw = parts["pop_gateway"] if n else np.zeros(0, dtype=np.int64)
    names = np.where(gw >= 0, np.asarray(res.gateway_name)[np.maximum(gw, 0)], "")
    return {
        "terminal_id": t.terminal_id.astype(str).astype(object),
        "latitude_deg": t.latitude_deg,
        "longitude_deg": t.longitude_deg,
        "country": t.country.astype(object),
        "weight": t.weight,
        "served_fraction": frac,
        "pop": np.asarray(res.pops.code)[res.pop].astype(object),
        "pop_source": np.asarray(res.pop_source, dtype=object),
        "gateway": names.astype(object),
        "median_rtt_pop_ms": at("rtt_pop_ms"),
        "p95_rtt_pop_ms": stat("pop_p95"),
        "radio_ms": at("radio_ms"),
        "lasers_ms": at("lasers_ms"),
        "fibre_ms": at("fibre_ms"),
        "overhead_ms": np.where(ok, res.latency.access_overhead_ms, np.nan),
        "median_rtt_gateway_ms": stat("gw_median"),
        "p95_rtt_gateway_ms": stat("gw_p95"),
        "gateway_countries": np.array(
            [";".join(gcodes[row].tolist()) for row in st.lands_in], dtype=object
        ),
        "reason": block_reasons(res.block_reason, st.visible, frac).astype(object),
        "state": (res.state if res.state is not None else np.full(n, "")).astype(object),
    }


def _country_columns(res, st, picks, at, codes, cinv, gcodes, borders) -> dict[str, np.ndarray]:
    from .service import _COUNTRY_COLUMNS

    rows = [
        _country_row(
            res, st, c, str(code), np.flatnonzero(cinv == c), picks[c], at.get(c), gcodes, borders
        )
        for c, code in enumerate(codes)
    ]
    keys = list(rows[0]) if rows else list(_COUNTRY_COLUMNS)
    text = {"country", "name", "landing", "policy_block", "state", "pops"}
    return {k: np.asarray([r[k] for r in rows], dtype=object if k in text else None) for k in keys}


def _landing(st: _State, c: int, code: str, sel, w, gcodes) -> tuple[list[str], float]:
    """``country:share`` of the country's landed weight, largest first (ties by name), and
    the share landing abroad (NaN if it never landed)."""
    n_g = len(gcodes)
    cnt = st.land_n[c * n_g : (c + 1) * n_g]
    if not cnt.any():
        return [], np.nan
    present = cnt > 0
    lc = gcodes[present]
    sh = np.clip(
        st.land_w[c * n_g : (c + 1) * n_g][present] / exact_dot(w[sel], st.landing[sel]), 0.0, 1.0
    )
    order = np.lexsort((lc, -sh))
    lc, sh = lc[order], sh[order]
    return [f"{lc[i]}:{sh[i]:.3f}" for i in range(len(lc))], min(1.0, float(sh[lc != code].sum()))


def _country_row(res, st, c: int, code: str, sel, picks, at, gcodes, borders) -> dict:
    from .service import _shares

    w = np.asarray(res.terminals.weight, dtype=np.float64)
    ww = w[sel]
    total = ww.sum() * max(len(res.t_s), 1)
    share = min(1.0, float(exact_dot(ww, st.served[sel]) / total)) if total > 0 else 0.0
    landing, foreign = _landing(st, c, code, sel, w, gcodes)
    pc, psh = _shares(np.asarray(res.pops.code)[res.pop[sel]], ww)
    blocks = np.asarray(res.block_reason)[sel]
    (pop_med, pop_95), (gw_med, gw_95) = picks

    def part(k: str) -> float:
        return float(at[k]) if at is not None else np.nan

    def value(p) -> float:
        return p[0] if p is not None else float("nan")

    return {
        "country": code or "(sea)",
        "name": borders.name_of(code) if borders is not None and code in borders else "",
        "terminals": len(sel),
        "weight": float(ww.sum()),
        "served_share": share,
        "pops": ";".join(f"{pc[i]}:{psh[i]:.3f}" for i in range(len(pc))),
        "median_rtt_pop_ms": part("rtt_pop_ms"),
        "p95_rtt_pop_ms": value(pop_95),
        "radio_ms": part("radio_ms"),
        "lasers_ms": part("lasers_ms"),
        "fibre_ms": part("fibre_ms"),
        "overhead_ms": res.latency.access_overhead_ms if pop_med is not None else np.nan,
        "median_rtt_gateway_ms": value(gw_med),
        "p95_rtt_gateway_ms": value(gw_95),
        "foreign_landing_share": foreign,
        "landing": ";".join(landing),
        "policy_block": ";".join(np.unique(blocks[blocks != ""])),
        "state": str(res.state[sel][0]) if res.state is not None else "",
    }
