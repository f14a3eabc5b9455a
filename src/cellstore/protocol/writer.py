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
memory ring.  The worker's side (``protocol/writer_client.py``) is a ``waiting.Hub``: a handed-off write
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

from cellstore.api.partiql.parser import STATEMENTS, only_selects
from cellstore.errors import (
    CellstoreError,
    InternalServerError,
    TenantMoved,
)
from cellstore.protocol import wire
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.writer")

#: The operations a worker hands to the writer: every one that may write.
#: Anything else runs in the worker on its own snapshot (an operation left
#: out by mistake would still be correct — storage serialises its writes —
#: but would write under the file lock beside the writer: a test,
#: ``tests/unit/protocol/test_write_operations.py``, runs every served
#: operation outside this list and fails on one that opens a write transaction).
WRITES: Mapping[str, frozenset[str]] = {
    "dynamodb": frozenset({
        "BatchWriteItem", "CreateTable", "DeleteItem", "DeleteTable", "PutItem", "TagResource",
        "TransactWriteItems", "UntagResource", "UpdateItem", "UpdateTable", "UpdateTimeToLive",
        "CreateBackup", "DeleteBackup", "RestoreTableFromBackup", "UpdateContinuousBackups",
        "PutResourcePolicy", "DeleteResourcePolicy",
        # PartiQL: the operation name does not say whether a statement writes; the payload does
        # (``is_write``): a request whose statements are all SELECTs is read in the worker.
        "BatchExecuteStatement", "ExecuteStatement", "ExecuteTransaction",
    }),
    "sqs": frozenset({
        "AddPermission", "CancelMessageMoveTask", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch",
        "CreateQueue", "DeleteMessage", "DeleteMessageBatch", "DeleteQueue", "PurgeQueue", "ReceiveMessage",
        "RemovePermission", "SendMessage", "SendMessageBatch", "SetQueueAttributes", "StartMessageMoveTask",
        "TagQueue", "UntagQueue",
    }),
}

#: Operations of ``WRITES`` whose payload says whether they write (PartiQL's: ``partiql.only_selects``).
BY_PAYLOAD = frozenset(STATEMENTS)


def is_write(writes: frozenset[str], operation: str, payload: object) -> bool:
    """Whether a request goes to the writer: an operation of its service's ``writes`` that may write.

    A PartiQL request whose statements are all SELECTs cannot write, so a
    worker serves it on its own snapshot (``partiql.only_selects``, a
    keyword check on each statement); any other PartiQL request goes.
    """
    return operation in writes and not (operation in BY_PAYLOAD and only_selects(operation, payload))


#: Seconds a worker waits for an answer before it gives up with a retryable
#: error.  A long-polling ReceiveMessage waits up to 20 s inside the writer,
#: and a dead writer is noticed at once (the socket ends), so this only
#: bounds a writer that is alive but stuck.
ANSWER_TIMEOUT = 60.0

#: The service name of a health probe's frame (``writer_client.probe``): the writer takes its write lock and
#: answers, so a cell whose writer is stuck, or whose storage will not take a write, is found out.
PROBE = "cellstore-probe"

_PROBE_FRAME = orjson.dumps([PROBE])[:-1]  # how a probe's body begins

REQUEST = struct.Struct("<II")  # body length, request id
ANSWER = struct.Struct("<IIB")  # body length, request id, kind
OK, ERROR = 0, 1
_READ_SIZE = 1 << 18


class Reader:
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


