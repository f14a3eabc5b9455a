"""SQS on a server on PostgreSQL runs on the storage threads (``protocol/storage_threads.py``): through boto3, nothing changes.

Sends, receives and deletes are handed to the threads (writes in group
commits); a long poll waits on the event loop and only its next attempt goes
back to the threads.  And the threads end when the server stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cellstore.embedded import serve

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLIENTS = 8


def _storage_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("cellstore-storage")]


@pytest.fixture
def sqs(new_postgres_database: Any) -> Iterator[Any]:
    with serve(storage=new_postgres_database()) as server:
        yield boto3.client(
            "sqs", endpoint_url=server.endpoint_url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(max_pool_connections=CLIENTS, retries={"max_attempts": 3}),
        )


def test_concurrent_sends_receives_and_deletes_deliver_every_message_once(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="busy", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    assert any(thread.name == "cellstore-storage-writer" for thread in _storage_threads())  # SQS ran on them

    def send(n: int) -> list[str]:
        return [sqs.send_message(QueueUrl=url, MessageBody=f"{n}-{i}")["MessageId"] for i in range(20)]

    with ThreadPoolExecutor(CLIENTS) as pool:
        sent = {message_id for ids in pool.map(send, range(CLIENTS)) for message_id in ids}
    assert len(sent) == CLIENTS * 20

    received: list[str] = []
    lock = threading.Lock()

    def drain(_: int) -> None:
        empty = 0
        while empty < 2:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not messages:
                empty += 1
                continue
            with lock:
                received.extend(message["MessageId"] for message in messages)
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(messages)
            ])

    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(drain, range(CLIENTS)))
    assert len(received) == len(set(received))  # none received twice (the visibility timeout is long)
    assert set(received) == sent
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_long_poll_is_woken_by_a_send(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="patient")["QueueUrl"]
    answer: dict[str, Any] = {}

    def wait() -> None:
        started = time.monotonic()
        answer["messages"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=15).get("Messages", [])
        answer["seconds"] = time.monotonic() - started

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)  # the receive is waiting now
    assert "messages" not in answer
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    waiter.join(15)
    assert [message["Body"] for message in answer["messages"]] == ["wake up"]
    assert answer["seconds"] < 5  # woken, not the full 15 s


def test_a_fifo_queue_keeps_its_order(sqs: Any) -> None:
    url = sqs.create_queue(QueueName="ordered.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true",
    })["QueueUrl"]
    for n in range(30):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="g")
    bodies: list[str] = []
    while len(bodies) < 30:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2)["Messages"]
        bodies.extend(message["Body"] for message in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert bodies == [f"m{n}" for n in range(30)]


def test_the_storage_threads_end_when_an_embedded_server_stops(new_postgres_database: Any) -> None:
    storage = new_postgres_database()
    before = len(_storage_threads())
    for _ in range(2):
        with serve(storage=storage) as server:
            server.client("dynamodb").list_tables()
            assert len(_storage_threads()) == before + 3  # two readers and the writer
        assert len(_storage_threads()) == before
    assert threading.active_count() < 100  # nothing else piles up either
