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
  pending, later requests queue behind it (and past ``MAX_QUEUED`` the
  connection stops reading; below that it keeps reading, so a client that
  leaves mid-poll is noticed and its poll cancelled);
- ``Expect: 100-continue`` answered before the body is read;
- bodies over ``wire.MAX_BODY_BYTES`` refused without reading them (the
  connection then closes, since the rest of the body is unread); request
  heads over ``MAX_HEAD_BYTES`` and unparseable requests get 400 and a close;
- back-pressure: once a client's unread answers pass the transport's high-water
  mark, requests already parsed wait in the queue and the connection stops
  reading, until the client reads;
- idle connections close after ``KEEP_ALIVE_SECONDS``, and a request head or
  body that trickles in for longer than ``REQUEST_SECONDS`` closes too;
- graceful stop: stop accepting, close idle connections, let requests in
  progress finish for up to ``GRACE_SECONDS``, then cancel what still waits.
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import importlib.util
import logging
import signal
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import NamedTuple
from urllib.parse import unquote

import httptools

from cellstore.protocol import wire
from cellstore.protocol.asgi import HttpResponse, Responder, error_response

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
#: Pipelined requests queued behind a long poll before the connection stops reading.
MAX_QUEUED = 16
#: How often the housekeeping tick runs: the clock for timeouts, the Date header, ``should_exit``.
TICK_SECONDS = 0.1

_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUS_LINES = {status.value: f"HTTP/1.1 {status.value} {status.phrase}\r\n".encode("ascii") for status in http.HTTPStatus}


def status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    return line if line is not None else f"HTTP/1.1 {status} \r\n".encode("ascii")


def encode(response: HttpResponse, date: bytes, keep_alive: bool, head_only: bool = False) -> bytes:
    """The bytes of ``response``: one buffer, so one ``write`` (and usually one segment) per answer.

    Header values are written as given: ``App`` builds them from constants,
    numbers and request ids, and checks the few it takes from elsewhere
    (``asgi._reply_response``); checking every value here cost 4 µs an answer.
    """
    parts = [status_line(response.status)]
    for name, value in response.headers:
        parts += (name, b": ", value, b"\r\n")
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


