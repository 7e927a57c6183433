"""``leosim report`` on the output of every shipped example opens in headless Chromium (Debian's
``chromium``, Playwright) with every non-loopback request failing and no console error.

Each example scenario runs with its own command (``run`` for examples/routing, ``policy
evaluate`` with its country's policies and ``policy compare`` of the first two for
examples/policy, ``capacity`` with the policy its usage line names for examples/capacity) on
a copy shortened to three time steps (the physics and the files are the same, only fewer
steps).  Skipped when Chromium or Playwright is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def _commands() -> list[tuple[str, Path, list[list[str]]]]:
    """(id, scenario, argument lists after the scenario) of every example scenario."""
    out = []
    for sc in sorted((EXAMPLES / "routing").glob("*.toml")):
        out.append((f"run-{sc.stem}", sc, [["run"]]))
    for sc in sorted((EXAMPLES / "capacity").glob("*.toml")):
        m = re.search(r"leosim capacity \S+ --policy (\S+)", sc.read_text())
        extra = ["--policy", str(ROOT / m.group(1))] if m else []
        out.append((f"capacity-{sc.stem}", sc, [["capacity", *extra]]))
    for sc in sorted((EXAMPLES / "policy").glob("scenario_*.toml")):
        country = sc.stem.removeprefix("scenario_")
        pols = sorted((EXAMPLES / "policy").glob(f"{country}_*.toml"))
        assert pols, f"no policy for {sc.name}"
        evaluate = ["policy", "evaluate"] + [x for p in pols for x in ("--policy", str(p))]
        out.append((f"evaluate-{sc.stem}", sc, [evaluate]))
        if len(pols) >= 2:
            out.append((f"compare-{sc.stem}", sc, [["policy", "compare", *map(str, pols[:2])]]))
    return out


COMMANDS = _commands()


def test_every_example_scenario_is_covered():
    scenarios = {sc for _, sc, _ in COMMANDS}
    shipped = {
        p
        for p in EXAMPLES.rglob("*.toml")
        if "scenario" in p.name or p.parent.name in ("routing", "capacity")
    }
    assert scenarios == shipped


def _short_copy(scenario: Path, folder: Path) -> Path:
    """The scenario with its window cut to three steps of 60 s (nothing else changed)."""
    text = scenario.read_text()
    text, n1 = re.subn(r"(?m)^duration_s\s*=\s*[0-9.e+]+", "duration_s = 120", text)
    text, n2 = re.subn(r"(?m)^step_s\s*=\s*[0-9.e+]+", "step_s = 60", text)
    assert n1 == 1 and n2 == 1, f"{scenario}: expected one duration_s and one step_s"
    out = folder / scenario.name
    out.write_text(text)
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize(("name", "scenario", "commands"), COMMANDS, ids=[c[0] for c in COMMANDS])
def test_example_report_opens_offline_without_console_errors(
    browser, tmp_path, name, scenario, commands
):
    sc = _short_copy(scenario, tmp_path)
    for i, args in enumerate(commands):
        out = tmp_path / f"out{i}"
        head = args[:2] if args[0] == "policy" else args[:1]
        rest = args[len(head) :]
        cmd = [*head, str(sc), *rest, "--out", str(out), "-q"]
        for argv in (cmd, ["report", str(out)]):
            r = subprocess.run(
                [sys.executable, "-m", "leosim.cli", *argv],
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert r.returncode == 0, (argv, r.stderr[-2000:])
        report = out.with_suffix(".html")
        allow = ("data:", "blob:", report.as_uri())
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        blocked, errors = [], []

        def route(r, blocked=blocked, allow=allow):
            if r.request.url.startswith(allow):
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort("internetdisconnected")

        page.route("**/*", route)
        page.on("console", lambda m, errors=errors: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        files = json.loads((out / "manifest.json").read_text())["files"]
        pngs = [f for f in files if f.endswith(".png")]
        widths = page.evaluate("() => Array.from(document.images, (i) => i.naturalWidth)")
        assert len(widths) >= len(pngs) and all(w > 0 for w in widths), (name, widths, pngs)
        assert page.evaluate("() => document.querySelectorAll('table').length") >= 2
        assert blocked == [] and errors == [], (name, blocked, errors)
        context.close()
