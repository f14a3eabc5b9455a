"""A raw ASGI 3 application: HTTP in, ``wire.handle`` in the middle, HTTP out.

No framework: a DynamoDB request is one POST to ``/`` whose meaning is in two
headers and a JSON body, so routing, middleware and request objects would be
pure overhead on the hot path.  The engine is synchronous and fast (SQLite
calls take microseconds), so ``dispatch`` runs inline on the event loop
rather than in a thread pool, whose hand-off would cost more than the call.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from cellstore.errors import CellstoreError
from cellstore.protocol import wire

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_TYPES = frozenset(t.encode("latin-1") for t in wire.JSON_CONTENT_TYPES)

# DynamoDB answers anything that is not a JSON POST with this XML fragment and 404.
_NOT_FOUND_BODY = b"<UnknownOperationException/>\n"
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html"),
    (b"content-length", str(len(_NOT_FOUND_BODY)).encode("ascii")),
    (b"x-amz-crc32", wire.crc32(_NOT_FOUND_BODY)),
]


class App:
    """cellstore's HTTP face; ``services`` maps a target's service to its dispatcher."""

    def __init__(self, services: Mapping[str, wire.Service], *, region: str = "us-east-1") -> None:
        self.services = services
        # DynamoDB's health check answer, trailing space included.
        self._health_body = f"healthy: dynamodb.{region}.amazonaws.com ".encode("ascii")
        self._health_headers = [
            (b"content-type", b"text/plain"),
            (b"content-length", str(len(self._health_body)).encode("ascii")),
            (b"x-amz-crc32", wire.crc32(self._health_body)),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await _lifespan(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method != "POST":
            if method == "GET" and scope["path"] == "/":
                await _respond(send, 200, self._health_headers, self._health_body)
            else:
                await _respond(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_BODY)
            return

        target = authorization = content_type = content_length = None
        has_date = False
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"x-amz-date" or name == b"date":
                has_date = True
            elif name == b"content-length":
                content_length = value

        if content_type is not None and not _is_json(content_type):
            await _respond(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_BODY)
            return
        if content_length is not None and _too_long(content_length):
            await _send_error(send, wire.RequestEntityTooLarge())
            return
        try:
            body = await _read_body(receive)
        except _Disconnected:
            return  # nobody is left to answer
        if body is None:
            await _send_error(send, wire.RequestEntityTooLarge())
            return

        query = scope["query_string"]
        request = wire.Request(
            target,
            authorization,
            has_date,
            query.decode("latin-1") if query else "",
            body,
        )
        status, payload = wire.handle(self.services, request)
        await _send_json(send, status, payload)


def _is_json(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() in _JSON_TYPES


def _too_long(content_length: bytes) -> bool:
    try:
        return int(content_length) > wire.MAX_BODY_BYTES
    except ValueError:
        return False


class _Disconnected(Exception):
    """The client went away before sending its whole body."""


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None once it passes ``MAX_BODY_BYTES``."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise _Disconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > wire.MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send_error(send: Send, err: CellstoreError) -> None:
    await _send_json(send, err.status, wire.error_body(err))


async def _send_json(send: Send, status: int, body: bytes) -> None:
    headers = [
        (b"content-type", wire.CONTENT_TYPE),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"x-amz-crc32", str(zlib.crc32(body)).encode("ascii")),
        (b"x-amzn-RequestId", wire.new_request_id().encode("ascii")),
    ]
    await _respond(send, status, headers, body)


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Acknowledge startup and shutdown; the server closes the database itself."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
