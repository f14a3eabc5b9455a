"""The AWS JSON 1.0 wire format: bytes and headers in, (service, operation, dict) out.

This module knows HTTP headers and JSON, and nothing of DynamoDB semantics.
Both the HTTP app (``App.respond``) and the in-process botocore hook go through
``respond`` so that a request is judged identically whichever way it arrived,
and error bodies are built in exactly one place (``error_body``).

Checks happen in the order AWS applies them — target, then authentication,
then the body — so a request with several faults reports the same one AWS
would.  Without an ``Authenticator`` (``--auth none``, and always in-process)
signatures are never verified, only their shape; with one (``--auth sigv4``,
see ``protocol/auth.py``) each request is verified and then authorized
against the resources the api layer says it touches.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
import zlib
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import orjson

from cellstore.errors import (
    CellstoreError,
    IncompleteSignatureException,
    InternalServerError,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    SerializationException,
    UnknownOperationException,
)
from cellstore.protocol import compression
from cellstore.protocol.operations import unknown_operation
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.protocol")

#: ``X-Amz-Target`` prefixes (the part before the dot) and the service each names.
TARGET_PREFIXES: Mapping[str, str] = {
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "streams",
    "AmazonSQS": "sqs",
}

CONTENT_TYPE = b"application/x-amz-json-1.0"
JSON_CONTENT_TYPES = frozenset({"application/x-amz-json-1.0", "application/json"})

#: AWS accepts at most 16 MB in one request (BatchWriteItem's documented limit).
MAX_BODY_BYTES = 16 * 1024 * 1024

#: Coral's own serialization errors spell the member ``Message``; every other
#: error DynamoDB returns spells it ``message``.  botocore reads either.
_CAPITALISED_MESSAGE = frozenset({"SerializationException"})

Dispatch = Callable[..., Any]


class Service(NamedTuple):
    """What the wire layer needs of a service: a dispatcher and its operation names.

    The names are needed before dispatching because AWS rejects an unknown
    operation before it looks at authentication or the body.  A service with
    ``needs_endpoint`` (SQS, whose responses carry queue URLs) is called as
    ``dispatch(operation, payload, endpoint)`` with the ``http://host:port``
    the client used, and may answer with a ``Wait`` (a long poll).
    """

    dispatch: Dispatch
    operations: Container[str]
    needs_endpoint: bool = False
    #: ``resources(operation, payload)``: what the request touches, for the
    #: authorizer (see ``api/resources.py``); None authorizes ``<service>:<op>`` on "*".
    resources: Callable[[str, dict[str, Any]], Iterable[Any]] | None = None


#: The account of a request that names no other (``engine/tenants.DEFAULT_ACCOUNT``).
DEFAULT_ACCOUNT = "000000000000"


class Routes:
    """What ``respond`` routes by: each service's operation names, and an account's services.

    The names are static and checked before authentication, as AWS refuses
    an unknown operation first; the services depend on the request's
    account, known only once it is authenticated (``protocol/directory.py``).
    """

    __slots__ = ("operations", "services")

    def __init__(
        self, operations: Mapping[str, Container[str]], services: Callable[[str], Mapping[str, Service]]
    ) -> None:
        self.operations = operations
        self.services = services

    @classmethod
    def fixed(cls, services: Mapping[str, Service]) -> Routes:
        """The same services for every account (a bare app in tests and benchmarks)."""
        return cls({name: service.operations for name, service in services.items()}, lambda account: services)


def unsigned_account(access_key: str) -> str:
    """The account of a request under ``--auth none``: its access key id if that is twelve digits, else the default.

    The convention LocalStack users know: with no credentials to check, the
    access key id is the only thing a client can say about who it is.
    ``access_key`` is what ``check_auth`` found in the request's one parse.
    """
    return access_key if len(access_key) == 12 and access_key.isascii() and access_key.isdigit() else DEFAULT_ACCOUNT


class RequestEntityTooLarge(SerializationException):
    """A body over ``MAX_BODY_BYTES``: refused before a byte of it is parsed."""

    status = 413
    default_message = "Request entity too large"


class Request(NamedTuple):
    """The parts of an HTTP request the wire layer reads, already decoded."""

    target: str | None
    authorization: str | None
    has_date: bool
    query: str
    body: bytes
    host: str = ""
    path: str = "/"
    #: Everything SigV4 verification reads: the headers as sent (lower-case
    #: names), the method and the path still percent-encoded ("" = ``path``).
    headers: Sequence[tuple[bytes, bytes]] = ()
    method: str = "POST"
    raw_path: str = ""
    scheme: str = "http"
    #: The ``Content-Encoding`` header values, in order (``compression.inflate`` undoes them).
    content_encoding: tuple[bytes, ...] = ()


class Authenticator(Protocol):
    """What ``respond`` needs of ``--auth sigv4`` (``protocol/auth.Auth``); raises ``CellstoreError``s."""

    def authenticate(self, request: Request, service: str) -> Any: ...

    def account_of(self, identity: Any) -> str: ...

    def check_headers(self, request: Request, service: str) -> None: ...

    def authorize(
        self, identity: Any, service: str, operation: str, accesses: Iterable[Any] | None
    ) -> None: ...


class Reply(NamedTuple):
    """A finished answer: status, body and the headers particular to it."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


