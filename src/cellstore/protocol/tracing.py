"""W3C ``traceparent`` and OpenTelemetry spans: a request's span, its service call's span beneath it.

Off unless the OpenTelemetry SDK is installed *and* configured
(``OTEL_TRACES_EXPORTER`` set to an exporter, or a tracer provider installed
by the program embedding cellstore): ``from_environment`` then answers a
``Tracing`` and ``run_on`` wraps the app in it; otherwise nothing here is
imported on the request path and a request costs nothing more.

When on, each request gets a ``SERVER`` span named after its operation
(``dynamodb PutItem``), the child of the trace its ``traceparent`` header
names (a new trace without one), and the answer carries a ``traceparent``
naming that span so a client can link to it.  Beneath it, the service call
(api → engine → storage, one synchronous call) is an ``INTERNAL`` span
(``dynamodb.dispatch PutItem``); a long-polling ReceiveMessage's span ends
when its answer does.

``TraceParent`` is plain code with no OpenTelemetry in it: the access log
uses it to put the caller's trace id on its JSON lines.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from cellstore.protocol import wire
from cellstore.protocol.app import HttpResponse

if TYPE_CHECKING:
    from cellstore.protocol.app import Responder

#: version-traceid-parentid-flags, lower-case hex (W3C Trace Context, level 1).
_TRACEPARENT = re.compile(rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = b"0" * 32
_ZERO_SPAN = b"0" * 16
HEADER = b"traceparent"


class TraceParent(NamedTuple):
    """A parsed ``traceparent``: which trace a request belongs to and which span called it."""

    trace_id: str
    parent_id: str
    flags: int

    @property
    def sampled(self) -> bool:
        return bool(self.flags & 1)

    def header(self) -> bytes:
        return f"00-{self.trace_id}-{self.parent_id}-{self.flags:02x}".encode("ascii")


def parse(value: bytes) -> TraceParent | None:
    """A ``traceparent`` value, or None when it is not one (the request then starts a new trace).

    Per the W3C spec: version ``ff`` and all-zero ids are invalid; version
    00 is exactly 55 characters; a later version may append fields after a
    dash, which are ignored.
    """
    found = _TRACEPARENT.fullmatch(value.strip())
    if found is None:
        return None
    version, trace_id, parent_id, flags, rest = found.groups()
    if version == b"ff" or trace_id == _ZERO_TRACE or parent_id == _ZERO_SPAN:
        return None
    if version == b"00" and rest is not None:
        return None
    return TraceParent(trace_id.decode("ascii"), parent_id.decode("ascii"), int(flags, 16))


def of_headers(headers: Sequence[tuple[bytes, bytes]]) -> TraceParent | None:
    """The request's ``traceparent`` (lower-case header names, as the server gives them), if valid."""
    for name, value in headers:
        if name == HEADER:
            return parse(value)
    return None


def from_environment() -> Tracing | None:
    """A ``Tracing`` when the OpenTelemetry SDK is installed and configured, else None (no cost at all).

    Configured means a tracer provider was installed by the program embedding
    cellstore, or ``OTEL_TRACES_EXPORTER`` names an exporter (``console``,
    or ``otlp`` with ``opentelemetry-exporter-otlp`` installed), in which case
    one is installed here.
    """
    exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter in ("", "none") and "opentelemetry.sdk.trace" not in sys.modules:
        return None  # not asked for, and no program here installed a provider: import nothing
    if importlib.util.find_spec("opentelemetry") is None or importlib.util.find_spec("opentelemetry.sdk") is None:
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        return Tracing(provider)
    if exporter in ("", "none"):
        return None
    provider = _provider_for(exporter)
    trace.set_tracer_provider(provider)
    return Tracing(provider)


def _provider_for(exporter: str) -> Any:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError as err:
            raise RuntimeError(
                "OTEL_TRACES_EXPORTER=otlp needs opentelemetry-exporter-otlp-proto-http installed"
            ) from err
        span_exporter = OTLPSpanExporter()
    else:
        raise RuntimeError(f"OTEL_TRACES_EXPORTER={exporter!r}: cellstore knows 'console', 'otlp' and 'none'")
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "cellstore")})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    return provider


class Tracing:
    """Spans for requests and the service calls beneath them, made by ``provider``'s tracer."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._context = context
        self._tracer = provider.get_tracer("cellstore")
        self._propagator = TraceContextTextMapPropagator()

    def wrap(self, app: Responder) -> TracedApp:
        return TracedApp(app, self)

    def services(self, services: Mapping[str, wire.Service]) -> dict[str, wire.Service]:
        """``services`` with each dispatch inside a span (the api → engine → storage call)."""
        return {
            name: wire.Service(
                functools.partial(self._dispatch, name, service.dispatch), service.operations,
                service.needs_endpoint, service.resources,
            )
            for name, service in services.items()
        }

    def _dispatch(self, service: str, dispatch: Callable[..., Any], operation: str, *args: Any) -> Any:
        with self._tracer.start_as_current_span(
            f"{service}.dispatch {operation}", attributes={"rpc.system": "aws-api", "rpc.method": operation}
        ):
            return dispatch(operation, *args)

    def respond(
        self, app: Responder, method: str, path: str, raw_path: str, query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]], body: bytes | None, scheme: str,
    ) -> HttpResponse | Awaitable[HttpResponse]:
        carrier = {name.decode("latin-1"): value.decode("latin-1") for name, value in headers if name == HEADER}
        parent = self._propagator.extract(carrier)
        service, operation = _operation_of(headers)
        span = self._tracer.start_span(
            f"{service} {operation}" if service else f"{method} {path}",
            context=parent,
            kind=self._trace.SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "rpc.service": service or "http",
                        "rpc.method": operation or ""},
            start_time=time.time_ns(),
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        try:
            answer = app.respond(method, path, raw_path, query_string, headers, body, scheme)
        except BaseException:
            span.end()
            raise
        finally:
            self._context.detach(token)
        if isinstance(answer, HttpResponse):
            return self._finish(span, answer)
        return self._finish_later(span, answer)

    def _finish(self, span: Any, answer: HttpResponse) -> HttpResponse:
        span.set_attribute("http.response.status_code", answer.status)
        if answer.status >= 500:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        context = span.get_span_context()
        span.end()
        header = TraceParent(f"{context.trace_id:032x}", f"{context.span_id:016x}", int(context.trace_flags)).header()
        return HttpResponse(answer.status, [*answer.headers, (HEADER, header)], answer.body)

    async def _finish_later(self, span: Any, answer: Awaitable[HttpResponse]) -> HttpResponse:
        try:
            response = await answer
        except BaseException:
            span.end()
            raise
        return self._finish(span, response)


class TracedApp:
    """An app whose every answer is a span: what ``run_on`` serves when tracing is on."""

    def __init__(self, app: Responder, tracing: Tracing) -> None:
        self.app = app
        self._tracing = tracing

    def respond(
        self, method: str, path: str, raw_path: str, query_string: bytes,
        headers: Sequence[tuple[bytes, bytes]], body: bytes | None, scheme: str = "http",
    ) -> HttpResponse | Awaitable[HttpResponse]:
        return self._tracing.respond(self.app, method, path, raw_path, query_string, headers, body, scheme)

    def stop_waiting(self) -> None:
        stop = getattr(self.app, "stop_waiting", None)
        if stop is not None:
            stop()


def _operation_of(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    for name, value in headers:
        if name == b"x-amz-target":
            prefix, _, action = value.decode("latin-1").partition(".")
            return wire.TARGET_PREFIXES.get(prefix), action or None
    return None, None
