"""protocol/http.py under pressure: heads judged before bodies, a byte budget, a connection cap, prompt frees.

Raw sockets against ``http.Server`` with the echo stand-in of test_http.py
(plus a ``precheck`` that refuses heads carrying ``x-refuse``), then the
same limits through cellstore's real ``App`` with ``--auth sigv4``.
"""

from __future__ import annotations

import gc
import logging
import resource
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from test_http import EchoApp, Reader, Running, request

from cellstore.engine.wiring import open_database
from cellstore.protocol import descriptors, http, wire
from cellstore.protocol.app import App, HttpResponse, unavailable_response
from cellstore.protocol.auth import Auth
from cellstore.protocol.credentials import CredentialsFile
from cellstore.protocol.server import BackgroundServer, build_app
from cellstore.storage import open_store

LARGE = http.PRECHECK_BYTES + 1


class Gate:
    """A ``precheck`` that refuses any head with an ``x-refuse`` header (as the app refuses a stranger)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(
        self, method: str, path: str, raw_path: str, query: bytes, headers: Sequence[tuple[bytes, bytes]], scheme: str
    ) -> HttpResponse | None:
        self.calls.append(path)
        if any(name == b"x-refuse" for name, _ in headers):
            body = b'{"__type":"refused"}'
            return HttpResponse(403, [(b"content-length", str(len(body)).encode())], body)
        return None


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def app() -> EchoApp:
    return EchoApp()


@pytest.fixture
def serving(app: EchoApp, gate: Gate) -> Iterator[Callable[..., Running]]:
    """Start servers with options; all are stopped at teardown."""
    started: list[Running] = []

    def start(**options: Any) -> Running:
        running = Running(app, precheck=gate, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


def head(path: str = "/", length: int = LARGE, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n{extra}\r\n".encode()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class Peak:
    """Samples ``server.buffered`` from a thread: the most body bytes the server ever held at once."""

    def __init__(self, server: http.Server) -> None:
        self.server = server
        self.value = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.value = max(self.value, self.server.buffered)
            time.sleep(0.001)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.value


# --- heads judged before bodies ---------------------------------------------------


def test_a_large_body_refused_on_its_head_is_dropped_unread_and_the_client_reads_the_refusal(
    serving: Callable[..., Running], app: EchoApp, gate: Gate
) -> None:
    running = serving()
    peak = Peak(running.server)
    conn = running.connect()
    size = 4 * 1024 * 1024
    conn.sendall(head(length=size, extra="x-refuse: yes\r\n"))
    conn.sendall(b"x" * size)  # the whole body goes through: the server reads it and drops it
    reader = Reader(conn)
    status, headers, body = reader.answer()
    assert (status, body) == (403, b'{"__type":"refused"}')
    assert headers["connection"] == "close"
    assert reader.closed()
    assert peak.stop() == 0  # not one byte of it was held
    assert gate.calls == ["/"] and app.seen == []


def test_small_bodies_are_not_prechecked_large_and_chunked_ones_are(
    serving: Callable[..., Running], app: EchoApp, gate: Gate
) -> None:
    running = serving()
    conn = running.connect()
    reader = Reader(conn)
    conn.sendall(request("/small", b"x" * http.PRECHECK_BYTES))
    assert reader.answer()[0] == 200
    assert gate.calls == []
    conn.sendall(request("/large", b"x" * LARGE))
    assert reader.answer()[0] == 200
    conn.sendall(b"POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert orjson.loads(reader.answer()[2])["body"] == "{}"
    assert gate.calls == ["/large", "/chunked"]
    assert [seen["path"] for seen in app.seen] == ["/small", "/large", "/chunked"]


def test_a_refused_client_that_expects_100_continue_is_closed_without_waiting_for_a_body(
    serving: Callable[..., Running],
) -> None:
    running = serving()
    conn = running.connect()
    began = time.monotonic()
    conn.sendall(head(extra="Expect: 100-continue\r\nx-refuse: yes\r\n"))
    reader = Reader(conn)
    assert reader.answer()[0] == 403  # the refusal, never "100 Continue"
    assert reader.closed()
    assert time.monotonic() - began < http.LINGER_SECONDS


def test_nothing_pipelined_after_a_refused_request_is_answered(
    serving: Callable[..., Running], app: EchoApp
) -> None:
    running = serving()
    conn = running.connect()
    conn.sendall(head(extra="x-refuse: yes\r\n") + b"x" * LARGE + request("/after"))
    reader = Reader(conn)
    assert reader.answer()[0] == 403
    assert reader.closed()
    assert app.seen == []


def test_a_refusal_behind_a_long_poll_is_answered_in_turn(serving: Callable[..., Running], app: EchoApp) -> None:
    running = serving()
    conn = running.connect()
    conn.sendall(request("/slow") + head(extra="x-refuse: yes\r\n") + b"x" * LARGE)
    reader = Reader(conn)
    status, _, body = reader.answer()
    assert status == 200 and orjson.loads(body)["path"] == "/slow"
    assert reader.answer()[0] == 403
    assert reader.closed()


def test_a_refused_client_that_never_finishes_its_body_is_closed_after_the_linger(
    serving: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "LINGER_SECONDS", 0.3)
    running = serving()
    conn = running.connect()
    conn.sendall(head(extra="x-refuse: yes\r\n") + b"x" * 1000)
    reader = Reader(conn)
    assert reader.answer()[0] == 403
    began = time.monotonic()
    assert reader.closed()
    assert time.monotonic() - began < 3


# --- the byte budget ------------------------------------------------------------------


def test_a_body_waits_paused_for_room_in_the_budget_then_is_answered(
    serving: Callable[..., Running], app: EchoApp
) -> None:
    running = serving(max_buffered=1024 * 1024)
    size = 700 * 1024
    holder = running.connect()
    holder.sendall(head("/first", size) + b"x" * 1000)  # holds 700 KiB of the 1 MiB budget while it trickles
    wait_for(lambda: running.server.buffered == size)
    waiter = running.connect()
    waiter.sendall(head("/second", size) + b"x" * size)
    time.sleep(0.3)
    assert app.seen == [] and running.server.buffered <= 1024 * 1024 + 256 * 1024
    holder.sendall(b"x" * (size - 1000))
    assert Reader(holder).answer()[0] == 200
    assert Reader(waiter).answer()[0] == 200
    assert [seen["path"] for seen in app.seen] == ["/first", "/second"]
    assert running.server.buffered == 0


def test_a_body_that_waits_too_long_for_room_gets_503_in_its_protocol(
    serving: Callable[..., Running], app: EchoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "BUFFER_WAIT_SECONDS", 0.3)
    running = serving(max_buffered=1024 * 1024)
    holder = running.connect()
    holder.sendall(head("/first", 900 * 1024) + b"x")
    wait_for(lambda: running.server.buffered > 0)
    waiter = running.connect()
    waiter.sendall(head("/second", 900 * 1024, "X-Amz-Target: AmazonSQS.SendMessage\r\n"))
    reader = Reader(waiter)
    status, headers, body = reader.answer()
    assert status == 503 and headers["connection"] == "close"
    assert orjson.loads(body)["__type"] == "com.amazonaws.sqs#ServiceUnavailable"
    assert headers["x-amzn-query-error"] == "ServiceUnavailable;Receiver"
    assert reader.closed()
    holder.close()
    wait_for(lambda: running.server.buffered == 0)
    assert app.seen == []


def test_a_chunked_body_that_would_overflow_the_budget_gets_503(serving: Callable[..., Running]) -> None:
    running = serving(max_buffered=1024 * 1024)
    holder = running.connect()
    holder.sendall(head("/first", 900 * 1024) + b"x")
    wait_for(lambda: running.server.buffered > 0)
    conn = running.connect()
    chunk = b"y" * (200 * 1024)
    conn.sendall(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk
        + b"\r\n"
    )
    reader = Reader(conn)
    status, _, body = reader.answer()
    assert status == 503 and orjson.loads(body)["__type"].endswith("#ServiceUnavailable")
    conn.sendall(b"0\r\n\r\n")  # the end of the body: the connection closes once it is dropped
    assert reader.closed()
    assert running.server.buffered == 900 * 1024


def test_100_continue_waits_for_room_in_the_budget(serving: Callable[..., Running]) -> None:
    running = serving(max_buffered=1024 * 1024)
    holder = running.connect()
    holder.sendall(head("/first", 900 * 1024) + b"x")
    wait_for(lambda: running.server.buffered > 0)
    waiter = running.connect()
    waiter.settimeout(0.3)
    waiter.sendall(head("/second", 900 * 1024, "Expect: 100-continue\r\n"))
    with pytest.raises(TimeoutError):
        waiter.recv(100)  # no "100 Continue" while there is no room
    waiter.settimeout(5)
    holder.sendall(b"x" * (900 * 1024 - 1))
    assert Reader(holder).answer()[0] == 200
    reader = Reader(waiter)
    assert reader.answer()[0] == 100
    waiter.sendall(b"x" * 900 * 1024)
    assert reader.answer()[0] == 200


def test_bodies_queued_behind_a_long_poll_are_bounded_per_connection(
    serving: Callable[..., Running], app: EchoApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http, "MAX_QUEUED_BYTES", 1024 * 1024)
    app.slow_seconds = 1.0
    running = serving()
    conn = running.connect()
    body = b"x" * (300 * 1024)
    sender = threading.Thread(
        target=conn.sendall, args=(request("/slow") + b"".join(request(f"/p{n}", body) for n in range(10)),)
    )
    sender.start()
    time.sleep(0.5)  # the long poll is pending; its followers queue until the bound
    (connection,) = running.server.connections
    queued = len(connection._queued)
    assert 1 <= queued <= 5  # about 1 MiB of them, not all ten (3 MiB)
    reader = Reader(conn)
    paths = [orjson.loads(reader.answer()[2])["path"] for _ in range(11)]
    sender.join(5)
    assert paths == ["/slow"] + [f"/p{n}" for n in range(10)]
    assert running.server.buffered == 0


# --- the connection cap ----------------------------------------------------------------


def test_past_the_cap_the_longest_idle_connection_makes_room(
    serving: Callable[..., Running], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cellstore.http")
    running = serving(max_connections=3)
    first, second, third = running.connect(), running.connect(), running.connect()
    wait_for(lambda: running.server.open == 3)
    first.sendall(request("/first"))  # first was answered since: second has been idle longest
    assert Reader(first).answer()[0] == 200
    fourth = running.connect()
    assert Reader(second).closed()
    fourth.sendall(request("/fourth"))
    assert Reader(fourth).answer()[0] == 200
    fifth = running.connect()
    assert Reader(third).closed()
    for conn in (first, fifth):
        conn.sendall(request())
        assert Reader(conn).answer()[0] == 200
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "connection limit reached (3" in warnings[0].getMessage()  # once, not per eviction
    assert running.server.evicted == 2


def test_with_no_connection_idle_a_new_one_gets_503(serving: Callable[..., Running], app: EchoApp) -> None:
    running = serving(max_connections=2)
    busy = [running.connect(), running.connect()]
    for conn in busy:
        conn.sendall(request("/slow"))
    wait_for(lambda: len(app.seen) == 2)
    late = running.connect()
    reader = Reader(late)
    status, headers, body = reader.answer()
    assert status == 503 and headers["connection"] == "close"
    assert orjson.loads(body)["__type"] == "com.amazonaws.dynamodb.v20120810#ServiceUnavailable"
    assert reader.closed()
    for conn in busy:
        assert Reader(conn).answer()[0] == 200  # the busy ones were left alone


def test_the_default_cap_leaves_a_reserve_of_descriptors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 4096))
    assert descriptors.default_max_connections() == 1024 - descriptors.RESERVED_DESCRIPTORS
    assert http.Server(EchoApp()).max_connections == 1024 - descriptors.RESERVED_DESCRIPTORS


class HugeApp(EchoApp):
    """Answers with 32 MiB: more than the kernel's socket buffers hold for a client that does not read."""

    answered = 0

    def respond(self, *args: Any, **kwargs: Any) -> Any:
        self.answered += 1
        return HttpResponse(200, [(b"content-length", str(32 << 20).encode())], b"h" * (32 << 20))


