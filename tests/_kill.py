"""The fork-and-SIGKILL harness shared by the kill-and-resume tests."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from leosim import chunkstore


def killed_child(work: Callable[[], object], how: str, n: int, delay_s: float = 0.0) -> int:
    """Fork; the child runs ``work`` and SIGKILLs itself at the ``n``-th write step of the
    chunk store (``how`` = "point", or "torn": the file just written is first cut in half) or,
    for ``how`` = "time", after ``delay_s``.  Returns the child's wait status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = [0]

            def hook(point: str, path: Path) -> None:
                calls[0] += 1
                if how != "time" and calls[0] == n:
                    if how == "torn" and path.is_file():
                        os.truncate(path, path.stat().st_size // 2)
                    os.kill(os.getpid(), signal.SIGKILL)

            chunkstore._fault = hook
            if how == "time":
                threading.Timer(delay_s, os.kill, (os.getpid(), signal.SIGKILL)).start()
            work()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status
