"""Service policy (leosim.policy) and its evaluation (leosim.service), against independent truth.

Truth comes from outside the code under test: city coordinates and the countries they are in,
distances to India's land border measured with pyproj geodesics, haversine distances computed
here, and, for the RTT, satellite positions from SGP4 with ground positions and elevations from
pyproj (geocentric and topocentric transforms on the WGS72 ellipsoid).

Physics: Starlink Gen1 (4,408 satellites in five shells, +Grid lasers), 10 steps of 60 s, 25 deg
minimum elevation.  Every "never served" check is paired with a check that the same place (or
one just outside the zone) is served under a policy without the restriction, so that a test
cannot pass because nothing is ever served.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely

from leosim.borders import Borders
from leosim.constants import SPEED_OF_LIGHT_M_S
from leosim.errors import InputError
from leosim.ground_segment import Terminals, read_terminals_csv
from leosim.orbits import Orbits
from leosim.policy import load_policy, parse_policy
from leosim.scenario import parse_scenario
from leosim.service import compare, evaluate
from leosim.simulate import build_network

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policy"
R_MEAN_KM = 6371.0088

SCENARIO = {
    "name": "policy-tests",
    "constellation": {"preset": "starlink-gen1"},
    "links": {"gsl_min_elevation_deg": 25},
    "time": {"duration_s": 600, "step_s": 60},
}

# Well-known places: (id, latitude_deg, longitude_deg, ADM0_A3 of the de-facto borders).
PLACES = {
    "taipei": (25.033, 121.565, "TWN"),
    "kaohsiung": (22.627, 120.301, "TWN"),
    "tokyo": (35.690, 139.692, "JPN"),
    "osaka": (34.694, 135.502, "JPN"),
    "manila": (14.599, 120.984, "PHL"),
    "kyiv": (50.450, 30.523, "UKR"),
    "lviv": (49.839, 24.030, "UKR"),
    "kherson": (46.635, 32.617, "UKR"),  # mainland, ~60 km north of Crimea's isthmus
    "simferopol": (44.952, 34.102, "RUS"),  # Crimea: de-facto inside RUS in Natural Earth
    "sevastopol": (44.600, 33.520, "RUS"),
    "moscow": (55.756, 37.617, "RUS"),
    "delhi": (28.614, 77.209, "IND"),
    "nagpur": (21.150, 79.090, "IND"),
    "mumbai": (19.076, 72.878, "IND"),
    "bengaluru": (12.972, 77.594, "IND"),
    "amritsar": (31.634, 74.872, "IND"),
    "ferozepur": (30.930, 74.610, "IND"),
    "siliguri": (26.727, 88.395, "IND"),
    "ludhiana": (30.900, 75.850, "IND"),
    "patiala": (30.340, 76.390, "IND"),
    "barmer": (25.750, 71.390, "IND"),
    "karachi": (24.861, 67.010, "PAK"),
    "lahore": (31.549, 74.344, "PAK"),
    "dhaka": (23.810, 90.413, "BGD"),
    "bangkok": (13.756, 100.502, "THA"),
    "chiang_mai": (18.788, 98.985, "THA"),
    "phuket": (7.880, 98.392, "THA"),
    "khon_kaen": (16.432, 102.824, "THA"),
    "yangon": (16.867, 96.195, "MMR"),
    "tehran": (35.689, 51.389, "IRN"),
    "isfahan": (32.654, 51.668, "IRN"),
}


def terminals(*ids: str, **extra: tuple[float, float, str]) -> Terminals:
    """Terminals at named places (and extra ones given as id=(lat, lon, country))."""
    rows = [(i, *PLACES[i]) for i in ids] + [(k, *v) for k, v in extra.items()]
    return Terminals(
        np.array([r[0] for r in rows], dtype=object),
        np.array([r[1] for r in rows], dtype=float),
        np.array([r[2] for r in rows], dtype=float),
        np.array([r[3] for r in rows], dtype="<U3"),
        np.ones(len(rows)),
    )


def col(res, tid: str) -> int:
    return int(np.flatnonzero(res.terminals.terminal_id == tid)[0])


def served_steps(res, tid: str) -> np.ndarray:
    return res.served[:, col(res, tid)]


def landing_countries(res, tid: str) -> set[str]:
    g = res.gateway[:, col(res, tid)]
    return {str(c) for c in res.gateway_country[g[g >= 0]]}


def destination(lat_deg: float, lon_deg: float, bearing_deg: float, d_km: float):
    """Point d_km from (lat, lon) along a great circle of the 6371.0088 km sphere."""
    p1, l1, th = map(math.radians, (lat_deg, lon_deg, bearing_deg))
    delta = d_km / R_MEAN_KM
    p2 = math.asin(math.sin(p1) * math.cos(delta) + math.cos(p1) * math.sin(delta) * math.cos(th))
    l2 = l1 + math.atan2(
        math.sin(th) * math.sin(delta) * math.cos(p1), math.cos(delta) - math.sin(p1) * math.sin(p2)
    )
    return math.degrees(p2), (math.degrees(l2) + 540) % 360 - 180


def haversine_km(lat1, lon1, lat2, lon2) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * R_MEAN_KM * math.asin(math.sqrt(a))


@pytest.fixture(scope="module")
def borders() -> Borders:
    return Borders.default()


@pytest.fixture(scope="module")
def scenario():
    return parse_scenario(SCENARIO)


@pytest.fixture(scope="module")
def net(scenario):
    return build_network(scenario)


@pytest.fixture(scope="module")
def t_s(scenario):
    return scenario.time.offsets_s()


@pytest.fixture(scope="module")
def run(net, t_s):
    def _run(policy, terms):
        pol = policy if not isinstance(policy, dict) else parse_policy(policy)
        return evaluate(net, pol, terms, t_s)

    return _run


# ----------------------------------------------------------------------------- countries
def test_terminal_csv_countries_of_known_cities(tmp_path, borders):
    """Terminals read without a country column get it from the borders: known cities."""
    ids = ["taipei", "kaohsiung", "kyiv", "lviv", "kherson", "tokyo", "manila", "delhi"]
    ids += ["lahore", "dhaka", "bangkok", "yangon", "tehran", "moscow", "amritsar"]
    lines = ["terminal_id,latitude_deg,longitude_deg"]
    lines += [f"{i},{PLACES[i][0]},{PLACES[i][1]}" for i in ids]
    lines.append("mid_atlantic_ship,30.0,-40.0")
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    t = read_terminals_csv(path, borders=borders)
    got = dict(zip(t.terminal_id.tolist(), t.country.tolist(), strict=True))
    assert got == {**{i: PLACES[i][2] for i in ids}, "mid_atlantic_ship": ""}
    assert got["taipei"] == "TWN" and got["kyiv"] == "UKR"


def test_sea_terminal_follows_the_default_state(run):
    ship = terminals(ship=(30.0, -40.0, ""))
    assert run({}, ship).served_fraction[0] > 0
    res = run({"default_state": "not_activated"}, ship)
    assert not res.served.any()
    assert res.reason()[0] == "not activated in international waters"


# ----------------------------------------------------------------------------- activation
def test_not_activated_is_never_served_and_says_why(run):
    t = terminals("taipei", "kaohsiung", "tokyo", "manila", "tehran", "isfahan")
    base = run({}, t)
    assert (base.served_fraction > 0).all()  # physics serves every one of them
    res = run({"countries": {"TWN": "not_activated", "IRN": "sanctioned_but_active"}}, t)
    for tid in ("taipei", "kaohsiung"):
        k = col(res, tid)
        assert not res.served[:, k].any()
        assert np.isnan(res.rtt_ms[:, k]).all() and (res.gateway[:, k] == -1).all()
        assert not res.allowed[k]
        assert res.reason()[k] == "not activated in TWN"
        assert res.terminal_table()["reason"][k] == "not activated in TWN"
    # Sanctioned but active: served exactly as with no policy, as are the other countries.
    for tid in ("tehran", "isfahan", "tokyo", "manila"):
        k = col(res, tid)
        assert res.allowed[k] and res.reason()[k] == ""
        np.testing.assert_array_equal(res.gateway[:, k], base.gateway[:, k])
        np.testing.assert_array_equal(res.rtt_ms[:, k], base.rtt_ms[:, k])
    ct = res.country_table()
    i = list(ct["country"]).index("TWN")
    assert ct["served_share"][i] == 0.0
    assert "not activated in TWN" in ct["policy_block"][i]
    assert ct["served_share"][list(ct["country"]).index("IRN")] > 0


def test_taiwan_example_files(run):
    t = terminals("taipei", "kaohsiung", "tokyo", "manila")
    off = run(load_policy(EXAMPLES / "taiwan_not_activated.toml"), t)
    on = run(load_policy(EXAMPLES / "taiwan_activated.toml"), t)
    assert not off.served[:, :2].any() and (off.served_fraction[2:] > 0).all()
    assert (on.served_fraction > 0).all()
    for tid in ("taipei", "kaohsiung"):
        assert landing_countries(on, tid) <= {"TWN", "JPN", "PHL"}


def test_sanctioned_but_active_is_flagged_in_the_country_report(run):
    res = run(load_policy(EXAMPLES / "iran_foreign_gateways.toml"), terminals("tehran"))
    ct = res.country_table()
    i = list(ct["country"]).index("IRN")
    assert any("sanction" in str(ct[k][i]).lower() for k in ct)


# ----------------------------------------------------------------------------- exclusion zones
def test_crimea_region_never_served_but_kherson_is(run):
    t = terminals("simferopol", "sevastopol", "kherson", "kyiv")
    base = run({}, t)
    assert (base.served_fraction > 0).all()  # Crimea is served when nothing excludes it
    res = run({"exclusion_zones": [{"name": "Crimea", "region": "crimea"}]}, t)
    for tid in ("simferopol", "sevastopol"):
        assert not served_steps(res, tid).any(), tid
        assert res.block_reason[col(res, tid)] == "exclusion zone 'Crimea'"
    assert served_steps(res, "kherson").any() and served_steps(res, "kyiv").any()


def test_ukraine_example_policy(run):
    t = terminals("simferopol", "kherson", "kyiv", "lviv", "moscow")
    res = run(load_policy(EXAMPLES / "ukraine_crimea_excluded.toml"), t)
    assert not served_steps(res, "simferopol").any()
    assert not served_steps(res, "moscow").any()
    for tid in ("kherson", "kyiv", "lviv"):
        assert served_steps(res, tid).any(), tid


@pytest.fixture(scope="module")
def india_land_border_vertices(borders):
    """India's land border, derived here from the polygons: where India meets a neighbour."""
    india = borders.geometry("IND")
    nb = [
        borders.geometry(c)
        for c in borders.codes
        if c != "IND" and borders.geometry(c).intersects(india.buffer(0.01))
    ]
    land = india.boundary.intersection(shapely.union_all([g.buffer(1e-3) for g in nb]))
    return shapely.get_coordinates(shapely.segmentize(land, 0.005))  # <= ~0.55 km apart