class Waiting(NamedTuple):
    """An answer that waits on ``wait`` (see ``engine/queues/wakeups.py``); ``resume`` once woken."""

    wait: Wait
    resume: Callable[[], Reply | Waiting]
    #: The answer of a wait that ends with nothing found, without another attempt (a stopping server's);
    #: None for a wait a stop must not cut short (``Wait.ends_on_stop``).
    found_nothing: Callable[[], Reply] | None = None


def endpoint_of(request: Request) -> str:
    return f"{request.scheme}://{request.host or 'localhost'}"


def settle(
    result: Any, ok: Callable[[dict[str, Any]], Reply], fail: Callable[[CellstoreError], Reply]
) -> Reply | Waiting:
    """``result`` as a Reply, or a Waiting whose resume settles the retry the same way."""
    if not isinstance(result, Wait):
        return ok(result)
    wait = result

    def resume() -> Reply | Waiting:
        try:
            retried = wait.retry()
        except CellstoreError as err:
            return fail(err)
        except Exception as exc:  # noqa: BLE001 - as in respond
            return fail(internal_error(exc))
        return settle(retried, ok, fail)

    if not wait.ends_on_stop:  # a write in the writer's hands: a stop must still wait for its answer
        return Waiting(wait, resume)
    return Waiting(wait, resume, lambda: ok({}))  # {}: a receive that found nothing


_parsed_targets: dict[str, tuple[str, str]] = {}


def parse_target(target: str | None) -> tuple[str, str]:
    """Split ``X-Amz-Target`` into (service, operation).

    A missing header, an unknown prefix or a missing operation name is an
    ``UnknownOperationException``, as AWS reports it.  Valid targets are few,
    so each is split once and remembered.
    """
    if not target:
        raise UnknownOperationException()
    parsed = _parsed_targets.get(target)
    if parsed is not None:
        return parsed
    prefix, dot, operation = target.partition(".")
    service = TARGET_PREFIXES.get(prefix)
    if service is None or not dot or not operation or "." in operation:
        raise UnknownOperationException()
    if len(_parsed_targets) < 1024:  # bounded: clients choose these strings
        _parsed_targets[target] = (service, operation)
    return service, operation


def check_auth(authorization: str | None, query: str, has_date: bool) -> str:
    """Reject a request whose SigV4 material is absent or not well-formed; the access key id it names.

    The messages are AWS's own; nothing is verified cryptographically.  The
    access key id (the Credential's first element) comes out of the same
    parse, for ``unsigned_account``.
    """
    presigned = "X-Amz-Algorithm=" in query
    if authorization is None:
        if not presigned:
            raise MissingAuthenticationTokenException()
        return _check_presigned(query)
    if presigned:
        raise InvalidSignatureException(
            "Found both 'X-Amz-Algorithm' as a query-string param and "
            "'Authorization' as HTTP header."
        )
    return _check_header(authorization, has_date)


# What every SDK sends; matching it is one regex call, and only a header that
# fails it is taken apart token by token to find AWS's message for it.
_WELL_FORMED = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^\s,/]+)(?:/[^\s,/]+){4}, ?"
    r"SignedHeaders=[^\s,=]+, ?Signature=[^\s,=]+"
)


