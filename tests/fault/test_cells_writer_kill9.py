"""``serve --cells --workers 2`` over two SQLite cells: kill -9 of one cell's writer process under load.

Each SQLite cell has its own writer (``protocol/workers.py``).  Killing
cell a's writer while clients of both cells write must lose no acknowledged
write (a write in flight fails with a retryable 503, never a false
success), the supervisor must start a replacement that takes a's writes
again, and cell b's tenant must see no error at all: its writer is another
process.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from procfs import children_of

pytestmark = [pytest.mark.slow, pytest.mark.server]

ALICE, BOB = "111111111111", "222222222222"  # pinned: alice in cell a, bob in cell b
CLIENTS = 3  # per tenant


def raw_client(endpoint: str, account: str) -> Any:
    """A client that does not retry, so every failure the server sends is seen."""
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30),
    )


def writer_of(server: Any, cell: str, previous: int | None = None, timeout: float = 15.0) -> int:
    """The pid of ``cell``'s (current) writer process, from the supervisor's log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [int(pid) for pid in re.findall(rf"writer process (\d+) owns the write path of cell {cell}\b",
                                                 server.log_path.read_text())]
        if found and found[-1] != previous:
            return found[-1]
        time.sleep(0.02)
    raise AssertionError(f"no writer process of cell {cell} in the log:\n{server.log_path.read_text()}")


class Writers:
    """One tenant's clients putting distinct keys until stopped; what was acknowledged, and how the rest failed."""

    def __init__(self, endpoint: str, account: str) -> None:
        self.acknowledged: set[str] = set()
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(endpoint, account, n)) for n in range(CLIENTS)]
        for thread in self.threads:
            thread.start()

    def _run(self, endpoint: str, account: str, number: int) -> None:
        own = raw_client(endpoint, account)
        i = 0
        while not self.stop.is_set():
            i += 1
            key = f"c{number}-{i}"
            try:
                own.put_item(TableName="acked", Item={"pk": {"S": key}, "n": {"N": str(i)}})
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
        target = self.count() + more
        deadline = time.monotonic() + timeout
        while self.count() < target:
            assert time.monotonic() < deadline, f"writes stalled at {self.count()} (failures: {self.failures[-5:]})"
            time.sleep(0.01)

    def finish(self) -> set[str]:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)
        with self.lock:
            return set(self.acknowledged)


def stored_keys(endpoint: str, account: str) -> set[str]:
    found: set[str] = set()
    for page in raw_client(endpoint, account).get_paginator("scan").paginate(TableName="acked", ConsistentRead=True):
        found.update(item["pk"]["S"] for item in page["Items"])
    return found


def test_killing_one_cells_writer_loses_nothing_and_leaves_the_other_cell_alone(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(
        f'[cells.a]\nstorage = "{tmp_path / "a"}"\n[cells.b]\nstorage = "{tmp_path / "b"}"\n'
        f'[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n'
    )
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    endpoint = server.endpoint_url
    for account in (ALICE, BOB):
        raw_client(endpoint, account).create_table(
            TableName="acked", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
    first, other = writer_of(server, "a"), writer_of(server, "b")
    assert {first, other} <= set(children_of(server.process.pid))

    alice, bob = Writers(endpoint, ALICE), Writers(endpoint, BOB)
    try:
        alice.wait_for(300)
        bob.wait_for(300)
        before = bob.count()
        os.kill(first, signal.SIGKILL)  # cell a's writer alone: the supervisor, the workers and b's writer live on
        second = writer_of(server, "a", previous=first)
        assert second != first
        alice.wait_for(300)  # a's writes flow again through the replacement
        bob.wait_for(300)
        assert bob.count() > before
    finally:
        acknowledged = {ALICE: alice.finish(), BOB: bob.finish()}

    print(f"\ncell a: {len(acknowledged[ALICE])} acknowledged, {len(alice.failures)} failed ({set(alice.failures)}); "
          f"cell b: {len(acknowledged[BOB])} acknowledged, {len(bob.failures)} failed")
    assert bob.failures == [], f"cell b's tenant saw errors from cell a's writer dying: {bob.failures[:5]}"
    assert set(alice.failures) <= {"ServiceUnavailable"}, alice.failures
    assert writer_of(server, "b") == other  # b's writer was never restarted
    assert server.process.poll() is None
    for account, keys in acknowledged.items():
        assert keys <= stored_keys(endpoint, account), account

    server.kill()  # and everything acknowledged is on disk, not only visible
    restarted = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "1")
    for account, keys in acknowledged.items():
        missing = keys - stored_keys(restarted.endpoint_url, account)
        assert not missing, f"{account}: {len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    assert restarted.terminate() == 0
