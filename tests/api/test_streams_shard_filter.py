"""DescribeStream's ShardFilter (Type CHILD_SHARDS) through boto3's ``dynamodbstreams`` client."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}]


def error_of(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


@pytest.fixture
def raw_streams(streams: Any) -> Any:
    """A streams client on the same endpoint that skips botocore's own parameter checks
    (botocore refuses a ShardId shorter than 28 characters before sending it)."""
    return boto3.client(
        "dynamodbstreams",
        endpoint_url=streams.meta.endpoint_url,
        region_name=streams.meta.region_name,
        aws_access_key_id="cellstore",
        aws_secret_access_key="cellstore",
        config=streams.meta.config.merge(Config(parameter_validation=False, retries={"max_attempts": 1})),
    )


@pytest.fixture
def rolled(ddb: Any, streams: Any, table_name: str, stream_settings: Any) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A stream whose shards rolled over: four shards, each the child of the one before."""
    stream_settings.shard_max_records = 2
    response = ddb.create_table(
        TableName=table_name, KeySchema=KEY, AttributeDefinitions=DEFINITIONS, BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    arn = response["TableDescription"]["LatestStreamArn"]
    for i in range(7):
        ddb.put_item(TableName=table_name, Item={"pk": {"S": f"k{i}"}})
    listed = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    assert len(listed) == 4
    yield arn, listed
    ddb.delete_table(TableName=table_name)


def children(streams: Any, arn: str, parent: str, **extra: Any) -> dict[str, Any]:
    filter_ = {"Type": "CHILD_SHARDS", "ShardId": parent}
    return dict(streams.describe_stream(StreamArn=arn, ShardFilter=filter_, **extra)["StreamDescription"])


def test_child_shards_of_each_shard(streams: Any, rolled: tuple[str, list[dict[str, Any]]]) -> None:
    arn, listed = rolled
    for parent, child in itertools.pairwise(listed):
        described = children(streams, arn, parent["ShardId"])
        assert described["Shards"] == [child]
        assert "LastEvaluatedShardId" not in described
        assert described["StreamArn"] == arn and described["StreamStatus"] == "ENABLED"
    # The open shard has no child yet.
    assert children(streams, arn, listed[-1]["ShardId"])["Shards"] == []


def test_a_shard_id_of_no_shard_has_no_children(streams: Any, rolled: tuple[str, list[dict[str, Any]]]) -> None:
    arn, listed = rolled
    unknown = listed[0]["ShardId"][:-8] + "0000ffff"
    assert children(streams, arn, unknown)["Shards"] == []
    assert children(streams, arn, "shardId-not-a-shard-of-this-stream")["Shards"] == []


def test_filter_with_limit_and_exclusive_start(streams: Any, rolled: tuple[str, list[dict[str, Any]]]) -> None:
    arn, listed = rolled
    first = listed[0]["ShardId"]
    # A start past the only child leaves nothing.
    assert children(streams, arn, first, ExclusiveStartShardId=listed[1]["ShardId"])["Shards"] == []
    # A start before the parent still returns only the children.
    assert children(streams, arn, listed[1]["ShardId"], ExclusiveStartShardId=first, Limit=1)["Shards"] == [listed[2]]


@pytest.mark.parametrize(
    ("shard_filter", "message"),
    [
        (
            {"Type": "PARENT_SHARDS", "ShardId": "shardId-00000000000000000000-00000000"},
            (
                "1 validation error detected: Value 'PARENT_SHARDS' at 'shardFilter.type' failed to satisfy "
                "constraint: Member must satisfy enum value set: [CHILD_SHARDS]"
            ),
        ),
        (
            {"Type": "CHILD_SHARDS", "ShardId": "short"},
            (
                "1 validation error detected: Value 'short' at 'shardFilter.shardId' failed to satisfy "
                "constraint: Member must have length greater than or equal to 28"
            ),
        ),
        ({"Type": "CHILD_SHARDS"}, "ShardFilter ShardId is required when ShardFilter Type is CHILD_SHARDS"),
        ({"ShardId": "shardId-00000000000000000000-00000000"},
         "ShardFilter Type is required when a ShardFilter is specified"),
    ],
)
def test_refused_filters(
    raw_streams: Any, rolled: tuple[str, list[dict[str, Any]]], shard_filter: dict[str, str], message: str
) -> None:
    arn, _ = rolled
    assert error_of(raw_streams.describe_stream, StreamArn=arn, ShardFilter=shard_filter) == ("ValidationException", message)


def test_filter_errors_join_the_other_members_errors(raw_streams: Any, rolled: tuple[str, list[dict[str, Any]]]) -> None:
    arn, _ = rolled
    code, message = error_of(
        raw_streams.describe_stream, StreamArn=arn, Limit=1000, ShardFilter={"Type": "NOPE", "ShardId": "s" * 30}
    )
    assert code == "ValidationException"
    assert message.startswith("2 validation errors detected: Value '1000' at 'limit'")
    assert "at 'shardFilter.type'" in message


def test_unknown_stream_with_a_filter(ddb: Any, streams: Any, rolled: tuple[str, list[dict[str, Any]]]) -> None:
    arn, listed = rolled
    missing = arn.rsplit("/", 1)[0] + "/2000-01-01T00:00:00.000"
    code, _ = error_of(
        streams.describe_stream, StreamArn=missing, ShardFilter={"Type": "CHILD_SHARDS", "ShardId": listed[0]["ShardId"]}
    )
    assert code == "ResourceNotFoundException"