def _check_header(authorization: str, has_date: bool) -> str:
    if has_date:
        well_formed = _WELL_FORMED.fullmatch(authorization)
        if well_formed:
            return well_formed.group(1)
    tokens = authorization.replace(",", " ").split()
    params: dict[str, str] = {}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq:
            raise IncompleteSignatureException(
                f"'{token}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{authorization}'."
            )
        params[key] = value
    problems = [
        f"Authorization header requires '{name}' parameter. "
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in params
    ]
    if not has_date:
        problems.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        )
    if problems:
        raise IncompleteSignatureException("".join(problems) + f"Authorization={authorization}")
    credential = params["Credential"]
    if credential.count("/") != 4:
        raise IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{credential}'"
        )
    return credential.partition("/")[0]


_PRESIGN_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)


def _check_presigned(query: str) -> str:
    params: dict[str, str] = {}
    for part in query.split("&"):
        name, _, value = part.partition("=")
        params[name] = value
    missing = [
        f"AWS query-string parameters must include '{name}'. "
        for name in _PRESIGN_PARAMS
        if name not in params
    ]
    if missing:
        raise IncompleteSignatureException(
            "".join(missing) + "Re-examine the query-string parameters."
        )
    credential = params["X-Amz-Credential"]  # percent-encoded: its slashes may be %2F
    return credential.replace("%2F", "/").replace("%2f", "/").partition("/")[0]


def inflated_body(request: Request) -> bytes:
    """The request's body with its ``Content-Encoding`` undone, within ``MAX_BODY_BYTES`` (see ``compression``).

    Called after authentication: a signature covers the body as sent, compressed.
    """
    body = compression.inflate(request.body, compression.codings(request.content_encoding), MAX_BODY_BYTES)
    if body is None:
        raise RequestEntityTooLarge()
    return body


#: DynamoDB's operations whose service model defines no output: DynamoDB answers
#: them with an empty body (HTTP 200, Content-Length 0), not ``{}``.  (SQS's
#: outputless operations are left as they are: that is the SQS API's own question.)
_EMPTY_ANSWERS = frozenset({"TagResource", "UntagResource"})


def _endpoints_as_used(result: dict[str, Any], request: Request) -> dict[str, Any]:
    """DescribeEndpoints naming the host this client reached, not an AWS hostname.

    The api layer knows no HTTP, so it answers with DynamoDB's own address
    and the protocol layer, which knows the ``Host`` the client used, puts
    that in.  AWS answers a bare hostname (``dynamodb.us-east-1.amazonaws.com``)
    and SDKs that use endpoint discovery prepend ``https://`` to an address
    without a scheme; over plain HTTP cellstore therefore answers
    ``http://host:port``, so that discovery reaches the same server, and over
    HTTPS the bare ``host:port`` as AWS does.
    """
    if not request.host:
        return result
    address = request.host if request.scheme == "https" else f"{request.scheme}://{request.host}"
    endpoints = [{**endpoint, "Address": address} for endpoint in result.get("Endpoints", ())]
    return {**result, "Endpoints": endpoints}


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a request body into the JSON object every AWS JSON operation takes.

    Coral describes a wrong top-level type by the token it met; invalid JSON
    gets a bare ``SerializationException`` with no message, as AWS sends it.
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise SerializationException() from None
    if type(payload) is dict:
        return payload
    if isinstance(payload, list):
        raise SerializationException("Start of list found where not expected")
    raise SerializationException("Unexpected field type")


def encode_body(payload: Mapping[str, Any]) -> bytes:
    return orjson.dumps(payload)


def error_headers(err: CellstoreError) -> tuple[tuple[bytes, bytes], ...]:
    """``x-amzn-query-error`` for errors of services that once spoke the query protocol (SQS).

    botocore reads it to report the query code as ``Error.Code`` while
    mapping the exception class from ``__type``.  An unexpected error instead
    carries the request id its log line names (see ``internal_error``).
    """
    query_code = getattr(err, "query_code", None)
    if query_code is None:
        request_id = getattr(err, "request_id", None)  # an InternalServerError's logged id
        return () if request_id is None else ((REQUEST_ID_HEADER, request_id.encode("ascii")),)
    return ((b"x-amzn-query-error", f"{query_code};{getattr(err, 'fault', 'Sender')}".encode("ascii")),)


def error_reply(err: CellstoreError) -> Reply:
    return Reply(err.status, error_body(err), error_headers(err))


