"""Ctrl-C and SIGTERM for the command line: one exception, cleanup on the way out.

:func:`install` makes SIGINT and SIGTERM (and SIGHUP) raise :class:`Interrupted`, a
:class:`KeyboardInterrupt`, in the main thread, so ``finally`` blocks and context managers
(staging folders, worker pools) run for a ``kill`` exactly as for Ctrl-C.  The command line
then prints one line and exits with ``128 + signal number`` (130 for Ctrl-C, 143 for SIGTERM),
the shell's convention.  This module imports nothing heavy: it is installed before the rest of
leosim is imported.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

CLEANUP_LIMIT_S = 8.0
"""Longest a signalled process spends cleaning up before it exits anyway, seconds.

Cleanup after an interrupt can block for good: a worker terminated while it held a lock of
the pool's queues leaves the pool's manager thread (joined at interpreter exit) waiting on it
for ever.  The watchdog started by the first signal ends the process with the same exit status
once this much time has passed; the workers then die with it (see :mod:`leosim._workers`) and
the next run removes any staging folder left behind (:mod:`leosim.outputs`)."""

_received: list[int] = []
_announced = threading.Event()


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGINT, SIGTERM or SIGHUP arrives."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _watchdog(code: int, limit_s: float) -> None:
    time.sleep(limit_s)
    if not _announced.is_set():
        _announce(code)
    os._exit(code)


def _start_watchdog(code: int, limit_s: float | None = None) -> None:
    limit = CLEANUP_LIMIT_S if limit_s is None else limit_s
    threading.Thread(
        target=_watchdog, args=(code, limit), daemon=True, name="leosim-exit-watchdog"
    ).start()


def _raise(signum: int, frame: object) -> None:
    _received.append(signum)
    if len(_received) == 1:
        _start_watchdog(128 + signum)
    raise Interrupted(signum)


def _announce(code: int) -> None:
    _announced.set()
    try:
        name = signal.Signals(code - 128).name
    except ValueError:
        name = "signal"
    try:
        sys.stderr.write(f"interrupted ({name})\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _redeliver(signum: int) -> None:
    try:
        os.kill(os.getpid(), signum)
    except OSError:
        pass


def _unraisable(hook):
    """A :data:`sys.unraisablehook` that delivers an interrupt again instead of printing it.

    A signal can arrive while a finalizer (``__del__``, a weakref callback) runs, and Python
    cannot propagate an exception out of one: it would print "Exception ignored in ..." with a
    traceback and go on as if nothing had happened.  The signal is sent again a moment later,
    when the main thread is (almost surely) back in ordinary code, where it raises as usual.
    """

    def handle(unraisable) -> None:
        exc = getattr(unraisable, "exc_value", None)
        if isinstance(exc, Interrupted):
            t = threading.Timer(0.01, _redeliver, args=(exc.signum,))
            t.daemon = True
            t.start()
            return
        hook(unraisable)

    handle.leosim = True
    return handle


def install() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (main thread only)."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _raise)
    if not getattr(sys.unraisablehook, "leosim", False):
        sys.unraisablehook = _unraisable(sys.unraisablehook)


def received() -> list[int]:
    """The signals received so far (in order)."""
    return list(_received)


def exit_code(exc: BaseException | None = None) -> int:
    """``128 + signal number`` of the interrupt (130 when no signal was seen: Ctrl-C)."""
    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    return 128 + (_received[0] if _received else signal.SIGINT)


def exit_interrupted(exc: BaseException | None = None) -> None:
    """Print ``interrupted`` on standard error and exit with :func:`exit_code`."""
    code = exit_code(exc)
    # Further signals must not cut this short with a traceback.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    if not _received:  # a plain KeyboardInterrupt: no watchdog is running yet
        _start_watchdog(code)
    if not _announced.is_set():
        _announce(code)
    raise SystemExit(code)
