"""cellstore with no socket: botocore's DynamoDB calls answered in the caller's thread.

Two botocore events can take over a call, and a ``Router`` answers either:

* ``before-send`` (the *wire* path): botocore has built and signed the HTTP
  request; the router hands its headers and body to ``wire.respond``, exactly
  as the server does, and returns an HTTP response that botocore parses,
  checks and retries as usual.  Nothing differs from the server but the socket.
* ``before-call`` (the *fast* path, the default): botocore has validated and
  serialized the parameters; the router decodes the body, dispatches, and
  hands back the parsed response itself (``shapes.compile_shape``), skipping
  signing, the HTTP model, the retry machinery and JSON parsing.  Errors come
  back as the same ``ClientError`` subclasses with the same Code, Message and
  modeled fields, and are never retried.

``in_process()`` also answers DynamoDB calls from clients it did not make,
as long as the block is active: importing this module adds two routing
handlers to botocore's built-in handler list (which every botocore session
created from then on registers) and to boto3's default session if it exists.  Those handlers consult the
innermost active block at call time and let the call go out normally when
there is none.  This covers ``boto3.client("dynamodb")`` and
``boto3.resource("dynamodb")`` anywhere in the code under test, whether the
client was made inside the block or earlier from the default session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

try:
    from botocore.awsrequest import AWSResponse
except ModuleNotFoundError as missing:  # a plain `pip install cellstore`: say what to install, not where it broke
    raise ModuleNotFoundError(
        "cellstore's in_process() answers boto3 calls and needs boto3: pip install 'cellstore[embedded]'",
        name=missing.name,
    ) from None

from cellstore.embedded import shapes
from cellstore.embedded.clients import Cellstore, made_session
from cellstore.engine.database import Database
from cellstore.engine.tenants import DEFAULT_ACCOUNT, Tenants, is_account_id
from cellstore.errors import CellstoreError, UnknownOperationException
from cellstore.protocol import wire
from cellstore.protocol.operations import unknown_operation
from cellstore.protocol.server import services_for
from cellstore.waiting import Wait

# In-process clients need an endpoint to exist; should a call ever escape the
# hooks, it meets a closed loopback port rather than the real AWS.
IN_PROCESS_ENDPOINT = "http://127.0.0.1:9"

_CALL_EVENT = "before-call.dynamodb"
_SEND_EVENT = "before-send.dynamodb"
# The DynamoDB Streams service ("dynamodbstreams"), served on the same endpoint.
_STREAMS_CALL_EVENT = "before-call.dynamodb-streams"
_STREAMS_SEND_EVENT = "before-send.dynamodb-streams"
_STREAMS_SERVICE = "dynamodbstreams"
# SQS (botocore's "sqs" service, AWS JSON protocol), served on the same endpoint too.
#: A DynamoDB or Streams dispatcher: ``wire.Dispatch`` narrowed to the two-argument
#: services, which answer with a dict (only SQS may answer with a ``Wait``).
_Dispatch = Callable[[str, dict[str, Any]], dict[str, Any]]

_SQS_CALL_EVENT = "before-call.sqs"
_SQS_SEND_EVENT = "before-send.sqs"


class _Body:
    """The ``raw`` botocore reads an ``AWSResponse`` body from."""

    __slots__ = ("_payload",)

    def __init__(self, payload: Any) -> None:
        self._payload = payload

    def stream(self, **kwargs: Any) -> Iterator[bytes]:
        payload = self._payload
        yield payload if type(payload) is bytes else orjson.dumps(payload)


class Router:
    """Answers botocore DynamoDB calls from a service's dispatcher; safe from many threads.

    Calls into the engine are serialised by a lock: the server calls the
    engine from one thread only, and in-process mode must not offer the
    engine more concurrency than that.

    ``service``, ``streams`` and ``sqs`` are the default account's;
    ``accounts`` gives another account's services (``in_process`` opens them
    from its ``Tenants``).  A call's account is found as the server finds it
    under ``--auth none``: a client whose access key id is 12 digits acts in
    that account, any other in the default one.
    """

    def __init__(
        self,
        service: wire.Service,
        *,
        fast: bool = True,
        streams: wire.Service | None = None,
        sqs: wire.Service | None = None,
        accounts: Callable[[str], Mapping[str, wire.Service]] | None = None,
    ) -> None:
        self.fast = fast
        self._lock = threading.Lock()
        default: dict[str, wire.Service] = {"dynamodb": service}
        if streams is not None:
            default["streams"] = streams
        if sqs is not None:
            default["sqs"] = sqs
        self._services = self._locked(default)
        self._operations = {name: found.operations for name, found in self._services.items()}
        self._accounts = accounts
        self._by_account: dict[str, dict[str, wire.Service]] = {DEFAULT_ACCOUNT: self._services}

    def services(self, account: str) -> Mapping[str, wire.Service]:
        """``account``'s services, each call serialised by the lock (the default account's without ``accounts``)."""
        found = self._by_account.get(account)
        if found is None:
            if self._accounts is None:
                return self._services
            with self._lock:  # opening an account's database writes its data format, as any engine call
                unlocked = self._accounts(account)
            found = self._by_account.setdefault(account, self._locked(unlocked))
        return found

    def _locked(self, unlocked: Mapping[str, wire.Service]) -> dict[str, wire.Service]:
        """The same services with every engine call taken under the lock (a long poll waits outside it)."""
        lock = self._lock

        def locked(dispatch: _Dispatch) -> _Dispatch:
            def call(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
                with lock:
                    return dispatch(operation, payload)

            return call

        services = {name: wire.Service(locked(unlocked[name].dispatch), unlocked[name].operations)
                    for name in ("dynamodb", "streams") if name in unlocked}
        sqs = unlocked.get("sqs")
        if sqs is not None:
            sqs_dispatch = sqs.dispatch

            def receive(operation: str, payload: dict[str, Any], endpoint: str) -> dict[str, Any]:
                """SQS: a long-polling receive waits here, outside the lock, so sends can wake it."""
                with lock:
                    result = sqs_dispatch(operation, payload, endpoint)
                while isinstance(result, Wait):
                    result.block()
                    with lock:
                        result = result.retry()
                return result  # type: ignore[no-any-return]

            services["sqs"] = wire.Service(receive, sqs.operations, needs_endpoint=True)
        return services

    def before_send(self, request: Any, **kwargs: Any) -> AWSResponse:
        """The wire path: answer botocore's prepared HTTP request like the server would."""
        headers = request.headers
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        url = urlsplit(request.url)
        reply = wire.respond(
            wire.Routes(self._operations, self.services),
            wire.Request(
                _text(headers.get("X-Amz-Target")),
                _text(headers.get("Authorization")),
                "X-Amz-Date" in headers or "Date" in headers,
                url.query,
                body,
                url.netloc,
                url.path or "/",
            ),
        )
        while isinstance(reply, wire.Waiting):  # not for the router's own services: they wait unlocked
            reply.wait.block()
            reply = reply.resume()
        status, payload = reply.status, reply.body
        response_headers = _headers(payload)
        response_headers.update((k.decode("latin-1"), v.decode("latin-1")) for k, v in reply.headers)
        return AWSResponse(request.url, status, response_headers, _Body(payload))

    def before_call(self, model: Any, params: dict[str, Any], request_signer: Any = None, **kwargs: Any) -> Any:
        """The fast path: dispatch and build botocore's parsed response directly."""
        if not self.fast:
            return None
        try:
            # botocore's own serializer wrote this body: always a JSON object.
            service_name = model.service_model.service_name
            served = "streams" if service_name == _STREAMS_SERVICE else service_name
            services = self._services if self._accounts is None else self.services(_account(request_signer))
            service = services.get(served)
            if service is None:
                raise UnknownOperationException()
            if model.name not in service.operations:  # as the wire path answers it
                raise unknown_operation(served, model.name)
            payload = orjson.loads(params["body"] or b"{}")
            if service_name == "sqs":
                url = urlsplit(params["url"])
                result = service.dispatch(model.name, payload, f"{url.scheme}://{url.netloc}")
            else:
                result = service.dispatch(model.name, payload)
            # A copy through JSON, so the caller never shares objects with the
            # engine and sees exactly what the server would have sent.
            result = orjson.loads(orjson.dumps(result))
        except CellstoreError as err:
            return self._error(model, params, err)
        except Exception as exc:  # noqa: BLE001 - any bug is AWS's 500, as on the wire
            return self._error(model, params, wire.internal_error(exc))
        convert = _converter(model.service_model, model.name, model.output_shape)
        parsed = result if convert is None else convert(result)
        return _reply(params["url"], 200, result, parsed)

    def _error(self, model: Any, params: dict[str, Any], err: CellstoreError) -> Any:
        body = wire.error_body(err)
        fields = orjson.loads(body)
        parsed: dict[str, Any] = {
            "Error": {"Message": fields.get("message", fields.get("Message", "")), "Code": err.code}
        }
        query_code = getattr(err, "query_code", None)
        if query_code is not None:  # what botocore makes of SQS's x-amzn-query-error header
            parsed["Error"].update(Code=query_code, QueryErrorCode=err.code, Type=getattr(err, "fault", "Sender"))
        service = model.service_model
        shape = service.shape_for_error_code(err.code)
        if shape is not None:
            convert = _converter(service, "error:" + err.code, shape)
            parsed.update(fields if convert is None else convert(fields))
        return _reply(params["url"], err.status, body, parsed)

    def attach(self, client: Any) -> None:
        """Route ``client``'s calls here for good, ahead of any global routing."""
        events = client.meta.events
        for call_event, send_event in (
            (_CALL_EVENT, _SEND_EVENT),
            (_STREAMS_CALL_EVENT, _STREAMS_SEND_EVENT),
            (_SQS_CALL_EVENT, _SQS_SEND_EVENT),
        ):
            events.unregister(call_event, _route_call)
            events.unregister(send_event, _route_send)
            events.register_first(call_event, self.before_call)
            events.register_first(send_event, self.before_send)


