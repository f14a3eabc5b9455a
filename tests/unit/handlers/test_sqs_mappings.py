"""SQS mappings: event shape, batching, partial batch responses, FIFO order, dead-letter queues, filters."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from cellstore import handlers

Wait = Callable[..., None]


def queue(sqs: Any, name: str, **attributes: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_messages_arrive_in_lambdas_sqs_event_shape_and_are_deleted(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "jobs")
    sqs.send_message(QueueUrl=url, MessageBody="hello",
                     MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}})
    events: list[dict[str, Any]] = []
    mapping = handlers.register(store.db, arn, events.append)
    wait_for(lambda: mapping.metrics.records == 1)
    (record,) = events[0]["Records"]
    assert list(record) == ["messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                            "md5OfBody", "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"]
    assert record["body"] == "hello" and record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert list(record["attributes"]) == ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                          "ApproximateFirstReceiveTimestamp"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {"kind": {"stringValue": "greeting", "stringListValues": [],
                                                    "binaryListValues": [], "dataType": "String"}}
    wait_for(lambda: count(sqs, url) == 0)


def test_batches_fill_up_to_batch_size_within_the_window(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "bulk")
    for start in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(start + i)} for i in range(10)])
    sizes: list[int] = []
    mapping = handlers.register(store.db, arn, lambda e: sizes.append(len(e["Records"])), BatchSize=25,
                                MaximumBatchingWindowInSeconds=1, MaximumConcurrency=2)
    wait_for(lambda: mapping.metrics.records == 30)
    assert sum(sizes) == 30 and max(sizes) > 10  # the window let a poller gather more than one receive


def test_partial_batch_failure_returns_only_the_failed_messages(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "partial", VisibilityTimeout="1")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(5)])
    deliveries: dict[str, int] = {}
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        with lock:
            for record in event["Records"]:
                deliveries[record["body"]] = deliveries.get(record["body"], 0) + 1
                if record["body"] == "3" and deliveries["3"] == 1:
                    failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    mapping = handlers.register(store.db, arn, handler, BatchSize=5, FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_for(lambda: mapping.metrics.records == 5)
    assert deliveries == {"0": 1, "1": 1, "2": 1, "3": 2, "4": 1}
    assert mapping.metrics.retries == 1


def test_fifo_groups_stay_in_order_and_run_concurrently(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "ordered.fifo", FifoQueue="true", ContentBasedDeduplication="true", VisibilityTimeout="1")
    for n in range(20):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(g), "MessageBody": f"{g}:{n}", "MessageGroupId": f"g{g}"} for g in range(4)])
    order: dict[str, list[int]] = {}
    active, peak = [0], [0]
    lock = threading.Lock()
    failed_once = threading.Event()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.01)
        failures = []
        with lock:
            active[0] -= 1
            for record in event["Records"]:
                group, n = record["body"].split(":")
                if failures or (record["body"] == "1:5" and not failed_once.is_set()):
                    failed_once.set()  # fail 1:5 once: it and the rest of its group in the batch come back
                    failures.append({"itemIdentifier": record["messageId"]})
                    continue
                assert record["attributes"]["MessageGroupId"] == f"g{group}"
                order.setdefault(group, []).append(int(n))
        return {"batchItemFailures": failures}

    mapping = handlers.register(store.db, arn, handler, BatchSize=5, MaximumConcurrency=4,
                                FunctionResponseTypes=["ReportBatchItemFailures"])
    wait_for(lambda: mapping.metrics.records == 80, timeout=10)
    assert peak[0] > 1
    assert order == {str(g): list(range(20)) for g in range(4)}


def test_failing_messages_go_to_the_dead_letter_queue_after_max_receive_count(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    dlq_url, dlq_arn = queue(sqs, "dead")
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3})
    url, arn = queue(sqs, "source", VisibilityTimeout="0", RedrivePolicy=policy)
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    sqs.send_message(QueueUrl=url, MessageBody="fine")
    counts: dict[str, int] = {}

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            counts[record["body"]] = int(record["attributes"]["ApproximateReceiveCount"])
            if record["body"] == "poison":
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    mapping = handlers.register(store.db, arn, handler, FunctionResponseTypes=["ReportBatchItemFailures"],
                                MaximumConcurrency=2)
    wait_for(lambda: count(sqs, dlq_url) == 1)
    (dead,) = sqs.receive_message(QueueUrl=dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["Body"] == "poison"
    assert counts["poison"] == 3  # received maxReceiveCount times, then moved on the next receive
    assert mapping.metrics.errors == 3 and mapping.metrics.records >= 1
    wait_for(lambda: count(sqs, url) == 0)


def test_messages_the_filter_rejects_are_deleted_unseen(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "filtered")
    for body in ('{"kind": "order", "total": 12}', '{"kind": "refund"}', "plain text", '{"kind": "order", "total": 3}'):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    bodies: list[str] = []
    pattern = {"body": {"kind": ["order"], "total": [{"numeric": [">", 10]}]}}
    mapping = handlers.register(store.db, arn, lambda e: bodies.extend(r["body"] for r in e["Records"]),
                                FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]})
    wait_for(lambda: mapping.metrics.filtered == 3 and mapping.metrics.records == 1)
    assert bodies == ['{"kind": "order", "total": 12}']
    wait_for(lambda: count(sqs, url) == 0)


def test_a_whole_batch_failure_leaves_every_message_for_a_retry(open_store: Any, wait_for: Wait) -> None:
    store = open_store()
    sqs = store.client("sqs")
    url, arn = queue(sqs, "retry", VisibilityTimeout="0")
    sqs.send_message(QueueUrl=url, MessageBody="m")
    calls: list[str] = []

    def flaky(event: dict[str, Any]) -> None:
        calls.append(event["Records"][0]["attributes"]["ApproximateReceiveCount"])
        if len(calls) < 3:
            raise RuntimeError("later")

    mapping = handlers.register(store.db, arn, flaky)
    wait_for(lambda: mapping.metrics.records >= 1)
    # VisibilityTimeout 0: a message is visible again at once, so pollers may overlap on it
    assert sorted(calls, key=int)[:3] == ["1", "2", "3"] and mapping.metrics.retries >= 2  # counts, not text: "10" < "2"
    assert handlers.stored_status(store.db)[0]["kind"] == "queue"
