"""Reports: per-pair summaries and plots of route tables.

>>> import numpy as np
>>> from leosim.reports import pair_summary
>>> cols = {"src": np.array([0, 0, 0]), "dst": np.array([1, 1, 1]),
...         "rtt_ms": np.array([10.0, 12.0, 11.0]),
...         "path_fwd": np.array(["2-0-3", "2-1-3", "2-1-3"], dtype=object)}
>>> s = pair_summary(cols)
>>> float(s["median_rtt_ms"][0]), int(s["path_changes"][0])
(11.0, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pair_summary(
    columns: dict[str, np.ndarray],
    names: list[str] | None = None,
    path_changes: dict[tuple[int, int], int] | None = None,
) -> dict[str, np.ndarray]:
    """Min/median/max RTT, path changes and unreachable steps per (src, dst) pair.

    Path changes are counted from ``columns["path_fwd"]`` (rows in time order), or taken
    from ``path_changes`` when the paths were not kept (streamed runs).
    """
    src = np.asarray(columns["src"])
    dst = np.asarray(columns["dst"])
    rtt = np.asarray(columns["rtt_ms"], dtype=float)
    path = np.asarray(columns["path_fwd"], dtype=object) if path_changes is None else None
    keys = src.astype(np.int64) * (1 << 32) + dst
    uniq, first = np.unique(keys, return_index=True)
    order = np.argsort(first)  # keep the scenario's pair order
    out: dict[str, list] = {
        k: []
        for k in (
            "src",
            "dst",
            "src_name",
            "dst_name",
            "steps",
            "unreachable_steps",
            "min_rtt_ms",
            "median_rtt_ms",
            "max_rtt_ms",
            "path_changes",
        )
    }
    for u in uniq[order]:
        sel = keys == u
        r = rtt[sel]
        ok = np.isfinite(r)
        s, d = int(src[sel][0]), int(dst[sel][0])
        out["src"].append(s)
        out["dst"].append(d)
        out["src_name"].append(names[s] if names else str(s))
        out["dst_name"].append(names[d] if names else str(d))
        out["steps"].append(int(sel.sum()))
        out["unreachable_steps"].append(int((~ok).sum()))
        out["min_rtt_ms"].append(float(r[ok].min()) if ok.any() else np.nan)
        out["median_rtt_ms"].append(float(np.median(r[ok])) if ok.any() else np.nan)
        out["max_rtt_ms"].append(float(r[ok].max()) if ok.any() else np.nan)
        if path_changes is None:
            p = path[sel]
            out["path_changes"].append(int(np.sum(p[1:] != p[:-1])))
        else:
            out["path_changes"].append(int(path_changes.get((s, d), 0)))
    return {k: np.asarray(v, dtype=object if k.endswith("name") else None) for k, v in out.items()}


def _pyplot():
    """matplotlib's pyplot on the Agg backend: files only, no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _literal(text: str) -> str:
    """``text`` as matplotlib must draw it: ``$`` escaped, so names are never parsed as math
    (an unbalanced ``$x^$`` in a scenario name would otherwise fail after the whole run)."""
    return str(text).replace("$", r"\$")


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, format="png")
    _pyplot().close(fig)


def _map_axes(ax, fig, mappable, value: str, bbox: tuple, title: str) -> None:
    """Colour bar, limits, degree labels and title shared by the maps."""
    fig.colorbar(mappable, ax=ax, shrink=0.8, label=value.replace("_", " "))
    ax.set_xlim(bbox[0], bbox[1])
    ax.set_ylim(bbox[2], bbox[3])
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    if title:
        ax.set_title(_literal(title), fontsize=10)


MAX_RTT_LINES = 12
"""Most pairs :func:`plot_rtt` draws one line each for; above, a summary over the pairs."""


