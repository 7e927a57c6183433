"""The core run: constellation → orbits → links → routing, streamed over time steps.

:func:`build_network` turns a validated :class:`~leosim.scenario.Scenario` into a
:class:`Network` (satellites, stations, ISLs and link limits); :func:`iter_states` yields the
routing state of every time step while holding only one chunk of positions in memory;
:func:`run_pairs` collects, for station pairs, the path, hop count and RTT at every step,
optionally on several processes (``sgp4`` and the graph code hold the GIL, so threads would
not help).

>>> from leosim.scenario import parse_scenario
>>> from leosim.simulate import build_network, run_pairs
>>> sc = parse_scenario({
...     "constellation": {"preset": "starlink-550-hypatia"},
...     "ground_stations": {"builtin": "hypatia-top-100"},
...     "links": {"gsl_cone_radius_km": 940.7},
...     "routing": {"pairs": [["Paris", "Luanda"]]},
...     "time": {"times_s": [46.8]}})
>>> net = build_network(sc)
>>> table = run_pairs(net, sc.time.offsets_s(), net.pairs)
>>> round(float(table.columns["rtt_ms"][0]), 1)
117.3
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa

from ._workers import worker_pool
from .constants import ELLIPSOIDS, Ellipsoid
from .constellation import (
    Constellation,
    WalkerShell,
    from_tle,
    from_walker_shells,
    preset,
    preset_link_rules,
    preset_shells,
)
from .errors import InputError
from .ground import GroundStations, builtin_stations, read_stations_csv
from .links import cone_slant_range_m, constellation_isls, max_isl_length_m
from .orbits import Orbits, drop_unpropagatable, knot_spacing_s
from .routing import Router, RoutingState
from .scenario import Scenario, default_start
from .sssp import HAVE_NUMBA

if HAVE_NUMBA:
    from numba import njit

DEFAULT_MIN_ELEVATION_DEG = 25.0
"""Minimum elevation for user links when a scenario gives no rule (Starlink's FCC filings)."""


@dataclass
class Network:
    """Everything the routing needs, independent of time."""

    constellation: Constellation
    stations: GroundStations
    isl_pairs: np.ndarray
    gsl_max_range_m: np.ndarray
    gsl_min_elevation_deg: np.ndarray
    isl_max_length_m: np.ndarray
    mode: str = "isls"
    ellipsoid: Ellipsoid = ELLIPSOIDS["WGS72"]
    start: datetime | None = None
    pairs: np.ndarray = field(default_factory=lambda: np.empty((0, 2), dtype=np.int64))
    dut1_s: float = 0.0
    knot_s: float = 0.0
    """SGP4 knot spacing (seconds) for the positions between steps (0: SGP4 at every step;
    see :meth:`leosim.orbits.Orbits.ecef_m`)."""
    notes: list[str] = field(default_factory=list)
    source: str | None = None
    """The scenario file (for error messages)."""

    @property
    def num_sats(self) -> int:
        return self.constellation.num_sats

    @property
    def num_gs(self) -> int:
        return len(self.stations)


def _constellation_from_spec(sc: Scenario) -> Constellation:
    spec = sc.constellation
    epoch = spec.epoch
    if spec.preset is not None:
        if epoch is None:
            return preset(spec.preset)
        return from_walker_shells(preset_shells(spec.preset), name=spec.preset, epoch=epoch)
    if spec.shells is not None:
        shells = []
        for i, s in enumerate(spec.shells):
            try:
                shells.append(WalkerShell(**s.model_dump()))
            except InputError as exc:
                raise InputError(
                    exc.message, source=sc.source, key=f"constellation.shells[{i}]"
                ) from None
        kwargs = {"epoch": epoch} if epoch is not None else {}
        return from_walker_shells(shells, name=spec.name or sc.name, gravity=spec.gravity, **kwargs)
    path = sc.resolve_path(spec.tle)
    return from_tle(path, name=spec.name, gravity=spec.gravity, epoch=epoch)


def _stations_from_spec(sc: Scenario) -> GroundStations:
    g = sc.ground_stations
    if g.builtin is not None:
        try:
            return builtin_stations(g.builtin)
        except InputError as exc:
            raise InputError(exc.message, source=sc.source, key="ground_stations.builtin") from None
    return read_stations_csv(sc.resolve_path(g.file))


def _per_sat_altitude_km(c: Constellation) -> np.ndarray:
    alt = c.altitude_km_per_sat()
    missing = ~np.isfinite(alt)
    if missing.any():
        # Mean altitude from the element set's semi-major axis (Earth radii in sgp4).
        a = np.array([c.satrecs[i].a for i in np.flatnonzero(missing)])
        alt[missing] = (a - 1.0) * 6378.135
    return alt


def build_network(sc: Scenario) -> Network:
    """Build the time-independent network of a scenario; bad references raise InputError."""
    try:
        return _build_network(sc)
    except InputError as exc:
        if exc.source is not None:
            raise
        # Errors from deeper down know the key but not the file: name the scenario file.
        raise InputError(exc.message, source=sc.source, line=exc.line, key=exc.key) from None


def _build_network(sc: Scenario) -> Network:
    c = _constellation_from_spec(sc)
    start = default_start(sc.time, c.epoch)
    t_s = sc.time.offsets_s()
    if len(t_s) == 0:
        raise InputError("the time window has no time step", source=sc.source, key="time")
    notes: list[str] = []
    c, _ = drop_unpropagatable(c, start, [float(t_s[0]), float(t_s[-1])])
    if c.set_aside:
        notes.append(f"{len(c.set_aside)} satellites set aside (SGP4 cannot propagate them)")
    stations = _stations_from_spec(sc)
    links = _links_with_preset_rules(sc)
    grid_note = _header_grid_note(c, sc) if links.isl == "plus-grid" else None
    if grid_note is not None:
        notes.append(grid_note)
    if links.isl == "plus-grid" and not c.walker_shells and grid_note is None:
        c, isl_pairs, note = _infer_catalogue_isls(c, start, sc)
        notes.append(note)
    else:
        try:
            isl_pairs = constellation_isls(c, mode=links.isl, isl_shift=links.isl_shift)
        except InputError as exc:
            raise InputError(exc.message, source=sc.source, key="links.isl") from None
    alt_km = _per_sat_altitude_km(c)
    n = c.num_sats
    if links.gsl_max_range_km is not None:
        max_range = np.full(n, links.gsl_max_range_km * 1e3)
    elif links.gsl_cone_radius_km is not None:
        max_range = cone_slant_range_m(alt_km * 1e3, links.gsl_cone_radius_km * 1e3)
    else:
        max_range = np.full(n, np.inf)
    shell_min_el = np.array(
        [s.min_elevation_deg if s.min_elevation_deg is not None else np.nan for s in c.shells]
        + [np.nan]
    )
    per_sat_el = shell_min_el[np.where(c.shell >= 0, c.shell, len(c.shells))]
    if links.gsl_min_elevation_deg is not None:
        default_el = links.gsl_min_elevation_deg
    elif links.gsl_max_range_km is None and links.gsl_cone_radius_km is None:
        default_el = DEFAULT_MIN_ELEVATION_DEG
    else:
        default_el = 0.0
    min_el = np.where(np.isnan(per_sat_el), default_el, per_sat_el)
    if links.max_isl_length_km is not None:
        isl_max = np.full(len(isl_pairs), links.max_isl_length_km * 1e3)
    else:
        # Each laser's limit from the altitudes of its two ends (shells may differ).
        h = np.maximum(alt_km, 100.0) * 1e3
        isl_max = (
            max_isl_length_m(h[isl_pairs[:, 0]], h[isl_pairs[:, 1]])
            if len(isl_pairs)
            else np.empty(0)
        )
    pairs = _resolve_pairs(sc, stations)
    return Network(
        constellation=c,
        stations=stations,
        isl_pairs=np.asarray(isl_pairs, dtype=np.int64),
        gsl_max_range_m=max_range,
        gsl_min_elevation_deg=min_el,
        isl_max_length_m=isl_max,
        mode=sc.routing.mode,
        ellipsoid=ELLIPSOIDS[c.gravity],
        start=start,
        pairs=pairs,
        dut1_s=sc.time.dut1_s,
        knot_s=_knot_s(c, sc.time),
        notes=notes,
        source=sc.source,
    )


def _knot_s(c: Constellation, time) -> float:
    """SGP4 every ``m`` steps (``m >= 2`` steps within :func:`leosim.orbits.knot_spacing_s`),
    the positions between interpolated; 0 (every step) for explicit times, when asked, or
    when the steps are too long to gain."""
    if time.step_s is None or time.sgp4_every_step:
        return 0.0
    m = math.floor(knot_spacing_s(c.satrecs) / time.step_s)
    return m * time.step_s if m >= 2 else 0.0


def _links_with_preset_rules(sc: Scenario):
    """``[links]`` with the preset's own ground-link rule when the scenario gives none
    (:func:`leosim.constellation.preset_link_rules`: Hypatia's 940.7 km cone for its preset)."""
    links, name = sc.links, sc.constellation.preset
    rules = ("gsl_min_elevation_deg", "gsl_max_range_km", "gsl_cone_radius_km")
    if name is None or any(getattr(links, k) is not None for k in rules):
        return links
    return links.model_copy(update=preset_link_rules(name))


def _header_grid_note(c: Constellation, sc: Scenario) -> str | None:
    """A note when a TLE file's Hypatia header gives the +Grid (``sid = plane * sats + slot``);
    None when there is none or the scenario asks for inference (infer_structure = true)."""
    spec = sc.constellation
    asked = "infer_structure" in spec.model_fields_set and spec.infer_structure
    if c.index_grid is None or c.walker_shells or asked:
        return None
    p, s = c.index_grid
    return f"Hypatia's TLE header '{p} {s}': index-based +Grid (sid = plane x {s} + slot)"


def _infer_catalogue_isls(c: Constellation, start: datetime, sc: Scenario):
    if not sc.constellation.infer_structure:
        raise InputError(
            "+Grid ISLs on a TLE catalogue need its structure: set infer_structure = true "
            'or links.isl = "none"',
            source=sc.source,
            key="constellation.infer_structure",
        )
    return attach_structure(c, start)


def attach_structure(c: Constellation, start: datetime) -> tuple[Constellation, np.ndarray, str]:
    """Infer shells/planes/slots of a TLE catalogue (see :mod:`leosim.catalogue`).

    Satellites set aside (orbit raising or lowering, between planes, no shell) are removed:
    they carry no ISLs and serve no users.  Returns the structured constellation (satellites
    renumbered 0..N-1 in their original order), its +Grid ISL pairs and a one-line note.
    """
    from dataclasses import replace

    from .catalogue import infer_structure
    from .constellation import ShellInfo
    from .orbits import datetime_to_jd

    jd, fr = datetime_to_jd(start)
    st = infer_structure(c.satrecs, c.names, jd=jd, fr=fr)
    keep = np.flatnonzero(st.shell_id >= 0)
    remap = np.full(len(c), -1)
    remap[keep] = np.arange(len(keep))
    isl = remap[st.isl_pairs] if len(st.isl_pairs) else np.empty((0, 2), dtype=np.int64)
    shells = [
        ShellInfo(
            f"{sh.inclination_deg:.1f}deg-{sh.altitude_km:.0f}km",
            float(sh.altitude_km),
            float(sh.inclination_deg),
            int(sh.n_planes),
            None,
        )
        for sh in st.shells
    ]
    counts = st.set_aside_counts()
    new = replace(
        c,
        names=[c.names[i] for i in keep],
        satrecs=[c.satrecs[i] for i in keep],
        shell=st.shell_id[keep].copy(),
        plane=st.plane_id[keep].copy(),
        slot=st.slot[keep].copy(),
        shells=shells,
        set_aside=list(c.set_aside) + [(int(a.index), a.name, a.reason) for a in st.set_aside],
    )
    why = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
    note = (
        f"catalogue structure: {len(shells)} shells, {len(keep)} satellites in shells, "
        f"{len(c) - len(keep)} set aside ({why}), {len(isl)} +Grid ISLs"
    )
    return new, np.asarray(isl, dtype=np.int64), note


def _resolve_pairs(sc: Scenario, stations: GroundStations) -> np.ndarray:
    r = sc.routing
    if r.all_pairs:
        g = np.arange(len(stations))
        a, b = np.meshgrid(g, g, indexing="ij")
        sel = a != b
        return np.stack([a[sel], b[sel]], axis=1)
    out = []
    for i, (s, d) in enumerate(r.pairs):
        key = f"routing.pairs[{i}]"
        try:
            gs, gd = stations.resolve(s, key=key), stations.resolve(d, key=key)
        except InputError as exc:
            raise InputError(exc.message, source=sc.source, key=key) from None
        if gs == gd:
            raise InputError(
                f"source and destination are the same station ({s!r})", source=sc.source, key=key
            )
        out.append((gs, gd))
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def iter_states(
    net: Network,
    t_s: Sequence[float] | np.ndarray,
    *,
    max_chunk_bytes: int = 64 * 2**20,
    destinations: np.ndarray | None = None,
) -> Iterator[tuple[float, RoutingState]]:
    """Yield ``(t_s, RoutingState)`` for every time step, streaming positions in chunks.

    ``destinations``: station gids that need routing state (default: all stations).
    """
    orbits = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s)
    gs_pos = net.stations.ecef_m(net.ellipsoid)
    up = net.stations.up()
    router = Router(
        gs_pos,
        up,
        net.isl_pairs,
        max_range_m=net.gsl_max_range_m,
        min_elevation_deg=net.gsl_min_elevation_deg,
        max_isl_length_m=net.isl_max_length_m,
        mode=net.mode,
        destinations=destinations,
    )
    chunks = orbits.iter_ecef_m(net.start, t_s, max_chunk_bytes=max_chunk_bytes, knot_s=net.knot_s)
    for ts, pos in chunks:
        for k in range(len(ts)):
            yield float(ts[k]), router.step(pos[k], t_s=float(ts[k]))


