"""Seeded fuzzing of every input reader: scenario TOML, policy TOML and each CSV reader.

Each case mutates a valid input (values of every type and size, missing and unknown keys,
swapped tables, broken bytes and encodings, odd CSV quoting) and checks the contract: the
reader either raises one :class:`~leosim.errors.InputError` whose message is one short line
naming the file, or returns something that passes an independent validity check.  Any other
exception (a traceback for the user) fails the test with the input that caused it.

The generators are plain ``random.Random`` with fixed seeds, so a failure reproduces exactly;
calls are in-process (a few subprocesses check the real CLI), to keep the run to ~1-2 minutes.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import random
import re
import subprocess
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from leosim.borders import Borders
from leosim.capacity import read_flows_csv
from leosim.errors import InputError
from leosim.ground import read_stations_csv
from leosim.ground_segment import read_gateways_csv, read_pops_csv, read_terminals_csv
from leosim.policy import _read_id_list, parse_policy
from leosim.scenario import EPOCH_MAX, EPOCH_MIN, Scenario, load_scenario, parse_scenario

N_SCENARIO_DICTS = 20_000
N_SCENARIO_TEXTS = 5000
N_POLICY = 6000
N_CSV = 4000  # per reader
MAX_LINE = 700

WEIRD = [
    True,
    False,
    0,
    -1,
    1,
    7,
    2**31,
    2**70,
    -(2**70),
    0.0,
    -0.0,
    0.5,
    1e-200,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "2",
    "25.0",
    "²",
    "nan",
    "x" * 300,
    "Paris",
    "FRA",
    "twn",
    [],
    [1, 2],
    [[0, 1]],
    [True, False],
    {},
    {"a": 1},
    datetime(2057, 1, 1, tzinfo=UTC),
    datetime(1956, 12, 31),
    datetime(2026, 5, 13, tzinfo=UTC),
    date(2026, 5, 13),
    time(12, 0),
]


def _weird(rng: random.Random):
    v = copy.deepcopy(rng.choice(WEIRD))
    if isinstance(v, (int, float)) and not isinstance(v, bool) and rng.random() < 0.3:
        v = type(v)(v * rng.choice([-1, 3, 1e-3, 1e6]))
    return v


def assert_one_line(exc: InputError, source: str, what) -> None:
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg, (msg, what)
    assert len(msg) < MAX_LINE, (len(msg), msg[:200], what)
    assert source in msg, (source, msg, what)


def outcome(fn, source: str, what, valid) -> str:
    """``"error"`` or ``"ok"``; anything but InputError fails with the input shown."""
    try:
        res = fn()
    except InputError as exc:
        assert_one_line(exc, source, what)
        return "error"
    except Exception as exc:  # a traceback for the user
        raise AssertionError(f"{type(exc).__name__}: {exc} for input {str(what)[:3000]}") from exc
    valid(res)
    return "ok"


# ------------------------------------------------------------------ scenario TOML
BASE_SCENARIO = {
    "name": "fuzz",
    "constellation": {
        "shells": [
            {
                "name": "A",
                "num_planes": 4,
                "sats_per_plane": 5,
                "inclination_deg": 53.0,
                "altitude_km": 550.0,
            }
        ]
    },
    "ground_stations": {"builtin": "hypatia-top-100"},
    "links": {"isl": "plus-grid", "gsl_min_elevation_deg": 25},
    "routing": {"pairs": [[0, 1], ["Paris", "Luanda"]]},
    "time": {"duration_s": 4, "step_s": 2},
    "terminals": {"countries": ["FRA"], "n_per_country": 10},
    "coverage": {"resolution_deg": 10},
    "demand": {"countries": ["TWN"], "rates_mbps": [25, 100]},
    "capacity": {"isl_gbps": 100},
}
TABLES = {
    name: f.annotation
    for name, f in Scenario.model_fields.items()
    if name not in ("source", "base_dir")
}


def _keys_of(model_name: str) -> list[str]:
    from pydantic import BaseModel

    ann = Scenario.model_fields[model_name].annotation
    for c in (ann, *getattr(ann, "__args__", ())):
        if isinstance(c, type) and issubclass(c, BaseModel):
            return list(c.model_fields)
    return []


def _paths(d, prefix=()):
    """Every (container, key) in a nested dict/list document."""
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            out.append((d, k))
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.append((d, i))
            out.extend(_paths(v, (*prefix, i)))
    return out


def mutate_doc(doc: dict, rng: random.Random, tables: dict[str, list[str]], most: int = 4) -> dict:
    d = copy.deepcopy(doc)
    for _ in range(rng.randint(1, most)):
        r = rng.random()
        paths = _paths(d)
        if r < 0.45 and paths:
            cont, k = rng.choice(paths)
            cont[k] = _weird(rng)
        elif r < 0.6 and paths:
            cont, k = rng.choice(paths)
            if isinstance(cont, dict):
                del cont[k]
            elif cont:
                cont.pop(k)
        elif r < 0.7:
            tgt = rng.choice([d, *[v for v in d.values() if isinstance(v, dict)]])
            tgt[rng.choice(["setp_s", "x", "Name", "pairs", "isl_gbps", "add", "TWN"])] = _weird(
                rng
            )
        else:  # a known key of a known table with a random value
            t = rng.choice(list(tables))
            keys = tables[t]
            if keys:
                tab = d.setdefault(t, {})
                if isinstance(tab, dict):
                    tab[rng.choice(keys)] = _weird(rng)
    return d


def _finite_everywhere(obj, path="") -> None:
    if isinstance(obj, float):
        assert math.isfinite(obj), path
    elif isinstance(obj, bool):
        pass
    elif isinstance(obj, int):
        assert abs(obj) < 2**63, path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _finite_everywhere(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _finite_everywhere(v, f"{path}[{i}]")


def valid_scenario(sc: Scenario) -> None:
    assert isinstance(sc, Scenario)
    t = sc.time.offsets_s()
    assert len(t) >= 1 and np.all(np.isfinite(t)) and np.all(np.diff(t) >= 0)
    _finite_everywhere(sc.model_dump())
    for when in (sc.time.start, sc.constellation.epoch):
        if when is not None:
            w = when if when.tzinfo else when.replace(tzinfo=UTC)
            assert EPOCH_MIN <= w < EPOCH_MAX
    for s, dd in sc.routing.pairs:
        for ref in (s, dd):
            assert isinstance(ref, str) or (type(ref) is int and ref >= 0)
    if sc.constellation.shells:
        for sh in sc.constellation.shells:
            assert type(sh.num_planes) is int and 1 <= sh.num_planes <= 10_000


def test_fuzz_scenario_dicts():
    rng = random.Random(20260513)
    tables = {t: _keys_of(t) for t in TABLES}
    counts = {"ok": 0, "error": 0}
    for i in range(N_SCENARIO_DICTS):
        doc = mutate_doc(BASE_SCENARIO, rng, tables)
        src = f"fuzz{i}.toml"
        counts[
            outcome(
                lambda doc=doc, src=src: parse_scenario(doc, source=src), src, doc, valid_scenario
            )
        ] += 1
    print(counts)
    assert counts["ok"] > 20 and counts["error"] > 200, counts


def test_fuzz_scenario_networks():
    """Scenarios that validate also build (or fail with one line naming the file)."""
    from leosim.simulate import build_network, check_run_size

    rng = random.Random(7)
    tables = {t: _keys_of(t) for t in ("links", "routing", "time", "ground_stations")}
    n_ok = 0
    for i in range(80):
        doc = mutate_doc(BASE_SCENARIO, rng, tables, most=1)
        src = f"net{i}.toml"
        try:
            sc = parse_scenario(doc, source=src)
        except InputError:
            continue

        def build(sc=sc):
            net = build_network(sc)
            check_run_size(net, len(sc.time.offsets_s()))
            return net

        def valid(net):
            assert net.num_sats == 20
            assert net.pairs.shape[1] == 2 and np.all(net.pairs[:, 0] != net.pairs[:, 1])

        n_ok += outcome(build, src, doc, valid) == "ok"
    assert n_ok > 5


BASE_SCENARIO_TEXT = """\
name = "fuzz text"
[constellation]
preset = "starlink-550-hypatia"
epoch = 2026-05-13T00:00:00Z
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"], [17, 85]]
[time]
duration_s = 200
step_s = 0.1
[coverage]
resolution_deg = 2.5
"""


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        r = rng.random()
        pos = rng.randrange(len(b) + 1)
        if r < 0.2 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif r < 0.35:
            b[pos:pos] = rng.choice(
                [b"\xff", b"\xc3", b"\x00", b"\r", b"\n", b'"', b"[", b"=", b"\xef\xbb\xbf", b"\t"]
            )
        elif r < 0.5 and b:
            del b[pos : pos + rng.randint(1, 20)]
        elif r < 0.6:
            b = b[:pos]
        elif r < 0.7:
            b[0:0] = b"\xef\xbb\xbf"
        elif r < 0.8:
            b[pos:pos] = rng.choice([b"9" * 30, b"x" * 5000, "²".encode(), b"1e999", b"nan"])
        else:  # a token swap keeps the syntax valid more often
            text = bytes(b)
            for a, c in rng.sample(
                [
                    (b"200", b"0"),
                    (b"0.1", b"inf"),
                    (b"2026", b"2057"),
                    (b"17", b"true"),
                    (b'"Paris"', b"1.5"),
                    (b"940.7", b"-1"),
                    (b"2.5", b"1e-200"),
                    (b"[time]", b"[tim]"),
                    (b"step_s", b"setp_s"),
                ],
                1,
            ):
                text = text.replace(a, c, 1)
            b = bytearray(text)
    return bytes(b)


def test_fuzz_scenario_files(tmp_path):
    rng = random.Random(99)
    counts = {"ok": 0, "error": 0}
    base = BASE_SCENARIO_TEXT.encode()
    for i in range(N_SCENARIO_TEXTS):
        data = mutate_bytes(base, rng)
        p = tmp_path / f"s{i}.toml"
        p.write_bytes(data)
        counts[outcome(lambda p=p: load_scenario(p), str(p), data, valid_scenario)] += 1
    print(counts)
    assert counts["ok"] > 10 and counts["error"] > 100, counts


# ------------------------------------------------------------------ policy TOML
@pytest.fixture(scope="module")
def borders():
    return Borders.default()


BASE_POLICY = {
    "name": "fuzz policy",
    "min_elevation_deg": 25,
    "countries": {"TWN": "not_activated", "IRN": "sanctioned_but_active"},
    "exclusion_zones": [
        {"name": "poly", "polygon": [[30, 45], [31, 45], [31, 46], [30, 45]]},
        {"name": "pt", "point": [16.8, 96.2], "radius_km": 50},
        {"name": "buf", "country": "IND", "border_buffer_km": 50},
    ],
    "landing_rights": {"JPN": ["JPN"]},
    "forbidden_gateway_countries": ["RUS"],
    "allow_lists": {"FRA": ["t1", "t2"]},
    "gateways": {
        "builtin": "operational",
        "add": [{"name": "g", "latitude_deg": 25.0, "longitude_deg": 121.5, "country": "TWN"}],
    },
}
POLICY_KEYS = {
    "countries": ["TWN", "twn", "Tw", "FRA", "XXX", "", "²", "q" * 300],
    "landing_rights": ["JPN", "jpn", "IND"],
    "allow_lists": ["FRA", "fra", "DEU"],
}


def valid_policy(pol, borders) -> None:
    for code in (*pol.spec.countries, *pol.spec.landing_rights, *pol.allow_lists):
        assert code in borders.codes, code
    g = pol.gateways
    assert len(g) > 0
    assert np.all(np.abs(g.latitude_deg) <= 90) and np.all(np.abs(g.longitude_deg) <= 180)
    for z in pol.zones:
        if z.geometry is not None:
            assert z.geometry.is_valid
        if z.centre_deg is not None:
            assert -90 <= z.centre_deg[0] <= 90 and math.isfinite(z.radius_km)


def test_fuzz_policies(tmp_path, borders):
    from leosim.policy import PolicySpec

    rng = random.Random(4242)
    (tmp_path / "allow.csv").write_text("terminal_id\nt1\n")
    tables = {
        "gateways": ["builtin", "file", "add", "min_elevation_deg"],
        **{k: [] for k in PolicySpec.model_fields},
    }
    counts = {"ok": 0, "error": 0}
    for i in range(N_POLICY):
        doc = mutate_doc(BASE_POLICY, rng, tables)
        if rng.random() < 0.4:  # country keys in other spellings: duplicates after normalising
            t = rng.choice(list(POLICY_KEYS))
            tab = doc.setdefault(t, {})
            if isinstance(tab, dict):
                v = {"countries": "active", "landing_rights": ["JPN"], "allow_lists": "allow.csv"}
                tab[rng.choice(POLICY_KEYS[t])] = v[t] if rng.random() < 0.8 else _weird(rng)
        src = f"pol{i}.toml"
        counts[
            outcome(
                lambda doc=doc, src=src: parse_policy(
                    doc, source=src, base_dir=tmp_path, borders=borders
                ),
                src,
                doc,
                lambda p: valid_policy(p, borders),
            )
        ] += 1
    print(counts)
    assert counts["ok"] > 20 and counts["error"] > 50, counts


# ------------------------------------------------------------------ CSV readers
CELLS = [
    "",
    " ",
    "0",
    "1",
    "-1",
    "12.5",
    "-0",
    "95",
    "-181",
    "nan",
    "inf",
    "-inf",
    "1e400",
    "1_0",
    "²",
    "١٢",
    "0x10",
    "Paris",
    "FRA",
    "fra",
    "XXX",
    "t1",
    '"quoted, comma"',
    '"line\nbreak"',
    '"unterminated',
    "a" * 200,
    "\x00",
    "operational",
    "planned",
    "weird",
]


def make_csv(header: list[str], rows: list[list[str]], rng: random.Random) -> bytes:
    header = list(header)
    rows = [list(r) for r in rows]
    for _ in range(rng.randint(1, 5)):
        r = rng.random()
        if r < 0.45 and rows:
            row = rng.choice(rows)
            if row:
                row[rng.randrange(len(row))] = rng.choice(CELLS)
        elif r < 0.55 and header:
            j = rng.randrange(len(header))
            header.pop(j)
            if rng.random() < 0.5:
                for row in rows:
                    if len(row) > j:
                        row.pop(j)
        elif r < 0.62:
            header.append(rng.choice(["extra", "country", "weight", "status", "city", "gid"]))
            if rng.random() < 0.7:
                for row in rows:
                    row.append(rng.choice(CELLS))
        elif r < 0.7 and rows:
            rows.append(list(rng.choice(rows)))  # a duplicate row
        elif r < 0.76 and rows:
            rng.choice(rows).append("surplus")
        elif r < 0.8:
            rows = []
        elif r < 0.85 and rows:
            rows.insert(rng.randrange(len(rows)), [])  # blank line
        else:
            rng.shuffle(rows)
    text = "\n".join(",".join(r) for r in [header, *rows]) + ("\n" if rng.random() < 0.8 else "")
    if rng.random() < 0.15:
        text = text.replace("\n", "\r\n")
    data = text.encode()
    if rng.random() < 0.25:
        data = mutate_bytes(data, rng)
    if rng.random() < 0.1:
        data = b"\xef\xbb\xbf" + data
    return data


def _finite_in(a, lo, hi):
    a = np.asarray(a, dtype=float)
    return bool(np.all(np.isfinite(a)) and np.all((a >= lo) & (a <= hi)))


STRICT_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _oracle(path: Path, column: str) -> list[float]:
    """The column as a careful reader sees it: the csv module on the UTF-8 text, blank rows
    skipped, every cell an ASCII decimal number (independent of leosim's readers)."""
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]]
    j = header.index(column)
    cells = [r[j].strip() for r in rows[1:] if r and any(c.strip() for c in r)]
    assert all(STRICT_NUMBER.fullmatch(c) for c in cells), cells
    return [float(c) for c in cells]


