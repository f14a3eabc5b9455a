"""Stream mappings: batching, filters, retries, bisecting, destinations, partial failures, restarts."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellstore import handlers
from cellstore.engine import streams
from cellstore.handlers import state

Wait = Callable[..., None]


def make_table(client: Any, name: str = "orders") -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )


def put(client: Any, key: str, n: int, **extra: Any) -> None:
    client.put_item(TableName="orders", Item={"pk": {"S": key}, "n": {"N": str(n)}, **extra})


def numbers(events: list[dict[str, Any]]) -> list[int]:
    return [int(r["dynamodb"]["NewImage"]["n"]["N"]) for e in events for r in e["Records"]]


def test_records_arrive_in_order_in_batches_of_batch_size_with_lambdas_event_shape(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    for n in range(25):
        put(client, f"k{n}", n)
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append, BatchSize=10)
    wait_for(lambda: mapping.metrics.records == 25)
    assert [len(e["Records"]) for e in events] == [10, 10, 5]
    assert numbers(events) == list(range(25))
    record = events[0]["Records"][0]
    stream_arn = client.describe_table(TableName="orders")["Table"]["LatestStreamArn"]
    assert list(record) == ["eventID", "eventName", "eventVersion", "eventSource", "awsRegion", "dynamodb", "eventSourceARN"]
    assert record["eventName"] == "INSERT" and record["eventSource"] == "aws:dynamodb"
    assert record["eventSourceARN"] == stream_arn
    assert record["dynamodb"]["Keys"] == {"pk": {"S": "k0"}}
    assert mapping.metrics.batches == 3 and mapping.metrics.errors == 0 and mapping.metrics.lag == 0


def test_batching_window_waits_for_a_full_batch(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append,
                                BatchSize=5, MaximumBatchingWindowInSeconds=30)
    for n in range(4):
        put(client, f"k{n}", n)
    wait_for(lambda: mapping.metrics.lag == 4)
    assert events == []  # the window is 30 s and the batch is not full
    put(client, "k4", 4)
    wait_for(lambda: mapping.metrics.records == 5)
    assert [len(e["Records"]) for e in events] == [5]


def test_latest_starts_after_what_is_already_there(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    put(client, "old", 0)
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append, StartingPosition="LATEST")
    wait_for(lambda: mapping.checkpoint is not None)
    put(client, "new", 1)
    wait_for(lambda: mapping.metrics.records == 1)
    assert numbers(events) == [1]


def test_filter_criteria_skip_and_checkpoint_records_that_do_not_match(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    for n in range(10):
        put(client, f"k{n}", n, status={"S": "paid" if n % 2 else "open"})
    pattern = {"dynamodb": {"NewImage": {"status": {"S": ["paid"]}, "n": {"N": [{"numeric": [">=", 3]}]}}}}
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append,
                                FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    wait_for(lambda: mapping.checkpoint is not None and mapping.checkpoint["lanes"] == [10])
    assert numbers(events) == [3, 5, 7, 9]
    assert mapping.metrics.filtered == 6


def test_a_poison_record_is_retried_bisected_then_sent_to_the_destination(
    open_store: Any, wait_for: Wait, tmp_path: Path
) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    for n in range(8):
        put(client, f"k{n}", n)
    seen: list[list[int]] = []
    done: list[int] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        batch = numbers([event])
        seen.append(batch)
        if 5 in batch:
            raise ValueError("poison")
        done.extend(batch)

    failures = tmp_path / "failures.jsonl"
    mapping = handlers.register(store.db, store.db.table_arn("orders"), handler, BatchSize=8,
                                BisectBatchOnFunctionError=True, MaximumRetryAttempts=2, OnFailure=str(failures))
    wait_for(lambda: mapping.metrics.discarded == 1 and mapping.checkpoint["lanes"] == [8])
    assert seen[:4] == [[0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3], [4, 5, 6, 7], [4, 5]]
    assert seen.count([5]) == 3  # first try and two retries
    assert sorted(done) == [0, 1, 2, 3, 4, 6, 7]
    (line,) = failures.read_text().splitlines()
    record = json.loads(line)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    info = record["DDBStreamBatchInfo"]
    assert info["batchSize"] == 1 and info["startSequenceNumber"] == info["endSequenceNumber"]
    assert numbers([record["payload"]]) == [5]


def test_the_destination_may_be_an_sqs_queue(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client, sqs = store.client(), store.client("sqs")
    make_table(client)
    url = sqs.create_queue(QueueName="failed")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    put(client, "k", 1)

    def fail(event: dict[str, Any]) -> None:
        raise RuntimeError("no")

    mapping = handlers.register(store.db, store.db.table_arn("orders"), fail, MaximumRetryAttempts=0,
                                DestinationConfig={"OnFailure": {"Destination": arn}})
    wait_for(lambda: mapping.metrics.discarded == 1)
    (message,) = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["DDBStreamBatchInfo"]["batchSize"] == 1


def test_old_records_are_discarded_as_record_age_exceeded(
    open_store: Any, wait_for: Wait, tmp_path: Path, stream_settings: Any
) -> None:
    now = [1_800_000_000.0]
    stream_settings.clock = lambda: now[0]
    store = open_store()
    client = store.client()
    make_table(client)
    put(client, "old", 0)
    now[0] += 120
    put(client, "new", 1)
    events: list[dict[str, Any]] = []
    failures = tmp_path / "old.jsonl"
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append,
                                MaximumRecordAgeInSeconds=60, OnFailure=str(failures))
    wait_for(lambda: mapping.metrics.records == 1)
    assert numbers(events) == [1]
    assert json.loads(failures.read_text())["requestContext"]["condition"] == "RecordAgeExceeded"


def test_partial_batch_failure_retries_from_the_first_failed_record(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    for n in range(6):
        put(client, f"k{n}", n)
    seen: list[list[int]] = []
    failed_once: set[int] = set()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(numbers([event]))
        for record in event["Records"]:
            n = int(record["dynamodb"]["NewImage"]["n"]["N"])
            if n in (2, 4) and n not in failed_once:
                failed_once.add(n)
                return {"batchItemFailures": [{"itemIdentifier": record["dynamodb"]["SequenceNumber"]}]}
        return {"batchItemFailures": []}

    mapping = handlers.register(store.db, store.db.table_arn("orders"), handler, BatchSize=6,
                                FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_for(lambda: mapping.checkpoint is not None and mapping.checkpoint["lanes"] == [6])
    assert seen == [[0, 1, 2, 3, 4, 5], [2, 3, 4, 5], [4, 5]]
    assert mapping.metrics.records == 6 and mapping.metrics.errors == 2


def test_an_invalid_partial_response_fails_the_whole_batch(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    put(client, "k", 1)
    calls: list[int] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        calls.append(1)
        return {"batchItemFailures": [{"itemIdentifier": ""}]} if len(calls) == 1 else {}

    mapping = handlers.register(store.db, store.db.table_arn("orders"), handler,
                                FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_for(lambda: mapping.metrics.records == 1)
    assert len(calls) == 2 and mapping.metrics.errors == 1


def test_delivery_resumes_after_a_restart_without_loss_or_reordering(open_store: Any, wait_for: Wait) -> None:
    received: list[tuple[str, int]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any]) -> None:
        with lock:
            received.extend((r["dynamodb"]["Keys"]["pk"]["S"], int(r["dynamodb"]["NewImage"]["n"]["N"]))
                            for r in event["Records"])

    store = open_store()
    client = store.client()
    make_table(client)
    arn = store.db.table_arn("orders")
    mapping = handlers.register(store.db, arn, handler, BatchSize=7, Name="resume", ParallelizationFactor=3)
    for n in range(60):
        put(client, f"k{n % 5}", n)
    wait_for(lambda: len(received) >= 20)
    store.close()
    stored = {s["name"]: s for s in handlers.stored_status(open_store().db)}["resume"]
    assert stored["owner"] is None  # the lease was released on close
    store = open_store()
    client = store.client()
    for n in range(60, 100):
        put(client, f"k{n % 5}", n)
    mapping = handlers.register(store.db, arn, handler, BatchSize=7, Name="resume", ParallelizationFactor=3)
    wait_for(lambda: len({n for _, n in received}) == 100)
    per_key: dict[str, list[int]] = {}
    for key, n in received:
        per_key.setdefault(key, []).append(n)
    for key, ns in per_key.items():
        assert ns == sorted(ns), key  # no key's changes reordered
    assert len(received) == 100  # close waited for the batch in hand: nothing delivered twice
    assert mapping.metrics.errors == 0


def test_parallel_lanes_keep_each_keys_order_and_run_concurrently(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    for n in range(200):
        put(client, f"k{n % 20}", n)
    active = [0]
    peak = [0]
    lock = threading.Lock()
    order: dict[str, list[int]] = {}

    def handler(event: dict[str, Any]) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.01)
        with lock:
            active[0] -= 1
            for r in event["Records"]:
                order.setdefault(r["dynamodb"]["Keys"]["pk"]["S"], []).append(int(r["dynamodb"]["NewImage"]["n"]["N"]))

    mapping = handlers.register(store.db, store.db.table_arn("orders"), handler, BatchSize=10, ParallelizationFactor=4)
    wait_for(lambda: mapping.metrics.records == 200)
    assert peak[0] > 1
    assert all(ns == sorted(ns) and len(ns) == 10 for ns in order.values())


def test_a_failing_mapping_does_not_stop_another(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    put(client, "k", 1)

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("always")

    events: list[dict[str, Any]] = []
    bad = handlers.register(store.db, store.db.table_arn("orders"), broken, Name="bad")
    good = handlers.register(store.db, store.db.table_arn("orders"), events.append, Name="good")
    wait_for(lambda: good.metrics.records == 1 and bad.metrics.retries >= 3)
    assert bad.metrics.last_error == "RuntimeError: always"
    assert bad.checkpoint["lanes"] == [0]


def test_only_one_database_on_a_data_dir_runs_a_mapping(open_store: Any, wait_for: Wait) -> None:
    first, second = open_store(), open_store()
    make_table(first.client())
    events: list[dict[str, Any]] = []
    arn = first.db.table_arn("orders")
    one = handlers.register(first.db, arn, events.append, Name="leased")
    wait_for(lambda: one.metrics.state == "running")
    two = handlers.register(second.db, arn, events.append, Name="leased")
    wait_for(lambda: two.metrics.state == "standby")
    put(first.client(), "k", 1)
    wait_for(lambda: one.metrics.records == 1)
    first.close()  # releases the lease: the other takes over
    put(second.client(), "k2", 2)
    wait_for(lambda: two.metrics.records == 1)
    assert numbers(events) == [1, 2]


def test_checkpoints_and_metrics_are_in_the_keyspace(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    client = store.client()
    make_table(client)
    put(client, "k", 1)
    mapping = handlers.register(store.db, store.db.table_arn("orders"), lambda event: None, Name="kept")
    wait_for(lambda: mapping.metrics.records == 1)
    assert state.load_checkpoint(store.db, "kept")["lanes"] == [1]
    (entry,) = handlers.stored_status(store.db)
    assert entry["kind"] == "stream" and entry["metrics"]["records"] == 1 and entry["owner"] == mapping.owner
    assert [m.name for m in handlers.handlers_for(store.db)] == ["kept"]


def test_settings_lambda_refuses_are_refused(open_store: Any) -> None:
    store = open_store()
    arn = store.db.table_arn("orders")
    for bad in ({"BatchSize": 0}, {"ParallelizationFactor": 11}, {"StartingPosition": "AT_TIMESTAMP"},
                {"MaximumRecordAgeInSeconds": 10}, {"FunctionResponseTypes": ["Other"]}, {"Nope": 1},
                {"FilterCriteria": {"Filters": [{"Pattern": "{\"a\": 1}"}]}}, {"MaximumConcurrency": 5}):
        with pytest.raises(handlers.HandlerConfigError):
            handlers.register(store.db, arn, print, **bad)
    with pytest.raises(handlers.HandlerConfigError):
        handlers.register(store.db, "arn:aws:s3:::bucket", print)


def test_a_stream_enabled_later_is_picked_up(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, store.db.table_arn("orders"), events.append)
    wait_for(lambda: mapping.metrics.state == "waiting for stream")
    make_table(store.client())
    put(store.client(), "k", 1)
    wait_for(lambda: mapping.metrics.records == 1)
    assert streams.parse_arn(store.db, events[0]["Records"][0]["eventSourceARN"]) is not None
