"""Hostile clients on raw sockets: slowloris, idle crowds, pipelining, malformed HTTP, oversized and unsigned bodies.

Every driver returns an ``AbuseFigures`` with the statuses the server
answered (a 5xx is a failure), and runs ``probe`` — a fresh client making a
real call on a new connection — while the pressure is on: the server may
shed the abusers, but it must not lock out everyone else.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httptools

Probe = Callable[[], None]  # a real call on a new connection; raises if the server does not answer
LIST_TABLES = "DynamoDB_20120810.ListTables"
#: The SigV4 material's *shape*: what ``--auth none`` checks; ``--auth sigv4`` refuses it (403).
FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=cellstore/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@dataclass
class AbuseFigures:
    name: str
    statuses: Counter[int] = field(default_factory=Counter)  # 0: closed without an answer
    detail: dict[str, Any] = field(default_factory=dict)
    probe_ok: bool = True
    probe_seconds: float = 0.0
    probe_error: str = ""
    seconds: float = 0.0

    @property
    def five_xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def run_probe(self, probe: Probe) -> None:
        """Time ``probe``; a failure marks the figures (a lock-out) instead of raising."""
        began = time.monotonic()
        try:
            probe()
        except Exception as error:  # noqa: BLE001 - recorded: this is the figure being measured
            self.probe_ok = False
            self.probe_error = repr(error)
        self.probe_seconds = max(self.probe_seconds, time.monotonic() - began)


def request(target: str = LIST_TABLES, body: bytes = b"{}", *, auth: bool = True, extra: bytes = b"") -> bytes:
    """One AWS JSON request as bytes (keep-alive), with well-formed but unverifiable SigV4 material."""
    head = (
        f"POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: {target}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\nX-Amz-Date: 20260101T000000Z\r\n"
        + (f"Authorization: {FAKE_AUTH}\r\n" if auth else "")
        + f"Content-Length: {len(body)}\r\n"
    ).encode()
    return head + extra + b"\r\n" + body


class _Answers:
    """httptools callbacks collecting the status of each answer on a connection."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.parser = httptools.HttpResponseParser(self)

    def on_message_complete(self) -> None:
        self.statuses.append(self.parser.get_status_code())


def _connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answers(sock: socket.socket, count: int, timeout: float = 30.0) -> list[int]:
    """Statuses of up to ``count`` answers; stops early when the server closes (or ``timeout`` passes)."""
    answers = _Answers()
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while len(answers.statuses) < count and time.monotonic() < deadline:
            data = sock.recv(1 << 16)
            if not data:
                break
            answers.parser.feed_data(data)
    except (OSError, httptools.HttpParserError):
        pass  # a reset or a partial answer at close: what was complete counts
    return answers.statuses


def _closed_by_server(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1 << 16) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        sock.setblocking(True)


def slowloris(port: int, probe: Probe, connections: int, seconds: float) -> AbuseFigures:
    """Connections that send a request head one header line per second and never finish it."""
    figures = AbuseFigures("slowloris")
    began = time.monotonic()
    socks = [_connect(port) for _ in range(connections)]
    for sock in socks:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\n")
    line = 0
    while time.monotonic() - began < seconds:
        for sock in socks:
            try:
                sock.sendall(f"X-Slow-{line}: a\r\n".encode())
            except OSError:
                pass  # the server dropped it: allowed
        line += 1
        if line == 1:
            figures.run_probe(probe)
        time.sleep(1.0)
    figures.run_probe(probe)
    closed = sum(_closed_by_server(sock) for sock in socks)
    for sock in socks:
        sock.close()
    figures.detail = {"connections": connections, "closed_by_server": closed, "header_lines_sent": line}
    figures.seconds = time.monotonic() - began
    return figures


def idle_crowd(port: int, probe: Probe, connections: int, seconds: float) -> AbuseFigures:
    """Many connections that never send a byte."""
    figures = AbuseFigures("idle connections")
    began = time.monotonic()
    socks: list[socket.socket] = []
    refused = 0
    for _ in range(connections):
        try:
            socks.append(_connect(port, timeout=2))
        except OSError:
            refused += 1
    figures.run_probe(probe)
    time.sleep(seconds)
    figures.run_probe(probe)
    closed = sum(_closed_by_server(sock) for sock in socks)
    for sock in socks:
        sock.close()
    figures.detail = {"connections": connections, "refused": refused, "closed_by_server": closed}
    figures.seconds = time.monotonic() - began
    return figures


def pipelining(port: int, probe: Probe, requests: int, never_reading: int) -> AbuseFigures:
    """``requests`` pipelined in one write and read back in order; then clients that pipeline and never read."""
    figures = AbuseFigures("pipelining")
    began = time.monotonic()
    with _connect(port) as sock:
        sock.sendall(request() * requests)
        statuses = read_answers(sock, requests)
    figures.statuses.update(statuses)
    figures.statuses[0] += requests - len(statuses)
    # Clients that send and never read: the server must stop reading them, not buffer their answers forever.
    hogs = [_connect(port) for _ in range(never_reading)]
    burst = request() * 500
    sent: list[int] = []

    def hog(sock: socket.socket) -> None:
        sock.settimeout(2)
        try:
            for _ in range(10):
                sock.sendall(burst)
                sent.append(500)
        except OSError:
            pass  # the server stopped reading (back-pressure) or dropped us: both fine

    threads = [threading.Thread(target=hog, args=(sock,), daemon=True) for sock in hogs]
    for thread in threads:
        thread.start()
    figures.run_probe(probe)
    for thread in threads:
        thread.join(60)
    figures.run_probe(probe)
    for sock in hogs:
        sock.close()
    figures.detail = {"pipelined": requests, "answered_in_order": len(statuses),
                      "never_reading_clients": never_reading, "requests_sent_by_them": sum(sent)}
    figures.seconds = time.monotonic() - began
    return figures


