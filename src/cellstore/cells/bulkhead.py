"""A cell's bulkhead: its own bounded threads, a bounded queue and a timeout, so a failing cell stays alone.

Storage calls are synchronous.  Run on a front end's event loop, one hung
cell (a stopped PostgreSQL, a SIGSTOPped postmaster, an SQLite file whose
write lock another process holds) would stop every request of every cell
that front end serves.  So the router runs each request's dispatch on its
cell's bulkhead instead and hands the event loop a ``waiting.Wait``: the
HTTP server awaits it exactly as it awaits a long-polling ReceiveMessage or
a write handed to the writer process (``protocol/writer.py``), and the loop
goes on serving the other cells.

A sick cell can then take only its own threads: when they are all stuck
and its queue is full, a new request for that cell fails at once, and one
that waits longer than ``timeout`` gives up — both with a retryable 503
(``CellUnavailable``; SQS's spelling for SQS), which botocore retries with
back-off.  A request that timed out may still complete later in its cell
(its thread is not killed), so, as for any 5xx, its outcome is unknown to
the client; conditional writes and idempotency tokens are what make the
retry safe, as with AWS.

The bulkhead is the ``waiting.Hub`` of the ``Wait`` it returns, keyed by job
id: generation 0 while the job runs, 1 once it is done.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from cellstore.errors import CellstoreError, ServiceUnavailable, SqsServiceUnavailable
from cellstore.waiting import Wait

#: Defaults per cell: threads, queued requests beyond them, seconds a request may wait in all.
#: One thread: a busy thread drains the queue without a wake-up per request, which is what keeps
#: the router's cost near 10% of a request's CPU (bench/cells.py; 16 threads cost +45-75%), and a
#: front end's event loop ran everything one at a time before cells anyway.  ``threads`` in
#: cells.toml raises it for a cell (a PostgreSQL cell with slow queries, say).
THREADS = 1
QUEUE = 256
TIMEOUT = 10.0


class CellUnavailable(ServiceUnavailable):
    """This request's cell is not answering in time (busy, hung or down): retry later (503)."""


class SqsCellUnavailable(SqsServiceUnavailable):
    """SQS's spelling of ``CellUnavailable``."""


def unavailable(service: str, message: str) -> CellstoreError:
    """The retryable error ``service`` reports when a cell cannot answer."""
    return SqsCellUnavailable(message) if service == "sqs" else CellUnavailable(message)


class _Job:
    __slots__ = ("callback", "done", "error", "event", "lock", "result", "service", "work")

    def __init__(self, work: Callable[[], Any], service: str) -> None:
        self.work = work
        self.service = service
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.callback: Callable[[], None] | None = None
        self.event = threading.Event()
        self.lock = threading.Lock()

    def settled(self) -> bool:
        """Answered, failed or given up on (read under ``lock``)."""
        return self.done


