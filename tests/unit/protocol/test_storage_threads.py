"""``protocol/storage_threads.py``: engine calls on threads, writes in group commits, reads in shared snapshots."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from cellstore.errors import ConditionalCheckFailedException, ServiceUnavailable, StorageUnavailable
from cellstore.protocol import storage_threads
from cellstore.protocol.storage_threads import StorageThreads
from cellstore.storage.base import Snapshot
from cellstore.waiting import Wait


class Backend:
    """What the threads need of a database: a group commit and a shared snapshot, recorded."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []  # the writes each committed group ran
        self.snapshots = 0
        self.fail_commit = False
        self.spoil_on: str | None = None
        self.open: list[str] | None = None
        self.current: Any = None
        self.gate = threading.Event()
        self.started = threading.Event()

    @contextmanager
    def group(self) -> Iterator[Any]:
        class Group:
            spoiled = False

        group = self.current = Group()
        self.open = []
        try:
            yield group
            if self.fail_commit:
                raise StorageUnavailable("the COMMIT failed")
            if not group.spoiled:
                self.groups.append(self.open)
        finally:
            self.open = None

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        self.snapshots += 1
        yield Snapshot()


def settle(waits: list[Wait]) -> list[Any]:
    """Await every ``Wait`` on an event loop, as the HTTP server does (callbacks on the loop)."""

    async def one(wait: Wait) -> Any:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        wait.wakeups.subscribe(wait.queue_id, lambda: done.done() or done.set_result(None))
        if not wait.stale():
            await asyncio.wait_for(done, 10)
        try:
            return wait.retry()
        except Exception as err:  # noqa: BLE001 - the outcome under test
            return err

    async def every() -> list[Any]:
        return list(await asyncio.gather(*(one(wait) for wait in waits)))

    return asyncio.run(every())


@pytest.fixture
def threads() -> Iterator[StorageThreads]:
    pool = StorageThreads(threads=2)
    yield pool
    pool.close()


def _first(threads: StorageThreads, backend: Backend, group: Any) -> Wait:
    """A write the writer thread is busy with, so that the next ones queue up behind it."""
    wait = threads.submit(_write(backend, "first"), group, write=True)
    assert backend.started.wait(5)
    return wait


def _write(backend: Backend, name: str, fail: Exception | None = None) -> Any:
    def work() -> Any:
        backend.started.set()
        backend.gate.wait(5)
        if backend.open is not None:
            backend.open.append(name)
            if backend.spoil_on == name:  # as a store marks a group whose transaction raised after writing
                backend.current.spoiled = True
                raise ConditionalCheckFailedException()
        if fail is not None:
            raise fail
        return {"wrote": name}

    return work


def test_writes_waiting_together_share_one_group_and_are_answered_after_it(threads: StorageThreads) -> None:
    backend = Backend()
    waits = [_first(threads, backend, backend.group)]
    waits += [threads.submit(_write(backend, f"w{n}"), backend.group, write=True) for n in range(5)]
    backend.gate.set()
    answers = settle(waits)
    assert answers == [{"wrote": "first"}] + [{"wrote": f"w{n}"} for n in range(5)]
    assert backend.groups == [[f"w{n}" for n in range(5)]]  # the first ran alone while the rest queued
    assert (threads.groups, threads.grouped) == (1, 5)


def test_a_failed_condition_in_a_group_is_that_write_s_answer_only(threads: StorageThreads) -> None:
    backend = Backend()
    waits = [_first(threads, backend, backend.group)]
    waits += [
        threads.submit(_write(backend, f"w{n}", ConditionalCheckFailedException() if n == 1 else None), backend.group,
                       write=True)
        for n in range(3)
    ]
    backend.gate.set()
    answers = settle(waits)
    assert isinstance(answers[2], ConditionalCheckFailedException)
    assert [answers[1], answers[3]] == [{"wrote": "w0"}, {"wrote": "w2"}]


