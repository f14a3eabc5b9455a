"""The DynamoDB Streams API: ListStreams, DescribeStream, GetShardIterator, GetRecords.

A service of its own (``X-Amz-Target: DynamoDBStreams_20120810.<Op>``) on the
same endpoint as DynamoDB, so it has its own registry; ``protocol/server.py``
serves it as the "streams" service.  Each handler checks its members with
AWS's constraints, calls ``engine.streams`` and gives the engine's answer
AWS's response shape (the engine knows streams, shards and records, not the
wire's member names).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellstore.api.registry import Registry, operation
from cellstore.api.validation import (
    Param,
    check_stream_arn,
    check_type,
    constraint_errors,
    raise_if_errors,
    structure_errors,
    table_name_rule,
    validate,
    wire_name,
)
from cellstore.engine import streams
from cellstore.engine.database import Database
from cellstore.errors import UnknownOperationException, ValidationException

Handler = Callable[[Database, dict[str, Any]], dict[str, Any]]


STREAM_ARN = Param("string", required=True, min_length=37, max_length=1024)
SHARD_ID = Param("string", required=True, min_length=28, max_length=65)
SEQUENCE_NUMBER = Param("string", min_length=21, max_length=40)
SHARD_ITERATOR = Param("string", required=True, min_length=1, max_length=2048)
CHILD_SHARDS = "CHILD_SHARDS"  # the one ShardFilter Type DynamoDB Streams accepts


@operation("ListStreams")
def list_streams(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(
        payload,
        {
            "TableName": table_name_rule(required=False),
            "Limit": Param("integer", min_value=1, max_value=100),
            "ExclusiveStartStreamArn": Param("string", min_length=37, max_length=1024),
        },
    )
    found, last = streams.list_streams(
        db, payload.get("TableName"), payload.get("ExclusiveStartStreamArn"), int(payload.get("Limit") or 100)
    )
    response: dict[str, Any] = {
        "Streams": [{"StreamArn": s.arn, "TableName": s.table, "StreamLabel": s.label} for s in found]
    }
    if last is not None:
        response["LastEvaluatedStreamArn"] = last
    return response


DESCRIBE_STREAM = {
    "StreamArn": STREAM_ARN,
    "Limit": Param("integer", min_value=1, max_value=100),
    "ExclusiveStartShardId": Param("string", min_length=28, max_length=65),
    "ShardFilter": Param("map"),
}
SHARD_FILTER = {
    "Type": Param("string", enum=(CHILD_SHARDS,)),
    "ShardId": Param("string", min_length=28, max_length=65),
}


def _shard_filter(payload: dict[str, Any]) -> str | None:
    """Check DescribeStream's members (ShardFilter's with them, in one message); the parent
    shard id a CHILD_SHARDS filter names, or None without a filter."""
    validate(payload, {})  # a payload that is not a JSON object is a serialization error
    errors: list[str] = []
    for name, rule in DESCRIBE_STREAM.items():
        value = payload.get(name)
        if value is not None:
            check_type(name, value, rule.type)
        errors.extend(constraint_errors(wire_name(name), value, rule))
    raw = payload.get("ShardFilter")
    if raw is not None:
        errors.extend(structure_errors("shardFilter", raw, SHARD_FILTER))
    raise_if_errors(errors)
    if raw is None:
        return None
    if raw.get("Type") is None:
        raise ValidationException("ShardFilter Type is required when a ShardFilter is specified")
    if raw.get("ShardId") is None:
        raise ValidationException(f"ShardFilter ShardId is required when ShardFilter Type is {CHILD_SHARDS}")
    return str(raw["ShardId"])


@operation("DescribeStream")
def describe_stream(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    child_of = _shard_filter(payload)
    check_stream_arn(payload["StreamArn"])
    info = streams.describe_stream(
        db, payload["StreamArn"], int(payload.get("Limit") or 100), payload.get("ExclusiveStartShardId"), child_of
    )
    description: dict[str, Any] = {
        "StreamArn": info.arn,
        "StreamLabel": info.label,
        "StreamStatus": "ENABLED" if info.enabled else "DISABLED",
        "StreamViewType": info.view,
        "CreationRequestDateTime": info.created,
        "TableName": info.table,
        "KeySchema": info.key_schema,
        "Shards": [_shard_shape(shard) for shard in info.shards],
    }
    if info.last_shard_id is not None:
        description["LastEvaluatedShardId"] = info.last_shard_id
    return {"StreamDescription": description}


def _shard_shape(shard: streams.Shard) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": streams.sequence_text(shard.start)}
    if shard.end is not None:
        numbers["EndingSequenceNumber"] = streams.sequence_text(shard.end)
    shape: dict[str, Any] = {"ShardId": shard.id, "SequenceNumberRange": numbers}
    if shard.parent is not None:
        shape["ParentShardId"] = shard.parent
    return shape


@operation("GetShardIterator")
def get_shard_iterator(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(
        payload,
        {
            "StreamArn": STREAM_ARN,
            "ShardId": SHARD_ID,
            "ShardIteratorType": Param("string", required=True, enum=streams.ITERATOR_TYPES),
            "SequenceNumber": SEQUENCE_NUMBER,
        },
    )
    check_stream_arn(payload["StreamArn"])
    raw = payload.get("SequenceNumber")
    if raw is not None and payload["ShardIteratorType"] in ("TRIM_HORIZON", "LATEST"):
        # A position that ignores the number: refused rather than silently
        # dropped.  AWS documents no text; this mirrors the "must be
        # specified" message for the two types that need one.
        raise ValidationException(
            "SequenceNumber may only be specified for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER"
        )
    sequence = None
    if raw is not None:
        if not (raw.isascii() and raw.isdigit()):
            raise ValidationException(f"Invalid SequenceNumber: {raw}")
        sequence = int(raw)
    iterator = streams.get_shard_iterator(
        db, payload["StreamArn"], payload["ShardId"], payload["ShardIteratorType"], sequence
    )
    return {"ShardIterator": iterator}


@operation("GetRecords")
def get_records(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"ShardIterator": SHARD_ITERATOR, "Limit": Param("integer", min_value=1, max_value=1000)})
    page = streams.get_records(db, payload["ShardIterator"], int(payload.get("Limit") or 1000))
    response: dict[str, Any] = {"Records": page.records}
    if page.next_iterator is not None:
        response["NextShardIterator"] = page.next_iterator
    return response


REGISTRY: Registry[Handler] = Registry(
    lambda name: UnknownOperationException(), (list_streams, describe_stream, get_shard_iterator, get_records)
)
OPERATIONS = REGISTRY.handlers


def dispatch(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return REGISTRY.handler(name)(db, payload)
