"""Scenario files (TOML): what to simulate, validated with errors that name the key.

A scenario names a constellation, ground stations, link rules, routing and a time window::

    name = "Starlink 550 km shell, Hypatia's parameters"

    [constellation]
    preset = "starlink-550-hypatia"     # or tle = "catalogue.tle", or [[constellation.shells]]

    [ground_stations]
    builtin = "hypatia-top-100"         # or file = "stations.csv"

    [links]
    isl = "plus-grid"                   # or "none"
    gsl_cone_radius_km = 940.7          # or gsl_max_range_km, or gsl_min_elevation_deg

    [routing]
    mode = "isls"                       # or "bent-pipe"
    pairs = [["Paris", "Luanda"], [17, 85]]

    [time]
    duration_s = 200
    step_s = 0.1                        # or times_s = [0, 46.8, 139.9]

Every table rejects unknown keys, so a misspelt key is an error naming it, never a silently
ignored setting.  Relative paths are relative to the scenario file.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from ._config import _pydantic_to_input_error, _Strict
from .errors import InputError

_MAX_STEPS = 50_000_000


class ShellSpec(_Strict):
    name: str
    num_planes: Annotated[int, Field(ge=1)]
    sats_per_plane: Annotated[int, Field(ge=1)]
    inclination_deg: Annotated[float, Field(ge=0, le=180)]
    altitude_km: Annotated[float, Field(gt=0)] | None = None
    mean_motion_rev_per_day: Annotated[float, Field(gt=0)] | None = None
    eccentricity: Annotated[float, Field(ge=0, lt=1)] = 1e-7
    arg_perigee_deg: float = 0.0
    phasing: Literal["walker", "alternating"] = "alternating"
    walker_f: int = 0
    raan_offset_deg: float = 0.0
    raan_spread_deg: Annotated[float, Field(gt=0, le=360)] = 360.0
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    check_filing: bool = True


class ConstellationSpec(_Strict):
    preset: str | None = None
    tle: str | None = None
    shells: list[ShellSpec] | None = None
    name: str | None = None
    epoch: datetime | None = None
    gravity: Literal["WGS72", "WGS84"] = "WGS72"
    infer_structure: bool = True
    """For a TLE catalogue: infer shells, planes and slots so +Grid ISLs can be built."""

    @model_validator(mode="after")
    def _one_source(self) -> ConstellationSpec:
        given = [k for k in ("preset", "tle", "shells") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of preset, tle or shells"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


class GroundSpec(_Strict):
    builtin: str | None = None
    file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> GroundSpec:
        if (self.builtin is None) == (self.file is None):
            raise ValueError("give exactly one of builtin or file")
        return self


class LinksSpec(_Strict):
    isl: Literal["plus-grid", "none"] = "plus-grid"
    isl_shift: int = 0
    gsl_min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    gsl_max_range_km: Annotated[float, Field(gt=0)] | None = None
    gsl_cone_radius_km: Annotated[float, Field(gt=0)] | None = None
    max_isl_length_km: Annotated[float, Field(gt=0)] | None = None
    """Default: the 80 km grazing-altitude limit of each shell's altitude."""

    @model_validator(mode="after")
    def _one_gsl_rule(self) -> LinksSpec:
        if self.gsl_max_range_km is not None and self.gsl_cone_radius_km is not None:
            raise ValueError("give at most one of gsl_max_range_km and gsl_cone_radius_km")
        return self


Station = int | str


class RoutingSpec(_Strict):
    mode: Literal["isls", "bent-pipe"] = "isls"
    pairs: list[tuple[Station, Station]] = Field(default_factory=list)
    all_pairs: bool = False
    forwarding_state: bool = False


class TimeSpec(_Strict):
    start: datetime | None = None
    duration_s: float | None = None
    step_s: float | None = None
    times_s: list[float] | None = None
    dut1_s: Annotated[float, Field(ge=-0.9, le=0.9)] = 0.0
    """UT1 - UTC (IERS Bulletin A) for sub-metre Earth-fixed positions; 0 as in Hypatia."""

    @field_validator("step_s")
    @classmethod
    def _positive_step(cls, v: float | None) -> float | None:
        if v is not None and not v > 0:
            raise ValueError(f"must be > 0 seconds, got {v}")
        return v

    @field_validator("duration_s")
    @classmethod
    def _nonneg_duration(cls, v: float | None) -> float | None:
        if v is not None and not v >= 0:
            raise ValueError(f"must be >= 0 seconds, got {v}")
        return v

    @field_validator("times_s")
    @classmethod
    def _sorted_times(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            if not v:
                raise ValueError("must list at least one time")
            a = np.asarray(v, dtype=float)
            if not np.all(np.isfinite(a)) or np.any(np.diff(a) < 0):
                raise ValueError("must be finite and in increasing order")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> TimeSpec:
        window = self.duration_s is not None or self.step_s is not None
        if self.times_s is not None and window:
            raise ValueError("give either times_s or duration_s and step_s, not both")
        if self.times_s is None and (self.duration_s is None or self.step_s is None):
            raise ValueError("give duration_s and step_s (or an explicit times_s list)")
        if self.times_s is None and self.duration_s / self.step_s > _MAX_STEPS:
            raise ValueError(
                f"{self.duration_s / self.step_s:.3g} steps is more than {_MAX_STEPS:,}; "
                "use a longer step_s"
            )
        return self

    def offsets_s(self) -> np.ndarray:
        """Seconds after ``start`` of every time step."""
        if self.times_s is not None:
            return np.asarray(self.times_s, dtype=np.float64)
        n = int(np.floor(self.duration_s / self.step_s + 1e-9))
        # Integer multiples avoid the drift of repeated addition (Hypatia counts in ns).
        return np.arange(n) * self.step_s


class TerminalsSpec(_Strict):
    """User terminals for policy, coverage and capacity runs."""

    file: str | None = None
    countries: list[str] | None = None
    """ADM0_A3 codes; default: every country."""
    n_total: Annotated[int, Field(ge=1)] | None = None
    n_per_country: Annotated[int, Field(ge=1)] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _one_count(self) -> TerminalsSpec:
        if self.file is not None and (self.n_total or self.n_per_country or self.countries):
            raise ValueError("give either file or countries/n_total/n_per_country, not both")
        if self.n_total is not None and self.n_per_country is not None:
            raise ValueError("give at most one of n_total and n_per_country")
        return self


class CoverageSpec(_Strict):
    resolution_deg: Annotated[float, Field(gt=0, le=30)] = 1.0
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] = 25.0
    band_deg: Annotated[float, Field(gt=0, le=90)] = 10.0
    population: bool = True
    """Also evaluate Natural Earth's populated places (population-weighted coverage)."""


