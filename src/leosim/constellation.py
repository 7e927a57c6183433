"""Constellations: Walker-delta shells from filings, presets, and real TLE catalogues.

A :class:`Constellation` is an ordered list of satellites (SGP4 element sets) with, for each
satellite, the shell, orbital plane and slot it belongs to.  Satellite ``i`` of the
constellation is network node ``i``: the numbering Hypatia uses.

>>> from leosim.constellation import preset
>>> c = preset("starlink-550-hypatia")
>>> len(c), c.shells[0].num_planes, c.shells[0].sats_per_plane
(1584, 72, 22)

Walker shells are turned into TLE text and parsed back, so the constellation you simulate is
exactly the one :meth:`Constellation.write_tle` exports (angles are rounded to 1e-4 degree by
the TLE format, about 12 m along-track at 550 km).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sgp4.api import WGS72, WGS84, Satrec, jday

from .constants import MU_EARTH_WGS72_M3_S2, SECONDS_PER_DAY
from .constants import WGS72 as WGS72_ELLIPSOID
from .errors import InputError
from .tle import TLECatalogue, read_tle, satrec_to_lines, write_tle

HYPATIA_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
"""Epoch of Hypatia's generated TLEs (TLE epoch field ``00001.00000000``)."""

_JD_1949_12_31 = 2433281.5  # sgp4init counts epochs in days from 1949 December 31 00:00 UT
_MAX_ALTITUDE_MISMATCH_KM = 50.0
_PHASINGS = ("walker", "alternating")


def altitude_to_mean_motion(altitude_km: float) -> float:
    """Mean motion (rev/day) of a circular orbit at ``altitude_km`` (Kepler, WGS72 μ and R)."""
    a_m = WGS72_ELLIPSOID.a_m + altitude_km * 1e3
    n_rad_s = math.sqrt(MU_EARTH_WGS72_M3_S2 / a_m**3)
    return n_rad_s * SECONDS_PER_DAY / (2 * math.pi)


def mean_motion_to_altitude(mean_motion_rev_per_day: float) -> float:
    """Altitude (km) above the WGS72 equatorial radius of a circular orbit with this mean motion."""
    n_rad_s = mean_motion_rev_per_day * 2 * math.pi / SECONDS_PER_DAY
    a_m = (MU_EARTH_WGS72_M3_S2 / n_rad_s**2) ** (1.0 / 3.0)
    return (a_m - WGS72_ELLIPSOID.a_m) / 1e3


def _check_not_swapped(shell) -> None:
    """Catch planes and satellites-per-plane given the wrong way round for a filed shell.

    Peer tools take ``(num_orbits, num_sats_per_orbit)`` positionally and the two are easy to
    swap; 22 planes of 72 is a valid Walker shell but not Starlink's 550 km shell.
    """
    if shell.num_planes == shell.sats_per_plane:
        return
    alt = shell.nominal_altitude_km
    # While the presets themselves are being built, there is nothing to compare with yet.
    for shells in globals().get("_PRESETS", {}).values():
        for f in shells:
            if (
                (f.num_planes, f.sats_per_plane) == (shell.sats_per_plane, shell.num_planes)
                and abs(f.nominal_altitude_km - alt) <= 10.0
                and abs(f.inclination_deg - shell.inclination_deg) <= 0.5
            ):
                raise InputError(
                    f"{shell.num_planes} planes of {shell.sats_per_plane} satellites at "
                    f"{alt:.0f} km / {shell.inclination_deg:g} deg looks swapped: the filed "
                    f"shell {f.name!r} has {f.num_planes} planes of {f.sats_per_plane}. "
                    "Swap num_planes and sats_per_plane (or set check_filing = false)",
                    key=f"shell {shell.name!r}.num_planes",
                )


