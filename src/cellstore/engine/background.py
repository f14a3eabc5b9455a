"""The engine's background work: what each unit does (``engine/wiring.py`` declares them).

* ``backfill`` (``run_backfills``) — runs pending backfills (a global index
  being created, TTL being enabled on a populated table) to completion; woken
  by the request that starts one, and polling every ``BACKFILL_POLL`` seconds
  so that work left by a restart, or started by another worker process, is
  picked up.
* ``ttl`` (``ttl.sweep``) — the TTL sweeper, every ``Database.ttl_interval``
  seconds.

Both are safe to run in several processes at once (``serve --workers N``):
every unit of work is one short write transaction that re-reads the state it
acts on (the table record with its backfill cursor, the item and its TTL
value) and is idempotent, so a second worker doing the same unit finds it
done.  No leader is elected.
"""

from __future__ import annotations

from cellstore.engine import indexes, keyspace, ttl
from cellstore.engine.database import Database
from cellstore.engine.tables import find_table
from cellstore.storage.base import prefix_end

BACKFILL_POLL = 1.0


def run_backfills(db: Database) -> None:
    """Run every pending backfill (indexes being created, TTL being enabled) to completion.

    Each step is its own short write transaction that re-reads the table
    record, so foreground writes interleave between steps, a restart resumes
    from the saved cursor, and several worker processes may run this at once.
    """
    markers = keyspace.BACKFILLS
    with db.store.transaction(write=False) as txn:
        names = [key[len(markers):].decode("utf-8") for key, _ in txn.range(markers, prefix_end(markers))]
    for name in names:
        more = True
        while more and not db.closing:
            with db.store.transaction(write=True) as txn:
                table = find_table(txn, name)
                pending = [] if table is None else indexes.pending_backfills(table)
                # Keep stepping until a step finds nothing left to do.
                if table is not None and pending:
                    indexes.backfill_index_step(txn, table, pending[0])
                elif table is not None and ttl.backfill_pending(table):
                    ttl.backfill_step(txn, table)
                else:
                    txn.delete(markers + name.encode("utf-8"))
                    more = False
