"""``leosim policy evaluate`` / ``leosim policy compare``: files written, and one-line errors."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from pathlib import Path

import pytest

from leosim.ground_segment import builtin_pops

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "policy"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SCENARIO = """\
name = "cli-policy"
[constellation]
preset = "starlink-gen1"
[links]
gsl_min_elevation_deg = 25
[terminals]
countries = ["TWN", "JPN", "PHL"]
n_per_country = 6
seed = 1
[time]
duration_s = 180
step_s = 60
"""

NOT_ACTIVATED = """\
name = "Taiwan off"
[countries]
TWN = "not_activated"
"""

ACTIVE = 'name = "all active"\n'

TERMINAL_COLUMNS = [
    "terminal_id",
    "latitude_deg",
    "longitude_deg",
    "country",
    "served_fraction",
    "pop",
    "gateway",
    "median_rtt_pop_ms",
    "p95_rtt_pop_ms",
    "radio_ms",
    "lasers_ms",
    "fibre_ms",
    "overhead_ms",
    "median_rtt_gateway_ms",
    "gateway_countries",
]


def _leosim(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leosim.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _png_ok(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width >= 200 and height >= 100
    assert data[-8:-4] == b"IEND"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("policy-cli")
    (d / "scenario.toml").write_text(SCENARIO)
    (d / "off.toml").write_text(NOT_ACTIVATED)
    (d / "on.toml").write_text(ACTIVE)
    return d


@pytest.fixture(scope="module")
def evaluated(files) -> Path:
    out = files / "eval-out"
    r = _leosim(
        "policy", "evaluate", files / "scenario.toml", "--policy", files / "off.toml", "--out", out
    )
    assert r.returncode == 0, r.stderr
    return out


def test_evaluate_writes_terminals_countries_and_map(evaluated, files):
    rows = _rows(evaluated / "terminals.csv")
    assert rows and set(TERMINAL_COLUMNS) <= set(rows[0])
    assert len(rows) == 18
    assert {r["country"] for r in rows} == {"TWN", "JPN", "PHL"}
    for r in rows:
        assert -90 <= float(r["latitude_deg"]) <= 90 and -180 <= float(r["longitude_deg"]) <= 180
        frac = float(r["served_fraction"])
        if r["country"] == "TWN":
            assert frac == 0.0
            assert r["gateway_countries"] == ""
            assert r["median_rtt_pop_ms"] in ("", "nan", "NaN") or math.isnan(
                float(r["median_rtt_pop_ms"])
            )
        else:
            assert frac > 0
            codes = r["gateway_countries"].split(";")
            assert codes == sorted(set(codes)) and all(len(c) == 3 and c.isupper() for c in codes)
            assert 1.0 < float(r["median_rtt_pop_ms"]) < 200.0
            parts = sum(float(r[k]) for k in ("radio_ms", "lasers_ms", "fibre_ms", "overhead_ms"))
            assert parts == pytest.approx(float(r["median_rtt_pop_ms"]), abs=0.01)
            assert float(r["p95_rtt_pop_ms"]) >= float(r["median_rtt_pop_ms"]) - 1e-6
            assert r["pop"] in set(builtin_pops().code) and r["gateway"]
    countries = {r["country"]: r for r in _rows(evaluated / "countries.csv")}
    assert set(countries) == {"TWN", "JPN", "PHL"}
    assert float(countries["TWN"]["served_share"]) == 0.0
    assert float(countries["JPN"]["served_share"]) > 0
    assert countries["JPN"]["pops"].startswith("tkyojpn1:")
    assert float(countries["JPN"]["median_rtt_pop_ms"]) > float(
        countries["JPN"]["median_rtt_gateway_ms"]
    )
    _png_ok(evaluated / "map.png")
    assert (evaluated / "policy.toml").read_text() == NOT_ACTIVATED
    assert (evaluated / "scenario.toml").read_text() == SCENARIO


def test_evaluate_several_policies_equals_each_alone(evaluated, files, tmp_path):
    """Several --policy: each policy's files equal a run of it alone; policies.csv stacks them."""
    out = tmp_path / "several"
    tokyo = files / "tw_tokyo.toml"
    tokyo.write_text('name = "TW on, Tokyo PoP"\n[pops]\nTWN = "tkyojpn1"\n')
    r = _leosim(
        "policy",
        "evaluate",
        files / "scenario.toml",
        "-p",
        files / "off.toml",
        "-p",
        tokyo,
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    assert "2 policies" in r.stdout and "tw_tokyo" in r.stdout
    for name in ("terminals", "countries"):
        assert (out / f"{name}_off.csv").read_bytes() == (evaluated / f"{name}.csv").read_bytes()
    _png_ok(out / "map_tw_tokyo.png")
    assert (out / "policy_tw_tokyo.toml").read_bytes() == tokyo.read_bytes()
    stacked = _rows(out / "policies.csv")
    assert [r["policy"] for r in stacked] == ["off"] * 3 + ["tw_tokyo"] * 3
    off = _rows(evaluated / "countries.csv")
    assert [
        {k: v for k, v in r.items() if k not in ("policy", "policy_name")} for r in stacked[:3]
    ] == off
    tw = next(r for r in stacked if r["policy"] == "tw_tokyo" and r["country"] == "TWN")
    assert tw["pops"] == "tkyojpn1:1.000" and float(tw["served_share"]) > 0
    # Two files with the same name would overwrite each other's outputs: refused up front.
    (tmp_path / "b").mkdir()
    twin = tmp_path / "b" / "off.toml"
    twin.write_text(ACTIVE)
    r = _leosim(
        "policy",
        "evaluate",
        files / "scenario.toml",
        "-p",
        files / "off.toml",
        "-p",
        twin,
        "--out",
        tmp_path / "twins",
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "same files (off)" in r.stderr
    assert not (tmp_path / "twins").exists()


def test_evaluate_with_terminals_csv(files, tmp_path):
    terms = tmp_path / "mine.csv"
    terms.write_text(
        "terminal_id,latitude_deg,longitude_deg\n"
        "taipei,25.033,121.565\n"
        "tokyo,35.690,139.692\n"
        "ship,30.0,-40.0\n"
    )
    out = tmp_path / "out"
    r = _leosim(
        "policy",
        "evaluate",
        files / "scenario.toml",
        "--policy",
        files / "off.toml",
        "--terminals",
        terms,
        "--out",
        out,
        "--quiet",
    )
    assert r.returncode == 0, r.stderr
    rows = {r["terminal_id"]: r for r in _rows(out / "terminals.csv")}
    assert list(rows) == ["taipei", "tokyo", "ship"]
    assert [rows[k]["country"] for k in rows] == ["TWN", "JPN", ""]
    assert float(rows["taipei"]["served_fraction"]) == 0.0
    assert rows["taipei"]["gateway_countries"] == ""
    assert float(rows["tokyo"]["served_fraction"]) > 0 and rows["tokyo"]["gateway_countries"]
    _png_ok(out / "map.png")


def test_compare_writes_compare_csv_and_diff_map(files, tmp_path):
    out = tmp_path / "cmp"
    r = _leosim(
        "policy",
        "compare",
        files / "scenario.toml",
        files / "on.toml",
        files / "off.toml",
        "--out",
        out,
    )
    assert r.returncode == 0, r.stderr
    diff = {row["country"]: row for row in _rows(out / "compare.csv")}
    assert set(diff) == {"TWN", "JPN", "PHL"}
    assert float(diff["TWN"]["served_share_a"]) > 0
    assert float(diff["TWN"]["served_share_b"]) == 0
    assert float(diff["TWN"]["served_share_change"]) < 0
    for c in ("JPN", "PHL"):
        assert float(diff[c]["served_share_change"]) == 0
        assert diff[c]["landing_a"] == diff[c]["landing_b"] != ""
    _png_ok(out / "diff_map.png")
    per_term = _rows(out / "terminals.csv")
    assert len(per_term) == 18
    for row in per_term:
        change = float(row["served_fraction_change"])
        assert (change < 0) if row["country"] == "TWN" else (change == 0)


def test_compare_policy_with_itself(files, tmp_path):
    out = tmp_path / "same"
    pol = EXAMPLES / "taiwan_activated.toml"
    r = _leosim("policy", "compare", files / "scenario.toml", pol, pol, "--out", out)
    assert r.returncode == 0, r.stderr
    rows = _rows(out / "compare.csv")
    assert rows and all(float(row["served_share_change"]) == 0 for row in rows)
    assert all(row["landing_a"] == row["landing_b"] for row in rows)
    assert "no country changes" in r.stdout


BAD_POLICIES = [
    ('landing_right = {IND = ["IND"]}\n', "landing_right"),
    ('[countries]\nXXX = "active"\n', "countries.XXX"),
    ('[countries]\nTWN = "maybe"\n', "countries.TWN"),
    ('[gateways]\nat_pops = false\n[landing_rights]\nIND = ["IND"]\n', "landing_rights.IND"),
    (
        '[[exclusion_zones]]\nname = "z"\npolygon = [[0, 0], [1, 0], [1, 1], [0, 1]]\n',
        "exclusion_zones[0].polygon",
    ),
    ('[[exclusion_zones]]\nname = "z"\nregion = "crimia"\n', "exclusion_zones[0].region"),
]


CASES = [(t, k, "evaluate") for t, k in BAD_POLICIES] + [(*BAD_POLICIES[0], "compare")]


@pytest.mark.parametrize(("text", "key", "command"), CASES, ids=[f"{c}-{k}" for _, k, c in CASES])
def test_bad_policy_exits_2_with_one_line(files, tmp_path, text, key, command):
    bad = tmp_path / "bad_policy.toml"
    bad.write_text(text)
    out = tmp_path / "out"
    if command == "evaluate":
        args = ["evaluate", files / "scenario.toml", "--policy", bad, "--out", out]
    else:
        args = ["compare", files / "scenario.toml", files / "on.toml", bad, "--out", out]
    r = _leosim("policy", *args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    assert str(bad) in lines[0] and f"[{key}]" in lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_policy.toml"]  # no staging left


def test_bad_terminals_csv_exits_2(files, tmp_path):
    terms = tmp_path / "t.csv"
    terms.write_text("terminal_id,latitude_deg,longitude_deg\na,95,0\n")
    out = tmp_path / "out"
    r = _leosim(
        "policy",
        "evaluate",
        files / "scenario.toml",
        "--policy",
        files / "on.toml",
        "--terminals",
        terms,
        "--out",
        out,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{terms}:2:" in lines[0] and "[latitude_deg]" in lines[0]
    assert not out.exists()
