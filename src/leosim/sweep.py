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
share of terminals served and their median round trip to the PoP.  A routing case is one task
(:mod:`leosim.execution`); a policy case is computed in chunks of its time window as ``leosim
policy evaluate`` is (:mod:`leosim.chunked_policy`), the chunks of all cases on one executor.
Finished cases and chunks are kept (:func:`sweep_store`) so a killed sweep resumes; the rows
come back in case order, so ``sweep.csv`` is the same on every executor and chunk length.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import shutil
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
    chunk_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    """Chunk length of the policy cases, seconds (default: each scenario's ``[execution]``)."""

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
    if spec.policies:  # and every policy
        from .borders import Borders
        from .policy import load_policy

        borders = Borders.default()
        for pol in spec.policies:
            load_policy(base / pol, borders=borders)
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


def _head(case: Case) -> dict:
    """The columns that name a case: its index, scenario, policy and grid values."""
    head = {
        "case": case.index,
        "scenario": Path(case.scenario).name,
        "policy": Path(case.policy).name if case.policy else "",
    }
    head.update({k: v for k, v in case.overrides})
    return head


def _routing_case(sc, net) -> tuple[dict, dict[str, np.ndarray]]:
    from .reports import pair_summary
    from .simulate import run_pairs

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


def _policy_row(store, chunks, terms) -> tuple[dict, dict[str, np.ndarray]]:
    """A policy case's row and detail from its chunks in ``store`` (:func:`_chunk_tables`):
    the population-weighted share of terminal-steps served, the terminals never served and
    the weighted median RTT to the PoP over all terminals x steps, computed exactly by passes
    over the chunks (:func:`leosim.chunked_policy.streamed_weighted_quantile`)."""
    from .chunked_policy import streamed_weighted_quantile

    n_t, n_term = len(chunks.t_s), len(terms)
    served_steps = np.zeros(n_term, dtype=np.int64)
    for j in range(len(chunks.plan)):
        served_steps += store.read(j, "served").column("served_steps").to_numpy()
    # As ServiceResult.served_fraction: the mean of a bool column is its count over n_t.
    served = served_steps / n_t if n_t else np.zeros(n_term)
    # Weighted by the people each terminal stands for, as countries.csv is.
    w = np.asarray(terms.weight, dtype=float)

    def blocks():
        for j, (a, b) in enumerate(chunks.plan):
            rtt = store.read(j, "rtt").column("rtt_pop_ms").to_numpy()
            yield rtt, np.broadcast_to(w, (b - a, n_term)).reshape(-1)

    row = {
        "satellites": chunks.net.num_sats,
        "terminals": n_term,
        "steps": n_t,
        "served_share": float(np.average(served, weights=w)) if w.sum() > 0 else math.nan,
        "never_served": int((served == 0).sum()),
        "median_rtt_pop_ms": streamed_weighted_quantile(blocks, 0.5),
    }
    detail = {
        "terminal_id": np.asarray(terms.terminal_id, dtype=object),
        "latitude_deg": np.asarray(terms.latitude_deg),
        "longitude_deg": np.asarray(terms.longitude_deg),
        "country": np.asarray(terms.country, dtype=object),
        "served_fraction": served,
    }
    return row, detail


def _chunk_tables(out) -> dict:
    """What a policy case keeps of a chunk's :class:`~leosim.latency.StepArrays`: the RTT to
    the PoP per step and terminal (time-major) and the steps each terminal was served."""
    import pyarrow as pa

    served = (out.gateway >= 0).sum(axis=0).astype(np.int64)
    return {
        "rtt": pa.table({"rtt_pop_ms": out.rtt_pop_ms.reshape(-1)}),
        "served": pa.table({"served_steps": served}),
    }


def _task(shared, item):
    """One task of a sweep (:meth:`leosim.execution.Executor.run_tasks`): a routing case
    (``shared`` its network) or a chunk of a policy case (``shared`` ``(net, setups)``)."""
    kind, x = item
    if kind == "route":
        return _routing_case(case_scenario(x), shared)
    from .service import evaluate_chunk

    return evaluate_chunk(shared, x)


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


@dataclass
class _Job:
    """A case prepared in the driver: its network, for a policy case its chunks
    (:class:`~leosim.chunked_policy.PolicyChunks`) and terminals, and its fingerprint."""

    case: Case
    net: object
    fingerprint: str
    chunks: object = None
    terms: object = None


