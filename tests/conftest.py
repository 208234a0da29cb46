"""Fixtures live in tests/fix_*.py (one module per kind of real part they start)."""

from __future__ import annotations

import os
import sys

import pytest

pytest_plugins = ["tests.fix_egress", "tests.fix_gateway", "tests.fix_servers"]

_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """End the process once pytest has reported, skipping interpreter teardown: at teardown
    DuckDB's Python bindings print nanobind "leaked instances" lines about their own module
    constants, after pytest's summary, which should stay the last thing a run prints."""
    if not _EXIT_STATUS or os.environ.get("EGRESS_TESTS_NORMAL_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_EXIT_STATUS[-1])
