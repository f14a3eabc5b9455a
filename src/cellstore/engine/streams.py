"""DynamoDB Streams in the engine: a durable, ordered record of every item change.

A table's stream is written by a change hook (``changes.on_change``) inside
the storage transaction of the change itself, so a record exists exactly when
its change committed — never one without the other, across crashes and
across ``serve --workers N`` processes.  Sequence numbers come from a counter
in the stream's own record, incremented in that write transaction; write
transactions are serialised, so sequence order is commit order and, per item
key, the order the changes happened.

Keyspace (docs/STREAMS.md explains the choices):

    0x06 "seq"                                      last stream id issued
    0x06 "n" <table name> 0x00 <label>              stream record (JSON)
    0x06 "h" <stream id:8> <shard number:8>         shard record (JSON)
    0x06 "r" <stream id:8> <shard number:8> <seq:16> stream record, AWS shape (JSON)

A stream has one open shard at a time.  It is closed, and a child shard
opened with ``ParentShardId`` pointing at it, when it holds
``shard_max_records`` records or has been open ``shard_max_age_seconds`` (both
checked when a record is written, so an idle stream keeps its shard open).
Records older than ``retention_seconds`` are trimmed: a little on each write
and, before a read, in a write transaction of its own if anything is due.
A disabled stream stays readable for ``retention_seconds`` after it was
disabled, then is gone.

The settings are module state so tests can shorten them; ``CELLSTORE_STREAM_*``
environment variables set them for a served process.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

from cellstore.engine import changes
from cellstore.engine.database import Database
from cellstore.engine.tables import Table, find_table, save_table
from cellstore.engine.values import item_size
from cellstore.errors import (
    ExpiredIteratorException,
    ResourceNotFoundException,
    TrimmedDataAccessException,
    ValidationException,
)
from cellstore.storage.base import Txn, prefix_end

if TYPE_CHECKING:
    from cellstore.engine.items import WriteResult

STREAMS = b"\x06"
_SEQ = STREAMS + b"seq"
_BY_NAME = STREAMS + b"n"
_SHARDS = STREAMS + b"h"
_RECORDS = STREAMS + b"r"

VIEW_TYPES = ("NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY")
ITERATOR_TYPES = ("TRIM_HORIZON", "LATEST", "AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
MAX_RECORDS_BYTES = 1024 * 1024  # GetRecords returns at most 1 MB
_TRIM_PER_WRITE = 64
_TRIM_PER_BATCH = 1000
_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw is None else float(raw)


@dataclass(slots=True)
class Settings:
    retention_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_RETENTION_SECONDS", 24 * 3600))
    shard_max_age_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_SHARD_SECONDS", 4 * 3600))
    shard_max_records: int = field(default_factory=lambda: int(_env("CELLSTORE_STREAM_SHARD_RECORDS", 10_000)))
    iterator_ttl_seconds: float = field(default_factory=lambda: _env("CELLSTORE_STREAM_ITERATOR_SECONDS", 15 * 60))
    clock: Callable[[], float] = time.time


SETTINGS = Settings()


def stream_not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")


def shard_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("Requested resource not found: Shard does not exist")


def trimmed() -> TrimmedDataAccessException:
    return TrimmedDataAccessException()


def sequence_text(seq: int) -> str:
    """A sequence number as AWS shows it: decimal, zero-padded to 21 digits."""
    return f"{seq:021d}"


# ---- keys -----------------------------------------------------------------


def _stream_key(table_name: str, label: str) -> bytes:
    return _BY_NAME + table_name.encode("utf-8") + b"\x00" + label.encode("ascii")


def _shard_key(stream_id: int, number: int) -> bytes:
    return _SHARDS + stream_id.to_bytes(8, "big") + number.to_bytes(8, "big")


def _record_prefix(stream_id: int, number: int | None = None) -> bytes:
    prefix = _RECORDS + stream_id.to_bytes(8, "big")
    return prefix if number is None else prefix + number.to_bytes(8, "big")


def _record_key(stream_id: int, number: int, seq: int) -> bytes:
    return _record_prefix(stream_id, number) + seq.to_bytes(16, "big")


def _seq_of_key(key: bytes) -> int:
    return int.from_bytes(key[-16:], "big")


def _label(epoch: float) -> str:
    """DynamoDB's stream label: the UTC creation time to the millisecond, no zone."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def parse_arn(db: Database, arn: str) -> tuple[str, str] | None:
    """(table name, label) of a stream ARN of this database, or None."""
    prefix = db.table_arn("")
    if not arn.startswith(prefix):
        return None
    name, marker, label = arn[len(prefix):].partition("/stream/")
    if not marker or not name or "/" in name or not label or "/" in label or "\x00" in name:
        return None
    return name, label