@dataclass(frozen=True)
class WalkerShell:
    """A Walker-delta shell: ``num_planes`` planes of ``sats_per_plane`` satellites.

    Give ``altitude_km`` or ``mean_motion_rev_per_day`` (or both, as Hypatia does: its
    Starlink shell flies at 15.19 rev/day, about 509 km, while its link limits are computed for
    a nominal 550 km).  When both are given they must agree within 50 km, which catches a mean
    motion copied from another constellation (Hypatia issue 33: 13.66 rev/day, Telesat's, for a
    550 km shell is 1014 km).

    Phasing: ``"walker"`` shifts plane ``o`` by ``o * walker_f * 360 / (P * S)`` degrees of mean
    anomaly (Walker i: T/P/F); ``"alternating"`` shifts odd planes by half a slot, as Hypatia's
    TLE generator does (``PHASE_DIFF = True``).
    """

    name: str
    num_planes: int
    sats_per_plane: int
    inclination_deg: float
    altitude_km: float | None = None
    mean_motion_rev_per_day: float | None = None
    eccentricity: float = 1e-7
    arg_perigee_deg: float = 0.0
    phasing: str = "alternating"
    walker_f: int = 0
    raan_offset_deg: float = 0.0
    raan_spread_deg: float = 360.0
    mean_anomaly_offset_deg: float = 0.0
    """Mean anomaly (deg) of slot 0 of plane 0 at the epoch: for a near-circular orbit with
    ``arg_perigee_deg = 0`` its argument of latitude (places a fitted shell where a real one is)."""
    min_elevation_deg: float | None = None
    """Minimum elevation for ground links to this shell (None: use the scenario's)."""
    check_filing: bool = True
    """Refuse plane/satellite counts that are a filed shell's swapped (see below)."""

    def __post_init__(self) -> None:
        def bad(key: str, msg: str) -> InputError:
            return InputError(msg, key=f"shell {self.name!r}.{key}")

        for key in ("num_planes", "sats_per_plane"):
            v = getattr(self, key)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise bad(key, f"must be a positive integer, got {v!r}")
        if not 0.0 <= self.inclination_deg <= 180.0:
            raise bad("inclination_deg", f"must be in [0, 180] degrees, got {self.inclination_deg}")
        if self.altitude_km is None and self.mean_motion_rev_per_day is None:
            raise bad("altitude_km", "give altitude_km or mean_motion_rev_per_day")
        if self.altitude_km is not None and not 150.0 <= self.altitude_km <= 40_000.0:
            raise bad(
                "altitude_km",
                f"must be between 150 and 40000 km (LEO to GEO), got {self.altitude_km}",
            )
        if self.mean_motion_rev_per_day is not None:
            mm = self.mean_motion_rev_per_day
            # 17.0 rev/day is about 150 km, 0.99 is beyond GEO.
            if not 0.99 <= mm <= 17.0:
                raise bad("mean_motion_rev_per_day", f"must be in [0.99, 17] rev/day, got {mm}")
            if self.altitude_km is not None:
                implied = mean_motion_to_altitude(mm)
                if abs(implied - self.altitude_km) > _MAX_ALTITUDE_MISMATCH_KM:
                    raise bad(
                        "mean_motion_rev_per_day",
                        f"{mm} rev/day is a {implied:.0f} km orbit, inconsistent with "
                        f"altitude_km = {self.altitude_km} (mean motion for that altitude: "
                        f"{altitude_to_mean_motion(self.altitude_km):.3f} rev/day)",
                    )
        if not 0.0 <= self.eccentricity < 0.1:
            raise bad(
                "eccentricity", f"must be in [0, 0.1) for a LEO shell, got {self.eccentricity}"
            )
        if self.phasing not in _PHASINGS:
            raise bad("phasing", f"must be one of {_PHASINGS}, got {self.phasing!r}")
        for key in ("raan_offset_deg", "mean_anomaly_offset_deg"):
            if not math.isfinite(getattr(self, key)):
                raise bad(key, f"must be a finite angle in degrees, got {getattr(self, key)}")
        if not 0.0 < self.raan_spread_deg <= 360.0:
            raise bad("raan_spread_deg", f"must be in (0, 360], got {self.raan_spread_deg}")
        if self.min_elevation_deg is not None and not 0.0 <= self.min_elevation_deg < 90.0:
            raise bad("min_elevation_deg", f"must be in [0, 90), got {self.min_elevation_deg}")
        if self.check_filing:
            _check_not_swapped(self)

    @property
    def num_sats(self) -> int:
        return self.num_planes * self.sats_per_plane

    @property
    def nominal_altitude_km(self) -> float:
        """The altitude used for link limits (``altitude_km`` if given, else from mean motion)."""
        if self.altitude_km is not None:
            return float(self.altitude_km)
        return mean_motion_to_altitude(float(self.mean_motion_rev_per_day))

    @property
    def mean_motion(self) -> float:
        """Mean motion in rev/day (given, or from ``altitude_km`` by Kepler's third law)."""
        if self.mean_motion_rev_per_day is not None:
            return float(self.mean_motion_rev_per_day)
        return altitude_to_mean_motion(float(self.altitude_km))

    def elements(self) -> dict[str, np.ndarray]:
        """Per-satellite RAAN and mean anomaly (degrees), plane and slot, in plane-major order."""
        p, s = self.num_planes, self.sats_per_plane
        plane = np.repeat(np.arange(p), s)
        slot = np.tile(np.arange(s), p)
        raan = (self.raan_offset_deg + plane * self.raan_spread_deg / p) % 360.0
        mean_anomaly = slot * 360.0 / s
        if self.phasing == "alternating":
            mean_anomaly = mean_anomaly + np.where(plane % 2 == 1, 360.0 / (2 * s), 0.0)
        else:
            mean_anomaly = mean_anomaly + plane * self.walker_f * 360.0 / (p * s)
        if self.mean_anomaly_offset_deg:
            mean_anomaly = mean_anomaly + self.mean_anomaly_offset_deg
        return {
            "raan_deg": raan,
            "mean_anomaly_deg": mean_anomaly % 360.0,
            "plane": plane,
            "slot": slot,
        }