ROUTE_COLUMNS = (
    "time_s",
    "src",
    "dst",
    "rtt_ms",
    "num_isl_hops",
    "path_fwd",
    "path_rev",
    "length_fwd_m",
    "length_rev_m",
    "one_way_delay_ms",
    "uplink_sat",
    "downlink_sat",
    "uplink_gsl_m",
    "downlink_gsl_m",
    "dropped_isls",
)


@dataclass
class RouteTable:
    """Per pair and time step results as columns (see :data:`ROUTE_COLUMNS`)."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["time_s"])

    @staticmethod
    def concat(tables: Sequence[RouteTable]) -> RouteTable:
        if not tables:
            return RouteTable({k: np.empty(0) for k in ROUTE_COLUMNS})
        return RouteTable(
            {k: np.concatenate([t.columns[k] for t in tables]) for k in ROUTE_COLUMNS}
        )


def _gsl_range(state: RoutingState, gid: np.ndarray, sat: np.ndarray) -> np.ndarray:
    """Range of link (station gid, satellite sat) from the sorted GSL table (NaN: no link)."""
    g = state.gsl
    key = g.gs.astype(np.int64) * (state.num_sats + 1) + g.sat
    q = gid.astype(np.int64) * (state.num_sats + 1) + sat
    pos = np.searchsorted(key, q)
    pos = np.minimum(pos, max(len(key) - 1, 0))
    ok = (len(key) > 0) & (sat >= 0)
    hit = ok & (key[pos] == q) if len(key) else np.zeros(len(q), bool)
    return np.where(hit, g.range_m[pos] if len(key) else np.nan, np.nan)


def _path_strings(h: np.ndarray) -> np.ndarray:
    """Hypatia's path notation for every row of a -1 padded path matrix (object array of
    str; ``""`` for a row without nodes).

    The text is written by a numba kernel into one byte buffer with offsets, which become an
    Arrow string array (no Python object per node), then Python strings."""
    h = np.ascontiguousarray(h, dtype=np.int64)
    if not HAVE_NUMBA or h.ndim != 2:  # pragma: no cover - numba is a dependency
        out = np.empty(len(h), dtype=object)
        out[:] = ["-".join([str(x) for x in row if x >= 0]) for row in h.tolist()]
        return out
    offsets, data = _format_paths(h)
    arr = pa.LargeStringArray.from_buffers(len(h), pa.py_buffer(offsets), pa.py_buffer(data))
    return arr.to_numpy(zero_copy_only=False)


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _format_paths(h):  # pragma: no cover - compiled
        """UTF-8 text of each row's non-negative ids joined by ``-``: ``(offsets, bytes)``."""
        k, w = h.shape
        offsets = np.zeros(k + 1, dtype=np.int64)
        for i in range(k):
            n = 0
            first = True
            for j in range(w):
                x = h[i, j]
                if x < 0:
                    continue
                if not first:
                    n += 1
                first = False
                d = 1
                while x >= 10:
                    x //= 10
                    d += 1
                n += d
            offsets[i + 1] = offsets[i] + n
        data = np.empty(offsets[k], dtype=np.uint8)
        for i in range(k):
            p = offsets[i]
            first = True
            for j in range(w):
                x = h[i, j]
                if x < 0:
                    continue
                if not first:
                    data[p] = 45  # '-'
                    p += 1
                first = False
                d = 1
                y = x
                while y >= 10:
                    y //= 10
                    d += 1
                for q in range(d - 1, -1, -1):
                    data[p + q] = 48 + x % 10
                    x //= 10
                p += d
        return offsets, data