def test_a_connection_closed_with_its_last_answer_never_read_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "KEEP_ALIVE_SECONDS", 0.5)
    app = HugeApp()
    running = Running(app)
    try:
        conn = running.connect()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        conn.sendall(request(extra="Connection: close\r\n"))  # answered, closing, never read
        # Not "wait until a connection is closing": it closes ~KEEP_ALIVE_SECONDS later, and a poller starved
        # that long under load (the whole unit suite beside other work) missed the window and timed out.
        wait_for(lambda: app.answered == 1)
        # The client neither reads nor closes: only the server can drop the connection.
        wait_for(lambda: not running.server.connections, timeout=20)  # its descriptor is not held forever
        assert running.server.open == 0
    finally:
        running.stop()


# --- closed connections are freed at once ------------------------------------------------


def test_closed_connections_are_freed_without_the_cyclic_collector(
    serving: Callable[..., Running], app: EchoApp
) -> None:
    app.slow_seconds = 30
    running = serving()
    gc.collect()
    gc.disable()
    try:
        refs = []
        for path, extra in (("/", ""), ("/slow", ""), ("/", "x-refuse: yes\r\n")):
            conn = running.connect()
            raw = request(path) if not extra else head(extra=extra) + b"x" * 1000
            conn.sendall(raw)
            wait_for(lambda: len(running.server.connections) == 1)
            (connection,) = running.server.connections
            refs.append(weakref.ref(connection))
            del connection
            if path == "/":
                Reader(conn).answer()
            else:
                time.sleep(0.1)
            conn.close()
            wait_for(lambda: not running.server.connections)
        wait_for(lambda: all(ref() is None for ref in refs), timeout=2)
    finally:
        gc.enable()


