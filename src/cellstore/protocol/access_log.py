"""``serve --access-log``: one line per request, written by the HTTP server once the answer is.

Off by default: a line per request (a clock read, a few regular expressions
over the body, a write) measured about 18 µs written to a file, 7 µs of it
formatting — a fifth again on a GetItem that takes about 80 µs (12,000
requests/s a core, docs/BENCHMARKS.md).  When it
is on, each line holds what a user tracing a request wants: the time, the
request id the client saw (``x-amzn-RequestId``), the principal (the access
key, or with ``--auth sigv4`` the principal it belongs to), the service and
operation, the table or queue, the status and the milliseconds from the first
byte of the request to the answer.  Text lines are space-separated with "-"
for a missing field; ``json_lines`` writes one JSON object per line instead,
with the caller's ``trace_id`` too when the request carried a W3C
``traceparent``.  ``JsonFormatter`` is ``serve --log-format json`` for the
server's other log lines, which name the request id they are about.

The same hook counts requests for ``/metrics`` (``protocol/metrics.py``):
with ``metrics`` set and no ``stream`` only the service and operation are
read (a header scan, no regular expression), so the server keeps one
per-request path whatever is on.

Everything is read from the request as the server has it (headers and raw
body), never from the api layer: the protocol layer stays ignorant of
payloads beyond a few member names, and the log costs nothing when off.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO
from urllib.parse import parse_qs, unquote

import orjson

from cellstore.protocol import tracing, wire

if TYPE_CHECKING:
    from cellstore.protocol.credentials import CredentialsFile
    from cellstore.protocol.metrics import Metrics

FIELDS = ("time", "request_id", "principal", "service", "operation", "resource", "status", "ms")

_TABLE = re.compile(rb'"TableName"\s*:\s*"([^"\\]{1,255})"')
_QUEUE_URL = re.compile(rb'"QueueUrl"\s*:\s*"([^"\\]{1,2048})"')
_QUEUE_NAME = re.compile(rb'"QueueName"\s*:\s*"([^"\\]{1,80})"')
_STREAM_ARN = re.compile(rb'"StreamArn"\s*:\s*"[^"\\]*?:table/([^"\\/]{1,255})/stream/')
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
#: Operations whose tables are the keys of ``RequestItems``.
_BATCHES = frozenset({"BatchGetItem", "BatchWriteItem"})


class AccessLog:
    """Formats and writes the access log and counts metrics; ``record`` is called once per answered request.

    ``stream`` None writes no lines (``/metrics`` on, ``--access-log`` off).
    """

    def __init__(self, stream: TextIO | None, *, json_lines: bool = False, metrics: Metrics | None = None) -> None:
        self.stream = stream
        self.json_lines = json_lines
        self.metrics = metrics
        #: With ``--auth sigv4``: access keys are logged as the principal they belong to.
        self.credentials: CredentialsFile | None = None

    def record(
        self,
        method: str,
        url: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        seconds: float,
    ) -> None:
        metrics = self.metrics
        if self.stream is None:
            if metrics is not None:
                metrics.count(*request_kind(method, url, headers, body), status, seconds)
            return
        entry = self.entry(method, url, headers, body or b"", status, response_headers, seconds, time.time())
        if self.json_lines:
            parent = tracing.of_headers(headers)
            if parent is not None:
                entry["trace_id"] = parent.trace_id
        if metrics is not None:
            service, operation = entry["service"], entry["operation"]
            metrics.count(
                service if isinstance(service, str) else None, operation if isinstance(operation, str) else None,
                status, seconds,
            )
        self.stream.write(self.format(entry))

    def line(
        self,
        method: str,
        url: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        seconds: float,
        now: float,
    ) -> str:
        """One line (newline included) for a request, its answer and how long it took."""
        return self.format(self.entry(method, url, headers, body or b"", status, response_headers, seconds, now))

    def format(self, entry: dict[str, object]) -> str:
        """An entry as its line: space-separated fields, or one JSON object."""
        if self.json_lines:
            return orjson.dumps(entry).decode("utf-8") + "\n"
        return " ".join("-" if entry[name] is None else str(entry[name]) for name in FIELDS) + "\n"

    def entry(
        self,
        method: str,
        url: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        status: int,
        response_headers: Sequence[tuple[bytes, bytes]],
        seconds: float,
        now: float,
    ) -> dict[str, object]:
        target = authorization = content_type = None
        for name, value in headers:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.partition(b";")[0].strip().lower()
        path, _, query = url.decode("latin-1").partition("?")
        service: str | None = None
        operation: str | None = None
        resource: str | None = None
        if target is not None:
            prefix, _, action = target.partition(".")
            service = wire.TARGET_PREFIXES.get(prefix)
            operation = action or None
            resource = _json_resource(operation, body)
        elif content_type == b"application/x-www-form-urlencoded" or "Action=" in query:
            params = parse_qs(query)
            if content_type == b"application/x-www-form-urlencoded":
                params.update(parse_qs(body.decode("utf-8", "replace")))
            service = "sqs"
            operation = _first(params, "Action")
            resource = _queue_of(_first(params, "QueueUrl") or (path if path.count("/") == 2 else None))
            resource = resource or _first(params, "QueueName")
        request_id = next(
            (value.decode("latin-1") for name, value in response_headers if name.lower() == b"x-amzn-requestid"), None
        )
        return {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            "request_id": request_id,
            "principal": self._principal(authorization, query),
            "service": service,
            "operation": operation if operation is not None else (None if service else f"{method} {path}"),
            "resource": resource,
            "status": status,
            "ms": round(seconds * 1000, 3),
        }

    def _principal(self, authorization: str | None, query: str) -> str | None:
        found = _CREDENTIAL.search(authorization) if authorization else None
        if found is not None:
            key_id = found.group(1)
        else:
            presigned = parse_qs(query).get("X-Amz-Credential")
            if not presigned:
                return None
            key_id = unquote(presigned[0]).partition("/")[0]
        if self.credentials is not None:
            key = self.credentials.get(key_id)
            if key is not None:
                return key.principal.name
        return key_id


class JsonFormatter(logging.Formatter):
    """``serve --log-format json``: each log record as one JSON object, for log shippers.

    A record logged with ``extra={"request_id": ...}`` (an unexpected error's
    line, ``wire.unexpected_error``) carries the id the client got as
    ``x-amzn-RequestId``, so the line can be found from the client's error.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "trace_id"):
            found = getattr(record, name, None)
            if found is not None:
                entry[name] = found
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode("utf-8")


