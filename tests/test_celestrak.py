"""``leosim catalogue fetch`` / :mod:`leosim.celestrak` against a local HTTP server.

Nothing here touches the internet: a ``http.server`` on 127.0.0.1 plays CelesTrak (serving the
TLE fixture and OMM versions of it, counting requests, answering ``If-None-Match`` with 304,
or serving garbage / errors on demand), and a clock is injected instead of sleeping.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from leosim import celestrak
from leosim.celestrak import FetchError, count_satellites, fetch_gp
from leosim.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
TLE_TEXT = (DATA / "starlink_2026-05-12_subset.tle").read_text(encoding="ascii")
N_FIXTURE = 149  # tests/data/README.md: 149 Starlink satellites
T0 = datetime(2026, 5, 13, 6, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


# -- OMM fixtures, built from the TLE columns (CelesTrak's OMM carry the same numbers) ---------

CSV_HEADER = [
    "OBJECT_NAME", "OBJECT_ID", "EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION",
    "RA_OF_ASC_NODE", "ARG_OF_PERICENTER", "MEAN_ANOMALY", "EPHEMERIS_TYPE",
    "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO", "REV_AT_EPOCH", "BSTAR",
    "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT",
]  # fmt: skip


def _implied(field: str) -> float:
    """A TLE 'assumed decimal point' field such as ' 54858-3' -> 0.54858e-3."""
    f = field.strip()
    sign = -1.0 if f.startswith("-") else 1.0
    f = f.lstrip("+-")
    return sign * float("0." + f[:-2]) * 10.0 ** int(f[-2:])


def omm_records(n: int) -> list[dict]:
    """The first ``n`` satellites of the TLE fixture as CelesTrak-style OMM JSON records.

    Columns from the TLE format (https://celestrak.org/columns/v04n03/)."""
    lines = [ln.rstrip("\n") for ln in TLE_TEXT.splitlines() if ln.strip()]
    recs = []
    for k in range(n):
        name, l1, l2 = lines[3 * k : 3 * k + 3]
        yy, doy = int(l1[18:20]), float(l1[20:32])
        epoch = datetime(2000 + yy, 1, 1) + timedelta(days=doy - 1)
        launch_yy = int(l1[9:11])
        recs.append(
            {
                "OBJECT_NAME": name.strip(),
                "OBJECT_ID": f"{1900 + launch_yy if launch_yy > 56 else 2000 + launch_yy}-"
                f"{l1[11:14]}{l1[14:17].strip()}",
                "EPOCH": epoch.strftime("%Y-%m-%dT%H:%M:%S.%f"),
                "MEAN_MOTION": float(l2[52:63]),
                "ECCENTRICITY": float("0." + l2[26:33]),
                "INCLINATION": float(l2[8:16]),
                "RA_OF_ASC_NODE": float(l2[17:25]),
                "ARG_OF_PERICENTER": float(l2[34:42]),
                "MEAN_ANOMALY": float(l2[43:51]),
                "EPHEMERIS_TYPE": 0,
                "CLASSIFICATION_TYPE": l1[7],
                "NORAD_CAT_ID": int(l1[2:7]),
                "ELEMENT_SET_NO": int(l1[64:68]),
                "REV_AT_EPOCH": int(l2[63:68]),
                "BSTAR": _implied(l1[53:61]),
                "MEAN_MOTION_DOT": float(l1[33:43]),
                "MEAN_MOTION_DDOT": _implied(l1[44:52]),
            }
        )
    return recs


def omm_json(n: int) -> str:
    return json.dumps(omm_records(n))


def omm_csv(n: int) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_HEADER, lineterminator="\r\n")
    w.writeheader()
    w.writerows(omm_records(n))
    return buf.getvalue()