def pair_table(t: float, state: RoutingState, pairs: np.ndarray) -> RouteTable:
    """Routes of ``pairs`` (gid array of shape (k, 2)) in one routing state."""
    src, dst = pairs[:, 0], pairs[:, 1]
    hf = state.path_matrix(src, dst)  # (k, max nodes), -1 padded
    hr = state.path_matrix(dst, src)
    n = state.num_sats
    len_f = state.length_m(src, dst)
    len_r = state.length_m(dst, src)
    nodes = (hf >= 0).sum(axis=1)
    rows = np.arange(len(pairs))
    has_sat = nodes > 2
    up = np.where(has_sat, hf[:, min(1, hf.shape[1] - 1)], -1)
    down = np.where(has_sat, hf[rows, np.maximum(nodes - 2, 0)], -1)
    both_sats = (hf[:, :-1] >= 0) & (hf[:, :-1] < n) & (hf[:, 1:] >= 0) & (hf[:, 1:] < n)
    hops = np.where(nodes > 0, both_sats.sum(axis=1), -1)
    c = 299_792_458.0
    k = len(pairs)
    return RouteTable(
        {
            "time_s": np.full(k, t),
            "src": src.copy(),
            "dst": dst.copy(),
            "rtt_ms": (len_f + len_r) / c * 1e3,
            "num_isl_hops": hops.astype(np.int64),
            "path_fwd": _path_strings(hf),
            "path_rev": _path_strings(hr),
            "length_fwd_m": len_f,
            "length_rev_m": len_r,
            "one_way_delay_ms": len_f / c * 1e3,
            "uplink_sat": up,
            "downlink_sat": down,
            "uplink_gsl_m": _gsl_range(state, src, up),
            "downlink_gsl_m": _gsl_range(state, dst, down),
            "dropped_isls": np.full(k, state.dropped_isls, dtype=np.int64),
        }
    )


