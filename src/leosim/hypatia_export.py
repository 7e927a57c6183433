"""Hypatia export: leosim's network state as Hypatia's ``satellite_networks_state`` folder.

Hypatia (github.com/snkas/hypatia, IMC 2020) splits a run in two: ``satgenpy`` computes the
forwarding state of every time step (about 11 s per 100 ms step on Starlink 550 + 100 cities,
and ~48 h for 200 s in its issue 20), and its ns-3 simulator then replays it packet by packet.
:func:`export_hypatia` writes the same folder from leosim's routing (:class:`leosim.routing.
Router`, the numba kernels of :mod:`leosim.sssp`), so ns-3 runs on leosim's state:

``tles.txt``
    first line ``"<planes> <sats per plane>"`` (``"1 <N>"`` without a single grid), then per
    satellite ``"<name> <sid>"`` and its two TLE lines (satgenpy's ``read_tles`` wants the
    satellite id as the name's second word).
``isls.txt``
    ``"a b"`` (a < b) per laser, in the order that numbers each satellite's laser interfaces
    (``satgen/isls``).
``ground_stations.txt``
    ``gid,name,lat,lon,elevation_m,x,y,z`` (``%f``; Earth-fixed metres on the scenario's
    ellipsoid, ``satgen/ground_stations``).
``description.txt``
    ``max_gsl_length_m`` and ``max_isl_length_m`` (``%.10f``; the longest any link may be).
``gsl_interfaces_info.txt``
    ``node,1,1.000000``: one ground-link interface per node (``satgen/interfaces``).
``dynamic_state_<step>ms_<t0>_to_<t1>ms/``
    ``fstate_<t_ns>.txt``: ``node,dst_node,next_hop,my_if,next_if`` for every satellite and
    destination station, then every ordered pair of distinct stations, the first step in full
    and then only the entries that changed; ``-1,-1,-1`` where the destination cannot be
    reached.  ``gsl_if_bandwidth_<t_ns>.txt``: ``node,if,1.000000`` at t = 0, empty later.
    Both as satgenpy's ``algorithm_free_one_only_over_isls`` (``satgen/dynamic_state``).

Interfaces are numbered as satgenpy numbers them: a satellite's lasers ``0..k-1`` in
``isls.txt`` order, its ground link ``k``; a station's ground link ``0``.  A laser longer than
its limit stays in ``isls.txt`` (satgenpy would stop) but carries no route while it is too long.

Hypatia's ns-3 places every satellite at its TLE epoch plus the simulation time, so the
satellites must share one epoch equal to the scenario's start (within 1 ms: the TLE epoch has
8 decimals of a day), and the time window must be ``duration_s``/``step_s`` in whole
milliseconds.  Next hops differ from satgenpy's only where two paths are within about the
26 m by which leosim's SGP4 positions and satgenpy's pyephem positions differ (and, like
satgenpy's, between exactly equal lengths).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from .errors import InputError
from .orbits import datetime_to_jd
from .outputs import MANIFEST, OutputDir, sha256_file
from .scenario import Scenario
from .simulate import Network, _per_sat_altitude_km, build_network, check_run_size, iter_states

HYPATIA_ALGORITHM = "algorithm_free_one_only_over_isls"
"""The satgenpy dynamic-state algorithm whose files the export writes."""
EPOCH_TOLERANCE_S = 1e-3
"""How far a TLE epoch may be from the start (the TLE epoch field has 1e-8 day = 0.86 ms)."""
_GSL_BANDWIDTH = "1.000000"  # satgenpy's main_helper: aggregate bandwidth 1 (unit unspecified)
_FSTATE_NAMES = ("node", "dst", "next_hop", "my_if", "next_if")
_SMALL_FSTATE_LINES = 2000


@dataclass
class ExportResult:
    """What :func:`export_hypatia` wrote."""

    folder: Path
    dynamic_state_dir: str
    num_steps: int
    fstate_lines: int
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def export_hypatia(
    sc: Scenario,
    out_dir: str | Path,
    *,
    on_start: Callable[[Network, int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write Hypatia's ``satellite_networks_state`` folder for scenario ``sc`` into ``out_dir``.

    The folder is checked first (as for ``leosim run``: new, empty or an earlier leosim
    output) and published with one rename at the end.  Bad input raises InputError.
    """
    with _TreeOutputDir(out_dir, command="export hypatia") as out:
        net = build_network(sc)
        step_ns, t_ns = _time_grid(sc)
        check_run_size(net, len(t_ns), forwarding=True)
        _check_hypatia_compatible(sc, net)
        if on_start is not None:
            on_start(net, len(t_ns))
        _write_static(out, net)
        sub = _dynamic_state_name(step_ns, t_ns)
        folder = out.staging / sub
        folder.mkdir()
        lines, dropped = _write_dynamic_state(folder, net, sc.time.offsets_s(), t_ns, on_step)
        notes = list(net.notes)
        if dropped:
            notes.append(
                f"{dropped:,} laser-steps longer than their limit carried no route "
                "(satgenpy would stop)"
            )
    return ExportResult(out.final, sub, len(t_ns), lines, out.files, notes)