class DemandSpec(_Strict):
    """Demand for ``leosim capacity``: subscribers in cells over countries, or flows between
    the scenario's ground stations (a gravity model, or a CSV ``src,dst,demand_mbps``)."""

    mode: Literal["subscribers", "cities"] = "subscribers"
    total_gbps: Annotated[float, Field(gt=0)] = 1000.0
    """cities: total demand of the gravity model."""
    gravity_exponent: Annotated[float, Field(ge=0, le=3)] = 0.0
    flows: str | None = None
    """cities: CSV of flows (``src,dst,demand_mbps``; stations by gid or name) instead of gravity."""
    countries: list[str] = Field(default_factory=list)
    cell_deg: Annotated[float, Field(ge=0.01, le=5)] = 0.15
    take_rate: Annotated[float, Field(gt=0, le=1)] = 0.01
    mbps_per_subscriber: Annotated[float, Field(gt=0)] = 25.0
    concurrency: Annotated[float, Field(gt=0, le=1)] = 1.0
    rates_mbps: list[Annotated[float, Field(gt=0)]] = Field(default_factory=lambda: [25.0, 100.0])


class OutputSpec(_Strict):
    parquet: bool = True
    plot: bool = True


class Scenario(_Strict):
    name: str = "scenario"
    description: str = ""
    constellation: ConstellationSpec
    ground_stations: GroundSpec = GroundSpec(builtin="cities-top-100")
    links: LinksSpec = LinksSpec()
    routing: RoutingSpec = RoutingSpec()
    time: TimeSpec
    output: OutputSpec = OutputSpec()
    terminals: TerminalsSpec = TerminalsSpec()
    coverage: CoverageSpec = CoverageSpec()
    demand: DemandSpec = DemandSpec()
    capacity: dict[str, float | str] = Field(default_factory=dict)
    """Overrides of :class:`leosim.capacity.CapacityModel` (Gbit/s), e.g. ``isl_gbps = 200``."""
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    source: str | None = Field(default=None, exclude=True)
    base_dir: str | None = Field(default=None, exclude=True)

    def resolve_path(self, p: str) -> Path:
        path = Path(p).expanduser()
        if not path.is_absolute() and self.base_dir is not None:
            path = Path(self.base_dir) / path
        return path


def parse_scenario(
    data: dict, *, source: str = "<scenario>", base_dir: str | None = None
) -> Scenario:
    """Validate a scenario given as a dict (the parsed TOML)."""
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_input_error(exc, source, Scenario) from None
    return sc.model_copy(update={"source": source, "base_dir": base_dir})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InputError("scenario file not found", source=p) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        raise InputError(f"not valid TOML: {exc}", source=p, line=line) from None
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", source=p) from None
    return parse_scenario(data, source=str(p), base_dir=str(p.parent))


def default_start(spec: TimeSpec, epoch: datetime) -> datetime:
    start = spec.start or epoch
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    return start


DEMO_SCENARIO_TOML = """\
# leosim's built-in default: Hypatia's Starlink 550 km scenario (72 x 22 satellites, +Grid lasers,
# 100 most populous cities), the seven city pairs of Hypatia's paper, 200 s at 100 ms.
name = "starlink-550-hypatia-demo"
description = "Starlink 550 km shell with Hypatia's parameters; seven city pairs, 200 s at 100 ms"

[constellation]
preset = "starlink-550-hypatia"

[ground_stations]
builtin = "hypatia-top-100"

[links]
isl = "plus-grid"
gsl_cone_radius_km = 940.7   # Hypatia's 25 deg cone at 550 km
max_isl_length_km = 5016.5912331

[routing]
mode = "isls"
pairs = [
  ["Paris", "Luanda"],
  ["Manila", "Dalian"],
  ["Rio-de-Janeiro", "Sankt-Peterburg-(Saint-Petersburg)"],
  ["Istanbul", "Nairobi"],
  ["Paris", "Moskva-(Moscow)"],
  ["Chicago", "Zhengzhou"],
  ["London", "New-York-Newark"],
]

[time]
duration_s = 200
step_s = 0.1
"""
