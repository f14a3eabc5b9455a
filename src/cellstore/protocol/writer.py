"""One writer per SQLite database: ``serve --workers N`` workers hand their writes to one process.

SQLite has one writer at a time.  With every worker writing for itself the
workers took turns on an ``flock``, and a worker waiting for it had its whole
event loop stopped: a second worker added nothing to PutItem and halved the
SQS cycle rate (docs/BENCHMARKS.md).  Here the supervisor starts one more
process, the *writer*, which owns the database's write path; a worker still
parses, validates the head, authenticates and authorizes every request and
serves reads from its own snapshot, but sends each write operation (the
operation name and its payload — option (a) of issue 16) to the writer over a
Unix socket and awaits the answer without blocking its loop.  The writer runs
the operation through the same ``api`` dispatch as an in-process server, so
conditions, transactions and the change hooks (indexes, TTL, streams) run
exactly as before, in the item's own storage transaction, serialised by
being in one process.

The hand-off is a stream socket with a compact frame (a 4-byte length, a
4-byte request id, for answers a 1-byte kind, then orjson); see
docs/ARCHITECTURE.md "Write path" for why a socket rather than a shared
memory ring.  The worker's side is a ``waiting.Hub``: a handed-off write
comes back from ``dispatch`` as a ``Wait`` on its request id, so the HTTP
server awaits it through the same path as a long-polling ReceiveMessage, and
``retry`` gives the answer once it is in.

Failure: an answer is sent only after the writer's storage transaction has
committed, so acknowledged still means durable.  If the writer dies (kill -9)
every write in flight on a worker fails with a retryable 503, never a false
success; the supervisor starts a new writer on the same listening socket and
the workers reconnect on their next write.  If a worker dies mid-hand-off
the writer finishes (and commits) what it was sent, the same outcome as a
worker dying just after its own commit, and drops the connection.

Group commit: the writer reads every request that has arrived before it
starts work and, when more than one is waiting, runs them in one storage
transaction (``Store.group``) and answers them all after its one COMMIT.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

import orjson

from cellstore.errors import (
    CellstoreError,
    InternalServerError,
    ServiceUnavailable,
    SqsServiceUnavailable,
    TenantMoved,
)
from cellstore.protocol import wire
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.writer")

#: The operations a worker hands to the writer: every one that may write.
#: Anything else runs in the worker on its own snapshot (an operation left
#: out by mistake would still be correct: storage serialises its writes).
WRITES: Mapping[str, frozenset[str]] = {
    "dynamodb": frozenset({
        "BatchWriteItem", "CreateTable", "DeleteItem", "DeleteTable", "PutItem", "TagResource",
        "TransactWriteItems", "UntagResource", "UpdateItem", "UpdateTable", "UpdateTimeToLive",
    }),
    "sqs": frozenset({
        "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "CreateQueue",
        "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "PurgeQueue", "ReceiveMessage", "SendMessage",
        "SendMessageBatch", "SetQueueAttributes", "StartMessageMoveTask", "TagQueue", "UntagQueue",
    }),
}

#: Seconds a worker waits for an answer before it gives up with a retryable
#: error.  A long-polling ReceiveMessage waits up to 20 s inside the writer,
#: and a dead writer is noticed at once (the socket ends), so this only
#: bounds a writer that is alive but stuck.
ANSWER_TIMEOUT = 60.0

_REQUEST = struct.Struct("<II")  # body length, request id
_ANSWER = struct.Struct("<IIB")  # body length, request id, kind
_OK, _ERROR = 0, 1
_READ_SIZE = 1 << 18


class _Reader:
    """One buffer that every read of a socket lands in (``recv_into``), reused.

    ``sock.recv(_READ_SIZE)`` allocates a 256 KiB bytes object per call —
    above malloc's mmap threshold, so an mmap, an mremap to shrink it and a
    munmap each time: 16 µs per read against 3 µs for ``recv_into`` on this
    machine, once per round in the writer and once per loop turn in a worker.
    """

    __slots__ = ("_buffer", "_view")

    def __init__(self) -> None:
        self._buffer = bytearray(_READ_SIZE)
        self._view = memoryview(self._buffer)

    def read(self, sock: socket.socket) -> memoryview:
        """What ``sock`` has (empty at end of file), valid until the next read; raises as ``recv`` does."""
        return self._view[: sock.recv_into(self._view)]


def _unavailable(service: str) -> CellstoreError:
    """The retryable error of ``service`` for a write whose outcome the worker cannot know."""
    if service == "sqs":
        return SqsServiceUnavailable("The writer process is unavailable; retry the request.")
    return ServiceUnavailable("The writer process is unavailable; retry the request.")


def listen() -> socket.socket:
    """The writer's listening socket, made by the supervisor so that it outlives any one writer.

    Linux's abstract namespace keeps the address out of the file system (no
    stale socket file, no 108-byte path limit); elsewhere a private temporary
    directory holds it.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    token = os.urandom(8).hex()
    if sys.platform.startswith("linux"):
        sock.bind(f"\0cellstore-writer-{os.getpid()}-{token}")
    else:
        sock.bind(os.path.join(tempfile.mkdtemp(prefix="cellstore-"), "writer.sock"))
    sock.listen(128)
    return sock


