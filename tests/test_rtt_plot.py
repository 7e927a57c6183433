"""rtt.png: one line per pair for a few pairs; a median and percentile bands for many."""

from __future__ import annotations

import numpy as np

import leosim.reports as reports


def _columns(num_pairs: int, steps: int, rng):
    t = np.repeat(np.arange(steps) * 0.1, num_pairs)
    src = np.tile(np.arange(num_pairs), steps)
    dst = src + 1
    rtt = rng.uniform(20.0, 200.0, steps * num_pairs)
    rtt[::17] = np.inf  # pair-steps without a path
    return {"time_s": t, "src": src, "dst": dst, "rtt_ms": rtt}


def _drawn(monkeypatch, cols, tmp_path):
    figs = []
    real_save = reports._save

    def keep(fig, path):
        ax = fig.axes[0]
        figs.append(
            (
                [ln.get_label() for ln in ax.get_lines()],
                len(ax.collections),
                [ln.get_ydata() for ln in ax.get_lines()],
            )
        )
        real_save(fig, path)

    monkeypatch.setattr(reports, "_save", keep)
    reports.plot_rtt(cols, tmp_path / "rtt.png")
    assert (tmp_path / "rtt.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return figs[0]


def test_few_pairs_one_line_each(monkeypatch, tmp_path):
    cols = _columns(5, 30, np.random.default_rng(0))
    labels, bands, _ = _drawn(monkeypatch, cols, tmp_path)
    assert labels == [f"{s} → {s + 1}" for s in range(5)]
    assert bands == 0


def test_many_pairs_median_and_bands(monkeypatch, tmp_path):
    rng = np.random.default_rng(1)
    cols = _columns(2000, 12, rng)
    labels, bands, ydata = _drawn(monkeypatch, cols, tmp_path)
    assert len(labels) == 2 and labels[0] == "median"  # plus the legend's note line
    assert "2,000 pairs" in labels[1]
    assert bands == 2
    # The median line is the median of the finite RTTs at each step.
    t, r = cols["time_s"], cols["rtt_ms"]
    want = [np.median(r[(t == x) & np.isfinite(r)]) for x in np.unique(t)]
    np.testing.assert_allclose(ydata[0], want)
