"""A stream's life: created when a table enables it, shards rolled over, disabled, gone.

A table's stream has one open shard at a time.  It is closed, and a child
shard opened with its ``parent`` pointing at it, when it holds
``shard_max_records`` records or has been open ``shard_max_age_seconds``
(both checked when a record is written, so an idle stream keeps its shard
open).  Enabling a table's stream creates a new stream (a new label and ARN,
recorded in the table description as LatestStreamArn/LatestStreamLabel);
disabling it — or deleting the table — closes the current one, which stays
readable, DISABLED, for the retention period, then is gone.

The stream record (JSON, under ``keys.stream``) holds the stream's identity
and its counters: the next sequence number, the open shard and how full it
is, and how far retention has trimmed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from cellstore.engine.database import Database
from cellstore.engine.streams import keys
from cellstore.engine.streams.settings import SETTINGS
from cellstore.engine.tables import Table
from cellstore.errors import ResourceNotFoundException, TrimmedDataAccessException
from cellstore.storage.base import Txn

Stream = dict[str, Any]
"""A stream record as stored (JSON): see ``create`` for its fields."""


def stream_not_found(arn: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Requested resource not found: Stream: {arn} not found")


def shard_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("Requested resource not found: Shard does not exist")


def trimmed() -> TrimmedDataAccessException:
    return TrimmedDataAccessException()


def sequence_text(seq: int) -> str:
    """A sequence number as AWS shows it: decimal, zero-padded to 21 digits."""
    return f"{seq:021d}"


def label_of(epoch: float) -> str:
    """DynamoDB's stream label: the UTC creation time to the millisecond, no zone."""
    moment = datetime.fromtimestamp(epoch, UTC)
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


def shard_id(number: int, now: float) -> str:
    """``shardId-<creation ms:20>-<8 hex>``, AWS's shape; the hex is the shard number."""
    return f"shardId-{int(now * 1000):020d}-{number:08x}"


def shard_number(shard_id: str) -> int | None:
    try:
        return int(shard_id.rsplit("-", 1)[1], 16)
    except (IndexError, ValueError):
        return None


# ---- the stream record ------------------------------------------------------


def load(txn: Txn, key: bytes) -> dict[str, Any] | None:
    raw = txn.get(key)
    return None if raw is None else orjson.loads(raw)


def save(txn: Txn, stream: Stream) -> None:
    txn.put(keys.stream(stream["table"], stream["label"]), orjson.dumps(stream))


def gone(stream: Stream, now: float) -> bool:
    """A disabled stream lives on for the retention period, then is gone."""
    disabled = stream["disabled"]
    return disabled is not None and disabled + SETTINGS.retention_seconds <= now


def current(txn: Txn, table: Table) -> Stream | None:
    """The table's enabled stream, if it has one."""
    label = table.description.get("LatestStreamLabel")
    if label is None:
        return None
    stream = load(txn, keys.stream(table.name, label))
    if stream is None or stream["disabled"] is not None or stream["table_id"] != table.id:
        return None
    return stream


def create(txn: Txn, table: Table, now: float) -> Stream:
    """A new stream for ``table`` (ARN and region taken from its TableArn), recorded in its description."""
    table_arn = table.description["TableArn"]
    created = now
    label = label_of(created)
    while txn.get(keys.stream(table.name, label)) is not None:  # labels are unique per table
        created += 0.001
        label = label_of(created)
    raw = txn.get(keys.SEQ)
    stream_id = 1 if raw is None else int(raw) + 1
    txn.put(keys.SEQ, str(stream_id).encode())
    stream: Stream = {
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
    open_shard(txn, stream, now, None)
    save(txn, stream)
    table.description["LatestStreamArn"] = stream["arn"]
    table.description["LatestStreamLabel"] = label
    return stream


def disable(txn: Txn, stream: Stream, now: float) -> None:
    close_shard(txn, stream, now)
    stream["disabled"] = now
    save(txn, stream)


def follow_table(txn: Txn, table: Table) -> None:
    """Make the table's streams match its StreamSpecification (CreateTable, UpdateTable)."""
    now = SETTINGS.clock()
    enabled = table.description.get("StreamSpecification", {}).get("StreamEnabled", False)
    found = current(txn, table)
    if enabled and found is None:
        create(txn, table, now)
    elif not enabled and found is not None:
        disable(txn, found, now)


def table_deleted(txn: Txn, table: Table) -> None:
    """DeleteTable: the table's enabled stream becomes DISABLED (and readable for a while)."""
    found = current(txn, table)
    if found is not None:
        disable(txn, found, SETTINGS.clock())


# ---- shards -------------------------------------------------------------------


def open_shard(txn: Txn, stream: Stream, now: float, parent: str | None) -> None:
    number = stream["shards"]
    stream["shards"] += 1
    shard = {"id": shard_id(number, now), "parent": parent, "start": stream["next_seq"], "end": None, "closed": None}
    txn.put(keys.shard(stream["id"], number), orjson.dumps(shard))
    stream["shard"] = number
    stream["shard_records"] = 0
    stream["shard_opened"] = now


def close_shard(txn: Txn, stream: Stream, now: float) -> str:
    """Close the open shard at the last sequence number it holds; returns its id."""
    key = keys.shard(stream["id"], stream["shard"])
    shard = orjson.loads(txn.get(key) or b"{}")
    shard["end"] = stream["last_seq"] if stream["shard_records"] else shard["start"]
    shard["count"] = stream["shard_records"]
    shard["closed"] = now
    txn.put(key, orjson.dumps(shard))
    stream["shard"] = None
    return str(shard["id"])


def roll_if_due(txn: Txn, stream: Stream, now: float) -> None:
    """Close a full or old open shard and open its child."""
    count = stream["shard_records"]
    if count >= SETTINGS.shard_max_records or (count and now - stream["shard_opened"] >= SETTINGS.shard_max_age_seconds):
        parent = close_shard(txn, stream, now)
        open_shard(txn, stream, now, parent)
