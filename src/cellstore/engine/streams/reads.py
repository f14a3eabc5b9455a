"""The Streams operations in engine terms: list, describe, iterate, read.

Results are engine values (``StreamSummary``, ``StreamInfo``, ``Shard``,
``RecordsPage``); ``api/streams.py`` gives them AWS's response shapes.  The
records themselves are returned as stored, already in GetRecords's shape
(see ``hook.build_record``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from cellstore.engine.database import Database
from cellstore.engine.streams import keys, lifecycle, retention
from cellstore.engine.streams.lifecycle import Stream
from cellstore.engine.streams.settings import SETTINGS
from cellstore.engine.streams.tokens import Position, check_fresh, decode_iterator, encode_iterator
from cellstore.engine.tables import find_table
from cellstore.errors import ResourceNotFoundException, ValidationException
from cellstore.storage.base import Txn, prefix_end

ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
MAX_RECORDS_BYTES = 1024 * 1024  # GetRecords returns at most 1 MB


@dataclass(frozen=True, slots=True)
class StreamSummary:
    arn: str
    table: str
    label: str


@dataclass(frozen=True, slots=True)
class Shard:
    """A shard: its id, its parent's, and its sequence range (``end`` None while open)."""

    id: str
    parent: str | None
    start: int
    end: int | None


@dataclass(frozen=True, slots=True)
class StreamInfo:
    arn: str
    label: str
    enabled: bool
    view: str
    created: float
    table: str
    key_schema: list[dict[str, Any]]
    shards: list[Shard]
    last_shard_id: str | None  # set when more shards remain after ``shards``


@dataclass(slots=True)
class RecordsPage:
    records: list[dict[str, Any]]
    next_iterator: str | None


def list_streams(
    db: Database, table_name: str | None, start_arn: str | None, limit: int
) -> tuple[list[StreamSummary], str | None]:
    """Up to ``limit`` streams (of one table, or all), in (table, label) order; and the last ARN if more remain."""
    now = SETTINGS.clock()
    prefix = keys.ALL_STREAMS if table_name is None else keys.table_streams(table_name)
    start = prefix
    if start_arn is not None:
        parsed = lifecycle.parse_arn(db, start_arn)
        if parsed is None:
            raise lifecycle.stream_not_found(start_arn)
        start = max(prefix, keys.stream(*parsed) + b"\x00")
    found: list[StreamSummary] = []
    more = False
    with db.store.transaction(write=False) as txn:
        for _, raw in txn.range(start, prefix_end(prefix)):
            stream = orjson.loads(raw)
            if lifecycle.gone(stream, now):
                continue
            if len(found) == limit:
                more = True
                break
            found.append(StreamSummary(stream["arn"], stream["table"], stream["label"]))
        if table_name is not None and not found and start_arn is None and find_table(txn, table_name) is None:
            raise ResourceNotFoundException(f"Requested resource not found: Table: {table_name} not found")
    return found, (found[-1].arn if more else None)


def _shards(txn: Txn, stream: Stream, after: int | None) -> Iterator[dict[str, Any]]:
    prefix = keys.shards(stream["id"])
    start = prefix if after is None else keys.shard(stream["id"], after + 1)
    for _, raw in txn.range(start, prefix_end(prefix)):
        yield orjson.loads(raw)


def _is_shard(txn: Txn, stream: Stream, shard_id: str) -> bool:
    number = lifecycle.shard_number(shard_id)
    if number is None:
        return False
    shard = lifecycle.load(txn, keys.shard(stream["id"], number))
    return shard is not None and shard["id"] == shard_id


