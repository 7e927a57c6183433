"""``leosim report DIR``: real small runs of every command, as one self-contained HTML file."""

from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EVIL = '<script>alert("x")</script> & </pre>'

RUN = f"""\
name = {json.dumps("run " + EVIL)}
[constellation]
preset = "starlink-550-hypatia"
[ground_stations]
builtin = "hypatia-top-100"
[links]
gsl_cone_radius_km = 940.7
[routing]
pairs = [["Paris", "Luanda"], [17, 85]]
[time]
times_s = [0.0, 0.1, 1.9]
"""
POLICY_SCENARIO = """\
name = "policy-small"
[constellation]
preset = "starlink-550-hypatia"
[links]
gsl_min_elevation_deg = 25
[terminals]
countries = ["TWN", "JPN"]
n_per_country = 5
seed = 1
[time]
times_s = [0.0, 60.0]
"""
POLICY_A = f"""\
name = {json.dumps("A " + EVIL)}
[countries]
TWN = "not_activated"
[gateways]
builtin = "operational"
"""
POLICY_B = """\
name = "B active"
[countries]
TWN = "active"
[gateways]
builtin = "operational"
"""
COVERAGE = """\
name = "coverage-small"
[constellation]
preset = "starlink-550-hypatia"
[links]
isl = "none"
[coverage]
resolution_deg = 10
population = false
[time]
duration_s = 600
step_s = 300
"""
CAPACITY = """\
name = "capacity-small"
[constellation]
preset = "starlink-550-hypatia"
[links]
isl = "plus-grid"
[demand]
countries = ["TWN"]
cell_deg = 0.5
take_rate = 0.01
mbps_per_subscriber = 25
rates_mbps = [25]
[time]
times_s = [0.0]
"""