@dataclass
class ChunkResult:
    """What one worker returns for a contiguous run of time steps."""

    table: RouteTable
    forwarding: dict[str, np.ndarray] | None
    last_next_hop: np.ndarray | None
    num_steps: int


def _forwarding_diff(t: float, prev: np.ndarray | None, nh: np.ndarray) -> dict[str, np.ndarray]:
    changed = np.ones(nh.shape, bool) if prev is None else prev != nh
    d, node = np.nonzero(changed)
    return {
        "time_s": np.full(len(d), t),
        "node": node.astype(np.int32),
        "dst_gid": d.astype(np.int32),
        "next_hop": nh[d, node].astype(np.int32, copy=False),
    }


def _run_chunk(
    net: Network, t_s: np.ndarray, forwarding: bool, prev: np.ndarray | None
) -> ChunkResult:
    tables = []
    fw_parts = []
    last = prev
    # Without forwarding state only the pairs' endpoints need a shortest-path tree.
    dst = None if forwarding else np.unique(net.pairs)
    for t, state in iter_states(net, t_s, destinations=dst):
        if len(net.pairs):
            tables.append(pair_table(t, state, net.pairs))
        if forwarding:
            nh = state.next_hop  # int32, a new array every step
            fw_parts.append(_forwarding_diff(t, last, nh))
            last = nh
    fw = None
    if forwarding:
        fw = (
            {k: np.concatenate([p[k] for p in fw_parts]) for k in fw_parts[0]} if fw_parts else None
        )
    return ChunkResult(RouteTable.concat(tables), fw, last, len(t_s))


