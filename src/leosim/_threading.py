"""numba's threading layer for the kernels: Intel TBB where the ``tbb`` wheel is installed.

numba runs ``prange`` loops on one of three layers (numba docs, "The Threading Layers"):

``workqueue``
    numba's own; its calling thread spins while the workers run, so on a 2-core machine two
    threads do the work of about one, and every parallel region costs 120-250 us to wake
    them (measured on this project's 2-core VM: two 0.5 ms halves of a loop took 1.06 ms).
``omp`` (GNU OpenMP)
    fast, but a process forked after using it aborts ("fork() called from a process already
    using GNU OpenMP"), and leosim's worker pools, Dask's and users' own code fork.
``tbb``
    fast and fork-safe; the same two halves take 0.50 ms.

numba looks for ``libtbb.so.12`` on the loader's search path, where a pip-installed ``tbb``
is not (it lands in ``<prefix>/lib``), so :func:`configure` loads it from the ``tbb``
distribution's own files first.  With it, numba's ``"forksafe"`` choice is TBB; without it,
``workqueue``.  A layer named in ``NUMBA_THREADING_LAYER`` is left as the user chose it.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import os
import sys
from pathlib import Path

_LIB_NAMES = {"linux": "libtbb.so.12", "darwin": "libtbb.12.dylib", "win32": "tbb12.dll"}


def tbb_library() -> Path | None:
    """Path of the TBB runtime shipped by the installed ``tbb`` distribution, if any."""
    name = _LIB_NAMES.get("linux" if sys.platform.startswith("linux") else sys.platform)
    try:
        files = importlib.metadata.files("tbb") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == name:
            path = Path(str(f.locate())).resolve()
            if path.exists():
                return path
    return None


def configure(numba) -> None:
    """Choose the fork-safe layer, loading the ``tbb`` wheel's runtime so numba finds it.

    Must run before numba starts its threads (before the first parallel call).
    """
    path = tbb_library()
    if path is not None:
        try:
            # Loaded globally, numba's own dlopen of the bare soname finds this copy.
            ctypes.CDLL(str(path), mode=getattr(ctypes, "RTLD_GLOBAL", 0))
        except OSError:
            pass  # numba then falls back to workqueue
    if not os.environ.get("NUMBA_THREADING_LAYER"):
        numba.config.THREADING_LAYER = "forksafe"
