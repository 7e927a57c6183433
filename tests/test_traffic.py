"""Capacity over routes: flows built from the engine's paths, checked by hand and by structure."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from leosim.borders import Borders
from leosim.capacity import CapacityModel, max_min_fair
from leosim.errors import InputError
from leosim.ground import geodetic_to_ecef_m, local_up
from leosim.orbits import Orbits
from leosim.policy import parse_policy
from leosim.routing import num_isl_hops, route_step
from leosim.scenario import parse_scenario
from leosim.simulate import build_network
from leosim.traffic import (
    Cells,
    city_pair_step,
    country_cells,
    servable_subscribers,
    servable_subscribers_multipath,
    subscriber_step,
)

MODEL = CapacityModel(
    satellite_downlink_gbps=20, beam_gbps=1, feeder_gbps=8, isl_gbps=100, gateway_site_gbps=5
)


def _line_world():
    """Two satellites over the equator at lon 5 and 15, joined by one laser; a cell at lon 15 sees
    only satellite 1, a gateway at lon 0 sees only satellite 0 (30 deg elevation masks)."""
    sats = geodetic_to_ecef_m(np.zeros(2), np.array([5.0, 15.0]), 550e3)
    cells = Cells(
        np.array([0.0]), np.array([15.0]), np.array(["XXX"]), np.array([1000.0]), np.array([10.0])
    )
    gw = geodetic_to_ecef_m(np.array([0.0]), np.array([0.0]), 0.0)
    return sats, cells, gw, local_up(np.array([0.0]), np.array([0.0]))


def _line_step(model):
    sats, cells, gw, gw_up = _line_world()
    one_class = [np.array([0])]
    return subscriber_step(
        sats,
        np.array([[0, 1]]),
        np.inf,
        cells,
        np.zeros(1, dtype=np.int64),
        one_class,
        gw,
        gw_up,
        model,
        min_elevation_deg=30.0,
        gateway_min_elevation_deg=30.0,
    )


def test_one_cell_one_path_by_hand():
    fl = _line_step(MODEL)
    assert fl.flow_index.tolist() == [0]
    links = np.flatnonzero(fl.incidence.toarray()[0])
    kinds = sorted(fl.link_kind[links].tolist())
    # beam of the cell, down-link of sat 1, laser 0->1, feeder of sat 0, the gateway site.
    assert kinds == ["beam", "downlink", "feeder", "gateway", "isl"]
    assert fl.capacity_bps[links].min() == 1e9  # the beam
    # All subscribers share one path: N = min capacity / R = 1 Gbit/s / 25 Mbit/s = 40.
    n, link = servable_subscribers(fl, np.array([1.0]), 25e6)
    assert n == pytest.approx(40.0) and fl.link_kind[link] == "beam"
    n_mp, kind = servable_subscribers_multipath(fl, np.array([1.0]), 25e6)
    assert n_mp == pytest.approx(40.0) and kind == "beam"
    # The laser carries traffic from the gateway side (sat 0) to the user side (sat 1).
    isl_link = links[fl.link_kind[links] == "isl"][0]
    assert isl_link - np.flatnonzero(fl.link_kind == "isl")[0] == 0  # direction 0 = low -> high id


def test_gateway_site_limit_binds_when_smallest():
    tight = CapacityModel(
        satellite_downlink_gbps=20, beam_gbps=10, feeder_gbps=8, isl_gbps=100, gateway_site_gbps=0.5
    )
    fl = _line_step(tight)
    n, link = servable_subscribers(fl, np.array([1.0]), 100e6)
    assert n == pytest.approx(5.0) and fl.link_kind[link] == "gateway"


@pytest.fixture(scope="module")
def gen1_step():
    net = build_network(
        parse_scenario({"constellation": {"preset": "starlink-gen1"}, "time": {"times_s": [0]}})
    )
    pos = Orbits.from_constellation(net.constellation).ecef_m(net.start, [0.0])[0]
    return net, pos


def test_real_step_structure_and_multipath_bound(gen1_step):
    net, pos = gen1_step
    pol = parse_policy({"landing_rights": {"TWN": ["JPN", "PHL"]}})
    cells = country_cells(["TWN"], cell_deg=0.3, take_rate=0.01)
    cls, classes = pol.landing_classes(cells.country)
    gw = pol.gateways
    fl = subscriber_step(
        pos,
        net.isl_pairs,
        net.isl_max_length_m,
        cells,
        cls,
        classes,
        geodetic_to_ecef_m(gw.latitude_deg, gw.longitude_deg, 0.0),
        local_up(gw.latitude_deg, gw.longitude_deg),
        MODEL,
    )
    assert len(fl.flow_index) == len(cells)
    cand = fl.candidate_incidence.toarray()
    for kind in ("beam", "downlink", "feeder", "gateway"):
        assert np.all(cand[:, fl.link_kind == kind].sum(axis=1) == 1), kind
    # Landing rights: every path ends at a gateway in JPN or PHL.
    gw_cols = np.flatnonzero(fl.link_kind == "gateway")
    used_gw = np.flatnonzero(cand[:, gw_cols].sum(axis=0) > 0)
    assert set(gw.country[used_gw]) <= {"JPN", "PHL"}
    share = cells.subscribers / cells.subscribers.sum()
    n_sp, _ = servable_subscribers(fl, share[fl.flow_index] / share[fl.flow_index].sum(), 25e6)
    n_mp, _ = servable_subscribers_multipath(fl, cells.subscribers, 25e6)
    assert n_mp >= n_sp * (1 - 1e-9)
    # Max-min fair on these flows never overloads a link nor exceeds a demand.
    demand = cells.subscribers[fl.flow_index] * 25e6
    alloc = max_min_fair(fl.incidence, fl.capacity_bps, demand)
    assert np.all(alloc.load_bps <= fl.capacity_bps * (1 + 1e-9))
    assert np.all(alloc.rate_bps <= demand * (1 + 1e-9))


def test_city_pair_links_follow_the_routes(gen1_step):
    net, pos = gen1_step
    st = route_step(
        pos,
        net.stations.ecef_m(),
        net.stations.up(),
        net.isl_pairs,
        min_elevation_deg=25.0,
        max_isl_length_m=net.isl_max_length_m,
    )
    src = np.array([0, 1, 2, 3])
    dst = np.array([10, 11, 12, 13])
    fl = city_pair_step(st, src, dst, MODEL)
    inc = fl.incidence.toarray()
    for row, k in enumerate(fl.flow_index):
        path = st.path(int(src[k]), int(dst[k]))
        links = np.flatnonzero(inc[row])
        assert (fl.link_kind[links] == "isl").sum() == num_isl_hops(path, net.num_sats)
        up = links[fl.link_kind[links] == "uplink"]
        down = links[fl.link_kind[links] == "downlink"]
        assert up.tolist() == [np.flatnonzero(fl.link_kind == "uplink")[0] + path[1]]
        assert down.tolist() == [np.flatnonzero(fl.link_kind == "downlink")[0] + path[-2]]


def test_country_cells_population_adds_up_and_cells_are_inside():
    b = Borders.default()
    cells = country_cells(["TWN", "JPN"], cell_deg=0.2, take_rate=0.02)
    for code in ("TWN", "JPN"):
        sel = cells.country == code
        assert cells.population[sel].sum() == pytest.approx(b.population_of(code), rel=1e-9)
        assert np.all(b.country_of(cells.latitude_deg[sel], cells.longitude_deg[sel]) == code)
    assert cells.subscribers.sum() == pytest.approx(0.02 * cells.population.sum())


def test_bad_demand_and_capacity_input(tmp_path):
    with pytest.raises(InputError, match="take_rate"):
        country_cells(["TWN"], take_rate=0.0)
    with pytest.raises(InputError, match="XXQ"):
        country_cells(["XXQ"])
    sc = tmp_path / "c.toml"
    sc.write_text(
        '[constellation]\npreset = "starlink-550-hypatia"\n[demand]\ncountries = ["TWN"]\n'
        "[capacity]\nisl_gbps = -5\n[time]\ntimes_s = [0]\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "leosim.cli", "capacity", str(sc), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "capacity.isl_gbps" in r.stderr and not (tmp_path / "o").exists()


def test_cities_mode_single_flow_limited_by_the_user_uplink(tmp_path):
    """One flow Paris -> Luanda: below every capacity it gets its demand; above, the satellite
    user up-link (4 Gbit/s, the smallest on its path) caps it."""
    out = {}
    for demand_mbps in (1000, 9000):
        (tmp_path / "f.csv").write_text(f"src,dst,demand_mbps\nParis,Luanda,{demand_mbps}\n")
        sc = tmp_path / "c.toml"
        sc.write_text(
            '[constellation]\npreset = "starlink-550-hypatia"\n[ground_stations]\nbuiltin = "hypatia-top-100"\n'
            '[links]\ngsl_cone_radius_km = 940.7\n[demand]\nmode = "cities"\nflows = "f.csv"\n'
            "[capacity]\nsatellite_uplink_gbps = 4\nsatellite_downlink_gbps = 20\n[time]\ntimes_s = [0, 60]\n"
        )
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "leosim.cli",
                "capacity",
                str(sc),
                "--out",
                str(tmp_path / f"o{demand_mbps}"),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        import csv

        row = next(csv.DictReader(open(tmp_path / f"o{demand_mbps}" / "flows.csv")))
        out[demand_mbps] = float(row["mean_rate_mbps_maxmin"])
    assert out[1000] == pytest.approx(1000.0)
    assert out[9000] == pytest.approx(4000.0)
