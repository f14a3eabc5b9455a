"""``GET /metrics`` of a served cellstore: boto3 calls, then a scrape parsed with prometheus-client's own parser."""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cellstore.embedded.clients import new_client
from procfs import workers_of

pytestmark = [pytest.mark.slow, pytest.mark.server]

KEY = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def scrape(endpoint_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by (name, sorted labels)."""
    with urllib.request.urlopen(f"{endpoint_url}/metrics", timeout=10) as answer:
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode("utf-8")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def status_of(request: urllib.request.Request | str) -> int:
    """The status of a request that fails, with its connection closed."""
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        err.close()
        return err.code


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """The sum of ``name`` over every sample whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= set(ls))


def test_requests_latency_and_store_gauges_add_up(server_process: Callable[..., Any]) -> None:
    server = server_process("--in-memory")
    ddb = server.client()
    ddb.create_table(TableName="orders", **KEY)
    for i in range(7):
        ddb.put_item(TableName="orders", Item={"pk": {"S": str(i)}, "pad": {"S": "x" * 10}})
    for i in range(3):
        ddb.get_item(TableName="orders", Key={"pk": {"S": str(i)}})
    with pytest.raises(ddb.exceptions.ResourceNotFoundException):
        ddb.describe_table(TableName="missing")
    sqs = new_client("sqs", server.endpoint_url)
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    jobs = sqs.create_queue(
        QueueName="jobs",
        Attributes={"RedrivePolicy": orjson.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}).decode()},
    )["QueueUrl"]
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=jobs, MessageBody=body)
    sqs.send_message(QueueUrl=dlq, MessageBody="dead")
    sqs.send_message(QueueUrl=dlq, MessageBody="dead too")
    assert len(sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]) == 1

    samples = scrape(server.endpoint_url)

    requests = "cellstore_requests_total"
    assert value(samples, requests, service="dynamodb", operation="PutItem", outcome="success") == 7
    assert value(samples, requests, service="dynamodb", operation="GetItem", outcome="success") == 3
    assert value(samples, requests, service="dynamodb", operation="DescribeTable", outcome="client_error") == 1
    assert value(samples, requests, service="sqs", operation="SendMessage", outcome="success") == 5
    assert value(samples, requests, service="sqs", operation="ReceiveMessage", outcome="success") == 1
    # Every request so far (the scrape itself is counted once answered), nothing twice.
    assert total(samples, requests) == 1 + 7 + 3 + 1 + 2 + 1 + 5 + 1
    # The histogram saw the same requests, and its buckets are cumulative up to +Inf.
    latency = "cellstore_request_duration_seconds"
    assert value(samples, f"{latency}_count", service="dynamodb", operation="PutItem") == 7
    assert value(samples, f"{latency}_bucket", service="dynamodb", operation="PutItem", le="+Inf") == 7
    assert 0 < value(samples, f"{latency}_sum", service="dynamodb", operation="PutItem") < 7 * 5
    assert total(samples, f"{latency}_count") == total(samples, requests)

    assert value(samples, "cellstore_table_items", table="orders") == 7
    described = ddb.describe_table(TableName="orders")["Table"]
    assert value(samples, "cellstore_table_size_bytes", table="orders") == described["TableSizeBytes"] > 0
    assert value(samples, "cellstore_queue_messages", queue="jobs") == 2
    assert value(samples, "cellstore_queue_messages_in_flight", queue="jobs") == 1
    assert value(samples, "cellstore_queue_dlq_messages", queue="jobs") == 2
    assert value(samples, "cellstore_queue_messages", queue="jobs-dlq") == 2

    again = scrape(server.endpoint_url)
    assert value(again, requests, service="http", operation="GET /metrics", outcome="success") == 1
    assert server.terminate() == 0