def _account(request_signer: Any) -> str:
    """The account a client acts in: its access key id if that is 12 digits (as ``wire.unsigned_account``)."""
    # botocore offers no public accessor for a client's credentials; its signer holds them.
    credentials = getattr(request_signer, "_credentials", None)
    key = getattr(credentials, "access_key", None)
    return key if isinstance(key, str) and is_account_id(key) else DEFAULT_ACCOUNT


# Compiled once per process: a service model's shapes are the same for every client.
_converters: dict[tuple[str, str, str], shapes.Converter | None] = {}


def _converter(service: Any, name: str, shape: Any) -> shapes.Converter | None:
    """The converter for ``shape`` (an operation's output or an error), by name."""
    key = (service.service_name, service.api_version, name)
    try:
        return _converters[key]
    except KeyError:
        convert = None if shape is None else shapes.compile_shape(shape)
        _converters[key] = convert
        return convert


def _text(value: str | bytes | None) -> str | None:
    return value.decode("latin-1") if isinstance(value, bytes) else value


def _headers(body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/x-amz-json-1.0",
        "content-length": str(len(body)),
        "x-amz-crc32": wire.crc32(body).decode("ascii"),
        "x-amzn-requestid": wire.new_request_id(),
    }


def _reply(url: str, status: int, body: Any, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    request_id = wire.new_request_id()
    headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": request_id}
    parsed["ResponseMetadata"] = {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": headers,
        "RetryAttempts": 0,
    }
    return AWSResponse(url, status, headers, _Body(body)), parsed


# --- global interception -------------------------------------------------

_active: list[Router] = []
_active_lock = threading.Lock()


def _current() -> Router | None:
    try:
        return _active[-1]
    except IndexError:
        return None


def _route_call(**kwargs: Any) -> Any:
    router = _current()
    return None if router is None else router.before_call(**kwargs)


def _route_send(**kwargs: Any) -> Any:
    router = _current()
    return None if router is None else router.before_send(**kwargs)


def _install() -> None:
    """Make every botocore session created from now on consult the active router (once, at import)."""
    import boto3
    from botocore import handlers

    routes = (
        (_CALL_EVENT, _route_call),
        (_SEND_EVENT, _route_send),
        (_STREAMS_CALL_EVENT, _route_call),
        (_STREAMS_SEND_EVENT, _route_send),
        (_SQS_CALL_EVENT, _route_call),
        (_SQS_SEND_EVENT, _route_send),
    )
    handlers.BUILTIN_HANDLERS.extend(routes)
    # boto3.client() uses a default session, and the fixtures' clients a shared
    # one (clients.made_session), either of which may predate the line above.
    for session in (boto3.DEFAULT_SESSION, made_session()):
        if session is not None:
            events = session.events
            for event, handler in routes:
                events.unregister(event, handler)
                events.register(event, handler)


class InProcessCellstore(Cellstore):
    """An in-process cellstore; its clients are bound to it even after the block ends."""

    def __init__(self, db: Database, router: Router) -> None:
        super().__init__(db, IN_PROCESS_ENDPOINT)
        self.router = router

    def _attach(self, client: Any) -> None:
        self.router.attach(client)


@contextmanager
def in_process(
    data_dir: str | Path | None = None, *, fast: bool = True, storage: str | None = None
) -> Iterator[InProcessCellstore]:
    """A cellstore answering boto3 DynamoDB calls in this process, with no server.

    In memory unless ``data_dir`` is given.  While the block is active, every
    DynamoDB call is answered by it (``boto3.client("dynamodb")`` included,
    see the module docstring); the yielded object's ``.client()`` and
    ``.resource()`` stay bound to it.  ``fast=False`` routes through the full
    HTTP request/response handling instead of the fast path.  ``storage``
    (a ``postgresql://`` URL) puts the database on PostgreSQL instead.

    Accounts are as on a server with ``--auth none``: a client made with a
    12-digit ``aws_access_key_id`` acts in that account (its own tables,
    queues and ARNs), any other client in the default account, which is
    also ``.db``'s.
    """
    from cellstore.storage import open_store

    path = None if data_dir is None else str(Path(data_dir) / "cellstore.db")
    # Every account of the store, as a server has them: each account's background work runs from now on.
    tenants = Tenants(open_store(storage if storage is not None else path))
    try:
        tenants.open_stored()
        db = tenants.database(DEFAULT_ACCOUNT)
        services = services_for(db)
        router = Router(services["dynamodb"], fast=fast, streams=services.get("streams"), sqs=services.get("sqs"),
                        accounts=lambda account: services_for(tenants.database(account)))
        with intercepting(router):
            yield InProcessCellstore(db, router)
    finally:
        tenants.close()


@contextmanager
def intercepting(router: Router) -> Iterator[Router]:
    """Route DynamoDB calls made until the block ends to ``router``.

    Nested blocks stack: the innermost router answers.  Clients bound with
    ``Router.attach`` keep their own router whatever is active.
    """
    with _active_lock:
        _active.append(router)
    try:
        yield router
    finally:
        with _active_lock:
            _active.remove(router)


_install()
