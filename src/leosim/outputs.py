"""Writing results: output folders published whole, files replaced atomically, CSV floats tidy.

Every command checks its output path with :func:`check_output_dir` (or
:func:`check_output_file`) before any long work, so a bad ``--out`` is one ``error:`` line at
once, not a traceback after the run.

:class:`OutputDir` stages the whole output folder in a hidden sibling folder and publishes it
with one rename; a ``manifest.json`` (sizes and SHA-256 of every file) is written last inside
it.  After a kill the output folder is therefore either absent, the previous complete result,
or the new complete result: never one run's ``routes.csv`` beside another's ``summary.csv``.
Staging folders carry the host and process id in their name; those of dead processes on this
host are removed by the next command that writes next to them.

An existing output folder is replaced only if it is empty or a leosim output (it has a
manifest and nothing the manifest does not list), so ``--out .`` or ``--out ~`` cannot delete
anyone's files.

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with OutputDir(d / "out") as out:
...     write_table(out, "t.csv", {"a": np.array([1, 2]), "b": np.array(["x", "y"], dtype=object)})
>>> (d / "out" / "t.csv").read_text().splitlines()
['a,b', '1,x', '2,y']
>>> out.files
['t.csv', 'manifest.json']
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ._io import file_kind
from ._proc import pid_alive
from .errors import InputError

MANIFEST = "manifest.json"
"""Written last into every output folder: what leosim wrote there, with sizes and SHA-256."""

CSV_SIGNIFICANT_DIGITS = 12
"""CSV floats keep 12 significant digits (shares and fractions: 12 decimals); Parquet keeps all."""

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_STAGING_RE = re.compile(r"^\..*\.leosim-(partial|trash)-([0-9a-f]{8})-(\d+)-[A-Za-z0-9_]+$")


def _follow(path: Path) -> Path:
    """``path`` with its symlinks resolved; InputError for a dangling or looping link."""
    if not path.is_symlink():
        return path
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        raise InputError(
            f"is a symbolic link to {os.readlink(path)}, which does not exist", source=path
        ) from None
    except (OSError, RuntimeError) as exc:
        raise InputError(f"cannot follow this symbolic link: {exc}", source=path) from None
    return target


def _existing_ancestor(path: Path) -> Path:
    """The nearest ancestor of ``path`` that exists; InputError if it is not a folder."""
    a = path.parent
    while not os.path.lexists(a):
        a = a.parent
    real = _follow(a)
    if not real.is_dir():
        raise InputError(
            f"cannot create it: {a} is {file_kind(real.stat().st_mode)}, not a folder", source=path
        )
    return real


def _probe_writable(folder: Path, path: Path) -> None:
    """Really create and remove a folder in ``folder`` (permission bits lie for root, ACLs, ROFS)."""
    try:
        probe = tempfile.mkdtemp(prefix=f".leosim-probe-{_HOST}-{os.getpid()}-", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write in {folder}: {exc.strerror or exc}", source=path) from None
    os.rmdir(probe)


def _read_manifest(folder: Path) -> dict | None:
    try:
        with open(folder / MANIFEST, encoding="utf-8") as fh:
            m = json.load(fh)
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and isinstance(m.get("files"), dict) else None


def _check_replaceable(folder: Path, path: Path) -> None:
    """InputError unless the existing folder is empty or holds only a leosim output."""
    try:
        entries = sorted(os.listdir(folder))
    except OSError as exc:
        raise InputError(f"cannot read this folder: {exc.strerror or exc}", source=path) from None
    if not entries:
        return
    if os.path.ismount(folder):
        raise InputError(
            "is a mount point; leosim replaces its output folder as a whole: give a folder "
            "inside it",
            source=path,
        )
    manifest = _read_manifest(folder)
    if manifest is None:
        raise InputError(
            f"exists and is not a leosim output folder (no {MANIFEST}; it holds {entries[0]!r}"
            f"{' and more' if len(entries) > 1 else ''}): give a new or empty folder",
            source=path,
        )
    foreign = [e for e in entries if e != MANIFEST and e not in manifest["files"]]
    if foreign:
        raise InputError(
            f"holds {foreign[0]!r}{' and more' if len(foreign) > 1 else ''}, which leosim did not "
            "write; move it away or give another folder (the folder is replaced as a whole)",
            source=path,
        )


def check_output_dir(path: str | Path) -> Path:
    """Check an output folder before any long work; return the folder to publish to.

    Accepted: a new name in a writable folder (missing parents are created later), an empty
    folder, a previous leosim output folder, or a symbolic link to one of these.  Refused with
    one-line InputError: a path below a file, an existing file or device, a dangling link, a
    folder holding other files, a mount point, and a folder leosim cannot write in.
    """
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        p = Path(os.path.abspath(p))
    if os.path.lexists(p):
        real = _follow(p)
        mode = real.stat().st_mode
        if not stat.S_ISDIR(mode):
            raise InputError(f"is {file_kind(mode)}, not a folder", source=path)
        _check_replaceable(real, Path(path))
        _probe_writable(real.parent, Path(path))
        return real
    _probe_writable(_existing_ancestor(p), Path(path))
    return p


def check_output_file(path: str | Path) -> Path:
    """Check a single output file before any work; return the path to replace.

    A new name, or an existing regular file (also behind a symbolic link, which is kept);
    refused: folders, devices, FIFOs, sockets, dangling links, paths below a file, and folders
    leosim cannot write in.  Never written through: :func:`atomic_output_file` renames a new
    file onto the name.
    """
    p = Path(path)
    if os.path.lexists(p):
        real = _follow(p)
        mode = real.stat().st_mode
        if not stat.S_ISREG(mode):
            raise InputError(
                f"is {file_kind(mode)}; leosim only replaces regular files: give a file name",
                source=path,
            )
        _probe_writable(real.parent, Path(path))
        return real
    _probe_writable(_existing_ancestor(p), Path(path))
    return p


def remove_stale_staging(folder: str | Path) -> list[str]:
    """Remove staging and trash folders left in ``folder`` by dead leosim processes of this host.

    Returns the names removed.  Folders of live processes, of other hosts (shared file
    systems) and anything not named like a leosim staging folder are left alone.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _STAGING_RE.match(name)
        if m is None or m.group(2) != _HOST or pid_alive(int(m.group(3))):
            continue
        target = Path(folder) / name
        if target.is_symlink() or not target.is_dir():
            continue
        shutil.rmtree(target, ignore_errors=True)
        if not os.path.lexists(target):
            removed.append(name)
    return removed


