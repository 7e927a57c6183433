"""Output folders and files: checked before the work, published whole, never written through
anything but a regular file; stale staging removed; CSV floats and step times exact decimals."""

from __future__ import annotations

import json
import math
import os
import random
import re
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from leosim import outputs
from leosim.errors import InputError
from leosim.outputs import (
    OutputDir,
    atomic_output_file,
    check_output_dir,
    csv_floats,
    remove_stale_staging,
    round_significant,
    write_table,
)
from leosim.scenario import parse_scenario


def _publish(folder: Path, files: dict[str, str]) -> OutputDir:
    with OutputDir(folder, command="test") as out:
        for name, text in files.items():
            out.path(name).write_text(text)
    return out


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_files_lists_what_was_written_and_the_manifest_matches(tmp_path):
    with OutputDir(tmp_path / "out") as out:
        out.path("a.csv").write_text("a\n1\n")
        out.path("never.png")  # asked for, never written: must not be listed
        write_table(out, "t.csv", {"x": np.array([1.5])}, parquet=True)
    assert out.files == ["a.csv", "t.csv", "t.parquet", "manifest.json"]
    assert sorted(os.listdir(tmp_path / "out")) == sorted(out.files)
    m = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(m["files"]) == {"a.csv", "t.csv", "t.parquet"}
    assert m["files"]["a.csv"]["bytes"] == 4
    import hashlib

    assert m["files"]["a.csv"]["sha256"] == hashlib.sha256(b"a\n1\n").hexdigest()
    # Nothing left beside the output folder.
    assert os.listdir(tmp_path) == ["out"]


def test_a_new_run_replaces_an_earlier_output_as_a_whole(tmp_path):
    _publish(tmp_path / "out", {"routes.csv": "old\n", "rtt.png": "old plot"})
    _publish(tmp_path / "out", {"routes.csv": "new\n"})
    assert sorted(os.listdir(tmp_path / "out")) == ["manifest.json", "routes.csv"]
    assert (tmp_path / "out" / "routes.csv").read_text() == "new\n"
    assert os.listdir(tmp_path) == ["out"]


def test_a_failure_or_interrupt_leaves_the_earlier_output_and_no_staging(tmp_path):
    _publish(tmp_path / "out", {"routes.csv": "old\n"})
    for exc in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(exc)):
            with OutputDir(tmp_path / "out") as out:
                out.path("routes.csv").write_text("half")
                raise exc
        assert (tmp_path / "out" / "routes.csv").read_text() == "old\n"
        assert os.listdir(tmp_path) == ["out"]
    # Parent folders created for a run that failed are removed again.
    with pytest.raises(RuntimeError):
        with OutputDir(tmp_path / "new" / "deeper" / "out"):
            raise RuntimeError
    assert not (tmp_path / "new").exists()


def test_bad_output_folders_are_one_line_errors_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    cases = {
        tmp_path / "a_file" / "sub": "a_file is a file, not a folder",
        tmp_path / "a_file" / "sub" / "deeper": "a_file is a file, not a folder",
        tmp_path / "a_file": "is a file, not a folder",
        tmp_path / "dangling": "symbolic link to",
        tmp_path / "mine": "not a leosim output folder",
        Path("/dev/null"): "character device",
    }
    for path, expect in cases.items():
        with pytest.raises(InputError) as e:
            check_output_dir(path)
        assert expect in _one_line(e) and str(path) in str(e.value), (path, str(e.value))
        with pytest.raises(InputError):
            OutputDir(path)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # A leosim output with a file the user added is not deleted either.
    _publish(tmp_path / "out", {"routes.csv": "r\n"})
    (tmp_path / "out" / "my_notes.txt").write_text("mine")
    with pytest.raises(InputError) as e:
        OutputDir(tmp_path / "out")
    assert "my_notes.txt" in _one_line(e)
    assert not [p for p in os.listdir(tmp_path) if ".leosim-" in p]


