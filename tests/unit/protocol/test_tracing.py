"""W3C ``traceparent`` parsing and propagation, OpenTelemetry spans, and ``--log-format json``."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cellstore.protocol import tracing, wire
from cellstore.protocol.access_log import AccessLog, JsonFormatter
from cellstore.protocol.app import App, HttpResponse
from cellstore.protocol.tracing import TraceParent, Tracing

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
HEADER = f"00-{TRACE}-{PARENT}-01".encode("ascii")
AUTH = b"AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (HEADER, TraceParent(TRACE, PARENT, 1)),
        (f"00-{TRACE}-{PARENT}-00".encode(), TraceParent(TRACE, PARENT, 0)),
        (f" 00-{TRACE}-{PARENT}-01 ".encode(), TraceParent(TRACE, PARENT, 1)),  # optional whitespace
        (f"01-{TRACE}-{PARENT}-01-what-comes-later".encode(), TraceParent(TRACE, PARENT, 1)),  # a later version
        (f"00-{TRACE}-{PARENT}-01-more".encode(), None),  # version 00 is exactly 55 characters
        (f"ff-{TRACE}-{PARENT}-01".encode(), None),  # version ff is invalid
        (f"00-{'0' * 32}-{PARENT}-01".encode(), None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01".encode(), None),  # all-zero parent id
        (f"00-{TRACE.upper()}-{PARENT}-01".encode(), None),  # upper-case hex
        (f"00-{TRACE[:-1]}-{PARENT}-01".encode(), None),
        (b"", None),
    ],
)
def test_traceparent_is_parsed_as_w3c_says(value: bytes, expected: TraceParent | None) -> None:
    assert tracing.parse(value) == expected


def test_a_parsed_traceparent_writes_back_the_same_header() -> None:
    parsed = tracing.of_headers([(b"host", b"x"), (b"traceparent", HEADER)])
    assert parsed is not None and parsed.sampled
    assert parsed.header() == HEADER


def test_off_unless_the_sdk_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert tracing.from_environment() is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing.from_environment() is None


def test_an_unknown_exporter_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "carrier-pigeon")
    with pytest.raises(RuntimeError, match="carrier-pigeon"):
        tracing.from_environment()


def put_item(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {}


@pytest.fixture
def traced() -> tuple[Any, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = Tracing(provider)
    app = App(spans.services({"dynamodb": wire.Service(put_item, {"PutItem"})}))
    return spans.wrap(app), exporter


def call(app: Any, *extra: tuple[bytes, bytes]) -> HttpResponse:
    headers = [
        (b"x-amz-target", b"DynamoDB_20120810.PutItem"),
        (b"content-type", b"application/x-amz-json-1.0"),
        (b"authorization", AUTH),
        (b"x-amz-date", b"20240101T000000Z"),
        *extra,
    ]
    answer = app.respond("POST", "/", "/", b"", headers, b"{}")
    assert isinstance(answer, HttpResponse)
    return answer


def test_a_request_span_continues_the_callers_trace_and_names_itself_in_the_answer(traced: Any) -> None:
    app, exporter = traced
    answer = call(app, (b"traceparent", HEADER))
    assert answer.status == 200
    dispatch, request = exporter.get_finished_spans()
    assert request.name == "dynamodb PutItem" and request.kind == SpanKind.SERVER
    assert f"{request.context.trace_id:032x}" == TRACE
    assert f"{request.parent.span_id:016x}" == PARENT
    assert request.attributes["http.response.status_code"] == 200
    # api → engine → storage: one synchronous call, its span beneath the request's.
    assert dispatch.name == "dynamodb.dispatch PutItem" and dispatch.parent.span_id == request.context.span_id
    assert dispatch.context.trace_id == request.context.trace_id
    echoed = tracing.of_headers([(name.lower(), value) for name, value in answer.headers])
    assert echoed == TraceParent(TRACE, f"{request.context.span_id:016x}", 1)


def test_without_traceparent_a_request_starts_a_trace(traced: Any) -> None:
    app, exporter = traced
    answer = call(app)
    _, request = exporter.get_finished_spans()
    assert request.parent is None
    echoed = tracing.of_headers(answer.headers)
    assert echoed is not None and echoed.trace_id == f"{request.context.trace_id:032x}"


def test_a_waiting_answer_ends_its_span_when_it_is_given() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def later() -> HttpResponse:
        return HttpResponse(200, [], b"")

    class Waits:
        def respond(self, *args: Any) -> Any:
            return later()

    wrapped = Tracing(provider).wrap(Waits())
    answer = wrapped.respond("POST", "/", "/", b"", [(b"traceparent", HEADER)], b"{}")
    assert not isinstance(answer, HttpResponse)
    assert exporter.get_finished_spans() == ()  # still waiting
    response = asyncio.run(answer)  # type: ignore[arg-type]
    (span,) = exporter.get_finished_spans()
    assert f"{span.context.trace_id:032x}" == TRACE
    assert tracing.of_headers(response.headers).trace_id == TRACE  # type: ignore[union-attr]


def test_json_access_lines_carry_the_callers_trace_id() -> None:
    stream = io.StringIO()
    log = AccessLog(stream, json_lines=True)
    headers = [(b"x-amz-target", b"DynamoDB_20120810.ListTables"), (b"traceparent", HEADER)]
    log.record("POST", b"/", headers, b"{}", 200, [(b"x-amzn-RequestId", b"REQ1")], 0.001)
    log.record("POST", b"/", headers[:1], b"{}", 200, [(b"x-amzn-RequestId", b"REQ2")], 0.001)
    first, second = (orjson.loads(line) for line in stream.getvalue().splitlines())
    assert first["trace_id"] == TRACE and first["request_id"] == "REQ1"
    assert "trace_id" not in second


def test_json_log_lines_name_the_request_id_the_client_got(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise KeyError("boom")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="cellstore.protocol"):
            err = wire.internal_error(exc)
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    entry = orjson.loads(JsonFormatter().format(record))
    assert entry["request_id"] == err.request_id
    assert entry["level"] == "ERROR" and entry["logger"] == record.name
    assert entry["message"].startswith("unexpected KeyError at ")
    assert entry["time"].endswith("Z")
