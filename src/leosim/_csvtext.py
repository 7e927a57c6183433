"""CSV rows of a table, column by column, as Python's ``csv.writer`` writes them row by row.

``routes.csv`` of an all-pairs run has 9,900 rows per step; writing them through
``csv.writer`` costs more than routing them.  :func:`csv_rows_text` builds the same text from
Arrow columns: floats as Python's ``repr`` (the shortest round-trip digits, which Arrow's
float-to-string cast also finds, re-laid out by a numba kernel in ``repr``'s format: positional
for decimal exponents -4 to 15, else ``d.ddde±XX``), integers in decimal, booleans as
``True``/``False``, nulls empty, strings quoted only when they hold a comma, a quote or a line
break (``csv.QUOTE_MINIMAL``).  Rows end in ``\\n``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .sssp import HAVE_NUMBA

if HAVE_NUMBA:
    from numba import njit


def csv_rows_text(table: pa.Table) -> str:
    """The rows of ``table`` as ``csv.writer(f, lineterminator="\\n").writerows`` writes
    their Python values (``column.to_pylist()``), without a header."""
    if table.num_rows == 0:
        return ""
    cols, seen = [], []
    for c in table.columns:
        c = c.combine_chunks()
        # A column equal to an earlier one (a route's two lengths, say) is the same text.
        same = next((t for prev, t in seen if _same(prev, c)), None)
        text = same if same is not None else _text_column(c)
        seen.append((c, text))
        cols.append(text)
    if len(cols) == 1:
        rows = cols[0].fill_null("")
    else:
        rows = pc.binary_join_element_wise(*cols, ",", null_handling="replace", null_replacement="")
    # Each row and its line end, as one buffer: no Python string per row.
    lines = pc.binary_join_element_wise(rows, "", "\n").cast(pa.large_string())
    lines = pa.concat_arrays([lines])  # own buffers, offset 0
    off = np.frombuffer(lines.buffers()[1], dtype=np.int64)[: len(lines) + 1]
    return bytes(memoryview(lines.buffers()[2])[off[0] : off[-1]]).decode("utf-8")


def _text_column(col: pa.Array) -> pa.Array:
    t = col.type
    if pa.types.is_floating(t):
        col = col.cast(pa.float64())
        bits = col.to_numpy(zero_copy_only=False).view(np.int64) if col.null_count == 0 else None
        if bits is not None and len(bits) > 1 and np.all(bits == bits[0]):
            # One value throughout (a step's time; bit-equal, so -0.0 stays apart): its
            # text once, repeated.
            return _repeated(float_repr(col.slice(0, 1))[0].as_py(), len(col))
        return float_repr(col)
    if pa.types.is_integer(t):
        return col.cast(pa.string())
    if pa.types.is_boolean(t):
        return pc.if_else(col, "True", "False")
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        col = col.cast(pa.string())
        if not _has_special_bytes(col):
            return col  # the usual case (paths, names): nothing to quote
        needs = pc.match_substring_regex(col, r'[,"\r\n]')
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(col, '"', '""'), '"', "")
        return pc.if_else(needs, quoted, col)
    return pa.array([None if v is None else str(v) for v in col.to_pylist()], pa.string())


def _same(a: pa.Array, b: pa.Array) -> bool:
    """Whether two columns have the same text: equal, and floats bit for bit (-0.0 and 0.0
    print differently)."""
    if a.type != b.type or len(a) != len(b) or not a.equals(b):
        return False
    if pa.types.is_floating(a.type):
        x = a.to_numpy(zero_copy_only=False)
        y = b.to_numpy(zero_copy_only=False)
        return bool(np.array_equal(x.view(f"i{x.itemsize}"), y.view(f"i{y.itemsize}")))
    return True


def _repeated(text: str, n: int) -> pa.Array:
    """A string array of ``n`` times ``text``."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    off = np.arange(n + 1, dtype=np.int64) * len(raw)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(off), pa.py_buffer(np.tile(raw, n))
    ).cast(pa.string())


_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[ord(","), ord('"'), ord("\r"), ord("\n")]] = True


def _has_special_bytes(col: pa.Array) -> bool:
    """Whether any string of ``col`` holds a byte that csv quoting looks for."""
    data = col.buffers()[2]
    if data is None:
        return False
    # The whole data buffer: bytes outside the strings (after a slice) only cost the slow path.
    return bool(_SPECIAL[np.frombuffer(data, dtype=np.uint8)].any())


def float_repr(col: pa.Array) -> pa.Array:
    """Strings of ``repr(float)`` for a float64 Arrow array (nulls stay null)."""
    if not HAVE_NUMBA:  # pragma: no cover - numba is a dependency
        return pa.array([None if v is None else repr(v) for v in col.to_pylist()], pa.string())
    text = pc.cast(col, pa.string())
    if len(text) == 0:
        return text
    text = pa.concat_arrays([text])  # own buffers, offset 0
    valid, offsets, data = text.buffers()
    off = np.frombuffer(offsets, dtype=np.int32)[: len(text) + 1].astype(np.int64)
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    new_off, new_data = _relayout(off, raw)
    return pa.LargeStringArray.from_buffers(
        len(text), pa.py_buffer(new_off), pa.py_buffer(new_data), valid, text.null_count
    ).cast(pa.string())