def _prepare(case: Case, chunk_s: float | None) -> _Job:
    from .chunked_policy import plan_evaluation
    from .execution import run_fingerprint
    from .simulate import build_network

    sc = case_scenario(case)
    net = build_network(sc)
    text = [Path(case.scenario).read_bytes(), repr(case.overrides)]
    if case.policy is None:
        fp = run_fingerprint("sweep routing", net, sc.time.offsets_s(), [], *text)
        return _Job(case, net, fp)
    from .borders import Borders
    from .ground_segment import scenario_terminals
    from .policy import load_policy

    borders = Borders.default()
    pol = load_policy(case.policy, borders=borders)
    terms = scenario_terminals(sc, borders)
    texts = [*text, Path(case.policy).read_bytes()]
    chunks = plan_evaluation(
        sc, net, [pol], terms, borders, texts=texts, command="sweep policy", chunk_s=chunk_s
    )
    return _Job(case, net, chunks.fingerprint, chunks, terms)


def _check_memory(job: _Job, workers: int) -> None:
    """Refuse (InputError) a policy case whose chunks in flight and median sort cannot fit."""
    from ._limits import check_memory
    from .chunked_policy import (
        QUANTILE_VALUE_BYTES,
        QUANTILE_VALUES,
        STEP_RESULT_BYTES,
        in_flight_results,
    )

    n = in_flight_results(job.terms, job.chunks.steps, workers)
    check_memory(
        STEP_RESULT_BYTES * float(n) + QUANTILE_VALUE_BYTES * float(QUANTILE_VALUES),
        f"case {job.case.index}: {len(job.terms):,} terminals, {len(job.chunks.t_s):,} time steps",
        source=job.case.scenario,
        key="terminals",
    )


def sweep_fingerprint(cases: list[Case], chunk_s: float | None = None) -> str:
    """What a sweep's finished cases depend on: its cases (files, their contents, grid
    values) and ``chunk_s`` (see :func:`leosim.execution.fingerprint`)."""
    from .execution import fingerprint

    texts: dict[str, bytes] = {}

    def text(p: str | None) -> bytes:
        if p is None:
            return b""
        if p not in texts:
            texts[p] = Path(p).read_bytes()
        return texts[p]

    return fingerprint(
        "sweep",
        chunk_s,
        [
            (c.index, c.scenario, text(c.scenario), c.policy, text(c.policy), c.overrides)
            for c in cases
        ],
    )


@contextlib.contextmanager
def sweep_store(out: Path, cases: list[Case], *, chunk_s: float | None = None, resume: bool):
    """The resume folder of sweep output folder ``out`` for the block (a
    :class:`~leosim.chunkstore.ChunkStore` whose chunk ``k`` is case ``k``'s row and detail,
    with a ``case=K/`` store of the chunks of each policy case in progress): kept for
    ``--resume`` if the block fails, removed when it ends (open the output folder inside)."""
    from .execution import chunk_store

    plan = [(k, k + 1) for k in range(len(cases))]
    with chunk_store(out, sweep_fingerprint(cases, chunk_s), plan, resume=resume) as store:
        yield store


class _SweepRun:
    """The driver's side of :func:`sweep_cases`: the tasks of every case not yet finished,
    and each case finished as its last task ends."""

    def __init__(self, cases, store, chunk_s, workers: int, on_case) -> None:
        self.cases, self.store, self.chunk_s = cases, store, chunk_s
        self.workers, self.on_case = workers, on_case
        self.rows: list = [None] * len(cases)
        self.owner: list[tuple[int, int]] = []  # task -> (case position, chunk or -1)
        self.open: dict[int, tuple[_Job, object, list[int]]] = {}  # policy cases in flight
        self.route_fp: dict[int, str] = {}  # routing cases in flight

    def tasks(self):
        """``(shared, item)`` of every task, case after case (prepared as room frees)."""
        from .chunkstore import ChunkStore

        for k, case in enumerate(self.cases):
            job = _prepare(case, self.chunk_s)
            sub = self.store.root / f"case={k}"
            if k in self.store.done:
                self._reuse(k, job, sub)
                continue
            if job.chunks is None:
                self.owner.append((k, -1))
                self.route_fp[k] = job.fingerprint
                yield job.net, ("route", case)
                continue
            _check_memory(job, self.workers)
            # The sweep's own store decides --resume (without it, case=K/ was cleared).
            st = ChunkStore.open(
                self.store.final, job.fingerprint, job.chunks.plan, resume=True, root=sub
            )
            todo = st.todo()
            self.open[k] = (job, st, [len(todo)])
            if not todo:
                self._finish_policy(k)
                continue
            shared = job.chunks.shared  # one object: sent to the workers once
            for j in todo:
                self.owner.append((k, j))
                yield shared, ("policy", job.chunks.items[j])

    def done(self, i: int, res) -> None:
        """Task ``i`` has finished with ``res``."""
        k, j = self.owner[i]
        if j < 0:
            row, detail = res
            self._finish(k, self.cases[k], row, detail, self.route_fp.pop(k))
            return
        _, st, left = self.open[k]
        st.write(j, _chunk_tables(res))
        left[0] -= 1
        if left[0] == 0:
            self._finish_policy(k)

    def release(self) -> None:
        """Unlock the stores of the policy cases in progress (kept for ``--resume``)."""
        for _, st, _ in self.open.values():
            st.release()

    def _finish_policy(self, k: int) -> None:
        job, st, _ = self.open[k]
        row, detail = _policy_row(st, job.chunks, job.terms)
        self._finish(k, job.case, row, detail, job.fingerprint)
        del self.open[k]
        st.remove()

    def _finish(self, k: int, case: Case, row: dict, detail: dict, fp: str) -> None:
        import pyarrow as pa

        from .outputs import to_arrow

        head = _head(case)
        head.update(row)
        self.store.write(
            k,
            {
                "row": pa.Table.from_pylist([head]),
                "detail": to_arrow(detail),
                "case": pa.table({"fingerprint": [fp]}),
            },
        )
        self._reuse(k, None, None)

    def _reuse(self, k: int, job: _Job | None, sub: Path | None) -> None:
        """Case ``k`` is finished in the store: check it is of ``job``'s inputs, take its row."""
        if job is not None:
            kept = self.store.read(k, "case").column("fingerprint")[0].as_py()
            if kept != job.fingerprint:
                raise InputError(
                    f"case {job.case.index} of the interrupted sweep kept for --resume was "
                    "computed from other inputs (a scenario, policy or data file changed); run "
                    "without --resume to start over",
                    source=self.store.final,
                )
            if sub is not None and os.path.lexists(sub):  # killed before its removal
                shutil.rmtree(sub, ignore_errors=True)
        self.rows[k] = self.store.read(k, "row").to_pylist()[0]
        if self.on_case is not None:
            self.on_case(self.rows[k])


