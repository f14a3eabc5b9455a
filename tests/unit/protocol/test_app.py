"""App.respond called directly with a request's parsed parts: no server, no socket."""

from __future__ import annotations

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
