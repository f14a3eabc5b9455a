"""``cellstore serve`` under descriptor and memory pressure: new clients still served, memory bounded.

Each test starts a real server process (with, where it matters, a lowered
RLIMIT_NOFILE set in the child before exec) and attacks it with raw sockets;
memory is the server's VmRSS from /proc.  That closed connections are freed
without the cyclic collector is shown in-process, with weakrefs, in
tests/unit/protocol/test_http_limits.py.
"""

from __future__ import annotations

import collections
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.config import Config

pytestmark = [pytest.mark.slow, pytest.mark.server]

UPLOAD = 15 * 1024 * 1024
SIGNED = (
    "X-Amz-Date: 20260101T000000Z\r\n"
    "Authorization: AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=abc\r\n"
)


class Served:
    """``python -m cellstore serve`` (``--in-memory`` unless ``args``) in a child, optionally with RLIMIT_NOFILE (soft, hard)."""

    def __init__(self, log: Path, *args: str, nofile: tuple[int, int] | None = None) -> None:
        self.log = log
        self._out = log.open("wb")

        # The limit is set in the child, before cellstore starts, by a one-line
        # launcher (preexec_fn is unsafe in a process that may have threads).
        setup = f"resource.setrlimit(resource.RLIMIT_NOFILE, {nofile!r}); " if nofile is not None else ""
        launch = f"import resource, runpy; {setup}runpy.run_module('cellstore', run_name='__main__')"
        self.process = subprocess.Popen(
            [sys.executable, "-c", launch, "serve", "--port", "0", *(args or ("--in-memory",))],
            stdout=self._out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while not (match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text())):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"cellstore did not start:\n{log.read_text()}")
            time.sleep(0.02)
        self.port = int(match.group(1))

    @property
    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1)) / 1024  # type: ignore[union-attr]

    @property
    def descriptors(self) -> int:
        return len(list(Path(f"/proc/{self.process.pid}/fd").iterdir()))

    def client(self) -> object:
        import boto3

        return boto3.session.Session().client(
            "dynamodb", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{self.port}",
            aws_access_key_id="AKID", aws_secret_access_key="secret",
            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=5),
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*args: str, nofile: tuple[int, int] | None = None) -> Served:
        served = Served(tmp_path / f"server-{len(started)}.log", *args, nofile=nofile)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


def upload(port: int, auth: str, statuses: list[str]) -> None:
    """One ListTables whose body is 15 MB of junk, sent whole; the status line of the answer is recorded."""
    head = (
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: DynamoDB_20120810.ListTables\r\n{auth}Content-Length: {UPLOAD}\r\n\r\n"
    )
    chunk = b"x" * (1024 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=60) as conn:
        try:
            conn.sendall(head.encode())
            for _ in range(UPLOAD // len(chunk)):
                conn.sendall(chunk)
            answer = b""
            while b"\r\n\r\n" not in answer and (more := conn.recv(65536)):
                answer += more
            statuses.append(answer.partition(b"\r\n")[0].decode())
        except OSError as err:
            statuses.append(repr(err))


def uploads(served: Served, count: int, auth: str) -> tuple[float, list[str]]:
    """``count`` uploads at once; (the server's peak RSS in MiB meanwhile, their answers)."""
    statuses: list[str] = []
    threads = [threading.Thread(target=upload, args=(served.port, auth, statuses)) for _ in range(count)]
    for thread in threads:
        thread.start()
    peak = served.rss_mib
    while any(thread.is_alive() for thread in threads):
        peak = max(peak, served.rss_mib)
        time.sleep(0.02)
    return peak, statuses


def test_idle_connections_past_the_open_file_limit_do_not_lock_new_clients_out(
    serve: Callable[..., Served],
) -> None:
    served = serve(nofile=(256, 256))
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(400)]  # more than it may open
    try:
        time.sleep(0.5)
        assert served.descriptors < 256
        began = time.monotonic()
        assert served.client().list_tables()["TableNames"] == []  # type: ignore[attr-defined]
        assert time.monotonic() - began < 5
        closed = 0
        for conn in idle:
            conn.setblocking(False)
            try:
                closed += conn.recv(1) == b""
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed += 1
        assert closed >= 400 - (256 - 64)  # the longest idle made room
    finally:
        for conn in idle:
            conn.close()
    log = served.log.read_text()
    assert log.count("connection limit reached (192, --max-connections)") == 1  # said once, not per connection


def test_serve_raises_the_soft_open_file_limit_to_the_hard_one(serve: Callable[..., Served]) -> None:
    served = serve(nofile=(256, 4096))
    limits = Path(f"/proc/{served.process.pid}/limits").read_text()
    assert re.search(r"Max open files\s+4096\s+4096", limits)
    assert "open-file limit raised from 256 to 4096" in served.log.read_text()


def test_an_explicit_max_connections_is_the_cap(serve: Callable[..., Served]) -> None:
    served = serve("--in-memory", "--max-connections", "20")
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(50)]
    try:
        time.sleep(0.5)
        assert served.client().list_tables()["TableNames"] == []  # type: ignore[attr-defined]
        assert served.descriptors < 20 + 40
    finally:
        for conn in idle:
            conn.close()
    assert "connection limit reached (20, --max-connections)" in served.log.read_text()


def test_unauthenticated_large_uploads_do_not_grow_memory(serve: Callable[..., Served]) -> None:
    served = serve()
    before = served.rss_mib
    for _ in range(2):
        peak, statuses = uploads(served, 40, auth="")
        # Refused on their headers (no Authorization), read by the client before the close.
        assert statuses == ["HTTP/1.1 400 Bad Request"] * 40
        assert peak - before < 40, f"RSS grew from {before:.0f} to {peak:.0f} MiB"  # was +590 MiB per round
    time.sleep(0.3)
    assert served.rss_mib - before < 40


def test_signed_large_uploads_are_held_to_the_buffer_budget(serve: Callable[..., Served]) -> None:
    served = serve()
    before = served.rss_mib
    peak, statuses = uploads(served, 20, auth=SIGNED)
    # Well-formed (``--auth none``): read, parsed, and refused as JSON; some may wait too long for room.
    assert set(statuses) <= {"HTTP/1.1 400 Bad Request", "HTTP/1.1 503 Service Unavailable"}
    assert collections.Counter(statuses)["HTTP/1.1 400 Bad Request"] >= 8
    budget = 128
    assert peak - before < budget + 64, f"RSS grew from {before:.0f} to {peak:.0f} MiB"
    time.sleep(0.5)
    assert served.rss_mib - before < 64, "the budget's memory was not given back"


def test_each_worker_caps_its_own_connections(serve: Callable[..., Served], tmp_path: Path) -> None:
    served = serve("--workers", "2", "--data-dir", str(tmp_path / "data"), "--max-connections", "10")
    idle = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(60)]
    try:
        time.sleep(0.5)
        assert served.client().list_tables()["TableNames"] == []  # type: ignore[attr-defined]
    finally:
        for conn in idle:
            conn.close()
    log = served.log.read_text()
    assert 1 <= log.count("connection limit reached (10, --max-connections)") <= 2  # once per worker at most