class Bulkhead:
    """``threads`` daemon threads of one cell, fed from a queue of at most ``queue_size`` jobs."""

    def __init__(self, name: str, *, threads: int = THREADS, queue_size: int = QUEUE, timeout: float = TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout
        self._queue: queue.Queue[tuple[int, _Job] | None] = queue.Queue(maxsize=queue_size)
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._threads = [
            threading.Thread(target=self._run, name=f"cell-{name}-{n}", daemon=True) for n in range(threads)
        ]
        self._started = False
        self._start_lock = threading.Lock()
        self.busy = 0  # jobs running now
        self.rejected = 0  # refused: queue full
        self.timed_out = 0  # given up on after ``timeout``

    def _start(self) -> None:
        """The threads start with the first job: a supervisor that opens and closes a deployment before it forks starts none."""
        with self._start_lock:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()

    def submit(self, work: Callable[[], Any], service: str, then: Callable[[Any], Any] | None = None) -> Wait:
        """Run ``work()`` on this cell's threads; the ``Wait`` settles with its result (or its error, raised).

        With ``then``, the ``Wait``'s retry returns ``then(result)`` instead,
        run by whoever settles it (the event loop): how the router chains a
        placement, a re-route after a move, or a long poll's next attempt.
        """
        if not self._started:
            self._start()
        job_id = next(self._ids)
        job = _Job(work, service)
        self._jobs[job_id] = job
        try:
            self._queue.put_nowait((job_id, job))
        except queue.Full:
            self._jobs.pop(job_id, None)
            self.rejected += 1
            raise unavailable(service, f"Cell {self.name} is overloaded or not answering; retry the request.") from None
        if then is None:
            return Wait(self, job_id, 0, time.monotonic() + self.timeout, lambda: self._settle(job_id))
        return Wait(self, job_id, 0, time.monotonic() + self.timeout, lambda: then(self._settle(job_id)))

    def post(self, work: Callable[[], Any]) -> bool:
        """Queue ``work()`` with nobody waiting for its result (a warm-up, a health probe); False if the queue is full."""
        if not self._started:
            self._start()
        try:
            self._queue.put_nowait((0, _Job(work, "dynamodb")))
        except queue.Full:
            return False
        return True

    def call(self, work: Callable[[], Any], service: str = "dynamodb") -> Any:
        """``work()`` on this cell's threads, waited for here (for callers off the event loop: the mover, status)."""
        result: Any = self.submit(work, service)
        while isinstance(result, Wait):
            result.block()
            result = result.retry()
        return result

    def _settle(self, job_id: int) -> Any:
        job = self._jobs.pop(job_id, None)
        if job is None:
            raise unavailable("dynamodb", f"Cell {self.name} lost track of a request; retry it.")
        with job.lock:
            if not job.done:
                # Given up on.  Still queued: it will never run (the client is told to retry,
                # so running it later would surprise it).  Running: its outcome is unknown.
                job.done = True
                job.callback = None
                self.timed_out += 1
                raise unavailable(job.service, f"Cell {self.name} did not answer in time; retry the request.")
        if job.error is not None:
            raise job.error
        return job.result

    def fail_waiting(self, message: str) -> int:
        """Answer every request waiting on this cell with a retryable error now (the cell went unhealthy).

        A request still queued will never run.  One already running in the
        cell is answered now, as a timeout would answer it, and its outcome
        is the storage's to decide (its thread finishes when the storage
        answers and its result is dropped).  Returns how many were failed.
        """
        failed = 0
        for job in list(self._jobs.values()):
            with job.lock:
                if job.done:
                    continue
                job.done = True
                job.error = unavailable(job.service, message)
                callback, job.callback = job.callback, None
            job.event.set()
            failed += 1
            if callback is not None:
                callback()
        return failed

    def _run(self) -> None:
        while True:
            entry = self._queue.get()
            if entry is None:
                return
            _, job = entry
            with job.lock:
                if job.done:  # failed or given up on while queued: never run it
                    continue
            self.busy += 1
            try:
                result, error = job.work(), None
            except BaseException as err:  # noqa: BLE001 - handed to the waiting request, raised there
                result, error = None, err
            finally:
                self.busy -= 1
            with job.lock:
                if job.settled():  # given up on while it ran: nobody is waiting for this answer
                    continue
                job.result, job.error, job.done = result, error, True
                callback, job.callback = job.callback, None
            job.event.set()
            if callback is not None:
                callback()

    def close(self) -> None:
        """Let the threads end once the queue is drained (a stuck one stays until its call returns)."""
        if not self._started:
            return
        for _ in self._threads:
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                break

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    # waiting.Hub

    def generation(self, queue_id: int) -> int:
        job = self._jobs.get(queue_id)
        return 1 if job is None or job.done else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        job = self._jobs.get(queue_id)
        if job is not None:
            job.event.wait(max(0.0, deadline - time.monotonic()))

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        job = self._jobs.get(queue_id)
        if job is not None:
            with job.lock:
                if not job.done:
                    job.callback = callback
        return queue_id

    def unsubscribe(self, queue_id: int, token: int) -> None:
        job = self._jobs.get(queue_id)
        if job is not None:
            with job.lock:
                job.callback = None
