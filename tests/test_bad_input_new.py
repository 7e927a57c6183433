"""Hostile input against the newer surfaces: ``run --policy``/``--resume``/``--workers``,
``policy evaluate`` with several policies, ``[[pops.add]]``, ``leosim report`` and the web
API's station references.  Each test is a failure that was found (traceback, wrong exit code,
misleading message, output that looked complete) and is fixed.

Truth: the policy rules applied by hand to the stations' countries, the file system's own
limit on names (255 bytes), the files the command wrote, and CPython's ``int`` on Unicode
digits.  In-process (typer's CliRunner) to stay fast.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leosim.cli import app
from leosim.errors import InputError

STATIONS = """\
gid,name,latitude_deg,longitude_deg,elevation_m
0,Taipei,25.033,121.565,0
1,Tokyo,35.6895,139.69171,0
2,Paris,48.85341,2.3488,0
"""
SCENARIO = """\
name = "hostile"
[constellation]
preset = "starlink-gen1"
[ground_stations]
file = "stations.csv"
[links]
gsl_min_elevation_deg = 25
[routing]
pairs = [["Taipei", "Tokyo"], ["Tokyo", "Paris"]]
[time]
duration_s = 120
step_s = 60
[output]
plot = false
"""


@pytest.fixture
def scenario(tmp_path) -> Path:
    (tmp_path / "stations.csv").write_text(STATIONS)
    p = tmp_path / "sc.toml"
    p.write_text(SCENARIO)
    return p


def _cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


# -- leosim run ---------------------------------------------------------------------------------


def test_run_refuses_absurd_worker_counts_before_any_work(scenario, tmp_path):
    # 100,000 workers used to fork 100,000 processes for a 2-step run.
    r = _cli("run", scenario, "--out", tmp_path / "o", "--workers", "100000", "-q")
    assert r.exit_code == 2 and "--workers" in r.output
    assert not (tmp_path / "o").exists()


def test_local_workers_never_outnumber_the_chunks(monkeypatch):
    from leosim.cli import runner

    class Store:
        plan = ((0, 1), (1, 2))

        def todo(self):
            return [0, 1]

    class Executor:
        workers = 64
        seen = None

        def __enter__(self):
            Executor.seen = self.workers
            return self

        def __exit__(self, *exc):
            return False

        def run(self, fn, shared, items):
            return iter(())

    ex = Executor()
    runner._compute(ex, None, [0.0, 60.0], Store(), False, None)
    assert Executor.seen == 2


def test_policy_blocking_every_pair_says_nothing_was_routed(scenario, tmp_path):
    pol = tmp_path / "off.toml"
    pol.write_text('default_state = "not_activated"\n')
    out = tmp_path / "o"
    r = _cli("run", scenario, "--out", out, "--policy", pol)
    assert r.exit_code == 0, r.output
    assert "no pair may route under this policy" in r.output
    assert "RTT per pair" not in r.output  # no empty table that looks like a result
    with open(out / "blocked_pairs.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    # By hand: every station is somewhere not activated, so both pairs are blocked.
    assert [(x["src_name"], x["dst_name"]) for x in rows] == [
        ("Taipei", "Tokyo"),
        ("Tokyo", "Paris"),
    ]
    assert all("not activated" in x["reason"] for x in rows)


def test_resume_refuses_chunks_of_another_policy(scenario, tmp_path, monkeypatch):
    from leosim import chunkstore
    from leosim.cli.runner import run_scenario
    from leosim.policy import load_policy
    from leosim.scenario import load_scenario

    sc, text = load_scenario(scenario), scenario.read_text()
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text('[countries]\nFRA = "not_activated"\n')
    b.write_text('[countries]\nJPN = "not_activated"\n')

    class Killed(Exception):
        pass

    def kill_after_first(point, path):
        if point == "chunk:finished":
            raise Killed

    out = tmp_path / "o"
    monkeypatch.setattr(chunkstore, "_fault", kill_after_first)
    with pytest.raises(Killed):
        run_scenario(
            sc,
            out,
            scenario_text=text,
            chunk_s=60,
            policy=load_policy(a),
            policy_text=a.read_text(),
        )
    monkeypatch.setattr(chunkstore, "_fault", None)
    for pol, pol_text in ((load_policy(b), b.read_text()), (None, "")):
        with pytest.raises(InputError, match="another scenario, policy"):
            run_scenario(
                sc,
                out,
                scenario_text=text,
                chunk_s=60,
                resume=True,
                policy=pol,
                policy_text=pol_text,
            )
    res = run_scenario(
        sc,
        out,
        scenario_text=text,
        chunk_s=60,
        resume=True,
        policy=load_policy(a),
        policy_text=a.read_text(),
    )
    assert res.chunks_resumed == 1 and res.num_chunks == 2 and res.blocked_pairs == 1


# -- leosim policy evaluate -p A -p B -----------------------------------------------------------


def test_policy_labels_keep_any_script_and_fit_a_file_name(tmp_path):
    from leosim.cli.policy import policy_labels

    # Two different Unicode names used to collapse to "policy" and be refused.
    assert policy_labels([Path("台湾.toml"), Path("日本.toml")]) == ["台湾", "日本"]
    assert policy_labels([Path("a b.toml"), Path("[bold]x.toml")]) == ["a_b", "bold_x"]
    # A 240-character name used to crash writing terminals_<name>.parquet after all the work.
    long = policy_labels([Path("p" * 240 + ".toml"), Path("語" * 200 + ".toml")])
    for label in long:
        assert len(f"terminals_{label}.parquet".encode()) <= 255
        (tmp_path / f"terminals_{label}.parquet").write_bytes(b"")  # the OS accepts it


@pytest.mark.parametrize(
    "names", [("ta.toml", "TA.toml"), ("x/off.toml", "y/off.toml"), ("é.toml", "e\u0301.toml")]
)
def test_policy_labels_refuse_names_that_share_files(names):
    from leosim.cli.policy import policy_labels

    # Case-only differences are one file on a case-insensitive file system; é is é.
    with pytest.raises(InputError, match="two policies would write the same files"):
        policy_labels([Path(n) for n in names])


@pytest.mark.parametrize(
    ("row", "key", "expected"),
    [
        (
            "latitude_deg = 95\nlongitude_deg = 0",
            "pops.add[0].latitude_deg",
            "less than or equal to 90",
        ),
        ("latitude_deg = nan\nlongitude_deg = 0", "pops.add[0].latitude_deg", "finite number"),
        ('latitude_deg = "10"\nlongitude_deg = 0', "pops.add[0].latitude_deg", "must be a number"),
        (
            "latitude_deg = 10\nlongitude_deg = 0\nfoo = 1",
            "pops.add[0].foo",
            "allowed here: code, city",
        ),
    ],
)
def test_pops_add_errors_name_the_bad_key(tmp_path, row, key, expected):
    from leosim.policy import load_policy

    p = tmp_path / "p.toml"
    p.write_text(f'[[pops.add]]\ncode = "x1"\ncity = "X"\n{row}\ncountry = "TWN"\n')
    with pytest.raises(InputError) as err:
        load_policy(p)
    msg = str(err.value)
    # It used to say "[pops.add] must be a string, got [...] (and 1 more problem)".
    assert err.value.key == key and expected in msg, msg
    assert "must be a string" not in msg and "more problem" not in msg


# -- leosim report ------------------------------------------------------------------------------


def _fake_output(tmp_path: Path, files: dict[str, bytes], manifest=None) -> Path:
    import hashlib

    d = tmp_path / "out"
    d.mkdir()
    for name, data in files.items():
        (d / name).write_bytes(data)
    if manifest is None:
        entries = {
            n: {"bytes": len(b), "sha256": hashlib.sha256(b).hexdigest()} for n, b in files.items()
        }
        manifest = json.dumps({"leosim": "0", "command": "run", "files": entries})
    (d / "manifest.json").write_text(manifest)
    return d


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (json.dumps({"files": {"a\x00b": {}}}), "not a plain file name"),
        ("[" * 100_000, "cannot be read"),
        (json.dumps({"files": {"../x.csv": {}}}), "not a plain file name"),
        (json.dumps({"files": {"a/b/c.csv": {}}}), "not a plain file name"),
    ],
)
def test_report_of_a_tampered_manifest_is_one_error_line(tmp_path, manifest, expected):
    d = _fake_output(tmp_path, {}, manifest)
    r = _cli("report", d)
    assert r.exit_code == 2 and expected in r.output and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "out.html").exists()


def test_report_shows_an_unreadable_csv_as_such(tmp_path):
    # A field over the csv module's 131,072-character limit used to be a traceback.
    d = _fake_output(tmp_path, {"summary.csv": b"a,b\n" + b"x" * 200_000 + b",1\n"})
    r = _cli("report", d)
    assert r.exit_code == 0, r.output
    text = (tmp_path / "out.html").read_text()
    assert "summary.csv: not shown (not a readable CSV table" in text


def test_report_of_a_hypatia_export(tmp_path):
    from leosim.hypatia_export import export_hypatia
    from leosim.scenario import parse_scenario

    sc = parse_scenario(
        {
            "constellation": {"preset": "starlink-550-hypatia"},
            "ground_stations": {"builtin": "hypatia-top-100"},
            "routing": {"pairs": [["Paris", "Luanda"]]},
            "time": {"duration_s": 0.2, "step_s": 0.1},
        }
    )
    res = export_hypatia(sc, tmp_path / "hx")
    r = _cli("report", tmp_path / "hx")  # used to be "lists dynamic_state_..., a folder"
    assert r.exit_code == 0, r.output
    text = (tmp_path / "hx.html").read_text()
    n = len(list((tmp_path / "hx" / res.dynamic_state_dir).iterdir()))
    assert "leosim export hypatia" in text and f"{res.dynamic_state_dir}/ ({n} files)" in text
    assert "fstate_" not in text  # the per-step files are counted, not inlined


def test_report_of_several_policies_names_them(tmp_path):
    d = _fake_output(
        tmp_path,
        {
            "policies.csv": b"policy,country\na,TWN\nb,TWN\n",
            "policy_a.toml": b'name = "<b>A</b> [bold]"\n',
            "policy_b.toml": b'name = "B"\n',
        },
    )
    assert _cli("report", d).exit_code == 0
    text = (tmp_path / "out.html").read_text()
    assert "<h1>leosim policy evaluate</h1>" in text
    assert "policies: &lt;b&gt;A&lt;/b&gt; [bold], B." in text


# -- leosim serve -------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["²", "٣", "１２"])
def test_web_station_reference_takes_only_ascii_digits_as_a_gid(text):
    pytest.importorskip("fastapi")
    from leosim.web.data import _ref

    # "²".isdigit() is True and int("²") raises (a 500); int("٣") is 3 (another station).
    assert text.isdigit()
    assert _ref(text) == text
    assert _ref(" 12 ") == 12


# -- leosim catalogue fetch ---------------------------------------------------------------------

_OMM = {
    "OBJECT_NAME": "STARLINK-1008", "OBJECT_ID": "2019-074A", "EPOCH": "2026-05-12T22:48:42",
    "MEAN_MOTION": 15.06, "ECCENTRICITY": 0.0001912, "INCLINATION": 53.05,
    "RA_OF_ASC_NODE": 10.0, "ARG_OF_PERICENTER": 90.0, "MEAN_ANOMALY": 10.0,
    "EPHEMERIS_TYPE": 0, "CLASSIFICATION_TYPE": "U", "NORAD_CAT_ID": 44714, "ELEMENT_SET_NO": 999,
    "REV_AT_EPOCH": 1000, "BSTAR": 0.0001, "MEAN_MOTION_DOT": 0.0, "MEAN_MOTION_DDOT": 0,
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "expected"),
    [({"INCLINATION": 200.0}, "INCLINATION"), ({"RA_OF_ASC_NODE": 400.0}, "RA_OF_ASC_NODE")],
)
def test_fetch_checks_omm_as_run_reads_it(change, expected):
    from leosim.celestrak import count_satellites
    from leosim.omm import parse_omm_bytes

    good = json.dumps([_OMM])
    assert count_satellites(good, "omm-json") == len(parse_omm_bytes(good.encode(), "json")) == 1
    # The fetch's own checker let these through, and `leosim run` then refused the file.
    bad = json.dumps([{**_OMM, **change}])
    with pytest.raises(InputError, match=expected):
        parse_omm_bytes(bad.encode(), "json")
    with pytest.raises(InputError, match=expected):
        count_satellites(bad, "omm-json")


def test_report_names_a_symbolic_link_as_such(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    (d / "summary.csv").symlink_to(tmp_path)
    (d / "manifest.json").write_text(json.dumps({"files": {"summary.csv": {}}}))
    r = _cli("report", d)
    # It said "which is not a regular file, not a regular file".
    assert (
        r.exit_code == 2 and "summary.csv, which is a symbolic link, not a regular file" in r.output
    )


def test_serve_unknown_host_names_the_host_option():
    from leosim.cli.serve import _bind

    # "nohost.invalid" cannot resolve (RFC 6761); the error was keyed [--port].
    with pytest.raises(InputError, match=r"\[--host\] cannot listen on nohost\.invalid:8799"):
        _bind(None, "nohost.invalid", 8799)


def test_policy_table_never_cuts_the_labels_that_tell_policies_apart(tmp_path):
    sc = tmp_path / "sc.toml"
    sc.write_text(
        '[constellation]\npreset = "starlink-gen1"\n[terminals]\ncountries = ["TWN"]\n'
        "n_per_country = 3\nseed = 1\n[time]\nduration_s = 60\nstep_s = 60\n"
        "[output]\nplot = false\nparquet = false\n"
    )
    names = ["taiwan_activated_jp_ph", "taiwan_activated_jp_ph_tokyo"]
    for n in names:
        (tmp_path / f"{n}.toml").write_text('[countries]\nTWN = "not_activated"\n')
    args = [a for n in names for a in ("-p", tmp_path / f"{n}.toml")]
    r = _cli("policy", "evaluate", sc, *args, "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    # Both labels were shown as "taiwa…" on an 80-column terminal (or a pipe).
    assert "…" not in r.output
    # The policy column, folded over several lines, read top to bottom.
    first_cells = [line.split("│")[1].strip() for line in r.output.splitlines() if "│" in line]
    assert "".join(first_cells) == "".join(names)


def test_report_is_never_written_into_the_folder_it_reports_on(tmp_path):
    d = _fake_output(tmp_path, {"summary.csv": b"a,b\n1,2\n"})
    r = _cli("report", d, "--out", d / "inside.html")
    assert r.exit_code == 2 and "[--out] is inside the folder it reports on" in r.output
    assert sorted(p.name for p in d.iterdir()) == ["manifest.json", "summary.csv"]


def test_several_policies_hold_one_result_in_memory_at_a_time(tmp_path, monkeypatch):
    import gc
    import weakref

    from leosim import service

    sc = tmp_path / "sc.toml"
    sc.write_text(
        '[constellation]\npreset = "starlink-gen1"\n[terminals]\ncountries = ["TWN"]\n'
        "n_per_country = 2\nseed = 1\n[time]\nduration_s = 60\nstep_s = 60\n"
        "[output]\nplot = false\nparquet = false\n"
    )
    alive_before: list[int] = []
    refs: list[weakref.ref] = []
    real = service.evaluation_result  # one policy's result, merged from its chunks

    def tracked(*args, **kwargs):
        gc.collect()
        alive_before.append(sum(r() is not None for r in refs))
        res = real(*args, **kwargs)
        refs.append(weakref.ref(res))
        return res

    monkeypatch.setattr(service, "evaluation_result", tracked)
    args = []
    for k in range(3):
        (tmp_path / f"p{k}.toml").write_text(f'name = "p{k}"\n')
        args += ["-p", tmp_path / f"p{k}.toml"]
    r = _cli("policy", "evaluate", sc, *args, "--out", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    # Hundreds of policies over a long window used to keep every (times x terminals) result.
    assert alive_before == [0, 0, 0]
    assert (tmp_path / "o" / "terminals_p2.csv").exists()


@pytest.mark.parametrize("kind", ["link", "file"])
def test_a_resume_folder_that_is_not_a_folder_is_refused_untouched(scenario, tmp_path, kind):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "data.txt").write_text("precious")
    store = tmp_path / ".o.leosim-resume"
    if kind == "link":
        store.symlink_to(victim)  # clearing "the store" used to delete victim/data.txt
    else:
        store.write_text("x")  # used to be a NotADirectoryError traceback
    for extra in ([], ["--resume"]):
        r = _cli("run", scenario, "--out", tmp_path / "o", "-q", *extra)
        assert r.exit_code == 2 and ".o.leosim-resume (leosim's resume folder) is a" in r.output
    assert sorted(p.name for p in victim.iterdir()) == ["data.txt"]
    assert not (tmp_path / "o").exists()


# -- added sites must lie in the country they name --------------------------------------------


@pytest.mark.parametrize(
    ("table", "lat", "lon", "country", "expected"),
    [
        # Taipei with the latitude's sign lost: Western Australia.
        ("pops.add", -25.03, 121.56, "TWN", "lies in AUS (Australia), not in TWN"),
        ("gateways.add", 25.03, 121.56, "JPN", "lies in TWN (Taiwan), not in JPN"),
        ("gateways.add", 35.68, 139.69, "TWN", "lies in JPN (Japan), not in TWN"),
        ("pops.add", 0.0, -30.0, "BRA", "at sea"),  # mid-Atlantic
    ],
)
def test_added_sites_outside_their_country_are_refused(
    tmp_path, table, lat, lon, country, expected
):
    from leosim.policy import load_policy

    p = tmp_path / "p.toml"
    code = 'code = "x1"\ncity = "X"\n' if table == "pops.add" else 'name = "X"\n'
    p.write_text(
        f'[[{table}]]\n{code}latitude_deg = {lat}\nlongitude_deg = {lon}\ncountry = "{country}"\n'
    )
    with pytest.raises(InputError) as err:
        load_policy(p)
    assert err.value.key == f"{table}[0]" and expected in str(err.value), str(err.value)


def test_added_sites_on_their_coast_are_accepted(tmp_path):
    from pyproj import Geod

    from leosim.policy import SITE_COAST_KM, load_policy

    # A point 30 km (< SITE_COAST_KM) east of Taiwan's east coast at Hualien, at sea.
    lon, lat, _ = Geod(ellps="WGS84").fwd(121.62, 23.98, 90.0, 30e3)
    assert 30 < SITE_COAST_KM
    p = tmp_path / "p.toml"
    p.write_text(
        f'[[gateways.add]]\nname = "offshore"\nlatitude_deg = {lat}\nlongitude_deg = {lon}\n'
        'country = "TWN"\n'
        f'[[pops.add]]\ncode = "x1"\ncity = "X"\nlatitude_deg = {lat}\nlongitude_deg = {lon}\n'
        'country = "twn"\n'
    )
    pol = load_policy(p)
    assert "x1" in set(pol.pops.code)


def test_pop_codes_match_case_aside(tmp_path):
    from leosim.policy import load_policy

    p = tmp_path / "p.toml"
    p.write_text('[pops]\nTWN = "TKYOJPN1"\n')
    assert load_policy(p).pop_overrides["TWN"] == "tkyojpn1"
    p.write_text(
        '[[pops.add]]\ncode = "TKYOJPN1"\ncity = "X"\nlatitude_deg = 35.7\nlongitude_deg = 139.7\n'
        'country = "JPN"\n'
    )
    with pytest.raises(InputError, match="already used"):
        load_policy(p)
