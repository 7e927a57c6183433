"""Finished chunks of a long run, kept on disk so a killed run resumes where it stopped.

A :class:`ChunkStore` is a hidden folder next to the output folder,
``.<out>.leosim-resume/``::

    lock                     flock()ed by the run that owns the folder (released by the
                             kernel when that process dies, SIGKILL included)
    plan.json                the run's fingerprint and its chunks (start/stop step indices)
    chunks.json              finished chunks: file name -> bytes and SHA-256, rewritten
                             atomically (write, fsync, rename) after each chunk
    chunk=K/part.parquet     hive-style partitions, one folder per chunk; each is written in
    chunk=K/<name>.parquet   ``.chunk=K.tmp-<pid>/``, fsync()ed and renamed into place

A chunk counts as finished only when ``chunks.json`` lists it and every file matches its size
and SHA-256, so a partition cut short by a kill, or one that was renamed but not yet listed,
is never mistaken for a finished one: it is removed and computed again.

Without ``resume`` an existing store is discarded (after taking its lock: a store whose run
is still alive is refused); with ``resume`` it is reused if its fingerprint (scenario text,
network, time grid, chunk plan, leosim version) equals the new run's, and refused otherwise.
The store is removed once the output folder is published.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ._io import file_kind
from .errors import InputError
from .outputs import sha256_file

LOCK_WAIT_S = 5.0
"""How long to wait for the lock of a store whose run has just died (its worker processes
may hold the lock for a moment longer), seconds."""

_fault: Callable[[str, Path], None] | None = None
"""Test hook: called with the name and file of each step of a chunk's write (kill points)."""


def _at(point: str, path: Path) -> None:
    if _fault is not None:
        _fault(point, path)


