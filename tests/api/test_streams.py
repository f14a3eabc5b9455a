"""DynamoDB Streams through boto3's ``dynamodbstreams`` client, served and in-process."""

from __future__ import annotations

import itertools
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}]


def create(ddb: Any, name: str, view: str | None = "NEW_AND_OLD_IMAGES") -> str:
    """Create ``name`` (with a stream of ``view`` unless None); return the stream ARN or ""."""
    extra: dict[str, Any] = {}
    if view is not None:
        extra["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view}
    response = ddb.create_table(
        TableName=name, KeySchema=KEY, AttributeDefinitions=DEFINITIONS, BillingMode="PAY_PER_REQUEST", **extra
    )
    return str(response["TableDescription"].get("LatestStreamArn", ""))


def shards(streams: Any, arn: str) -> list[dict[str, Any]]:
    return list(streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"])


def read_shard(streams: Any, arn: str, shard_id: str, kind: str = "TRIM_HORIZON", **extra: Any) -> list[dict[str, Any]]:
    """Every record of one shard available now."""
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType=kind, **extra)[
        "ShardIterator"
    ]
    records: list[dict[str, Any]] = []
    while iterator:
        page = streams.get_records(ShardIterator=iterator)
        records.extend(page["Records"])
        if not page["Records"]:
            break
        iterator = page.get("NextShardIterator")
    return records


def read_all(streams: Any, arn: str) -> list[dict[str, Any]]:
    """Every record of the stream, parents before children (what a KCL-style walker does)."""
    all_shards = shards(streams, arn)
    done: set[str] = set()
    records: list[dict[str, Any]] = []
    while len(done) < len(all_shards):
        for shard in all_shards:
            parent = shard.get("ParentShardId")
            ready = parent is None or parent in done or parent not in {s["ShardId"] for s in all_shards}
            if shard["ShardId"] not in done and ready:
                records.extend(read_shard(streams, arn, shard["ShardId"]))
                done.add(shard["ShardId"])
    return records


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


@pytest.fixture
def stream_table(ddb: Any, table_name: str) -> Iterator[tuple[str, str]]:
    arn = create(ddb, table_name)
    yield table_name, arn
    ddb.delete_table(TableName=table_name)


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---- enabling and describing ----------------------------------------------------


def test_create_table_with_stream_describes_it(ddb: Any, streams: Any, table_name: str) -> None:
    arn = create(ddb, table_name, "KEYS_ONLY")
    table = ddb.describe_table(TableName=table_name)["Table"]
    label = table["LatestStreamLabel"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", label)
    assert table["LatestStreamArn"] == arn == f"{table['TableArn']}/stream/{label}"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
    description = streams.describe_stream(StreamArn=arn)["StreamDescription"]
    assert description["StreamStatus"] == "ENABLED"
    assert description["StreamViewType"] == "KEYS_ONLY"
    assert description["TableName"] == table_name
    assert description["KeySchema"] == KEY
    (shard,) = description["Shards"]
    assert re.fullmatch(r"shardId-\d{20}-[0-9a-f]{8}", shard["ShardId"])
    assert "EndingSequenceNumber" not in shard["SequenceNumberRange"]
    ddb.delete_table(TableName=table_name)


def test_disable_and_reenable_make_a_new_stream(ddb: Any, streams: Any, table_name: str) -> None:
    first = create(ddb, table_name)
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}})
    disabled = ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": False})
    assert "StreamSpecification" not in disabled["TableDescription"]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "b"}})  # no stream: no record anywhere
    enabled = ddb.update_table(
        TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    )["TableDescription"]
    second = enabled["LatestStreamArn"]
    assert second != first
    old = streams.describe_stream(StreamArn=first)["StreamDescription"]
    assert old["StreamStatus"] == "DISABLED"
    (shard,) = old["Shards"]
    assert shard["SequenceNumberRange"]["EndingSequenceNumber"] == shard["SequenceNumberRange"]["StartingSequenceNumber"]
    assert [r["dynamodb"]["Keys"] for r in read_all(streams, first)] == [{"pk": {"S": "a"}}]
    listed = streams.list_streams(TableName=table_name)["Streams"]
    assert [s["StreamArn"] for s in listed] == [first, second]
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "c"}})
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_all(streams, second)] == ["c"]
    ddb.delete_table(TableName=table_name)
    assert streams.describe_stream(StreamArn=second)["StreamDescription"]["StreamStatus"] == "DISABLED"
    assert len(read_all(streams, second)) == 1


