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
    """Colour bar (when ``mappable``), limits, degree labels and title shared by the maps."""
    if mappable is not None:
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
    columns: dict[str, np.ndarray] | None,
    path: Path,
    names: list[str] | None = None,
    title: str = "",
    *,
    summary: tuple | None = None,
) -> None:
    """PNG of RTT over time: one line per pair for up to :data:`MAX_RTT_LINES` pairs, else
    the median over the pairs at each time with their 25–75 % and 5–95 % bands (pairs
    without a path at that time left out; their share is given in the legend).

    ``summary`` ``(times, percentiles, reachable, rows, pairs)`` (of :func:`rtt_percentiles`,
    summed over the chunks of a long run) draws the bands without ``columns``."""
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(11, 5), dpi=110)
    if summary is not None:
        _draw_rtt_summary(ax, *summary)
    else:
        _draw_rtt_columns(ax, columns, names)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("round-trip time (ms)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(_literal(title))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path)


def _draw_rtt_columns(ax, columns: dict[str, np.ndarray], names: list[str] | None) -> None:
    """A line per pair of rows ``columns``, or above :data:`MAX_RTT_LINES` pairs the bands."""
    src = np.asarray(columns["src"])
    dst = np.asarray(columns["dst"])
    t = np.asarray(columns["time_s"], dtype=float)
    rtt = np.asarray(columns["rtt_ms"], dtype=float)
    keys = src.astype(np.int64) * (1 << 32) + dst
    uniq, first, pair = np.unique(keys, return_index=True, return_inverse=True)
    if len(uniq) > MAX_RTT_LINES:
        _draw_rtt_summary(ax, *rtt_percentiles(t, rtt), len(rtt), len(uniq))
    else:
        order = np.argsort(pair, kind="stable")
        cuts = np.flatnonzero(np.diff(pair[order])) + 1
        groups = dict(zip(pair[order][np.r_[0, cuts]].tolist(), np.split(order, cuts), strict=True))
        for u in np.argsort(first):
            sel = groups[int(u)]
            s, d = int(src[sel[0]]), int(dst[sel[0]])
            label = f"{names[s]} → {names[d]}" if names else f"{s} → {d}"
            ax.plot(t[sel], rtt[sel], lw=1.4, label=_literal(label), drawstyle="steps-post")


def rtt_percentiles(t: np.ndarray, rtt: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The times, the 5/25/50/75/95 % percentiles of the finite RTTs at each (``(times, 5)``,
    NaN where none) and the number of finite RTTs."""
    order = np.argsort(t, kind="stable")
    ts, cuts = np.unique(t[order], return_index=True)
    q = np.full((len(ts), 5), np.nan)
    reachable = 0
    for i, group in enumerate(np.split(rtt[order], cuts[1:])):
        ok = group[np.isfinite(group)]
        reachable += len(ok)
        if len(ok):
            q[i] = np.percentile(ok, [5, 25, 50, 75, 95])
    return ts, q, reachable


def _draw_rtt_summary(ax, ts, q, reachable: int, rows: int, num_pairs: int) -> None:
    """Median and 5/25/75/95 % percentiles ``q`` at times ``ts``; ``reachable`` of ``rows``
    pair-steps had a path."""
    kw = {"step": "post", "lw": 0}
    ax.fill_between(ts, q[:, 0], q[:, 4], color="C0", alpha=0.18, label="5–95 %", **kw)
    ax.fill_between(ts, q[:, 1], q[:, 3], color="C0", alpha=0.35, label="25–75 %", **kw)
    ax.plot(ts, q[:, 2], color="C0", lw=1.4, drawstyle="steps-post", label="median")
    share = reachable / max(rows, 1)
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


EARTH_MEAN_RADIUS_KM = 6371.0088
ZONE_FACE = (0.75, 0.27, 1.0, 0.35)
ZONE_EDGE = (0.45, 0.0, 0.65, 1.0)


def _circle(lat_deg: float, lon_deg: float, radius_km: float, n: int = 72):
    """A small circle on the sphere as a lon/lat polygon (destination-point formula, Williams'
    Aviation Formulary), degrees."""
    import shapely

    d = radius_km / EARTH_MEAN_RADIUS_KM
    b = np.linspace(0, 2 * np.pi, n, endpoint=False)
    p1, l1 = np.radians(lat_deg), np.radians(lon_deg)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    lon = (np.degrees(l2) + 180) % 360 - 180
    return shapely.Polygon(np.column_stack([lon, np.degrees(p2)]))


def zone_geometry(zone, borders) -> tuple:
    """An exclusion zone of a policy as a lon/lat shapely geometry and a description: a point
    zone as its circle, a region or polygon as itself, a border buffer as the band of its
    country within ``buffer_km`` of the border (drawn approximately: 111 km a degree)."""
    import shapely

    if zone.kind == "point":
        lat, lon = zone.centre_deg
        return _circle(
            lat, lon, zone.radius_km
        ), f"{zone.radius_km:g} km around {lat:.2f}, {lon:.2f}"
    if zone.kind in ("region", "polygon"):
        if zone.region is not None:
            return zone.region.geometry, zone.region.name
        return zone.geometry, "polygon"
    outline = borders.geometry(zone.country)
    inner = shapely.buffer(outline, -zone.buffer_km / 111.0)
    desc = f"{zone.buffer_km:g} km inside the border of {zone.country} (drawn approximately)"
    return shapely.difference(outline, inner), desc


def _draw_zones(ax, zones, borders) -> None:
    """Exclusion zones as translucent purple areas (holes kept), labelled once."""
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath

    label = "exclusion zone"
    for z in zones:
        geom, _ = zone_geometry(z, borders)
        for poly in getattr(geom, "geoms", [geom]):
            if poly.geom_type != "Polygon" or poly.is_empty:
                continue
            rings = [np.asarray(poly.exterior.coords)] + [
                np.asarray(r.coords) for r in poly.interiors
            ]
            codes = []
            for r in rings:
                codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(r) - 2) + [MplPath.CLOSEPOLY]
            path = MplPath(np.concatenate(rings), codes)
            ax.add_patch(
                PathPatch(
                    path, facecolor=ZONE_FACE, edgecolor=ZONE_EDGE, lw=1.0, zorder=1.5, label=label
                )
            )
            label = None


def _bbox(lat: np.ndarray, lon: np.ndarray, margin_deg: float = 3.0) -> tuple:
    if len(lat) == 0:
        return (-180.0, 180.0, -90.0, 90.0)
    lon0, lon1 = float(np.min(lon)) - margin_deg, float(np.max(lon)) + margin_deg
    lat0, lat1 = float(np.min(lat)) - margin_deg, float(np.max(lat)) + margin_deg
    return (max(lon0, -180.0), min(lon1, 180.0), max(lat0, -90.0), min(lat1, 90.0))


def _service_bbox(table: dict[str, np.ndarray], value: str, diverging: bool, gateways) -> tuple:
    """Extent of a service map: the terminals of interest (of a difference map those whose
    value changed, else those served at all; every terminal when there are none) and the
    gateways their traffic lands at (columns ``gateway``, ``gateway_a``, ``gateway_b`` name
    them), so that no gateway carrying their traffic is cut off and a large unserved country
    (Russia's far east beside Ukraine) does not stretch the map."""
    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    focus = _focus(table, value, diverging)
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


def _focus(table: dict[str, np.ndarray], value: str, diverging: bool) -> np.ndarray:
    """The terminals a service map is cropped to (see :func:`_service_bbox`)."""
    n = len(table["latitude_deg"])
    key = value if diverging else "served_fraction"
    if key not in table:
        return np.ones(n, dtype=bool)
    v = np.asarray(table[key], dtype=float)
    sel = np.isfinite(v) & (v != 0)
    return sel if sel.any() else np.ones(n, dtype=bool)


def _note_outside(ax, table, value: str, diverging: bool, bbox: tuple) -> None:
    """Say how many terminals lie outside the map (none is dropped silently)."""
    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    out = ~((lon >= bbox[0]) & (lon <= bbox[1]) & (lat >= bbox[2]) & (lat <= bbox[3]))
    if out.any():
        why = "no change" if diverging else "not served"
        ax.text(
            0.01,
            0.01,
            f"{int(out.sum()):,} terminals outside this map ({why})",
            transform=ax.transAxes,
            fontsize=8,
            color="0.3",
            zorder=4,
        )


def plot_service_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    borders=None,
    title: str = "",
    value: str = "served_fraction",
    diverging: bool = False,
    gateways=None,
    zones=(),
) -> None:
    """PNG map of terminals coloured by ``value`` (served fraction, or a change in it), with
    the gateways (hypothetical and assumed ones marked apart) and the policy's exclusion
    ``zones``, cropped to the terminals and the gateways their traffic lands at."""
    fig, _, _ = service_figure(
        table,
        borders=borders,
        title=title,
        value=value,
        diverging=diverging,
        gateways=gateways,
        zones=zones,
    )
    _save(fig, path)


def plot_policy_maps(
    table: dict[str, np.ndarray], paths: dict[str, Path], *, policy, borders, title: str = ""
) -> None:
    """The maps of one policy evaluation (a terminal table): ``paths["map"]`` served fraction,
    ``paths["map_rtt"]`` median RTT to the PoP, ``paths["map_landing"]`` where traffic lands;
    each with the policy's gateways and exclusion zones, cropped alike."""
    name = title or policy.name
    common = {"borders": borders, "gateways": policy.gateways, "zones": policy.zones}
    plot_service_map(table, paths["map"], title=f"{name}: served fraction", **common)
    plot_rtt_map(table, paths["map_rtt"], title=f"{name}: median RTT to the PoP (ms)", **common)
    plot_landing_map(table, paths["map_landing"], title=f"{name}: where traffic lands", **common)


def _service_axes(table, value, diverging, gateways, borders, zones):
    """Figure, axes and extent of a service map: borders and zones drawn."""
    plt = _pyplot()
    bbox = _service_bbox(table, value, diverging, gateways)
    if borders is not None and len(zones):  # the zones are part of the answer: keep them
        bounds = [zone_geometry(z, borders)[0].bounds for z in zones]
        lon0, lat0, lon1, lat1 = np.array(bounds).T
        bbox = _bbox(
            np.r_[bbox[2] + 3.0, bbox[3] - 3.0, lat0, lat1],
            np.r_[bbox[0] + 3.0, bbox[1] - 3.0, lon0, lon1],
        )
    span = max(bbox[1] - bbox[0], 1.0), max(bbox[3] - bbox[2], 1.0)
    width = 10.0
    height = float(np.clip(width * span[1] / span[0], 3.5, 9.0))
    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    if borders is not None:
        _draw_borders(ax, borders, bbox)
        if len(zones):
            _draw_zones(ax, zones, borders)
    _note_outside(ax, table, value, diverging, bbox)
    return fig, ax, bbox


def _finish_service_map(ax, fig, mappable, value, bbox, title, gateways) -> None:
    _draw_gateways(ax, gateways, bbox)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)  # not over a corner gateway
    _map_axes(ax, fig, mappable, value, bbox, title)
    # Equal ground distances at the map's middle latitude.
    ax.set_aspect(1.0 / max(np.cos(np.radians(np.clip((bbox[2] + bbox[3]) / 2, -80, 80))), 0.2))


def service_figure(
    table: dict[str, np.ndarray],
    *,
    borders=None,
    title: str = "",
    value: str = "served_fraction",
    diverging: bool = False,
    gateways=None,
    zones=(),
):
    """The figure of :func:`plot_service_map`: ``(fig, ax, bbox)`` (lon0, lon1, lat0, lat1)."""
    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    v = np.asarray(table[value], dtype=float)
    fig, ax, bbox = _service_axes(table, value, diverging, gateways, borders, zones)
    cmap, lo, hi = ("RdBu", -1, 1) if diverging else ("viridis", 0, 1)
    sc = ax.scatter(
        lon,
        lat,
        c=v,
        cmap=cmap,
        vmin=lo,
        vmax=hi,
        s=10,
        zorder=2,
        edgecolors="0.5",
        linewidths=0.3,
    )
    _finish_service_map(ax, fig, sc, value, bbox, title, gateways)
    return fig, ax, bbox


def plot_rtt_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    borders=None,
    title: str = "",
    value: str = "median_rtt_pop_ms",
    gateways=None,
    zones=(),
) -> None:
    """PNG map of terminals coloured by their median RTT (ms; to the PoP by default), the
    unserved ones as grey crosses; gateways and zones as in :func:`plot_service_map`."""
    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    v = np.asarray(table[value], dtype=float)
    fig, ax, bbox = _service_axes(table, "served_fraction", False, gateways, borders, zones)
    ok = np.isfinite(v)
    lo, hi = (float(np.percentile(v[ok], q)) for q in (2, 98)) if ok.any() else (0.0, 1.0)
    sc = ax.scatter(
        lon[ok],
        lat[ok],
        c=v[ok],
        cmap="plasma",
        vmin=lo,
        vmax=max(hi, lo + 1.0),
        s=10,
        zorder=2,
        edgecolors="0.5",
        linewidths=0.3,
    )
    if (~ok).any():
        ax.scatter(
            lon[~ok], lat[~ok], marker="x", c="0.55", s=10, lw=0.6, zorder=2, label="not served"
        )
    _finish_service_map(ax, fig, sc, value, bbox, title, gateways)
    _save(fig, path)


