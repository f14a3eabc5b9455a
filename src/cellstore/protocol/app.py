"""cellstore's HTTP application: a request's parts in, ``wire``/``query`` in the middle, an answer out.

No framework: a DynamoDB request is one POST to ``/`` whose meaning is in two
headers and a JSON body, so routing, middleware and request objects would be
pure overhead on the hot path.  ``App.respond`` takes the parts of a request
a server has already parsed and returns the answer; cellstore's own server
(``protocol/http.py``) calls it directly.  The engine is synchronous and fast
(SQLite calls take microseconds), so ``dispatch`` runs inline on the event loop
rather than in a thread pool, whose hand-off would cost more than the call
(a backend that waits on a server, PostgreSQL, is the exception: the server
runs its calls on ``protocol/storage_threads.py``'s threads).

SQS arrives two ways on the same port: AWS JSON (``X-Amz-Target:
AmazonSQS.*``, through ``wire``) and the form-encoded query protocol
(``Action=...``, through ``query``), often POSTed to a queue URL's path.  A
ReceiveMessage that must long-poll comes back as ``wire.Waiting``; the app
awaits the queue's wake-up (an asyncio event set from ``Wakeups``) without
blocking the loop, then retries.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import NamedTuple, Protocol

from cellstore.errors import (
    CellstoreError,
    ServiceUnavailable,
    SqsServiceUnavailable,
)
from cellstore.protocol import compression, query, wire
from cellstore.protocol.operations import unknown_operation
from cellstore.waiting import Wait


class HttpResponse(NamedTuple):
    """A complete HTTP answer; the server adds the status line, ``date`` and ``connection``."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


_JSON_TYPES = frozenset(t.encode("latin-1") for t in wire.JSON_CONTENT_TYPES)
_FORM_TYPE = query.FORM_CONTENT_TYPE.encode("latin-1")

# DynamoDB answers anything that is not a JSON POST with this XML fragment and 404.
_NOT_FOUND_BODY = b"<UnknownOperationException/>\n"
_NOT_FOUND = HttpResponse(
    404,
    [
        (b"content-type", b"text/html"),
        (b"content-length", str(len(_NOT_FOUND_BODY)).encode("ascii")),
        (b"x-amz-crc32", wire.crc32(_NOT_FOUND_BODY)),
    ],
    _NOT_FOUND_BODY,
)


class Responder(Protocol):
    """What cellstore's HTTP server needs of an app: ``App`` is one; benchmarks and tests pass stand-ins."""

    def respond(
        self,
        method: str,
        path: str,
        raw_path: str,
        query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
        scheme: str = "http",
    ) -> HttpResponse | Awaitable[HttpResponse]: ...


