"""Stream records and item changes commit together: ``kill -9`` cannot split them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cellstore.embedded.clients import new_client

WRITERS = 4
TARGET = 400


def stream_records(client: Any, arn: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for shard in client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = client.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ]
        while iterator:
            page = client.get_records(ShardIterator=iterator)
            records.extend(page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


@pytest.mark.slow
@pytest.mark.server
def test_acknowledged_changes_and_records_survive_sigkill_together(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    server = server_process("--data-dir", data_dir)
    client = server.client()
    arn = client.create_table(
        TableName="streamed",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]

    acknowledged: set[str] = set()
    lock = threading.Lock()
    go_kill = threading.Event()

    def writer(number: int) -> None:
        own = server.client()
        for i in range(TARGET * 10):
            key = f"w{number}-{i}"
            try:
                own.put_item(TableName="streamed", Item={"pk": {"S": key}})
            except Exception:  # noqa: BLE001 - the server was killed mid-request
                return
            with lock:
                acknowledged.add(key)
                if len(acknowledged) >= TARGET:
                    go_kill.set()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    assert go_kill.wait(120), "writers did not reach their target"
    server.kill()
    for thread in threads:
        thread.join(120)

    restarted = server_process("--data-dir", data_dir)
    ddb = restarted.client()
    in_table: set[str] = set()
    for page in ddb.get_paginator("scan").paginate(TableName="streamed"):
        in_table.update(item["pk"]["S"] for item in page["Items"])
    records = stream_records(new_client("dynamodbstreams", restarted.endpoint_url), arn)
    in_stream = [record["dynamodb"]["Keys"]["pk"]["S"] for record in records]

    assert len(in_stream) == len(set(in_stream)), "a change was recorded twice"
    assert not acknowledged - set(in_stream), "acknowledged changes missing from the stream"
    assert set(in_stream) == in_table, "stream and table disagree"
    sequences = [int(record["dynamodb"]["SequenceNumber"]) for record in records]
    assert sequences == sorted(sequences)
    # The stream keeps working after the restart, numbering on from where it stopped.
    ddb.put_item(TableName="streamed", Item={"pk": {"S": "after"}})
    after = stream_records(new_client("dynamodbstreams", restarted.endpoint_url), arn)
    assert after[-1]["dynamodb"]["Keys"]["pk"]["S"] == "after"
    assert int(after[-1]["dynamodb"]["SequenceNumber"]) == sequences[-1] + 1
    assert restarted.terminate() == 0
