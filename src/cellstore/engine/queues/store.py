"""A message's records and indexes: the one place they are written or removed.

A message is its record under "m" plus one entry in the when-visible index
"w", one in the retention index "r" and, in a FIFO queue, one in its group's
order "g" (see ``keys.py``).  Every change of a message goes through
``insert``, ``save`` or ``remove`` here so the indexes can never disagree with
the record, and so does the FIFO group record (``fifo.py``).  A caller that
changes several messages of one group (a receive) passes the group it has
loaded and saves it once at the end; otherwise each call loads and saves it.
"""

from __future__ import annotations

from cellstore.engine.queues import fifo, keys
from cellstore.engine.queues.model import Message, Queue
from cellstore.storage.base import Txn

NEVER_RECEIVED, RECEIVED = b"d", b"f"


def load(txn: Txn, queue: Queue, seq: int) -> Message | None:
    raw = txn.get(keys.message(queue.id, seq))
    return None if raw is None else Message.from_json(raw)


def next_seq(txn: Txn, queue: Queue, count: int = 1) -> int:
    """Reserve ``count`` sequence numbers; returns the first."""
    key = keys.counter(queue.id)
    raw = txn.get(key)
    last = int(raw) if raw is not None else 0
    txn.put(key, str(last + count).encode("ascii"))
    return last + 1


def insert(txn: Txn, queue: Queue, message: Message) -> None:
    txn.put(keys.message(queue.id, message.seq), message.to_json())
    txn.put(keys.visible(queue.id, message.visible_ms, message.seq), _state(message))
    txn.put(keys.retention(queue.id, message.expires_ms, message.seq), b"")
    if message.group is not None and queue.fifo:
        fifo.appended(txn, queue, message)


def save(txn: Txn, queue: Queue, message: Message, previous_visible_ms: int, group: fifo.Group | None = None) -> None:
    """Write a changed message (received, or its visibility changed)."""
    if previous_visible_ms != message.visible_ms:
        txn.delete(keys.visible(queue.id, previous_visible_ms, message.seq))
    txn.put(keys.visible(queue.id, message.visible_ms, message.seq), _state(message))
    txn.put(keys.message(queue.id, message.seq), message.to_json())
    if message.group is not None and queue.fifo and message.receive_count:
        if group is not None:
            group.received(message)
        else:
            mine = fifo.load(txn, queue, message.group)
            mine.received(message)
            fifo.save(txn, queue, mine)


def remove(txn: Txn, queue: Queue, message: Message, now_ms: int, group: fifo.Group | None = None) -> None:
    txn.delete(keys.message(queue.id, message.seq))
    txn.delete(keys.visible(queue.id, message.visible_ms, message.seq))
    txn.delete(keys.retention(queue.id, message.expires_ms, message.seq))
    if message.group is not None and queue.fifo:
        txn.delete(keys.group_member(queue.id, message.group, message.seq))
        if group is not None:
            group.removed(message.seq)
        else:
            mine = fifo.load(txn, queue, message.group)
            mine.removed(message.seq)
            fifo.save(txn, queue, mine)


def _state(message: Message) -> bytes:
    return RECEIVED if message.receive_count else NEVER_RECEIVED


def counts(txn: Txn, queue: Queue, now_ms: int) -> tuple[int, int, int]:
    """(visible, in flight, delayed): ApproximateNumberOfMessages{,NotVisible,Delayed}."""
    start, now_end = keys.visible_range(queue.id, now_ms)
    visible, _ = txn.range_stats(start, now_end)
    _, end = keys.visible_range(queue.id)
    in_flight = delayed = 0
    for _, state in txn.range(now_end, end):
        if state == RECEIVED:
            in_flight += 1
        else:
            delayed += 1
    return visible, in_flight, delayed


def expire(txn: Txn, queue: Queue, now_ms: int, limit: int = 100) -> int:
    """Remove up to ``limit`` messages whose retention period has passed."""
    start, end = keys.retention_range(queue.id, now_ms)
    expired = [key for key, _ in txn.range(start, end, limit=limit)]
    for key in expired:
        message = load(txn, queue, keys.read_u64(key[-8:]))
        if message is not None:
            remove(txn, queue, message, now_ms)
        else:  # an orphan index entry: nothing to keep
            txn.delete(key)
    return len(expired)
