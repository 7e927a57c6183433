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

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from ._config import AsTuple, _pydantic_to_input_error, _Strict
from ._io import read_toml

_MAX_STEPS = 10_000_000
"""Most time steps of a scenario (about 11.6 days at 0.1 s); the run's memory and time are
also estimated before it starts (see :mod:`leosim._limits`)."""
_MAX_WINDOW_S = 1e9
"""Longest time window and largest time offset: about 31.7 years."""

EPOCH_MIN = datetime(1957, 1, 1, tzinfo=UTC)
EPOCH_MAX = datetime(2057, 1, 1, tzinfo=UTC)
"""TLE epochs have two-digit years, 57-99 meaning 1957-1999 and 00-56 meaning 2000-2056: a
date outside [1957, 2057) would silently become another century."""


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _check_epoch_range(v: datetime | None) -> datetime | None:
    if v is not None and not (EPOCH_MIN <= _utc(v) < EPOCH_MAX):
        raise ValueError(
            f"must be between 1957-01-01 and 2056-12-31 (the years a two-digit TLE year can hold), got "
            f"{v.isoformat()}"
        )
    return v


Degrees360 = Annotated[float, Field(ge=-360, le=360)]


class ShellSpec(_Strict):
    """One Walker shell: ``num_planes`` orbital planes of ``sats_per_plane`` satellites."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    """Shell name, shown in notes and outputs."""
    num_planes: Annotated[int, Field(ge=1, le=10_000)]
    """Number of orbital planes."""
    sats_per_plane: Annotated[int, Field(ge=1, le=10_000)]
    """Satellites in each plane."""
    inclination_deg: Annotated[float, Field(ge=0, le=180)]
    """Orbital inclination, degrees."""
    altitude_km: Annotated[float, Field(gt=0, le=100_000)] | None = None
    """Altitude above the equatorial radius, km; give this and/or mean_motion_rev_per_day."""
    mean_motion_rev_per_day: Annotated[float, Field(gt=0, le=20)] | None = None
    """Mean motion, revolutions per day (as in a TLE); default: from altitude_km."""
    eccentricity: Annotated[float, Field(ge=0, lt=1)] = 1e-7
    """Orbital eccentricity (Hypatia's near-circular default)."""
    arg_perigee_deg: Degrees360 = 0.0
    """Argument of perigee, degrees."""
    phasing: Literal["walker", "alternating"] = "alternating"
    """Slot phasing between planes: "walker" (walker_f) or "alternating" (Hypatia's: odd planes
    shifted by half a slot)."""
    walker_f: Annotated[int, Field(ge=0, le=10_000)] = 0
    """Walker phasing factor F (0 <= F < num_planes), with phasing = "walker"."""
    raan_offset_deg: Degrees360 = 0.0
    """Right ascension of the ascending node of the first plane, degrees."""
    raan_spread_deg: Annotated[float, Field(gt=0, le=360)] = 360.0
    """Span of the planes' ascending nodes, degrees (360: Walker delta; 180: Walker star)."""
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    """This shell's minimum elevation of ground links, degrees; default: links.gsl_min_elevation_deg."""
    check_filing: bool = True
    """Check altitude and mean motion against each other (they must describe the same orbit)."""


class ConstellationSpec(_Strict):
    """The satellites: exactly one of preset, tle or shells."""

    preset: str | None = None
    """A built-in constellation (see ``leosim presets``), e.g. "starlink-gen1"."""
    tle: str | None = None
    """A TLE catalogue file (2- or 3-line), relative to the scenario file."""
    shells: Annotated[list[ShellSpec], Field(min_length=1, max_length=100)] | None = None
    """Your own Walker shells ([[constellation.shells]] tables)."""
    name: Annotated[str, Field(max_length=200)] | None = None
    """Constellation name; default: the preset's or the scenario's name."""
    epoch: datetime | None = None
    """Epoch of generated element sets (preset, shells), a TOML date-time in 1957-2056
    (a date-time without offset is UTC); default: the preset's epoch."""
    gravity: Literal["WGS72", "WGS84"] = "WGS72"
    """SGP4 gravity model and the Earth ellipsoid of ground positions."""
    infer_structure: bool = True
    """For a TLE catalogue: infer shells, planes and slots so +Grid ISLs can be built.  A file
    with Hypatia's "<planes> <sats>" first line is numbered by it instead (sid = plane x sats +
    slot, Hypatia's +Grid) unless this is set to true explicitly."""

    _epoch_range = field_validator("epoch")(_check_epoch_range)

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
    """Ground stations (the endpoints of routed pairs): exactly one of builtin or file."""

    builtin: str | None = None
    """A built-in station set: hypatia-top-100, hypatia-top-1000, hypatia-paris-moscow-grid,
    cities-top-100, cities-top-1000."""
    file: str | None = None
    """A CSV gid,name,latitude_deg,longitude_deg,elevation_m (gids 0, 1, 2, ... in order)."""

    @model_validator(mode="after")
    def _one_source(self) -> GroundSpec:
        if (self.builtin is None) == (self.file is None):
            raise ValueError("give exactly one of builtin or file")
        return self


class LinksSpec(_Strict):
    """Laser (ISL) and ground-satellite (GSL) link rules."""

    isl: Literal["plus-grid", "none"] = "plus-grid"
    """Inter-satellite lasers: "plus-grid" (+Grid: 2 in-plane, 2 to adjacent planes) or "none"."""
    isl_shift: Annotated[int, Field(ge=-10_000, le=10_000)] = 0
    """+Grid: slot shift of the laser to the next plane."""
    gsl_min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] | None = None
    """Minimum elevation of ground links, degrees; default 25 when no range rule is given, else 0
    (the starlink-550-hypatia preset brings Hypatia's rule: gsl_cone_radius_km = 940.7)."""
    gsl_max_range_km: Annotated[float, Field(gt=0, le=100_000)] | None = None
    """Longest ground link, km (slant range)."""
    gsl_cone_radius_km: Annotated[float, Field(gt=0, le=20_000)] | None = None
    """Hypatia's rule: a ground link reaches a satellite whose ground cone (radius on the
    surface, km) covers the station; gives each satellite's longest slant range."""
    max_isl_length_km: Annotated[float, Field(gt=0, le=100_000)] | None = None
    """Longest usable laser, km; default: the 80 km grazing-altitude limit of each shell's altitude."""

    @model_validator(mode="after")
    def _one_gsl_rule(self) -> LinksSpec:
        if self.gsl_max_range_km is not None and self.gsl_cone_radius_km is not None:
            raise ValueError("give at most one of gsl_max_range_km and gsl_cone_radius_km")
        return self


