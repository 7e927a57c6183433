"""Process liveness, shared by the output staging (stale folders of dead runs) and the worker
watchdogs (a worker ends when the main process is gone)."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs: it exists (or exists under another user) and is not a
    zombie (a zombie has exited; it only waits for its parent to reap it)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux), or the process just ended
        return True
