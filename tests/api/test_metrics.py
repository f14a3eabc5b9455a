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

import boto3
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
        # Each small PutItem is one write unit, counted by whichever worker answered (the writer process wrote it).
        assert value(samples, "cellstore_consumed_write_capacity_units_total", table="load", index="") == written
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
    # The batch-size histogram saw every invocation, and every record handed over.
    sizes = "cellstore_handler_batch_size"
    invocations = value(samples, "cellstore_handler_invocations_total", handler="orders-totals")
    assert value(samples, f"{sizes}_count", handler="orders-totals") == invocations
    assert value(samples, f"{sizes}_bucket", handler="orders-totals", le="+Inf") == invocations
    assert value(samples, f"{sizes}_sum", handler="orders-totals") == 6
    assert value(samples, f"{sizes}_bucket", handler="orders-totals", le="10") == invocations  # batches of at most 6
    ddb.put_item(TableName="orders", Item={"pk": {"S": "poison"}})
    # With no retries the failed batch is given up on at once, and its counts saved.
    deadline = time.monotonic() + 20
    while value(samples := scrape(server.endpoint_url), "cellstore_handler_errors_total", handler="orders-totals") < 1:
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "handler" in k[0]}
        time.sleep(0.1)
    assert value(samples, "cellstore_handler_discarded_total", handler="orders-totals") == 1
    assert server.terminate() == 0


INDEXED = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "GlobalSecondaryIndexes": [
        {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
    ],
}


def test_consumed_capacity_is_counted_for_every_request_and_answered_as_the_client_asked(
    server_process: Callable[..., Any],
) -> None:
    server = server_process("--in-memory")
    ddb = server.client()
    ddb.create_table(TableName="indexed", **INDEXED)
    # Not asked for: counted all the same, and the answer has no ConsumedCapacity.
    for i in range(4):
        answer = ddb.put_item(TableName="indexed", Item={"pk": {"S": str(i)}, "g": {"S": "x"}})
        assert "ConsumedCapacity" not in answer
    # TOTAL: the totals only, as without metrics.
    answer = ddb.put_item(TableName="indexed", Item={"pk": {"S": "t"}, "g": {"S": "x"}}, ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"] == {"TableName": "indexed", "CapacityUnits": 2.0, "WriteCapacityUnits": 2.0}
    # INDEXES: the parts, which add up to what is scraped below.
    big = {"pk": {"S": "big"}, "g": {"S": "y"}, "pad": {"S": "x" * 3000}}
    parts = ddb.put_item(TableName="indexed", Item=big, ReturnConsumedCapacity="INDEXES")["ConsumedCapacity"]
    assert parts["Table"]["CapacityUnits"] == 3.0 and parts["GlobalSecondaryIndexes"]["by-g"]["CapacityUnits"] == 3.0
    batch = ddb.batch_write_item(RequestItems={"indexed": [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(3)]})
    assert "ConsumedCapacity" not in batch
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "indexed", "Item": {"pk": {"S": "tx"}}}}])
    ddb.get_item(TableName="indexed", Key={"pk": {"S": "1"}})  # 0.5: eventually consistent, under 4 KB
    ddb.get_item(TableName="indexed", Key={"pk": {"S": "1"}}, ConsistentRead=True)  # 1
    query = ddb.query(
        TableName="indexed", IndexName="by-g", KeyConditionExpression="g = :g",
        ExpressionAttributeValues={":g": {"S": "x"}}, ReturnConsumedCapacity="INDEXES",
    )
    index_reads = query["ConsumedCapacity"]["GlobalSecondaryIndexes"]["by-g"]["CapacityUnits"]
    with pytest.raises(ddb.exceptions.ClientError) as invalid:
        ddb.get_item(TableName="indexed", Key={"pk": {"S": "1"}}, ReturnConsumedCapacity="SOME")  # type: ignore[arg-type]
    assert invalid.value.response["Error"]["Code"] == "ValidationException"

    samples = scrape(server.endpoint_url)
    writes, reads = "cellstore_consumed_write_capacity_units_total", "cellstore_consumed_read_capacity_units_total"
    # table: 4 + 1 + 3 puts of 1 unit, the 3 KB one 3, the transaction 2 (twice a 1-unit write)
    assert value(samples, writes, table="indexed", index="") == 4 + 1 + 3 + 3 + 2
    # the index: only the puts with a "g" write it
    assert value(samples, writes, table="indexed", index="by-g") == 4 + 1 + 3
    assert value(samples, reads, table="indexed", index="") == 0.5 + 1
    assert value(samples, reads, table="indexed", index="by-g") == index_reads > 0
    # No throttle series: cellstore never throttles.
    assert not [name for name, _ in samples if "throttl" in name]
    assert server.terminate() == 0