@dataclass(frozen=True)
class ShellInfo:
    """What the network layer needs to know about one shell of a constellation."""

    name: str
    altitude_km: float
    inclination_deg: float
    num_planes: int | None = None
    sats_per_plane: int | None = None
    min_elevation_deg: float | None = None


@dataclass
class Constellation:
    """Satellites in node order, with their shell, plane and slot (-1 where unknown)."""

    name: str
    names: list[str]
    satrecs: list[Satrec]
    shell: np.ndarray
    plane: np.ndarray
    slot: np.ndarray
    shells: list[ShellInfo]
    epoch: datetime
    gravity: str = "WGS72"
    walker_shells: list[WalkerShell] = field(default_factory=list)
    set_aside: list[tuple[int, str, str]] = field(default_factory=list)
    index_grid: tuple[int, int] | None = None
    """``(planes, sats per plane)`` from Hypatia's TLE header: ``plane``/``slot`` are then
    ``sid // sats`` and ``sid % sats`` of the file order, and +Grid lasers follow them."""

    def __len__(self) -> int:
        return len(self.satrecs)

    # Satrec objects cannot be pickled; worker processes get the TLE text instead.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["satrecs"] = [satrec_to_lines(s) for s in self.satrecs]
        return state

    def __setstate__(self, state: dict) -> None:
        whichconst = {"WGS72": WGS72, "WGS84": WGS84}[state["gravity"]]
        state["satrecs"] = [Satrec.twoline2rv(a, b, whichconst) for a, b in state["satrecs"]]
        self.__dict__.update(state)

    @property
    def num_sats(self) -> int:
        return len(self.satrecs)

    def altitude_km_per_sat(self) -> np.ndarray:
        """Nominal altitude (km) of each satellite's shell (NaN where the shell is unknown)."""
        alt = np.array([s.altitude_km for s in self.shells] + [np.nan])
        return alt[np.where(self.shell >= 0, self.shell, len(self.shells))]

    def write_tle(self, path: str | Path, *, hypatia_header: bool = False) -> None:
        """Export as a 3-line TLE file (with Hypatia's ``"P S"`` first line if asked)."""
        header = None
        if hypatia_header:
            if len(self.walker_shells) != 1:
                raise InputError("Hypatia's TLE header needs a single Walker shell")
            w = self.walker_shells[0]
            header = f"{w.num_planes} {w.sats_per_plane}"
        write_tle(path, self.names, self.satrecs, header=header)

    def tle_lines(self) -> list[tuple[str, str]]:
        return [satrec_to_lines(s) for s in self.satrecs]


