"""Streams over `serve --workers 2`: one record stream however requests are spread over processes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellstore.embedded.clients import new_client

pytestmark = [pytest.mark.slow, pytest.mark.server]

WRITERS = 8
UPDATES = 40


def test_per_key_order_across_worker_processes(server_process: Callable[..., Any], tmp_path: Path) -> None:
    server = server_process("--data-dir", str(tmp_path / "data"), "--workers", "2")
    ddb = server.client()
    arn = ddb.create_table(
        TableName="counters", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]

    def writer(number: int) -> None:
        own = server.client()  # its own connections, spread over both workers by the kernel
        for i in range(UPDATES):
            own.update_item(
                TableName="counters", Key={"pk": {"S": f"k{(number + i) % 3}"}},
                UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}},
            )

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    streams = new_client("dynamodbstreams", server.endpoint_url)  # any worker answers
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator)
        if not page["Records"]:
            break
        records.extend(page["Records"])
        iterator = page.get("NextShardIterator")
    assert len(records) == WRITERS * UPDATES
    last: dict[str, int] = {}
    for record in records:
        key = record["dynamodb"]["Keys"]["pk"]["S"]
        old = int(record["dynamodb"].get("OldImage", {}).get("n", {"N": "0"})["N"])
        new = int(record["dynamodb"]["NewImage"]["n"]["N"])
        assert old == last.get(key, 0) and new == old + 1
        last[key] = new
    assert server.terminate() == 0