def test_india_border_buffer(run, india_land_border_vertices):
    pyproj = pytest.importorskip("pyproj")
    geod = pyproj.Geod(ellps="WGS84")
    v = india_land_border_vertices

    def dist_km(tid):
        lat, lon, _ = PLACES[tid]
        n = len(v)
        return geod.inv(np.full(n, lon), np.full(n, lat), v[:, 0], v[:, 1])[2].min() / 1e3

    inside = ["amritsar", "ferozepur", "siliguri"]  # ~30, ~8, ~17 km from the border
    outside = ["barmer", "ludhiana", "patiala", "delhi", "mumbai"]  # ~75 to 600 km
    for tid in inside:
        assert dist_km(tid) < 45, tid
    for tid in outside:
        assert dist_km(tid) > 55, tid
    assert 120 < dist_km("patiala") < 250  # "well inside India"
    t = terminals(*inside, *outside, "lahore")
    assert (run({}, t).served_fraction > 0).all()
    zone = {"name": "50 km border zone", "country": "IND", "border_buffer_km": 50}
    res = run({"exclusion_zones": [zone]}, t)
    for tid in inside:
        assert not served_steps(res, tid).any(), tid
        assert res.block_reason[col(res, tid)] == "exclusion zone '50 km border zone'"
    for tid in outside:
        assert served_steps(res, tid).any(), tid
    # The buffer is inside India only: Lahore, ~25 km on the other side, is served.
    assert served_steps(res, "lahore").any()


