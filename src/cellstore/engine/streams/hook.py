"""The change hook: each item change appends its stream record in its own transaction.

``record_change`` is one of the change hooks ``engine/wiring.py`` declares, so
it runs inside the storage transaction of the change itself and a record
exists exactly when its change committed — never one without the other,
across crashes and across ``serve --workers N`` processes.  Sequence numbers
come from a counter in the stream's record, incremented in that write
transaction; write transactions are serialised, so sequence order is commit
order and, per item key, the order the changes happened.

Every table whose StreamSpecification is enabled has a current stream: the
catalog creates it with the table or the UpdateTable that enables it, and
data migration 1 (``engine/migrations.py``) created one for tables enabled
before streams were kept.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from cellstore.engine.changes import WriteResult
from cellstore.engine.streams import keys, lifecycle, retention
from cellstore.engine.streams.settings import SETTINGS
from cellstore.engine.values import item_size
from cellstore.errors import InternalServerError
from cellstore.storage.base import Txn

_TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def record_change(txn: Txn, result: WriteResult) -> None:
    """Append the stream record of one item change, in the change's own transaction."""
    if "StreamSpecification" not in result.table.description:
        return
    now = SETTINGS.clock()
    stream = lifecycle.current(txn, result.table)
    if stream is None:
        raise InternalServerError(f"table {result.table.name} has a stream specification but no stream")
    key = keys.stream(stream["table"], stream["label"])
    if stream["oldest"] is not None and stream["oldest"] + SETTINGS.retention_seconds <= now:
        retention.trim(txn, stream, now, retention.TRIM_PER_WRITE)
    lifecycle.roll_if_due(txn, stream, now)
    seq = stream["next_seq"]
    stream["next_seq"] = seq + 1
    stream["last_seq"] = seq
    stream["shard_records"] += 1
    if stream["oldest"] is None:
        stream["oldest"] = now
    txn.put(keys.record(stream["id"], stream["shard"], seq), orjson.dumps(build_record(stream, result, seq, now)))
    txn.put(key, orjson.dumps(stream))


def build_record(stream: lifecycle.Stream, result: WriteResult, seq: int, now: float) -> dict[str, Any]:
    """The stream record of ``result`` as stored: GetRecords's shape plus ``_t``, the exact time.

    Stored in the shape GetRecords returns so a read is one JSON load per
    record; the shape is part of the data format (a change to it is a data
    migration).
    """
    view = stream["view"]
    keys_ = result.table.key_of(result.new if result.new is not None else result.old or {})
    if result.old is None:
        name = "INSERT"
    elif result.new is None:
        name = "REMOVE"
    else:
        name = "MODIFY"
    body: dict[str, Any] = {"ApproximateCreationDateTime": int(now), "Keys": keys_}
    size = item_size(keys_)
    if view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES") and result.new is not None:
        body["NewImage"] = result.new
        size += item_size(result.new)
    if view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES") and result.old is not None:
        body["OldImage"] = result.old
        size += item_size(result.old)
    body["SequenceNumber"] = lifecycle.sequence_text(seq)
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
