"""Retention: records older than ``retention_seconds`` are trimmed, disabled streams dropped.

A little is trimmed on each write (``TRIM_PER_WRITE``, by the change hook)
and, before a read, everything due in a write transaction of its own
(``maintained``) — only if something is due, so a read of a quiet stream
stays a read transaction.  A closed shard is forgotten once every record in
it is trimmed and it closed before the horizon; a disabled stream, once its
retention period has passed since it was disabled.
"""

from __future__ import annotations

import orjson

from cellstore.engine.database import Database
from cellstore.engine.streams import keys, lifecycle
from cellstore.engine.streams.lifecycle import Stream
from cellstore.engine.streams.settings import SETTINGS
from cellstore.storage.base import Txn, prefix_end

TRIM_PER_WRITE = 64
TRIM_PER_BATCH = 1000


def trim(txn: Txn, stream: Stream, now: float, limit: int) -> bool:
    """Delete up to ``limit`` expired records of ``stream``; True if more may be due."""
    horizon = now - SETTINGS.retention_seconds
    prefix = keys.records(stream["id"])
    stream["oldest"] = None
    batch = list(txn.range(prefix, prefix_end(prefix), limit=limit))
    for key, raw in batch:
        created = orjson.loads(raw)["_t"]
        if created > horizon:
            stream["oldest"] = created
            break
        txn.delete(key)
        stream["trimmed"] = keys.seq_of(key)
        stream["oldest"] = created  # still due if the batch ran out
    else:
        if len(batch) < limit:
            stream["oldest"] = None
    _drop_old_shards(txn, stream, horizon)
    return stream["oldest"] is not None and stream["oldest"] <= horizon


def _drop_old_shards(txn: Txn, stream: Stream, horizon: float) -> None:
    """Forget closed shards whose every record is trimmed and that closed before the horizon."""
    prefix = keys.shards(stream["id"])
    for key, raw in list(txn.range(prefix, prefix_end(prefix))):
        shard = orjson.loads(raw)
        if shard["end"] is None or shard["closed"] > horizon or (shard["count"] and shard["end"] > stream["trimmed"]):
            break
        txn.delete(key)


def _drop_stream(txn: Txn, stream: Stream) -> None:
    for prefix in (keys.records(stream["id"]), keys.shards(stream["id"])):
        txn.delete_range(prefix, prefix_end(prefix))
    txn.delete(keys.stream(stream["table"], stream["label"]))


def maintained(db: Database, table_name: str, label: str, now: float) -> Stream | None:
    """The stream record after any due trimming; None if there is no such stream (any more)."""
    key = keys.stream(table_name, label)
    with db.store.transaction(write=False) as txn:
        stream = lifecycle.load(txn, key)
    if stream is None:
        return None
    due = stream["oldest"] is not None and stream["oldest"] + SETTINGS.retention_seconds <= now
    if not due and not lifecycle.gone(stream, now):
        return stream
    with db.store.transaction(write=True) as txn:
        stream = lifecycle.load(txn, key)
        if stream is None:
            return None
        if lifecycle.gone(stream, now):
            _drop_stream(txn, stream)
            return None
        while trim(txn, stream, now, TRIM_PER_BATCH):
            pass
        lifecycle.save(txn, stream)
        return stream


def stream_for(db: Database, arn: str, now: float) -> Stream:
    """The maintained stream of ``arn``, or ResourceNotFoundException."""
    parsed = lifecycle.parse_arn(db, arn)
    stream = None if parsed is None else maintained(db, parsed[0], parsed[1], now)
    if stream is None:
        raise lifecycle.stream_not_found(arn)
    return stream
