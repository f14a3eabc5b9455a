"""``serve --workers`` with the writer process: kill -9 of the writer alone, and of a worker mid-hand-off.

Acknowledged still means durable; a write whose process died under it fails
with a retryable error (never a false success); the supervisor replaces the
dead process and writes go on.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from killing import Writers, make_table, raw_client, stored_keys, writer_pid

from procfs import children_of

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLIENTS = 6


def test_killing_the_writer_alone_loses_no_acknowledged_write(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    server = server_process("--workers", "2", "--data-dir", data_dir)
    make_table(server.client(), "acked")
    first = writer_pid(server)
    assert first in children_of(server.process.pid)

    sqs = raw_client(server.endpoint_url, service="sqs")
    queue = sqs.create_queue(QueueName="empty")["QueueUrl"]
    polled: list[Any] = []

    def long_poll() -> None:  # parked inside the writer when it dies: a write certainly in flight
        started = time.monotonic()
        try:
            polled.append(raw_client(server.endpoint_url, service="sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=20))
        except ClientError as error:
            polled.append(error.response["Error"]["Code"])
        polled.append(time.monotonic() - started)

    poller = threading.Thread(target=long_poll)
    writers = Writers(server.endpoint_url, clients=CLIENTS)
    try:
        writers.wait_for(300)
        poller.start()
        time.sleep(0.5)
        os.kill(first, signal.SIGKILL)  # the writer alone: supervisor and workers live on
        second = writer_pid(server, previous=first)
        assert second != first
        writers.wait_for(300)  # writes flow again through the replacement writer
    finally:
        acknowledged = writers.finish()
        poller.join(30)

    # In-flight writes failed with a retryable error, answered by a live worker, at once.
    assert polled[0] == "ServiceUnavailable" and polled[1] < 5, polled
    assert set(writers.failures) <= {"ServiceUnavailable"}, writers.failures
    assert server.process.poll() is None
    assert acknowledged <= stored_keys(server.endpoint_url)

    server.kill()  # and everything acknowledged is on disk, not only visible
    restarted = server_process("--data-dir", data_dir)
    missing = acknowledged - stored_keys(restarted.endpoint_url)
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert restarted.terminate() == 0


def test_killing_a_worker_mid_hand_off_leaves_the_writer_and_the_counts_exact(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    server = server_process("--workers", "2", "--data-dir", data_dir)
    client = server.client()
    make_table(client, "counted")
    writer = writer_pid(server)
    workers = [pid for pid in children_of(server.process.pid) if pid != writer]
    assert len(workers) == 2

    acknowledged = 0
    attempted = 0
    lock = threading.Lock()
    stop = threading.Event()

    def increment() -> None:
        nonlocal acknowledged, attempted
        own = raw_client(server.endpoint_url)
        while not stop.is_set():
            with lock:
                attempted += 1
            try:
                own.update_item(TableName="counted", Key={"pk": {"S": "n"}}, UpdateExpression="ADD n :one",
                                ExpressionAttributeValues={":one": {"N": "1"}})
            except Exception:  # noqa: BLE001 - its worker was killed mid-request: outcome unknown
                own = raw_client(server.endpoint_url)
                continue
            with lock:
                acknowledged += 1

    threads = [threading.Thread(target=increment) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while acknowledged < 300:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(workers[0], signal.SIGKILL)  # with hand-offs in flight on its connection to the writer
        before = acknowledged
        while acknowledged < before + 300:  # the other worker (and the replacement) go on
            assert time.monotonic() < deadline + 60
            time.sleep(0.01)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    assert writer_pid(server) == writer and writer in children_of(server.process.pid)  # the writer lived on
    final = int(client.get_item(TableName="counted", Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]["n"]["N"])
    # Every acknowledged increment applied exactly once; an unacknowledged one at most once.
    assert acknowledged <= final <= attempted
    assert server.terminate() == 0