def _epoch_to_tle(epoch: datetime) -> tuple[float, float]:
    """sgp4init's epoch (days since 1949-12-31) for a UTC datetime, TLE-rounded."""
    if epoch.tzinfo is None:
        epoch = epoch.replace(tzinfo=UTC)
    start_of_year = datetime(epoch.year, 1, 1, tzinfo=UTC)
    day_of_year = 1.0 + (epoch - start_of_year).total_seconds() / SECONDS_PER_DAY
    day_of_year = round(day_of_year, 8)  # the TLE epoch field has 8 decimals
    jd, fr = jday(epoch.year, 1, 1, 0, 0, 0)
    jd_year_start = jd + fr
    return jd_year_start + day_of_year - 1.0 - _JD_1949_12_31, day_of_year


def from_walker_shells(
    shells: Sequence[WalkerShell],
    *,
    name: str = "constellation",
    epoch: datetime = HYPATIA_EPOCH,
    gravity: str = "WGS72",
    first_satnum: int = 1,
    intl_designator: str = "00000ABC",
) -> Constellation:
    """Build a constellation from Walker shells, satellites numbered shell by shell.

    Each shell's satellites are in plane-major order (``sid = o * S + n``), so for a single
    shell node ``o * S + n`` is plane ``o``, slot ``n``: Hypatia's numbering.
    """
    if not shells:
        raise InputError("a constellation needs at least one shell", key="constellation.shells")
    names_seen = [s.name for s in shells]
    if len(set(names_seen)) != len(names_seen):
        raise InputError(
            f"shell names must be unique, got {names_seen}", key="constellation.shells"
        )
    whichconst = {"WGS72": WGS72, "WGS84": WGS84}[gravity.upper()]
    epoch_days, _ = _epoch_to_tle(epoch)
    names: list[str] = []
    satrecs: list[Satrec] = []
    shell_idx, planes, slots, infos = [], [], [], []
    satnum = first_satnum
    for k, sh in enumerate(shells):
        el = sh.elements()
        no_kozai = sh.mean_motion * 2 * math.pi / 1440.0  # rad/min
        for j in range(sh.num_sats):
            sat = Satrec()
            sat.sgp4init(
                whichconst,
                "i",
                satnum,
                epoch_days,
                0.0,
                0.0,
                0.0,
                sh.eccentricity,
                math.radians(sh.arg_perigee_deg),
                math.radians(sh.inclination_deg),
                math.radians(el["mean_anomaly_deg"][j]),
                no_kozai,
                math.radians(el["raan_deg"][j]),
            )
            sat.intldesg = intl_designator
            sat.classification = "U"
            # Round-trip through TLE text: the simulated satellite is the exported one.
            l1, l2 = satrec_to_lines(sat)
            satrecs.append(Satrec.twoline2rv(l1, l2, whichconst))
            names.append(f"{sh.name} {j}")
            satnum += 1
        shell_idx.append(np.full(sh.num_sats, k))
        planes.append(el["plane"])
        slots.append(el["slot"])
        infos.append(
            ShellInfo(
                sh.name,
                sh.nominal_altitude_km,
                sh.inclination_deg,
                sh.num_planes,
                sh.sats_per_plane,
                sh.min_elevation_deg,
            )
        )
    return Constellation(
        name=name,
        names=names,
        satrecs=satrecs,
        shell=np.concatenate(shell_idx),
        plane=np.concatenate(planes),
        slot=np.concatenate(slots),
        shells=infos,
        epoch=epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC),
        gravity=gravity.upper(),
        walker_shells=list(shells),
    )


