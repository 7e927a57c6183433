"""``leosim export hypatia``: Hypatia's satellite_networks_state folder from leosim's state.

Truth: satgenpy's own folder for Starlink-550 + top-100 cities (``tests/data/hypatia_state/``, a
subset of ``../shared/reference/hypatia/state_starlink550_top100/``; the whole folder when
``../shared`` is present), and on a second, small scenario an independent shortest-path
computation with scipy on the graph read back from the exported files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from leosim.errors import InputError
from leosim.hypatia_export import export_hypatia
from leosim.scenario import load_scenario, parse_scenario

DATA = Path(__file__).parent / "data"
STATE = DATA / "hypatia_state"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "hypatia"
SHARED_STATE = SHARED / "state_starlink550_top100"
DYN = "dynamic_state_100ms_0_to_200ms"

# Hypatia's main_starlink_550.py: 940.7 km cone; t = 0, 100 and 200 ms.
REFERENCE_TOML = """\
name = "starlink-550-hypatia-export"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[time]
duration_s = 0.3
step_s = 0.1
"""


# The same from satgenpy's own tles.txt: its "72 22" header gives Hypatia's +Grid; a TLE file
# carries no altitude for the cone, so Hypatia's two limits are given as lengths.
FROM_TLE_TOML = REFERENCE_TOML.replace(
    'preset = "starlink-550-hypatia"',
    f'tle = "{(DATA / "hypatia" / "tles_starlink550_generated.txt").as_posix()}"',
).replace(
    "gsl_cone_radius_km = 940.7",
    "gsl_max_range_km = 1089.6864181956202\nmax_isl_length_km = 5016.5912330984278",
)


@pytest.fixture(scope="module", params=["preset", "tle-file"])
def exported(request, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("hx")
    sc_path = d / "ref.toml"
    sc_path.write_text(REFERENCE_TOML if request.param == "preset" else FROM_TLE_TOML)
    res = export_hypatia(load_scenario(sc_path), d / "state")
    assert res.dynamic_state_dir == DYN and res.num_steps == 3
    return d / "state"


@pytest.mark.parametrize(
    "name", ["description.txt", "isls.txt", "gsl_interfaces_info.txt", "ground_stations.txt"]
)
def test_static_files_byte_identical_to_satgenpy(exported, name):
    assert (exported / name).read_bytes() == (STATE / name).read_bytes()


def test_tles_byte_identical_to_satgenpy(exported):
    truth = DATA / "hypatia" / "tles_starlink550_generated.txt"
    assert (exported / "tles.txt").read_bytes() == truth.read_bytes()


@pytest.mark.parametrize("t_ns", ["100000000", "200000000"])
def test_fstate_changes_byte_identical(exported, t_ns):
    name = f"fstate_{t_ns}.txt"
    assert (exported / DYN / name).read_bytes() == (STATE / name).read_bytes()


def test_fstate_0_subset_identical(exported):
    lines = (exported / DYN / "fstate_0.txt").read_text().splitlines()
    assert len(lines) == 1584 * 100 + 100 * 99  # every satellite and ordered station pair
    f = [ln.split(",") for ln in lines]
    mine = [
        ln
        for ln, v in zip(lines, f, strict=True)
        if int(v[0]) <= 4 or v[0] == "1608" or v[1] == "1650"
    ]
    assert mine == (STATE / "fstate_0_subset.txt").read_text().splitlines()


def test_gsl_bandwidth_files(exported):
    d = exported / DYN
    assert (d / "gsl_if_bandwidth_0.txt").read_bytes() == (
        STATE / "gsl_if_bandwidth_0.txt"
    ).read_bytes()
    assert (d / "gsl_if_bandwidth_100000000.txt").read_bytes() == b""
    assert (d / "gsl_if_bandwidth_200000000.txt").read_bytes() == b""


def test_whole_folder_byte_identical_to_shared(exported):
    if not SHARED_STATE.is_dir():
        pytest.skip("../shared is absent")
    truth = {}
    for root, _, files in os.walk(SHARED_STATE):
        for f in files:
            p = Path(root) / f
            rel = p.relative_to(SHARED_STATE).as_posix()
            if rel.endswith(".gz"):
                truth[rel[:-3]] = gzip.decompress(p.read_bytes())
            else:
                truth[rel] = p.read_bytes()
    mine = {
        p.relative_to(exported).as_posix(): p.read_bytes()
        for p in exported.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert sorted(mine) == sorted(truth)
    different = [k for k in truth if mine[k] != truth[k]]
    assert different == []


def test_re_export_replaces_an_earlier_export(exported, tmp_path):
    sc = tmp_path / "ref.toml"
    sc.write_text(REFERENCE_TOML.replace("duration_s = 0.3", "duration_s = 0.1"))
    export_hypatia(load_scenario(sc), tmp_path / "state")
    res = export_hypatia(load_scenario(sc), tmp_path / "state")
    assert res.dynamic_state_dir == "dynamic_state_100ms_0_to_0ms"
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == sorted(
        [*(p.name for p in exported.iterdir() if p.name != DYN), "dynamic_state_100ms_0_to_0ms"]
    )


# --- a different, small scenario: every next hop lies on a shortest path ----------------------

SMALL_TOML = """\
name = "small"
[constellation]
epoch = 2026-05-13T00:00:00Z
[[constellation.shells]]
name = "S"
num_planes = 7
sats_per_plane = 9
inclination_deg = 60.0
altitude_km = 800.0
phasing = "walker"
walker_f = 2
[ground_stations]
file = "stations.csv"
[links]
gsl_min_elevation_deg = 10
[time]
duration_s = 40
step_s = 10
"""

STATIONS = """\
gid,name,latitude_deg,longitude_deg,elevation_m
0,Quito,-0.18,-78.47,2850
1,Oslo,59.91,10.75,0
2,Perth,-31.95,115.86,0
3,Nuuk,64.18,-51.69,0
4,Honolulu,21.31,-157.86,0
5,Cape Town,-33.92,18.42,0
"""


def _read_folder(folder: Path):
    """What ns-3 reads: satellites, lasers, stations, and the fstate of every step."""
    tle = (folder / "tles.txt").read_text().splitlines()
    p, s = map(int, tle[0].split())
    n = p * s
    isls = np.loadtxt(folder / "isls.txt", dtype=np.int64, ndmin=2)
    gs = [ln.split(",") for ln in (folder / "ground_stations.txt").read_text().splitlines()]
    dyn = next(folder.glob("dynamic_state_*"))
    times = sorted(int(f.stem.split("_")[1]) for f in dyn.glob("fstate_*.txt"))
    state, per_step = {}, []
    for t in times:
        for ln in (dyn / f"fstate_{t}.txt").read_text().splitlines():
            a, b, c, d, e = map(int, ln.split(","))
            state[(a, b)] = (c, d, e)
        per_step.append((t, dict(state)))
    return tle, n, isls, gs, per_step


def test_small_scenario_next_hops_lie_on_shortest_paths(tmp_path):
    from leosim.orbits import Orbits
    from leosim.simulate import build_network

    (tmp_path / "stations.csv").write_text(STATIONS)
    sc_path = tmp_path / "small.toml"
    sc_path.write_text(SMALL_TOML)
    sc = load_scenario(sc_path)
    export_hypatia(sc, tmp_path / "out")
    tle, n, isls, gs, per_step = _read_folder(tmp_path / "out")
    g = len(gs)
    assert tle[0] == "7 9" and n == 63 and len(tle) == 1 + 3 * n
    assert [int(ln.split()[1]) for ln in tle[1::3]] == list(range(n))  # satgenpy's read_tles
    # satgenpy's interface numbering, computed as satgenpy does (generate_dynamic_state.py).
    num_isls, iface = [0] * n, {}
    for a, b in isls.tolist():
        assert a < b
        iface[(a, b)], iface[(b, a)] = num_isls[a], num_isls[b]
        num_isls[a] += 1
        num_isls[b] += 1
    desc = dict(ln.split("=") for ln in (tmp_path / "out" / "description.txt").read_text().split())
    max_isl_m = float(desc["max_isl_length_m"])
    gs_xyz = np.array([[float(v) for v in r[5:8]] for r in gs])
    net = build_network(sc)  # positions only; the routing below is independent of leosim's
    orbits = Orbits.from_constellation(net.constellation)
    checked = 0
    for t_ns, fstate in per_step:
        assert len(fstate) == n * g + g * (g - 1)
        sat = orbits.ecef_m(net.start, [t_ns / 1e9])[0]
        isl_m = np.linalg.norm(sat[isls[:, 0]] - sat[isls[:, 1]], axis=1)
        ok = isl_m <= max_isl_m  # a longer laser carries no route
        a, b, isl_m = isls[ok, 0], isls[ok, 1], isl_m[ok]
        rng = np.linalg.norm(sat[None, :, :] - gs_xyz[:, None, :], axis=2)  # (g, n)
        lat, lon = (np.radians([float(r[k]) for r in gs]) for k in (2, 3))
        up = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], 1)
        el_ok = np.einsum("gnk,gk->gn", sat[None] - gs_xyz[:, None], up) >= rng * np.sin(
            np.radians(10.0)
        )
        graph = csr_matrix(
            (
                np.concatenate([isl_m, isl_m]),
                (np.r_[a, b], np.r_[b, a]),
            ),
            shape=(n, n),
        )
        d_sat = dijkstra(graph, directed=False)  # (n, n)
        gsl = np.where(el_ok, rng, np.inf)
        to_gs = np.min(d_sat[:, None, :] + gsl[None, :, :], axis=2)  # (n, g): sat -> station
        for (v, dst_node), (nh, my_if, nh_if) in fstate.items():
            d = dst_node - n
            if v < n:
                best = to_gs[v, d]
                if not np.isfinite(best):
                    assert (nh, my_if, nh_if) == (-1, -1, -1)
                elif nh == dst_node:
                    assert gsl[d, v] == pytest.approx(best, abs=1e-3)
                    assert (my_if, nh_if) == (num_isls[v], 0)
                else:
                    w = np.linalg.norm(sat[v] - sat[nh])
                    assert w + to_gs[nh, d] == pytest.approx(best, abs=1e-3)
                    assert (my_if, nh_if) == (iface[(v, nh)], iface[(nh, v)])
            else:
                src = v - n
                best = np.min(gsl[src] + to_gs[:, d])
                if not np.isfinite(best):
                    assert (nh, my_if, nh_if) == (-1, -1, -1)
                else:
                    assert gsl[src, nh] + to_gs[nh, d] == pytest.approx(best, abs=1e-3)
                    assert (my_if, nh_if) == (0, num_isls[nh])
            checked += 1
    assert checked == len(per_step) * (n * g + g * (g - 1))
    reachable = sum(e[0] >= 0 for _, f in per_step for e in f.values())
    assert 0 < reachable < checked  # some destinations out of reach: both branches ran


# --- bad input -------------------------------------------------------------------------------


def _sc(time: dict, **extra) -> object:
    doc = {
        "constellation": {"preset": "starlink-550-hypatia"},
        "ground_stations": {"builtin": "hypatia-top-100"},
        "time": time,
        **extra,
    }
    return parse_scenario(doc, source="s.toml")


@pytest.mark.parametrize(
    ("sc_kwargs", "key"),
    [
        ({"time": {"times_s": [0.0, 0.1]}}, "[time.times_s]"),
        ({"time": {"duration_s": 1.0, "step_s": 0.0005}}, "[time.step_s]"),
        (
            {"time": {"duration_s": 1.0, "step_s": 0.1, "start": "2000-01-01T00:00:10Z"}},
            "[time.start]",
        ),
        (
            {"time": {"duration_s": 1.0, "step_s": 0.1}, "routing": {"mode": "bent-pipe"}},
            "[routing.mode]",
        ),
    ],
)
def test_unsupported_scenarios_are_one_line_input_errors(tmp_path, sc_kwargs, key):
    from datetime import datetime

    t = dict(sc_kwargs.pop("time"))
    if "start" in t:
        t["start"] = datetime.fromisoformat(t["start"])
    with pytest.raises(InputError) as exc:
        export_hypatia(_sc(t, **sc_kwargs), tmp_path / "out")
    msg = str(exc.value)
    assert key in msg and "\n" not in msg and msg.startswith("s.toml")
    assert not (tmp_path / "out").exists()


def _cli(*args: str):
    from typer.testing import CliRunner

    from leosim.cli import app

    return CliRunner().invoke(app, ["export", "hypatia", *args])


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path):
    sc = tmp_path / "s.toml"
    sc.write_text(REFERENCE_TOML.replace("[time]", "[time]\nsetp_s = 1"))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    good = tmp_path / "good.toml"
    good.write_text(REFERENCE_TOML)
    cases = [
        ((str(sc), str(tmp_path / "o1")), "setp_s"),
        ((str(good), str(good)), "not a folder"),
        ((str(good), str(foreign)), "not a leosim output folder"),
    ]
    for args, expect in cases:
        r = _cli(*args)
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and expect in lines[0], r.output
    assert (foreign / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "o1").exists()