@pytest.mark.parametrize("bearing", [0.0, 90.0, 200.0, 290.0])
def test_point_radius_zone(run, bearing):
    centre = (16.69, 98.51)  # Myawaddy, as in examples/policy/myanmar_radius_cutoff.toml
    r = 30.0
    near = destination(*centre, bearing, r - 10.0)
    far = destination(*centre, bearing, r + 10.0)
    assert haversine_km(*centre, *near) == pytest.approx(r - 10.0, abs=1e-6)
    assert haversine_km(*centre, *far) == pytest.approx(r + 10.0, abs=1e-6)
    t = terminals(centre=(*centre, "MMR"), near=(*near, "MMR"), far=(*far, "MMR"))
    assert (run({}, t).served_fraction > 0).all()
    zone = {"name": "cut-off", "point": list(centre), "radius_km": r}
    res = run({"exclusion_zones": [zone]}, t)
    assert not served_steps(res, "centre").any()
    assert not served_steps(res, "near").any()
    assert res.served_fraction[col(res, "far")] > 0


def test_myanmar_example_policy(run):
    far = destination(16.69, 98.51, 270.0, 45.0)
    t = terminals("yangon", "bangkok", myawaddy=(16.69, 98.51, "MMR"), far=(*far, "MMR"))
    res = run(load_policy(EXAMPLES / "myanmar_radius_cutoff.toml"), t)
    assert not served_steps(res, "myawaddy").any()
    for tid in ("yangon", "bangkok", "far"):
        assert served_steps(res, tid).any(), tid