# --- through cellstore's App -------------------------------------------------------------

REGION = "us-east-1"
KEY = ("AKIDLIMITS", "limits-secret")
TOKEN_KEY = ("AKIDTOKEN", "token-secret")
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


@pytest.fixture
def signed_app(tmp_path: Path) -> Iterator[App]:
    (tmp_path / "creds.toml").write_text(
        f'[keys.{KEY[0]}]\nsecret = "{KEY[1]}"\nprincipal = "admin"\n\n'
        f'[keys.{TOKEN_KEY[0]}]\nsecret = "{TOKEN_KEY[1]}"\nprincipal = "admin"\nsession_tokens = ["t1"]\n\n'
        f'[principals.admin]\npolicies = [\'{POLICY}\']\n'
    )
    db = open_database(open_store(None), background=False)
    try:
        yield build_app(db, CredentialsFile(tmp_path / "creds.toml"))
    finally:
        db.close()


@pytest.fixture
def signed_server(signed_app: App) -> Iterator[BackgroundServer]:
    server = BackgroundServer(signed_app).start()
    try:
        yield server
    finally:
        server.stop()


def client(server: BackgroundServer, service: str, key: tuple[str, str]) -> Any:
    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=server.url, aws_access_key_id=key[0], aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1}),
    )


def signed_head(server: BackgroundServer, key: tuple[str, str], length: int, **headers: str) -> bytes:
    """A head botocore signed for a body of ``length`` bytes it will never see (the hash is of an empty body)."""
    aws = AWSRequest(method="POST", url=server.url + "/", headers=headers, data=b"")
    SigV4Auth(Credentials(*key), "dynamodb", REGION).add_auth(aws)
    lines = [f"{name}: {value}" for name, value in aws.headers.items() if name.lower() != "content-length"]
    return ("POST / HTTP/1.1\r\nHost: " + server.url.split("//")[1] + "\r\n" + "\r\n".join(
        line for line in lines if not line.lower().startswith("host:")
    ) + f"\r\nContent-Length: {length}\r\n\r\n").encode()


