"""Benchmark: frame rate of the ``leosim serve`` globe in headless Chromium, software rendering.

Serves a scenario with the 10-shell ``starlink-2026-05`` preset (about 10,000 satellites, the
100 ``hypatia-top-100`` stations, the built-in gateways under the Taiwan example policy), one
orbit at 60 s steps, and opens the page in Debian's ``chromium`` (Playwright, SwiftShader
WebGL: what a machine without a GPU has) with a 1280 × 720 viewport.  Playing at 60× (every
satellite moves every frame, interpolated between the samples), the page's own
``requestAnimationFrame`` callback records each frame's interval; reported: frames per second
from the median and the mean interval, and the 95th-percentile interval, over ``--seconds``,
first with the satellites only, then with a route and its chart drawn, then with the lasers
on too; each stage ``--runs`` times, medians reported.  Target: >= 20 fps.

The figures depend on the CPU cores free for SwiftShader: the load average is printed too.

    uv run python benchmarks/bench_web.py [--seconds 10] [--runs 3] [--query scale=0.75]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = """\
name = "bench-web {preset}"
[constellation]
preset = "{preset}"
[ground_stations]
builtin = "hypatia-top-100"
[links]
isl = "plus-grid"
[time]
duration_s = 5700
step_s = 60
"""


def _serve(scenario: Path) -> tuple[subprocess.Popen, str]:
    policy = ROOT / "examples" / "policy" / "taiwan_activated.toml"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "leosim.cli",
            "serve",
            str(scenario),
            "--port",
            "0",
            "-p",
            str(policy),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stderr:
        m = re.search(r"serving on (http://\S+/)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit(f"leosim serve did not start (exit {proc.wait()})")


def _measure(page, seconds: float) -> dict:
    page.evaluate("() => { window.leosim.frames.length = 0; }")
    time.sleep(seconds)
    f = page.evaluate("() => window.leosim.frames.slice()")
    f.sort()
    return {
        "frames": len(f),
        "fps_median": 1000 / statistics.median(f),
        "fps_mean": 1000 / statistics.fmean(f),
        "p95_ms": f[int(0.95 * (len(f) - 1))],
    }


def _median_of(page, seconds: float, runs: int) -> dict:
    """``runs`` measurements of ``seconds`` each: the median of each figure."""
    ms = [_measure(page, seconds) for _ in range(runs)]
    out = {k: statistics.median(m[k] for m in ms) for k in ms[0]}
    out["runs"] = ", ".join(f"{m['fps_median']:.1f}" for m in ms)
    return out


def _line(label: str, m: dict) -> str:
    return (
        f"{label:<28} {m['fps_median']:6.1f} fps (median)  {m['fps_mean']:6.1f} fps (mean)  "
        f"p95 {m['p95_ms']:6.1f} ms  ({m['frames']:.0f} frames)"
        + (f"  runs: {m['runs']} fps" if "runs" in m else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--runs", type=int, default=3, help="Measurements per stage (medians).")
    ap.add_argument("--preset", default="starlink-2026-05")
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument(
        "--query", default="", help="Page options, e.g. 'off=atmosphere' or 'antialias=1'."
    )
    args = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("skipped: Debian chromium is not installed (apt-get install chromium)")
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as d:
        sc = Path(d) / "s.toml"
        sc.write_text(SCENARIO.format(preset=args.preset))
        t = time.perf_counter()
        proc, url = _serve(sc)
        print(f"server up in {time.perf_counter() - t:.1f} s: {url}")
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(
                    executable_path=chromium,
                    args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"],
                )
                page = b.new_page(viewport={"width": args.width, "height": args.height})
                t = time.perf_counter()
                page.goto(url + (f"?{args.query}" if args.query else ""))
                page.wait_for_function(
                    "() => window.leosim && window.leosim.ready", timeout=300_000
                )
                page.wait_for_function("() => window.leosim.cloud.bounded")
                print(f"page ready in {time.perf_counter() - t:.1f} s")
                info = page.evaluate(
                    "() => { const g = window.leosim.globe.renderer().getContext();"
                    " const e = g.getExtension('WEBGL_debug_renderer_info');"
                    " return [window.leosim.info.num_sats, window.leosim.n,"
                    " e ? g.getParameter(e.UNMASKED_RENDERER_WEBGL) : g.getParameter(g.RENDERER)]; }"
                )
                print(f"{info[0]:,} satellites, {info[1]} samples; WebGL renderer: {info[2]}")
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(
                    f"viewport {args.width} x {args.height}, page options {args.query!r}; "
                    f"load average {load} on {os.cpu_count()} CPUs"
                )
                page.select_option("#speed", "60")
                page.click("#play")
                time.sleep(1.0)
                print(_line("playing, satellites", _median_of(page, args.seconds, args.runs)))
                page.select_option("#src", "24")  # Paris
                page.select_option("#dst", "66")  # Luanda
                page.wait_for_function(
                    "() => Number(document.getElementById('rtt-chart').dataset.points) > 0",
                    timeout=300_000,
                )
                time.sleep(1.0)
                print(_line("playing, with a route", _median_of(page, args.seconds, args.runs)))
                page.check("#lasers")
                page.wait_for_function("() => window.leosim.laserCount > 0", timeout=300_000)
                n_isl = page.evaluate("() => window.leosim.laserCount")
                time.sleep(1.0)
                m = _median_of(page, args.seconds, args.runs)
                print(_line(f"route + {n_isl:,} lasers", m))
                b.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