def plot_landing_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    gateways,
    borders=None,
    title: str = "",
    zones=(),
) -> None:
    """PNG map of where traffic lands: a line from every terminal to the gateway its traffic
    lands at most (column ``gateway``), coloured by the gateway's country; terminals without
    one as grey crosses."""
    import matplotlib.colors as mcolors

    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    gw_of = np.asarray(table["gateway"], dtype=object).astype(str)
    fig, ax, bbox = _service_axes(table, "served_fraction", False, gateways, borders, zones)
    names = np.asarray(gateways.name, dtype=object).astype(str)
    index = {n: i for i, n in enumerate(names)}
    g = np.array([index.get(x, -1) for x in gw_of], dtype=int)
    landed = g >= 0
    country = np.asarray(gateways.country, dtype=object).astype(str)
    glat = np.asarray(gateways.latitude_deg, dtype=float)
    glon = np.asarray(gateways.longitude_deg, dtype=float)
    colours = list(mcolors.TABLEAU_COLORS.values())
    used = sorted(set(country[g[landed]]), key=lambda c: -int(np.sum(country[g[landed]] == c)))
    for j, c in enumerate(used):
        sel = landed & (country[np.maximum(g, 0)] == c)
        col = colours[j % len(colours)]
        segs = np.stack(
            [np.column_stack([lon[sel], lat[sel]]), np.column_stack([glon[g[sel]], glat[g[sel]]])],
            axis=1,
        )
        from matplotlib.collections import LineCollection

        ax.add_collection(LineCollection(segs, colors=col, lw=0.6, alpha=0.6, zorder=2))
        share = sel.sum() / max(len(lat), 1)
        ax.scatter(lon[sel], lat[sel], c=col, s=8, zorder=2, label=f"lands in {c} ({share:.0%})")
    if (~landed).any():
        ax.scatter(
            lon[~landed],
            lat[~landed],
            marker="x",
            c="0.55",
            s=10,
            lw=0.6,
            zorder=2,
            label="no landing",
        )
    _finish_service_map(ax, fig, None, "", bbox, title, gateways)
    _save(fig, path)


