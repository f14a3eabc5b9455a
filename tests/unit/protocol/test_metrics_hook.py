"""The per-request counters of ``/metrics`` and the access log's hook that feeds them, with no server."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cellstore.api import observed
from cellstore.engine.wiring import open_database
from cellstore.errors import StorageUnavailable
from cellstore.protocol import wire
from cellstore.protocol.access_log import AccessLog, request_kind
from cellstore.protocol.app import App
from cellstore.protocol.metrics import Metrics, outcome
from cellstore.storage.sqlite import SqliteStore

ANSWER = [(b"x-amzn-RequestId", b"REQ1")]


def echo(operation: str, payload: dict[str, Any], *endpoint: str) -> dict[str, Any]:
    """A service with no tables or queues: List* answers list nothing."""
    return payload


SERVICES = {"dynamodb": wire.Service(echo, {"GetItem", "PutItem"}), "sqs": wire.Service(echo, {"SendMessage"})}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.exposition().decode("utf-8"))
        for s in family.samples
    }


def requests(metrics: Metrics, **labels: str) -> float:
    return samples(metrics).get(("cellstore_requests_total", tuple(sorted(labels.items()))), 0.0)


def bound() -> Metrics:
    metrics = Metrics()
    metrics.bind(SERVICES)
    return metrics


def test_outcome_is_the_status_class() -> None:
    assert [outcome(s) for s in (200, 307, 400, 413, 500, 503)] == [
        "success", "success", "client_error", "client_error", "server_error", "server_error",
    ]


def test_request_kind_reads_the_target_or_the_query_protocols_action() -> None:
    target = [(b"x-amz-target", b"DynamoDB_20120810.PutItem")]
    assert request_kind("POST", b"/", target, b"{}") == ("dynamodb", "PutItem")
    form = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
    assert request_kind("POST", b"/000000000000/jobs", form, b"Action=SendMessage&MessageBody=x") == ("sqs", "SendMessage")
    assert request_kind("GET", b"/000000000000/jobs?Action=ReceiveMessage", [], b"") == ("sqs", "ReceiveMessage")
    assert request_kind("GET", b"/metrics", [], b"") == (None, "GET /metrics")
    assert request_kind("POST", b"/", [(b"x-amz-target", b"Nope.PutItem")], b"{}") == (None, None)


def test_the_access_log_hook_counts_with_and_without_lines() -> None:
    metrics = bound()
    quiet = AccessLog(None, metrics=metrics)
    stream = io.StringIO()
    loud = AccessLog(stream, json_lines=True, metrics=metrics)
    put = [(b"x-amz-target", b"DynamoDB_20120810.PutItem")]
    for log in (quiet, loud, quiet):
        log.record("POST", b"/", put, b'{"TableName": "Music"}', 200, ANSWER, 0.0003)
    quiet.record("POST", b"/", put, b"{}", 400, ANSWER, 0.0001)
    assert requests(metrics, service="dynamodb", operation="PutItem", outcome="success") == 3
    assert requests(metrics, service="dynamodb", operation="PutItem", outcome="client_error") == 1
    assert orjson.loads(stream.getvalue())["resource"] == "Music"  # the line is still written
    counted = samples(metrics)
    assert counted[("cellstore_request_duration_seconds_count", (("operation", "PutItem"), ("service", "dynamodb")))] == 4
    assert counted[
        ("cellstore_request_duration_seconds_bucket", (("le", "0.0002"), ("operation", "PutItem"), ("service", "dynamodb")))
    ] == 1


def test_names_a_service_does_not_have_are_one_label() -> None:
    metrics = bound()
    for name in ("Bogus1", "Bogus2", "Bogus3"):
        metrics.count("dynamodb", name, 400, 0.001)
    metrics.count("sqs", "PutItem", 400, 0.001)  # another service's operation
    metrics.count(None, "GET /etc/passwd", 404, 0.001)
    metrics.count(None, "GET /", 200, 0.001)
    metrics.count(None, None, 404, 0.001)
    assert requests(metrics, service="dynamodb", operation="unknown", outcome="client_error") == 3
    assert requests(metrics, service="sqs", operation="unknown", outcome="client_error") == 1
    assert requests(metrics, service="http", operation="other", outcome="client_error") == 2
    assert requests(metrics, service="http", operation="GET /", outcome="success") == 1


def test_the_app_serves_metrics_only_when_given_them() -> None:
    app = App(SERVICES)
    assert app.respond("GET", "/metrics", "/metrics", b"", [], b"").status == 404  # type: ignore[union-attr]
    metrics = bound()
    metrics.count("dynamodb", "GetItem", 200, 0.001)
    app.metrics = metrics.exposition
    answer = app.respond("GET", "/metrics", "/metrics", b"", [], b"")
    assert answer.status == 200  # type: ignore[union-attr]
    assert b'cellstore_requests_total{operation="GetItem",outcome="success",service="dynamodb"} 1.0' in answer.body  # type: ignore[union-attr]


def test_two_servers_in_one_process_count_apart() -> None:
    first, second = bound(), bound()
    first.count("dynamodb", "GetItem", 200, 0.001)
    assert requests(first, service="dynamodb", operation="GetItem", outcome="success") == 1
    assert requests(second, service="dynamodb", operation="GetItem", outcome="success") == 0


def test_the_grafana_dashboard_uses_only_metrics_that_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard = Path(__file__).parents[3] / "docs" / "grafana" / "cellstore.json"
    expressions = [
        target["expr"] for panel in orjson.loads(dashboard.read_bytes())["panels"] for target in panel.get("targets", ())
    ]
    used = {name for expr in expressions for name in re.findall(r"\bcellstore_[a-z_]+", expr)}
    cell = {"name": "a", "health": "ok", "requests": 1, "refused": 0, "rejected": 0, "timed_out": 0, "queued": 0,
            "busy": 0, "tenants": 1}
    zone = {"hits": 1, "misses": 1, "errors": 0, "fallbacks": 0, "repairs": 0, "queued": 0, "replayed": 0}
    metrics = Metrics(
        handler_status=lambda db: [{"name": "h", "owner": "w", "metrics": {"state": "running"}}],
        cell_status=lambda directory: {"cells": [cell]},
        cache_status=lambda: [{"zones": {"z": zone}}],
    )
    db = open_database(SqliteStore(tmp_path / "cellstore.db"), background=False)
    sqlite_figures = db.store.figures()
    # Both backends' figures at once: the dashboard has panels for each.
    pool = {"postgres_pool_connections_in_use": 1.0, "postgres_pool_wait_seconds_total": 0.5}
    monkeypatch.setattr(observed, "storage_figures", lambda db: {**sqlite_figures, **pool})
    try:
        metrics.bind(SERVICES, db=db)
        metrics.watch(object())
        exposition = metrics.exposition()
    finally:
        db.close()
    declared = set(re.findall(rb"^# TYPE (\S+) ", exposition, re.MULTILINE))
    families = {name.decode("ascii") for name in declared}
    suffixes = ("_bucket", "_count", "_sum", "_total")
    missing = {
        name for name in used
        if name not in families and not any(name.endswith(s) and name[: -len(s)] in families for s in suffixes)
    }
    assert len(used) >= 30 and missing == set()


def test_a_storage_failure_leaves_the_request_counters_scrapable() -> None:
    def unavailable(operation: str, payload: dict[str, Any], *endpoint: str) -> dict[str, Any]:
        raise StorageUnavailable()

    metrics = Metrics()
    metrics.bind({"dynamodb": wire.Service(unavailable, {"GetItem"}), "sqs": wire.Service(unavailable, set())})
    metrics.count("dynamodb", "GetItem", 500, 0.01)
    scraped = samples(metrics)
    assert scraped[("cellstore_scrape_store_up", ())] == 0
    assert requests(metrics, service="dynamodb", operation="GetItem", outcome="server_error") == 1
    assert requests(bound(), service="dynamodb", operation="GetItem", outcome="server_error") == 0
    assert samples(bound())[("cellstore_scrape_store_up", ())] == 1