class App:
    """cellstore's HTTP face; ``services`` maps a target's service to its dispatcher (or ``wire.Routes``, per account).

    ``respond`` is the whole of it, with no server in it: cellstore's own
    HTTP server (``protocol/http.py``) calls it directly, after asking
    ``precheck`` about a large body's head.
    """

    def __init__(
        self,
        services: wire.Routes | Mapping[str, wire.Service],
        *,
        region: str = "us-east-1",
        auth: wire.Authenticator | None = None,
    ) -> None:
        # Each request's account picks its services (``protocol/directory.py``);
        # a plain mapping serves every account alike.
        self.routes = services if isinstance(services, wire.Routes) else wire.Routes.fixed(services)
        # ``--auth sigv4``: verify and authorize every request (``protocol/auth.py``).
        self.auth = auth
        self._polls = _LongPolls()
        #: What ``close`` ends once the server has stopped (``protocol/storage_threads.py``'s threads).
        self.closers: list[Callable[[], None]] = []
        #: ``GET /metrics``: the exposition text's maker (``protocol/metrics.py``), or None (404).
        self.metrics: Callable[[], bytes] | None = None
        #: ``GET /console...``: the web console's files by path (``protocol/console.py``), or None (404).
        self.console: Callable[[str], HttpResponse] | None = None
        #: ``GET /_cellstore/NAME``: read-only admin answers (``protocol/admin.py``, authorized there), or None (404).
        self.admin: Callable[..., wire.Reply] | None = None
        # DynamoDB's health check answer, trailing space included.
        body = f"healthy: dynamodb.{region}.amazonaws.com ".encode("ascii")
        self._health = HttpResponse(
            200,
            [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"x-amz-crc32", wire.crc32(body)),
            ],
            body,
        )

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
        """The answer to one request, or an awaitable of it for a long poll.

        ``headers`` have lower-case names; ``body`` is None when it was
        longer than ``wire.MAX_BODY_BYTES`` (the server stopped reading it).
        """
        if method != "POST":
            if method == "GET" and b"Action=" in query_string:
                # The query protocol's GET form (what a presigned SQS URL is).
                return self._query_get(path, raw_path, query_string, headers, scheme)
            if method == "GET" and path == "/":
                return self._health_of(headers)
            if method == "GET" and path == "/metrics" and self.metrics is not None:
                return _metrics_response(self.metrics())
            if method == "GET" and self.console is not None and (path == "/console" or path.startswith("/console/")):
                return self.console(path)
            if method == "GET" and path.startswith("/_cellstore/") and self.admin is not None:
                return _reply_response(self.admin(path, raw_path, headers, scheme, self.auth), wire.CONTENT_TYPE)
            if method == "OPTIONS":
                return preflight_response(headers)
            return _NOT_FOUND

        target = authorization = content_type = accept_encoding = None
        has_date = False
        host = ""
        content_encoding: tuple[bytes, ...] = ()
        for name, value in headers:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value
            elif name == b"x-amz-date" or name == b"date":
                has_date = True
            elif name == b"host":
                host = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value
            elif name == b"content-encoding":
                content_encoding += (value,)

        is_form = content_type is not None and _is_form(content_type)
        if content_type is not None and not is_form and not _is_json(content_type):
            return _NOT_FOUND
        if body is None:
            return error_response(wire.RequestEntityTooLarge())

        request = wire.Request(
            target,
            authorization,
            has_date,
            query_string.decode("latin-1") if query_string else "",
            body,
            host,
            path,
            headers,
            method,
            raw_path,
            scheme,
            content_encoding,
        )
        answer: HttpResponse | Awaitable[HttpResponse]
        if is_form:
            reply = query.respond(self.routes, request, self.auth)
            if type(reply) is wire.Reply:
                answer = _reply_response(reply, query.CONTENT_TYPE)
            elif isinstance(reply, wire.Waiting) and reply.found_nothing is None:
                answer = _handed_off(reply, query.CONTENT_TYPE, self._polls)
            else:
                answer = _settled(reply, query.CONTENT_TYPE, self._polls)
        else:
            reply = wire.respond(self.routes, request, self.auth)
            if type(reply) is wire.Reply:
                if not reply.headers:
                    answer = _json_response(reply.status, reply.body)
                else:
                    answer = _reply_response(reply, wire.CONTENT_TYPE)
            elif isinstance(reply, wire.Waiting) and reply.found_nothing is None:
                answer = _handed_off(reply, wire.CONTENT_TYPE, self._polls)
            else:
                answer = _settled(reply, wire.CONTENT_TYPE, self._polls)
        if accept_encoding is None:
            return answer
        coding = compression.choose(accept_encoding)
        if coding is None:
            return answer
        if isinstance(answer, HttpResponse):
            return compressed(answer, coding)
        return _compressed_later(answer, coding)

    def _health_of(self, headers: Sequence[tuple[bytes, bytes]]) -> HttpResponse:
        """DynamoDB's health check answer, naming the host the client used (AWS's own name without one).

        DynamoDB answers ``healthy: dynamodb.<region>.amazonaws.com `` — the
        name the client reached it by; a client of cellstore reached it by
        its ``Host``, and tools that check the answer compare it with that.
        """
        host = next((value for name, value in headers if name == b"host"), None)
        if host is None or b"\r" in host or b"\n" in host:
            return self._health
        body = b"healthy: " + host + b" "
        return HttpResponse(
            200,
            [
                (b"content-type", b"text/plain"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"x-amz-crc32", wire.crc32(body)),
            ],
            body,
        )

    def close(self) -> None:
        """The server stopped serving this app: end what it started (threads), not the database."""
        for close in self.closers:
            close()

    def stop_waiting(self) -> None:
        """A server is stopping: answer every long poll now, and any begun later at once, as if it found nothing.

        Without it a SIGTERM left a waiting ReceiveMessage unanswered until
        the grace period ran out and its connection was dropped, and the SDK
        retried against a server that was gone.
        """
        self._polls.stop()

    def _query_get(
        self, path: str, raw_path: str, query_string: bytes, headers: Sequence[tuple[bytes, bytes]], scheme: str
    ) -> HttpResponse | Awaitable[HttpResponse]:
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
            None, authorization, has_date, query_string.decode("latin-1"), b"", host or "",
            path, headers, "GET", raw_path, scheme,
        )
        reply = query.respond(self.routes, request, self.auth)
        if type(reply) is wire.Reply:
            return _reply_response(reply, query.CONTENT_TYPE)
        return _settled(reply, query.CONTENT_TYPE, self._polls)

    def precheck(
        self,
        method: str,
        path: str,
        raw_path: str,
        query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        scheme: str = "http",
    ) -> HttpResponse | None:
        """The answer a request's head alone decides, before its body is read; None: read the body.

        cellstore's HTTP server asks before reading a large body (or one of
        unknown length), so a client that is not signed in, or names no
        operation, is refused on its headers rather than after the server
        has buffered up to 16 MB.  The answer is the one ``respond`` gives for
        that head, error body and audit line alike: the target, then the
        authentication — with ``--auth sigv4`` everything but the signature,
        which covers the payload's hash and is checked once the body is in.
        The query protocol names its action in the body, so there a large
        request is authenticated before its action is looked at.
        """
        if method != "POST":
            if method == "GET" and b"Action=" in query_string:
                return self._precheck_form(path, raw_path, query_string, headers, scheme, method)
            if method == "OPTIONS":
                return preflight_response(headers)
            return self._health_of(headers) if method == "GET" and path == "/" else _NOT_FOUND
        content_type = next((value for name, value in headers if name == b"content-type"), None)
        if content_type is not None and _is_form(content_type):
            return self._precheck_form(path, raw_path, query_string, headers, scheme, method)
        if content_type is not None and not _is_json(content_type):
            return _NOT_FOUND
        request = _head_request(method, path, raw_path, query_string, headers, scheme)
        try:
            service_name, operation = wire.parse_target(request.target)
            operations = self.routes.operations.get(service_name)
            if operations is None or operation not in operations:
                raise unknown_operation(service_name, operation)
            self._authenticate_head(request, service_name)
        except CellstoreError as err:
            return _reply_response(wire.error_reply(err), wire.CONTENT_TYPE)
        return None

    def _precheck_form(
        self, path: str, raw_path: str, query_string: bytes, headers: Sequence[tuple[bytes, bytes]], scheme: str,
        method: str,
    ) -> HttpResponse | None:
        try:
            self._authenticate_head(_head_request(method, path, raw_path, query_string, headers, scheme), "sqs")
        except CellstoreError as err:
            return _reply_response(wire.Reply(err.status, query.encode_error(err, wire.new_request_id())), query.CONTENT_TYPE)
        return None

    def _authenticate_head(self, request: wire.Request, service: str) -> None:
        if self.auth is None:
            wire.check_auth(request.authorization, request.query, request.has_date)
        else:
            self.auth.check_headers(request, service)

