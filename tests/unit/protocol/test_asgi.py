"""asgi.App driven directly with ASGI messages: no server, no socket."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import MutableMapping
from typing import Any

import orjson
import pytest

from cellstore.protocol import wire
from cellstore.protocol.asgi import App

AUTH = b"AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"


def echo(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"Operation": operation, "Payload": payload}


APP = App({"dynamodb": wire.Service(echo, {"Echo"})})


def call(
    method: str = "POST",
    path: str = "/",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
) -> tuple[int, dict[bytes, bytes], bytes]:
    if headers is None:
        headers = [
            (b"x-amz-target", b"DynamoDB_20120810.Echo"),
            (b"authorization", AUTH),
            (b"x-amz-date", b"20240101T000000Z"),
            (b"content-type", b"application/x-amz-json-1.0"),
        ]
    pending = list(chunks if chunks is not None else [b"{}"])
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    asyncio.run(APP(scope, receive, send))
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


def test_post_dispatches() -> None:
    status, headers, body = call(chunks=[b'{"a":', b"1}"])
    assert status == 200
    assert orjson.loads(body) == {"Operation": "Echo", "Payload": {"a": 1}}
    assert headers[b"content-type"] == b"application/x-amz-json-1.0"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)
    assert len(headers[b"x-amzn-RequestId"]) == 52


def test_errors_carry_crc_and_request_id() -> None:
    status, headers, body = call(chunks=[b"{"])
    assert status == 400
    assert orjson.loads(body) == {"__type": "com.amazon.coral.service#SerializationException"}
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)
    assert b"x-amzn-RequestId" in headers


def test_health_check() -> None:
    status, headers, body = call("GET", chunks=[])  # no Host header: DynamoDB's own name
    assert (status, body) == (200, b"healthy: dynamodb.us-east-1.amazonaws.com ")
    assert headers[b"x-amz-crc32"] == b"3128867991"


@pytest.mark.parametrize(("method", "path"), [("GET", "/other"), ("PUT", "/"), ("DELETE", "/")])
def test_anything_but_post_is_404(method: str, path: str) -> None:
    status, _, body = call(method, path, chunks=[])
    assert (status, body) == (404, b"<UnknownOperationException/>\n")


def test_non_json_content_type_is_404() -> None:
    status, _, body = call(headers=[(b"content-type", b"text/plain")])
    assert (status, body) == (404, b"<UnknownOperationException/>\n")


def test_json_content_type_with_charset_is_accepted() -> None:
    headers = [
        (b"x-amz-target", b"DynamoDB_20120810.Echo"),
        (b"authorization", AUTH),
        (b"date", b"Mon, 01 Jan 2024 00:00:00 GMT"),
        (b"content-type", b"application/json; charset=utf-8"),
    ]
    assert call(headers=headers)[0] == 200


def test_declared_oversize_body_is_refused_unread() -> None:
    headers = [(b"content-length", str(wire.MAX_BODY_BYTES + 1).encode())]
    status, _, body = call(headers=headers, chunks=[])
    assert status == 413
    assert orjson.loads(body)["__type"] == "com.amazon.coral.service#SerializationException"


def test_streamed_oversize_body_is_refused() -> None:
    chunk = b" " * (1024 * 1024)
    status, _, _ = call(chunks=[chunk] * 17)
    assert status == 413


def test_lifespan_is_acknowledged() -> None:
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(APP({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_client_gone_mid_body_gets_no_answer() -> None:
    messages = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], "query_string": b""}
    asyncio.run(APP(scope, receive, send))
    assert sent == []


def test_unexpected_error_answers_with_the_logged_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """The x-amzn-RequestId of a 500 is the id in its one log line, so the two can be matched."""
    def broken(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError

    app = App({"dynamodb": wire.Service(broken, {"Echo"})})
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    headers = [
        (b"x-amz-target", b"DynamoDB_20120810.Echo"),
        (b"authorization", AUTH),
        (b"x-amz-date", b"20240101T000000Z"),
        (b"content-type", b"application/x-amz-json-1.0"),
    ]
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    asyncio.run(app(scope, receive, send))
    start = sent[0]
    assert start["status"] == 500
    ids = [value.decode() for name, value in start["headers"] if name.lower() == b"x-amzn-requestid"]
    assert len(ids) == 1
    line = caplog.records[-1].getMessage()
    assert line.startswith("unexpected ZeroDivisionError at ") and line.endswith(f"; request id {ids[0]}")


# --- issue 21 items 2 and 3: compression, CORS, Server, the host used ------------------

HEAD = [
    (b"x-amz-target", b"DynamoDB_20120810.Echo"),
    (b"authorization", AUTH),
    (b"x-amz-date", b"20240101T000000Z"),
    (b"content-type", b"application/x-amz-json-1.0"),
]
LARGE = orjson.dumps({"Data": "x" * 8000})


def test_health_check_names_the_host_used() -> None:
    status, headers, body = call("GET", headers=[(b"host", b"db.example.test:8000")], chunks=[])
    assert (status, body) == (200, b"healthy: db.example.test:8000 ")
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)


def test_every_asgi_answer_carries_server_and_cors_headers() -> None:
    for method, chunks in (("POST", [b"{}"]), ("GET", [])):
        _, headers, _ = call(method, chunks=chunks)
        assert headers[b"server"] == b"Server"
        assert headers[b"access-control-allow-origin"] == b"*"
        assert b"x-amzn-RequestId" in headers[b"access-control-expose-headers"]


def test_preflight_grants_what_it_asks_for() -> None:
    status, headers, body = call(
        "OPTIONS",
        headers=[
            (b"origin", b"https://app.example.test"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"content-type,x-amz-target,x-amz-date,authorization"),
        ],
        chunks=[],
    )
    assert (status, body) == (200, b"")
    assert headers[b"access-control-allow-origin"] == b"*"
    assert headers[b"access-control-allow-methods"] == b"POST"
    assert headers[b"access-control-allow-headers"] == b"content-type,x-amz-target,x-amz-date,authorization"
    assert headers[b"access-control-max-age"] == b"172800"
    assert headers[b"content-length"] == b"0"


@pytest.mark.parametrize(("coding", "decode"), [(b"gzip", gzip.decompress), (b"deflate", zlib.decompress)])
def test_a_large_answer_is_compressed_when_the_client_accepts_it(coding: bytes, decode: Any) -> None:
    status, headers, body = call(headers=[*HEAD, (b"accept-encoding", coding)], chunks=[LARGE])
    assert status == 200
    assert headers[b"content-encoding"] == coding
    assert headers[b"content-length"] == str(len(body)).encode()
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)  # the bytes on the wire, as DynamoDB's
    assert orjson.loads(decode(body)) == {"Operation": "Echo", "Payload": {"Data": "x" * 8000}}
    assert len(body) < 200


def test_a_small_answer_and_a_client_that_does_not_ask_stay_uncompressed() -> None:
    _, headers, body = call(headers=[*HEAD, (b"accept-encoding", b"gzip")], chunks=[b"{}"])
    assert b"content-encoding" not in headers and orjson.loads(body)["Operation"] == "Echo"
    _, headers, body = call(headers=HEAD, chunks=[LARGE])
    assert b"content-encoding" not in headers and orjson.loads(body)["Operation"] == "Echo"


def test_a_compressed_request_is_inflated() -> None:
    status, _, body = call(headers=[*HEAD, (b"content-encoding", b"gzip")], chunks=[gzip.compress(LARGE)])
    assert (status, orjson.loads(body)["Payload"]) == (200, {"Data": "x" * 8000})


@pytest.mark.parametrize(
    ("coding", "body"),
    [(b"gzip", gzip.compress(LARGE)[:30]), (b"br", gzip.compress(LARGE)), (b"gzip, gzip", gzip.compress(LARGE))],
)
def test_a_compressed_request_that_does_not_inflate_is_a_serialization_error(coding: bytes, body: bytes) -> None:
    status, _, answer = call(headers=[*HEAD, (b"content-encoding", coding)], chunks=[body])
    assert (status, orjson.loads(answer)) == (400, {"__type": "com.amazon.coral.service#SerializationException"})


def test_a_request_inflating_past_16_mb_is_too_large() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(17)) + compressor.flush()
    status, _, answer = call(headers=[*HEAD, (b"content-encoding", b"gzip")], chunks=[bomb])
    assert (status, orjson.loads(answer)["Message"]) == (413, "Request entity too large")


def test_describe_endpoints_and_empty_tag_answers_at_the_wire() -> None:
    def tables(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        if operation == "DescribeEndpoints":
            return {"Endpoints": [{"Address": "dynamodb.us-east-1.amazonaws.com", "CachePeriodInMinutes": 1440}]}
        return {}

    services = {"dynamodb": wire.Service(tables, {"DescribeEndpoints", "TagResource", "UntagResource"})}

    def answer(operation: str, host: str, scheme: str = "http") -> wire.Reply:
        request = wire.Request(f"DynamoDB_20120810.{operation}", AUTH.decode(), True, "", b"{}", host, scheme=scheme)
        reply = wire.respond(services, request)
        assert isinstance(reply, wire.Reply)
        return reply

    assert orjson.loads(answer("DescribeEndpoints", "127.0.0.1:8000").body)["Endpoints"] == [
        {"Address": "http://127.0.0.1:8000", "CachePeriodInMinutes": 1440}
    ]
    assert orjson.loads(answer("DescribeEndpoints", "db.example.test", "https").body)["Endpoints"][0]["Address"] == (
        "db.example.test"
    )
    assert answer("TagResource", "h").body == b"" and answer("UntagResource", "h").body == b""


def test_an_answer_that_waited_is_compressed_when_written() -> None:
    """A long poll's answer is awaited, then compressed like any other (``App.respond`` wraps the awaitable)."""
    from cellstore.protocol import asgi

    async def later() -> asgi.HttpResponse:
        return asgi.HttpResponse(200, [(b"content-length", str(len(LARGE)).encode()), (b"x-amz-crc32", b"0")], LARGE)

    answer = asyncio.run(asgi._compressed_later(later(), "gzip"))
    assert dict(answer.headers)[b"content-encoding"] == b"gzip"
    assert int(dict(answer.headers)[b"x-amz-crc32"]) == zlib.crc32(answer.body)
    assert gzip.decompress(answer.body) == LARGE