def from_tle(
    path_or_catalogue: str | Path | TLECatalogue,
    *,
    name: str | None = None,
    gravity: str = "WGS72",
    epoch: datetime | None = None,
) -> Constellation:
    """A constellation from a TLE or OMM file, without structure (shell/plane/slot all -1),
    except that a file with Hypatia's ``"<planes> <sats>"`` header is numbered by it
    (:attr:`Constellation.index_grid`).

    ``epoch`` defaults to the median element epoch of the file, so one stale or far-future
    element set cannot move the run; satellites more than 30 days from that median get an
    :class:`~leosim.tle.EpochOutlierWarning`.  For +Grid ISLs on a real catalogue infer the
    structure with :mod:`leosim.catalogue`.
    """
    from .tle import median_epoch_jd

    cat = (
        path_or_catalogue
        if isinstance(path_or_catalogue, TLECatalogue)
        else read_tle(path_or_catalogue, gravity=gravity)
    )
    n = len(cat)
    median_jd = median_epoch_jd(cat, stacklevel=3)
    if epoch is None:
        epoch = jd_to_datetime(median_jd)
    plane, slot = np.full(n, -1), np.full(n, -1)
    if cat.grid is not None:  # Hypatia's "<planes> <sats>" header: sid = plane * sats + slot
        plane, slot = np.divmod(np.arange(n), cat.grid[1])
    return Constellation(
        name=name or Path(cat.source).stem,
        names=list(cat.names),
        satrecs=list(cat.satrecs),
        shell=np.full(n, -1),
        plane=plane,
        slot=slot,
        shells=[],
        epoch=epoch,
        gravity=gravity.upper(),
        index_grid=cat.grid,
    )


def jd_to_datetime(jd: float) -> datetime:
    """UTC datetime (microsecond precision) of a Julian date."""
    from datetime import timedelta

    return datetime(2000, 1, 1, 12, tzinfo=UTC) + timedelta(days=jd - 2451545.0)


# --- Presets ---------------------------------------------------------------------------------
# Sources:
#  Starlink Gen1: FCC modification grant of 2021-04-27 (SAT-MOD-20200417-00037), 4,408 sats.
#  Kuiper: FCC authorisation of 2020-07-30 (FCC 20-102), 3,236 sats.
#  Telesat Lightspeed (polar part): Telesat's 2020 FCC filing as used by Hypatia (27 x 13).
#  OneWeb phase 1: 36 x 55 at 1200 km, 87.9 deg (FCC 2020 filing; Hypatia uses 1200 km).
#  starlink-2026-05: Walker approximation of the 10 shells leosim.catalogue infers from the public
#  TLE catalogue of 2026-05-12 (9,546 satellites; data/starlink_2026_05_shells.json, written by
#  tools/make_starlink_preset.py; see data/README.md).  Its default epoch is its own.


def _data_preset(filename: str) -> tuple[tuple[WalkerShell, ...], datetime]:
    """Walker shells and epoch of a preset stored as parameters in ``leosim/data``."""
    import json
    from importlib import resources

    doc = json.loads(resources.files("leosim.data").joinpath(filename).read_text("utf-8"))
    shells = tuple(WalkerShell(**{k: v for k, v in d.items() if k != "fit"}) for d in doc["shells"])
    return shells, datetime.fromisoformat(doc["epoch_utc"]).astimezone(UTC)