def _worker(args):
    net, t_s, forwarding = args
    return _run_chunk(net, t_s, forwarding, None)


def chunk_task(shared: tuple[Network, bool], t_s: np.ndarray) -> ChunkResult:
    """One chunk of a run (times ``t_s``, seconds) from a cold start, on any executor
    (:mod:`leosim.execution`): routes of the pairs and, if ``shared[1]``, forwarding state
    with the chunk's first step in full.  ``last_next_hop`` is not sent back."""
    net, forwarding = shared
    res = _run_chunk(net, np.asarray(t_s, dtype=np.float64), forwarding, None)
    res.last_next_hop = None
    return res


def iter_chunks(
    net: Network,
    t_s: Sequence[float] | np.ndarray,
    *,
    forwarding: bool = False,
    workers: int = 1,
    chunk_steps: int | None = None,
) -> Iterator[ChunkResult]:
    """Run all time steps, yielding results chunk by chunk in time order.

    With ``workers > 1`` contiguous chunks go to separate processes.  Forwarding state is
    returned as changes only (the first step in full), like Hypatia's ``fstate`` files.
    """
    t_s = np.asarray(t_s, dtype=np.float64)
    check_run_size(net, len(t_s), workers=workers, forwarding=forwarding)
    if chunk_steps is None:
        chunk_steps = max(1, min(200, math.ceil(len(t_s) / max(1, 4 * workers))))
    chunks = [t_s[i : i + chunk_steps] for i in range(0, len(t_s), chunk_steps)]
    if workers <= 1 or len(chunks) <= 1:
        prev = None
        for ch in chunks:
            res = _run_chunk(net, ch, forwarding, prev)
            prev = res.last_next_hop
            yield res
        return
    prev = None
    # Workers die with this process and are stopped, not awaited, on Ctrl-C or an error.
    with worker_pool(min(workers, len(chunks))) as pool:
        for ch_res, ch in zip(
            pool.map(_worker, [(net, ch, forwarding) for ch in chunks]), chunks, strict=True
        ):
            if forwarding and ch_res.forwarding is not None and prev is not None:
                # The worker diffed its first step against nothing; diff it against the last
                # step of the previous chunk so the output holds changes only.
                fw = ch_res.forwarding
                t0 = ch[0]
                first = fw["time_s"] == t0
                keep = ~first | (prev[fw["dst_gid"], fw["node"]] != fw["next_hop"])
                ch_res.forwarding = {k: v[keep] for k, v in fw.items()}
            prev = ch_res.last_next_hop
            yield ch_res


