"""Each cell runs its own tenants' background work: TTL sweeps per account, and handlers that follow a move.

The router in process (no server), each cell an in-memory SQLite store
shared with an in-process mover, as two processes share a file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cellstore.api import Tenants
from cellstore.cells.config import load
from cellstore.cells.deployment import open_router
from cellstore.cells.mover import Mover
from cellstore.cells.router import Router
from cellstore.engine.wiring import open_database
from cellstore.handlers import config as handlers_config
from cellstore.handlers import handlers_for, runner, state
from cellstore.protocol.server import services_for
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

ALICE = "111111111111"
BOB = "222222222222"

#: What each account's handler saw: (account of the function's context ARN, key) per record.
SEEN: list[tuple[str, str]] = []


def on_orders(event: dict[str, Any], context: Any) -> None:
    account = context.invoked_function_arn.split(":")[4]
    SEEN.extend((account, record["dynamodb"]["Keys"]["pk"]["S"]) for record in event["Records"])


HANDLERS = f'''
[[handler]]
name = "alice-orders"
function = "{__name__}:on_orders"
table = "orders"
account = "{ALICE}"

[[handler]]
name = "bob-orders"
function = "{__name__}:on_orders"
table = "orders"
account = "{BOB}"
'''


@pytest.fixture(autouse=True)
def fast_handlers() -> Iterator[None]:
    saved = replace(runner.SETTINGS)
    runner.SETTINGS.poll_seconds = 0.01
    runner.SETTINGS.backoff_seconds = 0.01
    runner.SETTINGS.lease_seconds = 1.0
    SEEN.clear()
    yield
    for name in ("poll_seconds", "backoff_seconds", "lease_seconds"):
        setattr(runner.SETTINGS, name, getattr(saved, name))


def settle(result: Any) -> Any:
    while isinstance(result, Wait):
        result.block()
        result = result.retry()
    return result


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def deployment(tmp_path: Path, start_account: Any = None) -> tuple[Router, Mover]:
    (tmp_path / "cells.toml").write_text(
        f'[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n'
    )
    config = load(tmp_path / "cells.toml")
    stores = {name: SqliteStore(None) for name in config.cells}
    router = open_router(
        config, lambda cell: Tenants(stores[cell.name], fenced=True, background=True, ttl_interval=0.05),
        lambda location: open_database(SqliteStore(None), background=False), services_for, start=False,
        start_account=start_account,
    )
    mover = Mover({name: cell.tenants for name, cell in router.cells.items()}, router.cellmap.table)
    return router, mover


def call(router: Router, account: str, operation: str, payload: dict[str, Any]) -> Any:
    return settle(router.dispatch(account, "dynamodb", operation, payload, None))


def create_orders(router: Router, account: str, stream: bool = False) -> None:
    payload: dict[str, Any] = {
        "TableName": "orders", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    }
    if stream:
        payload["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    call(router, account, "CreateTable", payload)


def put(router: Router, account: str, key: str, **extra: Any) -> None:
    call(router, account, "PutItem", {"TableName": "orders", "Item": {"pk": {"S": key}, **extra}})


def test_a_ttl_item_expires_in_a_non_default_account_of_a_cell(tmp_path: Path) -> None:
    router, _ = deployment(tmp_path)
    try:
        for account in (ALICE, BOB):
            create_orders(router, account)
            call(router, account, "UpdateTimeToLive", {
                "TableName": "orders", "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "expires"}})
        put(router, ALICE, "gone", expires={"N": str(int(time.time()) - 60)})
        put(router, ALICE, "kept", expires={"N": str(int(time.time()) + 3600)})
        put(router, BOB, "gone")  # same key in another account (and cell), no expiry: it stays

        def keys(account: str) -> set[str]:
            found = call(router, account, "Scan", {"TableName": "orders", "ConsistentRead": True})["Items"]
            return {item["pk"]["S"] for item in found}

        # An expired item stays readable until the sweep deletes it (as in DynamoDB): its disappearing is the sweep.
        wait_for(lambda: keys(ALICE) == {"kept"})
        assert keys(BOB) == {"gone"}
    finally:
        router.close()


def test_an_index_backfills_in_a_non_default_account_of_a_cell(tmp_path: Path) -> None:
    router, _ = deployment(tmp_path)
    try:
        create_orders(router, BOB)
        for n in range(200):
            put(router, BOB, f"o{n}", status={"S": f"s{n % 4}"})
        described = call(router, BOB, "UpdateTable", {
            "TableName": "orders", "AttributeDefinitions": [{"AttributeName": "status", "AttributeType": "S"}],
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "by-status", "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}}],
        })["TableDescription"]
        assert described["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"

        def status() -> str:
            table = call(router, BOB, "DescribeTable", {"TableName": "orders"})["Table"]
            return str(table["GlobalSecondaryIndexes"][0]["IndexStatus"])

        wait_for(lambda: status() == "ACTIVE")  # cell b's backfill unit ran, in BOB's keyspace
        found = call(router, BOB, "Query", {"TableName": "orders", "IndexName": "by-status",
                                            "KeyConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "status"},
                                            "ExpressionAttributeValues": {":s": {"S": "s1"}}})
        assert found["Count"] == 50
    finally:
        router.close()


def test_each_accounts_handler_sees_only_its_records_and_follows_a_move(tmp_path: Path) -> None:
    path = tmp_path / "handlers.toml"
    path.write_text(HANDLERS)
    entries = handlers_config.read(path)
    router, mover = deployment(tmp_path, lambda db: handlers_config.start(db, entries))
    try:
        for account in (ALICE, BOB):
            create_orders(router, account, stream=True)
        for n in range(5):
            put(router, ALICE, f"a{n}")
            put(router, BOB, f"b{n}")
        wait_for(lambda: len(SEEN) >= 10)
        assert sorted(SEEN) == sorted([(ALICE, f"a{n}") for n in range(5)] + [(BOB, f"b{n}") for n in range(5)])
        source_db = router.cells["a"].tenants.database(ALICE)
        (mapping,) = handlers_for(source_db)
        assert mapping.name == "alice-orders"
        # Delivered and checkpointed before the move (a batch not yet checkpointed would be delivered again).
        wait_for(lambda: (state.load_checkpoint(source_db, "alice-orders") or {}).get("lanes", [0])[0] >= 5)
        assert [m.name for m in handlers_for(router.cells["b"].tenants.database(BOB))] == ["bob-orders"]

        mover.move(mover.plan(ALICE, "b"))
        for n in range(5, 10):
            put(router, ALICE, f"a{n}")  # re-routed to cell b, where ALICE's handler now starts
        wait_for(lambda: {key for account, key in SEEN if account == ALICE} >= {f"a{n}" for n in range(10)})
        assert mapping.metrics.state == "moved" or mapping.halted()
        target = handlers_for(router.cells["b"].tenants.database(ALICE))
        assert [m.name for m in target] == ["alice-orders"]
        # The checkpoint moved with the keyspace: the target did not start again from the stream's beginning.
        alice_keys = [key for account, key in SEEN if account == ALICE]
        assert alice_keys[:5] == [f"a{n}" for n in range(5)] and alice_keys.count("a0") == 1
        assert sorted(key for account, key in SEEN if account == BOB) == [f"b{n}" for n in range(5)]
    finally:
        router.close()
