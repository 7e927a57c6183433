"""``leosim run --policy``: city pairs routed under a service policy.

Truth: the same scenario run without the policy (routes of the allowed pairs must be identical
to it), the policy's own rules applied by hand to the stations' countries, and a scenario whose
own elevation mask equals the policy's.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

from leosim.pair_policy import pair_block_reasons, restrict_pairs
from leosim.policy import parse_policy
from leosim.scenario import parse_scenario
from leosim.simulate import build_network, run_pairs

STATIONS = """\
gid,name,latitude_deg,longitude_deg,elevation_m
0,Taipei,25.033,121.565,0
1,Tokyo,35.6895,139.69171,0
2,Manila,14.6042,120.9822,0
3,Paris,48.85341,2.3488,0
4,Moskva,55.754996,37.621849,0
"""
PAIRS = [["Taipei", "Tokyo"], ["Manila", "Tokyo"], ["Paris", "Moskva"], ["Tokyo", "Paris"]]


def _scenario(tmp: Path, min_el: float = 25.0) -> str:
    (tmp / "stations.csv").write_text(STATIONS)
    pairs = ", ".join(f'["{a}", "{b}"]' for a, b in PAIRS)
    return f"""\
name = "pairs under a policy"
[constellation]
preset = "starlink-gen1"
[ground_stations]
file = "stations.csv"
[links]
gsl_min_elevation_deg = {min_el}
[routing]
pairs = [{pairs}]
[time]
duration_s = 120
step_s = 60
[output]
plot = false
"""


def _net(tmp: Path, min_el: float = 25.0):
    import tomllib

    text = _scenario(tmp, min_el)
    return build_network(parse_scenario(tomllib.loads(text), base_dir=str(tmp)))


def test_block_reasons_follow_the_policy_rules(tmp_path):
    net = _net(tmp_path)
    pol = parse_policy(
        {
            "countries": {"TWN": "not_activated"},
            "landing_rights": {"PHL": ["PHL", "TWN"]},
            "forbidden_gateway_countries": ["RUS"],
        }
    )
    why = pair_block_reasons(net.stations, net.pairs, pol).tolist()
    assert why == [
        "Taipei: not activated in TWN",
        "Manila (PHL) may land only in PHL, TWN, not in JPN",
        "Paris: traffic may not land in RUS (forbidden gateway country)",
        "",
    ]
    # An exclusion zone around Tokyo blocks every pair with Tokyo, naming the zone.
    zone = parse_policy(
        {"exclusion_zones": [{"name": "Kanto", "point": [35.7, 139.7], "radius_km": 50}]}
    )
    why = pair_block_reasons(net.stations, net.pairs, zone).tolist()
    assert why == [
        "Tokyo: exclusion zone 'Kanto'",
        "Tokyo: exclusion zone 'Kanto'",
        "",
        "Tokyo: exclusion zone 'Kanto'",
    ]


def test_allowed_pairs_route_exactly_as_without_the_policy(tmp_path):
    net = _net(tmp_path)
    t_s = [0.0, 60.0]
    pol = parse_policy({"countries": {"TWN": "not_activated"}})
    restricted, blocked, reasons = restrict_pairs(net, pol)
    assert blocked.tolist() == [net.pairs[0].tolist()] and len(reasons) == 1
    free = run_pairs(net, t_s)
    kept = run_pairs(restricted, t_s)
    keep = np.ones(len(net.pairs), bool)
    keep[0] = False
    for name in ("rtt_ms", "path_fwd", "num_isl_hops"):
        a = free.columns[name].reshape(len(t_s), -1)[:, keep]
        b = kept.columns[name].reshape(len(t_s), -1)
        assert (a == b).all(), name


def test_policy_elevation_mask_equals_the_scenario_mask(tmp_path):
    t_s = [0.0, 60.0]
    strict = parse_policy({"min_elevation_deg": 40.0})
    via_policy, _, _ = restrict_pairs(_net(tmp_path, 25.0), strict)
    via_scenario = _net(tmp_path, 40.0)
    a, b = run_pairs(via_policy, t_s), run_pairs(via_scenario, t_s)
    np.testing.assert_array_equal(a.columns["rtt_ms"], b.columns["rtt_ms"])
    loose = run_pairs(_net(tmp_path, 25.0), t_s).columns["rtt_ms"]
    strict_rtt = a.columns["rtt_ms"]
    ok = np.isfinite(strict_rtt)
    assert (strict_rtt[ok] >= loose[ok] - 1e-9).all() and (strict_rtt[ok] > loose[ok]).any()


def test_run_policy_cli_writes_blocked_pairs(tmp_path):
    (tmp_path / "s.toml").write_text(_scenario(tmp_path))
    (tmp_path / "p.toml").write_text('name = "TW off"\n[countries]\nTW = "not_activated"\n')

    def run(*extra):
        return subprocess.run(
            [sys.executable, "-m", "leosim", "run", "s.toml", "-q", *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )

    r = run("--out", "free")
    assert r.returncode == 0, r.stderr
    r = run("--out", "pol", "--policy", "p.toml")
    assert r.returncode == 0, r.stderr
    blocked = list(csv.DictReader(open(tmp_path / "pol/blocked_pairs.csv", encoding="utf-8")))
    assert [(b["src_name"], b["dst_name"], b["reason"]) for b in blocked] == [
        ("Taipei", "Tokyo", "Taipei: not activated in TWN")
    ]
    rows = lambda d: list(csv.DictReader(open(tmp_path / d / "routes.csv", encoding="utf-8")))  # noqa: E731
    free = [r for r in rows("free") if r["src"] != "0"]
    assert rows("pol") == free
    assert (tmp_path / "pol/policy.toml").read_text() == (tmp_path / "p.toml").read_text()
    r = run("--out", "bad", "--policy", "missing.toml")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "missing.toml" in r.stderr, r.stderr
