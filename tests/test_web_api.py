"""The web API of ``leosim serve`` (FastAPI TestClient): positions against sgp4 itself, routes
against ``leosim run``, the policy against its TOML file, bad requests as 4xx, and a fuzz of
the OpenAPI spec with schemathesis."""

from __future__ import annotations

import csv
import datetime as dt
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "policy"
STATIONS_CSV = ROOT / "src" / "leosim" / "data" / "hypatia_top_100.csv"

SCENARIO = """\
name = "web-api"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
isl = "plus-grid"
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"], ["Manila", "Dalian"]]
[time]
duration_s = 3
step_s = 1
"""
POLICIES = [EXAMPLES / "taiwan_not_activated.toml", EXAMPLES / "ukraine_crimea_excluded.toml"]


@pytest.fixture(scope="module")
def scenario_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("web") / "s.toml"
    p.write_text(SCENARIO)
    return p


@pytest.fixture(scope="module")
def model(scenario_file):
    from leosim.borders import Borders
    from leosim.policy import load_policy
    from leosim.scenario import load_scenario
    from leosim.web.data import WebModel

    b = Borders.default()
    return WebModel.build(
        load_scenario(scenario_file), [load_policy(p, borders=b) for p in POLICIES]
    )


@pytest.fixture(scope="module")
def client(model):
    from leosim.web.app import create_app

    return TestClient(create_app(model))


def _positions(client, t0_s, t1_s, step_s) -> np.ndarray:
    r = client.get("/api/positions", params={"t0_s": t0_s, "t1_s": t1_s, "step_s": step_s})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    shape = tuple(int(x) for x in r.headers["x-leosim-shape"].split(","))
    assert r.headers["x-leosim-dtype"] == "float32-le"
    return np.frombuffer(r.content, dtype="<f4").reshape(shape)


def test_positions_match_sgp4_and_skyfield_teme_to_itrf(client, model, tmp_path):
    """Positions = sgp4 on the exported TLEs, rotated to ITRF by skyfield's TEME_to_ITRF."""
    from sgp4.api import WGS72, Satrec, jday
    from skyfield.sgp4lib import TEME_to_ITRF

    info = client.get("/api/info").json()
    pos = _positions(client, 10.0, 70.0, 30.0)
    assert pos.shape == (3, info["num_sats"], 3)
    tle = tmp_path / "c.tle"
    model.network.constellation.write_tle(tle)
    lines = tle.read_text().splitlines()
    start = dt.datetime.fromisoformat(info["start_utc"].replace("Z", "+00:00"))
    for i in (0, 17, 791, info["num_sats"] - 1):
        sat = Satrec.twoline2rv(lines[3 * i + 1], lines[3 * i + 2], WGS72)
        for k, t in enumerate((10.0, 40.0, 70.0)):
            when = start + dt.timedelta(seconds=t)
            jd, fr = jday(when.year, when.month, when.day, when.hour, when.minute, when.second)
            err, r, v = sat.sgp4(jd, fr)
            assert err == 0
            itrf, _ = TEME_to_ITRF(jd, np.array(r), np.array(v), fraction_ut1=fr)
            # float32 km: 0.5 m resolution at 7,000 km
            assert np.max(np.abs(pos[k, i] - itrf)) < 2e-3, (i, t)


def test_positions_window_is_inclusive_and_interpolates_nothing(client):
    one = _positions(client, 5.0, 5.0, 1.0)
    three = _positions(client, 3.0, 5.0, 1.0)
    assert one.shape[0] == 1 and three.shape[0] == 3
    np.testing.assert_array_equal(one[0], three[2])