# --- the worker's side ------------------------------------------------------------------------


class _Pending:
    __slots__ = ("abandoned", "answer", "callback", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self.answer: tuple[int, bytes] | CellstoreError | None = None
        self.callback: Callable[[], None] | None = None
        #: Nobody waits any more (deadline, or the client went away): the answer is dropped when it comes.
        self.abandoned = False


def _result(pending: _Pending | _SharedPending) -> Any:
    """A settled hand-off's result: the operation's answer decoded, or its error raised."""
    answer = pending.answer
    if answer is None:  # the deadline passed with no answer
        raise _unavailable(pending.service)
    if isinstance(answer, CellstoreError):
        raise answer
    kind, body = answer
    if kind == _OK:
        return orjson.loads(body)
    raise _error_from(orjson.loads(body))


class WriterClient:
    """A worker's end of the hand-off: wraps services so that their writes go to the writer.

    It is the ``waiting.Hub`` of the ``Wait`` a handed-off write returns,
    keyed by request id: ``generation`` moves from 0 to 1 when the answer is
    in, ``subscribe`` is how the HTTP server's loop hears of it.  All of it
    runs on the worker's event loop thread (the socket is read by a loop
    reader), so it needs no lock.
    """

    def __init__(self, address: str | bytes) -> None:
        self._address = address
        self._sock: socket.socket | None = None
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._loop: Any = None
        self._waiting_writable = False  # a loop writer is registered for the socket
        self._reader = _Reader()

    def wrap(self, services: Mapping[str, wire.Service], account: str) -> dict[str, wire.Service]:
        """``account``'s ``services`` with each one's write operations sent to the writer."""
        wrapped = {}
        for name, service in services.items():
            writes = WRITES.get(name)
            if writes:
                dispatch = self._dispatcher(name, service.dispatch, writes, account)
                service = wire.Service(dispatch, service.operations, service.needs_endpoint, service.resources)
            wrapped[name] = service
        return wrapped

    def _dispatcher(self, name: str, local: wire.Dispatch, writes: frozenset[str], account: str) -> wire.Dispatch:
        def dispatch(operation: str, payload: dict[str, Any], endpoint: str | None = None) -> Any:
            if operation not in writes:
                return local(operation, payload) if endpoint is None else local(operation, payload, endpoint)
            return self.send(name, operation, payload, endpoint, account)

        return dispatch

    def send(
        self, service: str, operation: str, payload: dict[str, Any], endpoint: str | None, account: str
    ) -> Wait:
        """Hand one of ``account``'s operations to the writer; the ``Wait`` settles with its answer."""
        self._next_id = request_id = (self._next_id + 1) & 0xFFFFFFFF
        pending = _Pending(service)
        self._pending[request_id] = pending
        body = orjson.dumps((service, operation, endpoint, payload, account))
        try:
            self._write(_REQUEST.pack(len(body), request_id) + body)
        except OSError:
            log.warning("the writer process is unreachable", exc_info=True)
            self._disconnect()
        # Only a long poll may be cut short by a stopping worker (it answers "nothing found", and a message
        # the writer claims for it later stays invisible for its visibility timeout, no longer); any other
        # write is answered with what the writer did, which the writer sends before it stops.
        return Wait(self, request_id, 0, time.monotonic() + ANSWER_TIMEOUT, lambda: self._settle(request_id),
                    ends_on_stop=operation == "ReceiveMessage")

    def _settle(self, request_id: int) -> Any:
        """The answer to ``request_id``: the operation's result, or its error raised."""
        pending = self._pending.pop(request_id, None)
        if pending is None:  # settled twice: a bug, never a made-up success
            raise InternalServerError()
        return _result(pending)

    def close(self) -> None:
        """Drop the connection (the worker is stopping); writes still in flight fail retryably."""
        self._disconnect()

    # waiting.Hub

    def generation(self, queue_id: int) -> int:
        pending = self._pending.get(queue_id)
        return 1 if pending is None or pending.answer is not None else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        """Wait for an answer on this thread (no event loop is reading the socket)."""
        while self.generation(queue_id) == generation and time.monotonic() < deadline:
            sock = self._sock
            if sock is None:
                return
            sock.setblocking(True)
            sock.settimeout(max(0.0, deadline - time.monotonic()))
            data: memoryview | bytes | None
            try:
                data = self._reader.read(sock)
            except (TimeoutError, BlockingIOError):
                data = None
            except OSError:
                data = b""
            finally:
                if self._sock is sock:
                    sock.setblocking(False)
            if data is None:
                return
            self._received(data)

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        pending = self._pending.get(queue_id)
        if pending is not None:
            pending.callback = callback
        return queue_id

    def unsubscribe(self, queue_id: int, token: int) -> None:
        pending = self._pending.get(queue_id)
        if pending is None:
            return
        pending.callback = None
        if pending.answer is None:
            # Given up on (deadline, or the client went away): an answer that
            # comes later is dropped, and ``_settle`` reports the timeout.
            pending.abandoned = True

    # the socket

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._address)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._loop = _running_loop()
        if self._loop is not None:
            self._loop.add_reader(sock.fileno(), self._readable)
        return sock

    def _write(self, frame: bytes) -> None:
        """Queue a frame; the queue goes out once per loop turn, so one send carries a turn's requests."""
        sock = self._sock or self._connect()
        was_empty = not self._outbuf
        self._outbuf += frame
        if self._loop is None:  # no loop (a thread using ``block``): send it now
            sock.setblocking(True)
            try:
                sock.sendall(self._outbuf)
            finally:
                sock.setblocking(False)
            self._outbuf.clear()
        elif was_empty and not self._waiting_writable:
            self._loop.call_soon(self._writable)

    def _writable(self) -> None:
        sock = self._sock
        if sock is None or not self._outbuf:
            return
        try:
            sent = sock.send(self._outbuf)
        except BlockingIOError:
            sent = 0
        except OSError:
            log.warning("the writer process is unreachable", exc_info=True)
            self._disconnect()
            return
        del self._outbuf[:sent]
        if self._outbuf and not self._waiting_writable:
            self._waiting_writable = True
            self._loop.add_writer(sock.fileno(), self._writable)
        elif not self._outbuf and self._waiting_writable:
            self._waiting_writable = False
            self._loop.remove_writer(sock.fileno())

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        data: memoryview | bytes
        try:
            data = self._reader.read(sock)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self._received(data)

    def _received(self, data: bytes | memoryview) -> None:
        if not data:
            log.error("the writer process went away; failing %d writes in flight", len(self._pending))
            self._disconnect()
            return
        buf = self._inbuf
        buf += data
        offset = 0
        end = len(buf)
        pending_map = self._pending
        while end - offset >= _ANSWER.size:
            length, request_id, kind = _ANSWER.unpack_from(buf, offset)
            start = offset + _ANSWER.size
            if end - start < length:
                break
            offset = start + length
            pending = pending_map.get(request_id)
            if pending is None:
                continue
            if pending.abandoned:
                del pending_map[request_id]
                continue
            pending.answer = (kind, bytes(buf[start:offset]))
            if pending.callback is not None:
                pending.callback()
        del buf[:offset]

    def _disconnect(self) -> None:
        """Forget the connection; every write in flight fails with a retryable error."""
        sock, self._sock = self._sock, None
        if sock is not None:
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
                if self._waiting_writable:
                    self._loop.remove_writer(sock.fileno())
            sock.close()
        self._waiting_writable = False
        self._inbuf.clear()
        self._outbuf.clear()
        for request_id, pending in list(self._pending.items()):
            if pending.abandoned:
                del self._pending[request_id]
            elif pending.answer is None:
                pending.answer = _unavailable(pending.service)
                if pending.callback is not None:
                    pending.callback()