class _TreeOutputDir(OutputDir):
    """An :class:`~leosim.outputs.OutputDir` whose manifest also lists files in sub-folders
    (``dir/name``), with each sub-folder itself listed so a later export may replace it."""

    def _write_manifest(self, names: list[str]) -> None:
        import datetime as dt
        import json

        from . import __version__

        files: dict[str, dict] = {}
        for n in names:
            p = self.staging / n
            if p.is_dir():
                inner = sorted(os.listdir(p))
                files[n] = {"folder": True, "files": len(inner)}
                for m in inner:
                    q = p / m
                    files[f"{n}/{m}"] = {"bytes": q.stat().st_size, "sha256": sha256_file(q)}
            else:
                files[n] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        manifest = {
            "leosim": __version__,
            "command": self.command,
            "written_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": files,
        }
        tmp = self.staging / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.staging / MANIFEST)


def _time_grid(sc: Scenario) -> tuple[int, np.ndarray]:
    """The step and the step times in whole nanoseconds (Hypatia's clock), from 0."""
    t = sc.time
    if t.times_s is not None:
        raise InputError(
            "Hypatia's ns-3 reads one state every dynamic_state_update_interval_ns from t = 0: "
            "give duration_s and step_s instead of times_s",
            source=sc.source,
            key="time.times_s",
        )
    step_ms = t.step_s * 1e3
    if abs(step_ms - round(step_ms)) > 1e-9 * max(1.0, step_ms) or round(step_ms) < 1:
        raise InputError(
            f"must be a whole number of milliseconds for Hypatia's dynamic_state folder, "
            f"got {t.step_s:g} s",
            source=sc.source,
            key="time.step_s",
        )
    step_ns = round(step_ms) * 1_000_000
    return step_ns, np.arange(t.num_steps, dtype=np.int64) * step_ns


def _dynamic_state_name(step_ns: int, t_ns: np.ndarray) -> str:
    """``dynamic_state_<step>ms_<first>_to_<last>ms`` (times of the first and last state)."""
    ms = 1_000_000
    return f"dynamic_state_{step_ns // ms}ms_{int(t_ns[0]) // ms}_to_{int(t_ns[-1]) // ms}ms"


def _check_hypatia_compatible(sc: Scenario, net: Network) -> None:
    """InputError unless Hypatia's ns-3 can replay this network (see the module docs)."""
    if net.mode != "isls":
        raise InputError(
            f"the Hypatia export writes {HYPATIA_ALGORITHM} (paths over lasers); "
            f'{net.mode!r} is not supported: use mode = "isls"',
            source=sc.source,
            key="routing.mode",
        )
    jd, fr = datetime_to_jd(net.start)
    ep = np.array([s.jdsatepoch for s in net.constellation.satrecs]) - jd
    ep += np.array([s.jdsatepochF for s in net.constellation.satrecs]) - fr
    off_s = np.abs(ep) * 86400.0
    if len(off_s) and off_s.max() > EPOCH_TOLERANCE_S:
        k = int(np.argmax(off_s))
        raise InputError(
            "Hypatia's ns-3 starts every satellite at its TLE epoch, so all epochs must equal "
            f"the start {net.start.isoformat()}; satellite {k} "
            f"({net.constellation.names[k]!r}) is {off_s[k]:.3g} s away (set "
            "constellation.epoch = the start for generated shells, or time.start = the "
            "epoch of a single-epoch file)",
            source=sc.source,
            key="time.start",
        )
    for gid, name in enumerate(net.stations.names):
        if "," in name or "\n" in name or "\r" in name:
            raise InputError(
                f"station {gid} name {name!r} holds a comma or line break, which Hypatia's "
                "ground_stations.txt cannot hold",
                source=net.stations.source,
            )


# ---------------------------------------------------------------------------------------------
# Static files