def test_polygon_zone(run):
    box = [[121.3, 24.9], [121.8, 24.9], [121.8, 25.3], [121.3, 25.3], [121.3, 24.9]]  # lon, lat
    t = terminals("taipei", "kaohsiung")
    res = run({"exclusion_zones": [{"name": "box", "polygon": box}]}, t)
    assert not served_steps(res, "taipei").any()
    assert served_steps(res, "kaohsiung").any()


def test_polygon_zone_given_in_0_360_longitudes(run):
    box = [[190.0, 10.0], [200.0, 10.0], [200.0, 20.0], [190.0, 20.0], [190.0, 10.0]]
    t = terminals(pacific=(15.0, -165.0, ""))
    assert run({}, t).served_fraction[0] > 0
    res = run({"exclusion_zones": [{"name": "east of 180", "polygon": box}]}, t)
    assert not res.served.any()


# ----------------------------------------------------------------------------- landing
INDIA_GATEWAYS = {
    # Only the community list and these two: no gateway assumed at the PoPs (Mumbai, Dhaka).
    "at_pops": False,
    "add": [
        {"name": "Mumbai", "latitude_deg": 19.08, "longitude_deg": 72.88, "country": "IND"},
        {"name": "Noida", "latitude_deg": 28.54, "longitude_deg": 77.39, "country": "IND"},
    ]
}


@pytest.mark.parametrize(
    ("rights", "allowed"),
    [({"IND": ["IND"]}, {"IND"}), ({"IND": ["JPN"]}, {"JPN"}), ({"IND": ["JPN", "AUS"]}, None)],
    ids=["IND-in-IND", "IND-in-JPN", "IND-in-JPN-or-AUS"],
)
def test_landing_rights(run, rights, allowed):
    allowed = allowed or set(rights["IND"])
    t = terminals("delhi", "nagpur", "mumbai", "bengaluru", "karachi", "dhaka")
    free = run({"gateways": INDIA_GATEWAYS}, t)
    res = run({"gateways": INDIA_GATEWAYS, "landing_rights": rights}, t)
    ind = [col(res, i) for i in ("delhi", "nagpur", "mumbai", "bengaluru")]
    for k in ind:
        g = res.gateway[:, k]
        assert res.served[:, k].any()  # with lasers an allowed gateway is always reachable
        assert set(res.gateway_country[g[g >= 0]].tolist()) <= allowed
    # The constraint matters: without it Indian traffic lands elsewhere at some step...
    if allowed != {"IND"}:
        assert any(landing_countries(free, i) - allowed for i in ("delhi", "nagpur", "bengaluru"))
    # ... and it can only lengthen paths (fewer gateways to choose from).
    both = free.served[:, ind] & res.served[:, ind]
    assert both.any()
    assert (res.rtt_ms[:, ind][both] >= free.rtt_ms[:, ind][both] * (1 - 1e-6)).all()
    if allowed == {"JPN"}:
        assert (res.rtt_ms[:, ind][both] > free.rtt_ms[:, ind][both] + 10).all()
    # The RTT is that of a path to the gateway reported: no shorter than the chord to it.
    gw = parse_policy({"gateways": INDIA_GATEWAYS}).gateways
    for k in ind:
        for i in np.flatnonzero(res.served[:, k]):
            g = res.gateway[i, k]
            d = haversine_km(
                t.latitude_deg[k], t.longitude_deg[k], gw.latitude_deg[g], gw.longitude_deg[g]
            )
            chord_m = 2 * R_MEAN_KM * 1e3 * math.sin(d / (2 * R_MEAN_KM))
            assert res.rtt_ms[i, k] / 2e3 * SPEED_OF_LIGHT_M_S >= 0.999 * chord_m
    # Pakistan and Bangladesh have no landing rights and no gateway: they land abroad, as before.
    for tid in ("karachi", "dhaka"):
        assert served_steps(res, tid).any()
        assert landing_countries(res, tid) - {t.country[col(res, tid)]}
        k = col(res, tid)
        np.testing.assert_array_equal(res.gateway[:, k], free.gateway[:, k])