def _head_request(
    method: str, path: str, raw_path: str, query_string: bytes, headers: Sequence[tuple[bytes, bytes]], scheme: str
) -> wire.Request:
    """A request's head as ``wire`` reads it, with no body yet (for ``App.precheck``)."""
    target = authorization = None
    has_date = False
    host = ""
    for name, value in headers:
        if name == b"x-amz-target":
            target = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"x-amz-date" or name == b"date":
            has_date = True
        elif name == b"host":
            host = value.decode("latin-1")
    return wire.Request(
        target, authorization, has_date, query_string.decode("latin-1"), b"", host, path, headers, method, raw_path,
        scheme,
    )


#: Headers on every answer, as DynamoDB's endpoint sends them: ``Server``, and
#: CORS's for browsers (any origin may read the answer and these headers of it).
#: cellstore's own server writes them as one constant (``http.encode``).
EDGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"server", b"Server"),
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-expose-headers",
        b"x-amzn-RequestId,x-amzn-ErrorType,x-amzn-ErrorMessage,x-amz-crc32,Date",
    ),
)
#: How long a browser may cache a preflight's answer (two days, as DynamoDB's).
PREFLIGHT_MAX_AGE = b"172800"


def preflight_response(headers: Sequence[tuple[bytes, bytes]]) -> HttpResponse:
    """The answer to a CORS preflight (``OPTIONS``): 200, no body, whatever was asked allowed.

    DynamoDB's endpoint lets browsers call it from any origin — access is
    decided by the signature, not the origin — so a preflight is granted the
    method and headers it asks for (echoed back; ``Allow-Methods`` falls back
    to POST and GET).  AWS documents none of this; these are the headers its
    endpoint is observed to send.  No authentication: browsers send a
    preflight without credentials.
    """
    methods = b"POST, GET, OPTIONS"
    allow_headers = None
    for name, value in headers:
        if name == b"access-control-request-method":
            methods = value
        elif name == b"access-control-request-headers":
            allow_headers = value
    answer = [
        (b"content-length", b"0"),
        (wire.REQUEST_ID_HEADER, wire.new_request_id().encode("ascii")),
        (b"access-control-allow-methods", methods),
        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
    ]
    if allow_headers is not None:
        answer.append((b"access-control-allow-headers", allow_headers))
    if any(b"\r" in value or b"\n" in value for _, value in answer):  # written as given: never split a header
        answer = [(name, value) for name, value in answer if b"\r" not in value and b"\n" not in value]
    return HttpResponse(200, answer, b"")


