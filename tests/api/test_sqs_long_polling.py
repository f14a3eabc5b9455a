"""Long polling: a waiting ReceiveMessage returns as soon as a message is sent.

Latencies here are *measured* (send returned → receive returned) and held to
generous bounds; the expected same-process figure is a few milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellstore.embedded.clients import new_client


def receive_in_thread(sqs: Any, url: str, wait: int = 10) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["response"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=wait)
        outcome["at"] = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_send_wakes_a_waiting_receiver_at_once(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    thread, outcome = receive_in_thread(sqs, url)
    time.sleep(0.3)  # let the receive start waiting
    sqs.send_message(QueueUrl=url, MessageBody="wake up")
    sent_at = time.monotonic()
    thread.join(15)
    latency = outcome["at"] - sent_at
    assert outcome["response"]["Messages"][0]["Body"] == "wake up"
    assert latency < 0.1, f"woke after {latency * 1000:.1f} ms"


def test_an_empty_long_poll_returns_at_its_deadline(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    started = time.monotonic()
    response = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    elapsed = time.monotonic() - started
    assert "Messages" not in response
    assert 0.95 <= elapsed < 3


def test_queue_default_wait_time(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})["QueueUrl"]
    started = time.monotonic()
    sqs.receive_message(QueueUrl=url)
    assert time.monotonic() - started >= 0.95


def test_visibility_expiry_wakes_a_waiting_receiver(sqs: Any, queue_name: str) -> None:
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)
    started = time.monotonic()
    response = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    assert response["Messages"][0]["Body"] == "x"
    assert time.monotonic() - started < 2  # 1 s timeout + at most one poll interval


def test_many_waiting_receivers_do_not_spin(cellstore_server: Any, queue_name: str) -> None:
    """Fifty receivers parked on one queue cost (almost) no CPU, and one send wakes one."""
    sqs = cellstore_server.client("sqs")
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    clients = [new_client("sqs", cellstore_server.endpoint_url) for _ in range(50)]
    cpu_before = time.process_time()
    waiting = [receive_in_thread(c, url, wait=2) for c in clients]
    time.sleep(1)
    cpu_while_waiting = time.process_time() - cpu_before
    sqs.send_message(QueueUrl=url, MessageBody="one")
    for thread, _ in waiting:
        thread.join(10)
    got = [o["response"].get("Messages", []) for _, o in waiting]
    assert sum(len(m) for m in got) == 1
    # 50 client threads' HTTP set-up included; a busy loop would burn the whole second or more.
    assert cpu_while_waiting < 0.8, cpu_while_waiting


@pytest.mark.slow
@pytest.mark.server
def test_a_send_in_one_worker_wakes_a_receiver_in_another(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    """Across ``--workers`` processes the wake-up is the poller's: within ~50 ms plus a receive."""
    server = server_process("--workers", "3", "--data-dir", str(tmp_path / "data"))
    url = new_client("sqs", server.endpoint_url).create_queue(QueueName="cross-worker")["QueueUrl"]
    latencies = []
    for n in range(8):  # fresh connections land on any worker, so most pairs cross processes
        thread, outcome = receive_in_thread(new_client("sqs", server.endpoint_url), url)
        time.sleep(0.2)
        new_client("sqs", server.endpoint_url).send_message(QueueUrl=url, MessageBody=str(n))
        sent_at = time.monotonic()
        thread.join(15)
        assert outcome["response"]["Messages"][0]["Body"] == str(n)
        latencies.append(outcome["at"] - sent_at)
    assert max(latencies) < 0.5, latencies