def test_india_example_policy(run):
    t = terminals("delhi", "nagpur", "mumbai", "amritsar", "karachi", "lahore")
    res = run(load_policy(EXAMPLES / "india_landing_rights.toml"), t)
    for tid in ("delhi", "nagpur", "mumbai"):
        assert served_steps(res, tid).any()
        assert landing_countries(res, tid) == {"IND"}
    assert not served_steps(res, "amritsar").any()  # inside the 50 km border zone
    for tid in ("karachi", "lahore"):
        assert served_steps(res, tid).any()
        assert "PAK" not in landing_countries(res, tid)


def test_forbidden_gateway_countries(run):
    t = terminals("kyiv", "kherson", "nagpur", "taipei", "bangkok")
    base = run({}, t)
    used = set()
    for tid in t.terminal_id:
        used |= landing_countries(base, tid)
    forbidden = sorted(used - {"USA"})
    assert len(forbidden) >= 3  # e.g. LTU, POL, TUR, SGP, PHL: the test bites
    res = run({"forbidden_gateway_countries": forbidden}, t)
    g = res.gateway[res.served]
    assert len(g) > 0 and not np.isin(res.gateway_country[g], forbidden).any()
    assert (res.served_fraction > 0).all()  # served through other countries' gateways
    both = res.served & base.served
    assert (res.rtt_ms[both] >= base.rtt_ms[both] * (1 - 1e-6)).all()  # fewer gateways


def test_landing_classes_group_by_allowed_set():
    pol = parse_policy(
        {
            "gateways": INDIA_GATEWAYS,
            "landing_rights": {"IND": ["IND"], "BGD": ["IND"], "TWN": ["JPN"]},
            "forbidden_gateway_countries": ["SGP"],
        }
    )
    cls, classes = pol.landing_classes(np.array(["IND", "BGD", "TWN", "FRA", ""]))
    assert cls[0] == cls[1] != cls[2] and cls[3] == cls[4] == 0
    gwc = pol.gateways.country
    assert set(gwc[classes[cls[0]]]) == {"IND"}
    assert set(gwc[classes[cls[2]]]) == {"JPN"}
    assert "SGP" not in set(gwc[classes[0]]) and len(classes[0]) == (gwc != "SGP").sum()


# ----------------------------------------------------------------------------- allow-lists
def test_allow_list_serves_exactly_the_listed_terminals(run, tmp_path):
    t = terminals("bangkok", "chiang_mai", "phuket", "khon_kaen", "yangon", "tokyo")
    base = run({}, t)
    assert (base.served_fraction > 0).all()
    listed = ["bangkok", "phuket", "tokyo"]  # tokyo is not Thai: the THA list must not touch it
    res = run({"allow_lists": {"THA": listed}}, t)
    for tid in ("chiang_mai", "khon_kaen"):
        assert not served_steps(res, tid).any(), tid
        assert res.block_reason[col(res, tid)] == "not on the THA allow-list"
    for tid in ("bangkok", "phuket", "yangon", "tokyo"):
        k = col(res, tid)
        assert res.block_reason[k] == ""
        np.testing.assert_array_equal(res.gateway[:, k], base.gateway[:, k])
        np.testing.assert_array_equal(res.rtt_ms[:, k], base.rtt_ms[:, k])
    # The same list as a terminals CSV, relative to the policy file.
    (tmp_path / "allow.csv").write_text(
        "terminal_id,latitude_deg,longitude_deg\nbangkok,13.756,100.502\nphuket,7.88,98.392\n"
    )
    pol = tmp_path / "p.toml"
    pol.write_text('[allow_lists]\nTHA = "allow.csv"\n')
    res2 = run(load_policy(pol), t)
    np.testing.assert_array_equal(res2.served, res.served)


def test_allow_list_csv_with_ids_only(tmp_path):
    (tmp_path / "allow.csv").write_text("terminal_id\nbangkok\nphuket\n")
    pol = parse_policy({"allow_lists": {"THA": "allow.csv"}}, base_dir=tmp_path)
    assert pol.allow_lists["THA"] == {"bangkok", "phuket"}