def check_run_size(
    net: Network, n_steps: int, *, workers: int = 1, forwarding: bool = False
) -> None:
    """Refuse (InputError) a routing run whose memory or time is beyond the limits of
    :mod:`leosim._limits`, before any step is computed.

    Memory per worker: a routing state holds distance and next-hop matrices of 8 bytes each
    for every station × node (:func:`leosim.routing.route_step`), the warm start 24 more (two
    int32 predecessor tables and four int32 tree-position arrays), plus Dijkstra's output for
    the destinations and one 64 MiB chunk of positions; the run keeps
    :data:`~leosim._limits.ROUTE_ROW_BYTES` per pair and step.  Time: a lower bound per
    satellite-step and per tree node.
    """
    from ._limits import ROUTE_ROW_BYTES, check_memory, check_time, routing_time_s

    g, n = net.num_gs, net.num_sats
    nodes = n + g
    dst = g if forwarding else len(np.unique(net.pairs))
    per_worker = (16.0 + 24.0) * g * nodes + 16.0 * dst * nodes + 64 * 2**20
    w = max(1, min(int(workers), n_steps))
    need = w * per_worker + ROUTE_ROW_BYTES * float(len(net.pairs)) * n_steps
    what = (
        f"routing {n:,} satellites and {g:,} stations ({len(net.pairs):,} pairs) over "
        f"{n_steps:,} steps on {w} worker{'s' if w > 1 else ''}"
    )
    key = "ground_stations" if 40.0 * g * nodes > need / 2 else "time"
    check_memory(need, what, source=net.source, key=key)
    check_time(routing_time_s(n, nodes, dst, n_steps, w), what, source=net.source, key="time")


def run_pairs(
    net: Network,
    t_s: Sequence[float] | np.ndarray,
    pairs: np.ndarray | None = None,
    *,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RouteTable:
    """Routes of station pairs at every time step, as one table (in memory)."""
    if pairs is not None:
        net = Network(**{**net.__dict__, "pairs": np.asarray(pairs, dtype=np.int64).reshape(-1, 2)})
    tables = []
    for res in iter_chunks(net, t_s, workers=workers):
        tables.append(res.table)
        if progress is not None:
            progress(res.num_steps)
    return RouteTable.concat(tables)


def default_workers() -> int:
    """Worker processes to use by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