def listen(address: str | None = None) -> socket.socket:
    """The writer's listening socket, made by the supervisor so that it outlives any one writer.

    Linux's abstract namespace keeps the address out of the file system (no
    stale socket file, no 108-byte path limit); elsewhere a private temporary
    directory holds it.  ``address``: one named in advance (``cell_address``).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if address is not None:
        sock.bind(address)
    elif sys.platform.startswith("linux"):
        sock.bind(f"\0cellstore-writer-{os.getpid()}-{os.urandom(8).hex()}")
    else:
        sock.bind(os.path.join(tempfile.mkdtemp(prefix="cellstore-"), "writer.sock"))
    sock.listen(128)
    return sock


def cell_addresses() -> str:
    """A token that names every cell writer's address of one ``serve --cells`` (``cell_address``), made once by
    its supervisor before it forks: a worker can then name the writer of a cell added to the file later."""
    if sys.platform.startswith("linux"):
        token = f"{os.getpid()}-{os.urandom(8).hex()}"
    else:
        token = tempfile.mkdtemp(prefix="cellstore-")
    return token


def cell_address(token: str, cell: str) -> str:
    """The address ``cell``'s writer listens on in the deployment of ``token`` (``cell_addresses``)."""
    if sys.platform.startswith("linux"):
        address = f"\0cellstore-writer-{token}-{cell}"
    else:
        address = os.path.join(token, f"{cell}.sock")
    return address


def error_body(err: CellstoreError) -> bytes:
    """A writer's error as the worker rebuilds it (``error_from``): its class by module and name, message, fields."""
    kind = type(err)
    return orjson.dumps((kind.__module__, kind.__qualname__, err.message, err.fields))


def error_from(shipped: list[Any]) -> CellstoreError:
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
        #: Held to write to the wake pipe and to close it: a ``stop`` (another thread's, or a signal's) or a
        #: parked poll's notifier may wake the loop while ``serve`` returns, and a write after the close
        #: would hit EBADF or, worse, a descriptor the process has opened since under the same number.
        #: Reentrant: a signal handler runs ``stop`` on the thread that may hold it, in ``serve``'s close.
        self._wake_lock = threading.RLock()
        self._wake_closed = False
        self._stopping = False
        self._grouped = False  # inside a round's group transaction (a probe then holds the write lock already)
        self._reader = Reader()
        #: Rounds and requests served, for tests and the benchmark notes.
        self.rounds = 0
        self.requests = 0
        self.probes = 0

    def stop(self) -> None:
        """Ask the loop to stop after the round in hand (safe from a signal handler or another thread)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        with self._wake_lock:
            if self._wake_closed:
                return  # the loop has ended: nothing to wake, and the number may be another descriptor's now
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
            with self._wake_lock:
                self._wake_closed = True  # first: a signal's ``stop`` inside this block then writes nothing
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
        while end - offset >= REQUEST.size:
            length, request_id = REQUEST.unpack_from(buf, offset)
            start = offset + REQUEST.size
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
        probes = sum(1 for _, _, body in requests if body.startswith(_PROBE_FRAME))
        self.requests += len(requests) - probes  # a probe is no client's request
        self.probes += probes
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
                self._grouped = True
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
        finally:
            self._grouped = False
        return answers

    def _execute(self, body: bytes) -> Any:
        """One operation: its result, a ``Wait`` (a long poll) or ("error", err)."""
        try:
            service_name, operation, endpoint, payload, account = orjson.loads(body)
            if service_name == PROBE:
                return self._probe()
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

    def _probe(self) -> dict[str, Any]:
        """A health probe: the write lock taken and let go, as a write's would be (held already inside a group)."""
        if self._group is not None and not self._grouped:
            with self._group():
                pass
        return {}

    def _answer(self, connection: _Connection, request_id: int, result: Any) -> None:
        if isinstance(result, Wait):
            self._park(connection, request_id, result)
            return
        if type(result) is tuple and len(result) == 2 and result[0] == "error":
            body, kind = error_body(result[1]), ERROR
        else:
            try:
                body, kind = orjson.dumps(result), OK
            except TypeError as exc:
                body, kind = error_body(wire.internal_error(exc)), ERROR
        if connection.sock.fileno() < 0:
            return  # the worker went away; what it asked for has happened
        connection.outbuf += ANSWER.pack(len(body), request_id, kind) + body

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
