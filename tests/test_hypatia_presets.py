"""Hypatia's inputs carry Hypatia's link rules.

``starlink-550-hypatia`` without a ground-link rule uses Hypatia's 940.7 km cone, and a TLE file
with Hypatia's ``"<planes> <sats>"`` header gets Hypatia's index-based +Grid (sid = plane x sats
+ slot).  Truth: Hypatia's own outputs in ``tests/data/hypatia/`` (RTTs of seven pairs over 20
steps) and ``tests/data/hypatia_state/isls.txt`` (satgenpy's +Grid), and the limit
sqrt(940.7^2 + 550^2) km of Hypatia's ``main_starlink_550.py``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from leosim.errors import InputError
from leosim.scenario import parse_scenario
from leosim.simulate import build_network, run_pairs
from leosim.tle import parse_tle_text, read_tle

DATA = Path(__file__).parent / "data"
HYPATIA_TLE = DATA / "hypatia" / "tles_starlink550_generated.txt"
HYPATIA_ISLS = DATA / "hypatia_state" / "isls.txt"
# Hypatia's main_starlink_550.py: MAX_GSL_LENGTH_M = sqrt(940700^2 + 550000^2).
HYPATIA_MAX_GSL_M = math.sqrt(940_700.0**2 + 550_000.0**2)


def _rows() -> list[dict[str, str]]:
    with open(DATA / "hypatia" / "starlink550_pairs_100ms_0_2s.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _scenario(constellation: dict, links: dict | None = None, **routing):
    doc = {
        "constellation": constellation,
        "ground_stations": {"builtin": "hypatia-top-100"},
        "routing": routing or {"pairs": [["Paris", "Luanda"]]},
        "time": {"times_s": [0.0]},
    }
    if links is not None:
        doc["links"] = links
    return parse_scenario(doc, source="s.toml")


def _worst_rtt_error_ms(constellation: dict, links: dict | None = None) -> float:
    """Largest |RTT - Hypatia's RTT| over Hypatia's 7 pairs x 20 steps."""
    rows = _rows()
    times_ns = sorted({int(r["time_ns"]) for r in rows})
    pairs = sorted({(int(r["src_gid"]), int(r["dst_gid"])) for r in rows})
    net = build_network(_scenario(constellation, links, pairs=[list(p) for p in pairs]))
    c = run_pairs(net, np.array(times_ns) / 1e9).columns
    got = {
        (round(float(t) * 1e9), int(s), int(d)): float(r)
        for t, s, d, r in zip(c["time_s"], c["src"], c["dst"], c["rtt_ms"], strict=True)
    }
    key = ("time_ns", "src_gid", "dst_gid")
    return max(abs(got[tuple(int(r[k]) for k in key)] - float(r["rtt_ms"])) for r in rows)


# --- the preset carries Hypatia's 940.7 km cone ----------------------------------------------


def test_hypatia_preset_without_links_uses_hypatias_cone():
    net = build_network(_scenario({"preset": "starlink-550-hypatia"}))
    assert np.allclose(net.gsl_max_range_m, HYPATIA_MAX_GSL_M, rtol=0, atol=1e-6)
    assert np.all(net.gsl_min_elevation_deg == 0.0)  # no elevation rule besides the cone


def test_hypatia_preset_without_links_routes_as_hypatia():
    assert _worst_rtt_error_ms({"preset": "starlink-550-hypatia"}) < 0.01


@pytest.mark.parametrize(
    ("links", "max_range_m", "min_el"),
    [
        ({"gsl_min_elevation_deg": 25.0}, np.inf, 25.0),
        ({"gsl_max_range_km": 1000.0}, 1.0e6, 0.0),
        ({"isl": "plus-grid", "gsl_cone_radius_km": 500.0}, math.hypot(500e3, 550e3), 0.0),
    ],
)
def test_a_scenario_rule_overrides_the_presets(links, max_range_m, min_el):
    net = build_network(_scenario({"preset": "starlink-550-hypatia"}, links))
    assert np.allclose(net.gsl_max_range_m, max_range_m, rtol=1e-12)
    assert np.all(net.gsl_min_elevation_deg == min_el)


def test_other_presets_keep_the_general_default():
    net = build_network(_scenario({"preset": "kuiper-630"}))
    assert np.all(np.isinf(net.gsl_max_range_m))
    assert np.all(net.gsl_min_elevation_deg == 25.0)


# --- a TLE file with Hypatia's header gets Hypatia's +Grid -------------------------------------


def _hypatia_isls() -> list[tuple[int, int]]:
    return [tuple(map(int, ln.split())) for ln in HYPATIA_ISLS.read_text().splitlines()]


def test_header_is_read_as_the_grid():
    assert read_tle(HYPATIA_TLE).grid == (72, 22)


def test_tle_with_hypatia_header_gets_hypatias_plus_grid():
    net = build_network(_scenario({"tle": str(HYPATIA_TLE)}))
    assert [tuple(p) for p in net.isl_pairs.tolist()] == _hypatia_isls()  # same links, same order
    assert any("header '72 22'" in n for n in net.notes)
    c = net.constellation
    assert (c.plane * 22 + c.slot == np.arange(1584)).all()


def test_tle_with_hypatia_header_routes_as_hypatia():
    assert _worst_rtt_error_ms({"tle": str(HYPATIA_TLE)}, {"gsl_cone_radius_km": 940.7}) < 0.01


def test_infer_structure_true_still_infers():
    net = build_network(_scenario({"tle": str(HYPATIA_TLE), "infer_structure": True}))
    assert any(n.startswith("catalogue structure:") for n in net.notes)
    assert not any("header" in n for n in net.notes)


def test_header_grid_needs_no_inference():
    net = build_network(_scenario({"tle": str(HYPATIA_TLE), "infer_structure": False}))
    assert len(net.isl_pairs) == 3168


def test_header_that_does_not_match_the_file_is_an_error():
    text = HYPATIA_TLE.read_text().splitlines()
    bad = "\n".join(["72 21", *text[1:]]) + "\n"
    with pytest.raises(InputError) as exc:
        parse_tle_text(bad, source="h.tle")
    msg = str(exc.value)
    assert msg.startswith("h.tle:1:") and "1512" in msg and "1584" in msg


def test_without_header_there_is_no_grid():
    text = HYPATIA_TLE.read_text().splitlines()[1:7]
    assert parse_tle_text("\n".join(text) + "\n").grid is None
