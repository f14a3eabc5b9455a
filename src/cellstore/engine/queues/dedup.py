"""FIFO deduplication: a MessageDeduplicationId is remembered for five minutes.

The record outlives the message (deleting a message does not make its id
sendable again), so it is kept apart from it under "d", with an expiry
index "e" that sends sweep a few entries of at a time.  With
DeduplicationScope=messageGroup the id is remembered per group.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from cellstore.engine.queues import keys
from cellstore.engine.queues.model import Queue
from cellstore.storage.base import Txn

WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Remembered:
    message_id: str
    sequence_number: str | None


def content_id(body: str) -> str:
    """ContentBasedDeduplication's id: SHA-256 of the body, in hex."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def scoped(queue: Queue, group: str | None, dedup_id: str) -> str:
    return f"{group}\x00{dedup_id}" if queue.dedup_per_group and group is not None else dedup_id


def recall(txn: Txn, queue: Queue, key: str, now_ms: int) -> Remembered | None:
    raw = txn.get(keys.dedup(queue.id, key))
    if raw is None:
        return None
    record = orjson.loads(raw)
    if record["expires_ms"] <= now_ms:
        return None
    return Remembered(record["message_id"], record.get("sequence_number"))


def remember(txn: Txn, queue: Queue, key: str, now_ms: int, message_id: str, sequence_number: str | None) -> None:
    previous = txn.get(keys.dedup(queue.id, key))
    if previous is not None:
        txn.delete(keys.dedup_expiry(queue.id, orjson.loads(previous)["expires_ms"], key))
    expires = now_ms + WINDOW_MS
    record = {"message_id": message_id, "sequence_number": sequence_number, "expires_ms": expires}
    txn.put(keys.dedup(queue.id, key), orjson.dumps(record))
    txn.put(keys.dedup_expiry(queue.id, expires, key), b"")


def sweep(txn: Txn, queue: Queue, now_ms: int, limit: int = 50) -> None:
    """Forget up to ``limit`` ids whose window has passed."""
    start, end = keys.dedup_expiry_range(queue.id, now_ms)
    skip = len(start) + 8
    for key, _ in list(txn.range(start, end, limit=limit)):
        txn.delete(key)
        txn.delete(keys.dedup(queue.id, key[skip:].decode("utf-8")))