def test_an_unknown_access_key_is_refused_on_the_head_alone(
    signed_server: BackgroundServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "cellstore.audit")
    raw = signed_head(
        signed_server, ("AKIDNOBODY", "x"), 8 * 1024 * 1024,
        **{"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"},
    )
    with socket.create_connection(("127.0.0.1", signed_server.port), timeout=5) as conn:
        conn.sendall(raw)  # and not a byte of the 8 MB body
        reader = Reader(conn)
        status, headers, body = reader.answer()
        assert status == 400 and headers["connection"] == "close"
        assert orjson.loads(body) == {
            "__type": "com.amazon.coral.service#UnrecognizedClientException",
            "message": "The security token included in the request is invalid.",
        }
    (record,) = [orjson.loads(r.getMessage()) for r in caplog.records if r.name == "cellstore.audit"]
    assert record["stage"] == "authentication" and record["access_key"] == "AKIDNOBODY"
    assert record["operation"] == "DynamoDB_20120810.PutItem" and record["code"] == "UnrecognizedClientException"


@pytest.mark.parametrize(
    ("key", "skew", "code", "message"),
    [
        (KEY, 20 * 60, "InvalidSignatureException", "Signature expired: "),
        (TOKEN_KEY, 0, "UnrecognizedClientException", "The security token included in the request is invalid."),
    ],
    ids=["outside-the-clock-skew", "session-token-missing"],
)
def test_a_stale_date_or_a_missing_session_token_is_refused_on_the_head(
    signed_app: App, signed_server: BackgroundServer, key: tuple[str, str], skew: float, code: str, message: str
) -> None:
    assert isinstance(signed_app.auth, Auth)
    signed_app.auth.verifier.clock = lambda: time.time() + skew  # the server's clock runs ahead of the client's
    raw = signed_head(
        signed_server, key, 8 * 1024 * 1024,
        **{"X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0"},
    )
    with socket.create_connection(("127.0.0.1", signed_server.port), timeout=5) as conn:
        conn.sendall(raw)
        status, headers, body = Reader(conn).answer()
    error = orjson.loads(body)
    assert status == 400 and headers["connection"] == "close"
    assert error["__type"].endswith("#" + code) and error["message"].startswith(message)