# ---- records ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("view", "images"),
    [
        ("KEYS_ONLY", [set(), set(), set()]),
        ("NEW_IMAGE", [{"NewImage"}, {"NewImage"}, set()]),
        ("OLD_IMAGE", [set(), {"OldImage"}, {"OldImage"}]),
        ("NEW_AND_OLD_IMAGES", [{"NewImage"}, {"NewImage", "OldImage"}, {"OldImage"}]),
    ],
)
def test_records_per_view_type(ddb: Any, streams: Any, table_name: str, view: str, images: list[set[str]]) -> None:
    arn = create(ddb, table_name, view)
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "k"}, "v": {"N": "1"}})
    ddb.update_item(
        TableName=table_name, Key={"pk": {"S": "k"}}, UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "2"}},
    )
    ddb.delete_item(TableName=table_name, Key={"pk": {"S": "k"}})
    records = read_all(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for record, expected in zip(records, images, strict=True):
        assert record["eventVersion"] == "1.1"
        assert record["eventSource"] == "aws:dynamodb"
        assert record["awsRegion"] == "us-east-1"
        assert re.fullmatch(r"[0-9a-f]{32}", record["eventID"])
        assert "userIdentity" not in record
        body = record["dynamodb"]
        assert body["Keys"] == {"pk": {"S": "k"}}
        assert body["StreamViewType"] == view
        assert body["SizeBytes"] > 0
        assert re.fullmatch(r"\d{21}", body["SequenceNumber"])
        assert {"NewImage", "OldImage"} & set(body) == expected
    new = [r["dynamodb"].get("NewImage") for r in records]
    old = [r["dynamodb"].get("OldImage") for r in records]
    if "NEW" in view:
        assert new[:2] == [{"pk": {"S": "k"}, "v": {"N": "1"}}, {"pk": {"S": "k"}, "v": {"N": "2"}}]
    if "OLD" in view:
        assert old[1:] == [{"pk": {"S": "k"}, "v": {"N": "1"}}, {"pk": {"S": "k"}, "v": {"N": "2"}}]
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequences == sorted(set(sequences))
    ddb.delete_table(TableName=table_name)


def test_no_record_for_a_write_that_changes_nothing(ddb: Any, streams: Any, stream_table: tuple[str, str]) -> None:
    name, arn = stream_table
    item = {"pk": {"S": "same"}, "v": {"N": "1"}}
    ddb.put_item(TableName=name, Item=item)
    ddb.put_item(TableName=name, Item=item)
    ddb.update_item(
        TableName=name, Key={"pk": {"S": "same"}}, UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"N": "1"}},
    )
    ddb.delete_item(TableName=name, Key={"pk": {"S": "missing"}})
    with pytest.raises(ClientError):
        ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert [r["eventName"] for r in read_all(streams, arn)] == ["INSERT"]


def test_one_record_per_transaction_and_batch_item(ddb: Any, streams: Any, stream_table: tuple[str, str]) -> None:
    name, arn = stream_table
    ddb.put_item(TableName=name, Item={"pk": {"S": "checked"}})
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": name, "Item": {"pk": {"S": "t1"}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": "t2"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"pk": {"S": "checked"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ]
    )
    ddb.batch_write_item(
        RequestItems={
            name: [{"PutRequest": {"Item": {"pk": {"S": f"b{i}"}}}} for i in range(4)]
            + [{"DeleteRequest": {"Key": {"pk": {"S": "t1"}}}}]
        }
    )
    records = read_all(streams, arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "checked"), ("INSERT", "t1"), ("INSERT", "t2"),
        ("INSERT", "b0"), ("INSERT", "b1"), ("INSERT", "b2"), ("INSERT", "b3"), ("REMOVE", "t1"),
    ]


# ---- iterators ---------------------------------------------------------------------


def test_iterator_types(ddb: Any, streams: Any, stream_table: tuple[str, str]) -> None:
    name, arn = stream_table
    for key in "abc":
        ddb.put_item(TableName=name, Item={"pk": {"S": key}})
    (shard,) = shards(streams, arn)
    shard_id = shard["ShardId"]
    everything = read_shard(streams, arn, shard_id)
    second = everything[1]["dynamodb"]["SequenceNumber"]
    keys = lambda records: [r["dynamodb"]["Keys"]["pk"]["S"] for r in records]  # noqa: E731
    assert keys(read_shard(streams, arn, shard_id, "AT_SEQUENCE_NUMBER", SequenceNumber=second)) == ["b", "c"]
    assert keys(read_shard(streams, arn, shard_id, "AFTER_SEQUENCE_NUMBER", SequenceNumber=second)) == ["c"]
    latest = streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="LATEST")["ShardIterator"]
    page = streams.get_records(ShardIterator=latest)
    assert page["Records"] == [] and page["NextShardIterator"]
    ddb.put_item(TableName=name, Item={"pk": {"S": "d"}})
    assert keys(streams.get_records(ShardIterator=page["NextShardIterator"])["Records"]) == ["d"]
    limited = streams.get_records(
        ShardIterator=streams.get_shard_iterator(StreamArn=arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON")[
            "ShardIterator"
        ],
        Limit=2,
    )
    assert keys(limited["Records"]) == ["a", "b"]
    assert keys(streams.get_records(ShardIterator=limited["NextShardIterator"])["Records"]) == ["c", "d"]


