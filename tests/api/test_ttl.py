"""UpdateTimeToLive / DescribeTimeToLive and the sweeper, through boto3.

The suite's databases sweep every 0.2 s (``CELLSTORE_TTL_INTERVAL`` in
tests/conftest.py), so expiry is observed within a second or two.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


@pytest.fixture
def table(ddb: Any, table_name: str) -> Iterator[str]:
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[
            {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}}
        ],
    )
    yield table_name
    ddb.delete_table(TableName=table_name)


def spec(enabled: bool, attribute: str = "expires") -> dict[str, Any]:
    return {"Enabled": enabled, "AttributeName": attribute}


class TestSettings:
    def test_enable_describe_disable(self, ddb: Any, table: str) -> None:
        assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
        answer = ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(True))
        assert answer["TimeToLiveSpecification"] == spec(True)
        assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {
            "TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
        assert ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(False))[
            "TimeToLiveSpecification"] == spec(False)
        assert ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}

    def test_errors(self, ddb: Any, table: str) -> None:
        assert error(ddb.update_time_to_live, TableName=table, TimeToLiveSpecification=spec(False)) == (
            "ValidationException", "TimeToLive is already disabled")
        ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(True))
        assert error(ddb.update_time_to_live, TableName=table, TimeToLiveSpecification=spec(True)) == (
            "ValidationException", "TimeToLive is already enabled")
        assert error(ddb.update_time_to_live, TableName=table, TimeToLiveSpecification=spec(True, "other")) == (
            "ValidationException", "TimeToLive is active on a different AttributeName: current AttributeName is expires")
        assert error(ddb.describe_time_to_live, TableName="missing-table")[0] == "ResourceNotFoundException"
        assert error(ddb.update_time_to_live, TableName="missing-table", TimeToLiveSpecification=spec(True)) == (
            "ResourceNotFoundException", "Requested resource not found: Table: missing-table not found")


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def test_expiry(ddb: Any, table: str) -> None:
    now = int(time.time())
    values: dict[str, dict[str, str] | None] = {
        "past": {"N": str(now - 100)},
        "past-fraction": {"N": f"{now - 50}.25"},
        "future": {"N": str(now + 3600)},
        "string": {"S": str(now - 100)},
        "missing": None,
        "ancient": {"N": str(now - 6 * 365 * 24 * 3600)},  # more than five years ago: never deleted
    }

    def put(name: str, value: dict[str, str] | None) -> None:
        row: dict[str, Any] = {"pk": {"S": name}, "g": {"S": "G"}}
        if value is not None:
            row["expires"] = value
        ddb.put_item(TableName=table, Item=row)

    for name, value in values.items():
        put(f"before-{name}", value)  # indexed by the backfill when TTL is enabled
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(True))
    for name, value in values.items():
        put(f"after-{name}", value)  # indexed by the change hook
    put("soon", {"N": str(time.time() + 1)})
    put("renewed", {"N": str(now - 10)})
    # The sweeper may delete "renewed" before this renewal lands (it was expired): the update then makes it
    # anew, so it sets g too, or the item would be back in the table but not in the index.
    ddb.update_item(TableName=table, Key={"pk": {"S": "renewed"}}, UpdateExpression="SET expires = :e, g = :g",
                    ExpressionAttributeValues={":e": {"N": str(now + 3600)}, ":g": {"S": "G"}})

    def names() -> set[str]:
        return {row["pk"]["S"] for row in ddb.scan(TableName=table, ConsistentRead=True)["Items"]}

    expired = {"before-past", "before-past-fraction", "after-past", "after-past-fraction", "soon"}
    wait_until(lambda: not names() & expired)
    kept = {f"{when}-{name}" for when in ("before", "after") for name in values} - expired | {"renewed"}
    assert names() == kept
    # Deletions went through the write path: the index followed.
    indexed = {row["pk"]["S"] for row in ddb.scan(TableName=table, IndexName="by-g")["Items"]}
    assert indexed == kept


def test_disabled_table_keeps_expired_items(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item={"pk": {"S": "x"}, "expires": {"N": str(int(time.time()) - 5)}})
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(True))
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification=spec(False))
    ddb.put_item(TableName=table, Item={"pk": {"S": "y"}, "expires": {"N": str(int(time.time()) - 5)}})
    time.sleep(0.6)  # three sweep intervals
    assert ddb.get_item(TableName=table, Key={"pk": {"S": "y"}}).get("Item") is not None


@pytest.mark.slow
@pytest.mark.server
def test_workers_sweep_and_backfill_together(server_process: Callable[..., Any], tmp_path: Any) -> None:
    """``serve --workers 2``: both workers run the background tasks; the outcome is as with one."""
    server = server_process("--data-dir", str(tmp_path), "--workers", "2", "--ttl-interval", "0.2")
    client = server.client()
    name = "workers"
    client.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    past = str(int(time.time()) - 10)
    for start in range(0, 600, 25):
        client.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": {"pk": {"S": f"k{n}"}, "g": {"S": f"G{n % 4}"}, "exp": {"N": past if n % 2 else "9999999999"}}}}
            for n in range(start, start + 25)]})
    client.update_table(
        TableName=name, AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}}],
    )
    client.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})

    def settled() -> bool:
        index = client.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]
        return index["IndexStatus"] == "ACTIVE" and client.scan(TableName=name, Select="COUNT")["Count"] == 300

    wait_until(settled, timeout=60)
    indexed = client.scan(TableName=name, IndexName="by-g")["Items"]
    assert sorted(row["pk"]["S"] for row in indexed) == sorted(f"k{n}" for n in range(0, 600, 2))
    assert server.terminate() == 0
