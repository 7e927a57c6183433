"""Bad input never gives a traceback or a silent wrong answer.

Each test drives a real command (``leosim run``, ``policy evaluate``, ``coverage``,
``capacity``) in-process with typer's CliRunner and checks the project's contract: exit status
2 and exactly one line on standard error, starting ``error:`` and naming the file and key at
fault.  The inputs are classes of bad input (the same kind is tried with several values).
"""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leosim.cli import app

ROOT = Path(__file__).resolve().parents[1]

SCENARIO = """\
name = "tiny"
{top}
[constellation]
{constellation}
[ground_stations]
{ground}
[links]
{links}
[routing]
{routing}
[time]
{time}
{extra}
"""
SHELL = """\
[[constellation.shells]]
name = "A"
num_planes = 6
sats_per_plane = 6
inclination_deg = 53.0
altitude_km = 550.0"""
TIME = "duration_s = 3\nstep_s = 1"

STATIONS = (
    "gid,name,latitude_deg,longitude_deg,elevation_m\n"
    "0,Paris,48.86,2.35,0\n1,Berlin,52.52,13.40,0\n2,Madrid,40.42,-3.70,0\n"
)
TERMINALS = "terminal_id,latitude_deg,longitude_deg\nt1,48.86,2.35\nt2,52.52,13.40\n"
FLOWS = "src,dst,demand_mbps\n0,1,100\nParis,Madrid,50\n"
POLICY = 'name = "p"\n[gateways]\nbuiltin = "operational"\n'