if HAVE_NUMBA:

    @njit(cache=True, nogil=True)
    def _parse(data, a, b, digits):  # pragma: no cover - compiled
        """Sign, significant digits (into ``digits``), their count and the decimal point
        position ``decpt`` (value = 0.d1d2... x 10**decpt) of one Arrow float text; count
        -1 for inf/nan."""
        neg = data[a] == 45
        i = a + 1 if neg else a
        if data[i] == 105 or data[i] == 110:  # "inf", "nan"
            return neg, -1, 0
        nd = 0
        decpt = 0
        seen_point = False
        leading = True
        while i < b and data[i] != 101:  # up to 'e'
            ch = data[i]
            if ch == 46:
                seen_point = True
            else:
                if leading and ch == 48:
                    if seen_point:
                        decpt -= 1
                else:
                    leading = False
                    digits[nd] = ch
                    nd += 1
                    if not seen_point:
                        decpt += 1
            i += 1
        if i < b:  # exponent
            i += 1
            eneg = data[i] == 45
            if data[i] == 45 or data[i] == 43:
                i += 1
            e = 0
            while i < b:
                e = 10 * e + (data[i] - 48)
                i += 1
            decpt += -e if eneg else e
        while nd > 1 and digits[nd - 1] == 48:  # trailing zeros of an integer value
            nd -= 1
        if nd == 0:  # zero
            digits[0] = 48
            nd = 1
            decpt = 1
        return neg, nd, decpt

    @njit(cache=True, nogil=True)
    def _emit(out, p, neg, digits, nd, decpt, src, a, b):  # pragma: no cover - compiled
        """Write one value in repr's layout at ``out[p:]`` (or just count when ``out`` is
        empty); returns the new position."""
        w = len(out) > 0
        if nd < 0:  # inf / nan as Arrow wrote them (same as repr)
            for i in range(a, b):
                if w:
                    out[p] = src[i]
                p += 1
            return p
        if neg:
            if w:
                out[p] = 45
            p += 1
        if -4 < decpt <= 16:
            if decpt <= 0:
                if w:
                    out[p] = 48
                    out[p + 1] = 46
                p += 2
                for _ in range(-decpt):
                    if w:
                        out[p] = 48
                    p += 1
                for i in range(nd):
                    if w:
                        out[p] = digits[i]
                    p += 1
            else:
                for i in range(max(nd, decpt)):
                    if i == decpt:
                        if w:
                            out[p] = 46
                        p += 1
                    if w:
                        out[p] = digits[i] if i < nd else 48
                    p += 1
                if nd <= decpt:
                    if w:
                        out[p] = 46
                        out[p + 1] = 48
                    p += 2
            return p
        e = decpt - 1
        if w:
            out[p] = digits[0]
        p += 1
        if nd > 1:
            if w:
                out[p] = 46
            p += 1
            for i in range(1, nd):
                if w:
                    out[p] = digits[i]
                p += 1
        if w:
            out[p] = 101
            out[p + 1] = 45 if e < 0 else 43
        p += 2
        e = abs(e)
        ne = 2 if e < 100 else 3
        for i in range(ne - 1, -1, -1):
            if w:
                out[p + i] = 48 + e % 10
            e //= 10
        return p + ne

    @njit(cache=True, nogil=True)
    def _relayout(off, data):  # pragma: no cover - compiled
        """One pass over Arrow's texts into a buffer of 25 bytes per value (``repr`` of a
        float is at most 24 characters), then compacted.  A text with a point, no exponent and
        no "0.000" prefix (1e-3 <= |x| < 2**53) is already in ``repr``'s layout and is copied."""
        n = len(off) - 1
        digits = np.empty(40, dtype=np.uint8)
        new_off = np.zeros(n + 1, dtype=np.int64)
        out = np.empty(25 * n, dtype=np.uint8)
        p = 0
        for k in range(n):
            a, b = off[k], off[k + 1]
            start = 25 * k
            q = start
            if b > a:
                point = False
                expo = False
                for i in range(a, b):
                    ch = data[i]
                    if ch == 46:
                        point = True
                    elif ch == 101 or ch == 105 or ch == 110:  # e, inf, nan
                        expo = True
                i = a + 1 if data[a] == 45 else a
                tiny = b - i >= 5 and data[i] == 48 and data[i + 2] == 48 and data[i + 3] == 48 \
                    and data[i + 4] == 48  # fmt: skip
                if point and not expo and not tiny:
                    for i in range(a, b):
                        out[q] = data[i]
                        q += 1
                else:
                    neg, nd, decpt = _parse(data, a, b, digits)
                    q = _emit(out, q, neg, digits, nd, decpt, data, a, b)
            p += q - start
            new_off[k + 1] = p
        # Compact the 25-byte slots.
        w = 0
        for k in range(n):
            ln = new_off[k + 1] - new_off[k]
            r = 25 * k
            for i in range(ln):
                out[w + i] = out[r + i]
            w += ln
        return new_off, out[:w]