MALFORMED: dict[str, bytes] = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\r\n\r\n",
    "no method": b" / HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad version": b"POST / HTTP/9.9\r\nHost: x\r\n\r\n",
    "lf only": b"POST / HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}",
    "negative length": request().replace(b"Content-Length: 2", b"Content-Length: -1"),
    "two lengths": request(extra=b"Content-Length: 5\r\n"),
    "length and chunked": request(extra=b"Transfer-Encoding: chunked\r\n"),
    "bad chunk size": request().replace(b"Content-Length: 2", b"Transfer-Encoding: chunked")[:-2] + b"zz\r\n{}\r\n0\r\n\r\n",
    "header without colon": request(extra=b"NoColonHere\r\n"),
    "nul in header": request(extra=b"X-A: a\x00b\r\n"),
    "space before colon": request(extra=b"X-A : b\r\n"),
    "huge header": request(extra=b"X-Big: " + b"a" * (80 * 1024) + b"\r\n"),
    "many headers": request(extra=b"".join(b"X-H%d: v\r\n" % i for i in range(5000))),
    "not json": request(body=b"{not json"),
    "json array": request(body=b"[1,2,3]"),
    "deep json": request(body=b"[" * 100_000 + b"]" * 100_000),
    "invalid utf8": request(body=b'{"TableName": "\xff\xfe"}', target="DynamoDB_20120810.DescribeTable"),
    "unknown target": request(target="DynamoDB_20120810.NoSuchThing"),
    "empty target": request(target=""),
    "no auth": request(auth=False),
    "absolute uri": request().replace(b"POST / ", b"POST http://evil.example/ "),
    "connect method": b"CONNECT localhost:22 HTTP/1.1\r\nHost: x\r\n\r\n",
    "upgrade h2c": request(extra=b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"),
    "http2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


def malformed(port: int, probe: Probe) -> AbuseFigures:
    """Each malformed request on its own connection: any 4xx or a close is fine; a 5xx or a hang is not."""
    figures = AbuseFigures("malformed HTTP")
    began = time.monotonic()
    answers: dict[str, int] = {}
    for name, raw in MALFORMED.items():
        with _connect(port) as sock:
            try:
                sock.sendall(raw)
            except OSError:
                pass  # the server may close before reading it all
            statuses = read_answers(sock, 1, timeout=10)
        answers[name] = statuses[0] if statuses else 0
        figures.statuses[answers[name]] += 1
    figures.run_probe(probe)
    figures.detail = {"answers": answers}
    figures.seconds = time.monotonic() - began
    return figures


def oversized(port: int, probe: Probe, limit: int) -> AbuseFigures:
    """Bodies over the server's limit, declared and chunked: refused (413) without being read."""
    figures = AbuseFigures("oversized bodies")
    began = time.monotonic()
    answers: dict[str, int] = {}
    declared = request().replace(b"Content-Length: 2", b"Content-Length: %d" % (limit + 1))[:-2]
    chunk = b"%x\r\n" % (1 << 20) + b"a" * (1 << 20) + b"\r\n"
    chunked = request().replace(b"Content-Length: 2", b"Transfer-Encoding: chunked")[:-2]
    for name, head, tail in (("declared over the limit", declared, b"a" * (1 << 20)),
                             ("chunked past the limit", chunked, chunk * (limit // (1 << 20) + 2))):
        with _connect(port) as sock:
            sock.settimeout(30)
            try:
                sock.sendall(head)
                sock.sendall(tail)
            except OSError:
                pass  # refused and closed before the body was sent: the point
            statuses = read_answers(sock, 1, timeout=30)
        answers[name] = statuses[0] if statuses else 0
        figures.statuses[answers[name]] += 1
    figures.run_probe(probe)
    figures.detail = {"answers": answers, "limit_bytes": limit}
    figures.seconds = time.monotonic() - began
    return figures


def unsigned_uploads(port: int, probe: Probe, clients: int, body_bytes: int) -> AbuseFigures:
    """``clients`` at once each upload a ``body_bytes`` body with no signature at all.

    The answer must be a 4xx; what the figure is for is the server's memory
    while they upload (the sampler's phase around this call).
    """
    figures = AbuseFigures("unauthenticated uploads")
    began = time.monotonic()
    body = b"{" + b" " * (body_bytes - 2) + b"}"
    lock = threading.Lock()

    def upload() -> None:
        status = 0
        try:
            with _connect(port, timeout=60) as sock:
                try:
                    sock.sendall(request(body=body, auth=False))
                except OSError:
                    pass  # refused before the body was read: allowed
                statuses = read_answers(sock, 1, timeout=60)
                status = statuses[0] if statuses else 0
        except OSError:
            status = 0
        with lock:
            figures.statuses[status] += 1

    threads = [threading.Thread(target=upload, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    figures.run_probe(probe)
    for thread in threads:
        thread.join(120)
    figures.detail = {"clients": clients, "body_mib": round(body_bytes / 2**20, 1)}
    figures.seconds = time.monotonic() - began
    return figures
