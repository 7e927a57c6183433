"""Writing results: tables as CSV and Parquet, never half-written.

Everything a command writes goes first into a hidden staging folder next to the output
folder; only when all files are complete are they moved into place.  A run that fails or is
interrupted leaves no output that looks complete.

>>> import numpy as np, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> with OutputDir(d / "out") as out:
...     write_table(out, "t.csv", {"a": np.array([1, 2]), "b": np.array(["x", "y"], dtype=object)})
>>> (d / "out" / "t.csv").read_text().splitlines()
['a,b', '1,x', '2,y']
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError


class OutputDir:
    """A context manager that stages files and publishes them atomically on success.

    Files are written into ``staging`` (via :meth:`path`); on a clean exit each is renamed
    into ``final`` (created if needed).  On an exception the staging folder is removed and
    ``final`` is left as it was.
    """

    def __init__(self, final: str | Path) -> None:
        self.final = Path(final)
        if self.final.exists() and not self.final.is_dir():
            raise InputError("output path exists and is not a folder", source=self.final)
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(
            tempfile.mkdtemp(prefix=f".{self.final.name}.partial-", dir=self.final.parent)
        )
        self.written: list[str] = []

    def path(self, name: str) -> Path:
        self.written.append(name)
        return self.staging / name

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            return
        self.final.mkdir(parents=True, exist_ok=True)
        for name in dict.fromkeys(self.written):
            src = self.staging / name
            if src.exists():
                os.replace(src, self.final / name)
        shutil.rmtree(self.staging, ignore_errors=True)


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
    """Write columns as CSV ``name`` in ``out`` and, if asked, as Parquet (``.parquet``)."""
    table = columns if isinstance(columns, pa.Table) else to_arrow(columns)
    target = str(out.path(name))
    try:
        # Plain CSV (as Hypatia writes) unless a value holds a comma, quote or newline.
        opts = pacsv.WriteOptions(quoting_style="none", quoting_header="none")
        pacsv.write_csv(table, target, write_options=opts)
    except pa.ArrowInvalid:
        opts = pacsv.WriteOptions(quoting_style="needed", quoting_header="none")
        pacsv.write_csv(table, target, write_options=opts)
    if parquet:
        pq.write_table(table, str(out.path(str(Path(name).with_suffix(".parquet")))))