def omm_xml(n: int) -> str:
    """CCSDS NDM/XML as CelesTrak writes it: one <omm> per satellite inside <ndm>."""
    meta = ("OBJECT_NAME", "OBJECT_ID")
    mean = ("EPOCH", "MEAN_MOTION", "ECCENTRICITY", "INCLINATION", "RA_OF_ASC_NODE",
            "ARG_OF_PERICENTER", "MEAN_ANOMALY")  # fmt: skip
    tle = ("EPHEMERIS_TYPE", "CLASSIFICATION_TYPE", "NORAD_CAT_ID", "ELEMENT_SET_NO",
           "REV_AT_EPOCH", "BSTAR", "MEAN_MOTION_DOT", "MEAN_MOTION_DDOT")  # fmt: skip

    def tags(rec, keys):
        return "".join(f"<{k}>{rec[k]}</{k}>" for k in keys)

    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<ndm xmlns:xsi='
             '"http://www.w3.org/2001/XMLSchema-instance">']  # fmt: skip
    for rec in omm_records(n):
        parts.append(
            '<omm id="CCSDS_OMM_VERS" version="2.0"><header><CREATION_DATE/><ORIGINATOR/>'
            f"</header><body><segment><metadata>{tags(rec, meta)}<CENTER_NAME>EARTH"
            "</CENTER_NAME><REF_FRAME>TEME</REF_FRAME><TIME_SYSTEM>UTC</TIME_SYSTEM>"
            "<MEAN_ELEMENT_THEORY>SGP4</MEAN_ELEMENT_THEORY></metadata><data><meanElements>"
            f"{tags(rec, mean)}</meanElements><tleParameters>{tags(rec, tle)}</tleParameters>"
            "</data></segment></body></omm>"
        )
    parts.append("</ndm>\n")
    return "\n".join(parts)


# -- the local server --------------------------------------------------------------------------


class FakeCelesTrak:
    """A GP endpoint on 127.0.0.1 that serves ``bodies[(GROUP, FORMAT)]``.

    ``override`` = (status, body bytes) answers every request with that instead; ``cut`` sends
    half the body under the full Content-Length; ``gzip`` compresses the answer.
    """

    def __init__(self) -> None:
        self.bodies: dict[tuple[str, str], bytes] = {}
        self.override: tuple[int, bytes] | None = None
        self.cut = False
        self.gzip = False
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
                fake.requests.append({"query": q, "headers": dict(self.headers)})
                if fake.override is not None:
                    self._send(*fake.override, etag=None)
                    return
                body = fake.bodies.get((q.get("GROUP", ""), q.get("FORMAT", "")))
                if body is None:
                    self._send(200, b"No GP data found", etag=None)
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self._send(200, body, etag=etag)

            def _send(self, status: int, body: bytes, etag: str | None) -> None:
                if fake.gzip:
                    body = gzip.compress(body)
                self.send_response(status)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Last-Modified", formatdate(T0, usegmt=True))
                if fake.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if fake.cut else body)
                if fake.cut:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/NORAD/elements/gp.php"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCelesTrak:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with FakeCelesTrak() as s:
        s.bodies[("starlink", "tle")] = TLE_TEXT.encode()
        s.bodies[("starlink", "json")] = omm_json(5).encode()
        s.bodies[("starlink", "csv")] = omm_csv(5).encode()
        s.bodies[("starlink", "xml")] = omm_xml(5).encode()
        yield s


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _fetch(server, tmp_path, clock, fmt="tle", **kw):
    return fetch_gp(
        "starlink", fmt, base_url=server.base_url, cache_dir=tmp_path / "cache", now=clock, **kw
    )


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gp.php"


# -- core ----------------------------------------------------------------------------------------


def test_fresh_download_is_validated_cached_and_counted(server, tmp_path):
    res = _fetch(server, tmp_path, Clock(T0))
    assert res.origin == "downloaded"
    assert res.body == TLE_TEXT
    assert res.n_satellites == N_FIXTURE
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["query"] == {"GROUP": "starlink", "FORMAT": "tle"}
    assert req["headers"]["User-Agent"].startswith("leosim/")
    assert "If-None-Match" not in req["headers"]
    entry = json.loads(res.cache_file.read_text(encoding="utf-8"))
    assert entry["body"] == TLE_TEXT
    assert entry["etag"] == '"' + hashlib.sha256(TLE_TEXT.encode()).hexdigest()[:16] + '"'
    assert entry["last_modified"] == formatdate(T0, usegmt=True)
    assert entry["fetched_at_s"] == T0