def test_iterator_expires_after_fifteen_minutes(
    ddb: Any, streams: Any, stream_table: tuple[str, str], stream_settings: Any
) -> None:
    _name, arn = stream_table
    clock = FakeClock()
    stream_settings.clock = clock
    (shard,) = shards(streams, arn)
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")[
        "ShardIterator"
    ]
    clock.now += 14 * 60
    fresh = streams.get_records(ShardIterator=iterator)["NextShardIterator"]
    clock.now += 60
    code, message = error_of(streams.get_records, ShardIterator=iterator)
    assert code == "ExpiredIteratorException"
    assert message.startswith("Iterator expired. The iterator was created at time ")
    assert message.endswith("which is further in the future than the tolerated delay of 900000 milliseconds.")
    assert streams.get_records(ShardIterator=fresh)["Records"] == []


# ---- shards and retention ---------------------------------------------------------------


def test_shards_roll_over_by_size_and_age_with_parent_links(
    ddb: Any, streams: Any, stream_table: tuple[str, str], stream_settings: Any
) -> None:
    name, arn = stream_table
    clock = FakeClock()
    stream_settings.clock = clock
    stream_settings.shard_max_records = 3
    for i in range(7):
        ddb.put_item(TableName=name, Item={"pk": {"S": f"k{i}"}})
    clock.now += stream_settings.shard_max_age_seconds
    ddb.put_item(TableName=name, Item={"pk": {"S": "k7"}})  # the third shard is old: a fourth opens
    listed = shards(streams, arn)
    assert len(listed) == 4
    assert listed[0].get("ParentShardId") is None
    for parent, child in itertools.pairwise(listed):
        assert child["ParentShardId"] == parent["ShardId"]
        ending = int(parent["SequenceNumberRange"]["EndingSequenceNumber"])
        assert int(child["SequenceNumberRange"]["StartingSequenceNumber"]) == ending + 1
    assert "EndingSequenceNumber" not in listed[-1]["SequenceNumberRange"]
    # A closed shard's last page has no NextShardIterator.
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=listed[0]["ShardId"], ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    page = streams.get_records(ShardIterator=iterator)
    assert len(page["Records"]) == 3 and "NextShardIterator" not in page
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_all(streams, arn)] == [f"k{i}" for i in range(8)]
    first_page = streams.describe_stream(StreamArn=arn, Limit=2)["StreamDescription"]
    assert [s["ShardId"] for s in first_page["Shards"]] == [s["ShardId"] for s in listed[:2]]
    rest = streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=first_page["LastEvaluatedShardId"])
    assert [s["ShardId"] for s in rest["StreamDescription"]["Shards"]] == [s["ShardId"] for s in listed[2:]]


def test_records_past_retention_are_trimmed(
    ddb: Any, streams: Any, stream_table: tuple[str, str], stream_settings: Any
) -> None:
    name, arn = stream_table
    clock = FakeClock()
    stream_settings.clock = clock
    stream_settings.retention_seconds = 60
    stream_settings.shard_max_records = 2
    for key in ("old1", "old2", "old3"):
        ddb.put_item(TableName=name, Item={"pk": {"S": key}})
    first_shard = shards(streams, arn)[0]["ShardId"]
    stale = streams.get_shard_iterator(StreamArn=arn, ShardId=first_shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"
    ]
    old_sequence = read_all(streams, arn)[0]["dynamodb"]["SequenceNumber"]
    clock.now += 61
    ddb.put_item(TableName=name, Item={"pk": {"S": "new"}})
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in read_all(streams, arn)] == ["new"]
    assert first_shard not in [s["ShardId"] for s in shards(streams, arn)]  # closed, trimmed, forgotten
    code, message = error_of(streams.get_records, ShardIterator=stale)
    assert (code, message) == ("TrimmedDataAccessException", "The data you are trying to access has been trimmed")
    current = shards(streams, arn)[0]["ShardId"]
    code, _ = error_of(
        streams.get_shard_iterator, StreamArn=arn, ShardId=first_shard,
        ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=old_sequence,
    )
    assert code == "ResourceNotFoundException"
    assert read_shard(streams, arn, current)  # the surviving shard still reads


