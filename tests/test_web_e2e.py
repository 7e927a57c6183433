"""End to end in headless Chromium (Debian's ``chromium``, driven by Playwright): ``leosim
serve`` and ``leosim report`` pages with every non-loopback request routed to failure.

Skipped when Chromium or Playwright is absent.  Screenshots go to ``$LEOSIM_SCREENSHOTS`` when
set (``LEOSIM_SCREENSHOTS=docs`` regenerates the README's), else to the test's tmp folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")

ROOT = Path(__file__).resolve().parents[1]
POLICIES = [
    ROOT / "examples" / "policy" / "taiwan_not_activated.toml",
    ROOT / "examples" / "policy" / "taiwan_activated.toml",
]
SCENARIO = """\
name = "Starlink 550 km <Hypatia> & 100 cities"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
isl = "plus-grid"
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"]]
[time]
duration_s = 600
step_s = 10
"""
PARIS, LUANDA = 24, 66  # gids in hypatia_top_100.csv
TAIWAN_DEG = (23.7, 121.0)
# Software WebGL (SwiftShader): what a machine without a GPU has.
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def _shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("LEOSIM_SCREENSHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``leosim serve`` on a free loopback port; its URL from the line it prints."""
    d = tmp_path_factory.mktemp("serve")
    sc = d / "s.toml"
    sc.write_text(SCENARIO)
    args = [sys.executable, "-m", "leosim.cli", "serve", str(sc), "--port", "0"]
    for p in POLICIES:
        args += ["--policy", str(p)]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        url = None
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
            url = m.group(1) if m else None
        assert url is not None, f"leosim serve printed no URL (exit {proc.poll()})"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Offline:
    """A page whose every non-loopback request fails, recording console errors."""

    def __init__(self, browser, also_allow: tuple[str, ...] = ()) -> None:
        self.allow = ("http://127.0.0.1:", "data:", "blob:", *also_allow)
        self.context = browser.new_context(viewport={"width": 1400, "height": 850})
        self.page = self.context.new_page()
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route) -> None:
        url = route.request.url
        if url.startswith(self.allow):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("internetdisconnected")

    def close(self) -> None:
        self.context.close()


def _satellite(page) -> list[float]:
    return page.evaluate(
        "() => Array.from(window.leosim.cloud.__threeObjParticles"
        ".geometry.attributes.position.array.slice(0, 3))"
    )