# ---- the stream record ------------------------------------------------------


def _load(txn: Txn, key: bytes) -> dict[str, Any] | None:
    raw = txn.get(key)
    return None if raw is None else orjson.loads(raw)


def _save(txn: Txn, stream: dict[str, Any]) -> None:
    txn.put(_stream_key(stream["table"], stream["label"]), orjson.dumps(stream))


def _gone(stream: dict[str, Any], now: float) -> bool:
    """A disabled stream lives on for the retention period, then is gone."""
    disabled = stream["disabled"]
    return disabled is not None and disabled + SETTINGS.retention_seconds <= now


def _shard_id(number: int, now: float) -> str:
    """``shardId-<creation ms:20>-<8 hex>``, AWS's shape; the hex is the shard number."""
    return f"shardId-{int(now * 1000):020d}-{number:08x}"


def _shard_number(shard_id: str) -> int | None:
    try:
        return int(shard_id.rsplit("-", 1)[1], 16)
    except (IndexError, ValueError):
        return None


def _open_shard(txn: Txn, stream: dict[str, Any], now: float, parent: str | None) -> None:
    number = stream["shards"]
    stream["shards"] += 1
    shard = {"id": _shard_id(number, now), "parent": parent, "start": stream["next_seq"], "end": None, "closed": None}
    txn.put(_shard_key(stream["id"], number), orjson.dumps(shard))
    stream["shard"] = number
    stream["shard_records"] = 0
    stream["shard_opened"] = now


def _close_shard(txn: Txn, stream: dict[str, Any], now: float) -> str:
    """Close the open shard at the last sequence number it holds; returns its id."""
    key = _shard_key(stream["id"], stream["shard"])
    shard = orjson.loads(txn.get(key) or b"{}")
    shard["end"] = stream["last_seq"] if stream["shard_records"] else shard["start"]
    shard["count"] = stream["shard_records"]
    shard["closed"] = now
    txn.put(key, orjson.dumps(shard))
    stream["shard"] = None
    return str(shard["id"])


def _roll_if_due(txn: Txn, stream: dict[str, Any], now: float) -> None:
    count = stream["shard_records"]
    if count >= SETTINGS.shard_max_records or (count and now - stream["shard_opened"] >= SETTINGS.shard_max_age_seconds):
        parent = _close_shard(txn, stream, now)
        _open_shard(txn, stream, now, parent)


def follow_table(txn: Txn, table: Table) -> None:
    """Make the table's streams match its StreamSpecification (CreateTable, UpdateTable).

    Enabling creates a new stream (a new label and ARN, recorded in the
    description as LatestStreamArn/LatestStreamLabel); disabling closes the
    current one, which stays readable, DISABLED, for the retention period.
    """
    now = SETTINGS.clock()
    description = table.description
    enabled = description.get("StreamSpecification", {}).get("StreamEnabled", False)
    current = _current(txn, table)
    if enabled and current is None:
        _create(txn, table, now)
    elif not enabled and current is not None:
        _disable(txn, current, now)


def table_deleted(txn: Txn, table: Table) -> None:
    """DeleteTable: the table's enabled stream becomes DISABLED (and readable for a while)."""
    current = _current(txn, table)
    if current is not None:
        _disable(txn, current, SETTINGS.clock())


def _current(txn: Txn, table: Table) -> dict[str, Any] | None:
    """The table's enabled stream, if it has one."""
    label = table.description.get("LatestStreamLabel")
    if label is None:
        return None
    stream = _load(txn, _stream_key(table.name, label))
    if stream is None or stream["disabled"] is not None or stream["table_id"] != table.id:
        return None
    return stream


