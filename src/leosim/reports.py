"""Reports: per-pair summaries and plots of route tables.

>>> import numpy as np
>>> from leosim.reports import pair_summary
>>> cols = {"src": np.array([0, 0, 0]), "dst": np.array([1, 1, 1]),
...         "rtt_ms": np.array([10.0, 12.0, 11.0]),
...         "path_fwd": np.array(["2-0-3", "2-1-3", "2-1-3"], dtype=object)}
>>> s = pair_summary(cols)
>>> float(s["median_rtt_ms"][0]), int(s["path_changes"][0])
(11.0, 1)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pair_summary(
    columns: dict[str, np.ndarray], names: list[str] | None = None
) -> dict[str, np.ndarray]:
    """Min/median/max RTT, path changes and unreachable steps per (src, dst) pair."""
    src = np.asarray(columns["src"])
    dst = np.asarray(columns["dst"])
    rtt = np.asarray(columns["rtt_ms"], dtype=float)
    path = np.asarray(columns["path_fwd"], dtype=object)
    keys = src.astype(np.int64) * (1 << 32) + dst
    uniq, first = np.unique(keys, return_index=True)
    order = np.argsort(first)  # keep the scenario's pair order
    out: dict[str, list] = {
        k: []
        for k in (
            "src",
            "dst",
            "src_name",
            "dst_name",
            "steps",
            "unreachable_steps",
            "min_rtt_ms",
            "median_rtt_ms",
            "max_rtt_ms",
            "path_changes",
        )
    }
    for u in uniq[order]:
        sel = keys == u
        r = rtt[sel]
        ok = np.isfinite(r)
        p = path[sel]
        s, d = int(src[sel][0]), int(dst[sel][0])
        out["src"].append(s)
        out["dst"].append(d)
        out["src_name"].append(names[s] if names else str(s))
        out["dst_name"].append(names[d] if names else str(d))
        out["steps"].append(int(sel.sum()))
        out["unreachable_steps"].append(int((~ok).sum()))
        out["min_rtt_ms"].append(float(r[ok].min()) if ok.any() else np.nan)
        out["median_rtt_ms"].append(float(np.median(r[ok])) if ok.any() else np.nan)
        out["max_rtt_ms"].append(float(r[ok].max()) if ok.any() else np.nan)
        out["path_changes"].append(int(np.sum(p[1:] != p[:-1])))
    return {k: np.asarray(v, dtype=object if k.endswith("name") else None) for k, v in out.items()}


def plot_rtt(
    columns: dict[str, np.ndarray], path: Path, names: list[str] | None = None, title: str = ""
) -> None:
    """PNG of RTT over time, one line per pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    src = np.asarray(columns["src"])
    dst = np.asarray(columns["dst"])
    t = np.asarray(columns["time_s"], dtype=float)
    rtt = np.asarray(columns["rtt_ms"], dtype=float)
    keys = src.astype(np.int64) * (1 << 32) + dst
    uniq, first = np.unique(keys, return_index=True)
    for u in uniq[np.argsort(first)]:
        sel = keys == u
        s, d = int(src[sel][0]), int(dst[sel][0])
        label = f"{names[s]} → {names[d]}" if names else f"{s} → {d}"
        ax.plot(t[sel], rtt[sel], lw=1.4, label=label, drawstyle="steps-post")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("round-trip time (ms)")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    if len(uniq) <= 12:
        ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