class Connection(asyncio.Protocol):
    """One client connection: the parser's callbacks build requests, ``_answer`` answers them in order."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._app = server.app
        self._scheme = server.scheme
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._size = 0
        self._head_size = 0
        self._too_large = False
        self._in_request = False  # a request has begun arriving and is not complete
        self._begun = 0.0  # server clock when it began
        self._idle_since = 0.0
        self._waiting: asyncio.Task[None] | None = None  # a long poll being answered
        self._queued: deque[_Request] = deque()  # pipelined behind it
        self._closing = False
        self._reading_paused = False
        self._writing_paused = False
        self._paused_since = 0.0

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        self._idle_since = self._server.clock
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._server.connections.discard(self)
        if self._waiting is not None:
            self._waiting.cancel()  # nobody is left to answer: stop long-polling (a receive would hide messages)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse()  # no upgrades (WebSocket, h2c) here
        except httptools.HttpParserError:
            self._refuse()

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._paused_since = self._server.clock
        self._pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._paused_since = 0.0
        self._drain()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._in_request = True
        self._begun = self._server.clock
        self._url = b""
        self._headers = []
        self._body = []
        self._size = 0
        self._head_size = 0
        self._too_large = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))

    def on_headers_complete(self) -> None:
        expects_continue = False
        for name, value in self._headers:
            if name == b"content-length":
                try:
                    self._too_large = int(value) > wire.MAX_BODY_BYTES
                except ValueError:
                    pass  # llhttp has already refused a malformed length
            elif name == b"expect" and value.lower() == b"100-continue":
                expects_continue = True
        if self._too_large:
            self._refuse_body()
        elif expects_continue and self._transport is not None and self._waiting is None:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self._too_large:
            return
        self._size += len(body)
        if self._size > wire.MAX_BODY_BYTES:
            self._too_large = True
            self._body = []
            self._refuse_body()
            return
        self._body.append(body)

    def on_message_complete(self) -> None:
        self._in_request = False
        if self._too_large or self._closing:
            return  # answered (and closing) already
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = _Request(
            self._parser.get_method().decode("ascii"), self._url, self._headers, body, self._parser.should_keep_alive()
        )
        if self._waiting is not None or self._writing_paused or self._queued:
            self._queue(request)
        else:
            self._answer(request)

    # answering

    def _queue(self, request: _Request) -> None:
        self._queued.append(request)
        if len(self._queued) >= MAX_QUEUED:
            self._pause_reading()

    def _answer(self, request: _Request) -> None:
        url = request.url
        if url == b"/":
            raw_path, path, query = "/", "/", b""
        else:
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refuse()
                return
            raw_path = (parsed.path or b"/").decode("latin-1")
            path = unquote(raw_path)
            query = parsed.query or b""
        try:
            answer = self._app.respond(
                request.method, path, raw_path, query, request.headers, request.body, self._scheme
            )
        except Exception as exc:  # noqa: BLE001 - App.respond never raises; if it does, a 500, never a hang
            answer = _internal_error(exc)
        if isinstance(answer, HttpResponse):
            self._write(answer, request)
        else:
            self._waiting = asyncio.ensure_future(self._answer_later(answer, request))

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
            self._answer(self._queued.popleft())
        if len(self._queued) < MAX_QUEUED and not self._writing_paused:
            self._resume_reading()

    def _write(self, response: HttpResponse, request: _Request) -> None:
        transport = self._transport
        if transport is None or self._closing:
            return
        keep_alive = request.keep_alive and not self._server.stopping
        transport.write(encode(response, self._server.date_header, keep_alive, request.method == "HEAD"))
        if not keep_alive:
            self._close()
        else:
            self._idle_since = self._server.clock

    def _refuse_body(self) -> None:
        """Answer a request whose body is over the limit, unread, and close: the rest of it is never read."""
        request = _Request(self._parser.get_method().decode("ascii"), self._url, self._headers, None, False)
        if self._waiting is not None or self._writing_paused or self._queued:
            self._queue(request)  # answered in turn, then the connection closes
        else:
            self._answer(request)

    def _refuse(self) -> None:
        if self._transport is not None and not self._closing:
            self._transport.write(_BAD_REQUEST)
        self._close()

    def _close(self) -> None:
        self._closing = True
        if self._transport is not None:
            self._transport.close()

    def _pause_reading(self) -> None:
        if not self._reading_paused and self._transport is not None and not self._closing:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and self._transport is not None and not self._closing:
            self._reading_paused = False
            self._transport.resume_reading()

    # housekeeping, from Server's tick

    @property
    def idle(self) -> bool:
        return self._waiting is None and not self._in_request and not self._queued

    def expire(self, now: float) -> None:
        """Close the connection if it has been idle, a request has been arriving, or its answers unread, for too long."""
        if self._closing:
            return
        if self.idle and now - self._idle_since > KEEP_ALIVE_SECONDS:
            self._close()
        elif self._in_request and now - self._begun > REQUEST_SECONDS:
            self._refuse()
        elif self._writing_paused and now - self._paused_since > KEEP_ALIVE_SECONDS:
            self.cancel()  # a client that has read nothing for this long is not coming back for its answers

    def stop(self) -> None:
        """A graceful stop: close now if idle, else after the answer in progress (``stopping`` turns keep-alive off)."""
        if self.idle:
            self._close()

    def cancel(self) -> None:
        """The end of a stop's grace period: drop the connection, unsent answers and all."""
        if self._waiting is not None:
            self._waiting.cancel()
        self._closing = True
        if self._transport is not None:
            self._transport.abort()

    def _count_head(self, size: int) -> None:
        self._head_size += size
        if self._head_size > MAX_HEAD_BYTES:
            raise httptools.HttpParserError("request head too large")  # → data_received refuses it


def _internal_error(exc: BaseException) -> HttpResponse:
    return error_response(wire.internal_error(exc))


class Server:
    """Serves an app (``asgi.App`` or any ``Responder``) on listening sockets.

    The interface is the part of uvicorn's ``Server`` cellstore used:
    ``run(sockets)`` blocks, ``started`` turns true once accepting,
    ``should_exit = True`` asks for a graceful stop from any thread (SIGINT
    and SIGTERM set it too).
    """

    def __init__(self, app: Responder, *, tls: ssl.SSLContext | None = None) -> None:
        self.app = app
        self.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.connections: set[Connection] = set()
        self.started = False
        self.should_exit = False
        self.stopping = False
        self.clock = time.monotonic()
        self.date_header = _date_header()
        self._date_second = int(time.time())

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
        previous: dict[int, object] = {}
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

    async def _stop(self, listeners: list[asyncio.AbstractServer]) -> None:
        self.stopping = True
        for listener in listeners:
            listener.close()
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