def _create(txn: Txn, table: Table, now: float) -> dict[str, Any]:
    """A new stream for ``table`` (ARN and region taken from its TableArn), recorded in its description."""
    table_arn = table.description["TableArn"]
    created = now
    label = _label(created)
    while txn.get(_stream_key(table.name, label)) is not None:  # labels are unique per table
        created += 0.001
        label = _label(created)
    raw = txn.get(_SEQ)
    stream_id = 1 if raw is None else int(raw) + 1
    txn.put(_SEQ, str(stream_id).encode())
    stream: dict[str, Any] = {
        "id": stream_id,
        "arn": f"{table_arn}/stream/{label}",
        "label": label,
        "table": table.name,
        "table_id": table.id,
        "region": table_arn.split(":")[3],
        "view": table.description["StreamSpecification"]["StreamViewType"],
        "key_schema": table.description["KeySchema"],
        "created": now,
        "disabled": None,
        "next_seq": 1,
        "last_seq": 0,
        "trimmed": 0,  # every sequence number <= this has been trimmed
        "oldest": None,  # creation time of the oldest untrimmed record
        "shards": 0,  # shard numbers handed out
        "shard": None,  # the open shard's number
        "shard_records": 0,
        "shard_opened": now,
    }
    _open_shard(txn, stream, now, None)
    _save(txn, stream)
    table.description["LatestStreamArn"] = stream["arn"]
    table.description["LatestStreamLabel"] = label
    return stream


def _disable(txn: Txn, stream: dict[str, Any], now: float) -> None:
    _close_shard(txn, stream, now)
    stream["disabled"] = now
    _save(txn, stream)


# ---- writing records ----------------------------------------------------------


@changes.on_change
def record_change(txn: Txn, result: WriteResult) -> None:
    """Append the stream record of one item change, in the change's own transaction."""
    description = result.table.description
    if "StreamSpecification" not in description:
        return
    now = SETTINGS.clock()
    stream = _current(txn, result.table)
    if stream is None:
        # A table whose stream was enabled before cellstore kept streams: start one now.
        # ``result.table`` may be the shared parsed record (tables.load_table), so
        # work on this transaction's own fresh copy; it also sees a stream an
        # earlier action of the same transaction started.
        table = find_table(txn, result.table.name) or result.table.copy()
        stream = _current(txn, table)
        if stream is None:
            stream = _create(txn, table, now)
            save_table(txn, table)
    key = _stream_key(stream["table"], stream["label"])
    if stream["oldest"] is not None and stream["oldest"] + SETTINGS.retention_seconds <= now:
        _trim(txn, stream, now, _TRIM_PER_WRITE)
    _roll_if_due(txn, stream, now)
    seq = stream["next_seq"]
    stream["next_seq"] = seq + 1
    stream["last_seq"] = seq
    stream["shard_records"] += 1
    if stream["oldest"] is None:
        stream["oldest"] = now
    txn.put(_record_key(stream["id"], stream["shard"], seq), orjson.dumps(build_record(stream, result, seq, now)))
    txn.put(key, orjson.dumps(stream))


def build_record(stream: dict[str, Any], result: WriteResult, seq: int, now: float) -> dict[str, Any]:
    """The stream record of ``result`` as GetRecords returns it (plus ``_t``, the exact time)."""
    view = stream["view"]
    keys = result.table.key_of(result.new if result.new is not None else result.old or {})
    if result.old is None:
        name = "INSERT"
    elif result.new is None:
        name = "REMOVE"
    else:
        name = "MODIFY"
    body: dict[str, Any] = {"ApproximateCreationDateTime": int(now), "Keys": keys}
    size = item_size(keys)
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and result.new is not None:
        body["NewImage"] = result.new
        size += item_size(result.new)
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and result.old is not None:
        body["OldImage"] = result.old
        size += item_size(result.old)
    body["SequenceNumber"] = sequence_text(seq)
    body["SizeBytes"] = size
    body["StreamViewType"] = view
    record: dict[str, Any] = {
        "eventID": uuid.uuid4().hex,
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": stream["region"],
        "dynamodb": body,
    }
    if result.origin == "ttl":
        record["userIdentity"] = dict(_TTL_IDENTITY)
    record["_t"] = now
    return record


# ---- retention ----------------------------------------------------------------


def _trim(txn: Txn, stream: dict[str, Any], now: float, limit: int) -> bool:
    """Delete up to ``limit`` expired records of ``stream``; True if more may be due."""
    horizon = now - SETTINGS.retention_seconds
    prefix = _record_prefix(stream["id"])
    seen = 0
    stream["oldest"] = None
    for key, raw in list(txn.range(prefix, prefix_end(prefix), limit=limit)):
        created = orjson.loads(raw)["_t"]
        if created > horizon:
            stream["oldest"] = created
            break
        seen += 1
        txn.delete(key)
        stream["trimmed"] = _seq_of_key(key)
        stream["oldest"] = created  # still due if the batch ran out
    else:
        if seen < limit:
            stream["oldest"] = None
    _drop_old_shards(txn, stream, horizon)
    return stream["oldest"] is not None and stream["oldest"] <= horizon


