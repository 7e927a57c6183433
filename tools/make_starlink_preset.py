"""Derive the ``starlink-2026-05`` preset (``src/leosim/data/starlink_2026_05_shells.json``).

Not part of the package: run it by hand when the catalogue changes::

    uv run python tools/make_starlink_preset.py [--tle ../shared/data/tle/starlink-2026-05-12.tle]

It reads the public Starlink TLE catalogue of 2026-05-12 (10,361 satellites, epochs 2026-05-12
17:27 to 2026-05-13 02:16 UTC), infers its shells, planes and slots with
:func:`leosim.catalogue.infer_structure` at the reference time ``--epoch`` (default
2026-05-13 00:00:00 UTC, 26 minutes before the median TLE epoch) and writes, per inferred shell,
the parameters of a **Walker-delta approximation** of it (no TLEs):

* ``num_planes``: the inferred number of planes (RAAN groups).
* ``sats_per_plane``: ``round(n_sats / num_planes)``, the shell's *mean* plane occupancy.  Real
  planes are partly filled (3 to 63 satellites in one shell); a Walker shell needs equal planes,
  so the preset spreads the shell's deployed satellites evenly.  Filling every plane to its
  fullest would invent up to 50 % more satellites than fly; the mean keeps each shell's count
  within rounding (9,546 preset satellites against the 9,578 the catalogue puts in shells).
* ``inclination_deg``: the members' median inclination; ``altitude_km`` the shell's
  operational mean altitude (``a - 6378.135 km``, ``a`` from the Kozai mean motion, see
  :mod:`leosim.catalogue`) and ``mean_motion_rev_per_day`` the Kepler mean motion of that ``a``.
* ``raan_offset_deg`` / ``raan_spread_deg``: RAAN of plane 0 and the arc the planes span.  A
  shell whose planes the catalogue links around the full circle (``wraps``) spans 360 deg;
  otherwise the planes cover the real arc plus one mean spacing (or 360 deg if the seam left
  is no wider than the catalogue's ``max_plane_link_gap_factor`` plane spacings).
  ``raan_offset_deg`` is the least-squares fit (weighted by satellites per plane) of the Walker
  plane RAANs to the real planes, each matched to its nearest Walker plane.
* ``phasing = "walker"``, ``walker_f`` and ``mean_anomaly_offset_deg``: the Walker phasing
  factor F (0..P-1) and slot-0 argument of latitude that best fit the real satellites'
  arguments of latitude (maximum mean resultant length of ``S * (u - plane * F * 360 / T)``).

Together these put the Walker approximation where the real shell is at the epoch, as far as an
evenly filled Walker shell can be; the JSON records how far (``fit``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
from sgp4.api import SatrecArray

from leosim.catalogue import infer_structure
from leosim.constellation import WalkerShell, altitude_to_mean_motion, from_walker_shells
from leosim.orbits import datetime_to_jd
from leosim.tle import read_tle

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TLE = REPO.parent / "shared" / "data" / "tle" / "starlink-2026-05-12.tle"
OUT = REPO / "src" / "leosim" / "data" / "starlink_2026_05_shells.json"
DEFAULT_EPOCH = "2026-05-13T00:00:00Z"


def _circ_mean_deg(angle_deg: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, float]:
    """Weighted circular mean (deg, in [0, 360)) and mean resultant length (0..1)."""
    z = np.exp(1j * np.radians(angle_deg))
    w = np.ones_like(angle_deg) if weight is None else np.asarray(weight, float)
    m = np.sum(w * z) / np.sum(w)
    return float(np.degrees(np.angle(m)) % 360.0), float(abs(m))


def _fit_raan(plane_raan: np.ndarray, weight: np.ndarray, p: int, spread: float):
    """RAAN of Walker plane 0 and the Walker plane index of each real plane.

    Weighted least squares: each real plane counts with its satellites and is matched to its
    nearest Walker plane; plane 0's RAAN is searched on a 0.001 deg grid within one plane
    spacing of the real plane 0 (the catalogue's plane 0 follows the widest RAAN gap).
    """
    step = spread / p
    cand = plane_raan[0] + np.arange(-step, step, 1e-3)  # (n_cand,)
    walker = cand[:, None] + np.arange(p) * step  # (n_cand, p)
    d = (plane_raan[None, :, None] - walker[:, None, :] + 180.0) % 360.0 - 180.0
    nearest = np.argmin(np.abs(d), axis=2)  # (n_cand, n_real)
    resid = np.take_along_axis(d, nearest[..., None], axis=2)[..., 0]
    best = int(np.argmin((weight * resid**2).sum(axis=1)))
    return float(cand[best] % 360.0), nearest[best]


def _fit_phase(u_deg: np.ndarray, walker_plane: np.ndarray, p: int, s: int):
    """Walker F and slot-0 argument of latitude (deg) that best fit the real ``u``."""
    best = (-1.0, 0, 0.0)
    for f in range(p):
        theta = s * u_deg - walker_plane * f * 360.0 / p
        m, r = _circ_mean_deg(theta % 360.0)
        if r > best[0] + 1e-12:
            best = (r, f, m / s)
    r, f, u0 = best
    return f, u0, r


def _shell_name(inc_deg: float, alt_km: float) -> str:
    return f"Starlink-{inc_deg:.1f}deg-{alt_km:.0f}km"


def build(tle: Path, epoch: datetime) -> dict:
    cat = read_tle(tle)
    jd, fr = datetime_to_jd(epoch)
    st = infer_structure(cat.satrecs, cat.names, jd=jd, fr=fr)
    ep = np.array([s.jdsatepoch + s.jdsatepochF for s in cat.satrecs])
    shells, fits = [], []
    for sh in st.shells:
        members = np.flatnonzero(st.shell_id == sh.shell_id)
        p = sh.n_planes
        s = max(1, math.floor(sh.n_sats / p + 0.5))
        plane_raan = np.array(sh.plane_raan_deg)
        counts = np.array(sh.sats_per_plane, float)
        spread = 360.0
        if not sh.wraps and p > 1:
            gaps = (np.diff(np.append(plane_raan, plane_raan[0])) + 360.0) % 360.0
            arc = 360.0 - gaps[-1]  # plane 0 to plane P-1 eastward
            spread = min(360.0, arc * p / (p - 1))
            # A seam no wider than the catalogue's link limit is no seam (its own rule).
            seam = 360.0 - spread * (p - 1) / p
            if seam <= st.params["max_plane_link_gap_factor"] * spread / p:
                spread = 360.0
        raan0, wplane = _fit_raan(plane_raan, counts, p, spread)
        f, u0, resultant = _fit_phase(
            st.arg_latitude_deg[members], wplane[st.plane_id[members]], p, s
        )
        alt = round(float(sh.altitude_km), 2)
        shells.append(
            {
                "name": _shell_name(sh.inclination_deg, sh.altitude_km),
                "num_planes": int(p),
                "sats_per_plane": int(s),
                "inclination_deg": round(float(sh.inclination_deg), 4),
                "altitude_km": alt,
                "mean_motion_rev_per_day": round(altitude_to_mean_motion(alt), 8),
                "phasing": "walker",
                "walker_f": int(f),
                "raan_offset_deg": round(raan0, 4),
                "raan_spread_deg": round(spread, 4),
                "mean_anomaly_offset_deg": round(u0, 4),
            }
        )
        fits.append(
            {
                "real_n_sats": int(sh.n_sats),
                "real_sats_per_plane_min_median_max": [
                    sh.sats_per_plane_min,
                    sh.sats_per_plane_median,
                    sh.sats_per_plane_max,
                ],
                "real_planes_wrap": bool(sh.wraps),
                "phase_resultant": round(resultant, 3),
            }
        )
    # How close to the real satellites is the Walker approximation at the epoch?
    walker = from_walker_shells(
        [WalkerShell(**d) for d in shells], name="starlink-2026-05", epoch=epoch
    )
    _, r_w, _ = SatrecArray(walker.satrecs).sgp4(np.array([jd]), np.array([fr]))
    r_real = np.asarray(st.positions_m) / 1e3
    for k, fit in enumerate(fits):
        tree = cKDTree(r_w[walker.shell == k, 0])
        d_km, _ = tree.query(r_real[st.shell_id == k])
        fit["median_distance_to_nearest_km"] = round(float(np.median(d_km)), 1)
        fit["p90_distance_to_nearest_km"] = round(float(np.percentile(d_km, 90)), 1)
    for d, fit in zip(shells, fits, strict=True):
        d["fit"] = fit
    iso = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "preset": "starlink-2026-05",
        "description": (
            "Walker-delta approximation of the Starlink shells inferred from the public TLE "
            "catalogue of 2026-05-12 (see tools/make_starlink_preset.py); parameters, not TLEs"
        ),
        "epoch_utc": epoch.strftime(iso),
        "n_sats": int(sum(d["num_planes"] * d["sats_per_plane"] for d in shells)),
        "source": {
            "file": "shared/data/tle/" + tle.name,
            "sha256": hashlib.sha256(tle.read_bytes()).hexdigest(),
            "n_sats": len(cat),
            "n_sats_in_shells": int((st.shell_id >= 0).sum()),
            "tle_epoch_min_median_max_utc": [
                _jd_iso(x, iso) for x in (ep.min(), float(np.median(ep)), ep.max())
            ],
            "set_aside": st.set_aside_counts(),
            "infer_structure": {k: v for k, v in st.params.items() if v is not None},
        },
        "shells": shells,
    }


def _jd_iso(jd: float, fmt: str) -> str:
    from leosim.constellation import jd_to_datetime

    return jd_to_datetime(jd).strftime(fmt)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tle", type=Path, default=DEFAULT_TLE)
    ap.add_argument("--epoch", default=DEFAULT_EPOCH, help="reference time, ISO 8601 UTC")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    epoch = datetime.fromisoformat(args.epoch.replace("Z", "+00:00")).astimezone(UTC)
    data = build(args.tle, epoch)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {data['n_sats']} satellites in {len(data['shells'])} shells")
    for d in data["shells"]:
        f = d["fit"]
        print(
            f"  {d['name']:<26} {d['num_planes']:>3} x {d['sats_per_plane']:>2} "
            f"(real {f['real_n_sats']:>4})  F={d['walker_f']:>2}  R={f['phase_resultant']:.2f}  "
            f"median {f['median_distance_to_nearest_km']:>6.1f} km  "
            f"p90 {f['p90_distance_to_nearest_km']:>6.1f} km"
        )


if __name__ == "__main__":
    main()
