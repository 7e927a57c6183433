"""numba's threading layer (leosim._threading): TBB from the ``tbb`` wheel, usable after fork.

Each check runs in a fresh interpreter, since numba picks its layer once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from leosim import _threading

needs_tbb = pytest.mark.skipif(
    _threading.tbb_library() is None, reason="the tbb wheel is not installed on this platform"
)

# The parent runs a parallel kernel, forks, and the child runs it again: GNU OpenMP aborts the
# child there, workqueue survives it, TBB must.
_SCRIPT = r"""
import os, sys
import numpy as np
import leosim.sssp  # configures the layer
import numba
from numba import njit, prange

@njit(parallel=True)
def add(a):
    for i in prange(len(a)):
        a[i] += 1.0

a = np.zeros(1000)
add(a)
print(numba.threading_layer(), flush=True)
pid = os.fork()
if pid == 0:
    add(a)
    os._exit(0 if a.sum() == 2000.0 else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), flush=True)
"""


def _run(env_extra: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


@needs_tbb
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_tbb_is_chosen_and_survives_fork():
    layer, child = _run({})
    assert layer == "tbb"
    assert child == "0"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_user_choice_of_layer_is_kept():
    layer, child = _run({"NUMBA_THREADING_LAYER": "workqueue"})
    assert layer == "workqueue"
    assert child == "0"