def _staging_name(final: Path, kind: str) -> str:
    return f".{final.name}.leosim-{kind}-{_HOST}-{os.getpid()}-"


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (the checksums of every manifest)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OutputDir:
    """Stage an output folder and publish it with one rename when the block ends cleanly.

    Construct it before the long work: the path is checked (:func:`check_output_dir`), stale
    staging folders of dead processes are removed, and the staging folder is created.  Files
    are written into the staging folder (via :meth:`path`).  On a clean exit
    ``manifest.json`` is written, the previous folder (if any) is renamed aside, the staging
    folder renamed into place and the old one removed.  On an exception (Ctrl-C and SIGTERM
    included) the staging folder is removed and ``final`` is left as it was.  :attr:`files`
    lists what was really written.
    """

    def __init__(self, final: str | Path, *, command: str | None = None) -> None:
        self.requested = Path(final)
        self.final = check_output_dir(final)
        self.command = command
        self._created: list[Path] = []
        self._names: list[str] = []
        self.files: list[str] = []
        parent = self.final.parent
        missing = []
        while not os.path.lexists(parent):
            missing.append(parent)
            parent = parent.parent
        for d in reversed(missing):
            try:
                d.mkdir()
            except OSError as exc:
                self._remove_created()
                raise InputError(
                    f"cannot create {d}: {exc.strerror or exc}", source=self.requested
                ) from None
            self._created.append(d)
        remove_stale_staging(self.final.parent)
        try:
            self.staging = Path(
                tempfile.mkdtemp(prefix=_staging_name(self.final, "partial"), dir=self.final.parent)
            )
        except OSError as exc:
            self._remove_created()
            raise InputError(
                f"cannot write in {self.final.parent}: {exc.strerror or exc}", source=self.requested
            ) from None

    def path(self, name: str) -> Path:
        """Where to write output file ``name`` (a plain file name) while the run lasts."""
        if not name or name != Path(name).name or name in (".", "..", MANIFEST):
            raise ValueError(f"output file name must be a plain file name, got {name!r}")
        if name not in self._names:
            self._names.append(name)
        return self.staging / name

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.discard()
            return
        try:
            self.publish()
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Remove the staging folder (and the parent folders this object created, if empty)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._remove_created()

    def _remove_created(self) -> None:
        for d in reversed(self._created):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created = []

    def _written(self) -> list[str]:
        present = set(os.listdir(self.staging))
        ordered = [n for n in self._names if n in present]
        return ordered + sorted(present - set(ordered) - {MANIFEST})

    def _write_manifest(self, names: list[str]) -> None:
        from . import __version__

        files = {}
        for n in names:
            p = self.staging / n
            files[n] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        manifest = {
            "leosim": __version__,
            "command": self.command,
            "written_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": files,
        }
        tmp = self.staging / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.staging / MANIFEST)

    def publish(self) -> None:
        """Write the manifest and swap the staging folder into place (see the class docs)."""
        names = self._written()
        self._write_manifest(names)
        os.chmod(self.staging, 0o777 & ~_umask())
        trash = None
        try:
            if os.path.lexists(self.final):
                _check_replaceable(self.final, self.requested)  # nothing new appeared meanwhile
                trash = Path(
                    tempfile.mkdtemp(
                        prefix=_staging_name(self.final, "trash"), dir=self.final.parent
                    )
                )
                os.rename(self.final, trash / "old")
            os.rename(self.staging, self.final)
        except OSError as exc:
            if (
                trash is not None
                and os.path.lexists(trash / "old")
                and not os.path.lexists(self.final)
            ):
                with contextlib.suppress(OSError):
                    os.rename(trash / "old", self.final)
            if trash is not None:
                shutil.rmtree(trash, ignore_errors=True)
            how = "another file system" if exc.errno == errno.EXDEV else (exc.strerror or exc)
            raise InputError(
                f"cannot publish the output folder: {how}", source=self.requested
            ) from None
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        self.files = [*names, MANIFEST]
        self._created = []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    ``path`` is checked first (:func:`check_output_file`); a symbolic link to a regular file
    keeps pointing at the new file.  On an exception the temporary file is removed and
    ``path`` is untouched.
    """
    final = check_output_file(path)
    created = []
    parent = final.parent
    while not os.path.lexists(parent):
        created.append(parent)
        parent = parent.parent
    for d in reversed(created):
        d.mkdir()
    remove_stale_staging(final.parent)
    fd, tmp = tempfile.mkstemp(prefix=_staging_name(final, "partial"), dir=final.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        for d in created:
            with contextlib.suppress(OSError):
                d.rmdir()
        raise


# ---------------------------------------------------------------------------- tables


_POW10 = np.array([10.0**k for k in range(23)])


def round_significant(x: np.ndarray, digits: int = CSV_SIGNIFICANT_DIGITS) -> np.ndarray:
    """``x`` rounded to ``digits`` significant digits, as the double nearest that decimal.

    ``46.800000000000004 -> 46.8``; NaN and infinities pass through; ``-0.0`` becomes ``0.0``.
    Each value is an integer below 10**digits scaled by an exact power of ten, so its
    shortest ``repr`` has at most ``digits`` significant digits.

    >>> round_significant(np.array([46.800000000000004, 1 / 3, -0.0, 123456789.987654321]))
    array([4.68000000e+01, 3.33333333e-01, 0.00000000e+00, 1.23456790e+08])
    """
    x = np.asarray(x, dtype=np.float64)
    out = x + 0.0
    ok = np.isfinite(x) & (x != 0)
    if not ok.any():
        return out
    v = x[ok]
    dec = digits - 1 - np.floor(np.log10(np.abs(v))).astype(np.int64)
    res = np.empty_like(v)
    up = (dec >= 0) & (dec <= 22)
    down = (dec < 0) & (dec >= -22)
    # Exact powers of ten from a table (10**0 .. 10**22 are doubles): as 10.0 ** k, faster.
    p_up, p_down = _POW10[dec[up]], _POW10[-dec[down]]
    res[up] = np.round(v[up] * p_up) / p_up
    res[down] = np.round(v[down] / p_down) * p_down
    rest = ~(up | down)  # below 1e-11 or above 1e34: rare, formatted one by one
    res[rest] = [float(f"{a:.{digits}g}") for a in v[rest]]
    out[ok] = res
    return out + 0.0


_SHARE_RE = re.compile(r"(^|_)(share|fraction)(_|$)")


def csv_floats(name: str, values: np.ndarray) -> np.ndarray:
    """Float column ``name`` as written to CSV: shares/fractions to 12 decimals, times as
    they are, anything else to 12 significant digits.

    ``0.9999999999997042`` (a share summed from parts) is written ``1``; ``1e-17`` in a
    share column ``0``.
    """
    v = np.asarray(values, dtype=np.float64)
    if name == "time_s" or name.endswith("_time_s"):
        return v + 0.0  # times are written as given (the step grid is exact decimals)
    if _SHARE_RE.search(name):
        return np.round(v, CSV_SIGNIFICANT_DIGITS) + 0.0
    return round_significant(v)


def _csv_table(table: pa.Table) -> pa.Table:
    cols = []
    for name, col in zip(table.column_names, table.columns, strict=True):
        if pa.types.is_floating(col.type):
            arr = col.to_numpy(zero_copy_only=False).astype(np.float64)
            mask = np.asarray(col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            cols.append(pa.array(csv_floats(name, arr), mask=mask if mask.any() else None))
        else:
            cols.append(col)
    return pa.table(cols, names=table.column_names)


def csv_row_columns(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The columns of a dict with float columns rounded as :func:`csv_floats` does."""
    return {
        k: csv_floats(k, v) if np.asarray(v).dtype.kind == "f" else v for k, v in columns.items()
    }


