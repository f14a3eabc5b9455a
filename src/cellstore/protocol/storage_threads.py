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
it, and a table's description is read once for all of them.  The snapshot
runs them (``Snapshot.run``); on PostgreSQL their reads overlap, each round
trip serving every request waiting on one (``storage/pgoverlap.py``).  A
read is answered as soon as it is done (nothing to commit).

SQS runs here too.  A long-polling ReceiveMessage that finds nothing answers
with a ``Wait`` on the queue's wake-ups; that wait happens on the loop (no
thread is held while it sleeps), and only its next attempt is handed back to
the threads (``_long_poll``).  A send in a group commit notifies before the
group's COMMIT, so a receive woken by it may not see the message yet; the
queue poller (``engine/queues/wakeups.py``, every 50 ms while someone waits)
then wakes it again.

The hand-off is kept lean, as ``cells/bulkhead.py``'s is: each job is its own
``waiting.Hub`` (no table of jobs), the loop settles it with a future and
callbacks (``protocol/app.py``'s ``_handed_off``), answers reach the loop in
batches (one ``call_soon_threadsafe`` for every answer ready while the loop
has not yet run the previous batch), and the ``Wait``'s deadline is infinite:
one timer per loop gives up on every job past ``TIMEOUT`` (``_sweep_on``), so
the loop arms no timer per request.  ``close`` ends the threads (a server's stop).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from cellstore.api import Database
from cellstore.errors import CellstoreError, ServiceUnavailable, SqsServiceUnavailable
from cellstore.protocol.wire import Dispatch
from cellstore.protocol.writer import WRITES, is_write
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.server")

#: A database's group commit (``Database.group``).
Group = Callable[[], AbstractContextManager[Any]]
#: The retryable error a refused or given-up request gets: ``unavailable(service, message)``.
Unavailable = Callable[[str, str], CellstoreError]

#: Reader threads per process (the writer thread comes on top); each holds at most one pooled connection
#: at a time.  Two, because each runs every read waiting in one snapshot: on the 2-core development VM,
#: loopback PostgreSQL, a GetItem cost 145-150 µs of the front end's CPU with 2 threads, 162 with 4 and
#: 195 with 8 (GIL hand-offs), at about the same rate for 2 and 4 (docs/POSTGRES.md, "Throughput").
THREADS = 2
#: Requests waiting for the threads (queued or running) before new ones are refused with a retryable 503.
QUEUE = 4096
#: Seconds a request may wait for its answer before the client is told to retry (its outcome then unknown).
TIMEOUT = 60.0
#: Seconds between looks for requests past their deadline (one timer per event loop while any is pending).
SWEEP = 1.0
#: Seconds ``close`` waits for each thread to end (one stuck in a storage call is left to end by itself).
JOIN_TIMEOUT = 5.0

#: The services whose operations run on the threads: every one (SQS long polls wait on the loop, see the docstring).
OFFLOADED = frozenset({"dynamodb", "streams", "sqs"})


#: Writes one group commit takes at most (the write lock is held for all of them).
GROUP_MAX = 64
#: Reads one shared snapshot takes at most.
READ_GROUP_MAX = 16

#: A job's states: waiting in a queue, running on a thread, settled (answered or given up on).
_QUEUED, _RUNNING, _DONE = 0, 1, 2


class _Job:
    """One engine call, and the ``waiting.Hub`` of the ``Wait`` the loop holds for it (queue id 0: its own hub)."""

    __slots__ = ("callback", "deadline", "error", "group", "loop", "owner", "result", "service", "state", "work")

    def __init__(self, owner: StorageThreads, work: Callable[[], Any], group: Group | None, service: str) -> None:
        self.owner = owner
        self.work = work
        self.group = group  # its database's group commit (a write) or shared snapshot (a read)
        self.service = service
        self.state = _QUEUED
        self.result: Any = None
        self.error: BaseException | None = None
        self.callback: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.deadline = time.monotonic() + owner.timeout

    def answer(self) -> Any:
        """The ``Wait``'s retry: the result, or the error raised (a timeout's is set by the sweep)."""
        if self.state != _DONE:  # not reached through the app (it retries once woken); a caller that did not wait
            with self.owner.lock:
                self.owner.give_up(self)
        if self.error is not None:
            raise self.error
        return self.result

    # waiting.Hub

    def generation(self, queue_id: int) -> int:
        return 1 if self.state == _DONE else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        """For a caller off the loop (not used by the HTTP server): poll until settled or past the job's deadline."""
        deadline = min(deadline, self.deadline)
        while self.state != _DONE and time.monotonic() < deadline:
            time.sleep(0.001)

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop to call back on: the caller blocks instead
            return 0
        with self.owner.lock:
            if self.state != _DONE:
                self.callback, self.loop = callback, loop
        return 0

    def unsubscribe(self, queue_id: int, token: int) -> None:
        self.callback = None  # a late callback finds its future done and does nothing


def _unavailable(service: str, message: str) -> CellstoreError:
    return SqsServiceUnavailable(message) if service == "sqs" else ServiceUnavailable(message)


def _outcome(job: _Job) -> tuple[Any, BaseException | None]:
    try:
        return job.work(), None
    except BaseException as err:  # noqa: BLE001 - raised to the waiting request by _Job.answer
        return None, err


class StorageThreads:
    """Reader threads fed from one queue and a writer thread fed from another; each job its own ``waiting.Hub``.

    A PostgreSQL cell's bulkhead has its own (``cells/bulkhead.py``): then
    ``name`` names its threads, and ``unavailable``, ``busy`` and ``late``
    spell the cell's retryable refusals and timeouts.
    """

    def __init__(
        self, threads: int = THREADS, *, queue_size: int = QUEUE, timeout: float = TIMEOUT,
        name: str = "cellstore-storage", unavailable: Unavailable = _unavailable,
        busy: str = "The server has too many requests waiting for storage; retry the request.",
        late: str = "Storage did not answer in time; retry the request.",
    ) -> None:
        self.timeout = timeout
        self.name = name
        self._unavailable = unavailable
        self._busy = busy
        self._late = late
        self.rejected = 0  # refused: too many waiting
        self.timed_out = 0  # given up on: past ``timeout``, or failed by ``fail_waiting``
        self.lock = threading.Lock()  # a job's state and callback, the answers to deliver, the counters
        self._count = threads
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writes: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queue_size = queue_size
        self._submitted = 0  # jobs submitted (on the loop) ...
        self._settled = 0  # ... and settled (under ``lock``): the difference is the queue's bound
        # Jobs not settled yet, for the sweep: a set, so that a settled job and its answer are let go of
        # at once rather than kept until the next sweep.
        self._pending: set[_Job] = set()
        self._sweeping: set[asyncio.AbstractEventLoop] = set()  # loops with a sweep scheduled
        self._threads: list[threading.Thread] = []
        #: Group commits run and the writes in them, for tests and benchmark notes.
        self.groups = 0
        self.grouped = 0
        self._started = False
        self._start_lock = threading.Lock()
        # Answers ready for each loop, delivered by one scheduled drain per burst.
        self._ready: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}

    def wrap(self, db: Database, dispatchers: dict[str, Dispatch]) -> dict[str, Dispatch]:
        """``server.DISPATCH_WRAPPERS``'s shape: the offloaded services' dispatchers run here."""
        return {
            name: self._offloaded(name, dispatch, WRITES.get(name, frozenset()), db.group, db.snapshot)
            if name in OFFLOADED
            else dispatch
            for name, dispatch in dispatchers.items()
        }

    def _offloaded(self, service: str, dispatch: Dispatch, writes: frozenset[str], group: Group,
                   snapshot: Group) -> Dispatch:
        def offloaded(operation: str, *args: Any) -> Wait:
            write = is_write(writes, operation, args[0] if args else None)  # PartiQL of SELECTs only: a read
            return self.submit(lambda: self._long_poll(dispatch(operation, *args), service, group if write else snapshot, write),
                               group if write else snapshot, write=write, service=service)

        return offloaded

    def _long_poll(self, result: Any, service: str, group: Group, write: bool) -> Any:
        """A long poll's ``Wait`` (a receive that found nothing) waits on the loop; its next attempt runs here.

        The wait itself holds no thread: the loop subscribes to the queue's
        wake-ups as for a server without threads.  Only the retry, the next
        receive, is handed back to the threads when the wait ends.
        """
        if not isinstance(result, Wait) or not result.ends_on_stop:
            return result
        retry = result.retry
        return dataclasses.replace(result, retry=lambda: self.submit(
            lambda: self._long_poll(retry(), service, group, write), group, write=write, service=service))

    def submit(self, work: Callable[[], Any], group: Group | None = None, *, write: bool = False,
               service: str = "dynamodb") -> Wait:
        """Run ``work()`` on a thread: a write on the writer thread, in ``group`` (a group commit) with others.

        A read's ``group`` is its database's shared snapshot, which reads
        waiting together share.  The ``Wait``'s retry returns its result or
        raises its error; its deadline is infinite because one timer per
        loop gives up on every job past ``timeout`` (``_sweep_on``), so the
        loop needs no timer per request.
        """
        if not self._started:
            self._start()
        if self._submitted - self._settled >= self._queue_size:
            self.rejected += 1
            raise self._unavailable(service, self._busy)
        self._submitted += 1
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a caller off the loop: ``Wait.block`` keeps to the job's deadline
            loop = None
        if loop is not None and loop not in self._sweeping:
            self._sweeping.add(loop)
            loop.call_later(SWEEP, self._sweep_on, loop)
        job = _Job(self, work, group, service)
        self._pending.add(job)
        (self._writes if write else self._queue).put(job)
        return Wait(job, 0, 0, math.inf, job.answer, ends_on_stop=False)

    def _start(self) -> None:
        with self._start_lock:
            if not self._started:
                self._threads = [threading.Thread(target=self._run, name=f"{self.name}-{n}", daemon=True)
                                 for n in range(self._count)]
                self._threads.append(threading.Thread(target=self._write, name=f"{self.name}-writer", daemon=True))
                for thread in self._threads:
                    thread.start()
                self._started = True

    def _take(self, source: queue.SimpleQueue[_Job | None], most: int) -> list[_Job] | None:
        """The next job and every other one waiting now (up to ``most``); None to end the thread."""
        job = source.get()
        if job is None:
            return None
        batch = [job]
        while len(batch) < most:
            try:
                more = source.get_nowait()
            except queue.Empty:
                break
            if more is None:
                source.put(None)
                break
            batch.append(more)
        return [job for job in batch if self._wanted(job)]

    def _run(self) -> None:
        """A reader thread: every read waiting when it looks (up to ``READ_GROUP_MAX``), in one snapshot."""
        while (batch := self._take(self._queue, READ_GROUP_MAX)) is not None:
            snapshot = batch[0].group if batch else None
            if snapshot is None:
                for job in batch:
                    self._answer(job, *_outcome(job))
                continue
            # Even one read: in the snapshot it may guess its table's description (one round trip, not two).
            with snapshot() as shared:  # each read is answered as soon as it is done: nothing to commit
                shared.run([job.work for job in batch], self._answering(batch))

    def _answering(self, batch: list[_Job]) -> Callable[[int, Any, BaseException | None], None]:
        """A shared snapshot's ``answer``: the outcome of the ``index``-th work is ``batch[index]``'s."""
        return lambda index, result, error: self._answer(batch[index], result, error)

    def _wanted(self, job: _Job) -> bool:
        with self.lock:
            if job.state != _QUEUED:  # given up on while queued: never run it
                return False
            job.state = _RUNNING
            return True

    def _write(self) -> None:
        """The writer thread: every write waiting when it looks, in one group commit."""
        while (batch := self._take(self._writes, GROUP_MAX)) is not None:
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
        """Settle a finished job and hand it to whoever waits for it: its callback, on its loop."""
        with self.lock:
            if job.state == _DONE:  # given up on while it ran: nobody waits for this answer
                return
            job.result, job.error, job.state = result, error, _DONE
            self._settled += 1
            self._pending.discard(job)
        self._deliver(job)

    def _deliver(self, job: _Job) -> None:
        """Queue ``job``'s callback for its loop; wake the loop only if it has no batch of answers pending."""
        with self.lock:
            callback, loop = job.callback, job.loop
            job.callback = None
            if callback is None or loop is None:
                return
            ready = self._ready.get(loop)
            if ready is not None:
                ready.append(callback)
                return
            self._ready[loop] = [callback]
        try:
            loop.call_soon_threadsafe(self._drain, loop)
        except RuntimeError:  # the loop closed: nobody is left to answer
            with self.lock:
                self._ready.pop(loop, None)

    def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: run every answer's callback that is ready."""
        with self.lock:
            ready = self._ready.pop(loop, [])
        for callback in ready:
            callback()

    def _sweep_on(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``, every ``SWEEP`` seconds while jobs are pending: one timer for all of them.

        On the loop rather than a storage thread, so that jobs are given up
        on even while every thread is stuck in a call to a hung server.
        """
        self._sweep()
        if self._submitted - self._settled > 0 and not loop.is_closed():
            loop.call_later(SWEEP, self._sweep_on, loop)
        else:
            self._sweeping.discard(loop)

    def _sweep(self) -> None:
        """Give up on every job past its deadline (its outcome unknown to the client: a retryable 503)."""
        now = time.monotonic()
        late: list[_Job] = []
        with self.lock:
            for job in list(self._pending):
                if job.deadline <= now and self.give_up(job):
                    late.append(job)
        for job in late:
            self._deliver(job)

    def give_up(self, job: _Job) -> bool:
        """Under ``lock``: settle ``job`` with a retryable timeout error, unless settled already (False).

        Still queued, it will never run; running, it may still commit: its
        outcome is unknown to the client, as for any 5xx.
        """
        return self._settle_unavailable(job, self._late)

    def _settle_unavailable(self, job: _Job, message: str) -> bool:
        """Under ``lock``: settle ``job`` with a retryable error saying ``message``, unless settled already (False)."""
        if job.state == _DONE:
            return False
        job.state = _DONE
        job.error = self._unavailable(job.service, message)
        self._settled += 1
        self.timed_out += 1
        self._pending.discard(job)
        return True

    def fail_waiting(self, message: str) -> int:
        """Answer every request not settled yet with a retryable error now (a cell's probe found it unhealthy).

        One still queued will never run; one running may still commit: its
        outcome is unknown to the client, as after a timeout.  Returns how
        many were failed.
        """
        with self.lock:
            failed = [job for job in list(self._pending) if self._settle_unavailable(job, message)]
        for job in failed:
            self._deliver(job)
        return len(failed)

    @property
    def waiting(self) -> int:
        """Requests handed over and not settled yet (queued or running): what ``queue_size`` bounds."""
        return self._submitted - self._settled

    def close(self) -> None:
        """End the threads once the queues are drained; a later ``submit`` starts new ones."""
        with self._start_lock:
            if not self._started:
                return
            self._started = False
            threads, self._threads = self._threads, []
            for _ in range(self._count):
                self._queue.put(None)
            self._writes.put(None)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(JOIN_TIMEOUT)
