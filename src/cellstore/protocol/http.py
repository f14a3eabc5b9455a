"""HTTP/1.1 for cellstore: uvloop's transports and the httptools (llhttp) parser, with no ASGI between them and the app.

Why not uvicorn: on the benchmark machine a fixed-body app answers about
2.5 times as many requests per second per core through a bare httptools
protocol as through uvicorn (bench/README.md, docs/BENCHMARKS.md).  The
difference is ASGI's machinery: an asyncio Task per request, two ``send``
messages whose headers are checked in Python, a receive queue.  cellstore's
engine is synchronous, so almost every answer is ready the moment the
request is parsed; this server calls ``App.respond`` from the parser's
callback and writes the whole answer with one ``transport.write``.  Only an
answer that must wait (an SQS long poll) becomes a Task.

The parsing itself stays with llhttp (the parser in Node.js, which httptools
wraps) and the event loop with uvloop (plain asyncio where uvloop is absent);
what this module adds is the connection's life:

- keep-alive, HTTP/1.0 and ``Connection: close`` as llhttp judges them;
- pipelined requests answered strictly in order: while a long poll is
  pending, later requests queue behind it (and past ``MAX_QUEUED`` requests
  or ``MAX_QUEUED_BYTES`` of their bodies the connection stops reading;
  below that it keeps reading, so a client that leaves mid-poll is noticed
  and its poll cancelled);
- ``Expect: 100-continue`` answered before the body is read;
- bodies over ``wire.MAX_BODY_BYTES`` refused without reading them (the
  connection then closes, since the rest of the body is unread); request
  heads over ``MAX_HEAD_BYTES`` (or targets over ``MAX_URL_BYTES``) and
  unparseable requests get 400 and a close, as DynamoDB answers them;
- a body over ``PRECHECK_BYTES`` (or of unknown length) is read only once
  the app's ``precheck`` has passed its head: a client that is not signed
  in is refused on its headers, and the body it is still sending is dropped
  unread (for up to ``LINGER_SECONDS``, so that it reads the refusal rather
  than a reset) before the connection closes;
- a budget of ``max_buffered`` body bytes per process: a declared body waits
  for room with its connection paused (503 after ``BUFFER_WAIT_SECONDS``),
  a chunked one that would overflow it is answered 503 — so memory is
  bounded by the budget plus one read per connection, however many send;
- at most ``max_connections`` connections (the open-file limit less
  ``descriptors.RESERVED_DESCRIPTORS``, by default): past it the oldest idle keep-alive
  connection is closed to admit a new one, or with none idle the new one is
  answered 503, and a warning is logged once per episode;
- back-pressure: once a client's unread answers pass the transport's high-water
  mark, requests already parsed wait in the queue and the connection stops
  reading, until the client reads;
- idle connections close after ``KEEP_ALIVE_SECONDS``, and a request head or
  body that trickles in for longer than ``REQUEST_SECONDS`` closes too;
- a closed connection is freed at once, not by the cyclic collector: the
  parser's callbacks, the transport and a long poll's Task all point back at
  the connection, and ``connection_lost`` breaks those cycles;
- with an ``access_log`` (``serve --access-log``), a line per answer written,
  timed from the request's first byte;
- graceful stop: stop accepting, answer long polls at once as if they found
  nothing (``App.stop_waiting``), close idle connections, let requests in
  progress finish for up to ``GRACE_SECONDS``, then cancel what still waits.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import http
import importlib.util
import itertools
import logging
import signal
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from types import FrameType
from typing import NamedTuple
from urllib.parse import unquote

import httptools

from cellstore.protocol import descriptors, wire
from cellstore.protocol.access_log import AccessLog
from cellstore.protocol.app import (
    EDGE_HEADERS,
    HttpResponse,
    Responder,
    error_response,
    unavailable_response,
)

log = logging.getLogger("cellstore.http")

#: Seconds an idle keep-alive connection stays open.  Longer than uvicorn's
#: 5 s: SDK connection pools keep connections for minutes, and a close that
#: races a client's next request costs that request a retry.
KEEP_ALIVE_SECONDS = 60.0
#: Seconds one request may take to arrive (head and body) once it has begun.
REQUEST_SECONDS = 60.0
#: Seconds a stop waits for requests in progress (long polls) before cancelling them.
GRACE_SECONDS = 5.0
#: Largest request line plus headers accepted (llhttp itself sets no limit).
MAX_HEAD_BYTES = 64 * 1024
#: Longest request target accepted: DynamoDB answers a 17,000-byte URL with a
#: bare 400 before it reads the rest, and an SDK's is "/" or a queue's path.
MAX_URL_BYTES = 16 * 1024
#: Pipelined requests queued behind a long poll before the connection stops reading.
MAX_QUEUED = 16
#: Body bytes of the requests queued on one connection before it stops reading
#: (without it, 16 queued 16 MB bodies held 243 MB for one client).
MAX_QUEUED_BYTES = wire.MAX_BODY_BYTES
#: A body longer than this, or of unknown length (chunked), is read only after
#: the app's ``precheck`` passed its head; smaller ones are not worth the check.
PRECHECK_BYTES = 64 * 1024
#: Request body bytes one process holds at once, counted as declared (by
#: Content-Length) or as read (chunked): eight bodies of DynamoDB's 16 MB.
MAX_BUFFERED_BYTES = 8 * wire.MAX_BODY_BYTES
#: Seconds a request may wait for room in that budget before it is answered 503.
BUFFER_WAIT_SECONDS = 10.0
#: Seconds a refused request's body is still read, and dropped, before the
#: close: a client that is still sending reads the refusal instead of a reset.
LINGER_SECONDS = 2.0
#: Idle connections closed per tick while the process is out of descriptors.
SHED_PER_TICK = 16
#: How often the housekeeping tick runs: the clock for timeouts, the Date header, ``should_exit``.
TICK_SECONDS = 0.1

#: ``App.precheck``'s signature: (method, path, raw path, query, headers, scheme) → an answer or None.
Precheck = Callable[[str, str, str, bytes, Sequence[tuple[bytes, bytes]], str], "HttpResponse | None"]

#: ``app.EDGE_HEADERS`` (Server, CORS), written as one constant into every answer.
_EDGE = b"".join(name + b": " + value + b"\r\n" for name, value in EDGE_HEADERS)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n" + _EDGE + b"connection: close\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii") for status in http.HTTPStatus}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode("ascii")


def encode(response: HttpResponse, date: bytes, keep_alive: bool, head_only: bool = False) -> bytes:
    """The bytes of ``response``: one buffer, so one ``write`` (and usually one segment) per answer.

    Header values are written as given: ``App`` builds them from constants,
    numbers and request ids, and checks the few it takes from elsewhere
    (``app._reply_response``); checking every value here cost 4 µs an answer.
    """
    parts = [status_line(response.status)]
    for name, value in response.headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(_EDGE)
    parts.append(date)
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(response.body)
    return b"".join(parts)


class _Request(NamedTuple):
    method: str
    url: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes | None  # None: over the size limit, unread
    keep_alive: bool
    size: int = 0  # body bytes it holds of the server's budget
    answer: HttpResponse | None = None  # decided on its head: written as is, no app call
    started: float = 0.0  # perf_counter at its first byte, with an access log only


class Connection(asyncio.Protocol):
    """One client connection: the parser's callbacks build requests, ``_answer`` answers them in order."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._app = server.app
        self._scheme = server.scheme
        self._transport: asyncio.Transport | None = None
        # Holds this connection's bound methods: a cycle that connection_lost breaks.
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._head_size = 0
        self._chunked = False  # the body arriving has no declared length
        self._reserved = 0  # bytes of the server's budget the request arriving holds
        self._wanted = 0  # > 0: paused until the budget has room for this many bytes
        self._wait_since = 0.0
        self._continue = False  # owes an "100 Continue" once the budget has room
        self._in_request = False  # a request has begun arriving and is not complete
        self._begun = 0.0  # server clock when it began
        self._started = 0.0  # perf_counter when it began, with an access log (the clock above is per tick)
        self._idle_since = 0.0
        #: A long poll being answered (a Task), or a write in the writer process's hands (a Future).
        self._waiting: asyncio.Future[None] | asyncio.Future[HttpResponse] | None = None
        self._queued: deque[_Request] = deque()  # pipelined behind it
        self._queued_bytes = 0
        self._rejected = False  # a request was refused: nothing after it is answered, then close
        self._body_pending = False  # the refused request's body is still arriving (and being dropped)
        self._linger_until = 0.0
        self._closing = False
        self._closing_since = 0.0
        self._reading_paused = False
        self._writing_paused = False
        self._paused_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._idle_since = self._server.clock
        self._server.admit(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_closing()
        server = self._server
        server.connections.discard(self)
        if self._wanted:
            server.stop_waiting(self)
            self._wanted = 0
        if self._reserved or self._queued_bytes:
            server.release(self._reserved + self._queued_bytes)
            self._reserved = self._queued_bytes = 0
        if self._waiting is not None:
            self._waiting.cancel()  # nobody is left to answer: stop long-polling (a receive would hide messages)
            self._waiting = None
        # Break every cycle through this connection (the parser holds its bound
        # methods; the transport, its protocol), so it is freed now rather than
        # whenever the cyclic collector next runs: 20 of 20 closed connections
        # were still alive before, with their buffers.
        self._parser = None
        self._transport = None
        self._queued.clear()
        self._body = []
        self._headers = []

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None or (self._closing and not self._body_pending):
            return  # closing: whatever else arrives is not read
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse()  # no upgrades (WebSocket, h2c) here
        except httptools.HttpParserError:
            self._refuse()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._paused_since = self._server.clock
        self._update_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._paused_since = 0.0
        self._drain()

    # httptools callbacks

    def on_message_begin(self) -> None:
        if self._rejected:
            return  # nothing after a refused request is answered
        self._server.idle.pop(self, None)
        self._in_request = True
        self._begun = self._server.clock
        if self._server.access_log is not None:
            self._started = time.perf_counter()
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._head_size = 0
        self._chunked = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > MAX_URL_BYTES:
            raise httptools.HttpParserError("request target too long")  # → data_received refuses it: 400
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        if self._rejected:
            return
        length: int | None = None
        chunked = expects_continue = False
        for name, value in self._headers:
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    pass  # llhttp has already refused a malformed length
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"expect" and value.lower() == b"100-continue":
                expects_continue = True
        if length is not None and length > wire.MAX_BODY_BYTES:
            self._reject(None, linger=False)  # the app answers 413 for a body it was not given
            return
        if (chunked or (length is not None and length > PRECHECK_BYTES)) and self._server.precheck is not None:
            refusal = self._precheck()
            if refusal is not None:
                # A client that sent "Expect: 100-continue" sends no body now: close at once.
                self._reject(refusal, linger=not expects_continue)
                return
        self._chunked = chunked and length is None
        if length and not self._server.reserve(self, length):
            self._wanted = length  # paused until the budget has room (Server.release grants it)
            self._wait_since = self._server.clock
            self._continue = expects_continue
            self._update_reading()
            return
        self._reserved = length or 0
        if expects_continue:
            self._send_continue()

    def on_body(self, body: bytes) -> None:
        if self._rejected:
            return  # refused: dropped as it arrives
        size = len(body)
        self._size += size
        if self._size > wire.MAX_BODY_BYTES:
            self._reject(None, linger=False)
            return
        if self._chunked or self._wanted:
            # Bytes no Content-Length reserved: count them as they come.  A
            # chunked body cannot wait for room holding what it has, so it is
            # refused; a declared one still waiting was paused mid-read and
            # this is the rest of that read.
            if self._chunked and not self._server.take(self, size):
                self._reject(unavailable_response(self._headers), linger=True)
                return
            if self._wanted:
                self._server.buffered += size
            self._reserved += size
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_request = False
        if self._rejected:
            if self._body_pending:
                self._body_pending = False  # the refused body is over: nothing is left to drop
                if self._closing:
                    self._shut()
            return
        if self._closing:
            return
        if self._wanted:  # it all arrived in the read that was paused: no room left to wait for
            self._server.stop_waiting(self)
            self._wanted = 0
            self._continue = False
            self._update_reading()
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        self._body = []
        parser = self._parser
        if parser is None:
            return
        request = _Request(
            parser.get_method().decode("ascii"), self._url, self._headers, body, parser.should_keep_alive(),
            self._reserved, started=self._started,
        )
        self._reserved = 0
        if self._waiting is not None or self._writing_paused or self._queued:
            self._queue(request)
        else:
            self._answer(request)

    # answering

    def _queue(self, request: _Request) -> None:
        self._queued.append(request)
        self._queued_bytes += request.size
        self._update_reading()

    def _answer(self, request: _Request) -> None:
        if request.size:
            self._server.release(request.size)  # the app runs on this thread: nothing is read meanwhile
        if request.answer is not None:
            self._write(request.answer, request)
            return
        if request.url == b"/":  # every DynamoDB request: no parsing
            raw_path, path, query = "/", "/", b""
        else:
            split = _split_url(request.url)
            if split is None:
                self._refuse()
                return
            raw_path, path, query = split
        try:
            answer = self._app.respond(
                request.method, path, raw_path, query, request.headers, request.body, self._scheme
            )
        except Exception as exc:  # noqa: BLE001 - App.respond never raises; if it does, a 500, never a hang
            answer = _internal_error(exc)
        if isinstance(answer, HttpResponse):
            self._write(answer, request)
        elif isinstance(answer, asyncio.Future):  # a hand-off to the writer: a callback, not a Task
            self._waiting = answer
            answer.add_done_callback(functools.partial(self._answered, request))
        else:
            self._waiting = asyncio.ensure_future(self._answer_later(answer, request))

    def _answered(self, request: _Request, answer: asyncio.Future[HttpResponse]) -> None:
        if answer.cancelled():
            return  # the connection is gone or closing: nothing to write
        try:
            response = answer.result()
        except Exception as exc:  # noqa: BLE001 - as in _answer
            response = _internal_error(exc)
        self._waiting = None
        self._write(response, request)
        self._drain()

    async def _answer_later(self, answer: Awaitable[HttpResponse], request: _Request) -> None:
        try:
            response = await answer
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in _answer
            response = _internal_error(exc)
        self._waiting = None
        self._write(response, request)
        self._drain()

    def _drain(self) -> None:
        """Answer what queued behind a long poll or a full write buffer, until one of those stops us again."""
        while self._queued and self._waiting is None and not self._writing_paused and not self._closing:
            request = self._queued.popleft()
            self._queued_bytes -= request.size
            self._answer(request)
        self._update_reading()

    def _write(self, response: HttpResponse, request: _Request) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        keep_alive = request.keep_alive and not self._server.stopping
        transport.write(encode(response, self._server.date_header, keep_alive, request.method == "HEAD"))
        access_log = self._server.access_log
        if access_log is not None:
            try:
                access_log.record(
                    request.method, request.url, request.headers, request.body, response.status, response.headers,
                    time.perf_counter() - request.started,
                )
            except Exception:
                log.exception("could not write the access log")
        if not keep_alive:
            self._close()
            return
        self._idle_since = self._server.clock
        if not self._in_request and self._waiting is None and not self._queued:
            self._server.idle[self] = None

    def _precheck(self) -> HttpResponse | None:
        """The app's verdict on the head of the request arriving (``App.precheck``): an answer refuses it."""
        precheck = self._server.precheck
        parser = self._parser
        split = _split_url(self._url)
        if precheck is None or parser is None or split is None:
            return None  # a bad URL is refused when the request is answered
        raw_path, path, query = split
        try:
            return precheck(parser.get_method().decode("ascii"), path, raw_path, query, self._headers, self._scheme)
        except Exception as exc:  # noqa: BLE001 - as in _answer
            return _internal_error(exc)

    def _reject(self, answer: HttpResponse | None, *, linger: bool) -> None:
        """Refuse the request arriving with ``answer`` (None: the app's 413 for a body it is not given), then close.

        Its body is never buffered: what already arrived is dropped, the rest
        is dropped as it comes.  With ``linger`` the close waits for that rest
        (up to ``LINGER_SECONDS``), so that a client still sending reads the
        refusal instead of a connection reset; without it (a body over 16 MB,
        or one the client will not send) the connection closes once answered.
        """
        self._rejected = True
        self._body_pending = linger and self._in_request
        self._body = []
        if self._wanted:
            self._server.stop_waiting(self)
            self._wanted = 0
        if self._reserved:
            self._server.release(self._reserved)
            self._reserved = 0
        parser = self._parser
        method = parser.get_method().decode("ascii") if parser is not None else "POST"
        request = _Request(method, self._url, self._headers, None, False, 0, answer, self._started)
        if self._waiting is not None or self._writing_paused or self._queued:
            self._queue(request)  # answered in turn, then the connection closes
        else:
            self._answer(request)

    def _send_continue(self) -> None:
        """"100 Continue", unless an answer is still owed: it would come out of order (the client sends anyway, later)."""
        self._continue = False
        if self._transport is not None and self._waiting is None and not self._queued and not self._closing:
            self._transport.write(_CONTINUE)

    def granted(self) -> None:
        """The budget has room for the body this connection paused for (called by ``Server.release``)."""
        self._reserved = self._wanted  # the whole declared body, including what it read while pausing
        self._wanted = 0
        self._update_reading()
        if self._continue:
            self._send_continue()

    def _refuse(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(_BAD_REQUEST)
        self._shut()

    def turn_away(self) -> None:
        """A connection over the cap with none idle to make room: 503 before it says anything, and close."""
        if self._transport is not None:
            self._transport.write(encode(unavailable_response(()), self._server.date_header, False))
        self._shut()

    def _close(self) -> None:
        """Close once the answers written are sent; first drop the rest of a refused body (see ``_reject``)."""
        self._set_closing()
        if self._body_pending and self._transport is not None:
            self._linger_until = self._server.clock + LINGER_SECONDS
            self._update_reading()
        else:
            self._shut()

    def _shut(self) -> None:
        self._set_closing()
        self._body_pending = False
        if self._transport is not None:
            self._transport.close()

    def _set_closing(self) -> None:
        if not self._closing:
            self._closing = True
            self._closing_since = self._server.clock
            self._server.closing(self)

    def _update_reading(self) -> None:
        """Read unless something says wait: a full write buffer or queue, room in the budget — or closing.

        A connection closing still reads while it drops a refused body.
        """
        transport = self._transport
        if transport is None:
            return
        if self._closing:
            if not self._body_pending:
                return  # the transport is closing: leave it alone
            pause = False
        else:
            pause = bool(
                self._writing_paused
                or self._wanted
                or len(self._queued) >= MAX_QUEUED
                or self._queued_bytes > MAX_QUEUED_BYTES
            )
        if pause != self._reading_paused:
            self._reading_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    # housekeeping, from Server's tick

    @property
    def idle(self) -> bool:
        return self._waiting is None and not self._in_request and not self._queued

    @property
    def closing(self) -> bool:
        return self._closing

    @property
    def reserved(self) -> int:
        return self._reserved

    @property
    def wanted(self) -> int:
        return self._wanted

    def expire(self, now: float) -> None:
        """Close the connection if it has been idle, a request has been arriving, or its answers unread, for too long."""
        if self._closing:
            if self._body_pending:
                if now > self._linger_until:
                    self._shut()
            elif now - self._closing_since > KEEP_ALIVE_SECONDS:
                self.cancel()  # its last answers were never read: no use keeping the descriptor for them
            return
        if self._wanted and now - self._wait_since > BUFFER_WAIT_SECONDS:
            self._reject(unavailable_response(self._headers), linger=True)
        elif self.idle and now - self._idle_since > KEEP_ALIVE_SECONDS:
            self._close()
        elif self._in_request and now - self._begun > REQUEST_SECONDS:
            self._refuse()
        elif self._writing_paused and now - self._paused_since > KEEP_ALIVE_SECONDS:
            self.cancel()  # a client that has read nothing for this long is not coming back for its answers

    def stop(self) -> None:
        """A graceful stop: close now if idle, else after the answer in progress (``stopping`` turns keep-alive off)."""
        if self.idle and not self._closing:
            self._close()

    def cancel(self) -> None:
        """The end of a stop's grace period: drop the connection, unsent answers and all."""
        if self._waiting is not None:
            self._waiting.cancel()
        self._set_closing()
        self._body_pending = False
        if self._transport is not None:
            self._transport.abort()

    def evict(self) -> None:
        """Close this idle keep-alive connection to make room for a new one (``Server.admit``)."""
        self._close()

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise httptools.HttpParserError("request head too large")  # → data_received refuses it


def _split_url(url: bytes) -> tuple[str, str, bytes] | None:
    """(raw path, decoded path, query string) of a request target, or None if it does not parse."""
    if url == b"/":
        return "/", "/", b""
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return None
    raw_path = (parsed.path or b"/").decode("latin-1")
    return raw_path, unquote(raw_path), parsed.query or b""


def _internal_error(exc: BaseException) -> HttpResponse:
    return error_response(wire.internal_error(exc))


class Server:
    """Serves an app (``app.App`` or any ``Responder``) on listening sockets.

    The interface is the part of uvicorn's ``Server`` cellstore used:
    ``run(sockets)`` blocks, ``started`` turns true once accepting,
    ``should_exit = True`` asks for a graceful stop from any thread (SIGINT
    and SIGTERM set it too).  ``precheck`` (``App.precheck``) judges the head
    of a large request before its body is read; ``max_connections`` (default:
    ``descriptors.default_max_connections()``) and ``max_buffered`` bound descriptors and
    memory (see the module docstring and docs/RELIABILITY.md).
    """

    def __init__(
        self,
        app: Responder,
        *,
        tls: ssl.SSLContext | None = None,
        precheck: Precheck | None = None,
        max_connections: int | None = None,
        max_buffered: int = MAX_BUFFERED_BYTES,
        access_log: AccessLog | None = None,
    ) -> None:
        self.app = app
        #: ``serve --access-log``: told of every answer written (None: off, and free).
        self.access_log = access_log
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.precheck = precheck
        self.max_connections = max_connections if max_connections is not None else descriptors.default_max_connections()
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.max_buffered = max_buffered
        self.connections: set[Connection] = set()
        #: Connections with nothing to do, the longest idle first (dicts keep insertion order).
        self.idle: dict[Connection, None] = {}
        self.open = 0  # connections not yet closing: what max_connections caps
        self.buffered = 0  # body bytes held or promised: what max_buffered caps
        self._waiters: deque[Connection] = deque()  # paused until the budget has room, first come first served
        self.evicted = 0
        self.turned_away = 0
        #: The out-of-descriptors probe; an attribute so a test can starve one server, not the process.
        self.descriptors_left: Callable[[], bool] = descriptors.descriptors_left
        self._at_limit = False
        self._out_of_descriptors = False
        self.started = False
        self.should_exit = False
        self.stopping = False
        self.clock = time.monotonic()
        self.date_header = _date_header()
        self._date_second = int(time.time())

    # connections and the budget

    def admit(self, connection: Connection) -> None:
        """A new connection: counted, and past ``max_connections`` room is made by closing the longest idle."""
        self.connections.add(connection)
        self.open += 1
        if self.open > self.max_connections:
            self._limit_reached()
            victim = next(iter(self.idle), None)
            if victim is None:
                self.turned_away += 1
                connection.turn_away()
                return
            self.evicted += 1
            victim.evict()
        self.idle[connection] = None

    def closing(self, connection: Connection) -> None:
        self.open -= 1
        self.idle.pop(connection, None)

    def _limit_reached(self) -> None:
        if not self._at_limit:
            self._at_limit = True
            log.warning(
                "connection limit reached (%d, --max-connections): closing the longest-idle keep-alive "
                "connections to admit new ones, and answering 503 when none is idle",
                self.max_connections,
            )

    def reserve(self, connection: Connection, size: int) -> bool:
        """Take ``size`` bytes of the budget for a declared body, or False: wait in line (``release`` grants)."""
        if not self._waiters and (self.buffered == 0 or self.buffered + size <= self.max_buffered):
            self.buffered += size
            return True
        self._waiters.append(connection)
        return False

    def take(self, connection: Connection, size: int) -> bool:
        """``size`` more bytes of a chunked body, if they fit (it cannot wait: it holds what it has)."""
        if self.buffered + size > self.max_buffered and self.buffered != connection.reserved:
            return False
        self.buffered += size
        return True

    def release(self, size: int) -> None:
        """Give bytes back, and let the connections waiting for room go on in the order they came."""
        self.buffered -= size
        while self._waiters:
            waiter = self._waiters[0]
            need = waiter.wanted - waiter.reserved  # what it read while pausing is counted already
            if self.buffered != 0 and self.buffered + need > self.max_buffered:
                break
            self._waiters.popleft()
            self.buffered += need
            waiter.granted()

    def stop_waiting(self, connection: Connection) -> None:
        try:
            self._waiters.remove(connection)
        except ValueError:
            pass

    # running

    def run(self, sockets: Sequence[socket.socket]) -> None:
        """Serve until asked to stop; on the main thread, SIGINT and SIGTERM ask."""
        runner = _new_event_loop()
        asyncio.set_event_loop(runner)
        try:
            runner.run_until_complete(self.serve(sockets))
        finally:
            asyncio.set_event_loop(None)
            runner.close()

    async def serve(self, sockets: Sequence[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        signals = threading.current_thread() is threading.main_thread()
        previous: dict[signal.Signals, signal.Handlers | Callable[[int, FrameType | None], object] | int | None] = {}
        if signals:
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.getsignal(sig)
                loop.add_signal_handler(sig, self._ask_exit)
        listeners = [
            await loop.create_server(lambda: Connection(self), sock=sock, ssl=self.tls, backlog=2048)
            for sock in sockets
        ]
        self.started = True
        try:
            while not self.should_exit:
                await asyncio.sleep(TICK_SECONDS)
                self._tick()
        finally:
            await self._stop(listeners)
            for sig, handler in previous.items():
                loop.remove_signal_handler(sig)
                if handler is not None:  # remove_signal_handler leaves the default: a later signal would kill
                    signal.signal(sig, handler)

    def _ask_exit(self) -> None:
        self.should_exit = True

    def _tick(self) -> None:
        self.clock = now = time.monotonic()
        second = int(time.time())
        if second != self._date_second:
            self._date_second = second
            self.date_header = _date_header()
        for connection in list(self.connections):
            connection.expire(now)
        self._check_descriptors()
        if self._at_limit and self.open < self.max_connections * 0.9:
            self._at_limit = False
            log.info(
                "connections back under the limit (%d open of %d): %d idle ones closed and %d turned away so far",
                self.open, self.max_connections, self.evicted, self.turned_away,
            )

    def _check_descriptors(self) -> None:
        """Out of descriptors (something besides connections took them): shed the longest-idle connections."""
        if self.descriptors_left():
            if self._out_of_descriptors:
                self._out_of_descriptors = False
                log.info("file descriptors available again (%d connections open)", self.open)
            return
        if not self._out_of_descriptors:
            self._out_of_descriptors = True
            log.warning(
                "out of file descriptors (RLIMIT_NOFILE) with %d connections open: new clients are being "
                "refused; closing the longest-idle keep-alive connections to make room",
                self.open,
            )
        for victim in list(itertools.islice(self.idle, SHED_PER_TICK)):
            self.evicted += 1
            victim.evict()

    async def _stop(self, listeners: Sequence[asyncio.AbstractServer]) -> None:
        self.stopping = True
        for listener in listeners:
            listener.close()
        stop_waiting = getattr(self.app, "stop_waiting", None)  # App's; stand-ins may have none
        if stop_waiting is not None:
            stop_waiting()  # long polls answer now (and close), rather than be cut off after the grace period
        for connection in list(self.connections):
            connection.stop()
        deadline = time.monotonic() + GRACE_SECONDS
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(TICK_SECONDS)
            for connection in list(self.connections):
                connection.stop()  # those that finished their answer meanwhile
        for connection in list(self.connections):
            connection.cancel()
        await asyncio.sleep(0)  # let cancelled long polls unwind
        for listener in listeners:
            await listener.wait_closed()


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile, keyfile)
    return context


def _date_header() -> bytes:
    return b"date: " + email.utils.formatdate(usegmt=True).encode("ascii") + b"\r\n"


def _new_event_loop() -> asyncio.AbstractEventLoop:
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()
