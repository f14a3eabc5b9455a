"""A raw ASGI 3 application: HTTP in, ``wire.handle`` in the middle, HTTP out.

No framework: a DynamoDB request is one POST to ``/`` whose meaning is in two
headers and a JSON body, so routing, middleware and request objects would be
pure overhead on the hot path.  The engine is synchronous and fast (SQLite
calls take microseconds), so ``dispatch`` runs inline on the event loop
rather than in a thread pool, whose hand-off would cost more than the call.

SQS arrives two ways on the same port: AWS JSON (``X-Amz-Target:
AmazonSQS.*``, through ``wire``) and the form-encoded query protocol
(``Action=...``, through ``query``), often POSTed to a queue URL's path.  A
ReceiveMessage that must long-poll comes back as ``wire.Waiting``; the app
awaits the queue's wake-up (an asyncio event set from ``Wakeups``) without
blocking the loop, then retries.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from cellstore.engine.queues.wakeups import Wait
from cellstore.errors import CellstoreError
from cellstore.protocol import query, wire

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_JSON_TYPES = frozenset(t.encode("latin-1") for t in wire.JSON_CONTENT_TYPES)
_FORM_TYPE = query.FORM_CONTENT_TYPE.encode("latin-1")

# DynamoDB answers anything that is not a JSON POST with this XML fragment and 404.
_NOT_FOUND_BODY = b"<UnknownOperationException/>\n"
_NOT_FOUND_HEADERS = [
    (b"content-type", b"text/html"),
    (b"content-length", str(len(_NOT_FOUND_BODY)).encode("ascii")),
    (b"x-amz-crc32", wire.crc32(_NOT_FOUND_BODY)),
]


class App:
    """cellstore's HTTP face; ``services`` maps a target's service to its dispatcher."""

    def __init__(
        self,
        services: Mapping[str, wire.Service],
        *,
        region: str = "us-east-1",
        auth: wire.Authenticator | None = None,
    ) -> None:
        self.services = services
        # ``--auth sigv4``: verify and authorize every request (``protocol/auth.py``).
        self.auth = auth
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
            if method == "GET" and b"Action=" in scope["query_string"]:
                # The query protocol's GET form (what a presigned SQS URL is).
                await self._query_get(scope, send)
            elif method == "GET" and scope["path"] == "/":
                await _respond(send, 200, self._health_headers, self._health_body)
            else:
                await _respond(send, 404, _NOT_FOUND_HEADERS, _NOT_FOUND_BODY)
            return

        target = authorization = content_type = content_length = None
        has_date = False
        host = ""
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
            elif name == b"host":
                host = value.decode("latin-1")

        is_form = content_type is not None and _is_form(content_type)
        if content_type is not None and not is_form and not _is_json(content_type):
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

        query_string = scope["query_string"]
        request = wire.Request(
            target,
            authorization,
            has_date,
            query_string.decode("latin-1") if query_string else "",
            body,
            host,
            scope["path"],
            scope["headers"],
            method,
            _raw_path(scope),
            scope.get("scheme", "http"),
        )
        if is_form:
            reply = query.respond(self.services, request, self.auth)
            await _send_reply(send, await _settled(reply), query.CONTENT_TYPE)
            return
        reply = wire.respond(self.services, request, self.auth)
        if type(reply) is wire.Reply and not reply.headers:
            await _send_json(send, reply.status, reply.body)
        else:
            await _send_reply(send, await _settled(reply), wire.CONTENT_TYPE)


    async def _query_get(self, scope: Scope, send: Send) -> None:
        headers = scope["headers"]
        authorization = host = None
        has_date = False
        for name, value in headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"x-amz-date" or name == b"date":
                has_date = True
            elif name == b"host":
                host = value.decode("latin-1")
        request = wire.Request(
            None, authorization, has_date, scope["query_string"].decode("latin-1"), b"", host or "",
            scope["path"], headers, "GET", _raw_path(scope), scope.get("scheme", "http"),
        )
        await _send_reply(send, await _settled(query.respond(self.services, request, self.auth)), query.CONTENT_TYPE)


def _raw_path(scope: Scope) -> str:
    """The path as the client sent it, still percent-encoded (what SigV4 signs)."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1").partition("?")[0] if raw else ""


async def _settled(reply: wire.Reply | wire.Waiting) -> wire.Reply:
    """Wait out a long poll without blocking the loop: woken by a send, or at the deadline."""
    while isinstance(reply, wire.Waiting):
        await _wake_or_deadline(reply.wait)
        reply = reply.resume()
    return reply


async def _wake_or_deadline(wait: Wait) -> None:
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()

    def wake() -> None:
        try:
            loop.call_soon_threadsafe(woken.set)
        except RuntimeError:  # the loop closed while a sender was notifying
            pass

    token = wait.wakeups.subscribe(wait.queue_id, wake)
    try:
        if wait.stale():
            return
        try:
            await asyncio.wait_for(woken.wait(), wait.remaining())
        except asyncio.TimeoutError:
            pass
    finally:
        wait.wakeups.unsubscribe(wait.queue_id, token)


async def _send_reply(send: Send, reply: wire.Reply, content_type: bytes) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(reply.body)).encode("ascii")),
        (b"x-amzn-RequestId", wire.new_request_id().encode("ascii")),
        *reply.headers,
    ]
    if content_type == wire.CONTENT_TYPE:
        headers.append((b"x-amz-crc32", str(zlib.crc32(reply.body)).encode("ascii")))
    await _respond(send, reply.status, headers, reply.body)


def _is_form(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == _FORM_TYPE


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
