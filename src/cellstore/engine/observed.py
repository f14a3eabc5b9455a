"""Figures ``/metrics`` reads when scraped that no AWS operation answers: cheap reads, one key or one row each.

* a queue's oldest message's age (CloudWatch's ApproximateAgeOfOldestMessage):
  message records are keyed by a per-queue sequence number that only grows
  (``queues/keys.py``), so the first record of the queue's range is the
  oldest one still there — received or not, as CloudWatch counts it;
* a stream's records written: the stream record's ``last_seq``
  (``streams/lifecycle.py``), bumped in every change's own transaction, so
  it counts every worker's writes and survives restarts;
* the storage backend's own figures (``Store.figures``).
"""

from __future__ import annotations

from cellstore.engine.database import Database
from cellstore.engine.queues import catalog, keys, model, queues_for
from cellstore.engine.streams import keys as stream_keys
from cellstore.engine.streams import lifecycle


def oldest_message_ages(db: Database, names: list[str]) -> dict[str, float]:
    """Seconds since the oldest message still in each queue was sent; 0 for an empty queue, none for a deleted one."""
    queues = queues_for(db)
    now_ms = queues.now_ms()
    ages: dict[str, float] = {}
    with db.store.transaction(write=False) as txn:
        for name in names:
            queue = catalog.find(txn, name)
            if queue is None:
                continue
            start, end = keys.messages(queue.id)
            first = next(iter(txn.range(start, end, limit=1)), None)
            sent_ms = now_ms if first is None else model.Message.from_json(first[1]).sent_ms
            ages[name] = max(0, now_ms - sent_ms) / 1000
    return ages


def stream_records_written(db: Database, streams: dict[str, str]) -> dict[str, int]:
    """Records written to each table's stream, given {table: LatestStreamLabel}; none for a stream that is gone."""
    written: dict[str, int] = {}
    with db.store.transaction(write=False) as txn:
        for table, label in streams.items():
            stream = lifecycle.load(txn, stream_keys.stream(table, label))
            if stream is not None:
                written[table] = int(stream["last_seq"])
    return written


def storage_figures(db: Database) -> dict[str, float]:
    """The backend's figures by name (``Store.figures``): SQLite's WAL and checkpoints, PostgreSQL's pool."""
    return db.store.figures()
