"""The options every long command shares: where its chunks run and how it resumes
(``--workers``, ``--executor``, ``--address``, ``--chunk-s``, ``--resume``; the scenario's
``[execution]`` table gives the defaults, see :mod:`leosim.execution`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import LeosimError

Workers = Annotated[
    int | None,
    typer.Option(help="Worker processes (default: the scenario's, else 1).", min=1, max=256),
]
Executor = Annotated[
    str | None,
    typer.Option(
        help="serial, processes, dask or ray (default: the scenario's [execution], else "
        "processes with several workers)."
    ),
]
Address = Annotated[
    str | None,
    typer.Option(help="Dask scheduler (tcp://host:8786) or Ray cluster (ray://host:10001, auto)."),
]
ChunkS = Annotated[
    float | None,
    typer.Option(
        "--chunk-s",
        help="Chunk length, seconds of the window (unit of work and resume).",
        min=1e-9,
    ),
]
Resume = Annotated[
    bool,
    typer.Option(help="Continue an interrupted run of the same scenario from its finished chunks."),
]


def execution_options(
    executor: str | None, address: str | None, chunk_s: float | None, resume: bool
) -> dict:
    """The options as keyword arguments of the commands' cores; an address needs an executor."""
    if address is not None and executor is None:
        raise LeosimError("--address needs --executor dask or --executor ray")
    return {"executor": executor, "address": address, "chunk_s": chunk_s, "resume": resume}


def check_executor(sc, workers: int | None, opts: dict) -> None:
    """Refuse a bad or missing executor (its one-line error) before any long work."""
    from ..execution import choose_executor

    w = workers if workers is not None else sc.workers
    choose_executor(sc.execution, workers=w, executor=opts["executor"], address=opts["address"])


def load_checked(scenario, out, workers: int | None, executor, address, chunk_s, resume: bool):
    """``(scenario, options)`` of a long command: the scenario loaded and the output folder,
    the options and the executor checked, before any long work."""
    from ..outputs import check_output_dir
    from ..scenario import load_scenario

    opts = execution_options(executor, address, chunk_s, resume)
    sc = load_scenario(scenario)
    check_output_dir(out)
    check_executor(sc, workers, opts)
    return sc, opts
