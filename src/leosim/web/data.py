"""What the web app serves, computed from a scenario and its policies (no web framework here).

:class:`WebModel` holds one built :class:`~leosim.simulate.Network` and the loaded policies and
answers the API's questions: satellite positions over a time window (Earth-fixed, km, float32),
the route between two stations with its RTT series and breakdown, the activation state of every
country under a policy, the stations, gateways and exclusion zones, and the country outlines.

Times are seconds after the scenario's start (``t_s``); a window ``t0_s, t1_s, step_s`` means
the times ``t0_s + k step_s`` for ``k = 0, 1, ...`` up to and including ``t1_s`` (within 1 ns).
Windows too large to answer quickly are refused up front (:class:`~leosim.errors.InputError`)
from their size alone: at most :data:`MAX_POSITION_VALUES` position values a request and
:data:`MAX_ROUTE_STEPS` routing steps, and a lower bound of the work (from
:mod:`leosim._limits`) of at most :data:`MAX_REQUEST_S` seconds.

Long work is cancellable: every computation takes an optional ``cancel`` event
(:class:`threading.Event`) and checks it between pieces of about :data:`CANCEL_PIECE_S`
seconds of work (every time step of a policy evaluation), raising :class:`Cancelled` when it is set; the web app sets it
when the client goes away.  :attr:`WebModel.work` counts what was started, finished and
cancelled, and the pieces done.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
from dataclasses import dataclass, field

import numpy as np
import shapely

from .._limits import SECONDS_PER_SAT_STEP, SECONDS_PER_TREE_NODE, check_memory
from ..borders import EARTH_MEAN_RADIUS_KM, Borders
from ..constants import SPEED_OF_LIGHT_M_S
from ..coverage import coverage, equal_area_grid
from ..errors import InputError
from ..ground import great_circle_m
from ..latency import LatencyModel
from ..orbits import Orbits
from ..policy import Policy
from ..scenario import Scenario
from ..simulate import Network, RouteTable, build_network, run_pairs

MAX_POSITION_VALUES = 24_000_000
"""Most float32 values in one positions answer (96 MB: 10,000 satellites × 800 steps)."""
MAX_ROUTE_STEPS = 2_000
"""Most time steps in one route answer."""
MAX_REQUEST_S = 30.0
"""Most seconds of work (a lower bound from :mod:`leosim._limits`) one request may ask for."""
MIN_STEP_S = 1e-3
"""The shortest time step a request may ask for (1 ms)."""
MAX_ABS_T_S = 30 * 86_400.0
"""Times are within 30 days of the scenario's start (SGP4 drifts beyond that)."""
MAX_COVERAGE_POINT_STEPS = 2_000_000
"""Most grid points × time steps in one coverage answer (a 5° grid over 1,200 steps)."""
MIN_COVERAGE_RESOLUTION_DEG = 1.0
"""The finest coverage grid one request may ask for (41,252 cells)."""
COUNTRY_SIMPLIFY_DEG = 0.05
"""Country outlines sent to the page are simplified to this tolerance (degrees)."""
MAX_EVALUATE_TERMINAL_STEPS = 1_000_000
"""Most terminals × time steps in one policy evaluation (2,000 terminals over 500 steps)."""
CANCEL_PIECE_S = 0.1
"""Estimated seconds of work between two checks of the cancel event (at least one time step)."""
POSITION_S_PER_SAT_STEP = 1e-6
ROUTE_S_PER_NODE_STEP = 5e-6
COVERAGE_S_PER_VALUE_STEP = 5e-6
"""Time per step estimates that size the pieces: per satellite (positions), per graph node
(routes: satellites + stations) and per grid point and satellite (coverage); measured 0.6,
3.4 and 3.0 µs on one core of the project's 2-core machine (1,584 satellites, 100 stations,
a 5° grid)."""


class Cancelled(Exception):
    """The computation was stopped because its ``cancel`` event was set."""


@dataclass
class WorkCounts:
    """What the model computed: requests started, finished and cancelled, pieces done."""

    started: int = 0
    finished: int = 0
    cancelled: int = 0
    pieces: int = 0
    running: int = 0


