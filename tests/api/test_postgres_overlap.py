"""A server on PostgreSQL runs requests on storage threads, writes in group commits: through boto3, nothing changes.

Many clients at once make the writer thread group their writes
(``protocol/storage_threads.py``): conditional writes inside one group must
still see each other, and every acknowledged write must be there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLIENTS = 24


def _client(process: Any) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=process.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(max_pool_connections=CLIENTS, retries={"max_attempts": 1}),
    )


def test_concurrent_conditional_writes_have_one_winner_and_every_acknowledged_write_lands(
    server_process: Callable[..., Any], postgres_dsn: str
) -> None:
    process = server_process("--storage", postgres_dsn)
    client = _client(process)
    client.create_table(
        TableName="overlap",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )

    def claim(n: int) -> bool:
        try:
            client.put_item(
                TableName="overlap", Item={"pk": {"S": "claimed"}, "by": {"N": str(n)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            assert err.response["Error"]["Code"] == "ConditionalCheckFailedException"
            return False
        return True

    def count(n: int) -> None:
        client.update_item(
            TableName="overlap", Key={"pk": {"S": "counter"}}, UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        client.put_item(TableName="overlap", Item={"pk": {"S": f"item-{n}"}})

    with ThreadPoolExecutor(CLIENTS) as pool:
        claims = list(pool.map(claim, range(CLIENTS * 4)))
        list(pool.map(count, range(CLIENTS * 8)))
    assert claims.count(True) == 1
    got = client.get_item(TableName="overlap", Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert got["n"] == {"N": str(CLIENTS * 8)}
    items = client.scan(TableName="overlap", Select="COUNT", ConsistentRead=True)["Count"]
    assert items == CLIENTS * 8 + 2
    assert process.terminate() == 0


def test_overlapped_reads_see_a_table_another_front_end_re_created(
    server_process: Callable[..., Any], postgres_dsn: str
) -> None:
    """Reads waiting together share round trips and guess the table's description; a second front end's
    DeleteTable + CreateTable (another key schema) and UpdateTable must be seen by every read sent after them."""
    mine, theirs = _client(server_process("--storage", postgres_dsn)), _client(server_process("--storage", postgres_dsn))

    def create(client: Any, *keys: str) -> None:
        client.create_table(
            TableName="shared", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": k, "KeyType": t} for k, t in zip(keys, ("HASH", "RANGE"), strict=False)],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
        )

    create(mine, "pk")
    mine.put_item(TableName="shared", Item={"pk": {"S": "a"}, "v": {"S": "first"}})

    def get(key: dict[str, Any], consistent: bool) -> Any:
        try:
            return mine.get_item(TableName="shared", Key=key, ConsistentRead=consistent).get("Item")
        except ClientError as err:
            return err.response["Error"]["Code"]

    def many(key: dict[str, Any]) -> list[Any]:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(lambda n: get(key, n % 2 == 0), range(CLIENTS * 4)))

    assert many({"pk": {"S": "a"}}) == [{"pk": {"S": "a"}, "v": {"S": "first"}}] * CLIENTS * 4
    theirs.delete_table(TableName="shared")
    create(theirs, "pk", "sk")
    theirs.put_item(TableName="shared", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "second"}})
    assert many({"pk": {"S": "a"}, "sk": {"S": "1"}}) == [{"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "second"}}] * CLIENTS * 4
    assert set(many({"pk": {"S": "a"}})) == {"ValidationException"}
    theirs.update_table(
        TableName="shared", AttributeDefinitions=[{"AttributeName": "v", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by_v", "KeySchema": [{"AttributeName": "v", "KeyType": "HASH"}],
                                                 "Projection": {"ProjectionType": "ALL"}}}],
    )
    # Readable once its backfill (a background task of either front end) is done: wait until the other one says so.
    deadline = time.monotonic() + 30
    while theirs.describe_table(TableName="shared")["Table"]["GlobalSecondaryIndexes"][0]["IndexStatus"] != "ACTIVE":
        assert time.monotonic() < deadline, "the index never became active"
        time.sleep(0.05)

    def index_known(n: int) -> str:
        try:
            mine.query(TableName="shared", IndexName="by_v", KeyConditionExpression="v = :v",
                       ExpressionAttributeValues={":v": {"S": "second"}})
        except ClientError as err:
            return str(err.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert set(pool.map(index_known, range(CLIENTS * 2))) == {"ok"}