def store_path(final: Path) -> Path:
    """The resume folder of output folder ``final``."""
    return final.parent / f".{final.name}.leosim-resume"


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        _at(f"{path.name}:written", tmp)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_json(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class ChunkStore:
    """The resume folder of one run (see the module docs); use :meth:`open`."""

    def __init__(
        self, final: Path, fingerprint: str, plan: list[tuple[int, int]], root: Path | None = None
    ) -> None:
        self.final = final
        self.root = store_path(final) if root is None else Path(root)
        self.fingerprint = fingerprint
        self.plan = [(int(a), int(b)) for a, b in plan]
        self.done: dict[int, dict[str, dict]] = {}
        self._lock_fd: int | None = None

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(
        cls,
        final: Path,
        fingerprint: str,
        plan: list[tuple[int, int]],
        *,
        resume: bool,
        root: Path | None = None,
    ) -> ChunkStore:
        """Take the store of output folder ``final``: reuse its finished chunks if ``resume``
        (InputError if they belong to another run), else start empty.  ``root`` is the folder
        (default :func:`store_path`; a sweep keeps each case's store inside its own)."""
        st = cls(final, fingerprint, plan, root)
        for _ in range(100):
            try:
                os.mkdir(st.root)
            except FileExistsError:
                pass
            st._check_not_linked()
            if st._lock():
                break
        else:  # pragma: no cover - someone keeps replacing the folder
            raise InputError(f"cannot lock {st.root.name}", source=final)
        try:
            st._load(resume)
        except BaseException:
            st.release()
            raise
        return st

    def _check_not_linked(self) -> None:
        """InputError unless ``root`` is a real folder: through a symbolic link, clearing the
        store would delete whatever the link points to."""
        try:
            mode = os.lstat(self.root).st_mode
        except FileNotFoundError:
            return  # removed meanwhile: made again on the next try
        if not stat.S_ISDIR(mode):
            raise InputError(
                f"{self.root.name} (leosim's resume folder) is {file_kind(mode)}, not a folder "
                "leosim made; remove it or give another --out",
                source=self.final,
            )

    def _lock(self) -> bool:
        """Lock ``root/lock``; False if ``root`` was removed meanwhile (try again)."""
        deadline = time.monotonic() + LOCK_WAIT_S
        try:
            fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except FileNotFoundError:
            return False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    os.close(fd)
                    raise InputError(
                        f"another leosim run is writing this output (its chunks are in "
                        f"{self.root.name}); wait for it or stop it first",
                        source=self.final,
                    ) from None
                time.sleep(0.05)
        if (
            not os.path.isdir(self.root)
            or os.stat(self.root / "lock").st_ino != os.fstat(fd).st_ino
        ):
            os.close(fd)  # the folder was discarded and made again while we waited
            return False
        self._lock_fd = fd
        return True

    def _load(self, resume: bool) -> None:
        plan = _read_json(self.root / "plan.json")
        if plan is not None and resume and plan.get("fingerprint") != self.fingerprint:
            raise InputError(
                "the interrupted run kept for --resume is of another scenario, policy, time window, "
                "chunk size or leosim version; run without --resume to start over",
                source=self.final,
            )
        if plan is None or not resume:
            self._clear()
            _write_json(
                self.root / "plan.json",
                {"fingerprint": self.fingerprint, "chunks": [list(c) for c in self.plan]},
            )
            _write_json(self.root / "chunks.json", {"chunks": {}})
            return
        listed = (_read_json(self.root / "chunks.json") or {}).get("chunks", {})
        for name, files in listed.items():
            k = int(name)
            if 0 <= k < len(self.plan) and self._intact(k, files):
                self.done[k] = files
        for p in self.root.iterdir():  # partial or unlisted partitions: computed again
            if p.name.startswith((".chunk=", "chunk=")) and self._index(p.name) not in self.done:
                shutil.rmtree(p, ignore_errors=True)
            elif ".json.tmp-" in p.name:
                with contextlib.suppress(OSError):
                    p.unlink()
        if len(self.done) != len(listed):
            self._write_index()

    @staticmethod
    def _index(name: str) -> int | None:
        try:
            return int(name.split("=", 1)[1])
        except (IndexError, ValueError):
            return None

    def _intact(self, k: int, files: dict) -> bool:
        folder = self.root / f"chunk={k}"
        if not isinstance(files, dict) or not files:
            return False
        for name, meta in files.items():
            p = folder / name
            try:
                if p.stat().st_size != meta["bytes"] or sha256_file(p) != meta["sha256"]:
                    return False
            except (OSError, KeyError, TypeError):
                return False
        return True

    def _clear(self) -> None:
        for p in self.root.iterdir():
            if p.name == "lock":
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()
        self.done = {}

    # ------------------------------------------------------------------ chunks

    def steps_done(self) -> int:
        """Time steps of the finished chunks."""
        return sum(self.plan[k][1] - self.plan[k][0] for k in self.done)

    def todo(self) -> list[int]:
        """Indices of the chunks still to compute, in order."""
        return [k for k in range(len(self.plan)) if k not in self.done]

    def write(self, k: int, tables: dict[str, pa.Table]) -> None:
        """Store chunk ``k``'s tables (``name -> table``, written as ``name.parquet``)."""
        final = self.root / f"chunk={k}"
        tmp = Path(tempfile.mkdtemp(prefix=f".chunk={k}.tmp-{os.getpid()}-", dir=self.root))
        files = {}
        for name, table in tables.items():
            p = tmp / f"{name}.parquet"
            pq.write_table(table, str(p))
            _at("partition:written", p)
            with open(p, "rb+") as fh:
                os.fsync(fh.fileno())
            files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
        _fsync_dir(tmp)
        if os.path.lexists(final):  # an unlisted copy of a killed run
            shutil.rmtree(final)
        _at("partition:before-rename", tmp)
        os.rename(tmp, final)
        _fsync_dir(self.root)
        _at("partition:renamed", final)
        self.done[k] = files
        self._write_index()
        _at("chunk:finished", final)

    def _write_index(self) -> None:
        _write_json(
            self.root / "chunks.json", {"chunks": {str(k): v for k, v in sorted(self.done.items())}}
        )

    def read(self, k: int, name: str, columns: list[str] | None = None) -> pa.Table | None:
        """Chunk ``k``'s table ``name``, or only its ``columns`` (None if that chunk has none)."""
        if f"{name}.parquet" not in self.done[k]:
            return None
        # Not pq.read_table: it would add the hive partition key as a column.
        with pq.ParquetFile(self.root / f"chunk={k}" / f"{name}.parquet") as fh:
            return fh.read(columns=columns)

    # ------------------------------------------------------------------ the end

    def release(self) -> None:
        """Unlock, keeping the finished chunks for ``--resume``."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        """Remove the store (the run's output is published)."""
        # Cut short by a kill, what is left is either discarded or fails its checksums.
        shutil.rmtree(self.root, ignore_errors=True)
        self.release()