def test_operation_labels_stay_bounded_whatever_clients_send(server_process: Callable[..., Any]) -> None:
    server = server_process("--in-memory")
    for name in ("NoSuchThing", "AnotherMadeUpName"):
        request = urllib.request.Request(
            server.endpoint_url, data=b"{}", method="POST",
            headers={"X-Amz-Target": f"DynamoDB_20120810.{name}", "Content-Type": "application/x-amz-json-1.0"},
        )
        assert status_of(request) == 400
    assert status_of(f"{server.endpoint_url}/some/random/path") == 404
    samples = scrape(server.endpoint_url)
    assert value(samples, "cellstore_requests_total", service="dynamodb", operation="unknown", outcome="client_error") == 2
    assert value(samples, "cellstore_requests_total", service="http", operation="other", outcome="client_error") == 1
    operations = {dict(labels)["operation"] for name, labels in samples if name == "cellstore_requests_total"}
    assert operations == {"unknown", "other"}
    assert server.terminate() == 0


def test_no_metrics_serves_no_metrics(server_process: Callable[..., Any]) -> None:
    server = server_process("--in-memory", "--no-metrics")
    assert status_of(f"{server.endpoint_url}/metrics") == 404
    assert server.terminate() == 0


def test_one_scrape_of_any_worker_counts_the_whole_server_under_load(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    server = server_process("--workers", "2", "--data-dir", str(tmp_path / "data"))
    ddb = server.client()
    ddb.create_table(TableName="load", **KEY)
    threads, per_thread = 4, 15
    errors: list[BaseException] = []
    mid_load: list[float] = []

    def write(thread: int) -> None:
        try:
            for i in range(per_thread):
                # A new client (so new connections) each time: the kernel spreads them over both workers.
                client = new_client("dynamodb", server.endpoint_url)
                client.put_item(TableName="load", Item={"pk": {"S": f"{thread}-{i}"}})
                client.close()
        except BaseException as err:  # noqa: BLE001 - reported by the assertion below
            errors.append(err)

    def scrape_during() -> None:
        samples = scrape(server.endpoint_url)
        mid_load.append(value(samples, "cellstore_requests_total", service="dynamodb", operation="PutItem", outcome="success"))

    writers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for writer in writers:
        writer.start()
    scrape_during()
    for writer in writers:
        writer.join()
    assert errors == []
    written = threads * per_thread
    assert 0 <= mid_load[0] <= written
    # Several scrapes on new connections land on both workers; each sees every worker's counts.
    for _ in range(6):
        samples = scrape(server.endpoint_url)
        assert value(samples, "cellstore_requests_total", service="dynamodb", operation="PutItem", outcome="success") == written
        assert value(samples, "cellstore_request_duration_seconds_count", service="dynamodb", operation="PutItem") == written
        assert value(samples, "cellstore_table_items", table="load") == written
    assert server.terminate() == 0
    assert "Traceback" not in server.log_path.read_text()


def test_log_format_json_writes_json_lines_whose_request_ids_match_the_clients(
    server_process: Callable[..., Any],
) -> None:
    """``--log-format json``: every line the server writes is JSON, access lines included, ids as AWS's."""
    server = server_process("--in-memory", "--log-format", "json", "--access-log", "-")
    ddb = server.client()
    with pytest.raises(ddb.exceptions.ResourceNotFoundException) as missing:
        ddb.describe_table(TableName="missing")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = urllib.request.Request(
        server.endpoint_url, data=b"{}", method="POST",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
        },
    )
    status_of(request)  # unsigned: refused, and logged with the caller's trace id
    assert server.terminate() == 0
    entries = [orjson.loads(line) for line in server.log_path.read_text().splitlines() if line.strip()]
    access = [e for e in entries if "status" in e]
    assert access[0]["request_id"] == missing.value.response["ResponseMetadata"]["RequestId"]
    assert access[0]["operation"] == "DescribeTable"
    assert access[1]["trace_id"] == trace and access[1]["operation"] == "ListTables"
    assert any(e.get("logger") == "cellstore.server" and "listening on" in e["message"] for e in entries)


