"""cells/bulkhead.py's hand-off to an event loop: answers come back on the loop, in batches, and (when asked) the
cell's thread keeps to the loop's CPU."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cellstore.cells import bulkhead as bulkhead_module
from cellstore.cells.bulkhead import Bulkhead, CellUnavailable
from cellstore.waiting import Wait


def settle_on_loop(wait: Wait) -> asyncio.Future[Any]:
    """What the app does with a cell's ``Wait``: subscribe, and retry on the loop once woken."""
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[Any] = loop.create_future()
    on_loop = threading.get_ident()

    def settle() -> None:
        assert threading.get_ident() == on_loop  # callbacks run on the loop, never on the cell's thread
        if answered.done():
            return
        try:
            answered.set_result(wait.retry())
        except Exception as err:  # noqa: BLE001 - handed to the awaiting test
            answered.set_exception(err)

    wait.wakeups.subscribe(wait.queue_id, settle)
    if wait.stale():
        settle()
    else:
        loop.call_later(wait.remaining(), settle)
    return answered


def test_many_answers_come_back_on_the_loop() -> None:
    cell = Bulkhead("c", queue_size=1000)

    async def run() -> list[Any]:
        waits = [cell.submit(lambda n=n: n * 2, "dynamodb") for n in range(200)]
        return list(await asyncio.gather(*(settle_on_loop(wait) for wait in waits)))

    try:
        assert asyncio.run(run()) == [n * 2 for n in range(200)]
        assert cell.pending == set() and cell.queued == 0
    finally:
        cell.close()


def test_an_error_and_a_timeout_reach_the_loop() -> None:
    cell = Bulkhead("c", timeout=0.2)
    release = threading.Event()

    def fail() -> None:
        raise KeyError("boom")

    async def run() -> tuple[BaseException | None, BaseException | None]:
        failed = settle_on_loop(cell.submit(fail, "dynamodb"))
        stuck = settle_on_loop(cell.submit(release.wait, "dynamodb"))
        results = await asyncio.gather(failed, stuck, return_exceptions=True)
        return results[0], results[1]

    try:
        error, timeout = asyncio.run(run())
        assert isinstance(error, KeyError)
        assert isinstance(timeout, CellUnavailable) and cell.timed_out == 1
    finally:
        release.set()
        cell.close()


@pytest.fixture
def colocating() -> Iterator[None]:
    saved = bulkhead_module.COLOCATE
    bulkhead_module.COLOCATE = True
    yield
    bulkhead_module.COLOCATE = saved


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs CPU affinity and two CPUs")
def test_with_colocate_the_cells_thread_keeps_to_the_loops_cpu(colocating: None) -> None:
    cell = Bulkhead("c")
    seen: dict[str, set[int]] = {}

    async def run() -> None:
        await settle_on_loop(cell.submit(lambda: None, "dynamodb"))
        seen["loop"] = os.sched_getaffinity(0)
        seen["cell"] = cell.call(lambda: os.sched_getaffinity(0))

    # The loop runs on a thread of its own: the pinning stays with that thread, not the test runner's.
    runner = threading.Thread(target=lambda: asyncio.run(run()))
    runner.start()
    runner.join()
    cell.close()
    assert len(seen["loop"]) == 1
    assert seen["cell"] == seen["loop"]