def test_inside_two_hours_the_cache_is_served_without_a_request(server, tmp_path):
    clock = Clock(T0)
    _fetch(server, tmp_path, clock)
    clock.t = T0 + 37 * 60 + 10
    res = _fetch(server, tmp_path, clock)
    assert len(server.requests) == 1
    assert res.origin == "cache"
    assert res.body == TLE_TEXT and res.n_satellites == N_FIXTURE
    assert res.age_s == pytest.approx(37 * 60 + 10)
    (note,) = res.notes
    assert note.startswith("served from cache (fetched 37 min ago;")
    assert "at most one download per group every 2 hours" in note
    assert "next download in 1 h 23 min" in note
    clock.t = T0 + 2 * HOUR - 1
    assert _fetch(server, tmp_path, clock).origin == "cache"
    assert len(server.requests) == 1


def test_after_two_hours_a_conditional_request_gets_304_and_restarts_the_window(server, tmp_path):
    clock = Clock(T0)
    first = _fetch(server, tmp_path, clock)
    etag = json.loads(first.cache_file.read_text(encoding="utf-8"))["etag"]
    clock.t = T0 + 2 * HOUR + 1
    res = _fetch(server, tmp_path, clock)
    assert len(server.requests) == 2
    headers = server.requests[1]["headers"]
    assert headers["If-None-Match"] == etag
    assert headers["If-Modified-Since"] == formatdate(T0, usegmt=True)
    assert res.origin == "not-modified"
    assert res.body == TLE_TEXT and res.n_satellites == N_FIXTURE
    assert json.loads(res.cache_file.read_text(encoding="utf-8"))["fetched_at_s"] == clock.t
    clock.t += 10 * 60  # the 304 counts as a download: the next 2 h come from the cache
    assert _fetch(server, tmp_path, clock).origin == "cache"
    assert len(server.requests) == 2


def test_new_content_after_two_hours_replaces_the_cache(server, tmp_path):
    clock = Clock(T0)
    _fetch(server, tmp_path, clock)
    newer = "\n".join(TLE_TEXT.splitlines()[: 3 * 10]) + "\n"
    server.bodies[("starlink", "tle")] = newer.encode()
    clock.t = T0 + 3 * HOUR
    res = _fetch(server, tmp_path, clock)
    assert res.origin == "downloaded"
    assert res.body == newer and res.n_satellites == 10
    entry = json.loads(res.cache_file.read_text(encoding="utf-8"))
    assert entry["body"] == newer and entry["fetched_at_s"] == clock.t


@pytest.mark.parametrize(
    ("fmt", "n"), [("omm-json", 5), ("omm-csv", 5), ("omm-xml", 5), ("tle", N_FIXTURE)]
)
def test_each_format_is_requested_validated_and_cached_separately(server, tmp_path, fmt, n):
    res = _fetch(server, tmp_path, Clock(T0), fmt=fmt)
    assert res.n_satellites == n
    assert server.requests[0]["query"]["FORMAT"] == celestrak.FORMATS[fmt]
    other = "omm-json" if fmt != "omm-json" else "tle"
    assert _fetch(server, tmp_path, Clock(T0 + 60), fmt=other).origin == "downloaded"
    assert len(server.requests) == 2