def _draw_gateways(ax, gateways, bbox) -> None:
    """Gateways inside ``bbox``: real ones red, hypothetical orange with a black edge,
    assumed ones (at a PoP) white with a red edge."""
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


def plot_coverage_map(
    table: dict[str, np.ndarray],
    path: Path,
    *,
    borders=None,
    title: str = "",
    value: str = "mean_visible",
) -> None:
    """World map of a coverage grid: colour = ``value``; points fenced off by policy in grey.

    An equal-area grid (:func:`leosim.coverage.equal_area_grid`) is drawn cell by cell as an
    image (every cell its full extent: no gaps or overlaps between markers, no moiré at 1°);
    other points as small squares."""
    fig, _ax, _ = coverage_figure(table, borders=borders, title=title, value=value)
    _save(fig, path)


def coverage_figure(
    table: dict[str, np.ndarray], *, borders=None, title: str = "", value: str = "mean_visible"
):
    """The figure of :func:`plot_coverage_map`: ``(fig, ax, raster or None)``."""
    plt = _pyplot()

    lat = np.asarray(table["latitude_deg"], dtype=float)
    lon = np.asarray(table["longitude_deg"], dtype=float)
    v = np.asarray(table[value], dtype=float)
    blocked = np.asarray(table.get("policy_block", np.full(len(lat), "")), dtype=object) != ""
    fig, ax = plt.subplots(figsize=(12, 6.2), dpi=100)
    cells = grid_raster(lat, lon)
    if cells is not None:
        sc = ax.imshow(
            np.ma.masked_array(v[cells], blocked[cells]),
            origin="lower",
            cmap="viridis",
            extent=(-180, 180, -90, 90),
            interpolation="nearest",
            aspect="auto",
            zorder=1,
        )
        if blocked.any():
            grey = np.ma.masked_array(np.ones(cells.shape), ~blocked[cells])
            ax.imshow(
                grey,
                origin="lower",
                cmap="gray",
                vmin=0,
                vmax=1.25,
                extent=(-180, 180, -90, 90),
                interpolation="nearest",
                aspect="auto",
                zorder=1,
            )
            ax.scatter([], [], c="0.8", marker="s", label="no service (policy)")
            ax.legend(loc="lower left", fontsize=8)
        if borders is not None:
            _draw_borders(ax, borders, (-180.0, 180.0, -90.0, 90.0))
        _map_axes(ax, fig, sc, value, (-180.0, 180.0, -90.0, 90.0), title)
        return fig, ax, cells
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
    return fig, ax, None