def plot_rtt(
    columns: dict[str, np.ndarray], path: Path, names: list[str] | None = None, title: str = ""
) -> None:
    """PNG of RTT over time: one line per pair for up to :data:`MAX_RTT_LINES` pairs, else
    the median over the pairs at each time with their 25–75 % and 5–95 % bands (pairs
    without a path at that time left out; their share is given in the legend)."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    src = np.asarray(columns["src"])
    dst = np.asarray(columns["dst"])
    t = np.asarray(columns["time_s"], dtype=float)
    rtt = np.asarray(columns["rtt_ms"], dtype=float)
    keys = src.astype(np.int64) * (1 << 32) + dst
    uniq, first, pair = np.unique(keys, return_index=True, return_inverse=True)
    if len(uniq) > MAX_RTT_LINES:
        _plot_rtt_summary(ax, t, rtt, len(uniq))
    else:
        order = np.argsort(pair, kind="stable")
        cuts = np.flatnonzero(np.diff(pair[order])) + 1
        groups = dict(zip(pair[order][np.r_[0, cuts]].tolist(), np.split(order, cuts), strict=True))
        for u in np.argsort(first):
            sel = groups[int(u)]
            s, d = int(src[sel[0]]), int(dst[sel[0]])
            label = f"{names[s]} → {names[d]}" if names else f"{s} → {d}"
            ax.plot(t[sel], rtt[sel], lw=1.4, label=_literal(label), drawstyle="steps-post")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("round-trip time (ms)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(_literal(title))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)


def _plot_rtt_summary(ax, t: np.ndarray, rtt: np.ndarray, num_pairs: int) -> None:
    """Median and 5/25/75/95 % percentiles of the finite RTTs at each time."""
    order = np.argsort(t, kind="stable")
    ts, cuts = np.unique(t[order], return_index=True)
    q = np.full((len(ts), 5), np.nan)
    reachable = 0
    for i, group in enumerate(np.split(rtt[order], cuts[1:])):
        ok = group[np.isfinite(group)]
        reachable += len(ok)
        if len(ok):
            q[i] = np.percentile(ok, [5, 25, 50, 75, 95])
    kw = {"step": "post", "lw": 0}
    ax.fill_between(ts, q[:, 0], q[:, 4], color="C0", alpha=0.18, label="5–95 %", **kw)
    ax.fill_between(ts, q[:, 1], q[:, 3], color="C0", alpha=0.35, label="25–75 %", **kw)
    ax.plot(ts, q[:, 2], color="C0", lw=1.4, drawstyle="steps-post", label="median")
    share = reachable / max(len(rtt), 1)
    ax.plot([], [], " ", label=f"{num_pairs:,} pairs; {share:.1%} of pair-steps with a path")


def _draw_borders(ax, borders, bbox) -> None:
    """Country outlines inside ``bbox = (lon0, lon1, lat0, lat1)``."""
    import shapely

    box = shapely.box(bbox[0], bbox[2], bbox[1], bbox[3])
    for code in borders.codes:
        geom = borders.geometry(code)
        if not geom.intersects(box):
            continue
        polys = getattr(geom, "geoms", [geom])
        for poly in polys:
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                ax.plot(xy[:, 0], xy[:, 1], color="0.45", lw=0.5, zorder=1)


def _bbox(lat: np.ndarray, lon: np.ndarray, margin_deg: float = 3.0) -> tuple:
    if len(lat) == 0:
        return (-180.0, 180.0, -90.0, 90.0)
    lon0, lon1 = float(np.min(lon)) - margin_deg, float(np.max(lon)) + margin_deg
    lat0, lat1 = float(np.min(lat)) - margin_deg, float(np.max(lat)) + margin_deg
    return (max(lon0, -180.0), min(lon1, 180.0), max(lat0, -90.0), min(lat1, 90.0))


def _service_bbox(table: dict[str, np.ndarray], value: str, diverging: bool, gateways) -> tuple:
    """Extent of a service map: the terminals (of a difference map, those whose value changed,
    when any did) and the gateways their traffic lands at (columns ``gateway``, ``gateway_a``,
    ``gateway_b`` name them), so that no gateway carrying their traffic is cut off."""
    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    focus = np.ones(len(lat), dtype=bool)
    if diverging:
        v = np.asarray(table[value], dtype=float)
        changed = np.isfinite(v) & (v != 0)
        focus = changed if changed.any() else focus
    lat, lon = lat[focus], lon[focus]
    if gateways is not None and len(gateways):
        used = set()
        for col in ("gateway", "gateway_a", "gateway_b"):
            if col in table:
                used |= {str(g) for g in np.asarray(table[col], dtype=object)[focus] if g}
        sel = np.isin(np.asarray(gateways.name, dtype=object).astype(str), sorted(used))
        lat = np.concatenate([lat, np.asarray(gateways.latitude_deg, dtype=float)[sel]])
        lon = np.concatenate([lon, np.asarray(gateways.longitude_deg, dtype=float)[sel]])
    return _bbox(lat, lon)


def plot_service_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    borders=None,
    title: str = "",
    value: str = "served_fraction",
    diverging: bool = False,
    gateways=None,
) -> None:
    """PNG map of terminals coloured by ``value`` (served fraction, or a change in it)."""
    plt = _pyplot()

    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    v = np.asarray(table[value], dtype=float)
    bbox = _service_bbox(table, value, diverging, gateways)
    span = max(bbox[1] - bbox[0], 1.0), max(bbox[3] - bbox[2], 1.0)
    width = 10.0
    height = float(np.clip(width * span[1] / span[0], 3.5, 9.0))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    if borders is not None:
        _draw_borders(ax, borders, bbox)
    if diverging:
        sc = ax.scatter(
            lon,
            lat,
            c=v,
            cmap="RdBu",
            vmin=-1,
            vmax=1,
            s=10,
            zorder=2,
            edgecolors="0.5",
            linewidths=0.3,
        )
    else:
        sc = ax.scatter(
            lon,
            lat,
            c=v,
            cmap="viridis",
            vmin=0,
            vmax=1,
            s=10,
            zorder=2,
            edgecolors="0.5",
            linewidths=0.3,
        )
    if gateways is not None and len(gateways):
        glat, glon = np.asarray(gateways.latitude_deg), np.asarray(gateways.longitude_deg)
        inside = (glon >= bbox[0]) & (glon <= bbox[1]) & (glat >= bbox[2]) & (glat <= bbox[3])
        status = np.asarray(gateways.status, dtype=object).astype(str)
        for kind, label, style in (
            ("real", "gateway", {"c": "red"}),
            ("hypothetical", "hypothetical gateway", {"c": "orange", "edgecolors": "k"}),
            ("assumed", "assumed gateway (at a PoP)", {"c": "white", "edgecolors": "red"}),
        ):
            sel = inside & (
                ~np.isin(status, ["hypothetical", "assumed"]) if kind == "real" else status == kind
            )
            if sel.any():
                ax.scatter(glon[sel], glat[sel], marker="^", s=30, zorder=3, label=label, **style)
        if inside.any():
            ax.legend(loc="best", fontsize=8)  # not over a corner gateway
    _map_axes(ax, fig, sc, value, bbox, title)
    # Equal ground distances at the map's middle latitude.
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.clip((bbox[2] + bbox[3]) / 2, -80, 80))), 0.2))
    _save(fig, path)


def plot_coverage_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    borders=None,
    title: str = "",
    value: str = "mean_visible",
) -> None:
    """World map of a coverage grid: colour = ``value``; points fenced off by policy in grey."""
    plt = _pyplot()

    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    v = np.asarray(table[value], dtype=float)
    blocked = np.asarray(table.get("policy_block", np.full(len(lat), "")), dtype=object) != ""
    fig, ax = plt.subplots(figsize=(12, 6.2), dpi=100)
    size = max(0.5, min(12.0, 2.2e5 / max(len(lat), 1)))
    ok = ~blocked
    sc = ax.scatter(
        lon[ok], lat[ok], c=v[ok], s=size, marker="s", cmap="viridis", linewidths=0, zorder=1
    )
    if blocked.any():
        ax.scatter(
            lon[blocked],
            lat[blocked],
            c="0.8",
            s=size,
            marker="s",
            linewidths=0,
            zorder=1,
            label="no service (policy)",
        )
        ax.legend(loc="lower left", fontsize=8)
    if borders is not None:
        _draw_borders(ax, borders, (-180.0, 180.0, -90.0, 90.0))
    _map_axes(ax, fig, sc, value, (-180.0, 180.0, -90.0, 90.0), title)
    _save(fig, path)