def error_body(err: CellstoreError) -> bytes:
    """The one place an error becomes an AWS JSON error body."""
    body: dict[str, Any] = {"__type": f"{err.namespace}#{err.code}"}
    if err.message:
        body["Message" if err.code in _CAPITALISED_MESSAGE else "message"] = err.message
    body.update(err.fields)
    return orjson.dumps(body)


#: The response header carrying the request id (set by the app, or by an InternalServerError).
REQUEST_ID_HEADER = b"x-amzn-RequestId"


def internal_error(exc: BaseException) -> InternalServerError:
    """Log an unexpected exception in one line and return what the client sees.

    One ERROR line per failure: the exception type, where it was raised
    (file:line in function) and a fresh request id, which the answer carries
    as ``x-amzn-RequestId`` so a client's report can be matched to the line.
    The full traceback goes to the DEBUG level only — not rate-limited, just
    off by default: ``serve`` logs at INFO, so it appears only when whoever
    runs cellstore sets the ``cellstore.protocol`` logger to DEBUG.  A bad
    request that trips a bug must not write a traceback per request — a
    2,000-deep RecursionError is ~141 KB — and a client repeating it could
    otherwise fill the disk.  The exception's message is left out too: it may
    quote request data.
    """
    request_id = new_request_id()
    where = "?"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f"{_short_path(last.filename)}:{last.lineno} in {last.name}"
    log.error(
        "unexpected %s at %s; request id %s", type(exc).__name__, where, request_id, extra={"request_id": request_id}
    )
    if log.isEnabledFor(logging.DEBUG):
        log.debug("traceback of request %s", request_id, exc_info=exc, extra={"request_id": request_id})
    err = InternalServerError()
    err.request_id = request_id
    return err


def _short_path(filename: str) -> str:
    """``.../site-packages/cellstore/engine/items.py`` → ``cellstore/engine/items.py``."""
    marker = filename.rfind("cellstore" + os.sep)
    return filename[marker:] if marker >= 0 else os.path.basename(filename)


def new_request_id() -> str:
    """52 upper-case alphanumerics, the length and look of DynamoDB's request ids."""
    return os.urandom(26).hex().upper()


def crc32(body: bytes) -> bytes:
    """The ``x-amz-crc32`` value botocore checks DynamoDB responses against."""
    return str(zlib.crc32(body)).encode("ascii")


def _ok(result: dict[str, Any]) -> Reply:
    return Reply(200, orjson.dumps(result))


def _answer_for(service_name: str, operation: str, request: Request) -> Callable[[dict[str, Any]], Reply]:
    """How a successful result becomes the answer: most as JSON; a few as DynamoDB shapes them."""
    if service_name == "dynamodb" and operation in _EMPTY_ANSWERS:
        return lambda _result: Reply(200, b"")
    if operation == "DescribeEndpoints":
        return lambda result: _ok(_endpoints_as_used(result, request))
    return _ok


def respond(
    routes: Routes | Mapping[str, Service], request: Request, auth: Authenticator | None = None
) -> Reply | Waiting:
    """Turn one request into a Reply (or a Waiting, for a long poll); never raises."""
    if not isinstance(routes, Routes):
        routes = Routes.fixed(routes)
    try:
        service_name, operation = parse_target(request.target)
        operations = routes.operations.get(service_name)
        if operations is None or operation not in operations:
            raise unknown_operation(service_name, operation)
        if auth is None:
            account = unsigned_account(check_auth(request.authorization, request.query, request.has_date))
        else:
            identity = auth.authenticate(request, service_name)
            account = auth.account_of(identity)
        service = routes.services(account)[service_name]
        if len(request.body) > MAX_BODY_BYTES:
            raise RequestEntityTooLarge()
        payload = decode_body(inflated_body(request) if request.content_encoding else request.body)
        if auth is not None:
            accesses = None if service.resources is None else service.resources(operation, payload)
            auth.authorize(identity, service_name, operation, accesses)
        if not service.needs_endpoint:
            result = service.dispatch(operation, payload)
            answer = _answer_for(service_name, operation, request)
            if type(result) is not Wait:  # a Wait: a write handed to the writer process (protocol/writer.py)
                return answer(result)
        else:
            answer = _ok
            result = service.dispatch(operation, payload, endpoint_of(request))
    except CellstoreError as err:
        return error_reply(err)
    except Exception as exc:  # noqa: BLE001 - any bug becomes AWS's 500, never a hang
        return error_reply(internal_error(exc))
    return settle(result, answer, error_reply)