@pytest.fixture(scope="module")
def run_routes(scenario_file, tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("run") / "out"
    r = subprocess.run(
        [sys.executable, "-m", "leosim.cli", "run", str(scenario_file), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    with open(out / "routes.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize(("src", "dst"), [("Paris", "Luanda"), ("Manila", "Dalian")])
def test_route_rtt_and_path_equal_leosim_run(client, run_routes, src, dst):
    names = {row["name"]: row["gid"] for row in csv.DictReader(STATIONS_CSV.open())}
    r = client.get("/api/route", params={"src": src, "dst": dst, "t0_s": 0, "t1_s": 2, "step_s": 1})
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["src"]["name"] == src and ans["dst"]["name"] == dst
    rows = [x for x in run_routes if x["src"] == names[src] and x["dst"] == names[dst]]
    assert len(rows) == len(ans["steps"]) == 3
    for row, step in zip(rows, ans["steps"], strict=True):
        assert float(row["time_s"]) == step["t_s"]
        assert step["reachable"]
        assert step["rtt_ms"] == pytest.approx(float(row["rtt_ms"]), rel=1e-10)
        assert "-".join(map(str, step["hops"])) == row["path_fwd"]
        assert "-".join(map(str, step["hops_rev"])) == row["path_rev"]
        assert step["num_isl_hops"] == int(row["num_isl_hops"])
        # The breakdown adds up (hop positions recomputed in float32 km: within 1 µs).
        assert step["radio_ms"] + step["laser_ms"] == pytest.approx(step["rtt_ms"], abs=1e-3)
        up_km = float(row["uplink_gsl_m"]) / 1e3
        assert step["path_deg_km"][0][:2] == pytest.approx(
            [float(v) for v in _station_deg(src)], abs=1e-3
        )
        assert step["radio_ms"] >= 2 * up_km / 299_792.458 * 0.999  # the uplink is in it


def _station_deg(name: str) -> tuple[str, str]:
    for row in csv.DictReader(STATIONS_CSV.open()):
        if row["name"] == name:
            return row["latitude_deg"], row["longitude_deg"]
    raise KeyError(name)


def test_route_by_gid_is_the_same_route(client):
    a = client.get("/api/route", params={"src": "Paris", "dst": "Luanda", "t1_s": 0}).json()
    b = client.get("/api/route", params={"src": "24", "dst": "66", "t1_s": 0}).json()
    assert a["steps"] == b["steps"]


def test_stations_are_the_data_file(client):
    got = client.get("/api/stations").json()
    want = list(csv.DictReader(STATIONS_CSV.open()))
    assert [s["name"] for s in got] == [w["name"] for w in want]
    assert [s["latitude_deg"] for s in got] == [float(w["latitude_deg"]) for w in want]


def test_policy_states_follow_the_policy_file(client):
    spec = tomllib.loads(POLICIES[0].read_text())
    ans = client.get("/api/policy", params={"index": 0}).json()
    assert ans["name"] == spec["name"]
    for code, state in spec["countries"].items():
        assert ans["states"][code] == state
    default = spec.get("default_state", "active")
    unlisted = [c for c in ans["states"] if c not in spec["countries"]]
    assert len(unlisted) > 200 and {ans["states"][c] for c in unlisted} == {default}
    none = client.get("/api/policy", params={"index": -1}).json()
    assert set(none["states"].values()) == {"active"}


def test_policy_zones_and_gateways(client):
    import shapely
    from shapely.geometry import shape

    ans = client.get("/api/policy", params={"index": 1}).json()
    zone = shape(ans["zones"][0]["geometry"])
    assert shapely.intersects_xy(zone, 34.10, 44.95)  # Simferopol
    assert not shapely.intersects_xy(zone, 30.52, 50.45)  # Kyiv
    spec = tomllib.loads(POLICIES[1].read_text())
    added = {g["name"] for g in spec.get("gateways", {}).get("add", [])}
    assert {g["name"] for g in ans["gateways"] if g["hypothetical"]} == added


def test_countries_geojson(client):
    fc = client.get("/api/countries").json()
    codes = {f["properties"]["code"] for f in fc["features"]}
    assert {"TWN", "UKR", "FRA", "GUF"} <= codes


def test_isls_are_the_networks_plus_grid_with_its_limits(client, model):
    """The laser pairs against leosim.links.plus_grid_isls and max_isl_length_m directly."""
    from leosim.links import max_isl_length_m, plus_grid_isls

    ans = client.get("/api/isls").json()
    shell = model.network.constellation.shells[0]
    want = plus_grid_isls(shell.num_planes, shell.sats_per_plane)
    got = np.array(ans["pairs"])
    assert {tuple(p) for p in got.tolist()} == {tuple(sorted(p)) for p in want.tolist()}
    assert len(got) == 2 * ans["num_sats"]  # +Grid: 4 lasers a satellite, 2 pairs each
    limit_km = max_isl_length_m(shell.altitude_km * 1e3) / 1e3
    assert ans["max_length_km"] == pytest.approx([limit_km] * len(got), rel=1e-6)


@pytest.mark.parametrize("policy", [-1, 0])
def test_coverage_equals_leosim_coverage_computed_directly(client, model, policy):
    from leosim.coverage import coverage, equal_area_grid

    params = {"t0_s": 0, "t1_s": 600, "step_s": 120, "resolution_deg": 2, "policy": policy}
    ans = client.get("/api/coverage", params=params | {"min_elevation_deg": 30}).json()
    grid = equal_area_grid(2.0)
    want = coverage(
        model.network,
        grid,
        [0.0, 120.0, 240.0, 360.0, 480.0, 600.0],
        min_elevation_deg=30.0,
        policy=None if policy < 0 else model.policies[policy],
    )
    # A policy's own minimum elevation wins (as in leosim coverage --policy).
    spec = tomllib.loads(POLICIES[policy].read_text()) if policy >= 0 else {}
    assert ans["num_times"] == 6 and ans["min_elevation_deg"] == spec.get("min_elevation_deg", 30)
    np.testing.assert_allclose(ans["latitude_deg"], grid.latitude_deg, atol=1e-6)
    np.testing.assert_allclose(ans["longitude_deg"], grid.longitude_deg, atol=1e-6)
    np.testing.assert_allclose(ans["mean_visible"], want.mean_visible, atol=1e-6)
    np.testing.assert_array_equal(ans["min_visible"], want.min_visible)
    np.testing.assert_allclose(ans["covered_fraction"], want.covered_fraction, atol=1e-6)
    np.testing.assert_allclose(ans["served_fraction"], want.served_fraction, atol=1e-6)
    # Cells tile the sphere: each band's widths add up to 360 deg, bands to 180 deg.
    lat = np.array(ans["latitude_deg"])
    bands = np.unique(lat)
    assert len(bands) * ans["cell_height_deg"] == pytest.approx(180.0)
    widths = np.array(ans["cell_width_deg"])
    for b in bands[:: max(1, len(bands) // 5)]:
        assert widths[lat == b].sum() == pytest.approx(360.0)
    if policy == 0:  # Taiwan not activated: covered there, never served
        tw = np.flatnonzero(want.country == "TWN")
        assert len(tw) and np.all(np.array(ans["served_fraction"])[tw] == 0)
    # A 550 km shell at 53 deg: the poles see no satellite (hand check of the geometry).
    assert ans["mean_visible"][0] == 0 and ans["mean_visible"][-1] == 0
    assert max(ans["mean_visible"]) > 1


@pytest.mark.parametrize(
    "query",
    [
        "/api/coverage?resolution_deg=0.5",
        "/api/coverage?resolution_deg=nan",
        "/api/coverage?resolution_deg=31",
        "/api/coverage?min_elevation_deg=90",
        "/api/coverage?min_elevation_deg=-1",
        "/api/coverage?policy=2",
        "/api/coverage?policy=-2",
        "/api/coverage?t0_s=0&t1_s=86400&step_s=1&resolution_deg=1",
        "/api/coverage?t0_s=5&t1_s=1",
        "/api/positions?t0_s=nan",
        "/api/positions?t0_s=inf",
        "/api/positions?t0_s=abc",
        "/api/positions?step_s=0",
        "/api/positions?step_s=-1",
        "/api/positions?t0_s=10&t1_s=5",
        "/api/positions?t1_s=1e12",
        "/api/positions?t0_s=0&t1_s=86400&step_s=0.001",
        "/api/route?src=Paris",
        "/api/route?src=Paris&dst=Atlantis",
        "/api/route?src=Paris&dst=Paris",
        "/api/route?src=Paris&dst=100",
        "/api/route?src=Paris&dst=Luanda&t0_s=0&t1_s=86400&step_s=1",
        "/api/route?src=&dst=Luanda",
        "/api/policy?index=2",
        "/api/policy?index=-2",
        "/api/policy?index=x",
        "/api/evaluate?policy=2",
        "/api/evaluate?policy=-1",
        "/api/evaluate?t0_s=0&t1_s=86400&step_s=1",
        "/api/compare?a=0&b=5",
        "/api/compare?t1_s=-5",
        "/api/positions?t0=5",
        "/api/stations?format=csv",
    ],
)
def test_bad_requests_are_4xx_with_a_reason(client, query):
    r = client.get(query)
    assert 400 <= r.status_code < 500, (query, r.status_code, r.text)
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail[0]["msg"], detail


def test_too_large_window_is_refused_up_front(client, model, monkeypatch):
    import leosim.web.data as data

    called = []
    monkeypatch.setattr(type(model.orbits), "iter_ecef_m", lambda *a, **k: called.append(1))
    r = client.get("/api/positions", params={"t0_s": 0, "t1_s": 2_000_000, "step_s": 1})
    assert r.status_code == 422 and "steps is more than" in r.json()["detail"][0]["msg"]
    assert not called
    assert data.MAX_POSITION_VALUES // (3 * model.network.num_sats) < 2_000_001


def test_openapi_documents_every_endpoint(client):
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/info",
        "/api/positions",
        "/api/route",
        "/api/policy",
        "/api/stations",
        "/api/isls",
        "/api/coverage",
        "/api/evaluate",
        "/api/compare",
    } <= paths
    pos = spec["paths"]["/api/positions"]["get"]
    assert "float32" in pos["description"] and "application/octet-stream" in str(pos["responses"])


def test_page_and_bundle_are_served_without_external_references(client):
    import re

    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith(("/static/", "data:")), src
        if src.startswith("/static/"):
            assert client.get(src).status_code == 200, src
    app_js = client.get("/static/app.js").text
    assert "http://" not in app_js and "https://" not in app_js
    assert client.get("/static/LICENSES.md").status_code == 200
    # FastAPI's own /docs and /redoc pages would load their scripts from a CDN.
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404


def test_schemathesis_fuzz_finds_no_server_error(model, monkeypatch):
    """Every endpoint of the OpenAPI spec, fuzzed: no 5xx, answers conform to the spec."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import positive_data_acceptance

    import leosim.web.data as data
    from leosim.web.app import create_app

    # Small limits keep each fuzzed request cheap; the refusals are what is being fuzzed.
    monkeypatch.setattr(data, "MAX_POSITION_VALUES", 3 * model.network.num_sats * 20)
    monkeypatch.setattr(data, "MAX_ROUTE_STEPS", 5)
    monkeypatch.setattr(data, "MAX_COVERAGE_POINT_STEPS", 3_000)
    monkeypatch.setattr(data, "MAX_EVALUATE_TERMINAL_STEPS", 3 * len(model.terminals))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(model))
    failures = []

    def fuzz_one(op) -> None:
        @settings(
            max_examples=100,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,  # the same examples on every run (CI stays reproducible)
        )
        @given(case=op.as_strategy())
        def fuzz(case):
            response = case.call()
            if response.status_code >= 500:
                failures.append((op.label, case.query, response.status_code, response.text[:200]))
            # Windows valid field by field can still be refused as a whole (t1_s < t0_s, too
            # many steps): a documented 422, so positive_data_acceptance does not apply.
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

        fuzz()

    ops = [result.ok() for result in schema.get_all_operations()]
    assert len(ops) >= 8
    for op in ops:
        fuzz_one(op)
    assert not failures, failures[:5]


def _serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leosim.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_serve_bad_input_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[constellation]\npreset = "no-such-preset"\n[time]\nduration_s = 1\nstep_s = 1\n'
    )
    for args, needle in (
        ((str(tmp_path / "absent.toml"),), "absent.toml"),
        ((str(bad),), "no-such-preset"),
        (("--policy", str(tmp_path / "nope.toml")), "nope.toml"),
    ):
        r = _serve(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (args, r.stderr)
        assert lines[0].startswith("error: ") and needle in lines[0], r.stderr


def test_serve_busy_port_is_one_error_line(scenario_file):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        r = _serve(str(scenario_file), "--port", str(port))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("error: ") and f"127.0.0.1:{port}" in r.stderr, r.stderr