def compressed(answer: HttpResponse, coding: str) -> HttpResponse:
    """``answer`` in ``coding`` if it is large enough to gain from it (see ``compression``).

    ``Content-Length`` and ``x-amz-crc32`` describe the compressed bytes, the
    ones on the wire, as DynamoDB's do; ``Vary`` tells caches the answer
    depends on ``Accept-Encoding``.
    """
    if len(answer.body) < compression.MIN_COMPRESS_BYTES:
        return answer
    body = compression.compress(answer.body, coding)
    headers: list[tuple[bytes, bytes]] = []
    for name, value in answer.headers:
        if name == b"content-length":
            value = str(len(body)).encode("ascii")
        elif name == b"x-amz-crc32":
            value = wire.crc32(body)
        headers.append((name, value))
    headers += ((b"content-encoding", coding.encode("ascii")), (b"vary", b"accept-encoding"))
    return HttpResponse(answer.status, headers, body)


async def _compressed_later(answer: Awaitable[HttpResponse], coding: str) -> HttpResponse:
    return compressed(await answer, coding)


def unavailable_response(headers: Sequence[tuple[bytes, bytes]]) -> HttpResponse:
    """503 ``ServiceUnavailable`` in the request's own protocol: a server's answer when it cannot take a body now.

    botocore retries a 503 with back-off, which is what a client should do
    when the server's buffers or connections are full.
    """
    content_type = target = None
    for name, value in headers:
        if name == b"content-type":
            content_type = value
        elif name == b"x-amz-target":
            target = value
    if content_type is not None and _is_form(content_type):
        err: CellstoreError = SqsServiceUnavailable()
        return _reply_response(wire.Reply(err.status, query.encode_error(err, wire.new_request_id())), query.CONTENT_TYPE)
    if target is not None and target.startswith(b"AmazonSQS."):
        return _reply_response(wire.error_reply(SqsServiceUnavailable()), wire.CONTENT_TYPE)
    return error_response(ServiceUnavailable())


