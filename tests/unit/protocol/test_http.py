"""protocol/http.py over real sockets: keep-alive, pipelining, limits, timeouts and graceful stops.

The app here is a stand-in with ``respond`` (the only thing the server
calls): it echoes what it was given, and answers ``/slow`` only after a
while, as a long poll does, so ordering and cancellation can be watched.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Iterator, Sequence
from typing import Any

import orjson
import pytest

from cellstore.protocol import http, wire
from cellstore.protocol.app import HttpResponse
from cellstore.protocol.server import bind


class EchoApp:
    def __init__(self) -> None:
        self.slow_seconds = 0.3
        self.cancelled = threading.Event()
        self.seen: list[dict[str, Any]] = []

    def respond(
        self,
        method: str,
        path: str,
        raw_path: str,
        query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
        scheme: str = "http",
    ) -> HttpResponse | Awaitable[HttpResponse]:
        seen = {
            "method": method,
            "path": path,
            "raw_path": raw_path,
            "query": query_string.decode(),
            "headers": {name.decode(): value.decode() for name, value in headers},
            "body": None if body is None else body.decode(),
            "scheme": scheme,
        }
        self.seen.append(seen)
        answer = _json(200 if body is not None else 413, seen)
        if path == "/slow":
            return self._later(answer)
        if path == "/big":
            return HttpResponse(200, [(b"content-length", str(BIG).encode())], b"x" * BIG)
        return answer

    async def _later(self, answer: HttpResponse) -> HttpResponse:
        try:
            await asyncio.sleep(self.slow_seconds)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return answer


BIG = 1024 * 1024


def _json(status: int, value: Any) -> HttpResponse:
    body = orjson.dumps(value)
    return HttpResponse(status, [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())], body)


class Running:
    def __init__(self, app: EchoApp, **options: Any) -> None:
        self.app = app
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.server = http.Server(app, **options)
        self.clients: list[socket.socket] = []
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline
            time.sleep(0.005)

    def connect(self) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.clients.append(conn)
        return conn

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        for client in self.clients:
            client.close()


@pytest.fixture
def app() -> EchoApp:
    return EchoApp()


@pytest.fixture
def running(app: EchoApp) -> Iterator[Running]:
    started = Running(app)
    yield started
    started.stop()


def request(path: str = "/", body: bytes = b"{}", *, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


class Reader:
    """Reads HTTP/1.1 answers (content-length framed) off a socket."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.conn.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def answer(self) -> tuple[int, dict[str, str], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            assert self._fill(), f"connection closed before an answer; got {self.buffer!r}"
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            assert self._fill(), "connection closed inside a body"
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split()[1]), headers, body

    def closed(self) -> bool:
        """True once the server has closed the connection (after any buffered bytes)."""
        try:
            return not self._fill() and not self.buffer
        except ConnectionResetError:
            return True


def test_keep_alive_answers_several_requests_on_one_connection(running: Running) -> None:
    conn = running.connect()
    reader = Reader(conn)
    for n in range(3):
        conn.sendall(request(body=f'{{"n":{n}}}'.encode()))
        status, headers, body = reader.answer()
        assert status == 200
        assert orjson.loads(body)["body"] == f'{{"n":{n}}}'
        assert "date" in headers and headers["date"].endswith("GMT")
        assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(running: Running) -> None:
    conn = running.connect()
    conn.sendall(b"".join(request(f"/p{n}") for n in range(5)))
    reader = Reader(conn)
    assert [orjson.loads(reader.answer()[2])["path"] for _ in range(5)] == [f"/p{n}" for n in range(5)]


def test_a_request_pipelined_behind_a_long_poll_waits_its_turn(running: Running) -> None:
    conn = running.connect()
    conn.sendall(request("/slow") + request("/fast"))
    reader = Reader(conn)
    assert orjson.loads(reader.answer()[2])["path"] == "/slow"
    assert orjson.loads(reader.answer()[2])["path"] == "/fast"


def test_other_connections_are_answered_while_one_long_polls(running: Running) -> None:
    slow = running.connect()
    slow.sendall(request("/slow"))
    fast = running.connect()
    started = time.monotonic()
    fast.sendall(request("/fast"))
    assert Reader(fast).answer()[0] == 200
    assert time.monotonic() - started < running.app.slow_seconds
    assert Reader(slow).answer()[0] == 200


def test_http_1_0_and_connection_close_end_the_connection(running: Running) -> None:
    for raw in (request(version="1.0"), request(extra="Connection: close\r\n")):
        conn = running.connect()
        conn.sendall(raw)
        reader = Reader(conn)
        status, headers, _ = reader.answer()
        assert status == 200 and headers["connection"] == "close"
        assert reader.closed()


def test_chunked_bodies_arrive_whole(running: Running) -> None:
    conn = running.connect()
    conn.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"a"\r\n4\r\n: 1}\r\n0\r\n\r\n'
    )
    assert orjson.loads(Reader(conn).answer()[2])["body"] == '{"a": 1}'


def test_expect_100_continue_is_answered_before_the_body(running: Running) -> None:
    conn = running.connect()
    conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    reader = Reader(conn)
    status, _, _ = reader.answer()
    assert status == 100
    conn.sendall(b"{}")
    status, _, body = reader.answer()
    assert status == 200 and orjson.loads(body)["body"] == "{}"


def test_a_declared_oversize_body_is_refused_unread_and_the_connection_closes(running: Running) -> None:
    conn = running.connect()
    conn.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {wire.MAX_BODY_BYTES + 1}\r\n\r\n".encode())
    reader = Reader(conn)
    status, headers, body = reader.answer()
    assert status == 413 and orjson.loads(body)["body"] is None  # the app was told: too large
    assert headers["connection"] == "close"
    assert reader.closed()