def describe_stream(
    db: Database, arn: str, limit: int, start_shard_id: str | None, child_of: str | None = None
) -> StreamInfo:
    """A stream and up to ``limit`` of its shards after ``start_shard_id``.

    ``child_of`` (DescribeStream's ShardFilter CHILD_SHARDS) keeps only the
    shards whose parent is that shard id.  A child is always opened after its
    parent, so the walk starts past the parent's number; a parent already
    trimmed away still names its children, and an id that is no shard of this
    stream has none.
    """
    now = SETTINGS.clock()
    stream = retention.stream_for(db, arn, now)
    after = None if start_shard_id is None else lifecycle.shard_number(start_shard_id)
    parent = None if child_of is None else lifecycle.shard_number(child_of)
    if parent is not None and (after is None or parent > after):
        after = parent
    shards: list[Shard] = []
    more = False
    with db.store.transaction(write=False) as txn:
        found = _shards(txn, stream, after) if child_of is None or parent is not None else iter(())
        if start_shard_id is not None and not _is_shard(txn, stream, start_shard_id):
            # DynamoDB answers an ExclusiveStartShardId that is no shard of
            # the stream with no shards (not the shards after its number).
            found = iter(())
        for shard in found:
            if child_of is not None and shard["parent"] != child_of:
                continue
            if len(shards) == limit:
                more = True
                break
            shards.append(Shard(shard["id"], shard["parent"], shard["start"], shard["end"]))
    return StreamInfo(
        arn=stream["arn"],
        label=stream["label"],
        enabled=stream["disabled"] is None,
        view=stream["view"],
        created=stream["created"],
        table=stream["table"],
        key_schema=stream["key_schema"],
        shards=shards,
        last_shard_id=shards[-1].id if more else None,
    )


def _load_shard(db: Database, stream: Stream, number: int, shard_id: str) -> dict[str, Any]:
    with db.store.transaction(write=False) as txn:
        shard = lifecycle.load(txn, keys.shard(stream["id"], number))
    if shard is None or shard["id"] != shard_id:
        raise lifecycle.shard_not_found()
    return shard


def get_shard_iterator(db: Database, arn: str, shard_id: str, kind: str, sequence: int | None) -> str:
    now = SETTINGS.clock()
    stream = retention.stream_for(db, arn, now)
    number = lifecycle.shard_number(shard_id)
    if number is None:
        raise lifecycle.shard_not_found()
    shard = _load_shard(db, stream, number, shard_id)
    last = shard["end"] if shard["end"] is not None else max(stream["last_seq"], shard["start"] - 1)
    if kind == "TRIM_HORIZON":
        after = max(shard["start"] - 1, stream["trimmed"])
    elif kind == "LATEST":
        after = last
    else:
        if sequence is None:
            raise ValidationException("SequenceNumber must be specified for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER")
        if not shard["start"] <= sequence <= max(last, shard["start"]):
            raise ValidationException(
                f"Invalid SequenceNumber for ShardIteratorType: {kind}, "
                f"SequenceNumber: {lifecycle.sequence_text(sequence)}"
            )
        if sequence <= stream["trimmed"]:
            raise lifecycle.trimmed()
        after = sequence - 1 if kind == "AT_SEQUENCE_NUMBER" else sequence
    return encode_iterator(Position(stream["arn"], number, after, now))


def get_records(db: Database, token: str, limit: int) -> RecordsPage:
    position = decode_iterator(token)
    now = SETTINGS.clock()
    check_fresh(position, now)
    parsed = lifecycle.parse_arn(db, position.arn)
    stream = None if parsed is None else retention.maintained(db, parsed[0], parsed[1], now)
    if stream is None:
        raise lifecycle.stream_not_found(position.arn)
    with db.store.transaction(write=False) as txn:
        shard = lifecycle.load(txn, keys.shard(stream["id"], position.shard))
        if shard is None:
            raise lifecycle.trimmed()
        end = shard["end"]
        if position.after < stream["trimmed"] and (end is None or position.after < end):
            raise lifecycle.trimmed()
        start = keys.record(stream["id"], position.shard, position.after + 1)
        records: list[dict[str, Any]] = []
        size = 0
        full = False
        for _, raw in txn.range(start, prefix_end(keys.records(stream["id"], position.shard)), limit=limit):
            if records and size + len(raw) > MAX_RECORDS_BYTES:
                full = True
                break
            size += len(raw)
            record = orjson.loads(raw)
            del record["_t"]
            records.append(record)
    last = int(records[-1]["dynamodb"]["SequenceNumber"]) if records else position.after
    exhausted = len(records) < limit and not full
    if end is not None and (last >= end or exhausted):
        return RecordsPage(records, None)
    return RecordsPage(records, encode_iterator(Position(position.arn, position.shard, last, now)))
