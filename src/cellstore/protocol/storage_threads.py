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

Writes (``writer.WRITES``) go to one more thread of their own, which runs
every write waiting when it starts in one group commit (``Database.group``):
one write lock, one COMMIT — and on a quorum cell one wait for the replicas
— for all of them, answered only once that COMMIT returned.  Writes from
every front end stay serialised by PostgreSQL's write lock
(docs/POSTGRES.md); one writer thread per process loses nothing, since only
one write transaction can hold that lock at a time anyway.  A write that
fails after it wrote spoils the group, which rolls back and runs each write
alone.  Likewise each reader thread runs every read waiting when it looks
in one shared snapshot (``Database.snapshot``): each of them arrived before
the snapshot was taken, so it still sees every write acknowledged before
it, and a table's description is read once for all of them.  A read is
answered as soon as it is done (nothing to commit).  SQS stays inline: a long
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
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from cellstore.api import Database
from cellstore.errors import ServiceUnavailable
from cellstore.protocol.wire import Dispatch
from cellstore.protocol.writer import WRITES
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.server")

#: A database's group commit (``Database.group``).
Group = Callable[[], AbstractContextManager[Any]]

#: Reader threads per process (the writer thread comes on top); each holds at most one pooled connection
#: at a time.  Two, because each runs every read waiting in one snapshot: on the 2-core development VM,
#: loopback PostgreSQL, a GetItem cost 145-150 µs of the front end's CPU with 2 threads, 162 with 4 and
#: 195 with 8 (GIL hand-offs), at about the same rate for 2 and 4 (docs/POSTGRES.md, "Throughput").
THREADS = 2
#: Requests queued beyond the threads before new ones are refused with a retryable 503.
QUEUE = 4096
#: Seconds a request may wait for its answer before the client is told to retry (its outcome then unknown).
TIMEOUT = 60.0

#: The services whose operations run on the threads (SQS stays on the loop: see the module docstring).
OFFLOADED = frozenset({"dynamodb", "streams"})


#: Writes one group commit takes at most (the write lock is held for all of them).
GROUP_MAX = 64
#: Reads one shared snapshot takes at most.
READ_GROUP_MAX = 16


class _Job:
    __slots__ = ("callback", "done", "error", "group", "loop", "result", "work")

    def __init__(self, work: Callable[[], Any], group: Group | None = None) -> None:
        self.work = work
        self.group = group  # its database's group commit (a write) or shared snapshot (a read)
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.callback: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def settled(self) -> bool:
        """Answered or given up on (read under the lock)."""
        return self.done


def _outcome(job: _Job) -> tuple[Any, BaseException | None]:
    try:
        return job.work(), None
    except BaseException as err:  # noqa: BLE001 - raised to the waiting request by _settle
        return None, err


class StorageThreads:
    """``threads`` daemon threads fed from one queue; a ``waiting.Hub`` keyed by job id."""

    def __init__(self, threads: int = THREADS, *, queue_size: int = QUEUE, timeout: float = TIMEOUT) -> None:
        self.timeout = timeout
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queue_size = queue_size
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._writes: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._run, name=f"cellstore-storage-{n}", daemon=True) for n in range(threads)]
        self._threads.append(threading.Thread(target=self._write, name="cellstore-storage-writer", daemon=True))
        #: Group commits run and the writes in them, for tests and benchmark notes.
        self.groups = 0
        self.grouped = 0
        self._started = False
        # Answers ready for the loop, delivered by one scheduled drain per burst.
        self._ready: list[Callable[[], None]] = []
        self._drain_scheduled = False

    def wrap(self, db: Database, dispatchers: dict[str, Dispatch]) -> dict[str, Dispatch]:
        """``server.DISPATCH_WRAPPERS``'s shape: the offloaded services' dispatchers run here."""
        return {
            name: self._offloaded(dispatch, WRITES.get(name, frozenset()), db.group, db.snapshot)
            if name in OFFLOADED
            else dispatch
            for name, dispatch in dispatchers.items()
        }

    def _offloaded(self, dispatch: Dispatch, writes: frozenset[str], group: Group, snapshot: Group) -> Dispatch:
        def offloaded(operation: str, *args: Any) -> Wait:
            if operation in writes:
                return self.submit(lambda: dispatch(operation, *args), group, write=True)
            return self.submit(lambda: dispatch(operation, *args), snapshot)

        return offloaded

    def submit(self, work: Callable[[], Any], group: Group | None = None, *, write: bool = False) -> Wait:
        """Run ``work()`` on a thread: a write on the writer thread, in ``group`` (a group commit) with others.

        A read's ``group`` is its database's shared snapshot, which reads
        waiting together share.  The ``Wait``'s retry returns its result or
        raises its error.
        """
        if not self._started:
            self._start()
        if len(self._jobs) >= self._queue_size:
            raise ServiceUnavailable("The server has too many requests waiting for storage; retry the request.")
        job_id = next(self._ids)
        job = self._jobs[job_id] = _Job(work, group)
        (self._writes if write else self._queue).put(job)
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
        """A reader thread: every read waiting when it looks (up to ``READ_GROUP_MAX``), in one snapshot."""
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < READ_GROUP_MAX:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                batch.append(more)
            snapshot = batch[0].group if len(batch) > 1 else None
            with nullcontext() if snapshot is None else snapshot():
                for job in batch:
                    if self._wanted(job):
                        self._answer(job, *_outcome(job))  # a read is answered at once: nothing to commit

    def _wanted(self, job: _Job) -> bool:
        with self._lock:
            return not job.done  # given up on while queued: never run it

    def _write(self) -> None:
        """The writer thread: every write waiting when it looks, in one group commit."""
        while True:
            job = self._writes.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < GROUP_MAX:
                try:
                    more = self._writes.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._writes.put(None)
                    break
                batch.append(more)
            batch = [job for job in batch if self._wanted(job)]
            answers = self._grouped(batch) if len(batch) > 1 else None
            if answers is None:  # one write, or a spoiled group: each on its own
                answers = [_outcome(job) for job in batch]
            for job, (result, error) in zip(batch, answers, strict=True):
                self._answer(job, result, error)

    def _grouped(self, batch: list[_Job]) -> list[tuple[Any, BaseException | None]] | None:
        """``batch`` in one group commit; None if the group was spoiled (rolled back: run them again alone)."""
        group_of = batch[0].group
        if group_of is None:
            return None
        answers: list[tuple[Any, BaseException | None]] = []
        try:
            with group_of() as group:
                for job in batch:
                    answers.append(_outcome(job))
                    if group.spoiled:
                        break
        except BaseException as err:  # noqa: BLE001 - the COMMIT failed: none of them is acknowledged
            return [(None, err)] * len(batch)
        if group.spoiled:
            return None
        self.groups += 1
        self.grouped += len(batch)
        return answers

    def _answer(self, job: _Job, result: Any, error: BaseException | None) -> None:
        """Hand a finished job's outcome to whoever waits for it: its callback, on its loop."""
        with self._lock:
            if job.settled():  # given up on while it ran: nobody waits for this answer
                return
            job.result, job.error, job.done = result, error, True
            callback, loop = job.callback, job.loop
            job.callback = None
            if callback is None or loop is None:
                return
            self._ready.append(callback)
            if self._drain_scheduled:
                return
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
        """Let the threads end once the queues are drained."""
        if self._started:
            for _ in self._threads:
                self._queue.put(None)
            self._writes.put(None)

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