def _drop_old_shards(txn: Txn, stream: dict[str, Any], horizon: float) -> None:
    """Forget closed shards whose every record is trimmed and that closed before the horizon."""
    prefix = _SHARDS + stream["id"].to_bytes(8, "big")
    for key, raw in list(txn.range(prefix, prefix_end(prefix))):
        shard = orjson.loads(raw)
        if shard["end"] is None or shard["closed"] > horizon or (shard["count"] and shard["end"] > stream["trimmed"]):
            break
        txn.delete(key)


def _drop_stream(txn: Txn, stream: dict[str, Any]) -> None:
    for prefix in (_record_prefix(stream["id"]), _SHARDS + stream["id"].to_bytes(8, "big")):
        txn.delete_range(prefix, prefix_end(prefix))
    txn.delete(_stream_key(stream["table"], stream["label"]))


def _maintained(db: Database, table_name: str, label: str, now: float) -> dict[str, Any] | None:
    """The stream record after any due trimming; None if there is no such stream (any more)."""
    key = _stream_key(table_name, label)
    with db.store.transaction(write=False) as txn:
        stream = _load(txn, key)
    if stream is None:
        return None
    due = stream["oldest"] is not None and stream["oldest"] + SETTINGS.retention_seconds <= now
    if not due and not _gone(stream, now):
        return stream
    with db.store.transaction(write=True) as txn:
        stream = _load(txn, key)
        if stream is None:
            return None
        if _gone(stream, now):
            _drop_stream(txn, stream)
            return None
        while _trim(txn, stream, now, _TRIM_PER_BATCH):
            pass
        _save(txn, stream)
        return stream


def _stream_for(db: Database, arn: str, now: float) -> dict[str, Any]:
    parsed = parse_arn(db, arn)
    stream = None if parsed is None else _maintained(db, parsed[0], parsed[1], now)
    if stream is None:
        raise stream_not_found(arn)
    return stream


# ---- the Streams API, in engine terms ----------------------------------------


def _summary(stream: dict[str, Any]) -> dict[str, Any]:
    return {"StreamArn": stream["arn"], "TableName": stream["table"], "StreamLabel": stream["label"]}