def test_a_streamed_oversize_body_is_refused(running: Running) -> None:
    conn = running.connect()
    conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * (1024 * 1024)
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    try:
        for _ in range(wire.MAX_BODY_BYTES // len(chunk) + 2):
            conn.sendall(framed)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server closed once it had refused
    status, headers, _ = Reader(conn).answer()
    assert status == 413 and headers["connection"] == "close"


@pytest.mark.parametrize(
    "raw",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (http.MAX_HEAD_BYTES + 1) + b"\r\n\r\n",
    ],
    ids=["garbage", "bad-length", "head-too-large"],
)
def test_unparseable_requests_get_400_and_a_close(running: Running, raw: bytes) -> None:
    conn = running.connect()
    conn.sendall(raw)
    reader = Reader(conn)
    status, headers, _ = reader.answer()
    assert status == 400 and headers["connection"] == "close"
    assert reader.closed()


def test_head_answers_carry_no_body(running: Running) -> None:
    conn = running.connect()
    conn.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + request("/after"))
    reader = Reader(conn)
    # HEAD's answer has a content-length but no body: read its head by hand.
    while b"\r\n\r\n" not in reader.buffer:
        reader._fill()
    head, _, reader.buffer = reader.buffer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"content-length:" in head
    assert orjson.loads(reader.answer()[2])["path"] == "/after"


def test_paths_and_queries_reach_the_app_decoded_and_raw(running: Running, app: EchoApp) -> None:
    conn = running.connect()
    conn.sendall(request("/q%2Fx/y?Action=List&a=%20"))
    seen = orjson.loads(Reader(conn).answer()[2])
    assert seen["path"] == "/q/x/y" and seen["raw_path"] == "/q%2Fx/y"
    assert seen["query"] == "Action=List&a=%20"
    assert seen["headers"]["host"] == "localhost"  # names lower-cased


def test_idle_connections_close_after_the_keep_alive_timeout(
    app: EchoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "KEEP_ALIVE_SECONDS", 0.3)
    started = Running(app)
    try:
        conn = started.connect()
        conn.sendall(request())
        reader = Reader(conn)
        assert reader.answer()[0] == 200
        began = time.monotonic()
        assert reader.closed()
        assert time.monotonic() - began < 3
    finally:
        started.stop()


def test_a_request_that_never_finishes_arriving_is_closed(app: EchoApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "REQUEST_SECONDS", 0.3)
    started = Running(app)
    try:
        conn = started.connect()
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{}")  # 8 bytes short
        reader = Reader(conn)
        assert reader.answer()[0] == 400
        assert reader.closed()
    finally:
        started.stop()


def test_a_client_that_leaves_mid_long_poll_cancels_it(running: Running, app: EchoApp) -> None:
    app.slow_seconds = 30
    conn = running.connect()
    conn.sendall(request("/slow"))
    time.sleep(0.2)
    conn.close()
    assert app.cancelled.wait(5)


def test_a_graceful_stop_finishes_answers_in_progress_and_closes_idle_connections(app: EchoApp) -> None:
    started = Running(app)
    idle = started.connect()
    idle.sendall(request())
    idle_reader = Reader(idle)
    assert idle_reader.answer()[0] == 200
    busy = started.connect()
    busy.sendall(request("/slow"))
    time.sleep(0.1)
    started.server.should_exit = True
    status, headers, _ = Reader(busy).answer()
    assert status == 200 and headers["connection"] == "close"  # answered, then closed
    assert idle_reader.closed()
    started.thread.join(10)
    assert not started.thread.is_alive()
    started.stop()
    with pytest.raises(OSError):  # no longer accepting
        started.connect()


def test_a_stop_cancels_long_polls_that_outlast_the_grace_period(
    app: EchoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "GRACE_SECONDS", 0.3)
    app.slow_seconds = 30
    started = Running(app)
    busy = started.connect()
    busy.sendall(request("/slow"))
    time.sleep(0.1)
    began = time.monotonic()
    started.server.should_exit = True
    started.thread.join(10)
    assert time.monotonic() - began < 5
    assert app.cancelled.is_set()
    assert Reader(busy).closed()
    started.stop()


def test_a_client_that_does_not_read_its_answers_stops_being_read(running: Running, app: EchoApp) -> None:
    conn = running.connect()
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    conn.sendall(b"".join(request("/big") for _ in range(40)))  # 40 MB of answers, none read yet
    deadline = time.monotonic() + 5
    while len(app.seen) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    answered_before_reading = len(app.seen)
    assert answered_before_reading < 40  # the server paused instead of buffering every answer
    reader = Reader(conn)
    for _ in range(40):
        status, _, body = reader.answer()
        assert status == 200 and len(body) == BIG
    assert len(app.seen) == 40


def test_a_client_that_never_reads_its_answers_is_dropped(app: EchoApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "KEEP_ALIVE_SECONDS", 0.5)
    started = Running(app)
    try:
        conn = started.connect()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        conn.sendall(b"".join(request("/big") for _ in range(20)))
        deadline = time.monotonic() + 10
        while started.server.connections and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not started.server.connections
    finally:
        started.stop()


def test_status_lines_cover_unusual_codes() -> None:
    assert http.status_line(200) == b"HTTP/1.1 200 OK\r\n"
    assert http.status_line(599) == b"HTTP/1.1 599 \r\n"


def test_header_values_with_line_breaks_are_never_written() -> None:
    from cellstore.protocol import app

    with pytest.raises(ValueError):
        app._reply_response(wire.Reply(400, b"{}", ((b"x-amzn-query-error", b"a\r\nb"),)), wire.CONTENT_TYPE)
