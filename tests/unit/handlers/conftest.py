"""Fixtures for handler tests: short timings, an in-process store on a data dir, and waiting."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cellstore.embedded import in_process
from cellstore.handlers import runner


@pytest.fixture(autouse=True)
def fast_handlers() -> Iterator[runner.RunnerSettings]:
    """Poll, back off and renew leases in milliseconds; restored afterwards."""
    saved = replace(runner.SETTINGS)
    runner.SETTINGS.poll_seconds = 0.01
    runner.SETTINGS.backoff_seconds = 0.01
    runner.SETTINGS.backoff_max_seconds = 0.05
    runner.SETTINGS.lease_seconds = 2.0
    yield runner.SETTINGS
    for name in ("poll_seconds", "backoff_seconds", "backoff_max_seconds", "lease_seconds", "metrics_seconds"):
        setattr(runner.SETTINGS, name, getattr(saved, name))


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """Open the in-process store on this test's data dir; reopening after ``close`` is a restart."""
    blocks: list[Any] = []

    def open_() -> Any:
        block = in_process(tmp_path / "data")
        blocks.append(block)
        store = block.__enter__()
        store.close = lambda: block.__exit__(None, None, None)
        return store

    yield open_
    for block in blocks:
        try:
            block.__exit__(None, None, None)
        except Exception:  # noqa: BLE001, S110 - already closed
            pass


@pytest.fixture
def wait_for() -> Callable[..., None]:
    """``wait_for(condition, timeout=5)``: poll until true, or fail the test."""

    def wait(condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting")
            time.sleep(0.005)

    return wait