def test_queue_age_stream_records_iterator_age_and_storage_figures(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    server = server_process("--data-dir", str(tmp_path / "data"))
    ddb = server.client()
    ddb.create_table(TableName="streamed", **KEY, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    ddb.create_table(TableName="plain", **KEY)
    for i in range(5):
        ddb.put_item(TableName="streamed", Item={"pk": {"S": str(i)}})
    ddb.delete_item(TableName="streamed", Key={"pk": {"S": "0"}})
    ddb.put_item(TableName="plain", Item={"pk": {"S": "p"}})
    sqs = new_client("sqs", server.endpoint_url)
    busy = sqs.create_queue(QueueName="busy")["QueueUrl"]
    sqs.create_queue(QueueName="idle")
    sqs.send_message(QueueUrl=busy, MessageBody="first")
    time.sleep(1.2)
    sqs.send_message(QueueUrl=busy, MessageBody="second")
    streams = new_client("dynamodbstreams", server.endpoint_url)
    arn = ddb.describe_table(TableName="streamed")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    page = streams.get_records(ShardIterator=iterator)
    assert len(page["Records"]) == 6

    samples = scrape(server.endpoint_url)
    assert value(samples, "cellstore_stream_records_total", table="streamed") == 6
    assert ("cellstore_stream_records_total", (("table", "plain"),)) not in samples
    age = value(samples, "cellstore_stream_iterator_age_seconds", table="streamed")
    assert 0 < age < 30
    oldest = value(samples, "cellstore_queue_oldest_message_age_seconds", queue="busy")
    assert 1.2 <= oldest < 30  # the first message's, not the second's
    assert value(samples, "cellstore_queue_oldest_message_age_seconds", queue="idle") == 0
    # Received but not deleted still counts (as CloudWatch's); deleted, the next one is the oldest.
    received = sqs.receive_message(QueueUrl=busy, MaxNumberOfMessages=1)["Messages"][0]
    assert received["Body"] == "first"
    assert value(scrape(server.endpoint_url), "cellstore_queue_oldest_message_age_seconds", queue="busy") >= 1.2
    sqs.delete_message(QueueUrl=busy, ReceiptHandle=received["ReceiptHandle"])
    assert value(scrape(server.endpoint_url), "cellstore_queue_oldest_message_age_seconds", queue="busy") < 1.2
    # A reader at the end of the shard is caught up.
    streams.get_records(ShardIterator=page["NextShardIterator"])
    assert value(scrape(server.endpoint_url), "cellstore_stream_iterator_age_seconds", table="streamed") == 0

    assert value(samples, "cellstore_sqlite_wal_bytes") > 0
    deadline = time.monotonic() + 10
    while value(samples := scrape(server.endpoint_url), "cellstore_sqlite_checkpoints_total") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert 0 < value(samples, "cellstore_sqlite_checkpoint_seconds_total") < value(samples, "cellstore_sqlite_checkpoints_total")
    assert server.terminate() == 0


def test_a_server_of_cells_reports_each_cells_figures_from_every_worker(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text('[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    routed = 0
    for account in ("111111111111", "222222222222", "333333333333"):
        for _ in range(4):
            # A new client (so new connections) each time: the kernel spreads them over both workers.
            client = boto3.client(
                "dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
                aws_access_key_id=account, aws_secret_access_key="secret",
            )
            client.list_tables()
            client.close()
            routed += 1
    tenant = boto3.client(
        "dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="111111111111", aws_secret_access_key="secret",
    )
    tenant.create_table(TableName="celled", **KEY)
    for i in range(3):
        tenant.put_item(TableName="celled", Item={"pk": {"S": str(i)}})
    routed += 1 + 3
    deadline = time.monotonic() + 10
    while True:  # other workers' figures reach the files within a second
        samples = scrape(server.endpoint_url)
        if total(samples, "cellstore_cell_requests_total") == routed:
            break
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "cell_" in k[0]}
        time.sleep(0.2)
    assert {dict(labels)["cell"] for name, labels in samples if name == "cellstore_cell_requests_total"} <= {"a", "b"}
    assert value(samples, "cellstore_cell_up", cell="a") == value(samples, "cellstore_cell_up", cell="b") == 1
    assert total(samples, "cellstore_cell_tenants") == 3
    assert total(samples, "cellstore_cell_refused_total") == 0
    assert value(samples, "cellstore_requests_total", service="dynamodb", operation="ListTables", outcome="success") == 12
    # Each cell's services are metered as a single backend's are.
    assert value(samples, "cellstore_consumed_write_capacity_units_total", table="celled", index="") == 3
    assert server.terminate() == 0


def test_an_item_cache_reports_each_zones_hits_and_misses_from_every_worker(
    server_process: Callable[..., Any], memcached_binary: str, tmp_path: Path
) -> None:
    from memcached_cluster import start_zones, stop_all

    zones = start_zones({"a": 1, "b": 1})
    try:
        config = tmp_path / "cache.toml"
        config.write_text(
            "".join(f'[zones.{name}]\nservers = ["{nodes[0].address}"]\n' for name, nodes in zones.items())
            + "[tables.cached]\nttl = 60\n[item_cache]\nhold = 1\n"
        )
        server = server_process("--data-dir", str(tmp_path / "data"), "--workers", "2", "--cache", str(config), "--zone", "a")
        ddb = server.client()
        ddb.create_table(TableName="cached", **KEY)
        ddb.put_item(TableName="cached", Item={"pk": {"S": "p"}, "v": {"S": "one"}})
        time.sleep(2.1)  # the put's tombstone lasts its hold, in memcached's whole seconds: up to 2 s for hold = 1
        gets = 0
        for _ in range(8):
            client = new_client("dynamodb", server.endpoint_url)  # new connections: both workers
            assert client.get_item(TableName="cached", Key={"pk": {"S": "p"}})["Item"]["v"]["S"] == "one"
            client.close()
            gets += 1
        deadline = time.monotonic() + 10
        while True:  # the other worker's figures reach the files within a second
            samples = scrape(server.endpoint_url)
            hits = value(samples, "cellstore_cache_hits_total", zone="a")
            if hits + value(samples, "cellstore_cache_misses_total", zone="a") >= gets:
                break
            assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "cache" in k[0]}
            time.sleep(0.2)
        assert hits >= 1  # the first read of each worker fills the zone; later ones hit it
        # A read the cache answered read no table: only the others consumed units (0.5 each; a miss in zone a
        # that zone b answered read none either).
        reads = value(samples, "cellstore_consumed_read_capacity_units_total", table="cached", index="")
        assert 0 < reads <= 0.5 * (gets - hits)
        assert server.terminate() == 0
    finally:
        stop_all(zones)


def test_postgresql_pool_figures_are_summed_over_the_workers(
    server_process: Callable[..., Any], new_postgres_database: Callable[[], str]
) -> None:
    server = server_process("--storage", new_postgres_database(), "--workers", "2")
    for i in range(6):
        client = new_client("dynamodb", server.endpoint_url)  # new connections: both workers
        if i == 0:
            client.create_table(TableName="pooled", **KEY)
        client.put_item(TableName="pooled", Item={"pk": {"S": str(i)}})
        client.close()
    deadline = time.monotonic() + 10
    while True:  # each worker's pool reaches the files within a second of its start
        samples = scrape(server.endpoint_url)
        if value(samples, "cellstore_postgres_pool_connections_max") == 2 * 8:  # two workers' pools of 8
            break
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if "postgres" in k[0]}
        time.sleep(0.2)
    # Between requests no request holds a connection; a worker's background unit (TTL, stream retention) may.
    assert 0 <= value(samples, "cellstore_postgres_pool_connections_in_use") <= 2
    assert value(samples, "cellstore_postgres_pool_waits_total") == 0  # never more transactions than connections
    assert ("cellstore_postgres_pool_wait_seconds_total", ()) in samples
    assert ("cellstore_sqlite_wal_bytes", ()) not in samples
    assert server.terminate() == 0