def request_kind(
    method: str, url: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes | None
) -> tuple[str | None, str | None]:
    """(service, operation) of a request, as cheaply as they can be read; (None, "METHOD /path") for no API call.

    The metrics' per-request path: one pass over the headers for an AWS JSON
    request; the query protocol's ``Action`` needs the query string or form body.
    """
    content_type = b""
    for name, value in headers:
        if name == b"x-amz-target":
            prefix, _, action = value.decode("latin-1").partition(".")
            service = wire.TARGET_PREFIXES.get(prefix)
            return (service, action or None) if service is not None else (None, None)
        if name == b"content-type":
            content_type = value
    path, _, query = url.partition(b"?")
    form = content_type.partition(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
    if form or b"Action=" in query:
        params = parse_qs(query.decode("latin-1"))
        if form and body:
            params.update(parse_qs(body.decode("utf-8", "replace")))
        return "sqs", _first(params, "Action")
    return None, f"{method} {path.decode('latin-1')}"


def _json_resource(operation: str | None, body: bytes) -> str | None:
    """The table, stream's table or queue an AWS JSON request names (several tables: comma-separated)."""
    if operation in _BATCHES:
        try:
            items = orjson.loads(body).get("RequestItems")
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return ",".join(sorted(items)) if isinstance(items, dict) and items else None
    tables = _TABLE.findall(body)
    if tables:
        return ",".join(sorted({t.decode("utf-8", "replace") for t in tables}))
    found = _STREAM_ARN.search(body)
    if found is not None:
        return found.group(1).decode("utf-8", "replace")
    found = _QUEUE_URL.search(body)
    if found is not None:
        return _queue_of(found.group(1).decode("utf-8", "replace"))
    found = _QUEUE_NAME.search(body)
    return found.group(1).decode("utf-8", "replace") if found is not None else None


def _queue_of(url: str | None) -> str | None:
    """A queue's name from its URL (``http://host/account/name``) or path."""
    if not url:
        return None
    name = url.rstrip("/").rpartition("/")[2]
    return name or None


def _first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None
