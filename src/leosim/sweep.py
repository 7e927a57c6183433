"""Sweeps: a grid of scenarios × policies × parameter values, one summary row per case.

A sweep file names scenario files, optional policy files and a ``[grid]`` of scenario keys
with the values to try (their product)::

    name = "elevation and window"
    scenarios = ["gen1.toml", "flying.toml"]       # relative to this file
    policies = ["none.toml", "strict.toml"]        # optional: each case is a policy evaluation
    [grid]
    "links.gsl_min_elevation_deg" = [25, 40]       # any scenario key, dotted
    "time.duration_s" = [600, 3600]
    [execution]
    executor = "dask"                              # cases run in parallel on the executor
    workers = 2

Without policies a case routes the scenario's pairs (as ``leosim run``) and its row holds the
RTT over all pairs and steps, unreachable steps and path changes; with policies it evaluates
the policy for the scenario's terminals (as ``leosim policy evaluate``) and its row holds the
share of terminals served and their median round trip to the PoP.  Cases are independent
tasks (:mod:`leosim.execution`), each computed serially where it runs; the rows come back in
case order, so ``sweep.csv`` is the same on every executor.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, ValidationError, model_validator

from ._config import _pydantic_to_input_error, _Strict
from ._io import read_toml
from .errors import InputError

GridValue = bool | int | float | str


class SweepExecution(_Strict):
    """Where the cases run (see :mod:`leosim.execution`)."""

    executor: Literal["serial", "processes", "dask", "ray"] | None = None
    """"serial", "processes", "dask" or "ray"; default: "processes" with workers > 1."""
    address: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    """An existing Dask or Ray cluster; default: a local one."""
    workers: Annotated[int, Field(ge=1, le=256)] = 1
    """Local workers (processes, Dask LocalCluster, local Ray CPUs)."""

    @model_validator(mode="after")
    def _address_fits(self) -> SweepExecution:
        from .execution import address_problem

        problem = address_problem(self.executor, self.address)
        if problem is not None:
            raise ValueError(problem)
        return self


class SweepSpec(_Strict):
    """A sweep file."""

    name: Annotated[str, Field(max_length=200)] = "sweep"
    """Name shown in outputs."""
    scenarios: Annotated[
        list[Annotated[str, Field(min_length=1)]], Field(min_length=1, max_length=1000)
    ]
    """Scenario files, relative to the sweep file."""
    policies: Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=1000)] = Field(
        default_factory=list
    )
    """Policy files; with them every case is a policy evaluation."""
    grid: dict[str, Annotated[list[GridValue], Field(min_length=1, max_length=1000)]] = Field(
        default_factory=dict
    )
    """Dotted scenario keys and the values to try, e.g. "links.gsl_min_elevation_deg" = [25, 40]."""
    execution: SweepExecution = SweepExecution()
    """[execution]: where the cases run."""


MAX_CASES = 100_000


@dataclass(frozen=True)
class Case:
    """One point of the grid."""

    index: int
    scenario: str
    policy: str | None
    overrides: tuple[tuple[str, GridValue], ...]


def load_sweep(path: str | Path) -> tuple[SweepSpec, list[Case], Path]:
    """Read a sweep file; its spec, its cases (validated up front) and its folder."""
    p = Path(path)
    data = read_toml(p, what="sweep file")
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:
        raise _pydantic_to_input_error(exc, str(p), SweepSpec) from None
    base = p.parent
    keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[k] for k in keys)))
    n = len(spec.scenarios) * max(1, len(spec.policies)) * len(combos)
    if n > MAX_CASES:
        raise InputError(f"{n:,} cases is more than {MAX_CASES:,}", source=p, key="grid")
    cases = []
    for s, pol, combo in itertools.product(spec.scenarios, spec.policies or [None], combos):
        cases.append(
            Case(
                len(cases),
                str(base / s),
                None if pol is None else str(base / pol),
                tuple(zip(keys, combo, strict=True)),
            )
        )
    for c in cases:  # every case's scenario is valid before any work
        case_scenario(c)
    return spec, cases, base


def _set(data: dict, key: str, value: GridValue, source: str) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"{part!r} is not a table", source=source, key=f"grid.{key}")
    node[parts[-1]] = value


def case_scenario(case: Case):
    """The validated :class:`~leosim.scenario.Scenario` of a case (its overrides applied)."""
    from .scenario import parse_scenario

    p = Path(case.scenario)
    data = read_toml(p, what="scenario file")
    for k, v in case.overrides:
        _set(data, k, v, str(p))
    where = (
        str(p)
        if not case.overrides
        else f"{p} (case {case.index}: "
        + ", ".join(f"{k} = {v!r}" for k, v in case.overrides)
        + ")"
    )
    return parse_scenario(data, source=where, base_dir=str(p.parent))


def run_case(_shared, case: Case) -> tuple[dict, dict[str, np.ndarray]]:
    """Compute one case anywhere (an executor task): its summary row and its detail table."""
    sc = case_scenario(case)
    if case.policy is None:
        row, detail = _routing_case(sc)
    else:
        row, detail = _policy_case(sc, case.policy)
    head = {
        "case": case.index,
        "scenario": Path(case.scenario).name,
        "policy": Path(case.policy).name if case.policy else "",
    }
    head.update({k: v for k, v in case.overrides})
    head.update(row)
    return head, detail


def _routing_case(sc) -> tuple[dict, dict[str, np.ndarray]]:
    from .reports import pair_summary
    from .simulate import build_network, run_pairs

    net = build_network(sc)
    if not len(net.pairs):
        raise InputError(
            "a routing case needs pairs (or give policies)", source=sc.source, key="routing.pairs"
        )
    t_s = sc.time.offsets_s()
    cols = run_pairs(net, t_s).columns
    paths = cols["path_fwd"].reshape(-1, len(net.pairs))
    changes = (paths[1:] != paths[:-1]).sum(axis=0)
    change_map = {(int(a), int(b)): int(c) for (a, b), c in zip(net.pairs, changes, strict=True)}
    names = list(net.stations.names)
    summary = pair_summary(cols, names, path_changes=change_map)
    rtt = cols["rtt_ms"][np.isfinite(cols["rtt_ms"])]
    row = {
        "satellites": net.num_sats,
        "pairs": len(net.pairs),
        "steps": len(t_s),
        "min_rtt_ms": float(rtt.min()) if len(rtt) else math.nan,
        "median_rtt_ms": float(np.median(rtt)) if len(rtt) else math.nan,
        "max_rtt_ms": float(rtt.max()) if len(rtt) else math.nan,
        "unreachable_steps": int((~np.isfinite(cols["rtt_ms"])).sum()),
        "path_changes": int(changes.sum()),
    }
    return row, summary


def _policy_case(sc, policy_path: str) -> tuple[dict, dict[str, np.ndarray]]:
    from .borders import Borders
    from .ground_segment import scenario_terminals
    from .policy import load_policy
    from .service import evaluate, weighted_quantile
    from .simulate import build_network

    borders = Borders.default()
    pol = load_policy(policy_path, borders=borders)
    terms = scenario_terminals(sc, borders)
    net = build_network(sc)
    t_s = sc.time.offsets_s()
    res = evaluate(net, pol, terms, t_s, borders=borders, latency=sc.latency.model())
    served = res.served_fraction
    rtt = res.pop_paths.rtt_pop_ms if res.pop_paths is not None else res.rtt_ms
    finite = np.isfinite(rtt)
    # Weighted by the people each terminal stands for, as countries.csv is.
    w = np.asarray(terms.weight, dtype=float)
    row = {
        "satellites": net.num_sats,
        "terminals": len(terms),
        "steps": len(t_s),
        "served_share": float(np.average(served, weights=w)) if w.sum() > 0 else math.nan,
        "never_served": int((served == 0).sum()),
        "median_rtt_pop_ms": (
            weighted_quantile(rtt[finite], np.broadcast_to(w, rtt.shape)[finite], 0.5)
            if finite.any()
            else math.nan
        ),
    }
    detail = {
        "terminal_id": np.asarray(terms.terminal_id, dtype=object),
        "latitude_deg": np.asarray(terms.latitude_deg),
        "longitude_deg": np.asarray(terms.longitude_deg),
        "country": np.asarray(terms.country, dtype=object),
        "served_fraction": served,
    }
    return row, detail


def rows_table(rows: list[dict]) -> dict[str, np.ndarray]:
    """The rows as columns (keys in first-seen order; missing values empty)."""
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    out = {}
    for k in keys:
        vals = [r.get(k) for r in rows]
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals):
            out[k] = np.asarray(
                vals, dtype=np.float64 if any(isinstance(v, float) for v in vals) else np.int64
            )
        else:
            out[k] = np.asarray(["" if v is None else str(v) for v in vals], dtype=object)
    return out


def run_sweep(
    cases: list[Case],
    *,
    executor: str | None = None,
    address: str | None = None,
    workers: int = 1,
    on_case: Callable[[dict], None] | None = None,
) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """Every case on the executor, in case order (``on_case(row)`` as each one ends)."""
    from .execution import make_executor, resolve_executor

    name, address = resolve_executor(executor, address, workers)
    ex = make_executor(name, workers=workers, address=address)
    results: list = [None] * len(cases)
    with ex:
        for i, res in ex.run(run_case, None, cases):
            results[i] = res
            if on_case is not None:
                on_case(res[0])
    return results
