"""What a kill -9 test of a served writer needs: clients that never retry, writers that count what was acknowledged.

A test kills a process under load and then proves that acknowledged still
means durable: ``Writers`` keeps putting distinct keys and records which
puts were acknowledged and how the rest failed; ``stored_keys`` is what the
server holds afterwards; ``writer_pid`` finds the (current) writer process
in the supervisor's log, so the test can kill it and see its replacement.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError


def raw_client(endpoint: str, account: str = "test", service: str = "dynamodb") -> Any:
    """A client that does not retry, so every failure the server sends is seen; ``account`` is its access key."""
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def make_table(client: Any, name: str) -> None:
    """An on-demand table keyed by the string ``pk``: what the fault tests write to."""
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def writer_pid(server: Any, cell: str | None = None, previous: int | None = None, timeout: float = 15.0) -> int:
    """The pid of the server's (or with ``cell``, that cell's) current writer process, from the supervisor's log.

    With ``previous``, waits for another one: the replacement of a killed writer.
    """
    owns = rf"writer process (\d+) owns the write path of cell {cell}\b" if cell else r"writer process (\d+) owns"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [int(pid) for pid in re.findall(owns, server.log_path.read_text())]
        if found and found[-1] != previous:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(
        f"no writer process{f' of cell {cell}' if cell else ''} in the log:\n{server.log_path.read_text()}"
    )


class Writers:
    """``clients`` threads putting distinct keys into ``table`` until stopped; what was acknowledged, and how the rest failed.

    A ``ClientError`` counts as its error code; any other exception (a
    connection cut by a killed process) as its type's name, and the thread
    goes on with a new client.
    """

    def __init__(
        self, endpoint: str, *, clients: int, account: str = "test", table: str = "acked", pace: float = 0.0
    ) -> None:
        self.acknowledged: set[str] = set()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.pace = pace  # seconds between one client's puts (0: as fast as they are answered)
        self.threads = [threading.Thread(target=self._run, args=(endpoint, account, table, n)) for n in range(clients)]
        for thread in self.threads:
            thread.start()

    def _run(self, endpoint: str, account: str, table: str, number: int) -> None:
        own = raw_client(endpoint, account)
        i = 0
        while not self.stop.wait(self.pace):
            i += 1
            key = f"c{number}-{i}"
            try:
                own.put_item(TableName=table, Item={"pk": {"S": key}, "n": {"N": str(i)}})
            except ClientError as error:
                with self.lock:
                    self.failures.append(error.response["Error"]["Code"])
                continue
            except Exception as error:  # noqa: BLE001 - a cut connection counts as a failure too
                with self.lock:
                    self.failures.append(type(error).__name__)
                own = raw_client(endpoint, account)
                continue
            with self.lock:
                self.acknowledged.add(key)

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def wait_for(self, more: int, timeout: float = 60.0) -> None:
        """Until ``more`` further puts were acknowledged: the writes flow."""
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"writes stalled at {self.count()} (failures: {self.failures[-5:]})"
            time.sleep(0.01)

    def finish(self) -> set[str]:
        """Stops the threads; the keys acknowledged."""
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        with self.lock:
            return set(self.acknowledged)


def stored_keys(endpoint: str, account: str = "test", table: str = "acked") -> set[str]:
    """Every ``pk`` in ``table``, read consistently."""
    found: set[str] = set()
    for page in raw_client(endpoint, account).get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        found.update(item["pk"]["S"] for item in page["Items"])
    return found