def test_a_spoiled_group_runs_each_write_alone(threads: StorageThreads) -> None:
    backend = Backend()
    backend.spoil_on = "w1"  # fails after writing, inside a group only
    waits = [_first(threads, backend, backend.group)]
    waits += [threads.submit(_write(backend, f"w{n}"), backend.group, write=True) for n in range(3)]
    backend.gate.set()
    answers = settle(waits)
    assert answers == [{"wrote": "first"}, {"wrote": "w0"}, {"wrote": "w1"}, {"wrote": "w2"}]
    assert all("w1" not in group for group in backend.groups)  # the spoiled group never committed


def test_a_failed_commit_fails_every_write_of_its_group(threads: StorageThreads) -> None:
    backend = Backend()
    waits = [_first(threads, backend, backend.group)]
    waits += [threads.submit(_write(backend, f"w{n}"), backend.group, write=True) for n in range(3)]
    backend.fail_commit = True
    backend.gate.set()
    answers = settle(waits)
    assert answers[0] == {"wrote": "first"}
    assert all(isinstance(answer, StorageUnavailable) for answer in answers[1:])


def test_reads_waiting_together_share_a_snapshot_and_errors_reach_their_caller(threads: StorageThreads) -> None:
    backend = Backend()
    gate = threading.Event()

    def read(n: int) -> Any:
        gate.wait(5)
        if n == 3:
            raise ConditionalCheckFailedException()
        return n

    waits = [threads.submit(lambda n=n: read(n), backend.snapshot) for n in range(8)]
    gate.set()
    answers = settle(waits)
    assert answers[:3] == [0, 1, 2] and answers[4:] == [4, 5, 6, 7]
    assert isinstance(answers[3], ConditionalCheckFailedException)
    assert backend.snapshots >= 1


def test_a_lone_read_runs_in_a_snapshot_too_where_its_reads_may_overlap(threads: StorageThreads) -> None:
    """Through ``Snapshot.run``: on PostgreSQL even one read there may guess its table's description."""
    backend = Backend()
    ran: list[int] = []

    class Recording(Snapshot):
        def run(self, works: Any, answer: Any) -> None:
            ran.append(len(works))
            super().run(works, answer)

    @contextmanager
    def snapshot() -> Iterator[Snapshot]:
        backend.snapshots += 1
        yield Recording()

    assert settle([threads.submit(lambda: "alone", snapshot)]) == ["alone"]
    assert (backend.snapshots, ran) == (1, [1])


def test_a_job_past_its_deadline_is_given_up_on_with_a_retryable_error_by_one_timer_on_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(storage_threads, "SWEEP", 0.05)
    threads = StorageThreads(threads=1, timeout=0.2)
    backend = Backend()
    ran: list[str] = []

    async def submitted_on_the_loop() -> list[Any]:
        loop = asyncio.get_running_loop()
        stuck = threads.submit(_write(backend, "first"), backend.group, write=True)  # runs until the gate opens
        assert backend.started.wait(5)
        queued = threads.submit(lambda: ran.append("never"), backend.group, write=True)
        assert stuck.deadline == math.inf  # no timer per request: the sweep gives up on them
        answers = []
        for wait in (stuck, queued):
            done = loop.create_future()
            wait.wakeups.subscribe(wait.queue_id, lambda done=done: done.done() or done.set_result(None))
            if not wait.stale():
                await asyncio.wait_for(done, 5)
            try:
                answers.append(wait.retry())
            except ServiceUnavailable as err:
                answers.append(err)
        return answers

    try:
        answers = asyncio.run(submitted_on_the_loop())
        assert all(isinstance(answer, ServiceUnavailable) for answer in answers)
        backend.gate.set()
        time.sleep(0.2)
        assert ran == []  # the queued one, given up on, never ran
    finally:
        backend.gate.set()
        threads.close()


def test_close_ends_the_threads_and_a_later_submit_starts_new_ones() -> None:
    threads = StorageThreads(threads=2)

    def ours() -> list[threading.Thread]:
        return [thread for thread in threading.enumerate() if thread.name.startswith("cellstore-storage")]

    before = len(ours())
    backend = Backend()
    assert settle([threads.submit(lambda: 1, backend.snapshot)]) == [1]
    assert len(ours()) == before + 3
    threads.close()
    assert len(ours()) == before
    assert settle([threads.submit(lambda: 2, backend.snapshot)]) == [2]
    threads.close()
    assert len(ours()) == before