def test_large_requests_through_boto3_are_judged_as_before(signed_server: BackgroundServer) -> None:
    ddb = client(signed_server, "dynamodb", KEY)
    ddb.create_table(
        TableName="big", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    item = {"pk": {"S": "a"}, "blob": {"S": "x" * 300_000}}  # > PRECHECK_BYTES: its head is checked first
    ddb.put_item(TableName="big", Item=item)
    assert ddb.get_item(TableName="big", Key={"pk": {"S": "a"}})["Item"] == item
    with pytest.raises(ClientError) as unknown:
        client(signed_server, "dynamodb", ("AKIDNOBODY", "x")).put_item(TableName="big", Item=item)
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(ClientError) as wrong:  # a known key, a wrong secret: only the signature tells
        client(signed_server, "dynamodb", (KEY[0], "wrong")).put_item(TableName="big", Item=item)
    assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as sqs:
        client(signed_server, "sqs", ("AKIDNOBODY", "x")).send_message(QueueUrl=signed_server.url + "/0/q", MessageBody="x" * 200_000)
    assert sqs.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_a_large_query_protocol_request_is_refused_in_xml(signed_server: BackgroundServer) -> None:
    with socket.create_connection(("127.0.0.1", signed_server.port), timeout=5) as conn:
        conn.sendall(head(extra="Content-Type: application/x-www-form-urlencoded\r\n"))
        status, headers, body = Reader(conn).answer()
    assert status == 403 and headers["content-type"] == "text/xml" and headers["connection"] == "close"
    assert b"<Code>MissingAuthenticationToken</Code>" in body


def test_app_precheck_passes_a_well_formed_head_without_auth_and_refuses_a_missing_one() -> None:
    app = App({"dynamodb": wire.Service(lambda op, payload: {}, {"PutItem"})})
    target = [(b"x-amz-target", b"DynamoDB_20120810.PutItem")]
    signed = [
        (b"authorization", b"AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"),
        (b"x-amz-date", b"20240101T000000Z"),
    ]
    assert app.precheck("POST", "/", "/", b"", target + signed) is None
    missing = app.precheck("POST", "/", "/", b"", target)
    assert missing is not None and missing.status == 400
    assert orjson.loads(missing.body)["__type"] == "com.amazon.coral.service#MissingAuthenticationTokenException"
    unknown = app.precheck("POST", "/", "/", b"", [(b"x-amz-target", b"DynamoDB_20120810.Nope"), *signed])
    assert unknown is not None and orjson.loads(unknown.body)["__type"].endswith("#UnknownOperationException")
    other = app.precheck("POST", "/", "/", b"", [(b"content-type", b"text/plain")])
    assert other is not None and other.status == 404


def test_503_answers_speak_the_request_protocol() -> None:
    dynamodb = unavailable_response([(b"x-amz-target", b"DynamoDB_20120810.PutItem")])
    assert dynamodb.status == 503
    assert orjson.loads(dynamodb.body) == {
        "__type": "com.amazonaws.dynamodb.v20120810#ServiceUnavailable",
        "message": "The service is currently unavailable or busy.",
    }
    form = unavailable_response([(b"content-type", b"application/x-www-form-urlencoded")])
    assert form.status == 503 and b"<Code>ServiceUnavailable</Code>" in form.body and b"<Type>Receiver</Type>" in form.body


def test_out_of_descriptors_the_longest_idle_connections_are_shed_and_it_is_said_once(
    serving: Callable[..., Running], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cellstore.http")
    running = serving()
    conns = [running.connect() for _ in range(http.SHED_PER_TICK + 4)]
    wait_for(lambda: running.server.open == len(conns))
    busy = running.connect()
    busy.sendall(head("/busy", 1000) + b"x")  # mid-request: not idle, never shed
    wait_for(lambda: running.server.open == len(conns) + 1)
    exhausted = True
    monkeypatch.setattr(running.server, "descriptors_left", lambda: not exhausted)
    wait_for(lambda: running.server.open <= 1)  # a tick at a time, every idle one goes
    exhausted = False
    wait_for(lambda: any("available again" in r.getMessage() for r in caplog.records))
    assert all(Reader(conn).closed() for conn in conns)
    busy.sendall(b"x" * 999)
    assert Reader(busy).answer()[0] == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("out of file descriptors")


def test_the_descriptor_probe_sees_exhaustion() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert descriptors.descriptors_left()
    held = []
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (len(list(Path("/proc/self/fd").iterdir())) + 8, hard))
        while descriptors.descriptors_left():
            held.append(socket.socket())
        assert held  # it said yes until the limit, then no
    finally:
        for sock in held:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert descriptors.descriptors_left()


def test_the_soft_open_file_limit_is_raised_to_the_hard_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "cellstore.server")
    limits = {resource.RLIMIT_NOFILE: (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda which: limits[which])
    monkeypatch.setattr(resource, "setrlimit", lambda which, value: limits.__setitem__(which, value))
    assert descriptors.raise_open_file_limit() == 4096
    assert limits[resource.RLIMIT_NOFILE] == (4096, 4096)
    assert "open-file limit raised from 1024 to 4096" in caplog.text
    assert descriptors.raise_open_file_limit() == 4096  # already there: nothing to do


def test_a_max_connections_past_the_open_file_limit_is_lowered_to_fit(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda which: (1024, 1024))
    assert descriptors.connection_limit(None) == 1024 - descriptors.RESERVED_DESCRIPTORS
    assert descriptors.connection_limit(100) == 100
    assert descriptors.connection_limit(5000) == 1024 - descriptors.RESERVED_DESCRIPTORS
    assert "--max-connections 5000 does not fit the open-file limit" in caplog.text