def to_arrow(columns: dict[str, np.ndarray]) -> pa.Table:
    arrays = {}
    for k, v in columns.items():
        v = np.asarray(v)
        if v.dtype == object:
            arrays[k] = pa.array(v.tolist(), type=pa.string())
        else:
            arrays[k] = pa.array(v)
    return pa.table(arrays)


def write_table(
    out: OutputDir, name: str, columns: dict[str, np.ndarray] | pa.Table, *, parquet: bool = False
) -> None:
    """Write columns as CSV ``name`` in ``out`` and, if asked, as Parquet (``.parquet``).

    CSV floats are rounded by :func:`csv_floats`; Parquet keeps full precision.
    """
    table = columns if isinstance(columns, pa.Table) else to_arrow(columns)
    target = str(out.path(name))
    text_table = _csv_table(table)
    try:
        # Plain CSV (as Hypatia writes) unless a value holds a comma, quote or newline.
        opts = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
        pacsv.write_csv(text_table, target, write_options=opts)
    except pa.ArrowInvalid:
        opts = pacsv.WriteOptions(quoting_style="needed", quoting_header="none")
        pacsv.write_csv(text_table, target, write_options=opts)
    if parquet:
        pq.write_table(table, str(out.path(str(Path(name).with_suffix(".parquet")))))
