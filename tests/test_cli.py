"""The command line and scenario files: outputs, and one-line errors for bad input."""

from __future__ import annotations

import csv
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

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


def _invoke(*args: str):
    """The CLI in this process (typer's runner): fast, for commands that route nothing."""
    from typer.testing import CliRunner

    from leosim.cli import app

    return CliRunner().invoke(app, list(args))


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
        '[links]\nisl = "none"\n[routing]\npairs = [[0, 1]]\n[time]\ntimes_s = [0]\n',
    )
    r = _leosim("run", str(sc), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert f"{tle}:9:" in r.stderr and "checksum" in r.stderr


def test_failed_run_leaves_existing_outputs_untouched(tmp_path):
    out = tmp_path / "out"
    good = _write(tmp_path, SMALL.format(routing_extra="", time="times_s = [0]"), "good.toml")
    assert _leosim("run", str(good), "--out", str(out), "-q").returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    sc = _write(
        tmp_path, SMALL.format(routing_extra="", time="times_s = [0]").replace("17, 85", "17, 999")
    )
    r = _leosim("run", str(sc), "--out", str(out))
    assert r.returncode == 2 and "gid 999 does not exist" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.toml", "out", "s.toml"]


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
    r = _leosim("presets")  # not a terminal: rich lays it out in 80 columns
    assert r.returncode == 0, r.stderr
    from leosim.constellation import preset_names, preset_shells

    lines = r.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    cells = {c.strip() for ln in lines for c in ln.split("│")}
    for name in preset_names():  # every name whole, none cut with an ellipsis
        assert name in cells
        assert {sh.name for sh in preset_shells(name)} <= cells
    out = tmp_path / "h.tle"
    r = _leosim("export-tle", "starlink-550-hypatia", str(out), "--hypatia-header")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == (DATA / "hypatia" / "tles_starlink550_generated.txt").read_bytes()


def test_export_tle_refuses_folders_and_devices(tmp_path):
    for target, expect in ((tmp_path, "is a folder"), ("/dev/null", "character device")):
        r = _invoke("export-tle", "starlink-550-hypatia", str(target))
        assert r.exit_code == 2, r.stderr
        assert r.stderr.strip().splitlines() == [r.stderr.strip()] and expect in r.stderr
        assert "Traceback" not in r.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert os.listdir(tmp_path) == []


def test_readme_export_tle_example_works_as_written():
    readme = README.read_text(encoding="utf-8")
    cmd = re.search(r"`leosim (export-tle [^`]*)`", readme).group(1).split()
    r = _invoke(*cmd)
    assert r.exit_code == 0, r.stderr
    assert r.stdout == (DATA / "hypatia" / "tles_starlink550_generated.txt").read_text()


def test_outputs_line_lists_what_was_written_and_times_are_exact(tmp_path):
    text = SMALL.format(routing_extra="", time="duration_s = 0.5\nstep_s = 0.1")
    text = text.replace('[["Paris", "Luanda"], [17, 85]]', '[["Paris", "Luanda"]]')
    sc = _write(tmp_path, text + "[output]\nplot = false\n")
    out = tmp_path / "out"
    r = _leosim("run", str(sc), "--out", str(out))
    assert r.returncode == 0, r.stderr
    listed = re.search(r"outputs in .*?/: (.*)", r.stdout).group(1).split(", ")
    assert sorted(listed) == sorted(os.listdir(out))
    assert "rtt.png" not in listed and "routes.parquet" in listed
    # singular and plural
    assert ", 1 pair, 5 steps" in r.stderr and "1,584 satellites" in r.stderr
    times = [row["time_s"] for row in csv.DictReader(open(out / "routes.csv"))]
    assert times == ["0.0", "0.1", "0.2", "0.3", "0.4"]


def test_scenario_without_pairs_says_what_to_do(tmp_path):
    text = SMALL.format(routing_extra="", time="times_s = [0]")
    text = text.replace('pairs = [["Paris", "Luanda"], [17, 85]]', "pairs = []")
    out = tmp_path / "out"
    r = _leosim("run", str(_write(tmp_path, text)), "--out", str(out))
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error:") and "all_pairs" in line and "policy evaluate" in line
    assert not out.exists()


def test_bad_out_paths_fail_at_once_with_one_line(tmp_path):
    (tmp_path / "a_file").write_text("x")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("mine")
    sc = _write(tmp_path, SMALL.format(routing_extra="", time="times_s = [0]"))
    for out in ("a_file/sub", "dangling", "foreign", "a_file"):
        r = _leosim("run", str(sc), "--out", str(tmp_path / out))
        assert r.returncode == 2, (out, r.stderr)
        (line,) = r.stderr.strip().splitlines()  # nothing ran: no progress line before it
        assert line.startswith("error:") and out in line
    assert (tmp_path / "foreign" / "thesis.tex").read_text() == "mine"


def test_user_text_is_printed_literally(tmp_path):
    sc = _write(
        tmp_path,
        '[constellation]\ntle = "in.tle:100: :x: [bold]b[/]"\n[ground_stations]\n'
        'builtin = "hypatia-top-100"\n[links]\nisl = "none"\n[routing]\npairs = [[1, 2]]\n'
        "[time]\ntimes_s = [0]\n",
    )
    r = _leosim("run", str(sc), "--out", str(tmp_path / "o"))
    assert r.returncode == 2
    assert "in.tle:100: :x: [bold]b[/]" in r.stderr, r.stderr
    assert "💯" not in r.stderr and "❌" not in r.stderr


def _all_commands():
    from typer.main import get_command

    from leosim.cli import app

    root = get_command(app)
    todo = [((), root)]
    while todo:
        path, cmd = todo.pop()
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            todo.append(((*path, name), sub))


def test_every_option_has_help_and_help_is_literal():
    seen = set()
    for path, cmd in _all_commands():
        seen.add(" ".join(path))
        for p in cmd.params:
            if p.param_type_name == "option" and p.name != "help":
                assert (p.help or "").strip(), f"leosim {' '.join(path)} {p.opts[0]} has no help"
            if p.param_type_name == "argument":
                assert (getattr(p, "help", "") or "").strip(), (path, p.name)
    assert {"run", "coverage", "capacity", "policy evaluate", "regions", "gateways"} <= seen
    r = _invoke("coverage", "--help")
    assert r.exit_code == 0 and "[coverage]" in r.stdout
    r = _invoke("run", "--help")
    assert "<bool>" not in r.stdout and "--quiet" in r.stdout


def test_no_arguments_prints_help_instead_of_running(tmp_path):
    r = _leosim(cwd=tmp_path)
    assert "Usage:" in r.stdout + r.stderr and "demo" in r.stdout + r.stderr
    assert os.listdir(tmp_path) == []  # no demo was started


def test_listing_gateways_pops_and_regions_matches_the_data():
    pkg = ROOT / "src" / "leosim" / "data"
    rows = list(csv.DictReader(open(pkg / "starlink_gateways.csv", encoding="utf-8")))
    want = [
        r["name"]
        for r in rows
        if r["country_adm0_a3"] == "PHL"
        and r["status"] == "operational"
        and "TT&C" not in r["name"]
    ]
    r = _invoke("gateways", "--country", "PHL")
    assert r.exit_code == 0, r.stderr
    assert want and all(n in r.stdout for n in want)
    assert (f"{len(want)} gateway site" + ("" if len(want) == 1 else "s")) in r.stdout
    assert "Akita" not in r.stdout
    pops = [r for r in csv.DictReader(open(pkg / "starlink_pops.csv", encoding="utf-8"))]
    jp = [p["code"] for p in pops if p["country_adm0_a3"] == "JPN"]
    r = _invoke("pops", "--country", "JPN")
    assert r.exit_code == 0 and jp and all(c in r.stdout for c in jp)
    r = _invoke("regions", "--country", "UKR")
    assert r.exit_code == 0 and "crimea" in r.stdout
    assert "abkhazia" not in r.stdout
    r = _invoke("gateways", "--country", "XYZ")
    assert r.exit_code == 2 and r.stderr.startswith("error:") and "XYZ" in r.stderr


def _readme_block(lang: str, contains: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return next(b for b in blocks if contains in b)


def test_readme_python_api_block_prints_paris_luanda_as_a_script(tmp_path):
    script = tmp_path / "api.py"
    script.write_text(_readme_block("python", "route_step"))
    r = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    # Hypatia's published figure for Paris -> Luanda at t = 46.8 s: 117.257 ms.
    assert "117.257 ms" in r.stdout, r.stdout


def test_readme_scenario_block_names_the_cities_it_means():
    import tomllib

    from leosim.ground import builtin_stations
    from leosim.scenario import parse_scenario

    text = _readme_block("toml", "[constellation]")
    sc = parse_scenario(tomllib.loads(text), source="README.md")
    gs = builtin_stations(sc.ground_stations.builtin)
    for s, d in sc.routing.pairs:
        # every pair is given by name, so it means the same cities in any station set
        assert isinstance(s, str) and isinstance(d, str)
        gs.resolve(s, key="pairs"), gs.resolve(d, key="pairs")


def test_listing_stations_matches_the_shipped_set():
    """`leosim stations` lists a set's gids and names as in its shipped CSV; --find filters."""
    pkg = ROOT / "src" / "leosim" / "data"
    rows = list(csv.DictReader(open(pkg / "hypatia_top_100.csv", encoding="utf-8")))
    r = _invoke("stations", "hypatia-top-100")
    assert r.exit_code == 0, r.stderr
    assert f"{len(rows)} stations" in r.stdout
    assert all(row["name"] in r.stdout for row in rows)
    r = _invoke("stations", "--find", "LUAN")
    want = [row for row in rows if "luan" in row["name"].lower()]
    assert r.exit_code == 0 and len(want) == 1 and "1 station" in r.stdout
    assert want[0]["name"] in r.stdout and f" {want[0]['gid']} " in r.stdout
    assert "Paris" not in r.stdout
    r = _invoke("stations", "hypatia-top-10")
    assert r.exit_code == 2 and "hypatia-top-100" in r.stderr


def test_example_comments_about_gateways_match_the_data():
    from leosim.borders import Borders
    from leosim.ground_segment import builtin_gateways

    b = Borders.default()
    by_name = {n.lower(): c for c, n in b.names.items()}
    have = set(builtin_gateways().country.tolist())
    claims = 0
    for path in sorted((ROOT / "examples").rglob("*.toml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            comment = line.partition("#")[2]
            for m in re.finditer(r"\b(?:no|none)\b[\w ]*? in (.*?)(?:[.;:()]|$)", comment):
                for part in re.split(r", | or | and ", m.group(1)):
                    name = re.sub(r"^the ", "", part.strip()).lower()
                    if name in by_name:
                        claims += 1
                        assert by_name[name] not in have, f"{path.name}: {m.group(0)!r}"
    assert claims >= 2


def test_catalogue_fetch_checks_its_out_file_before_any_request(tmp_path):
    (tmp_path / "a_file").write_text("x")
    os.symlink(tmp_path / "nowhere" / "x.tle", tmp_path / "dangling.tle")
    for out, expect in (
        ("a_file/deeper/sub.tle", "is a file, not a folder"),
        ("dangling.tle", "link"),
    ):
        # 127.0.0.1:9 (discard) is never contacted: the check comes first
        r = _invoke(
            "catalogue",
            "fetch",
            "starlink",
            "--out",
            str(tmp_path / out),
            "--base-url",
            "http://127.0.0.1:9/",
            "--cache-dir",
            str(tmp_path / "c"),
        )
        assert r.exit_code == 2 and expect in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