class _LongPolls:
    """The long polls an app is waiting out, so that a stopping server can end them at once."""

    def __init__(self) -> None:
        self.stopping = False
        self.wakers: set[Callable[[], None]] = set()

    def stop(self) -> None:
        self.stopping = True
        for wake in list(self.wakers):
            wake()


async def _settled(reply: wire.Reply | wire.Waiting, content_type: bytes, polls: _LongPolls) -> HttpResponse:
    """Wait out a long poll without blocking the loop: woken by a send, at the deadline, or by a stop."""
    while isinstance(reply, wire.Waiting):
        cut_short = reply.found_nothing  # None: a write handed to the writer, whose answer a stop must await
        if cut_short is None:
            await _wake_or_deadline(reply.wait, None)
            reply = reply.resume()
            continue
        if not polls.stopping:
            await _wake_or_deadline(reply.wait, polls)
        # Stopping: no receive, so the messages stay for a client of the next server.
        reply = cut_short() if polls.stopping else reply.resume()
    return _reply_response(reply, content_type)


def _handed_off(reply: wire.Waiting, content_type: bytes, polls: _LongPolls) -> asyncio.Future[HttpResponse]:
    """A write in the writer process's (or a cell's, ``cells/bulkhead.py``) hands: a future its answer settles.

    Every write with ``serve --workers`` comes this way, so it is callbacks
    on the loop — the writer's answer, or the deadline's timer — and no Task
    or coroutine: the long-poll path (``_settled``) cost a worker ~14 µs of
    CPU per hand-off.  A stop does not cut it short (``Wait.ends_on_stop``);
    a cancel (the client went away) drops the answer.
    """
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[HttpResponse] = loop.create_future()
    wait = reply.wait
    timer: asyncio.TimerHandle | None = None

    def settle() -> None:  # on the loop: the worker's socket reader, or the timer
        if answered.done():
            return
        answered.remove_done_callback(forget)
        forget(answered)
        settled = reply.resume()  # the writer's answer, or a retryable error past the deadline
        try:
            if isinstance(settled, wire.Waiting):  # a cell's answer that waits again (a re-route, a long poll)
                later = (_handed_off(settled, content_type, polls) if settled.found_nothing is None
                         else asyncio.ensure_future(_settled(settled, content_type, polls)))
                later.add_done_callback(lambda done: _pass_on(done, answered))
                return
            answered.set_result(_reply_response(settled, content_type))
        except Exception as exc:  # noqa: BLE001 - the http server answers it with a 500
            answered.set_exception(exc)

    def forget(done: asyncio.Future[HttpResponse]) -> None:  # settled or cancelled: no more callbacks
        if timer is not None:
            timer.cancel()
        wait.wakeups.unsubscribe(wait.queue_id, token)
        if done.cancelled() and wait.stale():  # answered just before the cancel: take the answer off the books
            try:
                wait.retry()
            except Exception:  # noqa: BLE001, S110 - nobody is left to give it to
                pass

    token = wait.wakeups.subscribe(wait.queue_id, settle)
    answered.add_done_callback(forget)
    if wait.stale():
        settle()
    elif wait.deadline != math.inf:  # infinite: the hub gives up by itself (``protocol/storage_threads.py``)
        timer = loop.call_later(wait.remaining(), settle)
    return answered