def scenario_text(
    *,
    constellation: str = SHELL,
    ground: str = 'builtin = "hypatia-top-100"',
    links: str = 'isl = "plus-grid"',
    routing: str = "pairs = [[0, 1]]",
    time: str = TIME,
    extra: str = "",
    top: str = "",
) -> str:
    return SCENARIO.format(
        top=top,
        constellation=constellation,
        ground=ground,
        links=links,
        routing=routing,
        time=time,
        extra=extra,
    )


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (a FIFO read that blocks, an endless device)."""

    def boom(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the input blocked or never ended")

    old = signal.signal(signal.SIGALRM, boom)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def cli(*args) -> tuple[int, str, str]:
    with deadline(120):
        r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


def assert_one_error(result, *needles: str) -> str:
    code, _out, err = result
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, f"exit {code}, stderr: {err[-2000:]}"
    assert "Traceback" not in err
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-2000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert len(lines[0]) < 700, f"an error line of {len(lines[0])} characters"
    return lines[0]


def commands(sc: Path, out: Path, tmp: Path) -> dict[str, list]:
    """Each command on a scenario (policy evaluate with a terminals file, capacity in cities
    mode via the scenario itself)."""
    pol = write(tmp / "policy_ok.toml", POLICY)
    terms = write(tmp / "terms_ok.csv", TERMINALS)
    return {
        "run": ["run", sc, "-o", out / "run", "-q"],
        "policy": [
            "policy",
            "evaluate",
            sc,
            "-p",
            pol,
            "--terminals",
            terms,
            "-o",
            out / "p",
            "-q",
        ],
        "coverage": ["coverage", sc, "-o", out / "c", "-q", "--resolution-deg", "30"],
        "capacity": ["capacity", sc, "-o", out / "cap", "-q"],
    }


# ------------------------------------------------------------------ time windows with no step
@pytest.mark.parametrize(
    "time",
    [
        "duration_s = 0.5\nstep_s = 1",
        "duration_s = 0\nstep_s = 1",
        "duration_s = 0\nstep_s = 0.1",
        "duration_s = 100\nstep_s = inf",
        "duration_s = 9.99\nstep_s = 10",
    ],
)
@pytest.mark.parametrize("command", ["run", "policy", "coverage", "capacity"])
def test_window_without_steps(tmp_path, time, command):
    sc = write(tmp_path / "s.toml", scenario_text(time=time))
    assert_one_error(cli(*commands(sc, tmp_path, tmp_path)[command]), str(sc), "[time")


# ------------------------------------------------------------------ what is not a regular file
def _not_regular(kind: str, tmp: Path) -> Path:
    if kind == "folder":
        p = tmp / "a_folder.csv"
        p.mkdir()
        return p
    if kind == "fifo":
        p = tmp / "a_fifo.csv"
        os.mkfifo(p)
        return p
    return Path(kind)


NOT_REGULAR = ["folder", "fifo", "/dev/zero", "/dev/urandom"]


@pytest.fixture
def files(tmp_path):
    class F:
        pass

    f = F()
    f.tmp = tmp_path
    f.stations = write(tmp_path / "stations.csv", STATIONS)
    f.terms = write(tmp_path / "terms.csv", TERMINALS)
    f.flows = write(tmp_path / "flows.csv", FLOWS)
    f.policy = write(tmp_path / "policy.toml", POLICY)
    return f


def _case(which: str, bad: Path, f) -> tuple[list, str]:
    """A command that reads ``bad`` as the input ``which``; returns (args, file it names)."""
    t, out = f.tmp, f.tmp / "out"
    ok = write(t / "ok.toml", scenario_text())
    if which == "scenario":
        return ["run", bad, "-o", out, "-q"], str(bad)
    if which == "stations":
        sc = write(t / "s.toml", scenario_text(ground=f'file = "{bad}"'))
        return ["run", sc, "-o", out, "-q"], str(bad)
    if which == "tle":
        sc = write(t / "tle.toml", scenario_text(constellation=f'tle = "{bad}"'))
        return ["run", sc, "-o", out, "-q"], str(bad)
    if which == "policy":
        return ["policy", "evaluate", ok, "-p", bad, "--terminals", f.terms, "-o", out], str(bad)
    if which == "allow-list":
        pol = write(t / "al.toml", POLICY + f'[allow_lists]\nFRA = "{bad}"\n')
        return ["policy", "evaluate", ok, "-p", pol, "--terminals", f.terms, "-o", out], str(bad)
    if which == "gateways":
        pol = write(t / "gw.toml", f'[gateways]\nbuiltin = "none"\nfile = "{bad}"\n')
        return ["policy", "evaluate", ok, "-p", pol, "--terminals", f.terms, "-o", out], str(bad)
    if which == "terminals":
        return ["policy", "evaluate", ok, "-p", f.policy, "--terminals", bad, "-o", out], str(bad)
    if which == "scenario-terminals":
        sc = write(t / "st.toml", scenario_text(extra=f'[terminals]\nfile = "{bad}"'))
        return ["policy", "evaluate", sc, "-p", f.policy, "-o", out], str(bad)
    if which == "points":
        return ["coverage", ok, "--points", bad, "-o", out, "--resolution-deg", "30"], str(bad)
    if which == "flows":
        sc = write(
            t / "fl.toml", scenario_text(extra=f'[demand]\nmode = "cities"\nflows = "{bad}"')
        )
        return ["capacity", sc, "-o", out, "-q"], str(bad)
    raise AssertionError(which)


READERS = [
    "scenario",
    "tle",
    "stations",
    "policy",
    "allow-list",
    "gateways",
    "terminals",
    "scenario-terminals",
    "points",
    "flows",
]


@pytest.mark.parametrize("kind", NOT_REGULAR)
@pytest.mark.parametrize("which", READERS)
def test_not_a_regular_file(files, which, kind):
    bad = _not_regular(kind, files.tmp)
    args, named = _case(which, bad, files)
    assert_one_error(cli(*args), named, "not a regular file")


@pytest.mark.parametrize("which", ["scenario", "tle", "stations", "policy", "flows", "terminals"])
def test_file_over_the_size_limit(files, which, monkeypatch):
    big = write(files.tmp / "big.csv", "x" * 5000)
    monkeypatch.setenv("LEOSIM_MAX_FILE_MB", "0.001")
    args, named = _case(which, big, files)
    assert_one_error(cli(*args), named, "0.0 MiB", "LEOSIM_MAX_FILE_MB")


# ------------------------------------------------------------------ bytes, encodings, CSV limits
@pytest.mark.parametrize(
    "which", ["scenario", "policy", "stations", "flows", "allow-list", "terminals"]
)
def test_not_utf8_names_line_and_byte(files, which):
    good = {
        "scenario": scenario_text(),
        "policy": POLICY,
        "stations": STATIONS,
        "flows": FLOWS,
        "allow-list": "terminal_id\nt1\n",
        "terminals": TERMINALS,
    }[which].encode()
    lines = good.split(b"\n")
    lines[2] = lines[2][:3] + b"\xff\xfe" + lines[2][3:]
    bad = write(files.tmp / "latin.dat", b"\n".join(lines))
    args, named = _case(which, bad, files)
    offset = len(lines[0]) + len(lines[1]) + 2 + min(3, len(good.split(b"\n")[2]))
    assert_one_error(cli(*args), f"{named}:3:", f"byte offset {offset}", "not UTF-8")


@pytest.mark.parametrize("which", ["stations", "flows", "allow-list", "terminals", "gateways"])
def test_csv_field_over_the_csv_module_limit(files, which):
    header = {
        "stations": "gid,name,latitude_deg,longitude_deg,elevation_m\n",
        "flows": "src,dst,demand_mbps\n",
        "allow-list": "terminal_id\n",
        "terminals": "terminal_id,latitude_deg,longitude_deg\n",
        "gateways": "name,latitude_deg,longitude_deg\n",
    }[which]
    bad = write(files.tmp / "huge.csv", header + '"' + "y" * 140_000 + '"\n')
    args, named = _case(which, bad, files)
    line = assert_one_error(cli(*args), named, "field larger than field limit")
    assert "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy" not in line


@pytest.mark.parametrize("gid", ["²", "١", "0x1", "1.0", "-1", "9" * 5000])
def test_station_gid_must_be_ascii_digits(files, gid):
    bad = write(files.tmp / "st.csv", STATIONS.replace("\n0,Paris", f"\n{gid},Paris"))
    args, named = _case("stations", bad, files)
    assert_one_error(cli(*args), f"{named}:2:", "gid")


@pytest.mark.parametrize("ref", ["²", "¹²", "٣"])
def test_flow_endpoint_unicode_digits_are_names_not_gids(files, ref):
    bad = write(files.tmp / "fl.csv", f"src,dst,demand_mbps\n{ref},1,10\n")
    args, named = _case("flows", bad, files)
    assert_one_error(cli(*args), named, "unknown station name", "[src]")


def test_flows_with_a_header_and_no_rows(files):
    bad = write(files.tmp / "fl.csv", "src,dst,demand_mbps\n\n")
    args, named = _case("flows", bad, files)
    assert_one_error(cli(*args), named, "no flows")


def test_a_byte_order_mark_is_accepted_everywhere(files):
    bom = "\ufeff"
    st = write(files.tmp / "bom_st.csv", bom + STATIONS)
    fl = write(files.tmp / "bom_fl.csv", bom + FLOWS)
    tm = write(files.tmp / "bom_tm.csv", bom + TERMINALS)
    al = write(files.tmp / "bom_al.csv", bom + "terminal_id\nt1\n")
    pol = write(files.tmp / "bom_p.toml", bom + POLICY + f'[allow_lists]\nFRA = "{al}"\n')
    sc = write(
        files.tmp / "bom_s.toml",
        bom
        + scenario_text(
            ground=f'file = "{st}"', extra=f'[demand]\nmode = "cities"\nflows = "{fl}"'
        ),
    )
    out = files.tmp / "o"
    code, _, err = cli("run", sc, "-o", out / "run", "-q")
    assert code == 0, err
    code, _, err = cli("capacity", sc, "-o", out / "cap", "-q")
    assert code == 0, err
    flows = (out / "cap" / "flows.csv").read_text().splitlines()
    assert len(flows) == 3 and flows[2].startswith("0,2,")  # Paris -> Madrid by name
    code, _, err = cli(
        "policy", "evaluate", sc, "-p", pol, "--terminals", tm, "-o", out / "p", "-q"
    )
    assert code == 0, err
    terms = (out / "p" / "terminals.csv").read_text()
    # t2 is in Germany: the FRA allow-list does not touch it; t1 (Paris) is listed.
    assert "not on the FRA allow-list" not in terms


# ------------------------------------------------------------------ empty ground sets
def test_no_terminal_left_after_the_policy_is_a_valid_answer(files):
    """Taiwan not activated: no subscriber cell may be served; capacity reports nothing served
    (the class of ``leosim capacity examples/capacity/taiwan.toml --policy
    examples/policy/taiwan_not_activated.toml``), on a small constellation."""
    sc = write(
        files.tmp / "twn.toml",
        scenario_text(
            time="duration_s = 2\nstep_s = 1",
            extra='[demand]\ncountries = ["TWN"]\ncell_deg = 0.5\n',
        ),
    )
    code, _, err = cli(
        "capacity",
        sc,
        "-p",
        ROOT / "examples/policy/taiwan_not_activated.toml",
        "-o",
        files.tmp / "cap",
        "-q",
    )
    assert code == 0, err
    rows = (files.tmp / "cap" / "servable.csv").read_text().splitlines()
    assert rows[0].startswith("rate_mbps,servable_multipath_min")
    assert all(r.split(",")[1] == "0" for r in rows[1:])


def test_points_file_with_no_points(files):
    empty = write(files.tmp / "none.csv", "terminal_id,latitude_deg,longitude_deg\n")
    args, _ = _case("points", empty, files)
    code, _, err = cli(*args)
    if code == 0:  # a valid answer: an empty points table
        pts = (files.tmp / "out" / "points.csv").read_text().splitlines()
        assert len(pts) == 1
    else:
        assert_one_error((code, "", err), str(empty))


# ------------------------------------------------------------------ numbers out of any range
@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("links", "isl_shift = 1180591620717411303424", "links.isl_shift"),
        ("links", "isl_shift = -99999999999", "links.isl_shift"),
        ("links", "gsl_min_elevation_deg = nan", "links.gsl_min_elevation_deg"),
        ("links", "max_isl_length_km = inf", "links.max_isl_length_km"),
        ("extra", "[coverage]\nresolution_deg = 1e-200", "coverage.resolution_deg"),
        ("extra", "[coverage]\nmin_elevation_deg = -inf", "coverage.min_elevation_deg"),
        ("extra", "[terminals]\nseed = -1", "terminals.seed"),
        ("top", "workers = 100000000000000000000", "[workers]"),
        ("time", "times_s = [0, nan]", "time.times_s[1]"),
        ("time", "times_s = [0, 1e300]", "time.times_s[1]"),
        ("time", "duration_s = 1e308\nstep_s = 1", "time.duration_s"),
        ("constellation", SHELL.replace("53.0", "nan"), "constellation.shells[0].inclination_deg"),
        ("constellation", SHELL.replace("= 6\n", "= 4611686018427387904\n", 1), "num_planes"),
        ("constellation", SHELL + "\nraan_offset_deg = 1e30", "raan_offset_deg"),
    ],
)
def test_numbers_must_be_finite_and_bounded(tmp_path, table, line, key):
    kw = {table: line}
    sc = write(tmp_path / "s.toml", scenario_text(**kw))
    assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), key)


def test_coverage_option_resolution_tiny(tmp_path):
    sc = write(tmp_path / "s.toml", scenario_text())
    r = cli("coverage", sc, "--resolution-deg", "1e-200", "-o", tmp_path / "o")
    assert_one_error(r, "resolution")


# ------------------------------------------------------------------ sizes nobody can run
def test_100k_stations_refused_with_the_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv("LEOSIM_MAX_MEMORY_GB", "16")
    rows = ["gid,name,latitude_deg,longitude_deg,elevation_m"] + [
        f"{i},s{i},{(i * 0.0017) % 170 - 85:.4f},{(i * 0.0123) % 360 - 180:.4f},0"
        for i in range(100_000)
    ]
    st = write(tmp_path / "st.csv", "\n".join(rows) + "\n")
    sc = write(tmp_path / "s.toml", scenario_text(ground=f'file = "{st}"'))
    line = assert_one_error(
        cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), "100,000 stations", "GiB"
    )
    # 100,000 x 100,036 nodes x (8 + 8) bytes of routing state alone: about 149 GiB
    assert "limit of 16.0 GiB" in line and "LEOSIM_MAX_MEMORY_GB" in line


@pytest.mark.parametrize(
    ("terminals", "key"),
    [
        ("n_per_country = 1000000", "terminals.n_per_country"),
        ('countries = ["FRA"]\nn_per_country = 50000000', "terminals.n_per_country"),
        ("n_total = 90000000", "terminals.n_total"),
    ],
)
def test_terminal_samples_beyond_memory_refused(tmp_path, monkeypatch, terminals, key):
    monkeypatch.setenv("LEOSIM_MAX_MEMORY_GB", "8")
    sc = write(tmp_path / "s.toml", scenario_text(extra=f"[terminals]\n{terminals}"))
    pol = write(tmp_path / "p.toml", POLICY)
    r = cli("policy", "evaluate", sc, "-p", pol, "-o", tmp_path / "o", "-q")
    assert_one_error(r, str(sc), key, "GiB", "limit of 8.0 GiB")


@pytest.mark.parametrize("time", ["duration_s = 4e6\nstep_s = 0.1", "duration_s = 1e9\nstep_s = 1"])
def test_too_many_steps_refused(tmp_path, time):
    sc = write(tmp_path / "s.toml", scenario_text(time=time))
    assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), "[time]", "steps")


def test_run_time_estimate_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("LEOSIM_MAX_HOURS", "0.01")
    sc = write(tmp_path / "s.toml", scenario_text(time="duration_s = 9e6\nstep_s = 1"))
    line = assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), "hours")
    assert "LEOSIM_MAX_HOURS" in line


# ------------------------------------------------------------------ no type coercion
@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"routing": "pairs = [[true, false]]"}, "routing.pairs[0][0]"),
        ({"routing": "pairs = [[0.5, 1]]"}, "routing.pairs[0][0]"),
        ({"routing": 'pairs = [["Paris"]]'}, "routing.pairs[0][1]"),
        ({"time": "start = 1e-09\nduration_s = 3\nstep_s = 1"}, "time.start"),
        ({"time": "start = 2026-05-13\nduration_s = 3\nstep_s = 1"}, "time.start"),
        ({"time": 'start = "2026-05-13T00:00:00Z"\nduration_s = 3\nstep_s = 1'}, "time.start"),
        ({"time": 'duration_s = "2"\nstep_s = 1'}, "time.duration_s"),
        ({"links": "gsl_min_elevation_deg = true"}, "links.gsl_min_elevation_deg"),
        ({"links": 'gsl_min_elevation_deg = "25"'}, "links.gsl_min_elevation_deg"),
        ({"links": "isl_shift = 1.0"}, "links.isl_shift"),
        ({"extra": "[output]\nplot = 1"}, "output.plot"),
        ({"top": "workers = true"}, "workers"),
        ({"top": "description = 5"}, "description"),
    ],
)
def test_no_type_is_coerced(tmp_path, kw, key):
    sc = write(tmp_path / "s.toml", scenario_text(**kw))
    assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), f"[{key}]")


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ("min_elevation_deg = true", "min_elevation_deg"),
        ('min_elevation_deg = "25"', "min_elevation_deg"),
        (
            '[[exclusion_zones]]\nname = "z"\npoint = [true, 0]\nradius_km = 5',
            "exclusion_zones[0].point[0]",
        ),
        ('[[exclusion_zones]]\nname = "z"\npoint = [95.0, 0]\nradius_km = 5', "exclusion_zones[0]"),
        (
            '[[exclusion_zones]]\nname = "z"\npolygon = [[0, 0], [1, 0], [1, 95], [0, 0]]',
            "exclusion_zones[0].polygon",
        ),
        (
            '[[gateways.add]]\nname = "g"\nlatitude_deg = "1"\nlongitude_deg = 2\ncountry = "FRA"',
            "gateways.add[0].latitude_deg",
        ),
    ],
)
def test_policy_types_are_strict(files, policy, key):
    pol = write(files.tmp / "bad_p.toml", policy + "\n")
    args, named = _case("policy", pol, files)
    assert_one_error(cli(*args), named, f"[{key}]")


# ------------------------------------------------------------------ epochs a TLE cannot hold
@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"constellation": "epoch = 2057-01-01T00:00:00Z\n" + SHELL}, "constellation.epoch"),
        (
            {"constellation": 'preset = "starlink-550-hypatia"\nepoch = 1956-12-31T23:59:59Z'},
            "constellation.epoch",
        ),
        ({"time": "start = 2070-01-01T00:00:00Z\nduration_s = 3\nstep_s = 1"}, "time.start"),
        ({"time": "start = 1900-01-01T00:00:00\nduration_s = 3\nstep_s = 1"}, "time.start"),
    ],
)
def test_epochs_outside_the_tle_century_refused(tmp_path, kw, key):
    sc = write(tmp_path / "s.toml", scenario_text(**kw))
    assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc), f"[{key}]", "1957")


def test_epoch_2056_is_accepted_and_used(tmp_path):
    sc = write(
        tmp_path / "s.toml",
        scenario_text(
            constellation='preset = "starlink-550-hypatia"\nepoch = 2056-06-01T00:00:00Z'
        ),
    )
    from leosim.scenario import load_scenario
    from leosim.simulate import build_network

    net = build_network(load_scenario(sc))
    assert net.start.year == 2056


# ------------------------------------------------------------------ duplicates, unused tables
@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ('[countries]\nTWN = "active"\ntwn = "not_activated"', "countries.twn"),
        ('[countries]\nTW = "active"\nTWN = "not_activated"', "countries.TWN"),
        ('[landing_rights]\nFRA = ["FRA"]\nfra = ["DEU"]', "landing_rights.fra"),
        ('[allow_lists]\nFRA = ["t1"]\nFr = ["t2"]', "allow_lists.Fr"),
    ],
)
def test_duplicate_country_after_normalising(files, policy, key):
    pol = write(files.tmp / "dup.toml", policy + "\n")
    args, named = _case("policy", pol, files)
    assert_one_error(cli(*args), named, f"[{key}]", "twice")


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("[capacity]\nisl_gbsp = 200", "capacity.isl_gbsp"),
        ("[capacity]\nisl_gbps = -1", "capacity.isl_gbps"),
        ("[capacity]\nisl_gbps = true", "capacity.isl_gbps"),
        ('[capacity]\npreset = "v9"', "capacity.preset"),
        ("[demand]\ntake_rate = 2", "demand.take_rate"),
        ("[coverage]\nband_deg = 0", "coverage.band_deg"),
        ("[terminals]\nn_totl = 5", "terminals.n_totl"),
    ],
)
@pytest.mark.parametrize("command", ["run", "coverage", "policy"])
def test_every_table_is_checked_by_every_command(tmp_path, extra, key, command):
    sc = write(tmp_path / "s.toml", scenario_text(extra=extra))
    assert_one_error(cli(*commands(sc, tmp_path, tmp_path)[command]), str(sc), f"[{key}]")


# ------------------------------------------------------------------ long values are not quoted whole
@pytest.mark.parametrize(
    "kw",
    [
        {"constellation": 'preset = "' + "p" * 200_000 + '"'},
        {"ground": 'builtin = "' + "b" * 200_000 + '"'},
        {"routing": 'pairs = [["' + "n" * 200_000 + '", 0]]'},
        {"extra": "[" + "k" * 100_000 + "]\nx = 1"},
    ],
)
def test_long_values_are_cut_in_messages(tmp_path, kw):
    sc = write(tmp_path / "s.toml", scenario_text(**kw))
    line = assert_one_error(cli("run", sc, "-o", tmp_path / "o", "-q"), str(sc))
    assert "..." in line


def test_long_csv_line_is_cut_in_messages(files):
    bad = write(files.tmp / "st.csv", STATIONS + "3," + ",".join(["z" * 1000] * 3000) + "\n")
    args, named = _case("stations", bad, files)
    line = assert_one_error(cli(*args), f"{named}:5:", "fields")
    assert "zzzzzzzzzz" not in line


def test_long_policy_key_is_cut(files):
    pol = write(files.tmp / "k.toml", '[countries]\n"' + "Q" * 50_000 + '" = "active"\n')
    args, named = _case("policy", pol, files)
    assert_one_error(cli(*args), named, "[countries.QQQ")


# ------------------------------------------------------------------ the reference cannot drift
def _make_reference():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import make_reference
    finally:
        sys.path.pop(0)
    return make_reference


def test_reference_doc_is_generated_from_the_models():
    mr = _make_reference()
    committed = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    assert committed == mr.render(), "docs/reference.md is stale: run tools/make_reference.py"


def test_every_key_has_a_description():
    from pydantic import BaseModel

    from leosim.policy import PolicySpec
    from leosim.scenario import Scenario

    mr = _make_reference()
    missing = []
    seen: set[type] = set()

    def walk(m: type[BaseModel], path: str) -> None:
        if m in seen:
            return
        seen.add(m)
        for name, f in m.model_fields.items():
            if name in mr.HIDDEN:
                continue
            if not (f.description or "").strip():
                missing.append(f"{path}{name}")
            for _, sub in mr._models_in(f.annotation):
                walk(sub, f"{path}{name}.")

    walk(Scenario, "scenario:")
    walk(PolicySpec, "policy:")
    assert not missing, f"keys without a description (a field docstring): {missing}"
    text = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    for key in ("duration_s", "isl_shift", "n_per_country", "border_buffer_km", "landing_rights"):
        assert f"`{key}`" in text
    assert "latitude_deg, longitude_deg" in text and "longitude FIRST" in text
