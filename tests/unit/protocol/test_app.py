"""App.respond called directly with a request's parsed parts: no server, no socket."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from typing import Any

import orjson
import pytest

from cellstore.protocol import wire
from cellstore.protocol.app import App, HttpResponse

AUTH = b"AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
HEADERS = [
    (b"x-amz-target", b"DynamoDB_20120810.Echo"),
    (b"authorization", AUTH),
    (b"x-amz-date", b"20240101T000000Z"),
    (b"content-type", b"application/x-amz-json-1.0"),
]


def echo(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"Operation": operation, "Payload": payload}


APP = App({"dynamodb": wire.Service(echo, {"Echo"})})


def call(
    method: str = "POST",
    path: str = "/",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes | None = b"{}",
    app: App = APP,
) -> tuple[int, dict[bytes, bytes], bytes]:
    answer = app.respond(method, path, path, b"", HEADERS if headers is None else headers, body)
    assert isinstance(answer, HttpResponse)  # only a long poll answers with an awaitable
    return answer.status, dict(answer.headers), answer.body


def test_post_dispatches() -> None:
    status, headers, body = call(body=b'{"a":1}')
    assert status == 200
    assert orjson.loads(body) == {"Operation": "Echo", "Payload": {"a": 1}}
    assert headers[b"content-type"] == b"application/x-amz-json-1.0"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)
    assert len(headers[b"x-amzn-RequestId"]) == 52


def test_errors_carry_crc_and_request_id() -> None:
    status, headers, body = call(body=b"{")
    assert status == 400
    assert orjson.loads(body) == {"__type": "com.amazon.coral.service#SerializationException"}
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)
    assert b"x-amzn-RequestId" in headers


def test_health_check() -> None:
    status, headers, body = call("GET", body=b"")
    assert (status, body) == (200, b"healthy: dynamodb.us-east-1.amazonaws.com ")
    assert headers[b"x-amz-crc32"] == b"3128867991"


@pytest.mark.parametrize(("method", "path"), [("GET", "/other"), ("PUT", "/"), ("DELETE", "/")])
def test_anything_but_post_is_404(method: str, path: str) -> None:
    status, _, body = call(method, path, body=b"")
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


def test_a_body_the_server_stopped_reading_is_refused() -> None:
    """The server passes None for a body past ``wire.MAX_BODY_BYTES``: 413, as AWS answers."""
    status, _, body = call(body=None)
    assert status == 413
    assert orjson.loads(body)["__type"] == "com.amazon.coral.service#SerializationException"


def test_unexpected_error_answers_with_the_logged_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """The x-amzn-RequestId of a 500 is the id in its one log line, so the two can be matched."""
    def broken(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        raise ZeroDivisionError

    status, headers, _ = call(app=App({"dynamodb": wire.Service(broken, {"Echo"})}))
    assert status == 500
    line = caplog.records[-1].getMessage()
    request_id = headers[b"x-amzn-RequestId"].decode()
    assert line.startswith("unexpected ZeroDivisionError at ") and line.endswith(f"; request id {request_id}")


# --- issue 21 items 2 and 3: compression, CORS, Server, the host used ------------------

HEAD = [
    (b"x-amz-target", b"DynamoDB_20120810.Echo"),
    (b"authorization", AUTH),
    (b"x-amz-date", b"20240101T000000Z"),
    (b"content-type", b"application/x-amz-json-1.0"),
]
LARGE = orjson.dumps({"Data": "x" * 8000})


def test_health_check_names_the_host_used() -> None:
    status, headers, body = call("GET", headers=[(b"host", b"db.example.test:8000")], body=b"")
    assert (status, body) == (200, b"healthy: db.example.test:8000 ")
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)


def test_preflight_grants_what_it_asks_for() -> None:
    status, headers, body = call(
        "OPTIONS",
        headers=[
            (b"origin", b"https://app.example.test"),
            (b"access-control-request-method", b"POST"),
            (b"access-control-request-headers", b"content-type,x-amz-target,x-amz-date,authorization"),
        ],
        body=b"",
    )
    assert (status, body) == (200, b"")
    # Access-Control-Allow-Origin and Server are the HTTP server's, on every answer (test_http_edge.py).
    assert headers[b"access-control-allow-methods"] == b"POST"
    assert headers[b"access-control-allow-headers"] == b"content-type,x-amz-target,x-amz-date,authorization"
    assert headers[b"access-control-max-age"] == b"172800"
    assert headers[b"content-length"] == b"0"


@pytest.mark.parametrize(("coding", "decode"), [(b"gzip", gzip.decompress), (b"deflate", zlib.decompress)])
def test_a_large_answer_is_compressed_when_the_client_accepts_it(coding: bytes, decode: Any) -> None:
    status, headers, body = call(headers=[*HEAD, (b"accept-encoding", coding)], body=LARGE)
    assert status == 200
    assert headers[b"content-encoding"] == coding
    assert headers[b"content-length"] == str(len(body)).encode()
    assert int(headers[b"x-amz-crc32"]) == zlib.crc32(body)  # the bytes on the wire, as DynamoDB's
    assert orjson.loads(decode(body)) == {"Operation": "Echo", "Payload": {"Data": "x" * 8000}}
    assert len(body) < 200


def test_a_small_answer_and_a_client_that_does_not_ask_stay_uncompressed() -> None:
    _, headers, body = call(headers=[*HEAD, (b"accept-encoding", b"gzip")], body=b"{}")
    assert b"content-encoding" not in headers and orjson.loads(body)["Operation"] == "Echo"
    _, headers, body = call(headers=HEAD, body=LARGE)
    assert b"content-encoding" not in headers and orjson.loads(body)["Operation"] == "Echo"


def test_a_compressed_request_is_inflated() -> None:
    status, _, body = call(headers=[*HEAD, (b"content-encoding", b"gzip")], body=gzip.compress(LARGE))
    assert (status, orjson.loads(body)["Payload"]) == (200, {"Data": "x" * 8000})


@pytest.mark.parametrize(
    ("coding", "body"),
    [(b"gzip", gzip.compress(LARGE)[:30]), (b"br", gzip.compress(LARGE)), (b"gzip, gzip", gzip.compress(LARGE))],
)
def test_a_compressed_request_that_does_not_inflate_is_a_serialization_error(coding: bytes, body: bytes) -> None:
    status, _, answer = call(headers=[*HEAD, (b"content-encoding", coding)], body=body)
    assert (status, orjson.loads(answer)) == (400, {"__type": "com.amazon.coral.service#SerializationException"})


def test_a_request_inflating_past_16_mb_is_too_large() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(17)) + compressor.flush()
    status, _, answer = call(headers=[*HEAD, (b"content-encoding", b"gzip")], body=bomb)
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
    from cellstore.protocol import app

    async def later() -> app.HttpResponse:
        return app.HttpResponse(200, [(b"content-length", str(len(LARGE)).encode()), (b"x-amz-crc32", b"0")], LARGE)

    answer = asyncio.run(app._compressed_later(later(), "gzip"))
    assert dict(answer.headers)[b"content-encoding"] == b"gzip"
    assert int(dict(answer.headers)[b"x-amz-crc32"]) == zlib.crc32(answer.body)
    assert gzip.decompress(answer.body) == LARGE
