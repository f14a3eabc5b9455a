"""The data format's history: ordered data migrations, beside the schema migrations.

``storage/migrations.py`` versions the storage schema (the SQL table the
keyspace lives in); this module versions what the engine keeps *in* the
keyspace.  The version is the decimal text at ``keyspace.DATA_FORMAT``
(absent: 0).  ``migrate`` — run by ``wiring.open_database`` — applies every
migration above it in one write transaction with the version bump, so a
crash leaves the old format or the new one, and ``serve --workers N``
processes opening at once serialise on the write lock and the second finds
the work done.  A database at a version above ``LATEST`` was written by a
newer cellstore and is refused with ``DataFormatTooNew``.

A migration lets the code drop its compatibility path for the old layout:
the code reads only the current format.

Adding one: append a ``DataMigration`` with the next number.  Never edit or
renumber one that has shipped.

Given a ``StatusLine`` (``cellstore migrate`` passes one on stderr,
``serve`` one whose lines are log records, so ``--log-format json`` holds), ``migrate`` shows each migration as it starts and says when it is
done and how long it took: redrawn on a terminal, plain lines in a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cellstore.engine import keyspace
from cellstore.engine.queues import fifo
from cellstore.engine.queues import keys as queue_keys
from cellstore.engine.queues.model import Message, Queue
from cellstore.engine.streams import lifecycle
from cellstore.engine.streams.settings import SETTINGS
from cellstore.engine.tables import find_table, save_table
from cellstore.progress import StatusLine
from cellstore.storage.base import Store, Txn, prefix_end


@dataclass(frozen=True, slots=True)
class DataMigration:
    version: int
    description: str
    apply: Callable[[Txn], None]


class DataFormatTooNew(RuntimeError):
    """The keyspace was written by a newer cellstore; this one must not touch it."""


def _table_names(txn: Txn) -> list[str]:
    start = keyspace.TABLES
    return [key[len(start):].decode("utf-8") for key, _ in txn.range(start, prefix_end(start))]


def _streams_for_enabled_tables(txn: Txn) -> None:
    """Give every table whose stream is enabled but was never created (before streams were kept) its stream."""
    for name in _table_names(txn):
        table = find_table(txn, name)
        if table is None or "StreamSpecification" not in table.description:
            continue
        if lifecycle.current(txn, table) is None:
            lifecycle.create(txn, table, SETTINGS.clock())
            save_table(txn, table)


def _fifo_groups_in_the_current_layout(txn: Txn) -> None:
    """FIFO queues: every "g" entry carries its message's visible-at, every group record is JSON.

    The older layout stored an empty "g" value (the time was read from the
    message) and an 8-byte ready-at as the group record (its received prefix
    found by scanning the group).  Entries are fixed first, because
    rewriting a group record reads its head's visible-at from them.  A
    message still in a "g" entry has never been received unless it is in
    the group's received prefix, so its visible-at now is its visible-at as
    sent; an entry whose message is gone is dropped (it was skipped anyway).
    """
    records = keyspace.QUEUE_RECORDS
    for _, raw in list(txn.range(records, prefix_end(records))):
        queue = Queue.from_json(raw)
        if not queue.fifo:
            continue
        base = queue_keys.data(queue.id)
        for key, value in list(txn.range(base + b"g", base + b"h")):
            if len(value) == 8:
                continue
            message = txn.get(queue_keys.message(queue.id, queue_keys.read_u64(key[-8:])))
            if message is None:
                txn.delete(key)
            else:
                txn.put(key, queue_keys.u64(Message.from_json(message).visible_ms))
        for key, value in list(txn.range(base + b"G", base + b"H")):
            if value[:1] == b"{":
                continue
            name = key[len(base) + 1:].decode("utf-8")
            group = fifo.Group(name, queue_keys.read_u64(value), _received_prefix(txn, queue, name), value)
            fifo.save(txn, queue, group)


def _received_prefix(txn: Txn, queue: Queue, name: str) -> dict[int, int]:
    """The received prefix of a group in the older layout: its front messages that were received."""
    prefix: dict[int, int] = {}
    for seq, _ in fifo.upcoming(txn, queue, name, None, 100):
        raw = txn.get(queue_keys.message(queue.id, seq))
        if raw is None:
            continue
        message = Message.from_json(raw)
        if not message.receive_count:
            break
        prefix[seq] = message.visible_ms
    return prefix


DATA_MIGRATIONS: tuple[DataMigration, ...] = (
    DataMigration(1, "a stream for every table with StreamSpecification enabled", _streams_for_enabled_tables),
    DataMigration(
        2, "FIFO group records as JSON, and every group entry with its visible-at", _fifo_groups_in_the_current_layout
    ),
)

LATEST = DATA_MIGRATIONS[-1].version


def _version(txn: Txn) -> int:
    raw = txn.get(keyspace.DATA_FORMAT)
    return 0 if raw is None else int(raw)


def migrate(store: Store, status: StatusLine | None = None) -> int:
    """Bring the keyspace to ``LATEST``; returns the version found.  ``status`` shows each migration run."""
    with store.transaction(write=False) as txn:
        found = _version(txn)
    if found == LATEST:
        return found
    with store.transaction(write=True) as txn:
        found = _version(txn)
        if found > LATEST:
            raise DataFormatTooNew(
                f"the data was written by a newer cellstore (data format {found} > {LATEST}); upgrade cellstore"
            )
        todo = [m for m in DATA_MIGRATIONS if m.version > found]
        for number, migration in enumerate(todo, 1):
            if status is not None:
                status.show(f"data migration {number} of {len(todo)} (format {migration.version}): {migration.description}")
            started = time.monotonic()
            migration.apply(txn)
            if status is not None:
                status.say(f"data migration {number} of {len(todo)} (format {migration.version}) done in "
                           f"{time.monotonic() - started:.2f}s: {migration.description}")
        if todo:
            txn.put(keyspace.DATA_FORMAT, str(todo[-1].version).encode("ascii"))
    return found