def _valid_stations(gs, path):
    assert list(gs.latitude_deg) == _oracle(path, "latitude_deg")
    n = len(gs)
    assert n >= 1 and list(gs.gids) == list(range(n))
    assert _finite_in(gs.latitude_deg, -90, 90) and _finite_in(gs.longitude_deg, -180, 180)
    assert _finite_in(gs.elevation_m, -500, 9000)


def _valid_points(obj, path, unique_attr=None):
    assert list(obj.latitude_deg) == _oracle(path, "latitude_deg")
    assert _finite_in(obj.latitude_deg, -90, 90) and _finite_in(obj.longitude_deg, -180, 180)
    if unique_attr:
        ids = list(getattr(obj, unique_attr))
        assert len(ids) == len(set(ids)) and all(ids)


def _valid_flows(t, path):
    assert list(t.demand_bps / 1e6) == pytest.approx(_oracle(path, "demand_mbps"), rel=1e-12)
    assert len(t.src) == len(t.dst) == len(t.demand_bps) >= 1
    assert all(t.src) and all(t.dst) and _finite_in(t.demand_bps, 0, 1e30)


def _valid_ids(ids, path):
    assert all(isinstance(i, str) and i for i in ids)


READERS = {
    "stations": (
        ["gid", "name", "latitude_deg", "longitude_deg", "elevation_m"],
        [["0", "Paris", "48.86", "2.35", "35"], ["1", "Lima", "-12.05", "-77.04", "150"]],
        lambda p, b: read_stations_csv(p),
        _valid_stations,
    ),
    "gateways": (
        ["name", "latitude_deg", "longitude_deg", "country", "status"],
        [["g1", "48.86", "2.35", "FRA", "operational"], ["g2", "35.0", "139.0", "", "planned"]],
        lambda p, b: read_gateways_csv(p, borders=b),
        lambda g, p: _valid_points(g, p),
    ),
    "pops": (
        ["code", "city", "latitude_deg", "longitude_deg", "country"],
        [["frntfra1", "Paris", "48.86", "2.35", "FRA"], ["tkyojpn1", "Tokyo", "35.6", "139.7", ""]],
        lambda p, b: read_pops_csv(p, borders=b),
        lambda g, p: _valid_points(g, p, "code"),
    ),
    "terminals": (
        ["terminal_id", "latitude_deg", "longitude_deg", "weight"],
        [["t1", "48.86", "2.35", "3"], ["t2", "-33.9", "18.4", "1"]],
        lambda p, b: read_terminals_csv(p, borders=b),
        lambda g, p: _valid_points(g, p, "terminal_id"),
    ),
    "flows": (
        ["src", "dst", "demand_mbps"],
        [["0", "1", "100"], ["Paris", "Lima", "2.5"]],
        lambda p, b: read_flows_csv(p),
        _valid_flows,
    ),
    "allow-list": (
        ["terminal_id", "note"],
        [["t1", "x"], ["t2", ""]],
        lambda p, b: _read_id_list(p),
        _valid_ids,
    ),
}