def grid_raster(lat: np.ndarray, lon: np.ndarray, max_cols: int = 2880) -> np.ndarray | None:
    """The cell index of every pixel of a regular lon/lat raster (rows south to north, one a
    latitude band; columns from -180°) when the points are an equal-area grid in its order
    (bands ``180/n`` tall from the south pole, band ``i``'s ``m`` cells ``360/m`` wide from
    -180°), else None.  Columns: four per cell of the widest band (at most ``max_cols``), so
    a cell edge is off by at most an eighth of a cell."""
    if len(lat) == 0:
        return None
    bands, start, counts = np.unique(lat, return_index=True, return_counts=True)
    h = 180.0 / len(bands)
    if not np.allclose(bands, -90.0 + h * (np.arange(len(bands)) + 0.5), atol=1e-6):
        return None
    if not np.array_equal(start, np.r_[0, np.cumsum(counts)[:-1]]):
        return None
    k = np.arange(len(lat)) - np.repeat(start, counts)
    want = -180.0 + (k + 0.5) * np.repeat(360.0 / counts, counts)
    if not np.allclose(lon, want, atol=1e-6):
        return None
    cols = int(min(max_cols, max(360, 4 * counts.max())))
    c = (np.arange(cols) + 0.5) / cols
    return start[:, None] + np.minimum(
        (c[None, :] * counts[:, None]).astype(int), counts[:, None] - 1
    )
