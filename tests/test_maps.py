"""The PNG maps carry the answer: exclusion zones drawn where the policy files put them,
hypothetical gateways marked apart, coverage grids drawn cell by cell (no moiré at 1°) with
fenced-off cells in grey.  Pixels are read back from the rendered figure at places whose
truth comes from the policy files and from geography (city coordinates), not from the code."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from leosim.borders import Borders
from leosim.policy import load_policy
from leosim.reports import ZONE_EDGE, ZONE_FACE, coverage_figure, service_figure

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policy"


@pytest.fixture(scope="module")
def borders():
    return Borders.default()


def _pixels(fig, ax, lonlat) -> np.ndarray:
    """RGB (0-255) of the rendered figure at lon/lat points."""
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    xy = ax.transData.transform(np.asarray(lonlat, dtype=float))
    rows = np.clip((buf.shape[0] - xy[:, 1]).astype(int), 0, buf.shape[0] - 1)
    cols = np.clip(xy[:, 0].astype(int), 0, buf.shape[1] - 1)
    return buf[rows, cols]


def _close(fig) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)


def _terminals(lat, lon, served):
    return {
        "latitude_deg": np.asarray(lat, dtype=float),
        "longitude_deg": np.asarray(lon, dtype=float),
        "served_fraction": np.asarray(served, dtype=float),
        "gateway": np.array([""] * len(lat), dtype=object),
    }


def _destination(lat, lon, bearing_deg, km):
    """The point ``km`` from (lat, lon) along a bearing (spherical Earth, Aviation Formulary)."""
    d = km / 6371.0088
    p1, l1, b = np.radians(lat), np.radians(lon), np.radians(bearing_deg)
    p2 = np.arcsin(np.sin(p1) * np.cos(d) + np.cos(p1) * np.sin(d) * np.cos(b))
    l2 = l1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(p1), np.cos(d) - np.sin(p1) * np.sin(p2))
    return float(np.degrees(p2)), float(np.degrees(l2))


def _is_zone(rgb) -> bool:
    """A pixel of the translucent zone colour over the white map (or its edge)."""
    face = np.array(ZONE_FACE[:3]) * 255 * ZONE_FACE[3] + 255 * (1 - ZONE_FACE[3])
    edge = np.array(ZONE_EDGE[:3]) * 255
    return bool(np.abs(rgb - face).max() < 12 or np.abs(rgb - edge).max() < 12)


@pytest.mark.parametrize(
    ("policy", "inside", "outside", "terminals"),
    [
        # A point and radius: the file's centre, and places 15 km and 45 km from it (30 km).
        ("myanmar_radius_cutoff.toml", None, None, [(16.8, 96.2), (13.75, 100.5)]),
        # A region: Simferopol is in Crimea, Kherson on the mainland.
        ("ukraine_crimea_excluded.toml", [(34.10, 44.95)], [(32.61, 46.64)], [(50.45, 30.52)]),
        # A 50 km border buffer of India: Amritsar is ~25 km from the border, Nagpur ~600 km.
        ("india_landing_rights.toml", [(74.87, 31.63)], [(79.09, 21.15)], [(28.6, 77.2)]),
    ],
)
def test_exclusion_zones_are_drawn_where_the_policy_puts_them(
    borders, policy, inside, outside, terminals
):
    pol = load_policy(EXAMPLES / policy, borders=borders)
    if inside is None:
        z = tomllib.loads((EXAMPLES / policy).read_text())["exclusion_zones"][0]
        lat, lon = z["point"]
        r = z["radius_km"]
        inside = [(lon, lat)] + [_destination(lat, lon, b, r / 2)[::-1] for b in (0, 90, 180, 270)]
        outside = [_destination(lat, lon, b, 1.5 * r)[::-1] for b in (0, 90, 180, 270)]
    lat, lon = zip(*terminals, strict=True)
    table = _terminals(lat, lon, [1.0] * len(terminals))
    for zones, want_inside in ((pol.zones, True), ((), False)):
        fig, ax, _ = service_figure(table, borders=borders, zones=zones, gateways=None)
        got_in = [_is_zone(p) for p in _pixels(fig, ax, inside)]
        got_out = [_is_zone(p) for p in _pixels(fig, ax, outside)]
        _close(fig)
        assert got_in == [want_inside] * len(inside), (policy, zones, got_in)
        assert got_out == [False] * len(outside), (policy, got_out)


def test_hypothetical_gateways_are_marked_apart_from_real_ones(borders):
    pol = load_policy(EXAMPLES / "taiwan_activated.toml", borders=borders)
    spec = tomllib.loads((EXAMPLES / "taiwan_activated.toml").read_text())
    added = [(g["longitude_deg"], g["latitude_deg"]) for g in spec["gateways"]["add"]]
    gw = pol.gateways
    real = [  # a real gateway in Japan inside the map (the terminals' box)
        (float(gw.longitude_deg[i]), float(gw.latitude_deg[i]))
        for i in range(len(gw))
        if gw.status[i] not in ("hypothetical", "assumed")
        and gw.country[i] == "JPN"
        and 30 < gw.latitude_deg[i] < 37
        and gw.longitude_deg[i] < 140
    ][:1]
    assert added and real
    table = _terminals([23.7, 35.7], [121.0, 139.7], [1.0, 1.0])
    fig, ax, _ = service_figure(table, borders=borders, gateways=gw)
    near = [_window(fig, ax, x, y) for x, y in added + real]
    _close(fig)
    orange, red = np.array([255, 165, 0]), np.array([255, 0, 0])

    def has(win, rgb) -> bool:
        return bool((np.abs(win - rgb).max(axis=-1) < 30).any())

    assert all(has(w, orange) and not has(w, red) for w in near[:-1])
    assert has(near[-1], red) and not has(near[-1], orange)


def _window(fig, ax, lon, lat, r: int = 4) -> np.ndarray:
    """The pixels within ``r`` of a place, RGB."""
    fig.canvas.draw()
    buf = np.asarray(fig.canvas.buffer_rgba())[:, :, :3].astype(int)
    x, y = ax.transData.transform((lon, lat))
    row, col = int(buf.shape[0] - y), int(x)
    return buf[row - r : row + r + 1, col - r : col + r + 1].reshape(-1, 3)


def _cell_of(lat, lon, resolution_deg):
    """The equal-area grid cell index of a place, from the grid's definition (bands
    ``180/n`` tall, ``round(360 cos(lat_c) / h)`` equal cells from -180°)."""
    n = int(np.ceil(180.0 / resolution_deg))
    h = 180.0 / n
    centres = -90 + h * (np.arange(n) + 0.5)
    m = np.maximum(1, np.round(360 * np.cos(np.radians(centres)) / h).astype(int))
    band = np.minimum((np.asarray(lat) + 90) // h, n - 1).astype(int)
    k = np.minimum(((np.asarray(lon) + 180) / (360 / m[band])).astype(int), m[band] - 1)
    return np.r_[0, np.cumsum(m)][band] + k


def test_coverage_map_at_1_degree_has_every_cell_in_its_place_without_moire():
    import matplotlib as mpl

    from leosim.coverage import equal_area_grid

    g = equal_area_grid(1.0)
    rng = np.random.default_rng(1)
    value = rng.integers(0, 2, len(g)).astype(float)  # a random black/white cell pattern
    table = {"latitude_deg": g.latitude_deg, "longitude_deg": g.longitude_deg, "v": value}
    fig, ax, _ = coverage_figure(table, value="v")
    # Sample places away from cell edges (a pixel on an edge may take either neighbour).
    lat = rng.uniform(-89, 89, 3000)
    lon = rng.uniform(-179.5, 179.5, 3000)
    n = 180
    h = 180.0 / n
    centres = -90 + h * (np.arange(n) + 0.5)
    m = np.maximum(1, np.round(360 * np.cos(np.radians(centres)) / h).astype(int))
    band = ((lat + 90) // h).astype(int)
    w = 360.0 / m[band]
    fx, fy = ((lon + 180) / w) % 1, ((lat + 90) / h) % 1
    away = (np.minimum(fx, 1 - fx) > 0.3) & (np.minimum(fy, 1 - fy) > 0.3)
    lat, lon = lat[away], lon[away]
    px = _pixels(fig, ax, np.column_stack([lon, lat]))
    _close(fig)
    want = value[_cell_of(lat, lon, 1.0)]
    lo, hi = (np.array(mpl.colormaps["viridis"](x)[:3]) * 255 for x in (0.0, 1.0))
    is_hi = np.abs(px - hi).max(axis=1) < 40
    is_lo = np.abs(px - lo).max(axis=1) < 40
    assert (is_hi | is_lo).all()  # every pixel is a cell's colour: no gaps, no blends
    assert np.mean(is_hi == (want == 1)) > 0.995


def test_coverage_map_greys_the_cells_a_policy_fences_off(borders):
    from leosim.coverage import equal_area_grid

    g = equal_area_grid(2.0)
    country = borders.country_of(g.latitude_deg, g.longitude_deg)
    blocked = np.where(np.asarray(country) == "TWN", "policy: not_activated", "")
    table = {
        "latitude_deg": g.latitude_deg,
        "longitude_deg": g.longitude_deg,
        "mean_visible": np.full(len(g), 3.0),
        "policy_block": blocked.astype(object),
    }
    assert (blocked != "").any()
    fig, ax, _ = coverage_figure(table)
    i = int(np.flatnonzero(blocked != "")[0])
    px = _pixels(fig, ax, [(g.longitude_deg[i], g.latitude_deg[i]), (2.3, 46.6)])
    _close(fig)
    assert np.abs(px[0] - 204).max() < 12  # grey: "no service (policy)"
    assert np.abs(px[1] - 204).max() > 40  # France keeps its colour


def test_service_map_is_cropped_to_the_served_terminals_and_says_what_it_leaves_out(borders):
    """Ukraine served, Russia not (its far east at 160 deg E): the map stays on Ukraine and
    the gateway in Turkey its traffic lands at, and names the terminals it leaves out."""
    from leosim.ground_segment import builtin_gateways

    gw = builtin_gateways("operational")
    tr = int(np.flatnonzero(gw.country == "TUR")[0])
    table = _terminals([50.45, 49.84, 53.0, 64.7], [30.52, 24.03, 158.6, 177.5], [1, 0.5, 0, 0])
    table["gateway"] = np.array([gw.name[tr], gw.name[tr], "", ""], dtype=object)
    fig, ax, bbox = service_figure(table, borders=borders, gateways=gw)
    texts = [t.get_text() for t in ax.texts]
    _close(fig)
    assert bbox[1] < 45  # not out to Kamchatka
    assert bbox[2] <= float(gw.latitude_deg[tr]) <= bbox[3]
    assert bbox[0] <= float(gw.longitude_deg[tr]) <= bbox[1]
    assert "2 terminals outside this map (not served)" in texts