def sweep_cases(
    cases: list[Case],
    store,
    *,
    executor: str | None = None,
    address: str | None = None,
    workers: int = 1,
    chunk_s: float | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Compute every case not yet finished in ``store`` (:func:`sweep_store`) on one executor
    and return the rows in case order (``on_case(row)`` as each case is finished, resumed
    ones included); each case's detail table stays in the store (:func:`case_detail`).

    A routing case is one task; a policy case is split into chunks of ``chunk_s`` seconds
    (default its scenario's ``[execution] chunk_s``, see
    :func:`leosim.chunked_policy.plan_evaluation`), and the chunks of every case go to the
    same executor, drawn as workers free up, so the workers stay busy across cases.  A killed
    sweep resumed with the same store keeps its finished cases and chunks.  The rows are the
    same on every executor and for every ``chunk_s``.
    """
    from .execution import Executor, make_executor, resolve_executor

    name, address = resolve_executor(executor, address, workers)
    ex = make_executor(name, workers=workers, address=address)
    todo = store.todo()
    if not todo:
        ex = Executor()  # nothing to compute: no workers to start
    elif ex.address is None and ex.name != "serial":
        ex.workers = max(1, min(ex.workers, _task_count(cases, todo, chunk_s)))
    local = ex.address is None and ex.name != "serial"
    run = _SweepRun(cases, store, chunk_s, ex.workers if local else 1, on_case)
    try:
        with ex:
            for i, res in ex.run_tasks(_task, run.tasks()):
                run.done(i, res)
    except BaseException:
        run.release()
        raise
    return run.rows


def _task_count(cases: list[Case], todo: list[int], chunk_s: float | None) -> int:
    """Most tasks the cases ``todo`` can make (one per routing case, chunks per policy case)."""
    from .chunked_policy import chunk_steps

    return sum(
        1 if cases[k].policy is None else len(chunk_steps(case_scenario(cases[k]), chunk_s))
        for k in todo
    )


def case_detail(store, k: int) -> dict[str, np.ndarray]:
    """Case ``k``'s detail table (``case-K.csv``) from a sweep's store, as columns."""
    tab = store.read(k, "detail")
    return {c: tab.column(c).to_numpy(zero_copy_only=False) for c in tab.column_names}


def run_sweep(
    cases: list[Case],
    *,
    executor: str | None = None,
    address: str | None = None,
    workers: int = 1,
    chunk_s: float | None = None,
    on_case: Callable[[dict], None] | None = None,
) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """Every case on the executor (:func:`sweep_cases`, its chunks in a temporary folder):
    ``(row, detail)`` in case order."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="leosim-sweep-") as tmp:
        with sweep_store(Path(tmp) / "sweep", cases, chunk_s=chunk_s, resume=False) as store:
            rows = sweep_cases(
                cases,
                store,
                executor=executor,
                address=address,
                workers=workers,
                chunk_s=chunk_s,
                on_case=on_case,
            )
            return [(r, case_detail(store, k)) for k, r in enumerate(rows)]
