"""BackgroundServer: cellstore's HTTP server on a thread, on a port the OS picked, with a fake service."""

from __future__ import annotations

import http.client
import zlib
from typing import Any

import orjson

from cellstore.protocol import wire
from cellstore.protocol.app import App
from cellstore.protocol.server import BackgroundServer


def echo(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"Operation": operation}


def test_serves_on_a_free_port_and_stops() -> None:
    server = BackgroundServer(App({"dynamodb": wire.Service(echo, {"Echo"})}), port=0)
    with server:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}"
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        for _ in range(3):  # keep-alive: several requests on one connection
            conn.request(
                "POST",
                "/",
                body=b"{}",
                headers={
                    "X-Amz-Target": "DynamoDB_20120810.Echo",
                    "Authorization": "AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=host, Signature=x",
                    "X-Amz-Date": "20240101T000000Z",
                    "Content-Type": "application/x-amz-json-1.0",
                },
            )
            response = conn.getresponse()
            body = response.read()
            assert response.status == 200
            assert orjson.loads(body) == {"Operation": "Echo"}
            assert int(response.getheader("x-amz-crc32", "")) == zlib.crc32(body)
            assert response.getheader("server") == "Server"  # DynamoDB's own, not a software banner
        conn.close()
    assert not server._thread.is_alive()
