"""Worker processes that die with their parent and leave Ctrl-C to it.

:func:`worker_pool` is a :class:`~concurrent.futures.ProcessPoolExecutor` whose workers

- get ``SIGKILL`` from the kernel the moment the process that started them dies
  (``prctl(PR_SET_PDEATHSIG)`` on Linux, through ctypes);
- also watch their parent from a thread (its pid changes when it dies and the worker is
  re-parented; the main process's pid is checked too, for start methods with an intermediate
  server) and exit within :data:`WATCH_INTERVAL_S`, on every POSIX system;
- ignore SIGINT: a Ctrl-C reaches the whole process group, and only the main process should
  act on it (it then stops the workers);
- are terminated, not waited for, when the block that uses the pool ends with an exception
  (Ctrl-C, SIGTERM through :mod:`leosim._signals`, an error while writing results).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from ._proc import pid_alive

WATCH_INTERVAL_S = 0.25
"""How often a worker checks that its parent is alive, seconds."""

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(ppid: int, main_pid: int) -> None:
    while True:
        if os.getppid() != ppid or not pid_alive(main_pid):
            os._exit(1)
        time.sleep(WATCH_INTERVAL_S)


def _init_worker(main_pid: int) -> None:
    """Initializer of every worker process (see the module docs)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _set_parent_death_signal()
    ppid = os.getppid()
    # The parent may have died before the death signal was armed.
    if ppid == 1 or not pid_alive(main_pid):
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(ppid, main_pid), daemon=True, name="leosim-watch-parent"
    ).start()


def _stop(pool: ProcessPoolExecutor, grace_s: float = 2.0) -> None:
    """Terminate the pool's worker processes now (SIGTERM, then SIGKILL after ``grace_s``)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace_s
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1.0)


@contextlib.contextmanager
def worker_pool(max_workers: int) -> Iterator[ProcessPoolExecutor]:
    """A process pool for the block; its workers never outlive this process (module docs)."""
    pool = ProcessPoolExecutor(
        max_workers=max_workers, initializer=_init_worker, initargs=(os.getpid(),)
    )
    try:
        yield pool
    except BaseException:
        _stop(pool)
        raise
    pool.shutdown(wait=True)
