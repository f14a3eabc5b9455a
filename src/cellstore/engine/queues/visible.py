"""Is anything receivable now?  One short range read, for receives and the long-poll peek.

Separate from ``receive`` because the ``Queues`` handle's wake-up hub needs
the peek (``something_visible``) and ``receive`` needs the ``Queues``
handle: here it depends on neither, only on the keyspace layout.
"""

from __future__ import annotations

from cellstore.engine.queues import keys
from cellstore.engine.queues.model import Queue
from cellstore.storage.base import Store, Txn


def anything_due(txn: Txn, queue: Queue, now_ms: int) -> bool:
    """Whether a receive could find anything (read-only, so empty polls take no write lock)."""
    if queue.fifo:
        start, end = keys.ready_range(queue.id, now_ms)
    else:
        start, end = keys.visible_range(queue.id, now_ms)
    return next(iter(txn.range(start, end, limit=1)), None) is not None


def something_visible(store: Store, now_ms: int, queue_id: int) -> bool:
    """The long-poll peek: could a receive on ``queue_id`` get something now?"""
    with store.transaction(write=False) as txn:
        base = keys.data(queue_id)
        has_groups = next(iter(txn.range(base + b"G", base + b"H", limit=1)), None) is not None
        probe = Queue(queue_id, "", {"FifoQueue": "true"} if has_groups else {})
        return anything_due(txn, probe, now_ms)