def _write_static(out: OutputDir, net: Network) -> None:
    n, g = net.num_sats, net.num_gs
    out.path("tles.txt").write_text(tles_text(net), encoding="utf-8")
    pairs = np.sort(net.isl_pairs, axis=1)
    out.path("isls.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs.tolist()), "utf-8")
    out.path("ground_stations.txt").write_text(ground_stations_text(net), encoding="utf-8")
    gsl_m, isl_m = max_link_lengths_m(net)
    out.path("description.txt").write_text(
        f"max_gsl_length_m={gsl_m:.10f}\nmax_isl_length_m={isl_m:.10f}\n", encoding="utf-8"
    )
    out.path("gsl_interfaces_info.txt").write_text(
        "".join(f"{v},1,{_GSL_BANDWIDTH}\n" for v in range(n + g)), encoding="utf-8"
    )


def tles_text(net: Network) -> str:
    """``tles.txt``: the grid header, then ``"<label> <sid>"`` and the TLE lines of each
    satellite (label: its Walker shell's name, else its own name without spaces, or the first
    word of a name that already ends in its sid)."""
    c = net.constellation
    grid = getattr(c, "index_grid", None)
    if grid is None and len(c.walker_shells) == 1:
        grid = (c.walker_shells[0].num_planes, c.walker_shells[0].sats_per_plane)
    if grid is None or grid[0] * grid[1] != c.num_sats:
        grid = (1, c.num_sats)
    shell_names = [s.name for s in c.walker_shells]
    out = [f"{grid[0]} {grid[1]}"]
    for sid, ((l1, l2), name, shell) in enumerate(
        zip(c.tle_lines(), c.names, c.shell.tolist(), strict=True)
    ):
        words = name.split()
        if 0 <= shell < len(shell_names):
            label = "_".join(shell_names[shell].split())
        elif len(words) == 2 and words[1] == str(sid):  # already "<label> <sid>" (Hypatia's)
            label = words[0]
        else:
            label = "_".join(words) or "sat"
        out.extend([f"{label} {sid}", l1, l2])
    return "\n".join(out) + "\n"


def ground_stations_text(net: Network) -> str:
    """``ground_stations.txt`` as satgenpy's ``extend_ground_stations`` writes it."""
    st = net.stations
    xyz = st.ecef_m(net.ellipsoid)
    lat, lon, ele = st.latitude_deg, st.longitude_deg, st.elevation_m
    return "".join(
        f"{gid},{st.names[gid]},{lat[gid]:f},{lon[gid]:f},{ele[gid]:f},"
        f"{xyz[gid, 0]:f},{xyz[gid, 1]:f},{xyz[gid, 2]:f}\n"
        for gid in range(len(st))
    )


def max_link_lengths_m(net: Network) -> tuple[float, float]:
    """Longest ground link and longest laser the network's rules allow, metres.

    A ground link is bounded by its slant-range rule and by its minimum elevation (slant
    range at that elevation, spherical Earth of radius ``a``); a laser by its length limit.
    """
    r = net.ellipsoid.a_m
    h = _per_sat_altitude_km(net.constellation) * 1e3
    eps = np.radians(net.gsl_min_elevation_deg)
    at_elevation = np.sqrt((r + h) ** 2 - (r * np.cos(eps)) ** 2) - r * np.sin(eps)
    gsl = np.minimum(net.gsl_max_range_m, at_elevation)
    isl = net.isl_max_length_m
    return (float(gsl.max()) if len(gsl) else 0.0, float(isl.max()) if len(isl) else 0.0)


# ---------------------------------------------------------------------------------------------
# Forwarding state


@dataclass
class Interfaces:
    """satgenpy's interface numbering of a set of lasers.

    ``num_isls[s]``: lasers of satellite ``s`` (its ground link is interface ``num_isls[s]``);
    ``neighbour[s, i]``: the satellite at the far end of interface ``i`` of ``s`` (-1 past
    ``num_isls[s]``); :meth:`index` inverts it.
    """

    num_sats: int
    num_isls: np.ndarray
    neighbour: np.ndarray

    @classmethod
    def of(cls, isl_pairs: np.ndarray, num_sats: int) -> Interfaces:
        """Number the lasers in list order, each end counting its own (``satgen``'s
        ``sat_neighbor_to_if``)."""
        p = np.asarray(isl_pairs, dtype=np.int64).reshape(-1, 2)
        node = p.ravel()  # a0, b0, a1, b1, ...: the order in which satgenpy counts
        other = p[:, ::-1].ravel()
        order = np.argsort(node, kind="stable")
        num_isls = np.bincount(node, minlength=num_sats)
        start = np.concatenate([[0], np.cumsum(num_isls)[:-1]])
        rank = np.empty(len(node), dtype=np.int64)
        rank[order] = np.arange(len(node)) - start[node[order]]
        neighbour = np.full((num_sats, max(int(num_isls.max(initial=0)), 1)), -1, np.int64)
        neighbour[node, rank] = other
        return cls(num_sats, num_isls, neighbour)

    def index(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Interface of satellite ``a`` on its laser to ``b`` (they must be linked)."""
        hit = self.neighbour[a] == np.asarray(b)[:, None]
        if not hit.any(axis=1).all():
            raise RuntimeError("a next hop is not a laser neighbour")  # a bug, not input
        return np.argmax(hit, axis=1)


def changed_entries(
    prev: np.ndarray, next_hop: np.ndarray, num_sats: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(node, dst_gid)`` of the entries whose next hop changed, in satgenpy's line order
    (next hops ``[dst_gid, node]``; a station's entry towards itself never changes)."""
    n, g = num_sats, next_hop.shape[0]
    d, v = np.nonzero(prev != next_hop)
    key = np.where(v < n, v * g + d, n * g + (v - n) * g + d)
    o = np.argsort(key)
    return v[o], d[o]


def fstate_order(num_sats: int, num_gs: int) -> tuple[np.ndarray, np.ndarray]:
    """``(node, dst_gid)`` of every fstate entry in satgenpy's line order: each satellite
    towards every station, then each station towards every other station."""
    n, g = num_sats, num_gs
    sat_node = np.repeat(np.arange(n), g)
    sat_dst = np.tile(np.arange(g), n)
    src, dst = np.divmod(np.arange(g * g), g)
    keep = src != dst
    node = np.concatenate([sat_node, n + src[keep]])
    return node, np.concatenate([sat_dst, dst[keep]])


def fstate_entries(
    next_hop: np.ndarray, node: np.ndarray, dst_gid: np.ndarray, ifs: Interfaces
) -> np.ndarray:
    """``(next_hop, my_if, next_if)`` per entry, shape ``(k, 3)`` int64, from leosim's next
    hops ``next_hop[dst_gid, node]`` (-1: unreachable); ``-1, -1, -1`` where unreachable."""
    n = ifs.num_sats
    nh = next_hop[dst_gid, node].astype(np.int64)
    out = np.full((len(nh), 3), -1, dtype=np.int64)
    out[:, 0] = np.where(nh >= 0, nh, -1)
    from_sat = node < n
    down = from_sat & (nh >= n)  # satellite -> its destination station
    if np.any(nh[down] != n + dst_gid[down]):
        raise RuntimeError("a satellite forwards to a station that is not the destination")
    out[down, 1] = ifs.num_isls[node[down]]
    out[down, 2] = 0
    laser = from_sat & (nh >= 0) & (nh < n)
    out[laser, 1] = ifs.index(node[laser], nh[laser])
    out[laser, 2] = ifs.index(nh[laser], node[laser])
    up = ~from_sat & (nh >= 0)  # station -> its first satellite
    out[up, 1] = 0
    out[up, 2] = ifs.num_isls[nh[up]]
    return out


def _write_fstate(path: Path, node_ids: np.ndarray, dst_nodes: np.ndarray, e: np.ndarray) -> None:
    """One ``fstate_<t>.txt`` (``%d,%d,%d,%d,%d`` lines), formatted in bulk by Arrow (a few
    changed lines directly: Arrow's fixed cost, ~1 ms a file, is most of a step's export)."""
    cols = [node_ids, dst_nodes, e[:, 0], e[:, 1], e[:, 2]]
    if len(node_ids) <= _SMALL_FSTATE_LINES:
        rows = np.stack(cols, axis=1).tolist()
        path.write_text("".join(",".join(map(str, r)) + "\n" for r in rows), encoding="utf-8")
        return
    table = pa.table({k: pa.array(v, pa.int64()) for k, v in zip(_FSTATE_NAMES, cols, strict=True)})
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(table, str(path), write_options=opts)


def _write_dynamic_state(
    folder: Path,
    net: Network,
    t_s: np.ndarray,
    t_ns: np.ndarray,
    on_step: Callable[[int], None] | None,
) -> tuple[int, int]:
    """All ``fstate_<t>`` and ``gsl_if_bandwidth_<t>`` files; returns (lines, dropped ISLs)."""
    n, g = net.num_sats, net.num_gs
    ifs = Interfaces.of(net.isl_pairs, n)
    node, dst_gid = fstate_order(n, g)
    bandwidth = "".join(
        f"{v},{int(ifs.num_isls[v]) if v < n else 0},{_GSL_BANDWIDTH}\n" for v in range(n + g)
    )
    prev = None
    lines = dropped = 0
    for k, (_, state) in enumerate(iter_states(net, t_s)):
        # An entry's interfaces follow from its next hop: only changed next hops are written.
        nh = np.array(state.next_hop, dtype=np.int32)
        v, d = (node, dst_gid) if prev is None else changed_entries(prev, nh, n)
        e = fstate_entries(nh, v, d, ifs)
        _write_fstate(folder / f"fstate_{int(t_ns[k])}.txt", v, n + d, e)
        lines += len(v)
        # satgenpy writes the interface bandwidths at t = 0 only (each node's single GSL
        # interface gets all of it); later files are empty.
        (folder / f"gsl_if_bandwidth_{int(t_ns[k])}.txt").write_text(
            bandwidth if t_ns[k] == 0 else "", encoding="utf-8"
        )
        dropped += state.dropped_isls
        prev = nh
        if on_step is not None:
            on_step(1)
    return lines, dropped