GOOD_TLE_CUT = TLE_TEXT[: len(TLE_TEXT) // 2 + 17]  # ends inside an element line
HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head>"
    "<body>try later</body></html>\n"
)
CORRUPT = {
    "garbage": bytes(range(256)) * 8,
    "truncated TLE": GOOD_TLE_CUT.encode(),
    "HTML page": HTML_PAGE.encode(),
    "no GP data": b"No GP data found",
    "invalid query": b'Invalid query: "GROUP=starlink&FORMAT=tle"',
    "empty": b"",
    "TLE bad checksum": TLE_TEXT.replace("  1322\n", "  1323\n", 1).encode(),
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_a_corrupt_download_never_replaces_a_good_cache(server, tmp_path, kind):
    clock = Clock(T0)
    good = _fetch(server, tmp_path, clock)
    before = good.cache_file.read_bytes()
    server.override = (200, CORRUPT[kind])
    clock.t = T0 + 5 * HOUR
    with pytest.raises(FetchError) as err:
        _fetch(server, tmp_path, clock)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(server.base_url)
    assert "the cached copy (fetched 5 h 00 min ago) was kept" in msg
    assert good.cache_file.read_bytes() == before
    stale = _fetch(server, tmp_path, clock, allow_stale=True)
    assert stale.origin == "stale-cache" and stale.body == TLE_TEXT
    assert stale.notes[0].startswith("warning: ")


@pytest.mark.parametrize(
    ("fmt", "body", "expected"),
    [
        ("omm-json", "[]", "holds no satellites"),
        ("omm-json", '{"OBJECT_NAME": "X"}', "record 1 .*MEAN_MOTION is missing"),
        ("omm-json", "[{", "not valid JSON"),
        ("omm-csv", ",".join(CSV_HEADER) + "\r\n", "holds no satellites"),
        ("omm-csv", "No GP data found", "OMM CSV header lacks OBJECT_ID, EPOCH, "),
        ("omm-xml", "<ndm><omm>", "OMM XML is not well-formed"),
        ("omm-xml", HTML_PAGE, "an HTML page, not valid omm-xml data"),
    ],
)
def test_corrupt_omm_answers_are_rejected_without_a_cache(server, tmp_path, fmt, body, expected):
    server.override = (200, body.encode())
    with pytest.raises(FetchError, match=expected) as err:
        _fetch(server, tmp_path, Clock(T0), fmt=fmt)
    assert "\n" not in str(err.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_omm_records_are_checked_key_by_key():
    recs = omm_records(3)
    del recs[1]["MEAN_MOTION"]
    with pytest.raises(InputError, match=r"record 2 .*MEAN_MOTION is missing"):
        count_satellites(json.dumps(recs), "omm-json")
    rows = omm_csv(3).replace("0.0001912", "0.000l912")  # STARLINK-1008's eccentricity
    with pytest.raises(InputError, match=r"ECCENTRICITY is '0\.000l912'") as err:
        count_satellites(rows, "omm-csv", source="x.csv")
    assert err.value.line == 2
    bad_epoch = omm_json(2).replace("2026-05-12T", "12/05/2026 ", 1)
    with pytest.raises(InputError, match=r"record 1 .*: EPOCH is '12/05/2026"):
        count_satellites(bad_epoch, "omm-json")


def test_the_omm_fixtures_carry_the_tle_elements():
    # Cross-check of the test fixture itself against sgp4's own OMM reader.
    from sgp4 import omm
    from sgp4.api import Satrec

    for rec, row in zip(omm_records(5), omm.parse_csv(io.StringIO(omm_csv(5))), strict=True):
        sat = Satrec()
        omm.initialize(sat, row)
        ref = Satrec.twoline2rv(*_tle_lines(rec["NORAD_CAT_ID"]))
        assert sat.satnum == ref.satnum
        for attr in ("ecco", "inclo", "nodeo", "argpo", "mo", "no_kozai", "bstar"):
            assert getattr(sat, attr) == pytest.approx(getattr(ref, attr), rel=1e-9, abs=1e-12)
        assert sat.jdsatepoch + sat.jdsatepochF == pytest.approx(
            ref.jdsatepoch + ref.jdsatepochF, abs=1e-8
        )


def _tle_lines(norad: int) -> tuple[str, str]:
    lines = TLE_TEXT.splitlines()
    for i, ln in enumerate(lines):
        if ln.startswith("1 ") and int(ln[2:7]) == norad:
            return ln, lines[i + 1]
    raise AssertionError(norad)


def test_http_errors_cut_answers_and_gzip(server, tmp_path):
    server.override = (500, b"Internal Server Error")
    with pytest.raises(FetchError, match="answered HTTP 500"):
        _fetch(server, tmp_path, Clock(T0))
    server.override = None
    server.cut = True
    with pytest.raises(FetchError, match="cut short"):
        _fetch(server, tmp_path, Clock(T0))
    server.cut = False
    server.gzip = True
    res = _fetch(server, tmp_path, Clock(T0))
    assert res.body == TLE_TEXT and res.n_satellites == N_FIXTURE


def _route_to(server, monkeypatch) -> list[str]:
    """Send every request of :mod:`leosim.celestrak`, whatever its host, to ``server``."""
    calls = []
    real_request = celestrak._request

    def fake_request(url, headers, timeout_s):
        calls.append(url)
        return real_request(server.base_url + "?" + url.split("?", 1)[1], headers, timeout_s)

    monkeypatch.setattr(celestrak, "_request", fake_request)
    return calls


def test_force_skips_the_window_for_a_mirror_but_not_for_celestrak(server, tmp_path, monkeypatch):
    clock = Clock(T0)
    _fetch(server, tmp_path, clock)
    clock.t = T0 + 10 * 60
    res = _fetch(server, tmp_path, clock, force=True)
    assert res.origin == "downloaded" and len(server.requests) == 2
    assert "If-None-Match" not in server.requests[1]["headers"]

    calls = _route_to(server, monkeypatch)  # stands in for celestrak.org
    kw = {"cache_dir": tmp_path / "cache", "now": clock}
    assert fetch_gp("starlink", "tle", **kw).origin == "downloaded"
    assert calls == ["https://celestrak.org/NORAD/elements/gp.php?GROUP=starlink&FORMAT=tle"]
    clock.t += 5 * 60
    res = fetch_gp("starlink", "tle", force=True, **kw)
    assert res.origin == "cache" and len(calls) == 1
    assert "--force does not override that for celestrak.org" in res.notes[0]


def test_an_unreadable_cache_file_is_ignored_with_a_note(server, tmp_path):
    clock = Clock(T0)
    res = _fetch(server, tmp_path, clock)
    res.cache_file.write_text("{not json", encoding="utf-8")
    again = _fetch(server, tmp_path, clock)
    assert again.origin == "downloaded"
    assert again.notes[0].startswith(f"ignoring the unusable cache file {res.cache_file}")


def test_urls_groups_formats_and_the_cache_folder():
    assert celestrak.gp_url("Starlink", "omm-json") == (
        "https://celestrak.org/NORAD/elements/gp.php?GROUP=starlink&FORMAT=json"
    )
    assert celestrak.gp_url("oneweb", "tle", "http://mirror.example/gp?key=1&FORMAT=x") == (
        "http://mirror.example/gp?key=1&GROUP=oneweb&FORMAT=tle"
    )
    for bad in ("star link", "../etc", "", "starlink&FORMAT=json", "-x"):
        with pytest.raises(InputError, match="GROUP must be a CelesTrak group name"):
            celestrak.check_group(bad)
    with pytest.raises(InputError, match="--format must be one of tle, omm-json"):
        celestrak.check_format("json")
    with pytest.raises(InputError, match="--base-url must be an http"):
        celestrak.gp_url("starlink", "tle", "file:///etc/passwd")
    assert celestrak.is_celestrak_host("https://celestrak.org/x")
    assert celestrak.is_celestrak_host("https://www.CelesTrak.com/x")
    assert not celestrak.is_celestrak_host("https://celestrak.org.evil.example/x")
    env = {"HOME": "/h", "XDG_CACHE_HOME": "/xdg", "LEOSIM_CACHE_DIR": "/mine"}
    assert celestrak.default_cache_dir(env) == Path("/mine")
    assert celestrak.default_cache_dir({"XDG_CACHE_HOME": "/xdg"}) == Path("/xdg/leosim")
    a = celestrak.cache_path(Path("c"), "http://a/gp.php", "starlink", "tle")
    assert a != celestrak.cache_path(Path("c"), "http://b/gp.php", "starlink", "tle")
    assert a != celestrak.cache_path(Path("c"), "http://a/gp.php", "starlink", "omm-csv")


# -- command line --------------------------------------------------------------------------------


def _leosim(*args, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["LEOSIM_CACHE_DIR"] = str(cache)
    return subprocess.run(
        [sys.executable, "-m", "leosim.cli", "catalogue", "fetch", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_cli_fetch_writes_the_file_and_then_serves_the_cache(server, tmp_path):
    out = tmp_path / "sub" / "starlink.tle"
    r = _leosim("starlink", "--out", out, "--base-url", server.base_url, cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    assert out.read_text(encoding="ascii") == TLE_TEXT
    assert f"wrote {out}: {N_FIXTURE} satellites (downloaded from" in r.stdout
    assert [p.name.startswith(".") for p in out.parent.iterdir()] == [False]  # no temp left
    r = _leosim("starlink", "-o", out, "--base-url", server.base_url, cache=tmp_path / "c")
    assert r.returncode == 0 and len(server.requests) == 1
    assert "served from cache (fetched 0 min ago; CelesTrak asks for at most one" in r.stderr


def test_cli_offline_is_one_line_exit_2(tmp_path):
    out = tmp_path / "x.tle"
    url = closed_port_url()
    r = _leosim("starlink", "--out", out, "--base-url", url, cache=tmp_path / "c")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"error: cannot reach {url}?GROUP=starlink&FORMAT=tle: ")
    assert lines[0].endswith(f"{out} was not written")
    assert not out.exists()


def test_cli_offline_with_an_old_cache_says_its_age(server, tmp_path, monkeypatch):
    cache = tmp_path / "c"
    url = closed_port_url()
    _route_to(server, monkeypatch)  # a cache for the closed port's URL, three hours old
    fetch_gp("starlink", base_url=url, cache_dir=cache, now=Clock(time.time() - 3 * HOUR))
    monkeypatch.undo()

    out = tmp_path / "x.tle"
    r = _leosim("starlink", "--out", out, "--base-url", url, cache=cache)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "the cached copy (fetched 3 h 00 min ago) was kept" in r.stderr
    assert not out.exists()
    r = _leosim("starlink", "--out", out, "--base-url", url, "--allow-stale", cache=cache)
    assert r.returncode == 0, r.stderr
    assert "warning: cannot reach" in r.stderr
    assert out.read_text(encoding="ascii") == TLE_TEXT


def test_cli_corrupt_download_leaves_out_and_cache_alone(server, tmp_path):
    out = tmp_path / "starlink.tle"
    out.write_text("previous contents\n", encoding="ascii")
    server.override = (200, HTML_PAGE.encode())
    r = _leosim("starlink", "--out", out, "--base-url", server.base_url, cache=tmp_path / "c")
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "answered HTTP 200 with an HTML page, not valid tle data" in line
    assert out.read_text(encoding="ascii") == "previous contents\n"
    assert list((tmp_path / "c").iterdir()) == []


def test_cli_refuses_a_folder_as_out_before_any_request(server, tmp_path):
    r = _leosim("starlink", "--out", tmp_path, "--base-url", server.base_url, cache=tmp_path / "c")
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {tmp_path}: --out is a folder; give a file name"
    assert server.requests == []


def test_written_files_follow_the_umask(tmp_path):
    """--out and the cache get the mode open() would give a new file (0644 under umask 022),
    not mkstemp's 0600."""
    import stat

    from leosim.celestrak import atomic_write

    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "starlink.tle", "x\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "starlink.tle").st_mode) == 0o644