def test_disabled_stream_is_gone_after_retention(
    ddb: Any, streams: Any, table_name: str, stream_settings: Any
) -> None:
    clock = FakeClock()
    stream_settings.clock = clock
    stream_settings.retention_seconds = 60
    arn = create(ddb, table_name)
    ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": False})
    clock.now += 59
    assert streams.describe_stream(StreamArn=arn)["StreamDescription"]["StreamStatus"] == "DISABLED"
    clock.now += 2
    assert arn not in [s["StreamArn"] for s in streams.list_streams(TableName=table_name)["Streams"]]
    code, message = error_of(streams.describe_stream, StreamArn=arn)
    assert (code, message) == ("ResourceNotFoundException", f"Requested resource not found: Stream: {arn} not found")
    ddb.delete_table(TableName=table_name)


# ---- listing and errors --------------------------------------------------------------


def test_list_streams_pages(ddb: Any, streams: Any, table_name: str) -> None:
    names = [f"{table_name}-{i}" for i in range(3)]
    arns = [create(ddb, name) for name in names]
    create(ddb, f"{table_name}-nostream", view=None)
    seen: list[str] = []
    start: dict[str, Any] = {}
    while True:
        page = streams.list_streams(Limit=1, **start)
        seen.extend(s["StreamArn"] for s in page["Streams"])
        if "LastEvaluatedStreamArn" not in page:
            break
        start = {"ExclusiveStartStreamArn": page["LastEvaluatedStreamArn"]}
    assert [arn for arn in seen if arn in arns] == arns
    assert streams.list_streams(TableName=names[1])["Streams"] == [
        {"StreamArn": arns[1], "TableName": names[1], "StreamLabel": arns[1].rsplit("/", 1)[1]}
    ]
    assert streams.list_streams(TableName=f"{table_name}-nostream")["Streams"] == []
    for name in names + [f"{table_name}-nostream"]:
        ddb.delete_table(TableName=name)


def test_errors(ddb: Any, streams: Any, stream_table: tuple[str, str]) -> None:
    _name, arn = stream_table
    (shard,) = shards(streams, arn)
    missing = arn[:-3] + "999"
    assert error_of(streams.describe_stream, StreamArn=missing) == (
        "ResourceNotFoundException", f"Requested resource not found: Stream: {missing} not found"
    )
    assert error_of(
        streams.get_shard_iterator, StreamArn=arn, ShardId="shardId-00000000000000000000-0000abcd",
        ShardIteratorType="LATEST",
    ) == ("ResourceNotFoundException", "Requested resource not found: Shard does not exist")
    code, _ = error_of(
        streams.get_shard_iterator, StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="AT_SEQUENCE_NUMBER"
    )
    assert code == "ValidationException"
    assert error_of(streams.get_records, ShardIterator=arn + "|1|bm90IGFuIGl0ZXJhdG9y") == (
        "ValidationException", "Invalid ShardIterator"
    )
    assert error_of(streams.get_records, ShardIterator="x" * 10, Limit=1001) == (
        "ValidationException",
        ("1 validation error detected: Value '1001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 1000"),
    )
    assert error_of(streams.list_streams, TableName="no-such-table-anywhere")[0] == "ResourceNotFoundException"


# ---- order under concurrency (served: 8 writers over HTTP) ----------------------------


def test_per_key_order_under_concurrent_writers(cellstore_server: Any, table_name: str) -> None:
    ddb = cellstore_server.client()
    streams = cellstore_server.client("dynamodbstreams")
    arn = create(ddb, table_name, "NEW_IMAGE")
    keys = [f"k{i}" for i in range(4)]

    def writer() -> None:
        own = cellstore_server.client()
        for i in range(25):
            own.update_item(
                TableName=table_name, Key={"pk": {"S": keys[i % len(keys)]}},
                UpdateExpression="ADD n :one", ExpressionAttributeValues={":one": {"N": "1"}},
            )

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = read_all(streams, arn)
    assert len(records) == 8 * 25
    per_key: dict[str, list[int]] = {key: [] for key in keys}
    for record in records:
        per_key[record["dynamodb"]["Keys"]["pk"]["S"]].append(int(record["dynamodb"]["NewImage"]["n"]["N"]))
    for values in per_key.values():
        assert values == list(range(1, len(values) + 1))
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
    ddb.delete_table(TableName=table_name)


def test_list_streams_refuses_a_table_arn(ddb: Any, streams: Any, stream_table: tuple[str, str]) -> None:
    """The Streams model's TableName is a name (3-255 of ``[a-zA-Z0-9_.-]``), not an ARN.

    Unlike the DynamoDB operations, which take a table ARN wherever a TableName
    goes, ListStreams' member keeps the old pattern in AWS's model, so an ARN is
    a member-constraint error, not the table's streams.
    """
    name, _ = stream_table
    table_arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
    code, message = error_of(streams.list_streams, TableName=table_arn)
    assert code == "ValidationException"
    assert message == (
        f"1 validation error detected: Value '{table_arn}' at 'tableName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    )
