"""The worker's end of the hand-off to a writer process (``protocol/writer.py``): writes out, answers back.

``WriterClient`` is a worker's connection to one writer, written and read
by the worker's event loop: the writer of its one SQLite backend (``serve
--workers N``), or of one SQLite cell (``serve --cells F --workers N``, whose
router sends a cell's writes from the loop: docs/CELLS.md, "A writer per
SQLite cell").  ``SharedWriterClient`` is a worker's connection to one SQLite
cell's writer written from the cell's bulkhead threads and read by a thread
of its own: for a server of cells with ``--cache``, whose item cache must
invalidate a write's keys before it is sent, which is network work the loop
must not do.  Both wrap an account's services so that the
operations in ``writer.WRITES`` go to the writer (``writer.is_write``: a
PartiQL request only if a statement may write), and hand back a
``waiting.Wait`` the app awaits as it does a long poll; the frames, the
error encoding and the writer's side are in ``protocol/writer.py``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from cellstore.errors import CellstoreError, InternalServerError, ServiceUnavailable, SqsServiceUnavailable
from cellstore.protocol import wire
from cellstore.protocol.writer import (
    ANSWER,
    ANSWER_TIMEOUT,
    OK,
    PROBE,
    REQUEST,
    WRITES,
    Reader,
    error_from,
    is_write,
)
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.writer")


def _unavailable(service: str) -> CellstoreError:
    """The retryable error of ``service`` for a write whose outcome the worker cannot know."""
    if service == "sqs":
        return SqsServiceUnavailable("The writer process is unavailable; retry the request.")
    return ServiceUnavailable("The writer process is unavailable; retry the request.")


class _Pending:
    __slots__ = ("abandoned", "answer", "callback", "service")

    def __init__(self, service: str) -> None:
        self.service = service
        self.answer: tuple[int, bytes] | CellstoreError | None = None
        self.callback: Callable[[], None] | None = None
        #: Nobody waits any more (deadline, or the client went away): the answer is dropped when it comes.
        self.abandoned = False


def probe(address: str | bytes, timeout: float) -> None:
    """Return once the writer at ``address`` has taken its write lock and answered (a cell's health probe).

    A connection of its own, blocking, from whichever thread probes (a
    cell's bulkhead thread), so it shares nothing with the event loop's
    client; a writer that is dead, stuck (SIGSTOPped) or waiting for a lock
    another process holds raises ``ServiceUnavailable`` within ``timeout``.
    """
    body = orjson.dumps((PROBE, "Probe", None, {}, ""))
    deadline = time.monotonic() + timeout
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(address)
            sock.sendall(REQUEST.pack(len(body), 0) + body)
            answer = b""
            while len(answer) < ANSWER.size or len(answer) < ANSWER.size + ANSWER.unpack_from(answer)[0]:
                sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("the writer closed the connection")
                answer += chunk
    except OSError as err:
        raise ServiceUnavailable(f"The cell's writer process did not answer a probe: {err or 'timed out'}") from None
    length, _, kind = ANSWER.unpack_from(answer)
    if kind != OK:
        raise error_from(orjson.loads(answer[ANSWER.size:ANSWER.size + length]))


def _result(pending: _Pending | _SharedPending) -> Any:
    """A settled hand-off's result: the operation's answer decoded, or its error raised."""
    answer = pending.answer
    if answer is None:  # the deadline passed with no answer
        raise _unavailable(pending.service)
    if isinstance(answer, CellstoreError):
        raise answer
    kind, body = answer
    if kind == OK:
        return orjson.loads(body)
    raise error_from(orjson.loads(body))


class WriterClient:
    """A worker's end of the hand-off: wraps services so that their writes go to the writer.

    It is the ``waiting.Hub`` of the ``Wait`` a handed-off write returns,
    keyed by request id: ``generation`` moves from 0 to 1 when the answer is
    in, ``subscribe`` is how the HTTP server's loop hears of it.  All of it
    runs on the worker's event loop thread (the socket is read by a loop
    reader), so it needs no lock.

    ``timeout`` is how long a write waits for its answer, ``receive_timeout``
    a ReceiveMessage's (it may long-poll inside the writer for up to 20 s);
    a cell's client gets its bulkhead's timeout (``serve --cells``).
    """

    def __init__(self, address: str | bytes, *, timeout: float = ANSWER_TIMEOUT,
                 receive_timeout: float | None = None) -> None:
        self._address = address
        self._timeout = timeout
        self._receive_timeout = timeout if receive_timeout is None else receive_timeout
        self._sock: socket.socket | None = None
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._pending: dict[int, _Pending] = {}
        self._next_id = 0
        self._loop: Any = None
        self._waiting_writable = False  # a loop writer is registered for the socket
        self._reader = Reader()

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
            if not is_write(writes, operation, payload):
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
            self._write(REQUEST.pack(len(body), request_id) + body)
        except OSError:
            log.warning("the writer process is unreachable", exc_info=True)
            self._disconnect()
        # Only a long poll may be cut short by a stopping worker (it answers "nothing found", and a message
        # the writer claims for it later stays invisible for its visibility timeout, no longer); any other
        # write is answered with what the writer did, which the writer sends before it stops.
        receive = operation == "ReceiveMessage"
        timeout = self._receive_timeout if receive else self._timeout
        return Wait(self, request_id, 0, time.monotonic() + timeout, lambda: self._settle(request_id),
                    ends_on_stop=receive)

    @property
    def in_flight(self) -> int:
        """Writes sent and not yet settled (a cell's bound: ``cells/router.py``)."""
        return len(self._pending)

    @property
    def address(self) -> str | bytes:
        return self._address

    def fail_in_flight(self) -> None:
        """From any thread: drop the connection on the loop that reads it, so every write in flight fails with a
        retryable 503 at once (a cell found unhealthy); the next write connects again."""
        loop = self._loop
        if loop is None or self._sock is None:
            return
        try:
            loop.call_soon_threadsafe(self._disconnect)
        except RuntimeError:  # the loop closed: nobody waits any more
            pass

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
        sock.setblocking(False)  # a Unix socket connects at once or fails (EAGAIN: a stuck writer's full backlog)
        try:
            sock.connect(self._address)
        except OSError:
            sock.close()
            raise
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
        while end - offset >= ANSWER.size:
            length, request_id, kind = ANSWER.unpack_from(buf, offset)
            start = offset + ANSWER.size
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
                sock.sendall(REQUEST.pack(len(body), request_id) + body)
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
            # Wakes the reader thread, which closes the socket as it leaves (``_read_answers``): closed here,
            # its number could be reused by a descriptor opened meanwhile while that thread is about to recv.
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
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
        """The reader thread of one connection: answers in, waiters called back, until it ends; it alone closes
        ``sock`` (``_disconnect`` only shuts it down), once nothing else can use it."""
        try:
            self._read_from(sock)
        finally:
            sock.close()

    def _read_from(self, sock: socket.socket) -> None:
        reader = Reader()
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
                while end - offset >= ANSWER.size:
                    length, request_id, kind = ANSWER.unpack_from(buf, offset)
                    start = offset + ANSWER.size
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
        if not is_write(writes, operation, payload):
            return local(operation, payload) if endpoint is None else local(operation, payload, endpoint)
        return send(name, operation, payload, endpoint, account)

    return dispatch


def _running_loop() -> Any:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
