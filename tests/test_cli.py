"""The command line and scenario files: outputs, and one-line errors for bad input."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

DATA = Path(__file__).parent / "data"

SMALL = """\
name = "small"
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"], [17, 85]]
{routing_extra}
[time]
{time}
"""


def _leosim(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leosim.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def _write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_run_writes_routes_matching_hypatia(tmp_path):
    sc = _write(tmp_path, SMALL.format(routing_extra="", time="times_s = [0.0, 0.1, 1.9]"))
    out = tmp_path / "out"
    r = _leosim("run", str(sc), "--out", str(out))
    assert r.returncode == 0, r.stderr
    for name in ("routes.csv", "routes.parquet", "summary.csv", "rtt.png", "scenario.toml"):
        assert (out / name).is_file(), name
    assert (out / "scenario.toml").read_text() == sc.read_text()
    rows = list(csv.DictReader(open(out / "routes.csv")))
    assert len(rows) == 6
    for col in ("time_s", "src", "dst", "rtt_ms", "num_isl_hops", "path_fwd", "path_rev"):
        assert col in rows[0]
    truth = {
        (int(t["time_ns"]), int(t["src_gid"]), int(t["dst_gid"])): t
        for t in csv.DictReader(open(DATA / "hypatia" / "starlink550_pairs_100ms_0_2s.csv"))
    }
    for row in rows:
        t = truth[(round(float(row["time_s"]) * 1e9), int(row["src"]), int(row["dst"]))]
        assert abs(float(row["rtt_ms"]) - float(t["rtt_ms"])) < 0.01
        assert row["path_fwd"] == t["path_fwd"]
        assert int(row["num_isl_hops"]) == int(t["num_isl_hops_fwd"])
        assert int(row["uplink_sat"]) == int(t["uplink_sat_fwd"])
        assert int(row["downlink_sat"]) == int(t["downlink_sat_fwd"])
        assert abs(float(row["uplink_gsl_m"]) - float(t["uplink_gsl_m_fwd"])) < 50.0
        assert abs(float(row["downlink_gsl_m"]) - float(t["downlink_gsl_m_fwd"])) < 50.0
    table = pq.read_table(out / "routes.parquet")
    assert table.num_rows == 6
    assert np.allclose(table["rtt_ms"].to_numpy(), [float(r["rtt_ms"]) for r in rows])
    png = (out / "rtt.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_forwarding_state_changes_only(tmp_path):
    sc = _write(
        tmp_path,
        SMALL.format(
            routing_extra="forwarding_state = true", time="duration_s = 0.5\nstep_s = 0.1"
        ),
    )
    r = _leosim("run", str(sc), "--out", str(tmp_path / "o"), "--workers", "2")
    assert r.returncode == 0, r.stderr
    fw = pq.read_table(tmp_path / "o" / "forwarding.parquet")
    t = fw["time_s"].to_numpy()
    first = t == 0.0
    # The first step holds every (node, destination) entry: 100 destinations x 1684 nodes.
    assert first.sum() == 100 * 1684
    # Later steps hold only changes, and each later entry really is a change.
    assert 0 < (~first).sum() < 100 * 1684
    node, dst, nh = (fw[c].to_numpy() for c in ("node", "dst_gid", "next_hop"))
    state = {}
    for k in np.argsort(t, kind="stable"):
        key = (int(dst[k]), int(node[k]))
        if t[k] > 0:
            assert state[key] != nh[k]
        state[key] = nh[k]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        (SMALL.format(routing_extra="", time="duration_s = 1\nstep_s = -0.1"), "[time.step_s]"),
        (
            SMALL.format(routing_extra="", time="duration_s = 1\nsetp_s = 0.1"),
            "did you mean step_s",
        ),
        (SMALL.format(routing_extra="", time="times_s = [1, 0]"), "[time.times_s]"),
        (
            SMALL.format(routing_extra="", time="times_s = [0]").replace('"Luanda"', '"Luandaa"'),
            "unknown station name 'Luandaa'",
        ),
        (
            SMALL.format(routing_extra="", time="times_s = [0]").replace(
                'preset = "starlink-550-hypatia"', 'preset = "starlink-55O"'
            ),
            "[constellation.preset]",
        ),
        ("[constellation\npreset = 1", "not valid TOML"),
    ],
)
def test_bad_scenarios_give_one_line_errors(tmp_path, text, expect):
    sc = _write(tmp_path, text)
    out = tmp_path / "out"
    r = _leosim("run", str(sc), "--out", str(out))
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error:") and str(sc) in lines[0]
    assert expect in lines[0], lines[0]
    assert "Traceback" not in r.stderr
    assert not out.exists(), "a failed run must not leave an output folder"


def test_broken_tle_names_file_and_line(tmp_path):
    lines = (DATA / "hypatia" / "tles_starlink550_generated.txt").read_text().splitlines()[:10]
    # Corrupt one digit of the 3rd satellite's line 2 (file line 9): the checksum must catch it.
    bad = list(lines)
    bad[8] = bad[8][:20] + ("1" if bad[8][20] != "1" else "2") + bad[8][21:]
    tle = tmp_path / "broken.tle"
    tle.write_text("\n".join(bad) + "\n")
    sc = _write(
        tmp_path,
        f'[constellation]\ntle = "{tle.name}"\n[ground_stations]\nbuiltin = "hypatia-top-100"\n'
        '[links]\nisl = "none"\n[time]\ntimes_s = [0]\n',
    )
    r = _leosim("run", str(sc), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert f"{tle}:9:" in r.stderr and "checksum" in r.stderr


def test_failed_run_leaves_existing_outputs_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "routes.csv").write_text("previous results\n")
    sc = _write(
        tmp_path, SMALL.format(routing_extra="", time="times_s = [0]").replace("17, 85", "17, 999")
    )
    r = _leosim("run", str(sc), "--out", str(out))
    assert r.returncode == 2 and "gid 999 does not exist" in r.stderr
    assert (out / "routes.csv").read_text() == "previous results\n"
    assert not any(p.name.startswith(".out.partial") for p in tmp_path.iterdir())


def test_catalogue_scenario_sets_aside_and_routes(tmp_path):
    tle = DATA / "starlink_2026-05-12_subset.tle"
    sc = _write(
        tmp_path,
        f'[constellation]\ntle = "{tle}"\n[ground_stations]\nbuiltin = "cities-top-100"\n'
        '[links]\nisl = "none"\ngsl_min_elevation_deg = 25\n[routing]\nmode = "bent-pipe"\n'
        'pairs = [["London", "Paris"]]\n[time]\ntimes_s = [0, 60]\n',
    )
    r = _leosim("run", str(sc), "--out", str(tmp_path / "o"))
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(open(tmp_path / "o" / "routes.csv")))
    assert len(rows) == 2


def test_presets_and_export_tle(tmp_path):
    r = _leosim("presets")
    assert r.returncode == 0 and "starlink-gen1" in r.stdout and "kuiper" in r.stdout
    out = tmp_path / "h.tle"
    r = _leosim("export-tle", "starlink-550-hypatia", str(out), "--hypatia-header")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == (DATA / "hypatia" / "tles_starlink550_generated.txt").read_bytes()