_STARLINK_2026_05 = _data_preset("starlink_2026_05_shells.json")
_PRESETS: dict[str, tuple[WalkerShell, ...]] = {
    "starlink-550-hypatia": (
        WalkerShell(
            "Starlink-550",
            72,
            22,
            53.0,
            altitude_km=550.0,
            mean_motion_rev_per_day=15.19,
            eccentricity=1e-7,
            phasing="alternating",
        ),
    ),
    "starlink-gen1": (
        WalkerShell("Starlink-550", 72, 22, 53.0, altitude_km=550.0),
        WalkerShell("Starlink-540", 72, 22, 53.2, altitude_km=540.0),
        WalkerShell("Starlink-570", 36, 20, 70.0, altitude_km=570.0),
        WalkerShell("Starlink-560a", 6, 58, 97.6, altitude_km=560.0),
        WalkerShell("Starlink-560b", 4, 43, 97.6, altitude_km=560.0),
    ),
    "kuiper": (
        WalkerShell("Kuiper-630", 34, 34, 51.9, altitude_km=630.0),
        WalkerShell("Kuiper-610", 36, 36, 42.0, altitude_km=610.0),
        WalkerShell("Kuiper-590", 28, 28, 33.0, altitude_km=590.0),
    ),
    "kuiper-630": (WalkerShell("Kuiper-630", 34, 34, 51.9, altitude_km=630.0),),
    "telesat-1015": (WalkerShell("Telesat-1015", 27, 13, 98.98, altitude_km=1015.0),),
    "oneweb": (WalkerShell("OneWeb-1200", 36, 55, 87.9, altitude_km=1200.0),),
    "starlink-2026-05": _STARLINK_2026_05[0],
}
_PRESET_EPOCHS: dict[str, datetime] = {"starlink-2026-05": _STARLINK_2026_05[1]}
"""Presets whose default epoch is not :data:`HYPATIA_EPOCH` (those fitted to a real catalogue)."""
_PRESET_LINK_RULES: dict[str, dict[str, float]] = {
    # Hypatia's paper/satellite_networks_state/main_starlink_550.py: SATELLITE_CONE_RADIUS_M =
    # 940700 (the FCC filing's 25 deg minimum elevation), max GSL = sqrt(cone^2 + altitude^2).
    "starlink-550-hypatia": {"gsl_cone_radius_km": 940.7},
}
"""Ground-link rules ([links] keys) a preset carries: those of the simulator it reproduces."""


def preset_link_rules(name: str) -> dict[str, float]:
    """The ``[links]`` ground-link rule of a preset when a scenario gives none (``{}``: the
    general default).  ``starlink-550-hypatia`` carries Hypatia's 940.7 km cone."""
    preset_shells(name)  # unknown names raise InputError
    return dict(_PRESET_LINK_RULES.get(name, {}))


def preset_names() -> list[str]:
    """Names accepted by :func:`preset`."""
    return sorted(_PRESETS)


def preset_shells(name: str) -> tuple[WalkerShell, ...]:
    try:
        return _PRESETS[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, _PRESETS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(
            f"unknown constellation preset {name!r}{hint} (known: {', '.join(preset_names())})",
            key="constellation.preset",
        ) from None


def preset_epoch(name: str) -> datetime:
    """Default epoch of a preset: its catalogue's for fitted presets, else :data:`HYPATIA_EPOCH`."""
    preset_shells(name)  # unknown names raise InputError
    return _PRESET_EPOCHS.get(name, HYPATIA_EPOCH)


def preset(name: str, *, epoch: datetime | None = None) -> Constellation:
    """A built-in constellation (see :func:`preset_names`), at ``epoch`` or its own
    (:func:`preset_epoch`)."""
    shells = preset_shells(name)
    return from_walker_shells(shells, name=name, epoch=epoch or preset_epoch(name))
