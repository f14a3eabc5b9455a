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

The hand-off is the router's whole cost per request, so it is kept lean
(docs/CELLS.md, "The router's cost"): a C ``SimpleQueue`` with a counter for
its bound instead of ``queue.Queue``'s condition variables; each job is its
own ``waiting.Hub`` (generation 0 while it runs, 1 once done), so there is
no table of jobs to look ids up in; the ``Wait`` does not end on a server's
stop (``ends_on_stop=False``: only the cell's answer says what happened), so
the app settles it with a future and callbacks rather than a Task; and
answers go back to the event loop in batches — a worker that finishes a job
while the loop has not yet run the previous batch adds to it instead of
waking the loop again (one ``call_soon_threadsafe`` for many answers when
the loop is busy).  A thread waiting for an answer (``call``, the mover,
``cells status``) gets a ``threading.Event`` made only for it.

A PostgreSQL cell's bulkhead has a second lane: ``storage``, the cell's
own ``protocol/storage_threads.StorageThreads`` — reader threads that run
the reads waiting together in one shared snapshot, their round trips
overlapped (``storage/pgoverlap.py``), and a writer thread that runs the
writes waiting together in one group commit — the same machinery a
one-backend PostgreSQL server runs on (docs/POSTGRES.md, "Throughput").
The router hands an account's operations to that lane from the event loop
(``Router._send``: calling the account's dispatch only queues the work)
once the account's database is open here; everything else (opening it, the
health probe, the authorizer's key-schema reads, ``call``) runs on the
bulkhead's own thread.  The lane keeps the bulkhead's guarantees with its
own bound and timeout (the same ``queue_size`` and ``timeout``, refused and
given up on with ``CellUnavailable``), ``fail_waiting`` fails its requests
too, and ``close`` ends its threads.  Two hand-off machines remain, rather
than one bulkhead with lanes, because the grouping lanes need to know a
request's database and whether it writes (``StorageThreads.wrap``, which a
one-backend server uses as it is), while the bulkhead runs any closure; an
SQLite cell gains nothing from grouping on threads (its calls take
microseconds and never wait; its writes go to its writer process).

And the cell's threads run on the same CPU as the event loop that feeds
them (``Bulkhead._colocate``).  Measured, that is most of the cost: with the loop on
one core and the cell's thread on another, every hand-off and every GIL
hand-over inside a storage call woke a sleeping core (an inter-processor
interrupt, dear on a virtual machine) — 3-5 context switches and +20-120%
CPU per PutItem; on one core the same work cost no more than the loop doing
it alone.  It does not weaken the bulkhead: a hung cell's thread sleeps in
a system call and takes no CPU, and a busy one shares the core with the loop
by the kernel's fair scheduling, never holding the loop.  Only a server of
one worker does it (``COLOCATE``, set by ``serve``): with ``--workers 2`` on
two cores, workers pinned one per core cost *more* CPU per request (250
against 175-210 µs) — likely because the worker holding a cell's write
lock (SQLite's, or PostgreSQL's advisory lock) then waits for the GIL
behind its own loop on its one core while the other worker waits for the
lock (not proven; measured only).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from cellstore.errors import CellstoreError, ServiceUnavailable, SqsServiceUnavailable
from cellstore.protocol.storage_threads import StorageThreads
from cellstore.waiting import Wait

#: Defaults per cell: threads, queued requests beyond them, seconds a request may wait in all.
#: One thread: a busy thread drains the queue without a wake-up per request, which keeps the
#: router's hand-off cheap (bench/cells_router.py; 16 threads cost +45-75% of a request's CPU), and
#: a front end's event loop ran everything one at a time before cells anyway.  ``threads`` in
#: cells.toml raises it for a cell (a PostgreSQL cell with slow queries, say).
THREADS = 1
QUEUE = 256
TIMEOUT = 10.0

#: A job's states: waiting in the queue, running on a thread, settled (answered, failed or given up on).
_QUEUED, _RUNNING, _DONE = 0, 1, 2


#: Keep each cell's threads on the CPU of the event loop thread that submits to it (see the module docstring).
#: ``serve --cells --workers 1`` turns it on; off elsewhere (see the docstring for why not with more workers,
#: and an embedded server must not pin its host's threads).
COLOCATE = False


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on now (Linux: /proc/thread-self/stat's 39th field), or None."""
    try:
        with open("/proc/thread-self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return int(fields[36])  # fields from the 3rd on: processor is the 39th
    except (OSError, IndexError, ValueError):
        return None


_loop_cpus: dict[tuple[int, int], set[int]] = {}  # (pid, thread id) of an event loop thread -> the CPU it keeps to
def loop_cpus() -> set[int] | None:
    """Pin the calling (event loop) thread to the CPU it runs on now, once; the set of that CPU, or None.

    None where affinity cannot be set (not Linux, one CPU allowed anyway):
    then nothing is pinned.
    """
    key = (os.getpid(), threading.get_ident())
    found = _loop_cpus.get(key)
    if found is not None:
        return found
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        return None
    cpu = _current_cpu()
    if len(allowed) < 2 or cpu is None or cpu not in allowed:
        return None
    try:
        os.sched_setaffinity(0, {cpu})  # 0: this thread
    except OSError:
        return None
    _loop_cpus[key] = {cpu}
    return _loop_cpus[key]


class CellUnavailable(ServiceUnavailable):
    """This request's cell is not answering in time (busy, hung or down): retry later (503)."""


class SqsCellUnavailable(SqsServiceUnavailable):
    """SQS's spelling of ``CellUnavailable``."""


def unavailable(service: str, message: str) -> CellstoreError:
    """The retryable error ``service`` reports when a cell cannot answer."""
    return SqsCellUnavailable(message) if service == "sqs" else CellUnavailable(message)


class _Job:
    """One piece of work for a cell, and the ``waiting.Hub`` of the ``Wait`` its caller holds."""

    __slots__ = ("bulkhead", "callback", "error", "event", "loop", "result", "service", "state", "then", "work")

    def __init__(self, bulkhead: Bulkhead, work: Callable[[], Any], service: str,
                 then: Callable[[Any], Any] | None) -> None:
        self.bulkhead = bulkhead
        self.work = work
        self.service = service
        self.then = then
        self.state = _QUEUED
        self.result: Any = None
        self.error: BaseException | None = None
        self.callback: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where ``callback`` must run
        self.event: threading.Event | None = None  # made only for a thread that blocks on it

    def answer(self) -> Any:
        """The ``Wait``'s retry: the result (or ``then(result)``), the error raised, or a timeout's 503."""
        bulkhead = self.bulkhead
        with bulkhead.lock:
            if self.state != _DONE:
                # Given up on.  Still queued: it will never run (the client is told to retry,
                # so running it later would surprise it).  Running: its outcome is unknown.
                self.state = _DONE
                self.callback = None
                bulkhead.given_up += 1
                gave_up = True
            else:
                gave_up = False
            bulkhead.pending.discard(self)
        if gave_up:
            raise unavailable(self.service, f"Cell {bulkhead.name} did not answer in time; retry the request.")
        if self.error is not None:
            raise self.error
        return self.result if self.then is None else self.then(self.result)

    # waiting.Hub (the queue id is always 0: the job is its own hub)

    def generation(self, queue_id: int) -> int:
        return 1 if self.state == _DONE else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        with self.bulkhead.lock:
            if self.state == _DONE:
                return
            if self.event is None:
                self.event = threading.Event()
            event = self.event
        event.wait(max(0.0, deadline - time.monotonic()))

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # a thread without a loop: the callback runs on the cell's thread
            loop = None
        with self.bulkhead.lock:
            if self.state != _DONE:
                self.callback, self.loop = callback, loop
        return 0

    def unsubscribe(self, queue_id: int, token: int) -> None:
        with self.bulkhead.lock:
            self.callback = None


class Bulkhead:
    """``threads`` daemon threads of one cell, fed from a queue of at most ``queue_size`` jobs (and ``storage``'s lane)."""

    def __init__(self, name: str, *, threads: int = THREADS, queue_size: int = QUEUE, timeout: float = TIMEOUT,
                 storage: StorageThreads | None = None) -> None:
        self.name = name
        #: A PostgreSQL cell's reader and writer threads (see the module docstring), or None.
        self.storage = storage
        self.timeout = timeout
        self.queue_size = queue_size
        self.lock = threading.Lock()  # a job's state and callback, the counters, the answers to deliver
        self.pending: set[_Job] = set()  # jobs somebody waits for, until settled
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._queued_count = 0  # jobs in ``_queue`` (its bound), kept under ``lock``
        self._ready: dict[asyncio.AbstractEventLoop, list[Callable[[], None]]] = {}
        self._threads = [
            threading.Thread(target=self._run, name=f"cell-{name}-{n}", daemon=True) for n in range(threads)
        ]
        self._started = False
        self._colocated = not COLOCATE
        self._start_lock = threading.Lock()
        self.busy = 0  # jobs running now
        self.rejected = 0  # refused: queue full (``storage``'s refusals are counted by the router)
        self.given_up = 0  # given up on after ``timeout`` (``timed_out`` adds ``storage``'s)

    def _start(self) -> None:
        """The threads start with the first job: a supervisor that opens and closes a deployment before it forks starts none."""
        with self._start_lock:
            if not self._started:
                self._started = True
                for thread in self._threads:
                    thread.start()

    def _colocate(self) -> None:
        """On the first submit from an event loop thread: pin this cell's threads to that loop's CPU."""
        self._colocated = True
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not a loop's thread (the mover, a test): leave the threads free
            self._colocated = False
            return
        cpus = loop_cpus()
        if cpus is None:
            return
        for thread in self._threads:
            if thread.native_id is not None:
                try:
                    os.sched_setaffinity(thread.native_id, cpus)
                except OSError:
                    return

    def _enqueue(self, job: _Job) -> bool:
        with self.lock:
            if self._queued_count >= self.queue_size:
                return False
            self._queued_count += 1
            if job.service:  # somebody waits for it
                self.pending.add(job)
        self._queue.put(job)
        return True

    def submit(self, work: Callable[[], Any], service: str, then: Callable[[Any], Any] | None = None) -> Wait:
        """Run ``work()`` on this cell's threads; the ``Wait`` settles with its result (or its error, raised).

        With ``then``, the ``Wait``'s retry returns ``then(result)`` instead,
        run by whoever settles it (the event loop): how the router chains a
        placement, a re-route after a move, or a long poll's next attempt.
        """
        if not self._started:
            self._start()
        if not self._colocated:
            self._colocate()
        job = _Job(self, work, service, then)
        if not self._enqueue(job):
            self.rejected += 1
            raise unavailable(service, f"Cell {self.name} is overloaded or not answering; retry the request.")
        return Wait(job, 0, 0, time.monotonic() + self.timeout, job.answer, False)

    def post(self, work: Callable[[], Any]) -> bool:
        """Queue ``work()`` with nobody waiting for its result (a warm-up, a health probe); False if the queue is full."""
        if not self._started:
            self._start()
        return self._enqueue(_Job(self, work, "", None))

    def call(self, work: Callable[[], Any], service: str = "dynamodb") -> Any:
        """``work()`` on this cell's threads, waited for here (for callers off the event loop: the mover, status)."""
        result: Any = self.submit(work, service)
        while isinstance(result, Wait):
            result.block()
            result = result.retry()
        return result

    def fail_waiting(self, message: str) -> int:
        """Answer every request waiting on this cell with a retryable error now (the cell went unhealthy).

        A request still queued will never run.  One already running in the
        cell is answered now, as a timeout would answer it, and its outcome
        is the storage's to decide (its thread finishes when the storage
        answers and its result is dropped).  Returns how many were failed.
        """
        failed = 0 if self.storage is None else self.storage.fail_waiting(message)
        with self.lock:
            jobs = list(self.pending)
        for job in jobs:
            with self.lock:
                if job.state == _DONE:
                    continue
                job.state = _DONE
                job.error = unavailable(job.service, message)
                self.pending.discard(job)
            self._answered(job)
            failed += 1
        return failed

    def _answered(self, job: _Job) -> None:
        """Wake whoever waits for ``job`` (now settled): its thread, or its loop in a batch."""
        with self.lock:
            callback, job.callback = job.callback, None
            loop, event = job.loop, job.event
            deliver = False
            if callback is not None and loop is not None:
                ready = self._ready.get(loop)
                if ready is None:  # the loop has no batch waiting: start one and wake it
                    ready = self._ready[loop] = []
                    deliver = True
                ready.append(callback)
                callback = None
        if event is not None:
            event.set()
        if deliver and loop is not None:
            try:
                loop.call_soon_threadsafe(self._deliver, loop)
            except RuntimeError:  # the loop closed: nobody is left to answer
                with self.lock:
                    self._ready.pop(loop, None)
        elif callback is not None:  # subscribed from a thread without a loop
            callback()

    def _deliver(self, loop: asyncio.AbstractEventLoop) -> None:
        """On ``loop``: run every answer's callback gathered since it was woken."""
        with self.lock:
            ready = self._ready.pop(loop, [])
        for callback in ready:
            callback()

    def _run(self) -> None:
        get, lock = self._queue.get, self.lock
        while True:
            job = get()
            if job is None:
                return
            with lock:
                self._queued_count -= 1
                if job.state != _QUEUED:  # failed or given up on while queued: never run it
                    continue
                job.state = _RUNNING
            self.busy += 1
            try:
                result, error = job.work(), None
            except BaseException as err:  # noqa: BLE001 - handed to the waiting request, raised there
                result, error = None, err
            finally:
                self.busy -= 1
            with lock:
                if job.state == _DONE:  # given up on while it ran: nobody is waiting for this answer
                    continue
                job.result, job.error, job.state = result, error, _DONE
                self.pending.discard(job)
            if job.service:
                self._answered(job)

    def close(self) -> None:
        """Let the threads end once the queue is drained (a stuck one stays until its call returns)."""
        if self.storage is not None:
            self.storage.close()
        if not self._started:
            return
        for _ in self._threads:
            self._queue.put(None)

    @property
    def queued(self) -> int:
        """Jobs waiting for the bulkhead's threads, and requests handed to ``storage`` not answered yet."""
        return self._queued_count + (0 if self.storage is None else self.storage.waiting)

    @property
    def timed_out(self) -> int:
        """Requests given up on after ``timeout`` (or failed by ``fail_waiting``), in both lanes."""
        return self.given_up + (0 if self.storage is None else self.storage.timed_out)