def test_globe_slider_route_chart_and_policy_switch(server, browser, tmp_path):
    import httpx
    import numpy as np

    o = Offline(browser)
    page = o.page
    page.goto(server)
    page.wait_for_function("() => window.leosim && window.leosim.ready", timeout=120_000)
    page.wait_for_function("() => window.leosim.cloud.bounded", timeout=60_000)
    assert page.text_content("#title") == "Starlink 550 km <Hypatia> & 100 cities"  # not markup
    # Stations, gateways and the policy's PoPs are on the globe.
    pol = httpx.get(server + "api/policy", params={"index": 0}).json()
    kinds = page.evaluate("() => window.leosim.globe.pointsData().map((d) => d.kind)")
    assert kinds.count("station") == 100 and kinds.count("PoP") == len(pol["pops"]) > 50

    # The slider moves the satellites to the API's positions at that time.
    before = _satellite(page)
    page.fill("#time", "300")
    page.dispatch_event("#time", "input")
    assert "t = 300.0 s" in page.text_content("#clock")
    after = _satellite(page)
    assert before != after
    r = httpx.get(server + "api/positions", params={"t0_s": 300, "t1_s": 300, "step_s": 10})
    n = int(r.headers["x-leosim-shape"].split(",")[1])
    sat0 = page.evaluate("() => window.leosim.cloud.sats[0]")
    xyz_km = np.frombuffer(r.content, dtype="<f4").reshape(1, n, 3)[0, sat0]
    scale = 100 / 6371.0088  # the page's globe: radius 100 = the mean Earth radius
    want = [xyz_km[1] * scale, xyz_km[2] * scale, xyz_km[0] * scale]
    assert after == pytest.approx(want, abs=1e-3)

    # Pick two stations: the route is drawn and the chart shows its RTT.
    page.select_option("#src", str(PARIS))
    page.select_option("#dst", str(LUANDA))
    page.wait_for_function(
        "() => Number(document.getElementById('rtt-chart').dataset.points) > 0", timeout=60_000
    )
    assert page.evaluate("() => window.leosim.globe.pathsData().length") == 1
    route = httpx.get(
        server + "api/route",
        params={"src": PARIS, "dst": LUANDA, "t0_s": 300, "t1_s": 300, "step_s": 10},
    ).json()
    shown = page.text_content("#route-status")
    assert "Paris → Luanda" in shown and f"RTT {route['steps'][0]['rtt_ms']:.2f} ms" in shown
    yellow = page.evaluate(
        """() => { const c = document.getElementById('rtt-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i+1] > 200 && d[i+2] < 80) n++;
        return n; }"""
    )
    assert yellow > 100  # the RTT line is drawn
    page.evaluate("() => window.leosim.globe.pointOfView({lat: 20, lng: 10, altitude: 2.4}, 0)")
    time.sleep(1.0)
    page.screenshot(path=str(_shots(tmp_path) / "serve-route.png"))

    # Switch the policy: Taiwan turns from "not activated" to "active" on the map.
    colours = page.evaluate("() => window.leosim.colours")
    taiwan = f"window.leosim.mapColourAt({TAIWAN_DEG[0]}, {TAIWAN_DEG[1]})"
    assert page.evaluate(f"() => {taiwan}") == colours["not_activated"]
    assert "TWN" in page.text_content("#policy-summary")
    page.select_option("#policy", "1")
    page.wait_for_function(f"() => {taiwan} === '{colours['active']}'", timeout=30_000)
    assert "TWN" not in page.text_content("#policy-summary")
    # Its hypothetical PoP (the file's [[pops.add]]) is drawn apart from the real ones.
    added = [x["code"] for x in tomllib.loads(POLICIES[1].read_text())["pops"]["add"]]
    hyp = page.evaluate(
        "() => window.leosim.globe.pointsData().filter((d) => d.kind === 'hypothetical PoP')"
        ".map((d) => [d.code, window.leosim.globe.pointColor()(d)])"
    )
    pc = page.evaluate("() => window.leosim.pointColours")
    assert (
        hyp == [[c, pc["hypothetical PoP"]] for c in added] and pc["PoP"] != pc["hypothetical PoP"]
    )
    page.select_option("#policy", "0")
    page.wait_for_function(f"() => {taiwan} === '{colours['not_activated']}'", timeout=30_000)
    # What-if: A (Taiwan not activated) against B (activated): the table lists Taiwan, served
    # under B only (the policy files say so), and every country whose service the API says
    # changes; the difference map turns Taiwan from the policy's red to the "better" end.
    page.select_option("#policy-b", "1")
    page.wait_for_function("() => window.leosim.compare !== null", timeout=120_000)
    q = page.evaluate("() => window.leosim.compare.query")
    api = {r["country"]: r for r in httpx.get(server + "api/compare?" + q).json()["countries"]}
    tw = api["TWN"]
    assert tw["served_share_a"] == 0 and tw["served_share_b"] > 0.9
    cells = page.locator('#whatif tr[data-code="TWN"] td').all_inner_texts()
    assert cells[1:3] == ["not activated → active", f"0.0 → {100 * tw['served_share_b']:.1f}"]

    def moved(r) -> bool:
        a, b = r["median_rtt_pop_ms_a"], r["median_rtt_pop_ms_b"]
        rtt = (a is None) != (b is None) or (a is not None and abs(b - a) >= 0.05)
        return abs(r["served_share_change"]) >= 0.0005 or rtt

    listed = page.evaluate(
        "() => Array.from(document.querySelectorAll('#whatif tr[data-code]'), (r) => r.dataset.code)"
    )
    assert listed[0] == "TWN" and set(listed) == {"TWN"} | {c for c, r in api.items() if moved(r)}
    ramp = page.evaluate("() => window.leosim.diffRamp")
    version = page.evaluate("() => window.leosim.mapVersion")
    page.select_option("#layer", "whatif-served")
    page.wait_for_function(f"() => window.leosim.mapVersion > {version}", timeout=30_000)
    assert page.evaluate(f"() => {taiwan}") == ramp[-1]  # +75..100 %
    assert api["FRA"]["served_share_change"] == 0
    assert page.evaluate("() => window.leosim.mapColourAt(46.5, 2.5)") == ramp[len(ramp) // 2]
    assert "served share" in page.text_content("#coverage-legend")
    page.evaluate(
        f"() => window.leosim.globe.pointOfView({{lat: {TAIWAN_DEG[0]}, lng: {TAIWAN_DEG[1]},"
        " altitude: 1.6}, 0)"
    )
    time.sleep(1.0)
    page.screenshot(path=str(_shots(tmp_path) / "serve-whatif.png"))
    # RTT to the PoP: Taiwan has none under A, so no difference to colour.
    page.select_option("#layer", "whatif-rtt")
    no_data = page.evaluate("() => window.leosim.noDataColour")
    page.wait_for_function(f"() => {taiwan} === '{no_data}'", timeout=30_000)
    page.select_option("#layer", "policy")
    page.wait_for_function(f"() => {taiwan} === '{colours['not_activated']}'", timeout=30_000)
    page.evaluate(
        f"() => window.leosim.globe.pointOfView({{lat: {TAIWAN_DEG[0]}, lng: {TAIWAN_DEG[1]},"
        " altitude: 0.9}, 0)"
    )
    time.sleep(1.0)
    page.screenshot(path=str(_shots(tmp_path) / "serve-policy.png"))

    assert o.blocked == [], o.blocked
    assert o.errors == [], o.errors
    o.close()


def test_lasers_and_coverage_layer(server, browser, tmp_path):
    import httpx
    import numpy as np

    from leosim.links import usable_isls
    from leosim.orbits import Orbits
    from leosim.scenario import load_scenario
    from leosim.simulate import build_network

    o = Offline(browser)
    page = o.page
    page.goto(server)
    page.wait_for_function("() => window.leosim && window.leosim.ready", timeout=120_000)
    page.wait_for_function("() => window.leosim.cloud.bounded", timeout=60_000)
    # Software WebGL: playing renders half the pixels each way, pausing restores them.
    width = "() => window.leosim.globe.renderer().domElement.width"
    full = page.evaluate(width)
    page.click("#play")
    assert page.evaluate(width) == pytest.approx(full / 2, abs=1)
    page.click("#play")
    assert page.evaluate(width) == full
    page.fill("#time", "300")
    page.dispatch_event("#time", "input")
    assert page.evaluate("() => window.leosim.laserCount") == 0

    # Lasers on: one segment per usable laser at t = 300 s, counted here by leosim.links on
    # the scenario's own network (float64 SGP4), not by the page.
    page.check("#lasers")
    page.wait_for_function("() => window.leosim.laserCount > 0", timeout=30_000)
    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO)
    net = build_network(load_scenario(sc))
    pos_m = Orbits.from_constellation(net.constellation, dut1_s=net.dut1_s).ecef_m(
        net.start, [300.0]
    )
    want = usable_isls(pos_m[0], net.isl_pairs, net.isl_max_length_m)
    drawn = page.evaluate(
        """() => { const o = window.leosim.laserObj;
        return [o.visible, o.geometry.drawRange.count,
                Array.from(o.geometry.attributes.position.array.slice(0, 6))]; }"""
    )
    assert drawn[0] and drawn[1] == 2 * len(want.pairs)
    # The first segment joins two satellites of a usable laser, at their drawn positions.
    pts = page.evaluate(
        "() => { const s = window.leosim.cloud; return [Array.from(s.sats),"
        " Array.from(s.__threeObjParticles.geometry.attributes.position.array)]; }"
    )
    sat_xyz = np.array(pts[1]).reshape(-1, 3)[np.argsort(pts[0])]
    a, b = np.array(drawn[2]).reshape(2, 3)
    ia = int(np.argmin(np.linalg.norm(sat_xyz - a, axis=1)))
    ib = int(np.argmin(np.linalg.norm(sat_xyz - b, axis=1)))
    assert np.allclose(sat_xyz[ia], a, atol=1e-4) and np.allclose(sat_xyz[ib], b, atol=1e-4)
    assert tuple(sorted((ia, ib))) in {tuple(p) for p in want.pairs.tolist()}
    page.screenshot(path=str(_shots(tmp_path) / "serve-lasers.png"))
    page.uncheck("#lasers")
    page.wait_for_function("() => !window.leosim.laserObj.visible", timeout=10_000)

    # Coverage layer: the texture shows the API's values cell by cell (the page's own
    # query, fetched again here), instead of the policy's colours.
    taiwan = f"window.leosim.mapColourAt({TAIWAN_DEG[0]}, {TAIWAN_DEG[1]})"
    colours = page.evaluate("() => window.leosim.colours")
    assert page.evaluate(f"() => {taiwan}") == colours["not_activated"]
    for layer, key in (("served", "served_fraction"), ("visible", "mean_visible")):
        version = page.evaluate("() => window.leosim.mapVersion")
        page.select_option("#layer", layer)
        page.wait_for_function(f"() => window.leosim.mapVersion > {version}", timeout=60_000)
        cov = page.evaluate("() => window.leosim.coverage")
        q = page.evaluate("() => window.leosim.coverageQuery")
        assert "policy=0" in q and cov == httpx.get(server + "api/coverage?" + q).json()
        lat, lon, v = (np.array(cov[k]) for k in ("latitude_deg", "longitude_deg", key))
        assert v.min() == 0 and v.max() > 0.9  # the poles see nothing, the tropics do
        sample = np.linspace(0, len(lat) - 1, 80).astype(int)
        got = page.evaluate(
            "([layer, cells]) => cells.map(([la, lo, v]) =>"
            " [window.leosim.mapColourAt(la, lo), window.leosim.coverageColour(layer, v)])",
            [layer, [[float(lat[i]), float(lon[i]), float(v[i])] for i in sample]],
        )
        same = sum(a == b for a, b in got)
        assert same >= 0.85 * len(got), got  # a border line may cross a cell's centre
        assert len({b for _, b in got}) >= (2 if layer == "served" else 4)  # classes drawn
        assert page.evaluate(f"() => {taiwan}") not in colours.values()
    page.screenshot(path=str(_shots(tmp_path) / "serve-coverage.png"))

    # A superseded request is aborted: a second route asked while the first is in flight.
    tokyo = next(
        x["gid"] for x in httpx.get(server + "api/stations").json() if x["name"] == "Tokyo"
    )
    before = page.evaluate("() => window.leosim.aborted")
    page.evaluate(
        f"""() => {{ const s = document.getElementById('src'), d = document.getElementById('dst');
        s.value = '{PARIS}'; d.value = '{LUANDA}'; loadRoute();
        d.value = '{tokyo}'; loadRoute(); }}"""
    )
    page.wait_for_function(
        f"() => window.leosim.route && window.leosim.route.dst.gid === {tokyo}", timeout=60_000
    )
    assert page.evaluate("() => window.leosim.aborted") == before + 1
    assert "Paris → Tokyo" in page.text_content("#route-status")
    page.select_option("#layer", "policy")
    page.wait_for_function(f"() => {taiwan} === '{colours['not_activated']}'", timeout=30_000)
    assert o.blocked == [], o.blocked
    assert o.errors == [], o.errors
    o.close()


def test_report_opens_offline_without_console_errors(browser, tmp_path):
    sc = tmp_path / "s.toml"
    sc.write_text(SCENARIO.replace("duration_s = 600", "duration_s = 20"))
    out = tmp_path / "out"
    for args in (("run", sc, "--out", out, "-q"), ("report", out)):
        r = subprocess.run(
            [sys.executable, "-m", "leosim.cli", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
    report = (tmp_path / "out.html").as_uri()
    o = Offline(browser, also_allow=(report,))  # the file itself, nothing else
    o.page.goto(report)
    import json

    csvs = [
        n for n in json.loads((out / "manifest.json").read_text())["files"] if n.endswith(".csv")
    ]
    tables = o.page.evaluate("() => document.querySelectorAll('table').length")
    assert tables == 1 + len(csvs)  # the file list and every CSV
    widths = o.page.evaluate("() => Array.from(document.images, (i) => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths)
    assert o.page.evaluate("() => document.querySelectorAll('script').length") == 0
    assert o.blocked == [] and o.errors == [], (o.blocked, o.errors)
    o.close()
