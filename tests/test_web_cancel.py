"""The web API of ``leosim serve``: unknown parameters refused, long work stopped when its client
goes away (a real uvicorn server on 127.0.0.1), and the policy evaluation and what-if
comparison against ``leosim.service`` and the policy files."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
uvicorn = pytest.importorskip("uvicorn")
TestClient = pytest.importorskip("fastapi.testclient").TestClient

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "policy"
POLICIES = [EXAMPLES / "taiwan_not_activated.toml", EXAMPLES / "taiwan_activated.toml"]
SCENARIO = """\
name = "web-cancel"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
isl = "plus-grid"
gsl_cone_radius_km = 940.7
[terminals]
countries = ["TWN", "FRA", "JPN"]
n_per_country = 20
[time]
duration_s = 60
step_s = 30
"""


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from leosim.borders import Borders
    from leosim.policy import load_policy
    from leosim.scenario import load_scenario
    from leosim.web.data import WebModel

    p = tmp_path_factory.mktemp("web") / "s.toml"
    p.write_text(SCENARIO)
    b = Borders.default()
    return WebModel.build(load_scenario(p), [load_policy(x, borders=b) for x in POLICIES])


@pytest.fixture(scope="module")
def client(model):
    from leosim.web.app import create_app

    return TestClient(create_app(model))


GOOD = {
    "/api/info": {},
    "/api/positions": {"t0_s": 0, "t1_s": 0},
    "/api/route": {"src": "Paris", "dst": "Luanda"},
    "/api/isls": {},
    "/api/coverage": {"resolution_deg": 10},
    "/api/evaluate": {"policy": 0},
    "/api/compare": {"a": 0, "b": 1},
    "/api/policy": {"index": 0},
    "/api/stations": {},
    "/api/countries": {},
}


def test_every_endpoint_refuses_an_unknown_parameter_by_name(client):
    spec = client.get("/openapi.json").json()
    assert set(spec["paths"]) == set(GOOD)  # a new endpoint must be added here
    for path, params in GOOD.items():
        assert client.get(path, params=params).status_code == 200, path
        r = client.get(path, params={**params, "t0": 5, "zz_typo": "x"})
        assert r.status_code == 422, (path, r.text)
        detail = r.json()["detail"]
        names = sorted(d["loc"][-1] for d in detail)
        assert names == ["t0", "zz_typo"], detail
        assert all(repr(d["loc"][-1]) in d["msg"] for d in detail), detail
    # The page's own options (?map=, ?off=) are not API parameters.
    assert client.get("/", params={"map": 2048, "off": "atmosphere"}).status_code == 200


def test_evaluate_and_compare_follow_the_policy_files(client, model):
    from leosim.service import evaluate

    spec = [tomllib.loads(p.read_text()) for p in POLICIES]
    window = {"t0_s": 0, "t1_s": 60, "step_s": 30}
    ev = client.get("/api/evaluate", params={"policy": 0, **window}).json()
    assert ev["num_times"] == 3 and ev["num_terminals"] == 60
    rows = {r["country"]: r for r in ev["countries"]}
    assert set(rows) == {"TWN", "FRA", "JPN"}
    # Taiwan is listed as not activated in the first file: never served (the file says so).
    assert "TWN" in str(spec[0]) and rows["TWN"]["served_share"] == 0.0
    assert rows["TWN"]["median_rtt_pop_ms"] is None
    want = evaluate(
        model.network,
        model.policies[0],
        model.terminals,
        [0.0, 30.0, 60.0],
        borders=model.borders,
        latency=model.scenario.latency.model(),
    ).country_table(model.borders)
    i = list(want["country"]).index("FRA")
    assert rows["FRA"]["served_share"] == pytest.approx(want["served_share"][i])
    assert rows["FRA"]["median_rtt_pop_ms"] == pytest.approx(want["median_rtt_pop_ms"][i])

    cmp = client.get("/api/compare", params={"a": 0, "b": 1, **window}).json()
    c = {r["country"]: r for r in cmp["countries"]}
    assert cmp["a"] == model.policies[0].name and cmp["b"] == model.policies[1].name
    # Activating Taiwan: served there under B (a 53 deg shell covers 24 deg N), not under A.
    assert c["TWN"]["served_share_a"] == 0.0 and c["TWN"]["served_share_b"] > 0.9
    assert c["TWN"]["served_share_change"] == pytest.approx(c["TWN"]["served_share_b"])
    assert c["FRA"]["served_share_change"] == pytest.approx(0.0, abs=1e-12)
    for bad in ({"a": 2}, {"b": 7}, {"a": -1}, {"a": "x"}):
        r = client.get("/api/compare", params={**window, **bad})
        assert r.status_code == 422 and r.json()["detail"][0]["msg"], r.text


@pytest.fixture
def live_server(model):
    """The app on a free 127.0.0.1 port, served by uvicorn in a thread of this process (so
    the test can look at the model's work counts)."""
    from leosim.web.app import create_app

    config = uvicorn.Config(create_app(model), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not (server.started and server.servers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def _wait(cond, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def _pieces_of(model, path: str, params: dict) -> int:
    """How many pieces of work the whole request would take."""
    from leosim.coverage import equal_area_grid
    from leosim.web import data

    net = model.network
    t_s = data.window_times_s(params["t0_s"], params["t1_s"], params["step_s"])
    if path == "/api/route":
        return len(data._pieces(t_s, (net.num_sats + net.num_gs) * data.ROUTE_S_PER_NODE_STEP))
    if path == "/api/coverage":
        n = len(equal_area_grid(params["resolution_deg"])) + net.num_sats
        return len(data._pieces(t_s, n * data.COVERAGE_S_PER_VALUE_STEP, minimum=2))
    return 2 * len(t_s)  # a comparison: two evaluations, a piece a step


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/route", {"src": "Paris", "dst": "Luanda", "t0_s": 0, "t1_s": 1999, "step_s": 1}),
        ("/api/coverage", {"t0_s": 0, "t1_s": 1199, "step_s": 1, "resolution_deg": 5}),
        ("/api/compare", {"a": 0, "b": 1, "t0_s": 0, "t1_s": 2990, "step_s": 10}),
    ],
)
def test_a_request_abandoned_mid_way_stops_its_work(live_server, model, path, params):
    import socket
    from urllib.parse import urlencode, urlsplit

    w = model.work
    before = (w.started, w.cancelled, w.pieces)
    total = _pieces_of(model, path, params)
    assert total >= 100
    # The request on its own connection, closed once three pieces of its work are done.
    u = urlsplit(live_server)
    with socket.create_connection((u.hostname, u.port)) as sock:
        sock.sendall(f"GET {path}?{urlencode(params)} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert _wait(lambda: w.pieces >= before[2] + 3), "the work never started"
    assert _wait(lambda: w.cancelled == before[1] + 1 and w.running == 0), w
    stopped_at = w.pieces
    assert w.started == before[0] + 1
    assert stopped_at - before[2] < total / 2, (w, total)  # well short of the whole
    # The server answers the next request, and the abandoned work does not resume.
    r = httpx.get(live_server + "/api/route", params={"src": "Paris", "dst": "Luanda"}, timeout=60)
    assert r.status_code == 200 and r.json()["steps"][0]["reachable"]
    assert w.started == before[0] + 2 and w.finished >= 1 and w.running == 0
    assert w.pieces == stopped_at + 1  # the one-step route's own piece


def test_policy_pops_are_the_data_file_and_the_policys_additions(client):
    import csv

    with open(ROOT / "src" / "leosim" / "data" / "starlink_pops.csv", newline="") as f:
        shipped = {r["code"]: r for r in csv.DictReader(f)}
    spec = tomllib.loads(POLICIES[1].read_text())
    added = {p["code"] for p in spec["pops"]["add"]}
    assert added and not added & set(shipped)
    for index, extra in ((-1, set()), (1, added)):
        pops = client.get("/api/policy", params={"index": index}).json()["pops"]
        assert {p["code"] for p in pops} == set(shipped) | extra
        assert {p["code"] for p in pops if p["hypothetical"]} == extra
        for p in pops:
            if p["code"] in shipped:
                row = shipped[p["code"]]
                assert p["latitude_deg"] == pytest.approx(float(row["latitude_deg"]))
                assert p["country"] == row["country_adm0_a3"]
