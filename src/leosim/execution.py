"""Where the chunks of a long run are computed: in this process, in local worker processes, on a
Dask cluster or on Ray, with the same results whichever is chosen.

A long command splits its time window into chunks (:func:`plan_chunks`) whose boundaries
depend only on the time grid and ``chunk_s``, never on the executor or the number of workers,
so every executor computes exactly the same chunks (the routing warm-starts within a chunk
only, see :class:`leosim.routing.Router`) and the outputs are byte-identical.

An :class:`Executor` runs ``fn(shared, item)`` for each item and yields ``(index, result)`` as
each finishes, with at most :attr:`Executor.in_flight` items outstanding (memory stays bounded
by the chunk size whatever the horizon); :func:`gather_in_order` restores the items' order.
``shared`` (the network) is sent to each worker once where the engine allows (Dask scatter,
Ray object store).

``serial``
    in this process.
``processes``
    local worker processes that die with this one (:mod:`leosim._workers`).
``dask``
    a ``distributed`` scheduler at ``address`` (``tcp://host:8786``), or without one a
    :class:`distributed.LocalCluster` of ``workers`` processes, closed when the run ends
    (Ctrl-C and SIGTERM included).  Needs the ``dask`` extra.
``ray``
    a Ray cluster at ``address`` (``ray://host:10001``, ``auto``), or a local Ray instance with
    ``workers`` CPUs, shut down when the run ends; a Ray this process has already initialised
    is used as it is and left running.  Needs the ``ray`` extra.

>>> import numpy as np
>>> [(int(a), int(b)) for a, b in plan_chunks(np.arange(10) * 0.5, chunk_s=2.0)]
[(0, 4), (4, 8), (8, 10)]
>>> with make_executor("serial") as ex:
...     gather_in_order(ex.run(pow, 2, [3, 4, 5]), 3)
[8, 16, 32]
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import math
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .errors import InputError, LeosimError

EXECUTORS = ("serial", "processes", "dask", "ray")
"""The executors by name."""

EXTRAS = {"dask": ("dask", "distributed"), "ray": ("ray", "ray")}
"""Executor -> (pip extra, module that must import)."""

MAX_CHUNK_STEPS = 200
"""Most time steps of a default chunk (as the local worker processes always had)."""

DEFAULT_MIN_CHUNKS = 4
"""A default plan splits a window into at least this many chunks where it has the steps (as a
serial ``leosim run`` always did, so its outputs are unchanged)."""


# ---------------------------------------------------------------------------- chunk plan


def plan_chunks(
    t_s: Sequence[float] | np.ndarray,
    *,
    chunk_s: float | None = None,
    max_steps: int = MAX_CHUNK_STEPS,
) -> list[tuple[int, int]]:
    """Split time steps ``t_s`` (seconds, increasing) into contiguous chunks ``[start, stop)``.

    With ``chunk_s``, chunk ``k`` holds the steps with ``k * chunk_s <= t - t[0] <
    (k + 1) * chunk_s`` (empty chunks of an irregular ``times_s`` list are dropped); without
    it, ``min(max_steps, ceil(n / 4))`` steps each.  Independent of executor and workers.
    """
    t = np.asarray(t_s, dtype=np.float64)
    n = len(t)
    if n == 0:
        return []
    if chunk_s is None:
        size = max(1, min(max_steps, math.ceil(n / DEFAULT_MIN_CHUNKS)))
        return [(i, min(i + size, n)) for i in range(0, n, size)]
    if not (chunk_s > 0 and math.isfinite(chunk_s)):
        raise InputError(f"must be a positive number of seconds, got {chunk_s!r}", key="chunk_s")
    # The relative slack keeps k * step_s / chunk_s = 2.9999999999999996 in chunk 3.
    k = np.floor((t - t[0]) / chunk_s * (1 + 1e-12) + 1e-9).astype(np.int64)
    cuts = np.flatnonzero(np.diff(k)) + 1
    edges = [0, *cuts.tolist(), n]
    return [(int(a), int(b)) for a, b in itertools.pairwise(edges)]


# ---------------------------------------------------------------------------- executors


def missing_extra(executor: str) -> InputError:
    """The one-line error for an executor whose optional dependency is not installed."""
    extra = EXTRAS[executor][0]
    return InputError(
        f"the {executor} executor needs the {extra!r} extra: pip install 'leosim[{extra}]'"
    )


def _import_extra(executor: str, module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise missing_extra(executor) from None


_ADDRESS_RE = {"dask": re.compile(r"^[a-z][a-z0-9+]*://\S+$"), "ray": re.compile(r"^\S+$")}


def address_problem(executor: str | None, address: str | None) -> str | None:
    """What is wrong with ``address`` for ``executor`` (only dask and ray take one), or None."""
    if address is None:
        return None
    if executor is None:
        return 'an address needs executor = "dask" or "ray"'
    if executor not in _ADDRESS_RE:
        return f"an address is for the dask or ray executors, not {executor!r}"
    if not _ADDRESS_RE[executor].match(address):
        want = (
            "protocol://host:port, e.g. tcp://host:8786"
            if executor == "dask"
            else "ray://host:10001 or auto"
        )
        return f"expected {want} for the {executor} executor, got {address!r}"
    return None


def _call(fn: Callable, shared: Any, item: Any) -> Any:
    """Run one task where the engine put it.  Every engine gives a task one CPU (a process
    of the pool, a Dask worker thread, a Ray task of ``num_cpus=1``), so the numba kernels
    get one thread: with the default of one per core, two tasks on two cores ran four
    threads and each chunk took 2.5x as long."""
    if "numba" in sys.modules:
        sys.modules["numba"].set_num_threads(1)
    return fn(shared, item)


@contextlib.contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Restore SIGINT/SIGTERM/SIGHUP handlers that an engine replaces while starting (Ray's
    driver installs its own), so Ctrl-C and kill keep ending the run through leosim's path."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    main = threading.current_thread() is threading.main_thread()
    saved = {n: signal.getsignal(getattr(signal, n)) for n in names if main and hasattr(signal, n)}
    try:
        yield
    finally:
        for n, h in saved.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(getattr(signal, n), h)


class Executor:
    """Runs ``fn(shared, item)`` over items somewhere; a context manager that owns its workers.

    Subclasses implement :meth:`start`, :meth:`close` and :meth:`_submit`/:meth:`_wait`.
    """

    name = "serial"

    def __init__(self, workers: int = 1, address: str | None = None) -> None:
        self.workers = max(1, int(workers))
        self.address = address

    @property
    def in_flight(self) -> int:
        """Items outstanding at once: two per worker (one running, one queued)."""
        return 2 * self.workers

    def start(self) -> None:
        """Start or connect to the workers."""

    def close(self, *, abort: bool = False) -> None:
        """Stop the workers this executor started (at once when ``abort``)."""

    def __enter__(self) -> Executor:
        with _keep_signal_handlers():
            try:
                self.start()
            except BaseException:
                self.close(abort=True)
                raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(abort=exc_type is not None)

    def run(self, fn: Callable, shared: Any, items: Iterable[Any]) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(shared, item))`` for every item as each finishes."""
        return self.run_tasks(fn, ((shared, item) for item in items))

    def run_tasks(
        self, fn: Callable, tasks: Iterable[tuple[Any, Any]]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(index, fn(shared, item))`` for every ``(shared, item)`` of ``tasks`` as each
        finishes.  Tasks are drawn only as room frees (:attr:`in_flight`), so a generator can
        prepare the next ``shared`` (another case's network) while the workers compute; each
        ``shared`` object is sent to the workers once (by identity, where the engine keeps
        objects: Dask, Ray) and released when its last task has finished."""
        for i, (shared, item) in enumerate(tasks):
            yield i, fn(shared, item)


class ProcessExecutor(Executor):
    """Local worker processes that die with this process (:func:`leosim._workers.worker_pool`)."""

    name = "processes"

    def start(self) -> None:
        from ._workers import worker_pool

        self._cm = worker_pool(self.workers)
        self._pool = self._cm.__enter__()

    def close(self, *, abort: bool = False) -> None:
        cm = getattr(self, "_cm", None)
        if cm is None:
            return
        self._cm = None
        if abort:
            with contextlib.suppress(KeyboardInterrupt):
                cm.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
        else:
            cm.__exit__(None, None, None)

    def run_tasks(self, fn, tasks):
        from concurrent.futures import FIRST_COMPLETED, wait

        pending: dict[Any, int] = {}
        for i, (shared, item) in enumerate(tasks):
            pending[self._pool.submit(_call, fn, shared, item)] = i
            while len(pending) >= self.in_flight:
                yield from self._drain(pending, wait, FIRST_COMPLETED)
        while pending:
            yield from self._drain(pending, wait, FIRST_COMPLETED)

    @staticmethod
    def _drain(pending, wait, first):
        done, _ = wait(list(pending), return_when=first)
        for f in sorted(done, key=pending.get):
            yield pending.pop(f), f.result()


class _Sent:
    """The shared objects of the tasks in flight, each sent to the workers once (``put``: Dask
    scatter, Ray put) and kept, with its handle, until its last task has finished."""

    def __init__(self, put: Callable[[Any], Any]) -> None:
        self._put = put
        self._held: dict[int, list] = {}  # id -> [object, handle, tasks in flight]

    def take(self, shared: Any) -> tuple[int, Any]:
        """``(key, handle)`` of ``shared`` for one more task."""
        key = id(shared)
        if key not in self._held:
            self._held[key] = [shared, self._put(shared), 0]
        self._held[key][2] += 1
        return key, self._held[key][1]

    def drop(self, key: int) -> None:
        """One task of ``key`` has finished; its object is released after the last."""
        entry = self._held[key]
        entry[2] -= 1
        if entry[2] == 0:
            del self._held[key]


def _dask_clusters():
    """distributed's registry of live clusters (closed again by its exit hook)."""
    try:
        from distributed.deploy.spec import SpecCluster
    except ImportError:
        return set()
    return getattr(SpecCluster, "_instances", set())


class DaskExecutor(Executor):
    """A Dask ``distributed`` cluster: the scheduler at ``address``, or a LocalCluster."""

    name = "dask"

    def start(self) -> None:
        distributed = _import_extra("dask", "distributed")
        self._cluster = None
        self._before = set(_dask_clusters())
        if self.address is None:
            try:
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    # Its own errors reach us through the futures; on an interrupt its
                    # workers and scheduler would log tracebacks about each other.
                    silence_logs=logging.CRITICAL,
                )
            except (OSError, RuntimeError, TimeoutError) as exc:
                raise LeosimError(
                    f"cannot start a local Dask cluster of {self.workers} workers: {exc}"
                ) from None
            self._client = distributed.Client(self._cluster)
        else:
            try:
                self._client = distributed.Client(self.address, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise InputError(
                    f"cannot reach the Dask scheduler at {self.address}: {exc}"
                ) from None
            n = len(self._client.scheduler_info().get("workers", {}))
            self.workers = max(1, n)

    def close(self, *, abort: bool = False) -> None:
        client, cluster = getattr(self, "_client", None), getattr(self, "_cluster", None)
        self._client = self._cluster = None
        timeout = 2 if abort else 10
        if abort:  # lost connections and cut-short start-ups while stopping are not news
            for name in ("distributed", "asyncio", "tornado"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        if client is not None:
            with contextlib.suppress(Exception):
                client.close(timeout=timeout)
        # Also a cluster whose start was interrupted (it exists, but was never returned).
        ours = [c for c in _dask_clusters() if c not in getattr(self, "_before", set())]
        for c in {id(c): c for c in [*([cluster] if cluster is not None else []), *ours]}.values():
            with contextlib.suppress(Exception):
                c.close(timeout=timeout)
            # Closed or not, distributed's exit hook must not try again (and print a
            # traceback after "interrupted"): its workers die with this process anyway.
            with contextlib.suppress(Exception):
                _dask_clusters().discard(c)

    def run_tasks(self, fn, tasks):
        from distributed import wait

        client = self._client
        sent = _Sent(lambda x: client.scatter(x, broadcast=True, hash=False))
        pending: dict[Any, tuple[int, int]] = {}
        try:
            for i, (shared, item) in enumerate(tasks):
                key, shared_f = sent.take(shared)
                pending[client.submit(_call, fn, shared_f, item, pure=False)] = (i, key)
                while len(pending) >= self.in_flight:
                    yield from self._drain(pending, sent, wait)
            while pending:
                yield from self._drain(pending, sent, wait)
        finally:
            for f in pending:
                f.cancel()

    @staticmethod
    def _drain(pending, sent, wait):
        done = wait(list(pending), return_when="FIRST_COMPLETED").done
        for f in sorted(done, key=pending.get):
            i, key = pending.pop(f)
            res = f.result()
            sent.drop(key)
            yield i, res


_RAY_WATCHDOG = r"""
import os, re, signal, sys, time
for name in ("SIGINT", "SIGTERM", "SIGHUP"):
    signal.signal(getattr(signal, name), signal.SIG_IGN)
marker, owner = sys.argv[1].encode() + b"\0", int(sys.argv[2])
logs = re.compile(r"/session_[0-9_-]+_%d/" % owner)
me, sid = os.getpid(), os.getsid(0)


def ours(pid):
    with open(f"/proc/{pid}/stat", "rb") as fh:
        if int(fh.read().rpartition(b")")[2].split()[3]) != sid:
            return False
    with open(f"/proc/{pid}/environ", "rb") as fh:
        if marker in fh.read():
            return True
    fds = f"/proc/{pid}/fd"
    return any(logs.search(os.readlink(f"{fds}/{f}")) for f in os.listdir(fds))


sys.stdin.buffer.read()  # end of file: the process that started the Ray has ended or closed it
quiet, t0 = 0, time.monotonic()
while quiet < 2 and time.monotonic() - t0 < 10:
    found = 0
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) not in (me, owner):
            try:
                if ours(d):
                    os.kill(int(d), signal.SIGKILL)
                    found += 1
            except OSError:
                pass
    quiet = 0 if found else quiet + 1
    time.sleep(0.1)
"""
"""The watchdog of a local Ray that leosim starts (Linux): it waits for the end of its stdin,
the pipe only leosim holds, which the kernel closes when leosim ends (SIGKILL included), then
SIGKILLs every other process of leosim's session that has the marker ``LEOSIM_RAY_OWNER=<nonce>`` in
its environment (leosim sets it while :func:`ray.init` starts Ray's processes, and it passes on
to their children) or a file open in Ray's session folder of leosim's pid
(``.../session_<date>_<time>_<pid>/``: the logs every Ray process writes; the agents that the
raylet starts do not always keep the marker)."""

RAY_OWNER_VAR = "LEOSIM_RAY_OWNER"
"""Environment variable marking the processes of a local Ray that leosim started."""


def _start_ray_watchdog() -> tuple[Any, str] | None:
    """Start the watchdog of :data:`_RAY_WATCHDOG`: ``(process, marker)``, or None where
    ``/proc`` is not there to find the processes by their environment."""
    import secrets
    import subprocess

    if not sys.platform.startswith("linux") or not os.path.isdir("/proc"):
        return None
    marker = f"{RAY_OWNER_VAR}={os.getpid()}-{secrets.token_hex(8)}"
    env = {k: v for k, v in os.environ.items() if k != RAY_OWNER_VAR}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _RAY_WATCHDOG, marker, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except OSError:
        return None
    return proc, marker


@contextlib.contextmanager
def _local_ray_start(ray, marker: str | None) -> Iterator[None]:
    """What ``ray.init`` of a local instance runs under.

    - Ray's ``uv run`` integration off, unless ``RAY_ENABLE_UV_RUN_RUNTIME_ENV`` is set: under
      ``uv run`` (Ray >= 2.45, on by default) Ray uploads the working directory and starts
      every worker as ``uv run python ...`` in its copy, which syncs a new virtual environment
      there (1.2 GB here) and compiles leosim's numba kernels again: 80-90 s before the first
      chunk on 2 cores, against 10-15 s without it.  A local instance runs on this machine
      with this interpreter, so the workers need none of it.  Ray reads the variable when it
      is imported (``ray/_private/ray_constants.py``, "RAY_ENABLE_UV_RUN_RUNTIME_ENV") and
      looks the constant up in each ``ray.init``, so it is switched there for this call.
    - The marker of :func:`_start_ray_watchdog` in the environment, so that every process
      Ray starts carries it.
    """
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    uv_hook = getattr(constants, "RAY_ENABLE_UV_RUN_RUNTIME_ENV", None)
    switch = uv_hook is not None and "RAY_ENABLE_UV_RUN_RUNTIME_ENV" not in os.environ
    if switch:
        constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = False
    name, value = marker.partition("=")[::2] if marker else (None, None)
    if name:
        os.environ[name] = value
    try:
        yield
    finally:
        if name:
            os.environ.pop(name, None)
        if switch:
            constants.RAY_ENABLE_UV_RUN_RUNTIME_ENV = uv_hook


class RayExecutor(Executor):
    """Ray: the cluster at ``address``, or a local instance with ``workers`` CPUs.

    A local instance that this executor starts is shut down by :meth:`close`; if this process
    is killed instead (SIGKILL included), Ray's head processes get SIGKILL from the kernel
    (Ray's own fate sharing, ``prctl(PR_SET_PDEATHSIG)``), and a watchdog process
    (:data:`_RAY_WATCHDOG`) ends the others within a second or so: the raylet's dashboard and
    runtime-env agents would otherwise wait 60 s to report the raylet's death to the dead GCS.
    """

    name = "ray"

    def start(self) -> None:
        ray = _import_extra("ray", "ray")
        self._ray = ray
        self._watchdog = None
        kw = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
        self._owned = not ray.is_initialized()
        if not self._owned:  # this process already runs Ray (e.g. a notebook): use it, keep it
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        elif self.address is None:
            self._watchdog = _start_ray_watchdog()
            try:
                with _local_ray_start(ray, self._watchdog and self._watchdog[1]):
                    ray.init(num_cpus=self.workers, **kw)
            except (OSError, RuntimeError, ConnectionError) as exc:
                raise LeosimError(f"cannot start a local Ray instance: {exc}") from None
        else:
            try:
                ray.init(address=self.address, **kw)
            except (ConnectionError, OSError, RuntimeError, ValueError) as exc:
                raise InputError(f"cannot reach the Ray cluster at {self.address}: {exc}") from None
            cpus = int(ray.cluster_resources().get("CPU", 1))
            self.workers = max(1, cpus)
        self._remote = ray.remote(num_cpus=1, max_retries=3)(_call)

    def close(self, *, abort: bool = False) -> None:
        ray = getattr(self, "_ray", None)
        self._ray = None
        if ray is not None and getattr(self, "_owned", True) and ray.is_initialized():
            with contextlib.suppress(Exception):
                ray.shutdown()
        watchdog, self._watchdog = getattr(self, "_watchdog", None), None
        if watchdog is not None:  # ends what shutdown left (nothing, usually), then exits
            proc = watchdog[0]
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(Exception):
                proc.wait(timeout=0.5 if abort else 5)

    def run_tasks(self, fn, tasks):
        ray = self._ray
        sent = _Sent(ray.put)
        pending: dict[Any, tuple[int, int]] = {}
        try:
            for i, (shared, item) in enumerate(tasks):
                key, ref = sent.take(shared)
                pending[self._remote.remote(fn, ref, item)] = (i, key)
                while len(pending) >= self.in_flight:
                    yield from self._drain(pending, sent)
            while pending:
                yield from self._drain(pending, sent)
        finally:
            for r in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(r, force=True)

    def _drain(self, pending, sent):
        done, _ = self._ray.wait(list(pending), num_returns=1)
        for r in sorted(done, key=pending.get):
            i, key = pending.pop(r)
            res = self._ray.get(r)
            sent.drop(key)
            yield i, res


_CLASSES = {
    "serial": Executor,
    "processes": ProcessExecutor,
    "dask": DaskExecutor,
    "ray": RayExecutor,
}


def make_executor(
    name: str, *, workers: int = 1, address: str | None = None, key: str = "execution"
) -> Executor:
    """The executor ``name`` (one of :data:`EXECUTORS`), not started yet (use ``with``).

    A missing optional dependency is the one-line error of :func:`missing_extra`, raised here,
    before any work.
    """
    if name not in _CLASSES:
        raise InputError(f"expected one of {', '.join(EXECUTORS)}, got {name!r}", key=key)
    problem = address_problem(name, address)
    if problem is not None:
        raise InputError(problem, key=key)
    if name in EXTRAS:
        _import_extra(name, EXTRAS[name][1])
    return _CLASSES[name](workers=workers, address=address)


def resolve_executor(
    executor: str | None, address: str | None, workers: int
) -> tuple[str, str | None]:
    """The executor and address to use: ``processes`` for several workers, else ``serial``."""
    if executor is None:
        executor = "processes" if workers > 1 and address is None else "serial"
    return executor, address


def gather_in_order(results: Iterable[tuple[int, Any]], n: int) -> list[Any]:
    """The results of :meth:`Executor.run` as a list in item order."""
    out: list[Any] = [None] * n
    for i, r in results:
        out[i] = r
    return out


# ---------------------------------------------------------------------------- chunked commands


def choose_executor(
    spec, *, workers: int, executor: str | None = None, address: str | None = None
) -> Executor:
    """The executor of a long command, not started yet: ``executor``/``address`` (the
    --executor and --address options) override the scenario's ``[execution]`` ``spec``
    (:class:`leosim.scenario.ExecutionSpec`); without either, local processes for several
    ``workers``, else serial."""
    key = "--executor" if executor is not None else "execution"
    if executor is None or (executor == spec.executor and address is None):
        executor = spec.executor
        address = address if address is not None else spec.address
    name, address = resolve_executor(executor, address, workers)
    return make_executor(name, workers=workers, address=address, key=key)


def fingerprint(*parts: Any) -> str:
    """SHA-256 of leosim's version and ``parts`` (arrays by their bytes, the rest by ``repr``),
    each length-prefixed: what a store's chunks depend on (see :class:`~leosim.chunkstore.ChunkStore`)."""
    import hashlib

    from . import __version__

    h = hashlib.sha256()
    for x in (__version__, *parts):
        b = np.ascontiguousarray(x).tobytes() if isinstance(x, np.ndarray) else repr(x).encode()
        h.update(len(b).to_bytes(8, "little") + b)
    return h.hexdigest()


def run_fingerprint(
    scenario_text, net, t_s: np.ndarray, plan: list[tuple[int, int]], *extra
) -> str:
    """SHA-256 of everything a long command's chunks depend on: leosim's version, the scenario
    (and policy) text, the network ``net`` (a :class:`~leosim.simulate.Network`: element sets,
    stations, links, limits, pairs), the time grid, the chunk plan and ``extra`` (see
    :func:`fingerprint`)."""
    elements = ("jdsatepoch", "jdsatepochF", "no_kozai", "ecco", "inclo", "nodeo", "argpo", "mo")
    return fingerprint(
        scenario_text,
        net.mode,
        str(net.start),
        net.dut1_s,
        plan,
        os.environ.get("LEOSIM_SSSP", ""),
        np.array(
            [[getattr(r, a) for a in (*elements, "bstar")] for r in net.constellation.satrecs]
        ),
        net.stations.ecef_m(net.ellipsoid),
        net.isl_pairs,
        net.gsl_max_range_m,
        net.gsl_min_elevation_deg,
        net.isl_max_length_m,
        net.pairs,
        np.asarray(t_s, np.float64),
        *extra,
    )


@contextlib.contextmanager
def chunk_store(final, fp: str, plan: list[tuple[int, int]], *, resume: bool):
    """The :class:`~leosim.chunkstore.ChunkStore` of output folder ``final`` for the block:
    kept for ``--resume`` if the block fails (Ctrl-C and SIGTERM included), removed if it ends
    (open it around the :class:`~leosim.outputs.OutputDir`, which publishes inside it)."""
    from pathlib import Path

    from .chunkstore import ChunkStore

    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {final.parent}: {exc.strerror or exc}") from None
    store = ChunkStore.open(final, fp, plan, resume=resume)
    try:
        yield store
    except BaseException:
        store.release()  # the finished chunks stay for --resume
        raise
    store.remove()


def compute_chunks(
    ex: Executor,
    store,
    fn: Callable,
    shared: Any,
    items: Sequence[Any],
    *,
    tables: Callable[[Any], dict] | None = None,
    on_chunk: Callable[[int, Any], None] | None = None,
) -> None:
    """Compute ``fn(shared, items[k])`` on ``ex`` for every chunk ``k`` not yet in ``store``
    and store each result as it ends (``tables(result)``: name -> pyarrow table; default the
    result itself); ``on_chunk(k, result)`` after each.  Never more local workers than chunks;
    workers are stopped, not awaited, on Ctrl-C or an error."""
    todo = store.todo()
    if not todo:
        return
    work = [items[k] for k in todo]
    ex.workers = max(1, min(ex.workers, len(work)))
    with ex:
        for j, res in ex.run(fn, shared, work):
            store.write(todo[j], tables(res) if tables is not None else res)
            if on_chunk is not None:
                on_chunk(todo[j], res)
