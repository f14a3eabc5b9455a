"""Queues survive ``kill -9``: acknowledged sends are kept, in-flight messages come back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellstore.embedded.clients import new_client

SENDERS = 4


@pytest.mark.slow
@pytest.mark.server
def test_acknowledged_sends_survive_sigkill(server_process: Callable[..., Any], tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    server = server_process("--data-dir", data_dir)
    sqs = new_client("sqs", server.endpoint_url)
    url = sqs.create_queue(QueueName="acked")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="acked.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]

    acknowledged: set[str] = set()
    lock = threading.Lock()
    enough = threading.Event()

    def sender(number: int) -> None:
        own = new_client("sqs", server.endpoint_url)
        for i in range(100_000):
            body = f"s{number}-{i}"
            try:
                if i % 2:
                    own.send_message(QueueUrl=url, MessageBody=body)
                else:
                    own.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId=str(number), MessageDeduplicationId=body)
            except Exception:  # noqa: BLE001 - the server was killed mid-request
                return
            with lock:
                acknowledged.add(body)
                if len(acknowledged) >= 400:
                    enough.set()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
    for t in threads:
        t.start()
    # some messages are in flight at the moment of the kill
    assert enough.wait(60)
    in_flight = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2)["Messages"]
    server.kill()
    for t in threads:
        t.join(30)

    restarted = server_process("--data-dir", data_dir)
    sqs = new_client("sqs", restarted.endpoint_url)
    url = sqs.get_queue_url(QueueName="acked")["QueueUrl"]
    fifo = sqs.get_queue_url(QueueName="acked.fifo")["QueueUrl"]
    found: list[str] = []
    time.sleep(2)  # the in-flight ones become visible again after their timeout
    for queue in (url, fifo):
        while True:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            found.extend(m["Body"] for m in got)
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
            sqs.delete_message_batch(QueueUrl=queue, Entries=entries)
    assert acknowledged <= set(found), sorted(acknowledged - set(found))[:10]
    assert {m["Body"] for m in in_flight} <= set(found)
    # each FIFO group came back in the order it was sent
    for number in range(SENDERS):
        sent = [int(b.split("-")[1]) for b in found if b.startswith(f"s{number}-") and not int(b.split("-")[1]) % 2]
        assert sent == sorted(sent)