# ----------------------------------------------------------------------------- compare
def test_compare_policy_with_itself_shows_no_change(run):
    t = terminals("delhi", "nagpur", "amritsar", "karachi", "dhaka", "taipei")
    pol = load_policy(EXAMPLES / "india_landing_rights.toml")
    a, b = run(pol, t), run(pol, t)
    d = compare(a, b)
    assert set(d["country"]) == {"IND", "PAK", "BGD", "TWN"}
    assert (d["served_share_change"] == 0).all()
    assert (d["served_share_a"] > 0).all()
    assert list(d["landing_a"]) == list(d["landing_b"])
    assert (d["median_rtt_pop_ms_change"] == 0).all()
    assert (d["median_rtt_gateway_ms_change"] == 0).all()
    assert list(d["pops_a"]) == list(d["pops_b"])


def test_compare_not_activated_changes_only_that_country(run):
    t = terminals("taipei", "kaohsiung", "tokyo", "osaka", "manila")
    a = run({}, t)
    b = run({"countries": {"TWN": "not_activated"}}, t)
    d = compare(a, b)
    rows = {c: i for i, c in enumerate(d["country"])}
    assert set(rows) == {"TWN", "JPN", "PHL"}
    i = rows["TWN"]
    assert d["served_share_a"][i] > 0 and d["served_share_b"][i] == 0
    assert d["served_share_change"][i] == pytest.approx(-d["served_share_a"][i])
    assert d["landing_a"][i] != "" and d["landing_b"][i] == ""
    for c in ("JPN", "PHL"):
        j = rows[c]
        assert d["served_share_change"][j] == 0
        assert d["median_rtt_pop_ms_change"][j] == 0
        assert d["median_rtt_gateway_ms_change"][j] == 0
        assert d["landing_a"][j] == d["landing_b"][j] != ""


# ----------------------------------------------------------------------------- RTT geometry
@pytest.fixture(scope="module")
def bent_pipe_net():
    return build_network(parse_scenario({**SCENARIO, "links": {"isl": "none"}}))


GW = (39.0, -98.0)  # Kansas


def _ecef_and_enu(lat, lon):
    pyproj = pytest.importorskip("pyproj")
    to_ecef = pyproj.Transformer.from_crs(
        "+proj=longlat +ellps=WGS72 +no_defs",
        "+proj=geocent +ellps=WGS72 +units=m +no_defs",
        always_xy=True,
    )
    enu = pyproj.Transformer.from_pipeline(
        f"+proj=topocentric +ellps=WGS72 +lat_0={lat} +lon_0={lon} +h_0=0"
    )
    return np.array(to_ecef.transform(lon, lat, 0.0)), enu


def _elevation_deg(enu, sat_xyz):
    e, n, u = enu.transform(sat_xyz[:, 0], sat_xyz[:, 1], sat_xyz[:, 2])
    return np.degrees(np.arctan2(u, np.hypot(e, n)))


def test_rtt_matches_hand_geometry_bent_pipe(bent_pipe_net, t_s):
    net = bent_pipe_net
    assert len(net.isl_pairs) == 0 and net.ellipsoid.name == "WGS72"
    term_min_el, gw_min_el = 25.0, 35.0
    pol = parse_policy(
        {
            "min_elevation_deg": term_min_el,
            "gateways": {
                "builtin": "none",
                "min_elevation_deg": gw_min_el,
                "add": [
                    {"name": "gw", "latitude_deg": GW[0], "longitude_deg": GW[1], "country": "USA"}
                ],
            },
        }
    )
    east = destination(*GW, 90.0, 80.0)
    far = destination(*GW, 90.0, 1200.0)  # the elevation limits bind: best satellite is low
    t = terminals(at_gateway=(*GW, "USA"), east_80km=(*east, "USA"), east_1200km=(*far, "USA"))
    res = evaluate(net, pol, t, t_s)
    assert (res.gateway[res.served] == 0).all()

    sats = Orbits(net.constellation.satrecs).ecef_m(net.start, t_s)
    g_pos, g_enu = _ecef_and_enu(*GW)
    for k, (lat, lon) in enumerate(zip(t.latitude_deg, t.longitude_deg, strict=True)):
        t_pos, t_enu = _ecef_and_enu(lat, lon)
        expected = np.full((len(t_s), 3), np.inf)
        for i in range(len(t_s)):
            s = sats[i]
            el_t, el_g = _elevation_deg(t_enu, s), _elevation_deg(g_enu, s)
            length = np.linalg.norm(s - t_pos, axis=1) + np.linalg.norm(s - g_pos, axis=1)
            rtt = 2 * length / SPEED_OF_LIGHT_M_S * 1e3
            for j, (lim_t, lim_g) in enumerate(
                [(term_min_el, gw_min_el), (term_min_el, term_min_el), (gw_min_el, gw_min_el)]
            ):
                ok = (el_t >= lim_t) & (el_g >= lim_g)
                expected[i, j] = rtt[ok].min() if ok.any() else np.inf
        want = expected[:, 0]
        np.testing.assert_array_equal(res.served[:, k], np.isfinite(want))
        np.testing.assert_allclose(
            res.rtt_ms[np.isfinite(want), k], want[np.isfinite(want)], rtol=1e-6
        )
        assert np.isfinite(want).sum() >= len(t_s) // 2
        if k == 2:  # each elevation limit changes the answer at some step: both are tested
            assert (expected[:, 1] != want).any() and (expected[:, 2] != want).any()
    # At the gateway itself up- and down-link are one and the same range: RTT = 4 r / c.
    assert np.nanmin(res.rtt_ms[:, 0]) >= 4 * 550e3 / SPEED_OF_LIGHT_M_S * 1e3 * 0.98


