"""Engine calls on threads, for a backend that waits on a server: several requests' round trips overlap.

On SQLite an engine call takes microseconds of CPU and never waits, so the
event loop runs it inline (``protocol/app.py``).  On PostgreSQL the same call
spends most of its time waiting for round trips to the server, and inline
it holds the loop through all of them: one request at a time per process,
about a quarter of SQLite's rate (docs/POSTGRES.md, "Throughput").  Here
each DynamoDB and Streams operation runs on one of a bounded set of threads
instead, each with its own pooled connection; psycopg releases the GIL while
it waits on the socket, so while one thread waits the loop parses the next
request and another thread runs its engine code.

The dispatcher returns a ``waiting.Wait`` (``ends_on_stop=False``: a stopping
server still waits for a write's real answer), which the HTTP server settles
with callbacks on the loop as it does a write handed to the writer process.
A thread's answers reach the loop through ``call_soon_threadsafe``, one
wake-up for every answer ready at that moment.

Writes stay exactly as serialised as before: each write transaction still
takes the database's write lock in PostgreSQL (docs/POSTGRES.md), whichever
thread runs it; only waiting moves off the loop.  SQS stays inline: a long
poll answers with a ``Wait`` of its own, which the hand-off path does not
chain (its peeks are short and it is not a hot path here).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from cellstore.api import Database
from cellstore.errors import ServiceUnavailable
from cellstore.protocol.wire import Dispatch
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.server")

#: Threads per process running engine calls; each holds at most one pooled connection at a time.
THREADS = 8
#: Requests queued beyond the threads before new ones are refused with a retryable 503.
QUEUE = 4096
#: Seconds a request may wait for its answer before the client is told to retry (its outcome then unknown).
TIMEOUT = 60.0

#: The services whose operations run on the threads (SQS stays on the loop: see the module docstring).
OFFLOADED = frozenset({"dynamodb", "streams"})


class _Job:
    __slots__ = ("callback", "done", "error", "loop", "result", "work")

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.callback: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def settled(self) -> bool:
        """Answered or given up on (read under the lock)."""
        return self.done


class StorageThreads:
    """``threads`` daemon threads fed from one queue; a ``waiting.Hub`` keyed by job id."""

    def __init__(self, threads: int = THREADS, *, queue_size: int = QUEUE, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queue_size = queue_size
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"cellstore-storage-{n}", daemon=True) for n in range(threads)]
        self._started = False
        # Answers ready for the loop, delivered by one scheduled drain per burst.
        self._ready: list[Callable[[], None]] = []
        self._drain_scheduled = False

    def wrap(self, db: Database, dispatchers: dict[str, Dispatch]) -> dict[str, Dispatch]:
        """``server.DISPATCH_WRAPPERS``'s shape: the offloaded services' dispatchers run here."""
        del db  # every account's calls share the threads
        return {name: self._offloaded(dispatch) if name in OFFLOADED else dispatch for name, dispatch in dispatchers.items()}

    def _offloaded(self, dispatch: Dispatch) -> Dispatch:
        def offloaded(*args: Any) -> Wait:
            return self.submit(lambda: dispatch(*args))

        return offloaded

    def submit(self, work: Callable[[], Any]) -> Wait:
        """Run ``work()`` on a thread; the ``Wait``'s retry returns its result or raises its error."""
        if not self._started:
            self._start()
        if len(self._jobs) >= self._queue_size:
            raise ServiceUnavailable("The server has too many requests waiting for storage; retry the request.")
        job_id = next(self._ids)
        self._jobs[job_id] = _Job(work)
        self._queue.put(self._jobs[job_id])
        return Wait(self, job_id, 0, time.monotonic() + self.timeout, lambda: self._settle(job_id), ends_on_stop=False)

    def _start(self) -> None:
        with self._lock:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()

    def _settle(self, job_id: int) -> Any:
        job = self._jobs.pop(job_id, None)
        if job is None:
            raise ServiceUnavailable("The server lost track of a request; retry it.")
        with self._lock:
            if not job.done:  # its deadline passed: it may still run, its outcome unknown to the client
                job.done = True
                job.callback = None
                raise ServiceUnavailable("Storage did not answer in time; retry the request.")
        if job.error is not None:
            raise job.error
        return job.result

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            with self._lock:
                if job.done:  # given up on while queued: never run it
                    continue
            try:
                result, error = job.work(), None
            except BaseException as err:  # noqa: BLE001 - raised to the waiting request by _settle
                result, error = None, err
            with self._lock:
                if job.settled():  # given up on while it ran: nobody waits for this answer
                    continue
                job.result, job.error, job.done = result, error, True
                callback, loop = job.callback, job.loop
                job.callback = None
                if callback is None or loop is None:
                    continue
                self._ready.append(callback)
                if self._drain_scheduled:
                    continue
                self._drain_scheduled = True
            try:
                loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop closed: nobody is left to answer
                pass

    def _drain(self) -> None:
        """On the loop: run every answer's callback that is ready."""
        with self._lock:
            ready, self._ready = self._ready, []
            self._drain_scheduled = False
        for callback in ready:
            callback()

    def close(self) -> None:
        """Let the threads end once the queue is drained."""
        if self._started:
            for _ in self._threads:
                self._queue.put(None)

    # waiting.Hub

    def generation(self, queue_id: int) -> int:
        job = self._jobs.get(queue_id)
        return 1 if job is None or job.done else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        """For a caller off the loop (not used by the HTTP server): poll until the job is done."""
        while self.generation(queue_id) == generation and time.monotonic() < deadline:
            time.sleep(0.001)

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        job = self._jobs.get(queue_id)
        if job is not None:
            with self._lock:
                if not job.done:
                    job.callback = callback
                    try:
                        job.loop = asyncio.get_running_loop()
                    except RuntimeError:
                        job.loop = None
                        job.callback = None
        return queue_id

    def unsubscribe(self, queue_id: int, token: int) -> None:
        job = self._jobs.get(queue_id)
        if job is not None:
            with self._lock:
                job.callback = None
