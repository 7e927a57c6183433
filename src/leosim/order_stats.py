"""Exact order statistics of grouped values that are read in passes, in bounded memory.

A long run's values (one RTT per pair and time step) live in chunks on disk; a median per
pair needs, naively, every value of the pair in memory at once.  :func:`grouped_ranks` instead
reads the chunks again (``blocks()`` yields ``(group, values)`` one chunk at a time) and finds
the ``r``-th smallest value of each group by histogram refinement:

1. each target ``(group, r)`` keeps an interval of candidate values, first ``[min, max]``
   of its group, and the rank ``r`` within it;
2. a counting pass sorts the candidates into ``bins`` bins of that interval and keeps the bin
   holding rank ``r`` (its lower bins' count is subtracted from ``r``);
3. once the candidates of every target add up to at most ``max_values``, one last pass
   collects them and sorts them.

Bins are ranges of the values' order-preserving 64-bit integer keys (the IEEE bit pattern, sign
folded), so they are exact whatever the values' magnitude: every counting pass divides each
interval by ``bins``, at most ``ceil(64 / log2(bins))`` passes.  Memory is ``targets x bins``
counts and at most ``max_values`` collected values, whatever the number of values per group.

>>> import numpy as np
>>> v = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0])
>>> g = np.array([0, 0, 0, 0, 0, 1, 1])
>>> def blocks():
...     yield g[:4], v[:4]
...     yield g[4:], v[4:]
>>> grouped_ranks(blocks, g_count=np.array([5, 2]), g_min=np.array([1.0, 7.0]),
...     g_max=np.array([5.0, 9.0]), ranks=np.array([[2, -1], [0, 1]]), bins=2, max_values=1).tolist()
[[3.0, nan], [7.0, 9.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

_SIGN = np.uint64(1 << 63)


def order_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving ``uint64`` keys of finite float64 ``values`` (``-0.0`` just below
    ``0.0``): ``a < b`` exactly when ``key(a) < key(b)``."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    neg = (bits & _SIGN) != 0
    return np.where(neg, ~bits, bits | _SIGN)


def grouped_ranks(
    blocks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
    *,
    g_count: np.ndarray,
    g_min: np.ndarray,
    g_max: np.ndarray,
    ranks: np.ndarray,
    bins: int = 256,
    max_values: int = 4_000_000,
) -> np.ndarray:
    """The ``ranks[g, j]``-th smallest (0-based) finite value of each group ``g`` (NaN where
    ``ranks[g, j] < 0``), as float64 of shape ``ranks.shape``.

    ``blocks()`` is called once per pass and yields ``(group index, values)`` arrays that
    together hold every finite value of every group (non-finite values must be left out);
    ``g_count``, ``g_min`` and ``g_max`` are each group's number of those values, the
    smallest and the largest.  Memory: at most ``bins`` counts per target (fewer if they
    would outnumber ``max_values``) and ``max_values`` (>= 1) values collected in the last
    pass.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    n_g, per = ranks.shape
    tg = np.repeat(np.arange(n_g), per)  # target -> group
    r = ranks.reshape(-1).copy()
    out = np.full(len(r), np.nan)
    live = r >= 0
    lo = np.zeros(len(r), dtype=np.uint64)
    hi = np.zeros(len(r), dtype=np.uint64)
    lo[live] = order_keys(np.asarray(g_min, np.float64)[tg[live]])
    hi[live] = order_keys(np.asarray(g_max, np.float64)[tg[live]])
    count = np.asarray(g_count, dtype=np.int64)[tg]  # candidates per target
    while True:
        same = live & (lo == hi)  # one candidate value left (possibly many times)
        out[same] = _from_keys(lo[same])
        live &= ~same
        if not live.any():
            break
        if count[live].sum() <= max_values:
            _collect(blocks, tg, per, live, lo, hi, r, out)
            break
        # The counts take no more memory than the values collected at the end would.
        width = max(2, min(bins, max_values // int(live.sum())))
        count = _narrow(blocks, tg, per, live, lo, hi, r, width, count)
    return out.reshape(ranks.shape)


def _from_keys(keys: np.ndarray) -> np.ndarray:
    keys = np.asarray(keys, dtype=np.uint64)
    neg = (keys & _SIGN) == 0
    return np.where(neg, ~keys, keys & ~_SIGN).view(np.float64)


def _targets(g: np.ndarray, per: int, j: int, keys: np.ndarray, live, lo, hi):
    """Rows of a block that are candidates of target column ``j``: (row mask, target ids)."""
    t = np.asarray(g, dtype=np.int64) * per + j
    ok = live[t] & (keys >= lo[t]) & (keys <= hi[t])
    return ok, t[ok]


def _narrow(blocks, tg, per, live, lo, hi, r, bins: int, count) -> np.ndarray:
    """One counting pass: each live target's interval becomes the bin holding its rank."""
    ids = np.flatnonzero(live)
    slot = np.full(len(live), -1, dtype=np.int64)
    slot[ids] = np.arange(len(ids))
    width = (hi[ids] - lo[ids]) // np.uint64(bins) + np.uint64(1)
    width_t = np.zeros(len(live), dtype=np.uint64)
    width_t[ids] = width
    hist = np.zeros(len(ids) * bins, dtype=np.int64)
    for g, v in blocks():
        keys = order_keys(v)
        for j in range(per):
            ok, t = _targets(g, per, j, keys, live, lo, hi)
            b = ((keys[ok] - lo[t]) // width_t[t]).astype(np.int64)
            hist += np.bincount(slot[t] * bins + b, minlength=len(hist))
    hist = hist.reshape(len(ids), bins)
    cum = np.cumsum(hist, axis=1)
    rr = r[ids]
    pick = (cum <= rr[:, None]).sum(axis=1)  # first bin whose running count passes the rank
    below = np.where(pick > 0, cum[np.arange(len(ids)), np.maximum(pick - 1, 0)], 0)
    r[ids] = rr - below
    new_lo = lo[ids] + pick.astype(np.uint64) * width
    room = hi[ids] - new_lo  # >= 0: the picked bin holds a candidate; no uint64 overflow
    hi[ids] = np.where(room < width, hi[ids], new_lo + (width - np.uint64(1)))
    lo[ids] = new_lo
    count = count.copy()
    count[ids] = hist[np.arange(len(ids)), pick]
    return count


def _collect(blocks, tg, per, live, lo, hi, r, out) -> None:
    """The last pass: every live target's candidates, sorted; its value at rank ``r``."""
    tid, val = [], []
    for g, v in blocks():
        keys = order_keys(v)
        for j in range(per):
            ok, t = _targets(g, per, j, keys, live, lo, hi)
            if len(t):  # no empty array kept per block: memory bounded by max_values
                tid.append(t)
                val.append(np.asarray(v, dtype=np.float64)[ok])
    t = np.concatenate(tid) if tid else np.zeros(0, dtype=np.int64)
    v = np.concatenate(val) if val else np.zeros(0)
    order = np.lexsort((v, t))
    n = np.bincount(t, minlength=len(live))
    start = np.cumsum(n) - n
    ids = np.flatnonzero(live)
    out[ids] = v[order][start[ids] + r[ids]]
