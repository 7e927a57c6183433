"""CSV rows built column by column equal Python's ``csv.writer`` on the same values."""

from __future__ import annotations

import csv
import io
import struct

import numpy as np
import pyarrow as pa

from leosim._csvtext import csv_rows_text, float_repr
from leosim.outputs import round_significant


def _python_csv(table: pa.Table) -> str:
    f = io.StringIO()
    w = csv.writer(f, lineterminator="\n")
    w.writerows(zip(*[c.to_pylist() for c in table.columns], strict=True))
    return f.getvalue()


def test_float_repr_equals_python_repr_on_every_kind_of_double():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2**63, 200_000, dtype=np.uint64) | (
        rng.integers(0, 2, 200_000, dtype=np.uint64) << np.uint64(63)
    )
    random_doubles = bits.view(np.float64)
    special = [0.0, -0.0, 1.0, -1.0, 0.1, 1e-4, 9.999e-5, 1e-5, 1e15, 1e16, 9999999999999998.0,
               1e17, 123456.0, 46.800000000000004, 5e-324, 2.2250738585072014e-308,
               1.7976931348623157e308, np.inf, -np.inf, np.nan, 1e100, 1.5e-100, 0.5, 100.0]  # fmt: skip
    values = np.concatenate(
        [
            random_doubles,
            np.array(special),
            np.exp(rng.uniform(-30.0, 40.0, 200_000)),
            round_significant(rng.uniform(0.0, 3e7, 100_000)),
            np.round(rng.uniform(0.0, 1e4, 100_000), 1),
            rng.integers(-(10**6), 10**6, 10_000).astype(np.float64),
        ]
    )
    got = float_repr(pa.array(values)).to_pylist()
    want = [repr(float(v)) for v in values]
    bad = [(g, w) for g, w in zip(got, want, strict=True) if g != w]
    assert not bad, bad[:5]
    assert struct.pack("<d", -0.0) != struct.pack("<d", 0.0)  # -0.0 is covered above


def test_rows_equal_csv_writer():
    rng = np.random.default_rng(1)
    k = 3000
    names = np.array(
        ["Paris", "Washington, D.C.", 'The "Hub"', "a\nb", "", "São Paulo"], dtype=object
    )
    floats = rng.uniform(0.0, 3e7, k)
    floats[::13] = np.nan
    floats[::29] = np.inf
    table = pa.table(
        {
            "time_s": np.round(np.arange(k) * 0.1, 1),
            "src": rng.integers(0, 100, k),
            "f32": rng.uniform(0, 1, k).astype(np.float32),
            "x": floats,
            "path": pa.array(["-".join(map(str, rng.integers(0, 9000, 5))) for _ in range(k)]),
            "name": pa.array(names[rng.integers(0, len(names), k)].tolist()),
            "flag": pa.array(rng.integers(0, 2, k).astype(bool)),
            "maybe": pa.array([None if i % 7 == 0 else float(i) / 3 for i in range(k)]),
        }
    )
    assert csv_rows_text(table) == _python_csv(table)
    assert csv_rows_text(table.slice(100, 50)) == _python_csv(table.slice(100, 50))
    assert csv_rows_text(table.slice(0, 0)) == ""


def test_constant_repeated_and_plain_columns_equal_csv_writer():
    # The shortcuts: a column with one value (bit for bit: -0.0 is not 0.0), a column equal
    # to an earlier one, and string columns without a byte to quote, also in a slice whose
    # buffer holds such bytes outside it.
    rng = np.random.default_rng(2)
    k = 500
    x = rng.uniform(0.0, 3e7, k)
    zeros = np.zeros(k)
    zeros[7] = -0.0
    plain = ["-".join(map(str, rng.integers(0, 9000, 4))) for _ in range(k)]
    table = pa.table(
        {
            "t": np.full(k, 12.3),
            "neg": np.full(k, -0.0),
            "mixed_zero": zeros,
            "x": x,
            "x_again": x.copy(),
            "x_as_f32": x.astype(np.float32),
            "path": pa.array(plain),
            "quoted_tail": pa.array([*plain[:-1], 'a,"b"']),
        }
    )
    assert csv_rows_text(table) == _python_csv(table)
    assert csv_rows_text(table.slice(0, k - 1)) == _python_csv(table.slice(0, k - 1))
    assert csv_rows_text(table.slice(3, 1)) == _python_csv(table.slice(3, 1))