Station = Annotated[int, Field(ge=0, le=2**31)] | Annotated[str, Field(min_length=1)]


class RoutingSpec(_Strict):
    """Which station pairs to route, and how."""

    mode: Literal["isls", "bent-pipe"] = "isls"
    """"isls": paths over lasers, stations only at the ends (Hypatia's free_one_only_over_isls);
    "bent-pipe": no lasers, ground relays allowed."""
    pairs: list[Annotated[tuple[Station, Station], AsTuple]] = Field(default_factory=list)
    """Station pairs [source, destination], each by gid (integer) or name (string)."""
    all_pairs: bool = False
    """Route every ordered pair of stations (n × (n - 1) pairs)."""
    forwarding_state: bool = False
    """Also write forwarding.parquet (next hop per node and destination; changes only)."""


class TimeSpec(_Strict):
    """The time window: duration_s and step_s, or an explicit times_s list."""

    start: datetime | None = None
    """First instant, a TOML date-time in 1957-2056 (without offset: UTC); default: the
    constellation's epoch."""
    duration_s: Annotated[float, Field(ge=0, le=_MAX_WINDOW_S)] | None = None
    """Window length, seconds; steps are at 0, step_s, 2 step_s, ... < duration_s."""
    step_s: Annotated[float, Field(gt=0, le=_MAX_WINDOW_S)] | None = None
    """Time step, seconds."""
    times_s: (
        Annotated[
            list[Annotated[float, Field(ge=-_MAX_WINDOW_S, le=_MAX_WINDOW_S)]],
            Field(min_length=1, max_length=_MAX_STEPS),
        ]
        | None
    ) = None
    """Explicit offsets from start, seconds, in increasing order (instead of duration_s and step_s)."""
    dut1_s: Annotated[float, Field(ge=-0.9, le=0.9)] = 0.0
    """UT1 - UTC (IERS Bulletin A) for sub-metre Earth-fixed positions; 0 as in Hypatia."""
    sgp4_every_step: bool = False
    """true: SGP4 at every step; false: with steps shorter than about a second, SGP4 every few
    steps and the cubic through the nearest knots between them (within 0.1 mm of SGP4)."""

    _start_range = field_validator("start")(_check_epoch_range)

    @field_validator("times_s")
    @classmethod
    def _sorted_times(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and np.any(np.diff(np.asarray(v, dtype=float)) < 0):
            raise ValueError("must be in increasing order")
        return v

    @model_validator(mode="after")
    def _one_form(self) -> TimeSpec:
        window = self.duration_s is not None or self.step_s is not None
        if self.times_s is not None and window:
            raise ValueError("give either times_s or duration_s and step_s, not both")
        if self.times_s is None and (self.duration_s is None or self.step_s is None):
            raise ValueError("give duration_s and step_s (or an explicit times_s list)")
        if self.times_s is None:
            n = self.num_steps
            if n < 1:
                raise ValueError(
                    f"the window has no time step: duration_s = {self.duration_s:g} is shorter "
                    f"than step_s = {self.step_s:g}; give duration_s >= step_s"
                )
            if n > _MAX_STEPS:
                raise ValueError(
                    f"{n:,} steps is more than {_MAX_STEPS:,}; use a longer step_s or a shorter "
                    "duration_s"
                )
        return self

    @property
    def num_steps(self) -> int:
        """Number of time steps."""
        if self.times_s is not None:
            return len(self.times_s)
        # Steps at 0, step_s, 2 step_s, ... < duration_s: a partial last step still starts
        # inside the window (0.3 s at 0.2 s is two steps), while a quotient a rounding error
        # above a whole number (200 s / 0.1 s) adds none.
        if self.duration_s < self.step_s:
            return 0
        q = self.duration_s / self.step_s
        return int(np.ceil(q - 1e-9 * max(q, 1.0)))

    def offsets_s(self) -> np.ndarray:
        """Seconds after ``start`` of every time step."""
        if self.times_s is not None:
            return np.asarray(self.times_s, dtype=np.float64)
        # Integer multiples avoid the drift of repeated addition (Hypatia counts in ns), and
        # k * step_s is the double nearest the exact decimal (46.8, not 46.800000000000004):
        # integer multiples of the step's decimal digits, divided by one exact power of ten.
        k = np.arange(self.num_steps)
        exp = -min(Decimal(repr(float(self.step_s))).as_tuple().exponent, 0)
        units = int(Decimal(repr(float(self.step_s))).scaleb(exp))
        if exp <= 22 and units * max(self.num_steps, 1) < 2**53:
            return (k * units) / 10.0**exp
        return k * self.step_s


class TerminalsSpec(_Strict):
    """User terminals for policy runs: a CSV file, or population-weighted samples per country."""

    file: str | None = None
    """A CSV terminal_id,latitude_deg,longitude_deg[,country][,weight]."""
    countries: Annotated[list[str], Field(max_length=1000)] | None = None
    """ADM0_A3 codes; default: every country."""
    n_total: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    """Terminals in all, split by population (default 2000)."""
    n_per_country: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    """Terminals in each country."""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    """Random seed of the sample."""

    @model_validator(mode="after")
    def _one_count(self) -> TerminalsSpec:
        if self.file is not None and (self.n_total or self.n_per_country or self.countries):
            raise ValueError("give either file or countries/n_total/n_per_country, not both")
        if self.n_total is not None and self.n_per_country is not None:
            raise ValueError("give at most one of n_total and n_per_country")
        return self


class CoverageSpec(_Strict):
    """``leosim coverage``: the grid and the visibility rule."""

    resolution_deg: Annotated[float, Field(ge=0.01, le=30)] = 1.0
    """Grid cell size, degrees (equal-area cells; 1 deg: 41,252 cells)."""
    min_elevation_deg: Annotated[float, Field(ge=0, lt=90)] = 25.0
    """A satellite is in view above this elevation, degrees."""
    band_deg: Annotated[float, Field(gt=0, le=90)] = 10.0
    """Height of the latitude bands of bands.csv, degrees."""
    population: bool = True
    """Also evaluate Natural Earth's populated places (population-weighted coverage)."""


class DemandSpec(_Strict):
    """Demand for ``leosim capacity``: subscribers in cells over countries, or flows between
    the scenario's ground stations (a gravity model, or a CSV ``src,dst,demand_mbps``)."""

    mode: Literal["subscribers", "cities"] = "subscribers"
    """"subscribers": cells over countries; "cities": flows between the stations."""
    total_gbps: Annotated[float, Field(gt=0, le=1e9)] = 1000.0
    """cities: total demand of the gravity model, Gbit/s."""
    gravity_exponent: Annotated[float, Field(ge=0, le=3)] = 0.0
    """cities: demand between two cities ~ pop_a × pop_b / distance^exponent."""
    flows: str | None = None
    """cities: CSV of flows (``src,dst,demand_mbps``; stations by gid or name) instead of gravity."""
    countries: Annotated[list[str], Field(max_length=1000)] = Field(default_factory=list)
    """subscribers: ADM0_A3 codes of the countries whose subscribers to serve."""
    cell_deg: Annotated[float, Field(ge=0.01, le=5)] = 0.15
    """subscribers: demand cell size, degrees."""
    take_rate: Annotated[float, Field(gt=0, le=1)] = 0.01
    """subscribers: share of the population that subscribes."""
    mbps_per_subscriber: Annotated[float, Field(gt=0, le=1e6)] = 25.0
    """subscribers: demand of one subscriber, Mbit/s."""
    concurrency: Annotated[float, Field(gt=0, le=1)] = 1.0
    """subscribers: share of subscribers active at once."""
    rates_mbps: Annotated[
        list[Annotated[float, Field(gt=0, le=1e6)]], Field(min_length=1, max_length=100)
    ] = Field(default_factory=lambda: [25.0, 100.0])
    """subscribers: per-subscriber rates at which to count servable subscribers, Mbit/s."""


class LatencySpec(_Strict):
    """The terminal → PoP round trip of :mod:`leosim.latency` (defaults: its constants, each
    with its source)."""

    access_overhead_ms: Annotated[float, Field(ge=0, le=1000)] | None = None
    """Per-round-trip access overhead (scheduling, framing, processing), ms; default: the value
    fitted by tools/fit_access_overhead.py (docs/latency.md)."""
    fibre_detour: Annotated[float, Field(ge=1, le=10)] | None = None
    """Fibre route length over great-circle distance, gateway → PoP; default 2.1."""
    fibre_group_index: Annotated[float, Field(ge=1, le=2)] | None = None
    """Group index of the fibre (light at c / index); default 1.468."""
    reconfiguration_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    """User ↔ satellite assignment held for slots of this length, s (0: re-chosen every step);
    default 15 (Starlink's scheduler)."""
    reconfiguration_offset_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    """Slots start at UTC seconds ≡ this offset modulo the slot length; default 12."""

    def model(self):
        """The :class:`leosim.latency.LatencyModel` with these overrides."""
        from .latency import LatencyModel

        given = {k: v for k, v in self.model_dump().items() if v is not None}
        return LatencyModel(**given)


class OutputSpec(_Strict):
    """What to write besides the CSV tables."""

    parquet: bool = True
    """Also write Parquet copies of the large tables."""
    plot: bool = True
    """Draw the plots (PNG)."""


class ExecutionSpec(_Strict):
    """Where ``leosim run``, ``policy evaluate``, ``coverage`` and ``capacity`` compute the
    chunks of their time window (see :mod:`leosim.execution`;
    the --executor, --address and --chunk-s options override these).  Results are the same on
    every executor."""

    executor: Literal["serial", "processes", "dask", "ray"] | None = None
    """"serial", "processes" (local worker processes), "dask" (extra leosim[dask]) or "ray"
    (extra leosim[ray]); default: "processes" with workers > 1, else "serial"."""
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    """An existing cluster: "tcp://host:8786" (dask scheduler), "ray://host:10001" or "auto"
    (ray); default: start a local one with `workers` processes and stop it at the end."""
    chunk_s: Annotated[float, Field(gt=0, le=_MAX_WINDOW_S)] | None = None
    """Length of a chunk of the time window, seconds: the unit of work, of resuming and of
    memory; default: a quarter of the window, at most 200 steps."""

    @model_validator(mode="after")
    def _address_fits(self) -> ExecutionSpec:
        from .execution import address_problem

        problem = address_problem(self.executor, self.address)
        if problem is not None:
            raise ValueError(problem)
        return self


class Scenario(_Strict):
    """A scenario file: what to simulate."""

    name: Annotated[str, Field(max_length=200)] = "scenario"
    """Name shown in outputs and plots."""
    description: Annotated[str, Field(max_length=10_000)] = ""
    """Free text."""
    constellation: ConstellationSpec
    """[constellation]: the satellites (required)."""
    ground_stations: GroundSpec = GroundSpec(builtin="cities-top-100")
    """[ground_stations]: the stations (default: builtin = "cities-top-100")."""
    links: LinksSpec = LinksSpec()
    """[links]: laser and ground-link rules."""
    routing: RoutingSpec = RoutingSpec()
    """[routing]: pairs to route."""
    time: TimeSpec
    """[time]: the time window (required)."""
    output: OutputSpec = OutputSpec()
    """[output]: extra output formats."""
    terminals: TerminalsSpec = TerminalsSpec()
    """[terminals]: user terminals for policy runs."""
    coverage: CoverageSpec = CoverageSpec()
    """[coverage]: grid for ``leosim coverage``."""
    demand: DemandSpec = DemandSpec()
    """[demand]: demand for ``leosim capacity``."""
    latency: LatencySpec = LatencySpec()
    """[latency]: the terminal → PoP round-trip model of ``leosim policy evaluate``."""
    capacity: dict[str, float | str] = Field(default_factory=dict)
    """[capacity]: overrides of :class:`leosim.capacity.CapacityModel` (Gbit/s), e.g.
    ``isl_gbps = 200``, or ``preset = "v2mini"``; checked in every command."""
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    """Worker processes of the long commands (the --workers option overrides it)."""
    execution: ExecutionSpec = ExecutionSpec()
    """[execution]: executor (local processes, Dask, Ray) and chunk size of the long commands."""
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
    """Validate a scenario given as a dict (the parsed TOML): every table, always."""
    try:
        sc = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_input_error(exc, source, Scenario) from None
    if sc.capacity:
        from .capacity import CapacityModel

        CapacityModel.from_dict(dict(sc.capacity), source=source, prefix="capacity")
    sc = sc.model_copy(update={"source": source, "base_dir": base_dir})
    _check_terminal_sample_size(sc)
    return sc


def _check_terminal_sample_size(sc: Scenario) -> None:
    """Refuse a terminal sample that cannot fit in memory, before anything is drawn."""
    from ._limits import TERMINAL_BYTES, TERMINAL_STEP_BYTES, check_memory

    t = sc.terminals
    if t.n_total is not None:
        n, key, how = t.n_total, "terminals.n_total", f"{t.n_total:,} terminals"
    elif t.n_per_country is not None:
        k = len(t.countries) if t.countries is not None else _NUM_COUNTRIES
        n = t.n_per_country * k
        key = "terminals.n_per_country"
        how = f"{t.n_per_country:,} terminals × {k} countries"
    else:
        return
    steps = sc.time.num_steps
    check_memory(
        n * (TERMINAL_BYTES + TERMINAL_STEP_BYTES * steps),
        f"{how} over {steps:,} time steps",
        source=sc.source,
        key=key,
    )


_NUM_COUNTRIES = 241
"""Countries of the shipped Natural Earth 50m borders (for a size estimate only)."""


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    data = read_toml(p, what="scenario file")
    return parse_scenario(data, source=str(p), base_dir=str(p.parent))


def default_start(spec: TimeSpec, epoch: datetime) -> datetime:
    return _utc(spec.start or epoch)


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
