"""Shared set-up of the tests: the Ray tests run last, and share one Ray.

A test marked ``ray`` needs Ray in this process.  Every such test runs after all the others
(a forked child of the kill-and-resume tests must not inherit a running Ray's threads and
sockets): first those that start a Ray of their own (leosim's local Ray, while none runs
here), then those that attach to the session's Ray (:func:`ray_session`), started once.
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ray: needs Ray in this process; runs after every other test (conftest.py)"
    )


def pytest_collection_modifyitems(session, config, items):
    def rank(item) -> int:
        if item.get_closest_marker("ray") is None:
            return 0
        return 2 if "ray_session" in item.fixturenames else 1

    items[:] = sorted(items, key=rank)  # stable: each group keeps its order


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray (2 CPUs) for the session, started as leosim starts its own
    (:class:`leosim.execution.RayExecutor`); the executors of the tests attach to it and
    leave it running; it is shut down after the last test."""
    pytest.importorskip("ray")
    from leosim.execution import make_executor

    with make_executor("ray", workers=2) as ex:
        yield ex._ray