def _pass_on(done: asyncio.Future[HttpResponse], answered: asyncio.Future[HttpResponse]) -> None:
    """A chained wait's answer (or its error) becomes ``answered``'s, unless that was cancelled meanwhile."""
    if answered.done():
        return
    if done.cancelled():
        answered.cancel()
    elif (error := done.exception()) is not None:
        answered.set_exception(error)
    else:
        answered.set_result(done.result())


async def _wake_or_deadline(wait: Wait, polls: _LongPolls | None) -> None:
    """Until ``wait`` is woken, its deadline passes or the server stops (``polls``; None: a stop does not count).

    A bare future and a timer rather than ``asyncio.Event`` and ``wait_for``:
    on Python 3.11 ``wait_for`` starts a Task of its own, and every write
    handed to the writer process (``protocol/writer.py``) comes this way.
    """
    loop = asyncio.get_running_loop()
    woken = loop.create_future()
    on_loop = threading.get_ident()

    def wake() -> None:
        if threading.get_ident() == on_loop:  # the writer's answer, read by this loop
            _resolve(woken)
            return
        try:
            loop.call_soon_threadsafe(_resolve, woken)
        except RuntimeError:  # the loop closed while a sender was notifying
            pass

    token = wait.wakeups.subscribe(wait.queue_id, wake)
    if polls is not None:
        polls.wakers.add(wake)
    try:
        if wait.stale():
            return
        timer = loop.call_later(wait.remaining(), _resolve, woken)
        try:
            await woken
        finally:
            timer.cancel()
    finally:
        if polls is not None:
            polls.wakers.discard(wake)
        wait.wakeups.unsubscribe(wait.queue_id, token)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _metrics_response(body: bytes) -> HttpResponse:
    return HttpResponse(
        200,
        [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"), (b"content-length", str(len(body)).encode("ascii"))],
        body,
    )


def _reply_response(reply: wire.Reply, content_type: bytes) -> HttpResponse:
    for name, value in reply.headers:
        if b"\r" in value or b"\n" in value:  # the HTTP server writes header values as given
            raise ValueError(f"header {name!r} has a line break in its value")
    if content_type == wire.CONTENT_TYPE:
        return _json_response(reply.status, reply.body, reply.headers)
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(reply.body)).encode("ascii")),
        (b"x-amzn-RequestId", wire.new_request_id().encode("ascii")),
        *reply.headers,
    ]
    return HttpResponse(reply.status, headers, reply.body)


def _json_response(status: int, body: bytes, extra: tuple[tuple[bytes, bytes], ...] = ()) -> HttpResponse:
    """An AWS JSON answer: the common case has no headers of its own (``extra``).

    An unexpected error brings the request id its log line names (in ``extra``),
    and that one is sent instead of a fresh id.
    """
    if extra and any(name == wire.REQUEST_ID_HEADER for name, _ in extra):
        return HttpResponse(
            status,
            [
                (b"content-type", wire.CONTENT_TYPE),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"x-amz-crc32", wire.crc32(body)),
                *extra,
            ],
            body,
        )
    return HttpResponse(
        status,
        [
            (b"content-type", wire.CONTENT_TYPE),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"x-amz-crc32", wire.crc32(body)),
            (wire.REQUEST_ID_HEADER, wire.new_request_id().encode("ascii")),
            *extra,
        ],
        body,
    )


def error_response(err: CellstoreError) -> HttpResponse:
    """``err`` as the AWS JSON error answer (also what a server sends for a failure outside the app)."""
    return _json_response(err.status, wire.error_body(err), wire.error_headers(err))


def _is_form(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() == _FORM_TYPE


def _is_json(content_type: bytes) -> bool:
    return content_type.partition(b";")[0].strip().lower() in _JSON_TYPES