def test_a_dead_workers_counts_stay_in_the_servers_totals(server_process: Callable[..., Any], tmp_path: Path) -> None:
    """A worker killed with kill -9 is replaced; what it counted is still summed (counters never go down).

    It also stops cleanly when SIGTERM comes during the pause before the
    replacement starts: that replacement used to be forked after the stop
    and never told, so the server hung (terminate timed out after 30 s).
    """
    server = server_process("--workers", "2", "--data-dir", str(tmp_path / "data"))
    ddb = server.client()
    ddb.create_table(TableName="survivors", **KEY)
    for i in range(10):
        client = new_client("dynamodb", server.endpoint_url)
        client.put_item(TableName="survivors", Item={"pk": {"S": str(i)}})
        client.close()
    workers = workers_of(server.process.pid, server.log_path.read_text())  # the writer process left out
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while f"worker {workers[0]} exited" not in server.log_path.read_text():
        assert time.monotonic() < deadline, server.log_path.read_text()
        time.sleep(0.05)
    for _ in range(4):
        samples = scrape(server.endpoint_url)
        assert value(samples, "cellstore_requests_total", service="dynamodb", operation="PutItem", outcome="success") == 10
    assert server.terminate() == 0


def test_traces_reach_the_configured_exporter_and_the_answer_names_the_span(
    server_process: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    server = server_process("--in-memory")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    request = urllib.request.Request(
        server.endpoint_url, data=b"{}", method="POST",
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=host, Signature=00",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
        echoed = answer.headers["traceparent"]
    version, trace_id, span_id, flags = echoed.split("-")
    assert (version, trace_id, flags) == ("00", trace, "01") and span_id != "00f067aa0ba902b7"
    assert server.terminate() == 0  # the exporter flushes at exit
    log = server.log_path.read_text()
    assert f'"trace_id": "0x{trace}"' in log and f'"span_id": "0x{span_id}"' in log
    assert '"name": "dynamodb ListTables"' in log and '"name": "dynamodb.dispatch ListTables"' in log


HANDLER_MODULE = '''
def on_orders(event, context):
    if any(record["dynamodb"]["Keys"]["pk"]["S"] == "poison" for record in event["Records"]):
        raise ValueError("poison")
'''

HANDLER_CONFIG = '''
[[handler]]
name = "orders-totals"
function = "order_totals:on_orders"
table = "orders"
BatchSize = 100
StartingPosition = "TRIM_HORIZON"
MaximumRetryAttempts = 0
'''


def test_handler_counters_are_scraped_as_their_lease_holder_saved_them(
    server_process: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "order_totals.py").write_text(HANDLER_MODULE)
    config = tmp_path / "handlers.toml"
    config.write_text(HANDLER_CONFIG)
    monkeypatch.setenv("CELLSTORE_HANDLER_POLL_SECONDS", "0.02")
    server = server_process("--in-memory", "--handlers", str(config))
    ddb = server.client()
    ddb.create_table(TableName="orders", **KEY, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    for n in range(6):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(server.endpoint_url)
        if value(samples, "cellstore_handler_records_total", handler="orders-totals") >= 6:
            break
        assert time.monotonic() < deadline, samples
        time.sleep(0.1)
    assert value(samples, "cellstore_handler_invocations_total", handler="orders-totals") >= 1
    assert value(samples, "cellstore_handler_errors_total", handler="orders-totals") == 0
    assert value(samples, "cellstore_handler_running", handler="orders-totals") == 1
    ddb.put_item(TableName="orders", Item={"pk": {"S": "poison"}})
    # With no retries the failed batch is given up on at once, and its counts saved.
    deadline = time.monotonic() + 20
    while value(samples := scrape(server.endpoint_url), "cellstore_handler_errors_total", handler="orders-totals") < 1:
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "handler" in k[0]}
        time.sleep(0.1)
    assert value(samples, "cellstore_handler_discarded_total", handler="orders-totals") == 1
    assert server.terminate() == 0