def _make_read_only(folder: Path) -> bool:
    """chmod for a normal user; root ignores permission bits, so use the immutable flag."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    r = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    return r.returncode == 0


def _undo_read_only(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_read_only_folder_is_one_line_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    if not _make_read_only(ro):
        pytest.skip("cannot make a folder read-only here (root without chattr)")
    try:
        for target in (ro / "out", ro / "sub" / "out"):
            with pytest.raises(InputError) as e:
                OutputDir(target)
            assert "cannot write in" in _one_line(e)
        with pytest.raises(InputError) as e:
            with atomic_output_file(ro / "x.tle"):
                pass
        assert "cannot write in" in _one_line(e)
    finally:
        _undo_read_only(ro)
    assert os.listdir(ro) == []


def test_output_through_a_symlink_to_another_file_system(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("no second file system at /dev/shm")
    real = Path(os.path.realpath(other)) / f"leosim-test-{os.getpid()}"
    real.mkdir()
    try:
        os.symlink(real, tmp_path / "out")
        _publish(tmp_path / "out", {"a.csv": "1\n"})
        _publish(tmp_path / "out", {"b.csv": "2\n"})
        assert (tmp_path / "out").is_symlink()
        assert sorted(os.listdir(real)) == ["b.csv", "manifest.json"]
        assert not [p for p in os.listdir(real.parent) if p.startswith(f".{real.name}.leosim-")]
    finally:
        import shutil

        shutil.rmtree(real, ignore_errors=True)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_staging_of_dead_processes_is_removed(tmp_path):
    host = outputs._HOST
    dead = tmp_path / f".out.leosim-partial-{host}-{_dead_pid()}-abc123"
    trash = tmp_path / f".out.leosim-trash-{host}-{_dead_pid()}-abc123"
    live = tmp_path / f".out.leosim-partial-{host}-{os.getpid()}-abc123"
    other_host = tmp_path / f".out.leosim-partial-00000000-{_dead_pid()}-abc123"
    user = tmp_path / ".my-hidden-folder"
    for d in (dead, trash, live, other_host, user):
        d.mkdir()
        (d / "routes.csv").write_text("x")
    _publish(tmp_path / "out", {"a.csv": "1\n"})
    left = sorted(os.listdir(tmp_path))
    assert dead.name not in left and trash.name not in left
    assert {live.name, other_host.name, user.name, "out"} == set(left)
    assert remove_stale_staging(tmp_path) == []


def test_export_never_writes_through_devices_folders_or_links(tmp_path):
    with pytest.raises(InputError) as e:
        with atomic_output_file("/dev/null"):
            pass
    assert "character device" in _one_line(e)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(InputError) as e:
        with atomic_output_file(tmp_path):
            pass
    assert "is a folder" in _one_line(e)
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(InputError) as e:
        with atomic_output_file(tmp_path / "fifo"):
            pass
    assert "FIFO" in _one_line(e)
    # A link to a regular file stays a link; its target gets the new content.
    (tmp_path / "real.tle").write_text("old")
    os.symlink(tmp_path / "real.tle", tmp_path / "link.tle")
    with atomic_output_file(tmp_path / "link.tle") as tmp:
        tmp.write_text("new")
    assert (tmp_path / "link.tle").is_symlink()
    assert (tmp_path / "real.tle").read_text() == "new"
    with pytest.raises(RuntimeError), atomic_output_file(tmp_path / "real.tle") as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert (tmp_path / "real.tle").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["fifo", "link.tle", "real.tle"]


def _sig_digits(r: str) -> int:
    mant = r.lower().split("e")[0].lstrip("-").replace(".", "").lstrip("0")
    return len(mant.rstrip("0")) or 1


def test_round_significant_gives_short_decimals_within_half_a_unit():
    rng = random.Random(1)
    values = [rng.uniform(-1, 1) * 10 ** rng.uniform(-15, 36) for _ in range(5000)]
    values += [46.800000000000004, 0.30000000000000004, 1e-17, 123456789012345.0]
    out = round_significant(np.array(values))
    for v, r in zip(values, out, strict=True):
        assert _sig_digits(repr(float(r))) <= 12, (v, r)
        e = math.floor(math.log10(abs(v)))
        # within half a unit of the 12th digit (plus the one-ulp slack of the scaling)
        assert abs(Decimal(float(r)) - Decimal(v)) <= Decimal(10) ** (e - 11) * Decimal(
            "0.5000001"
        ), (v, r)
    assert repr(float(round_significant(np.array([46.800000000000004]))[0])) == "46.8"
    assert np.isnan(round_significant(np.array([np.nan]))[0])
    assert repr(float(round_significant(np.array([-0.0]))[0])) == "0.0"


def test_csv_shares_and_times():
    assert csv_floats("served_share", np.array([0.9999999999997042]))[0] == 1.0
    assert csv_floats("covered_fraction", np.array([1e-17]))[0] == 0.0
    assert csv_floats("served_fraction_change", np.array([-0.49999999999999994]))[0] == -0.5
    # times are written as they are
    assert csv_floats("time_s", np.array([0.123456789012345]))[0] == 0.123456789012345


def test_write_table_rounds_csv_but_not_parquet(tmp_path):
    import pyarrow.parquet as pq

    with OutputDir(tmp_path / "o") as out:
        write_table(
            out,
            "t.csv",
            {"served_share": np.array([0.9999999999997042]), "rtt_ms": np.array([1 / 3])},
            parquet=True,
        )
    lines = (tmp_path / "o" / "t.csv").read_text().splitlines()
    assert lines == ["served_share,rtt_ms", "1,0.333333333333"]
    t = pq.read_table(tmp_path / "o" / "t.parquet")
    assert t["served_share"][0].as_py() == 0.9999999999997042


@pytest.mark.parametrize("step", ["0.1", "0.05", "0.3", "60", "0.001", "2.5"])
def test_step_grid_times_are_exact_decimals(step):
    sc = parse_scenario(
        {
            "constellation": {"preset": "starlink-550-hypatia"},
            "ground_stations": {"builtin": "hypatia-top-100"},
            "routing": {"pairs": [["Paris", "Luanda"]]},
            "time": {"duration_s": float(Decimal(step) * 1000), "step_s": float(step)},
        }
    )
    t = sc.time.offsets_s()
    assert len(t) == 1000
    exact = [float(k * Decimal(step)) for k in range(1000)]
    assert t.tolist() == exact
    assert all(len(re.sub(r"[-.e0]", "", repr(x))) <= 12 for x in t.tolist())


def test_plots_draw_names_literally_not_as_math(tmp_path):
    from leosim.reports import plot_rtt, plot_service_map

    cols = {
        "src": np.array([0, 0]),
        "dst": np.array([1, 1]),
        "time_s": np.array([0.0, 1.0]),
        "rtt_ms": np.array([10.0, 11.0]),
    }
    # An unbalanced "$x^$" is a mathtext error when drawn unescaped (matplotlib raises).
    plot_rtt(cols, tmp_path / "rtt.png", ["Paris $x^$", "Luanda"], title="run $x^$ [bold] :x:")
    table = {
        "latitude_deg": np.array([25.0]),
        "longitude_deg": np.array([121.0]),
        "served_fraction": np.array([1.0]),
    }
    plot_service_map(table, tmp_path / "map.png", title="policy $x^$")
    assert (tmp_path / "rtt.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
