"""The FastAPI app of ``leosim serve``: a JSON API (with its OpenAPI spec at /openapi.json)
and the bundled offline page (``static/``).

Every query parameter is validated (types, ranges, finite numbers; a parameter the endpoint
does not take is refused too); a bad request is a 4xx answer with the reason: 422 with
FastAPI's ``detail`` list, also for a request that is well formed but cannot be answered (an
unknown station, a window too large: its ``msg`` is leosim's one-line error).

Long work (positions, routes, coverage, policy evaluations) runs in a worker thread while the
request's connection is watched: when the client goes away (a page that changed its selection
aborts its superseded request), the work is stopped at its next piece
(:class:`~leosim.web.data.Cancelled`) and the model is free for the next request.
Nothing is fetched from anywhere: the page, its scripts (globe.gl with three.js, see
``static/LICENSES.md``) and its data all come from this server.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ..errors import LeosimError
from .data import MAX_ABS_T_S, MIN_COVERAGE_RESOLUTION_DEG, MIN_STEP_S, Cancelled, WebModel

DISCONNECT_POLL_S = 0.05
"""How often a long request checks whether its client is still there."""
CLIENT_CLOSED_REQUEST = 499
"""The status of a request whose client went away (nginx's; nobody reads it)."""

POSITIONS_DOC = """Satellite positions over a time window, as packed binary.

Body: little-endian IEEE-754 float32, C order, shape `(n_times, n_sats, 3)`: Earth-fixed
(ITRF/ECEF, as SGP4 + GMST gives them) x, y, z in **km** of every satellite at every time
`t0_s + k step_s <= t1_s`.  NaN where SGP4 cannot propagate a satellite.  Headers:
`X-Leosim-Shape: n_times,n_sats,3`, `X-Leosim-T0-S`, `X-Leosim-Step-S`, `X-Leosim-Dtype:
float32-le`.  Windows with more than the limits of `/api/info` are refused (422)."""

_T = Annotated[float, Query(ge=-MAX_ABS_T_S, le=MAX_ABS_T_S, allow_inf_nan=False)]
_STEP = Annotated[float, Query(ge=MIN_STEP_S, le=MAX_ABS_T_S, allow_inf_nan=False)]
_STATION = Annotated[str, Query(min_length=1, max_length=200)]
_POLICY = Annotated[int, Query(ge=0, le=1000)]


def _known_parameters_only(request: Request) -> None:
    """Refuse a query parameter the endpoint does not declare (a typo such as ``t0=`` would
    otherwise silently fall back to the default).  The page itself takes display options."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None or not getattr(route, "path", "").startswith("/api/"):
        return
    known = {p.alias for p in dependant.query_params}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no parameters"
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ["query", name],
                    "msg": f"unknown parameter {name!r}; {request.url.path} takes {takes}",
                    "input": request.query_params[name],
                }
                for name in unknown
            ]
        )


async def _cancellable(request: Request, fn, *args):
    """``fn(*args, cancel=event)`` in a worker thread; the event is set when the client
    disconnects, and the answer then is an empty 499 once the work has stopped."""
    cancel = threading.Event()
    work = asyncio.ensure_future(run_in_threadpool(functools.partial(fn, *args, cancel=cancel)))
    while True:
        done, _ = await asyncio.wait({work}, timeout=DISCONNECT_POLL_S)
        if done:
            break
        if await request.is_disconnected():
            cancel.set()
            break
    try:
        return await work
    except Cancelled:
        return Response(status_code=CLIENT_CLOSED_REQUEST)


def _static_dir():
    return resources.files("leosim.web") / "static"


def create_app(model: WebModel) -> FastAPI:
    """The app serving ``model`` (a scenario's network and its policies)."""
    app = FastAPI(
        title="leosim",
        version=_version(),
        docs_url=None,  # FastAPI's Swagger and ReDoc pages load scripts from a CDN
        redoc_url=None,
        description=(
            "Satellites, routes and service policy of one leosim scenario. Times are seconds "
            "after the scenario start (`/api/info`), angles degrees, distances km, RTT ms. "
            "A query parameter an endpoint does not take is refused (422). Long requests "
            "stop when their client disconnects."
        ),
        dependencies=[Depends(_known_parameters_only)],
    )

    @app.exception_handler(LeosimError)
    async def _bad_input(request: Request, exc: LeosimError) -> JSONResponse:
        # The shape of FastAPI's own validation errors, so clients read one format.
        key = getattr(exc, "key", None)
        loc = ["query", key] if key in request.query_params else ["query"]
        detail = [{"type": "value_error", "loc": loc, "msg": str(exc), "input": None}]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(_static_dir() / "index.html"), media_type="text/html")

    @app.get("/api/info")
    def info() -> dict:
        """Scenario name and start, satellites per shell, the default window and the limits."""
        return model.info()

    @app.get(
        "/api/positions",
        response_class=Response,
        responses={200: {"content": {"application/octet-stream": {}}, "description": "float32"}},
        description=POSITIONS_DOC,
    )
    async def positions(
        request: Request, t0_s: _T = 0.0, t1_s: _T = 0.0, step_s: _STEP = 1.0
    ) -> Response:
        got = await _cancellable(request, model.positions_km, t0_s, t1_s, step_s)
        if isinstance(got, Response):
            return got
        t_s, pos = got
        body = pos.astype("<f4", copy=False).tobytes()
        return Response(
            content=body,
            media_type="application/octet-stream",
            headers={
                "X-Leosim-Shape": ",".join(str(x) for x in pos.shape),
                "X-Leosim-T0-S": repr(float(t_s[0])),
                "X-Leosim-Step-S": repr(float(step_s)),
                "X-Leosim-Dtype": "float32-le",
            },
        )

    @app.get("/api/route")
    async def route(
        request: Request,
        src: _STATION,
        dst: _STATION,
        t0_s: _T = 0.0,
        t1_s: _T = 0.0,
        step_s: _STEP = 1.0,
    ) -> dict:
        """Route between two stations (gid or name) at every time of the window: the hops
        (node ids: satellites 0..N-1, station g is N+g), RTT (ms, as `leosim run` writes it,
        null when unreachable), its radio and laser parts, and the path in degrees and km
        above the mean sphere for drawing."""
        return await _cancellable(request, model.route, src, dst, t0_s, t1_s, step_s)

    @app.get("/api/isls")
    def isls() -> dict:
        """The laser pairs (satellite indices 0..N-1, as in `/api/positions`) and each one's
        length limit (km): a laser is usable at a time when both ends have a position and it
        is no longer than its limit (the router's rule)."""
        return model.isls()

    @app.get("/api/coverage")
    async def coverage(
        request: Request,
        t0_s: _T = 0.0,
        t1_s: _T = 0.0,
        step_s: _STEP = 60.0,
        resolution_deg: Annotated[
            float, Query(ge=MIN_COVERAGE_RESOLUTION_DEG, le=30.0, allow_inf_nan=False)
        ] = 5.0,
        min_elevation_deg: Annotated[
            float | None, Query(ge=0.0, lt=90.0, allow_inf_nan=False)
        ] = None,
        policy: Annotated[int, Query(ge=-1, le=1000)] = -1,
    ) -> dict:
        """Coverage over a window on an equal-area grid (`leosim coverage`'s computation):
        per cell its centre (degrees), width (`cell_width_deg`; every cell is
        `cell_height_deg` tall), mean and minimum satellites above `min_elevation_deg`
        (default: the scenario's `[coverage]`), the share of the window with at least one
        (`covered_fraction`) and that share where policy `policy` allows service
        (`served_fraction`, 0 where it does not; -1: no policy).  Windows with more than
        2,000,000 cell-steps are refused (422)."""
        return await _cancellable(
            request, model.coverage, t0_s, t1_s, step_s, resolution_deg, min_elevation_deg, policy
        )

    @app.get("/api/evaluate")
    async def evaluate(
        request: Request,
        policy: _POLICY = 0,
        t0_s: _T = 0.0,
        t1_s: _T = 0.0,
        step_s: _STEP = 60.0,
    ) -> dict:
        """Policy `policy` evaluated over a window for the scenario's user terminals
        (`[terminals]`; by default 2,000 sampled by population): per country the columns of
        `leosim policy evaluate`'s countries.csv (served share, median RTT to the PoP and to
        the gateway in ms, where traffic lands), null where there is no value."""
        return await _cancellable(request, model.evaluate, policy, t0_s, t1_s, step_s)

    @app.get("/api/compare")
    async def compare(
        request: Request,
        a: _POLICY = 0,
        b: _POLICY = 1,
        t0_s: _T = 0.0,
        t1_s: _T = 0.0,
        step_s: _STEP = 60.0,
    ) -> dict:
        """Policies `a` and `b` evaluated over a window for the scenario's user terminals:
        per country B − A, the columns of `leosim policy compare`'s compare.csv
        (`served_share_a`, `_b`, `_change`, the same for `median_rtt_pop_ms` and
        `median_rtt_gateway_ms`, landing), null where there is no value."""
        return await _cancellable(request, model.compare, a, b, t0_s, t1_s, step_s)

    @app.get("/api/policy")
    def policy(index: Annotated[int, Query(ge=-1, le=1000)] = 0) -> dict:
        """Activation state of every country (ADM0_A3 code -> active / not_activated /
        sanctioned_but_active), exclusion zones (GeoJSON), gateways and PoPs (`hypothetical`:
        added by the policy) under policy `index` (-1: none)."""
        return model.policy(index)

    @app.get("/api/stations")
    def stations() -> list[dict]:
        """Ground stations of the scenario: gid, name, latitude and longitude (degrees)."""
        return model.stations()

    @app.get("/api/countries")
    def countries() -> dict:
        """Country outlines (GeoJSON FeatureCollection, simplified), keyed by ADM0_A3 code."""
        return model.countries_geojson

    app.mount("/static", StaticFiles(directory=str(_static_dir())), name="static")
    return app


def _version() -> str:
    from .. import __version__

    return __version__