def list_streams(
    db: Database, table_name: str | None, start_arn: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to ``limit`` streams (of one table, or all), in (table, label) order; and the last ARN if more remain."""
    now = SETTINGS.clock()
    prefix = _BY_NAME if table_name is None else _BY_NAME + table_name.encode("utf-8") + b"\x00"
    start = prefix
    if start_arn is not None:
        parsed = parse_arn(db, start_arn)
        if parsed is None:
            raise stream_not_found(start_arn)
        start = max(prefix, _stream_key(*parsed) + b"\x00")
    found: list[dict[str, Any]] = []
    more = False
    with db.store.transaction(write=False) as txn:
        for _, raw in txn.range(start, prefix_end(prefix)):
            stream = orjson.loads(raw)
            if _gone(stream, now):
                continue
            if len(found) == limit:
                more = True
                break
            found.append(_summary(stream))
        if table_name is not None and not found and start_arn is None and find_table(txn, table_name) is None:
            raise ResourceNotFoundException(f"Requested resource not found: Table: {table_name} not found")
    return found, (found[-1]["StreamArn"] if more else None)


def _shards(txn: Txn, stream: dict[str, Any], after: int | None) -> Iterator[tuple[int, dict[str, Any]]]:
    prefix = _SHARDS + stream["id"].to_bytes(8, "big")
    start = prefix if after is None else _shard_key(stream["id"], after + 1)
    for key, raw in txn.range(start, prefix_end(prefix)):
        yield int.from_bytes(key[-8:], "big"), orjson.loads(raw)


def _shard_shape(shard: dict[str, Any]) -> dict[str, Any]:
    numbers = {"StartingSequenceNumber": sequence_text(shard["start"])}
    if shard["end"] is not None:
        numbers["EndingSequenceNumber"] = sequence_text(shard["end"])
    shape: dict[str, Any] = {"ShardId": shard["id"], "SequenceNumberRange": numbers}
    if shard["parent"] is not None:
        shape["ParentShardId"] = shard["parent"]
    return shape


def describe_stream(db: Database, arn: str, limit: int, start_shard_id: str | None) -> dict[str, Any]:
    now = SETTINGS.clock()
    stream = _stream_for(db, arn, now)
    after = None if start_shard_id is None else _shard_number(start_shard_id)
    shards: list[dict[str, Any]] = []
    more = False
    with db.store.transaction(write=False) as txn:
        for _, shard in _shards(txn, stream, after):
            if len(shards) == limit:
                more = True
                break
            shards.append(_shard_shape(shard))
    description: dict[str, Any] = {
        "StreamArn": stream["arn"],
        "StreamLabel": stream["label"],
        "StreamStatus": "ENABLED" if stream["disabled"] is None else "DISABLED",
        "StreamViewType": stream["view"],
        "CreationRequestDateTime": stream["created"],
        "TableName": stream["table"],
        "KeySchema": stream["key_schema"],
        "Shards": shards,
    }
    if more:
        description["LastEvaluatedShardId"] = shards[-1]["ShardId"]
    return description


# ---- iterators ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """Where a shard iterator points: the next record read has a sequence number > ``after``."""

    arn: str
    shard: int
    after: int
    issued: float


def _digest(arn: str, shard: int, after: int, issued_ms: int) -> str:
    return hashlib.blake2b(f"{arn}|{shard}|{after}|{issued_ms}".encode(), digest_size=8).hexdigest()


def encode_iterator(position: Position) -> str:
    """``<stream arn>|1|<base64>``: the shape of AWS's iterators; everything needed is inside."""
    issued_ms = int(position.issued * 1000)
    payload = orjson.dumps(
        [position.shard, position.after, issued_ms, _digest(position.arn, position.shard, position.after, issued_ms)]
    )
    return f"{position.arn}|1|{base64.b64encode(payload).decode('ascii')}"


def decode_iterator(token: str) -> Position:
    try:
        arn, version, blob = token.rsplit("|", 2)
        shard, after, issued_ms, digest = orjson.loads(base64.b64decode(blob, validate=True))
        valid = version == "1" and digest == _digest(arn, shard, after, issued_ms)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        valid = False
    if not valid:
        raise ValidationException("Invalid ShardIterator")
    return Position(arn, int(shard), int(after), issued_ms / 1000)


def _expired(issued: float, now: float) -> ExpiredIteratorException:
    def shown(epoch: float) -> str:
        return datetime.fromtimestamp(epoch, timezone.utc).strftime("%a %b %d %H:%M:%S UTC %Y")

    return ExpiredIteratorException(
        f"Iterator expired. The iterator was created at time {shown(issued)} while right now it is "
        f"{shown(now)} which is further in the future than the tolerated delay of "
        f"{int(SETTINGS.iterator_ttl_seconds * 1000)} milliseconds."
    )


def _load_shard(db: Database, stream: dict[str, Any], number: int, shard_id: str) -> dict[str, Any]:
    with db.store.transaction(write=False) as txn:
        shard = _load(txn, _shard_key(stream["id"], number))
    if shard is None or shard["id"] != shard_id:
        raise shard_not_found()
    return shard


def get_shard_iterator(db: Database, arn: str, shard_id: str, kind: str, sequence: int | None) -> str:
    now = SETTINGS.clock()
    stream = _stream_for(db, arn, now)
    number = _shard_number(shard_id)
    if number is None:
        raise shard_not_found()
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
                f"Invalid SequenceNumber for ShardIteratorType: {kind}, SequenceNumber: {sequence_text(sequence)}"
            )
        if sequence <= stream["trimmed"]:
            raise trimmed()
        after = sequence - 1 if kind == "AT_SEQUENCE_NUMBER" else sequence
    return encode_iterator(Position(stream["arn"], number, after, now))


@dataclass(slots=True)
class RecordsPage:
    records: list[dict[str, Any]]
    next_iterator: str | None


def get_records(db: Database, token: str, limit: int) -> RecordsPage:
    position = decode_iterator(token)
    now = SETTINGS.clock()
    if position.issued + SETTINGS.iterator_ttl_seconds <= now:
        raise _expired(position.issued, now)
    parsed = parse_arn(db, position.arn)
    stream = None if parsed is None else _maintained(db, parsed[0], parsed[1], now)
    if stream is None:
        raise stream_not_found(position.arn)
    with db.store.transaction(write=False) as txn:
        shard = _load(txn, _shard_key(stream["id"], position.shard))
        if shard is None:
            raise trimmed()
        end = shard["end"]
        if position.after < stream["trimmed"] and (end is None or position.after < end):
            raise trimmed()
        start = _record_key(stream["id"], position.shard, position.after + 1)
        records: list[dict[str, Any]] = []
        size = 0
        full = False
        for _, raw in txn.range(start, prefix_end(_record_prefix(stream["id"], position.shard)), limit=limit):
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
