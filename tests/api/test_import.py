"""``cellstore import``: a table copied from another endpoint while it is written, then caught up from its stream."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from cellstore.embedded import serve
from cellstore.embedded.clients import Cellstore
from cellstore.importer import ImportFailed, import_table, target_spec

TABLE = "orders"


def create(client: Any, *, stream: str | None = "NEW_IMAGE", name: str = TABLE) -> None:
    params: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "owner", "AttributeType": "S"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{
            "IndexName": "by-owner", "KeySchema": [{"AttributeName": "owner", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
    }
    if stream:
        params["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream}
    client.create_table(**params)


def item(n: int, version: int) -> dict[str, Any]:
    return {"pk": {"S": f"p{n % 37}"}, "sk": {"N": str(n)}, "owner": {"S": f"o{n % 5}"}, "v": {"N": str(version)}}


def everything(client: Any, name: str = TABLE) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
        for got in page["Items"]:
            found[(got["pk"]["S"], got["sk"]["N"])] = got
    return found


@pytest.fixture
def pair() -> Iterator[tuple[Cellstore, Cellstore]]:
    with serve() as source, serve() as target:
        yield source, target


@pytest.mark.parametrize("view", ["NEW_IMAGE", "KEYS_ONLY"])
def test_an_import_under_writes_ends_equal_to_the_source(pair: tuple[Cellstore, Cellstore], view: str) -> None:
    source, target = pair
    src, dst = source.client(), target.client()
    create(src, stream=view)
    for n in range(300):
        src.put_item(TableName=TABLE, Item=item(n, 0))
    stop_writes, stop_import = threading.Event(), threading.Event()
    written = [0]

    def writer() -> None:  # updates, inserts and deletes while the copy and the catch-up run
        version = 1
        while not stop_writes.is_set():
            n = version * 7 % 400
            if version % 5 == 0:
                src.delete_item(TableName=TABLE, Key={"pk": item(n, 0)["pk"], "sk": item(n, 0)["sk"]})
            else:
                src.put_item(TableName=TABLE, Item=item(n, version))
            version += 1
            written[0] = version
            stop_writes.wait(0.002)  # a steady stream of writes, not a flood the test has to wait out

    phases: list[str] = []
    results: list[Any] = []
    streams = source.client("dynamodbstreams")
    importer = threading.Thread(target=lambda: results.append(import_table(
        src, streams, dst, TABLE, segments=3, follow=True, stop=stop_import,
        progress=lambda phase, count: phases.append(phase),
    )))
    writing = threading.Thread(target=writer)
    writing.start()
    importer.start()
    while "catch-up" not in phases and importer.is_alive():
        stop_writes.wait(0.05)
    stop_writes.wait(0.5)  # writes go on while the importer follows the stream
    stop_writes.set()
    writing.join()
    stop_import.set()  # the cut-over: finish catching up, then stop
    importer.join(60)
    assert not importer.is_alive()
    stats = results[0]
    assert stats.copied > 200 and stats.applied > 0 and written[0] > 10  # deletes race the scan
    assert everything(dst) == everything(src)
    described = dst.describe_table(TableName=TABLE)["Table"]
    assert [i["IndexName"] for i in described["GlobalSecondaryIndexes"]] == ["by-owner"]
    assert dst.query(
        TableName=TABLE, IndexName="by-owner", KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": "o1"}},
    )["Count"] == src.query(
        TableName=TABLE, IndexName="by-owner", KeyConditionExpression="#o = :o",
        ExpressionAttributeNames={"#o": "owner"}, ExpressionAttributeValues={":o": {"S": "o1"}},
    )["Count"]


def test_an_import_of_a_table_without_a_stream_copies_it_and_refuses_to_follow(
    pair: tuple[Cellstore, Cellstore],
) -> None:
    source, target = pair
    src, dst = source.client(), target.client()
    create(src, stream=None)
    for n in range(60):
        src.put_item(TableName=TABLE, Item=item(n, 0))
    stats = import_table(src, source.client("dynamodbstreams"), dst, TABLE, target_table="copy", segments=2)
    assert stats.copied == 60 and stats.applied == 0
    assert everything(dst, "copy") == everything(src)
    with pytest.raises(ImportFailed, match="has no stream to follow"):
        import_table(src, source.client("dynamodbstreams"), dst, TABLE, target_table="copy", follow=True)


def test_a_target_with_another_key_schema_is_refused(pair: tuple[Cellstore, Cellstore]) -> None:
    source, target = pair
    src, dst = source.client(), target.client()
    create(src)
    dst.create_table(
        TableName=TABLE, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    with pytest.raises(ImportFailed, match="exists with another key schema"):
        import_table(src, source.client("dynamodbstreams"), dst, TABLE)
    with pytest.raises(ImportFailed, match="the source has no table nope"):
        import_table(src, source.client("dynamodbstreams"), dst, "nope")


def test_the_command_line_imports_and_reports_progress(pair: tuple[Cellstore, Cellstore]) -> None:
    source, target = pair
    src = source.client()
    create(src)
    for n in range(40):
        src.put_item(TableName=TABLE, Item=item(n, 0))
    done = subprocess.run(
        [sys.executable, "-m", "cellstore", "import", "--table", TABLE, "--from-endpoint", source.endpoint_url,
         "--to-endpoint", target.endpoint_url, "--segments", "2"],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_CONFIG_FILE": "/dev/null"},
    )
    assert done.returncode == 0, done.stderr
    assert "imported: 40 items copied, 40 stream records applied" in done.stderr
    assert "copy: " in done.stderr  # progress lines, one per phase when not on a terminal
    assert everything(target.client()) == everything(src)


def test_target_spec_keeps_keys_indexes_and_stream_and_is_on_demand() -> None:
    source = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
        "GlobalSecondaryIndexes": [{
            "IndexName": "g", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"}, "IndexStatus": "ACTIVE", "ItemCount": 3,
        }],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
    assert target_spec(source, "t") == {
        "TableName": "t",
        "KeySchema": source["KeySchema"],
        "AttributeDefinitions": source["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{
            "IndexName": "g", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