def _checkpoint(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled


def _pieces(t_s: np.ndarray, step_s_estimate: float, minimum: int = 1) -> list[np.ndarray]:
    """``t_s`` in consecutive pieces of about :data:`CANCEL_PIECE_S` seconds of work each."""
    size = max(minimum, int(CANCEL_PIECE_S / max(step_s_estimate, 1e-12)))
    return [t_s[i : i + size] for i in range(0, len(t_s), size)]


def _check_window(t0_s: float, t1_s: float, step_s: float) -> int:
    """The number of times of a window; InputError for a window that is not one."""
    if not (math.isfinite(t0_s) and math.isfinite(t1_s) and math.isfinite(step_s)):
        raise InputError("t0_s, t1_s and step_s must be finite numbers", key="window")
    if not step_s >= MIN_STEP_S:
        raise InputError(f"step_s must be >= {MIN_STEP_S:g} s, got {step_s:g}", key="step_s")
    if t1_s < t0_s:
        raise InputError(f"t1_s ({t1_s:g}) is before t0_s ({t0_s:g})", key="t1_s")
    if max(abs(t0_s), abs(t1_s)) > MAX_ABS_T_S:
        raise InputError(
            f"times must be within {MAX_ABS_T_S / 86400:g} days of the scenario start",
            key="t0_s" if abs(t0_s) > MAX_ABS_T_S else "t1_s",
        )
    steps = (t1_s - t0_s) / step_s
    if steps > 1e12:  # refused by every limit; keeps the count an exact integer
        raise InputError(
            f"{steps:.3g} steps: use a shorter window or a longer step_s", key="step_s"
        )
    return math.floor(steps + 1e-9) + 1


def window_times_s(t0_s: float, t1_s: float, step_s: float) -> np.ndarray:
    """The times of a window, ``t0_s + k step_s`` up to ``t1_s`` (rounded to 1 ns).

    >>> window_times_s(0.0, 1.0, 0.25).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> window_times_s(10.0, 10.0, 1.0).tolist()
    [10.0]
    """
    n = _check_window(t0_s, t1_s, step_s)
    return np.round(t0_s + np.arange(n) * step_s, 9)


def _steps(t0_s: float, t1_s: float, step_s: float, limit: int, what: str) -> int:
    """The step count of a window, refused above ``limit`` before any array is made."""
    n = _check_window(t0_s, t1_s, step_s)
    if n > limit:
        raise InputError(
            f"{what}: {n:,} steps is more than the {limit:,} one request may ask for; "
            "use a shorter window or a longer step_s",
            key="step_s",
        )
    return n


@dataclass
class WebModel:
    """A scenario's network and policies, ready to answer the web API."""

    scenario: Scenario
    network: Network
    policies: list[Policy] = field(default_factory=list)
    borders: Borders = field(default_factory=Borders.default)
    scenario_text: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    """One computation at a time: SGP4's satellite records and the router keep state."""
    work: WorkCounts = field(default_factory=WorkCounts, repr=False, compare=False)

    @classmethod
    def build(
        cls, scenario: Scenario, policies: list[Policy] | None = None, *, scenario_text: str = ""
    ) -> WebModel:
        """Build the scenario's network once (every request reuses it)."""
        return cls(
            scenario,
            build_network(scenario),
            list(policies or []),
            Borders.default(),
            scenario_text,
        )

    @contextlib.contextmanager
    def _computing(self, cancel: threading.Event | None):
        """Hold the model's lock for one computation (waiting for it stops when ``cancel`` is
        set) and count it in :attr:`work`."""
        while not self.lock.acquire(timeout=0.05):
            _checkpoint(cancel)
        self.work.started += 1
        self.work.running += 1
        try:
            yield
            self.work.finished += 1
        except Cancelled:
            self.work.cancelled += 1
            raise
        finally:
            self.work.running -= 1
            self.lock.release()

    def _piece_done(self, cancel: threading.Event | None) -> None:
        self.work.pieces += 1
        _checkpoint(cancel)

    @functools.cached_property
    def terminals(self):
        """The scenario's user terminals (``[terminals]``; by default 2,000 sampled by
        population over every country), for policy evaluations."""
        from ..ground_segment import scenario_terminals

        return scenario_terminals(self.scenario, self.borders)

    @functools.cached_property
    def orbits(self) -> Orbits:
        return Orbits.from_constellation(self.network.constellation, dut1_s=self.network.dut1_s)

    # ------------------------------------------------------------------ description
    def info(self) -> dict:
        """Scenario name, start, sizes, shells and the default window of the page."""
        net, sc = self.network, self.scenario
        c = net.constellation
        t = sc.time.offsets_s()
        shells = [
            {
                "name": s.name,
                "altitude_km": float(s.altitude_km),
                "inclination_deg": float(s.inclination_deg),
                "num_sats": int((c.shell == i).sum()),
            }
            for i, s in enumerate(c.shells)
        ]
        return {
            "name": sc.name,
            "description": sc.description,
            "start_utc": net.start.isoformat().replace("+00:00", "Z"),
            "num_sats": net.num_sats,
            "num_stations": net.num_gs,
            "num_isls": len(net.isl_pairs),
            "shells": shells,
            "sat_shell": c.shell.astype(int).tolist(),
            "window": {
                "t0_s": float(t[0]),
                "t1_s": float(t[-1]),
                "step_s": float(t[1] - t[0]) if len(t) > 1 else 1.0,
            },
            "limits": {
                "max_position_values": MAX_POSITION_VALUES,
                "max_route_steps": MAX_ROUTE_STEPS,
                "max_coverage_point_steps": MAX_COVERAGE_POINT_STEPS,
                "max_abs_t_s": MAX_ABS_T_S,
            },
            "policies": [p.name for p in self.policies],
            "notes": list(net.notes),
        }

    def stations(self) -> list[dict]:
        """Ground stations: gid, name, latitude and longitude (degrees)."""
        s = self.network.stations
        return [
            {
                "gid": int(s.gids[i]),
                "name": s.names[i],
                "latitude_deg": float(s.latitude_deg[i]),
                "longitude_deg": float(s.longitude_deg[i]),
            }
            for i in range(len(s))
        ]

    # ------------------------------------------------------------------ positions
    def positions_km(
        self, t0_s: float, t1_s: float, step_s: float, cancel: threading.Event | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Times and Earth-fixed satellite positions, km, float32 ``(n_times, n_sats, 3)``."""
        n_sats = self.network.num_sats
        n = _steps(
            t0_s, t1_s, step_s, max(1, MAX_POSITION_VALUES // max(3 * n_sats, 1)), "positions"
        )
        _check_work(n * n_sats * SECONDS_PER_SAT_STEP, "positions")
        check_memory(n * n_sats * 3 * 8 * 5.0, f"positions of {n_sats:,} satellites at {n:,} times")
        t_s = window_times_s(t0_s, t1_s, step_s)
        out = np.empty((len(t_s), n_sats, 3), dtype=np.float32)
        start = self.network.start
        with self._computing(cancel):
            k0 = 0
            for ts in _pieces(t_s, n_sats * POSITION_S_PER_SAT_STEP):
                out[k0 : k0 + len(ts)] = self.orbits.ecef_m(start, ts) * 1e-3
                k0 += len(ts)
                self._piece_done(cancel)
        return t_s, out

    # ------------------------------------------------------------------ lasers
    def isls(self) -> dict:
        """The network's laser pairs (satellite indices) and each one's length limit (km).

        A laser is usable at a time when both its satellites have a position and it is no
        longer than its limit (:func:`leosim.links.usable_isls`, as the router uses them).
        """
        net = self.network
        return {
            "num_sats": net.num_sats,
            "pairs": np.asarray(net.isl_pairs, dtype=np.int64).reshape(-1, 2).tolist(),
            "max_length_km": np.round(np.asarray(net.isl_max_length_m) * 1e-3, 6).tolist(),
        }

    # ------------------------------------------------------------------ coverage
    def coverage(
        self,
        t0_s: float,
        t1_s: float,
        step_s: float,
        resolution_deg: float,
        min_elevation_deg: float | None,
        policy_index: int,
        cancel: threading.Event | None = None,
    ) -> dict:
        """Satellites in view and share of time served on an equal-area grid over a window
        (:func:`leosim.coverage.coverage`; under policy ``policy_index``, -1 for none).

        ``min_elevation_deg`` None: the scenario's ``[coverage]`` value; a policy's own
        ``min_elevation_deg`` wins, as in ``leosim coverage --policy``.
        """
        if not (math.isfinite(resolution_deg) and resolution_deg >= MIN_COVERAGE_RESOLUTION_DEG):
            raise InputError(
                f"resolution_deg must be >= {MIN_COVERAGE_RESOLUTION_DEG:g}, got {resolution_deg:g}",
                key="resolution_deg",
            )
        pol = self._policy_at(policy_index)
        grid = equal_area_grid(resolution_deg)
        n_pts = len(grid)
        n = _steps(t0_s, t1_s, step_s, max(1, MAX_COVERAGE_POINT_STEPS // n_pts), "coverage")
        _check_work(n * self.network.num_sats * SECONDS_PER_SAT_STEP, "coverage")
        t_s = window_times_s(t0_s, t1_s, step_s)
        el = (
            self.scenario.coverage.min_elevation_deg
            if min_elevation_deg is None
            else float(min_elevation_deg)
        )
        with self._computing(cancel):
            res = self._coverage(grid, t_s, el, pol, cancel)
        if pol is not None and pol.spec.min_elevation_deg is not None:
            el = float(pol.spec.min_elevation_deg)
        # Each cell's extent: bands resolution-tall, band cells sharing 360 deg equally.
        _, per_band = np.unique(grid.latitude_deg, return_counts=True)
        band_h = 180.0 / len(per_band)
        return {
            "t0_s": float(t_s[0]),
            "t1_s": float(t_s[-1]),
            "step_s": float(step_s),
            "num_times": len(t_s),
            "resolution_deg": float(resolution_deg),
            "min_elevation_deg": el,
            "policy": pol.name if pol is not None else None,
            "cell_height_deg": band_h,
            "latitude_deg": np.round(grid.latitude_deg, 6).tolist(),
            "longitude_deg": np.round(grid.longitude_deg, 6).tolist(),
            "cell_width_deg": np.round(np.repeat(360.0 / per_band, per_band), 9).tolist(),
            "mean_visible": np.round(res.mean_visible, 6).tolist(),
            "min_visible": res.min_visible.astype(int).tolist(),
            "covered_fraction": np.round(res.covered_fraction, 6).tolist(),
            "served_fraction": np.round(res.served_fraction, 6).tolist(),
        }

    def _coverage(self, grid, t_s: np.ndarray, el: float, pol, cancel) -> _Coverage:
        """:func:`leosim.coverage.coverage` over ``t_s`` in pieces (the cancel event checked
        between them), merged: a window of equal steps weighs each piece by its step count
        (means and shares), minima are minima."""
        n = len(t_s)
        parts = []
        cost_s = (len(grid) + self.network.num_sats) * COVERAGE_S_PER_VALUE_STEP
        for ts in _pieces(t_s, cost_s, minimum=2):
            r = coverage(
                self.network, grid, ts, min_elevation_deg=el, policy=pol, borders=self.borders
            )
            parts.append((len(ts), r))
            self._piece_done(cancel)

        def mean(key: str) -> np.ndarray:
            return sum(k * np.asarray(getattr(r, key), dtype=float) for k, r in parts) / n

        return _Coverage(
            mean("mean_visible"),
            np.min([r.min_visible for _, r in parts], axis=0),
            mean("covered_fraction"),
            mean("served_fraction"),
        )

    def _policy_at(self, index: int) -> Policy | None:
        """Policy ``index`` of the loaded ones; None for -1 (InputError for another)."""
        if index == -1:
            return None
        if not 0 <= index < len(self.policies):
            raise InputError(
                f"no policy {index}; {len(self.policies)} loaded (0..{len(self.policies) - 1}, "
                "or -1 for none)",
                key="policy",
            )
        return self.policies[index]

    # ------------------------------------------------------------------ routes
    def route(
        self,
        src: str,
        dst: str,
        t0_s: float,
        t1_s: float,
        step_s: float,
        cancel: threading.Event | None = None,
    ) -> dict:
        """The route between two stations at every time of a window (see the API docs)."""
        net = self.network
        gs = net.stations.resolve(_ref(src), key="src")
        gd = net.stations.resolve(_ref(dst), key="dst")
        if gs == gd:
            raise InputError("src and dst are the same station", key="dst")
        n = _steps(t0_s, t1_s, step_s, MAX_ROUTE_STEPS, "route")
        nodes = net.num_sats + net.num_gs
        per_step = net.num_sats * SECONDS_PER_SAT_STEP + 2 * nodes * SECONDS_PER_TREE_NODE
        _check_work(n * per_step, "route")
        t_s = window_times_s(t0_s, t1_s, step_s)
        pair = np.array([[gs, gd]])
        with self._computing(cancel):
            tables = []
            for ts in _pieces(t_s, nodes * ROUTE_S_PER_NODE_STEP):
                tables.append(run_pairs(net, ts, pair))
                self._piece_done(cancel)
            return _route_answer(self, gs, gd, t_s, RouteTable.concat(tables).columns)

    # ------------------------------------------------------------------ evaluation
    def _evaluate(self, index: int, t_s: np.ndarray, cancel):
        """:func:`leosim.service.evaluate` of policy ``index`` for :attr:`terminals`."""
        from ..service import evaluate

        return evaluate(
            self.network,
            self.policies[index],
            self.terminals,
            t_s,
            borders=self.borders,
            on_progress=lambda _n: self._piece_done(cancel),
            latency=self.scenario.latency.model(),
        )

    def _evaluation_times(self, t0_s: float, t1_s: float, step_s: float, runs: int) -> np.ndarray:
        n_term = len(self.terminals)
        limit = max(1, MAX_EVALUATE_TERMINAL_STEPS // max(n_term, 1))
        n = _steps(t0_s, t1_s, step_s, limit, f"evaluation of {n_term:,} terminals")
        _check_work(runs * n * self.network.num_sats * SECONDS_PER_SAT_STEP, "evaluation")
        return window_times_s(t0_s, t1_s, step_s)

    def _loaded(self, index: int, key: str) -> int:
        if not 0 <= index < len(self.policies):
            raise InputError(
                f"no policy {index} to evaluate; {len(self.policies)} loaded "
                f"(0..{len(self.policies) - 1}; serve with --policy P.toml)",
                key=key,
            )
        return index

    def evaluate(
        self,
        index: int,
        t0_s: float,
        t1_s: float,
        step_s: float,
        cancel: threading.Event | None = None,
    ) -> dict:
        """Policy ``index`` evaluated for the scenario's terminals over a window, per country
        (``leosim policy evaluate``'s ``countries.csv`` columns; null for NaN)."""
        self._loaded(index, "policy")
        t_s = self._evaluation_times(t0_s, t1_s, step_s, 1)
        with self._computing(cancel):
            res = self._evaluate(index, t_s, cancel)
        return {
            "policy": self.policies[index].name,
            "num_times": len(t_s),
            "num_terminals": len(self.terminals),
            "countries": _rows(res.country_table(self.borders)),
        }

    def compare(
        self,
        a: int,
        b: int,
        t0_s: float,
        t1_s: float,
        step_s: float,
        cancel: threading.Event | None = None,
    ) -> dict:
        """Policies ``a`` and ``b`` evaluated for the scenario's terminals over a window: per
        country B − A (``leosim policy compare``'s ``compare.csv`` columns; null for NaN)."""
        from ..service import compare

        self._loaded(a, "a")
        self._loaded(b, "b")
        t_s = self._evaluation_times(t0_s, t1_s, step_s, 2)
        with self._computing(cancel):
            ra = self._evaluate(a, t_s, cancel)
            rb = self._evaluate(b, t_s, cancel)
        return {
            "a": self.policies[a].name,
            "b": self.policies[b].name,
            "num_times": len(t_s),
            "num_terminals": len(self.terminals),
            "countries": _rows(compare(ra, rb, self.borders)),
        }

    # ------------------------------------------------------------------ policy
    def policy(self, index: int) -> dict:
        """Activation state of every country, exclusion zones, gateways and PoPs under a policy.

        ``index`` -1 (or no policy loaded) is "no policy": every country active, the built-in
        operational gateways.
        """
        codes = np.array(self.borders.codes, dtype=object)
        if index >= len(self.policies) or index < -1:
            raise InputError(
                f"no policy {index}; {len(self.policies)} loaded (0..{len(self.policies) - 1}, "
                "or -1 for none)",
                key="index",
            )
        if index == -1 or not self.policies:
            from ..ground_segment import builtin_gateways, builtin_pops

            states = np.full(len(codes), "active", dtype=object)
            return {
                "index": -1,
                "name": "no policy (every country active)",
                "default_state": "active",
                "states": dict(zip(codes.tolist(), states.tolist(), strict=True)),
                "zones": [],
                "gateways": _gateways(builtin_gateways("operational")),
                "pops": _pops(builtin_pops()),
            }
        pol = self.policies[index]
        states = pol.state_of(codes)
        return {
            "index": index,
            "name": pol.name,
            "default_state": pol.spec.default_state,
            "states": dict(zip(codes.tolist(), states.tolist(), strict=True)),
            "zones": [_zone(z, self.borders) for z in pol.zones],
            "gateways": _gateways(pol.gateways),
            "pops": _pops(pol.pops) if pol.pops is not None else [],
        }

    @functools.cached_property
    def countries_geojson(self) -> dict:
        """Country outlines as a GeoJSON FeatureCollection (simplified, 3 decimals)."""
        feats = []
        for code in self.borders.codes:
            g = shapely.simplify(self.borders.geometry(code), COUNTRY_SIMPLIFY_DEG)
            if g.is_empty:
                continue
            feats.append(
                {
                    "type": "Feature",
                    "properties": {"code": code, "name": self.borders.name_of(code)},
                    "geometry": shapely.geometry.mapping(shapely.set_precision(g, 1e-3)),
                }
            )
        return {"type": "FeatureCollection", "features": feats}


@dataclass
class _Coverage:
    mean_visible: np.ndarray
    min_visible: np.ndarray
    covered_fraction: np.ndarray
    served_fraction: np.ndarray


def _rows(table: dict[str, np.ndarray]) -> list[dict]:
    """A table of columns as JSON rows: numbers as floats (NaN as None), text as text."""

    def cell(v):
        if isinstance(v, str | np.str_):
            return str(v)
        if isinstance(v, int | np.integer):
            return int(v)
        f = float(v)
        return f if math.isfinite(f) else None

    keys = list(table)
    n = len(table[keys[0]]) if keys else 0
    return [{k: cell(table[k][i]) for k in keys} for i in range(n)]


def _check_work(seconds: float, what: str) -> None:
    if seconds > MAX_REQUEST_S:
        raise InputError(
            f"{what}: this window needs at least {seconds:,.0f} s of work, more than the "
            f"{MAX_REQUEST_S:g} s one request may take; use a shorter window or a longer step_s",
            key="step_s",
        )


def _ref(text: str) -> int | str:
    """A station reference: its gid when the text is a whole number, else its name."""
    s = text.strip()
    return int(s) if s.isascii() and s.isdigit() and len(s) < 10 else s  # "²".isdigit()


def _geocentric(p_km: np.ndarray) -> np.ndarray:
    """Geocentric latitude, longitude (degrees) and height above the mean sphere (km) of
    Earth-fixed points, as the page's globe (a sphere) draws them."""
    r = np.linalg.norm(p_km, axis=-1)
    lat = np.degrees(np.arcsin(np.clip(p_km[..., 2] / np.maximum(r, 1e-9), -1, 1)))
    lon = np.degrees(np.arctan2(p_km[..., 1], p_km[..., 0]))
    return np.stack([lat, lon, r - EARTH_MEAN_RADIUS_KM], axis=-1)


def _route_answer(model: WebModel, gs: int, gd: int, t_s: np.ndarray, table: dict) -> dict:
    """Per step: hops, RTT and its breakdown, and the hop positions for drawing."""
    net = model.network
    n = net.num_sats
    st = net.stations
    gs_ecef_km = st.ecef_m(net.ellipsoid) * 1e-3
    paths = [
        [[int(x) for x in str(table[c][k]).split("-") if x != ""] for c in ("path_fwd", "path_rev")]
        for k in range(len(t_s))
    ]
    # Only the satellites on the paths are propagated again, for the hop positions.
    on_path = np.unique([x for fr in paths for p in fr for x in p if x < n]).astype(np.int64)
    sats = [net.constellation.satrecs[i] for i in on_path]
    where = np.full(n, -1)
    where[on_path] = np.arange(len(on_path))
    pos = (
        Orbits(sats, dut1_s=net.dut1_s).ecef_m(net.start, t_s, warn=False) * 1e-3
        if len(sats)
        else np.empty((len(t_s), 0, 3))
    )
    lm = LatencyModel()
    steps = []
    for k in range(len(t_s)):
        rtt = float(table["rtt_ms"][k])
        fwd, rev = paths[k]
        if not (math.isfinite(rtt) and fwd and rev):
            steps.append({"t_s": float(t_s[k]), "reachable": False, "rtt_ms": None})
            continue

        def xyz(node: int, k=k) -> np.ndarray:
            return gs_ecef_km[node - n] if node >= n else pos[k, where[node]]

        radio_km = laser_km = 0.0
        hops = 0
        for path in (fwd, rev):
            for a, b in itertools.pairwise(path):
                d = float(np.linalg.norm(xyz(a) - xyz(b)))
                if a >= n or b >= n:
                    radio_km += d
                else:
                    laser_km += d
                    hops += 1
        geo = _geocentric(np.array([xyz(x) for x in fwd]))
        for i, node in enumerate(fwd):  # stations are drawn on the ground
            if node >= n:
                g = node - n
                geo[i] = (st.latitude_deg[g], st.longitude_deg[g], 0.0)
        radio_ms = radio_km * 1e6 / SPEED_OF_LIGHT_M_S
        laser_ms = laser_km * 1e6 / SPEED_OF_LIGHT_M_S
        steps.append(
            {
                "t_s": float(t_s[k]),
                "reachable": True,
                "rtt_ms": rtt,
                "hops": fwd,
                "hops_rev": rev,
                "num_isl_hops": int(table["num_isl_hops"][k]),
                "radio_ms": radio_ms,
                "laser_ms": laser_ms,
                "switching_ms": hops / 2 * lm.laser_hop_ms,
                "path_deg_km": np.round(geo, 4).tolist(),
            }
        )
    return {
        "src": {"gid": gs, "name": st.names[gs]},
        "dst": {"gid": gd, "name": st.names[gd]},
        "great_circle_km": float(
            great_circle_m(
                st.latitude_deg[gs], st.longitude_deg[gs], st.latitude_deg[gd], st.longitude_deg[gd]
            )
        )
        / 1e3,
        "model": {
            "access_overhead_ms": lm.access_overhead_ms,
            "laser_hop_ms": lm.laser_hop_ms,
            "note": (
                "rtt_ms is light time over the routed path (as leosim run writes it) = "
                "radio_ms + laser_ms; leosim.latency adds switching_ms (per laser hop) and "
                "access_overhead_ms for what a user terminal would measure"
            ),
        },
        "steps": steps,
    }


def _gateways(gw) -> list[dict]:
    """Gateway sites; ``hypothetical`` marks a policy's [[gateways.add]] sites."""
    return [
        {
            "name": str(gw.name[i]),
            "latitude_deg": float(gw.latitude_deg[i]),
            "longitude_deg": float(gw.longitude_deg[i]),
            "country": str(gw.country[i]),
            "status": str(gw.status[i]),
            "hypothetical": str(gw.status[i]) == "hypothetical",
        }
        for i in range(len(gw))
    ]


def _pops(pops) -> list[dict]:
    """PoP sites; ``hypothetical`` marks a policy's [[pops.add]] sites (not built in)."""
    from ..ground_segment import builtin_pops

    known = set(np.asarray(builtin_pops().code, dtype=object).astype(str).tolist())
    return [
        {
            "code": str(pops.code[i]),
            "city": str(pops.city[i]),
            "latitude_deg": float(pops.latitude_deg[i]),
            "longitude_deg": float(pops.longitude_deg[i]),
            "country": str(pops.country[i]),
            "hypothetical": str(pops.code[i]) not in known,
        }
        for i in range(len(pops))
    ]


def _zone(z, borders: Borders) -> dict:
    """An exclusion zone as GeoJSON (:func:`leosim.reports.zone_geometry`, as the PNG maps
    draw it; a border buffer approximately)."""
    from ..reports import zone_geometry

    geom, desc = zone_geometry(z, borders)
    geom = shapely.simplify(geom, COUNTRY_SIMPLIFY_DEG / 5)
    return {
        "name": z.name,
        "kind": z.kind,
        "description": desc,
        "geometry": shapely.geometry.mapping(geom),
    }