def test_lasers_never_lengthen_the_path(net, bent_pipe_net, t_s):
    """With lasers every bent-pipe path is still available: RTT(isl) <= RTT(bent pipe)."""
    pol = parse_policy({})
    t = terminals("tokyo", "kyiv", "bangkok", "delhi", "manila")
    bp = evaluate(bent_pipe_net, pol, t, t_s)
    isl = evaluate(net, pol, t, t_s)
    assert (isl.served | ~bp.served).all()
    both = bp.served & isl.served
    assert both.any()
    assert (isl.rtt_ms[both] <= bp.rtt_ms[both] * (1 + 1e-6)).all()


def test_rtt_is_at_least_the_straight_line(run):
    """The one-way path terminal -> gateway is no shorter than the chord between them, nor
    than the climb to the satellites (>= 540 km) and back."""
    t = terminals("tokyo", "kyiv", "bangkok", "delhi", "manila", "taipei")
    pol = parse_policy({})
    res = run(pol, t)
    gw = pol.gateways
    g_lat, g_lon = gw.latitude_deg[res.gateway], gw.longitude_deg[res.gateway]
    for k in range(len(t)):
        for i in np.flatnonzero(res.served[:, k]):
            d = haversine_km(t.latitude_deg[k], t.longitude_deg[k], g_lat[i, k], g_lon[i, k])
            chord_m = 2 * R_MEAN_KM * 1e3 * math.sin(d / (2 * R_MEAN_KM))
            one_way_m = res.rtt_ms[i, k] / 2e3 * SPEED_OF_LIGHT_M_S
            assert one_way_m >= max(0.999 * chord_m, 2 * 540e3)


# ----------------------------------------------------------------------------- bad input
BAD = [
    ({"countries": {"XXX": "active"}}, "countries.XXX", "unknown country code 'XXX'"),
    (
        {"exclusion_zones": [{"name": "p", "polygon": [[0, 0], [1, 0], [1, 1], [0, 1]]}]},
        "exclusion_zones[0].polygon",
        "does not close",
    ),
    (
        {"exclusion_zones": [{"name": "c", "region": "crimia"}]},
        "exclusion_zones[0].region",
        "did you mean crimea",
    ),
    (
        {"landing_rights": {"IND": ["IND"]}, "gateways": {"at_pops": False}},
        "landing_rights.IND",
        "no usable gateway in IND",
    ),
    ({"landing_right": {"IND": ["IND"]}}, "landing_right", "did you mean landing_rights"),
    ({"countries": {"TWN": "activ"}}, "countries.TWN", "not_activated"),
    ({"default_state": "off"}, "default_state", "sanctioned_but_active"),
    ({"landing_rights": {"TWN": ["JAP"]}}, "landing_rights.TWN", "JPN"),
    ({"landing_rights": {"UKR": []}}, "landing_rights.UKR", "no gateway country"),
    (
        {"forbidden_gateway_countries": ["TUR"], "landing_rights": {"UKR": ["TUR"]}},
        "landing_rights.UKR",
        "no usable gateway in TUR",
    ),
    ({"forbidden_gateway_countries": ["QQQ"]}, "forbidden_gateway_countries", "'QQQ'"),
    ({"allow_lists": {"XYZ": ["a"]}}, "allow_lists.XYZ", "'XYZ'"),
    (
        {"exclusion_zones": [{"name": "b", "country": "INDIA", "border_buffer_km": 50}]},
        "exclusion_zones[0].country",
        "IND (India)",
    ),
    (
        {
            "gateways": {
                "add": [{"name": "x", "latitude_deg": 1, "longitude_deg": 2, "country": "ZZZ"}]
            }
        },
        "gateways.add[0].country",
        "'ZZZ'",
    ),
    (
        {"exclusion_zones": [{"name": "z", "region": "crimea", "point": [1, 2], "radius_km": 3}]},
        "exclusion_zones[0]",
        "exactly one of",
    ),
    ({"exclusion_zones": [{"name": "z", "point": [1, 2]}]}, "exclusion_zones[0]", "radius_km"),
    (
        {"exclusion_zones": [{"name": "z", "point": [100, 2], "radius_km": 5}]},
        "exclusion_zones[0]",
        "latitude_deg",
    ),
    (
        {"exclusion_zones": [{"name": "z", "point": [10, 2], "radius_km": -5}]},
        "exclusion_zones[0].radius_km",
        "greater than 0",
    ),
    (
        {"exclusion_zones": [{"name": "z", "polygon": [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]}]},
        "exclusion_zones[0].polygon",
        "not valid",
    ),
    (
        {"exclusion_zones": [{"name": "z", "regoin": "crimea"}]},
        "exclusion_zones[0].regoin",
        "did you mean region",
    ),
    ({"gateways": {"builtin": "none"}}, "gateways", "no gateways"),
    ({"min_elevation_deg": 95}, "min_elevation_deg", "less than 90"),
]