@pytest.mark.parametrize("reader", list(READERS))
def test_fuzz_csv_readers(tmp_path, borders, reader):
    header, rows, read, valid = READERS[reader]
    rng = random.Random(f"csv-{reader}")
    counts = {"ok": 0, "error": 0}
    for i in range(N_CSV):
        data = make_csv(header, rows, rng)
        p = tmp_path / f"{reader}{i}.csv"
        p.write_bytes(data)
        check = lambda res, p=p: valid(res, p)  # noqa: E731
        counts[outcome(lambda p=p: read(p, borders), str(p), data, check)] += 1
    print(counts)
    assert counts["ok"] > 10 and counts["error"] > 30, counts


# ------------------------------------------------------------------ the real CLI, a few times
def test_fuzz_cli_subprocess(tmp_path):
    """A few mutated scenario files through ``python -m leosim.cli run``: stderr is one
    ``error:`` line naming the file (or the run succeeds), never a traceback."""
    rng = random.Random(3)
    base = BASE_SCENARIO_TEXT.replace("duration_s = 200", "duration_s = 1").encode()
    for i in range(3):
        data = mutate_bytes(base, rng)
        p = tmp_path / f"cli{i}.toml"
        p.write_bytes(data)
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "leosim.cli",
                "run",
                str(p),
                "-o",
                str(tmp_path / f"o{i}"),
                "-q",
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert "Traceback" not in r.stderr, (data, r.stderr[-3000:])
        if r.returncode != 0:
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            assert r.returncode == 2 and len(lines) == 1, (data, r.stderr[-3000:])
            assert lines[0].startswith("error: ") and str(p) in lines[0], lines[0]