def _leosim(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leosim.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    """One real output folder of each command."""
    d = tmp_path_factory.mktemp("outputs")
    files = {
        "run.toml": RUN,
        "pol.toml": POLICY_SCENARIO,
        "a.toml": POLICY_A,
        "b.toml": POLICY_B,
        "cov.toml": COVERAGE,
        "cap.toml": CAPACITY,
    }
    for name, text in files.items():
        (d / name).write_text(text)
    commands = {
        "run": ("run", d / "run.toml"),
        "evaluate": ("policy", "evaluate", d / "pol.toml", "--policy", d / "a.toml"),
        "compare": ("policy", "compare", d / "pol.toml", d / "a.toml", d / "b.toml"),
        "coverage": ("coverage", d / "cov.toml"),
        "capacity": ("capacity", d / "cap.toml", "--policy", d / "b.toml"),
    }
    out = {}
    for kind, args in commands.items():
        out[kind] = d / f"out-{kind}"
        r = _leosim(*args, "--out", out[kind], "--quiet")
        assert r.returncode == 0, (kind, r.stderr)
    return out


class _Page(HTMLParser):
    """Every tag's attributes, every table's header and row count, the text per tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.attrs: list[tuple[str, dict]] = []
        self.tables: dict[str, dict] = {}
        self.text: dict[str, list[str]] = {}
        self._stack: list[str] = []
        self._table: dict | None = None
        self._in_th = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.attrs.append((tag, a))
        self._stack.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(a.get("data-file", "?"), {"head": [], "rows": 0})
        elif tag == "tr" and self._table is not None and "tbody" in self._stack:
            self._table["rows"] += 1
        elif tag == "th":
            self._in_th = True
            self._table["head"].append("")

    def handle_endtag(self, tag):
        while self._stack and self._stack.pop() != tag:
            pass
        if tag == "th":
            self._in_th = False
        if tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._in_th:
            self._table["head"][-1] += data
        if self._stack:
            self.text.setdefault(self._stack[-1], []).append(data)


def _report(folder: Path, tmp_path: Path) -> tuple[str, _Page]:
    out = tmp_path / f"{folder.name}.html"
    r = _leosim("report", folder, "--out", out)
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    page = _Page()
    page.feed(text)
    return text, page


@pytest.mark.parametrize("kind", ["run", "evaluate", "compare", "coverage", "capacity"])
def test_report_is_self_contained_with_every_table_and_plot(outputs, kind, tmp_path):
    folder = outputs[kind]
    text, page = _report(folder, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    # No reference leaves the file: every src/href is a data: URL or an in-page anchor.
    for tag, a in page.attrs:
        for attr in ("src", "href", "action", "data", "poster"):
            if attr in a:
                assert a[attr].startswith(("data:", "#")), (tag, a)
        assert tag not in ("script", "link", "iframe", "object", "embed"), tag
    assert "http://" not in text and "https://" not in text
    # Every CSV of the manifest is a table with the file's own header and its row count.
    for name in manifest["files"]:
        if not name.endswith(".csv"):
            continue
        with open(folder / name, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        assert page.tables[name]["head"] == rows[0], name
        assert page.tables[name]["rows"] == min(len(rows) - 1, 200), name
    # Every PNG is inlined byte for byte.
    imgs = [a["src"] for tag, a in page.attrs if tag == "img"]
    pngs = [n for n in manifest["files"] if n.endswith(".png")]
    assert len(imgs) == len(pngs)
    inlined = {base64.b64decode(s.split(",", 1)[1]) for s in imgs}
    assert inlined == {(folder / n).read_bytes() for n in pngs}
    # Every TOML input is shown as written.
    pres = "".join(page.text.get("pre", []))
    for name in manifest["files"]:
        if name.endswith(".toml"):
            assert (folder / name).read_text() in pres, name
    assert "changed since" not in text


def test_user_text_is_escaped(outputs, tmp_path):
    text, page = _report(outputs["run"], tmp_path)
    assert "<script>" not in text and "</pre> &" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert EVIL in "".join(page.text["h1"])  # shown literally, as the user wrote it
    text, page = _report(outputs["compare"], tmp_path)
    assert "<script>" not in text
    # The policy name is shown as written in its TOML file (quotes escaped TOML's way).
    assert json.dumps("A " + EVIL) in "".join(page.text["pre"])


def test_default_path_is_beside_the_folder_which_stays_a_leosim_output(outputs, tmp_path):
    from leosim.html_report import default_report_path
    from leosim.outputs import check_output_dir

    r = _leosim("report", outputs["coverage"])
    assert r.returncode == 0, r.stderr
    assert default_report_path(outputs["coverage"]) == outputs["coverage"].with_name(
        "out-coverage.html"
    )
    assert outputs["coverage"].with_name("out-coverage.html").is_file()
    check_output_dir(outputs["coverage"])  # still replaceable by the next run


def test_a_file_changed_after_the_run_is_flagged(outputs, tmp_path):
    import shutil

    d = tmp_path / "copy"
    shutil.copytree(outputs["run"], d)
    with open(d / "summary.csv", "a") as fh:
        fh.write("\n")
    from leosim.html_report import build_report

    assert "changed since it was written" in build_report(d)


def _bad(tmp_path: Path, name: str, manifest: object | None) -> Path:
    d = tmp_path / name
    d.mkdir()
    if manifest is not None:
        (d / "manifest.json").write_text(
            manifest if isinstance(manifest, str) else json.dumps(manifest)
        )
    return d


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda t: t / "absent", "does not exist"),
        (lambda t: (t / "f.txt").write_text("x") and t / "f.txt", "not a folder"),
        (lambda t: _bad(t, "empty", None), "no manifest.json"),
        (lambda t: _bad(t, "garbled", "{not json"), "cannot be read"),
        (lambda t: _bad(t, "nofiles", {"leosim": "0"}), "no 'files' table"),
        (
            lambda t: _bad(t, "missing", {"files": {"routes.csv": {}}}),
            "routes.csv, which is missing",
        ),
        (lambda t: _bad(t, "escape", {"files": {"../x.csv": {}}}), "not a plain file name"),
    ],
)
def test_bad_folder_is_one_error_line(tmp_path, make, needle):
    r = _leosim("report", make(tmp_path), "--out", tmp_path / "r.html")
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert not (tmp_path / "r.html").exists()


def _inside(bbox, lat, lon) -> bool:
    return bbox[0] <= lon <= bbox[1] and bbox[2] <= lat <= bbox[3]


def test_service_map_keeps_the_gateways_that_carry_the_traffic():
    """Ukrainian terminals landing in Turkey: the map reaches the Turkish gateway."""
    import numpy as np

    from leosim.ground_segment import builtin_gateways
    from leosim.reports import _bbox, _service_bbox

    gw = builtin_gateways("operational")
    tr = int(np.flatnonzero(gw.country == "TUR")[0])
    table = {
        "latitude_deg": np.array([50.45, 49.84]),  # Kyiv, Lviv
        "longitude_deg": np.array([30.52, 24.03]),
        "served_fraction": np.array([1.0, 0.0]),
        "gateway": np.array([gw.name[tr], ""], dtype=object),
    }
    g_lat, g_lon = float(gw.latitude_deg[tr]), float(gw.longitude_deg[tr])
    assert not _inside(_bbox(table["latitude_deg"], table["longitude_deg"]), g_lat, g_lon)
    assert _inside(_service_bbox(table, "served_fraction", False, gw), g_lat, g_lon)


def test_difference_map_is_cropped_to_what_changed():
    import numpy as np

    from leosim.reports import _service_bbox

    table = {  # Ukraine changed; far-eastern Russia did not
        "latitude_deg": np.array([50.45, 49.84, 64.7, 53.0]),
        "longitude_deg": np.array([30.52, 24.03, 177.5, 158.6]),
        "served_fraction_change": np.array([-1.0, -0.5, 0.0, 0.0]),
    }
    bbox = _service_bbox(table, "served_fraction_change", True, None)
    assert _inside(bbox, 50.45, 30.52) and bbox[1] < 40
    unchanged = dict(table, served_fraction_change=np.zeros(4))
    assert _service_bbox(unchanged, "served_fraction_change", True, None)[1] > 170