@pytest.mark.parametrize(("data", "key", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_policy_names_the_key(data, key, words):
    with pytest.raises(InputError) as exc:
        parse_policy(data, source="p.toml")
    assert exc.value.key == key
    assert exc.value.source == "p.toml"
    assert words in exc.value.message
    assert str(exc.value).startswith(f"p.toml: [{key}] ")
    assert "\n" not in str(exc.value)


def test_load_policy_names_the_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[countries]\nTWN = "active"\nXXX = "active"\n')
    with pytest.raises(InputError) as exc:
        load_policy(p)
    assert exc.value.source == str(p) and exc.value.key == "countries.XXX"
    p.write_text("[countries\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_policy(p)
    with pytest.raises(InputError, match="not found"):
        load_policy(tmp_path / "missing.toml")


EXAMPLE_POLICIES = sorted(p for p in EXAMPLES.glob("*.toml") if not p.name.startswith("scenario_"))


@pytest.mark.parametrize("path", EXAMPLE_POLICIES, ids=lambda p: p.name)
def test_example_policies_load(path):
    assert load_policy(path).name


# Lower-case codes pass validation (Borders.validate_code upper-cases them) but the policy keeps
# the raw string, which then matches no terminal or gateway.  Acceptable behaviours: reject the
# code with an InputError naming its key, or honour it as upper case.  Each case checks that.
LOWER_CASE = {
    "countries": (
        {"countries": {"twn": "not_activated"}},
        "countries.twn",
        "taipei",
        lambda res, base: not res.served.any(),
    ),
    "allow_lists": (
        {"allow_lists": {"tha": ["nobody"]}},
        "allow_lists.tha",
        "bangkok",
        lambda res, base: not res.served.any(),
    ),
    "forbidden": (
        None,  # built from the countries Taipei lands in without a policy
        "forbidden_gateway_countries",
        "taipei",
        lambda res, base: not landing_countries(res, "taipei") & landing_countries(base, "taipei"),
    ),
    "landing_rights-key": (
        {"landing_rights": {"ind": ["JPN"]}},
        "landing_rights.ind",
        "nagpur",
        lambda res, base: landing_countries(res, "nagpur") <= {"JPN"},
    ),
    "gateways.add-country": (
        {
            "gateways": {"add": [{**INDIA_GATEWAYS["add"][0], "country": "ind"}]},
            "landing_rights": {"IND": ["IND"]},
        },
        "gateways.add[0].country",
        "nagpur",
        lambda res, base: landing_countries(res, "nagpur") == {"IND"},
    ),
}


@pytest.mark.parametrize("case", list(LOWER_CASE))
def test_lower_case_codes_are_rejected_or_honoured(run, case):
    data, key, tid, effect_ok = LOWER_CASE[case]
    t = terminals(tid)
    base = run({}, t)
    assert base.served.any()
    if data is None:
        data = {"forbidden_gateway_countries": [c.lower() for c in landing_countries(base, tid)]}
    try:
        pol = parse_policy(data)
    except InputError as exc:
        assert exc.key == key  # rejecting the code is fine, if the message names it
        return
    assert effect_ok(run(pol, t), base)
