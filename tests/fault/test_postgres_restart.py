"""PostgreSQL restarting under load: clients' retries succeed and no acknowledged write is lost.

``pg_ctl restart -m fast`` cuts every connection of two front ends while
writers are busy.  A request caught by the cut is either carried over to a
fresh connection (a transaction that had not begun) or answered with AWS's
retryable 500, which botocore retries; either way each writer's calls must
all return, and every write they acknowledged must be there afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

WRITERS = 4
BEFORE_RESTART = 200  # acknowledged writes before the restart
AFTER_RESTART = 200  # and after it


@pytest.mark.slow
@pytest.mark.server
def test_acknowledged_writes_survive_a_postgres_restart(
    server_process: Callable[..., Any], postgres_cluster: Any, new_postgres_database: Callable[[], str]
) -> None:
    dsn = new_postgres_database()
    servers = [server_process("--storage", dsn), server_process("--storage", dsn, "--workers", "2")]
    client = servers[0].client()
    client.create_table(
        TableName="acked",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    acknowledged: list[str] = []
    errors: list[BaseException] = []
    retried = 0
    lock = threading.Lock()
    restarted = threading.Event()
    reached_target = threading.Event()
    done = threading.Event()

    def writer(number: int) -> None:
        nonlocal retried
        own = servers[number % len(servers)].client()  # botocore's default retries: 10 attempts
        i = 0
        try:
            while not done.is_set():
                key = f"w{number}-{i}"
                response = own.put_item(TableName="acked", Item={"pk": {"S": key}, "n": {"N": str(i)}})
                i += 1
                with lock:
                    acknowledged.append(key)
                    retried += response["ResponseMetadata"]["RetryAttempts"] > 0
                    if len(acknowledged) >= WRITERS * BEFORE_RESTART:
                        reached_target.set()
                    if restarted.is_set() and len(acknowledged) >= WRITERS * (BEFORE_RESTART + AFTER_RESTART):
                        done.set()
        except BaseException as exc:  # noqa: BLE001 - reported below
            with lock:
                errors.append(exc)
            done.set()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert reached_target.wait(120), "writers did not reach their target"
    postgres_cluster.restart()  # every connection of both servers is cut mid-load
    restarted.set()
    for thread in threads:
        thread.join(180)
    assert errors == [], f"a client call failed despite retries: {errors[0]!r}"
    assert done.is_set()

    with lock:
        expected = set(acknowledged)
    found: set[str] = set()
    for page in servers[1].client().get_paginator("scan").paginate(TableName="acked", ConsistentRead=True):
        found.update(item["pk"]["S"] for item in page["Items"])
    missing = expected - found
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:5]}"
    print(f"{len(expected)} acknowledged writes, {retried} needed a client retry")
    for server in servers:
        assert server.terminate() == 0