class _SharedPending:
    __slots__ = ("abandoned", "answer", "callback", "event", "loop", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self.answer: tuple[int, bytes] | CellstoreError | None = None
        self.callback: Callable[[], None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # where ``callback`` must run
        self.event: threading.Event | None = None  # made only for a thread that blocks on it
        self.abandoned = False


class SharedWriterClient:
    """A worker's end of the hand-off to a *cell's* writer: any thread may send on it (``serve --cells``).

    A cell's requests run on its bulkhead's threads (``cells/bulkhead.py``),
    never on the event loop, so a write is handed off from such a thread:
    the frame is sent there (blocking at most until the socket takes it,
    which holds only that cell's thread), and a reader thread of this client
    takes the answers in and calls each waiter back on the event loop it
    subscribed from, as a bulkhead job does.  The frames, the writer and the
    failure rules are ``WriterClient``'s: a writer that dies fails the
    writes in flight with a retryable 503, never a false success, and the
    next write connects again (to the replacement the supervisor started on
    the same listening socket).
    """

    def __init__(self, address: str | bytes, *, timeout: float = ANSWER_TIMEOUT) -> None:
        self._address = address
        self._timeout = timeout
        self._lock = threading.Lock()  # the socket, the pending answers, the request ids
        self._sock: socket.socket | None = None
        self._pending: dict[int, _SharedPending] = {}
        self._next_id = 0

    def wrap(self, services: Mapping[str, wire.Service], account: str) -> dict[str, wire.Service]:
        """``account``'s ``services`` with each one's write operations sent to the writer."""
        wrapped = {}
        for name, service in services.items():
            writes = WRITES.get(name)
            if writes:
                dispatch = _dispatcher(self.send, name, service.dispatch, writes, account)
                service = wire.Service(dispatch, service.operations, service.needs_endpoint, service.resources)
            wrapped[name] = service
        return wrapped

    def send(
        self, service: str, operation: str, payload: dict[str, Any], endpoint: str | None, account: str
    ) -> Wait:
        """Hand one of ``account``'s operations to the writer; the ``Wait`` settles with its answer."""
        body = orjson.dumps((service, operation, endpoint, payload, account))
        pending = _SharedPending(service)
        woken: _Woken = {}
        with self._lock:
            self._next_id = request_id = (self._next_id + 1) & 0xFFFFFFFF
            self._pending[request_id] = pending
            try:
                sock = self._sock or self._connect()
                sock.sendall(_REQUEST.pack(len(body), request_id) + body)
            except OSError:
                log.warning("the cell's writer process is unreachable", exc_info=True)
                if self._sock is None:  # never connected: this write fails at once
                    pending.answer = _unavailable(service)
                self._disconnect(self._sock, woken)
        self._wake(woken)
        # A long poll waits inside the writer for up to 20 s before its answer comes.
        timeout = self._timeout + (20.0 if operation == "ReceiveMessage" else 0.0)
        return Wait(self, request_id, 0, time.monotonic() + timeout, lambda: self._settle(request_id),
                    ends_on_stop=False)

    def _settle(self, request_id: int) -> Any:
        with self._lock:
            pending = self._pending.pop(request_id, None)
        if pending is None:  # settled twice: a bug, never a made-up success
            raise InternalServerError()
        return _result(pending)

    def close(self) -> None:
        """Drop the connection (the worker is stopping); writes still in flight fail retryably."""
        woken: _Woken = {}
        with self._lock:
            self._disconnect(self._sock, woken)
        self._wake(woken)

    # waiting.Hub

    def generation(self, queue_id: int) -> int:
        pending = self._pending.get(queue_id)
        return 1 if pending is None or pending.answer is not None else 0

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        with self._lock:
            pending = self._pending.get(queue_id)
            if pending is None or pending.answer is not None:
                return
            if pending.event is None:
                pending.event = threading.Event()
            event = pending.event
        event.wait(max(0.0, deadline - time.monotonic()))

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int:
        loop = _running_loop()
        with self._lock:
            pending = self._pending.get(queue_id)
            if pending is not None and pending.answer is None:
                pending.callback, pending.loop = callback, loop
        return queue_id

    def unsubscribe(self, queue_id: int, token: int) -> None:
        with self._lock:
            pending = self._pending.get(queue_id)
            if pending is None:
                return
            pending.callback = None
            if pending.answer is None:
                pending.abandoned = True  # an answer that comes later is dropped

    # the socket (called with the lock held)

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self._address)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        threading.Thread(target=self._read_answers, args=(sock,), name="cellstore-writer-answers",
                         daemon=True).start()
        return sock

    def _disconnect(self, sock: socket.socket | None, woken: _Woken) -> None:
        """Forget ``sock`` (if still the connection); every write in flight fails with a retryable error
        (its waiter joins ``woken``: call ``_wake`` once the lock is released)."""
        if sock is None or sock is not self._sock:
            return
        self._sock = None
        try:
            sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
        except OSError:
            pass
        sock.close()
        for request_id, pending in list(self._pending.items()):
            if pending.abandoned:
                del self._pending[request_id]
            elif pending.answer is None:
                self._answered(pending, _unavailable(pending.service), woken)

    @staticmethod
    def _answered(pending: _SharedPending, answer: tuple[int, bytes] | CellstoreError, woken: _Woken) -> None:
        """Record ``answer``; its waiter's callback joins ``woken``, called once the lock is released."""
        pending.answer = answer
        if pending.event is not None:
            pending.event.set()
        callback = pending.callback
        if callback is not None:
            pending.callback = None
            woken.setdefault(pending.loop, []).append(callback)

    @staticmethod
    def _wake(woken: _Woken) -> None:
        """Call back the waiters: on each loop once for all of its answers (one wake-up of a busy loop, not
        one per answer, as the bulkhead batches its own), a loop-less waiter here."""
        for loop, callbacks in woken.items():
            if loop is None:
                for callback in callbacks:
                    callback()
            else:
                loop.call_soon_threadsafe(_call_all, callbacks)

    def _read_answers(self, sock: socket.socket) -> None:
        """The reader thread of one connection: answers in, waiters called back, until it ends."""
        reader = _Reader()
        buf = bytearray()
        while True:
            try:
                data = reader.read(sock)
            except OSError:
                data = memoryview(b"")
            woken: _Woken = {}
            if not data:
                with self._lock:
                    if sock is self._sock:
                        log.error("the cell's writer process went away; failing %d writes in flight",
                                  len(self._pending))
                    self._disconnect(sock, woken)
                self._wake(woken)
                return
            buf += data
            offset = 0
            end = len(buf)
            with self._lock:
                while end - offset >= _ANSWER.size:
                    length, request_id, kind = _ANSWER.unpack_from(buf, offset)
                    start = offset + _ANSWER.size
                    if end - start < length:
                        break
                    offset = start + length
                    pending = self._pending.get(request_id)
                    if pending is None:
                        continue
                    if pending.abandoned:
                        del self._pending[request_id]
                        continue
                    self._answered(pending, (kind, bytes(buf[start:offset])), woken)
            del buf[:offset]
            self._wake(woken)


#: Callbacks to call, by the event loop each must run on (None: wherever the answer came in).
_Woken = dict["asyncio.AbstractEventLoop | None", list[Callable[[], None]]]


def _call_all(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        callback()


def _dispatcher(
    send: Callable[[str, str, dict[str, Any], str | None, str], Wait], name: str, local: wire.Dispatch,
    writes: frozenset[str], account: str,
) -> wire.Dispatch:
    """``local`` with the operations in ``writes`` handed to ``send`` instead."""
    def dispatch(operation: str, payload: dict[str, Any], endpoint: str | None = None) -> Any:
        if operation not in writes:
            return local(operation, payload) if endpoint is None else local(operation, payload, endpoint)
        return send(name, operation, payload, endpoint, account)

    return dispatch


def _running_loop() -> Any:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _error_body(err: CellstoreError) -> bytes:
    kind = type(err)
    return orjson.dumps((kind.__module__, kind.__qualname__, err.message, err.fields))


def _error_from(shipped: list[Any]) -> CellstoreError:
    """The writer's error rebuilt in the worker, so it reaches the client exactly as a local one would."""
    module, qualname, message, fields = shipped
    kind: Any = sys.modules.get(module)
    for part in qualname.split("."):
        kind = getattr(kind, part, None)
    if isinstance(kind, type) and issubclass(kind, CellstoreError):
        return kind(message, **fields)
    log.error("the writer answered with an error this worker does not know: %s.%s", module, qualname)
    return InternalServerError()


# --- the writer's side ------------------------------------------------------------------------


class _Connection:
    __slots__ = ("inbuf", "outbuf", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()


class _Parked:
    """A long-polling ReceiveMessage waiting inside the writer for a message or its deadline."""

    __slots__ = ("connection", "done", "request_id", "token", "wait")

    def __init__(self, connection: _Connection, request_id: int, wait: Wait) -> None:
        self.connection = connection
        self.request_id = request_id
        self.wait = wait
        self.token: int | None = None
        self.done = False

    def __lt__(self, other: _Parked) -> bool:
        return self.wait.deadline < other.wait.deadline


Group = Callable[[], AbstractContextManager[object]]


class Writer:
    """The writer process's loop: read requests from every worker, run them, answer after the commit.

    ``group`` (``Database.group``) opens one storage write transaction that
    the operations run inside; with it, every request that arrived before a
    round starts shares one COMMIT.  Without it each operation commits alone.
    """

    def __init__(
        self,
        services: Callable[[str], Mapping[str, wire.Service]],
        listener: socket.socket,
        *,
        group: Group | None = None,
        forget: Callable[[str], None] | None = None,
    ) -> None:
        self._services = services  # an account's services (``directory.OneBackend.services``)
        #: Called with an account fenced here (``TenantMoved``: a cell's writer, its tenant moved away),
        #: so its database is closed here as a worker's is (``cells/cell.py``).
        self._forget = forget
        self._listener = listener
        self._group = group
        self._selector = selectors.DefaultSelector()
        self._connections: dict[int, _Connection] = {}
        self._parked: list[_Parked] = []  # a heap by deadline
        self._woken: deque[_Parked] = deque()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._stopping = False
        self._reader = _Reader()
        #: Rounds and requests served, for tests and the benchmark notes.
        self.rounds = 0
        self.requests = 0

    def stop(self) -> None:
        """Ask the loop to stop after the round in hand (safe from a signal handler or another thread)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"!")
        except BlockingIOError:
            pass  # already awake

    def serve(self) -> None:
        """Serve until ``stop``; what was read is answered before returning."""
        self._listener.setblocking(False)
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stopping:
                timeout = None
                if self._parked:
                    timeout = max(0.0, self._parked[0].wait.deadline - time.monotonic())
                requests: list[tuple[_Connection, int, bytes]] = []
                for key, events in self._selector.select(timeout):
                    if key.fileobj is self._listener:
                        self._accept()
                    elif key.fileobj == self._wake_r:
                        self._drain_wake()
                    else:
                        connection = key.data
                        if events & selectors.EVENT_READ:
                            self._read(connection, requests)
                        if events & selectors.EVENT_WRITE:
                            self._flush(connection)
                self._run(requests)
                self._resume_parked()
                for connection in list(self._connections.values()):
                    if connection.outbuf:
                        self._flush(connection)
        finally:
            for connection in list(self._connections.values()):
                self._close(connection)
            self._selector.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            sock.setblocking(False)
            connection = _Connection(sock)
            self._connections[sock.fileno()] = connection
            self._selector.register(sock, selectors.EVENT_READ, connection)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _read(self, connection: _Connection, requests: list[tuple[_Connection, int, bytes]]) -> None:
        data: memoryview | bytes
        try:
            data = self._reader.read(connection.sock)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close(connection)
            return
        buf = connection.inbuf
        buf += data
        offset = 0
        end = len(buf)
        while end - offset >= _REQUEST.size:
            length, request_id = _REQUEST.unpack_from(buf, offset)
            start = offset + _REQUEST.size
            if end - start < length:
                break
            offset = start + length
            requests.append((connection, request_id, bytes(buf[start:offset])))
        del buf[:offset]

    def _run(self, requests: list[tuple[_Connection, int, bytes]]) -> None:
        """Run one round's requests; answers are queued only once their transaction committed."""
        if not requests:
            return
        self.rounds += 1
        self.requests += len(requests)
        if self._group is None or len(requests) == 1:
            for connection, request_id, body in requests:
                self._answer(connection, request_id, self._execute(body))
            return
        answers = self._run_grouped(requests)
        if answers is None:  # the group rolled back: each request again, on its own
            for connection, request_id, body in requests:
                self._answer(connection, request_id, self._execute(body))
            return
        for (connection, request_id, _), answer in zip(requests, answers, strict=True):  # one answer per request
            self._answer(connection, request_id, answer)

    def _run_grouped(self, requests: list[tuple[_Connection, int, bytes]]) -> list[Any] | None:
        """Every request in one storage transaction; None if it had to roll back (nothing then happened)."""
        answers: list[Any] = []
        group_of = self._group
        if group_of is None:
            return None
        try:
            with group_of() as group:
                for _, _, body in requests:
                    answers.append(self._execute(body))
                    if getattr(group, "spoiled", False):
                        # An operation failed after it had written: its writes
                        # cannot be taken back alone, so the whole group goes.
                        raise _GroupSpoiled
        except _GroupSpoiled:
            return None
        except CellstoreError as err:  # the COMMIT itself failed: none of the round happened
            return [("error", err)] * len(requests)
        except Exception as exc:  # noqa: BLE001 - e.g. a full disk at COMMIT: a 500 each, never a success
            return [("error", wire.internal_error(exc))] * len(requests)
        return answers

    def _execute(self, body: bytes) -> Any:
        """One operation: its result, a ``Wait`` (a long poll) or ("error", err)."""
        try:
            service_name, operation, endpoint, payload, account = orjson.loads(body)
            service = self._services(account)[service_name]
            if endpoint is None:
                return service.dispatch(operation, payload)
            return service.dispatch(operation, payload, endpoint)
        except TenantMoved as err:
            if self._forget is not None:
                self._forget(account)
            return ("error", err)
        except CellstoreError as err:
            return ("error", err)
        except Exception as exc:  # noqa: BLE001 - any bug is the client's 500, as in wire.respond
            return ("error", wire.internal_error(exc))

    def _answer(self, connection: _Connection, request_id: int, result: Any) -> None:
        if isinstance(result, Wait):
            self._park(connection, request_id, result)
            return
        if type(result) is tuple and len(result) == 2 and result[0] == "error":
            body, kind = _error_body(result[1]), _ERROR
        else:
            try:
                body, kind = orjson.dumps(result), _OK
            except TypeError as exc:
                body, kind = _error_body(wire.internal_error(exc)), _ERROR
        if connection.sock.fileno() < 0:
            return  # the worker went away; what it asked for has happened
        connection.outbuf += _ANSWER.pack(len(body), request_id, kind) + body

    def _park(self, connection: _Connection, request_id: int, wait: Wait) -> None:
        parked = _Parked(connection, request_id, wait)

        def woken() -> None:  # on whichever thread notifies
            self._woken.append(parked)
            self._wake()

        parked.token = wait.wakeups.subscribe(wait.queue_id, woken)
        heapq.heappush(self._parked, parked)
        if wait.stale():
            self._woken.append(parked)

    def _resume_parked(self) -> None:
        now = time.monotonic()
        ready: list[_Parked] = []
        while self._woken:
            ready.append(self._woken.popleft())
        while self._parked and (self._parked[0].done or self._parked[0].wait.deadline <= now):
            parked = heapq.heappop(self._parked)
            if not parked.done:
                ready.append(parked)
        for parked in ready:
            if parked.done:
                continue
            parked.done = True
            if parked.token is not None:
                parked.wait.wakeups.unsubscribe(parked.wait.queue_id, parked.token)
            try:
                result = parked.wait.retry()
            except CellstoreError as err:
                result = ("error", err)
            except Exception as exc:  # noqa: BLE001 - as in _execute
                result = ("error", wire.internal_error(exc))
            self._answer(parked.connection, parked.request_id, result)
        if ready:
            self._parked = [parked for parked in self._parked if not parked.done]
            heapq.heapify(self._parked)

    def _flush(self, connection: _Connection) -> None:
        sock = connection.sock
        if sock.fileno() < 0:
            return
        try:
            sent = sock.send(connection.outbuf)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(connection)  # the worker died mid-hand-off: what it sent has been done
            return
        del connection.outbuf[:sent]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if connection.outbuf else 0)
        self._selector.modify(sock, events, connection)

    def _close(self, connection: _Connection) -> None:
        sock = connection.sock
        if sock.fileno() >= 0:
            self._connections.pop(sock.fileno(), None)
            self._selector.unregister(sock)
            sock.close()
        connection.outbuf.clear()
        for parked in self._parked:
            if parked.connection is connection:
                parked.done = True
                if parked.token is not None:
                    parked.wait.wakeups.unsubscribe(parked.wait.queue_id, parked.token)
                    parked.token = None


class _GroupSpoiled(Exception):
    """An operation in a group commit failed after writing: the group rolls back and runs one by one."""


def run_writer(
    services: Callable[[str], Mapping[str, wire.Service]],
    listener: socket.socket,
    *,
    group: Group | None = None,
    forget: Callable[[str], None] | None = None,
) -> None:
    """The writer process's main: serve until SIGTERM/SIGINT."""
    writer = Writer(services, listener, group=group, forget=forget)

    def stop(signum: int, frame: object) -> None:
        writer.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    log.debug("writer %d serving", os.getpid())
    writer.serve()
    log.info("writer %d stopped: %d requests in %d rounds", os.getpid(), writer.requests, writer.rounds)
