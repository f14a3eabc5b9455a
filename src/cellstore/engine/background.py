"""The engine's background work: what each unit does (``engine/wiring.py`` declares them).

* ``backfill`` (``run_backfills``) — runs pending backfills (a table being
  restored from a backup, a global index being created, TTL being enabled on
  a populated table) to completion; woken
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

An index backfill logs its progress (logger ``cellstore.backfill``, which
``serve`` prints): a line when a process starts on it, one every
``PROGRESS_SECONDS`` with the items read so far — counted from the saved
cursor, so the figure is right whichever worker did the steps — and one when
the index turns ACTIVE.
"""

from __future__ import annotations

import logging
import time

from cellstore.engine import backups, indexes, keycodec, keyspace, ttl
from cellstore.engine.database import Database
from cellstore.engine.tables import Table, find_table
from cellstore.storage.base import Txn, prefix_end

BACKFILL_POLL = 1.0
#: Seconds between two progress lines of one index backfill.
PROGRESS_SECONDS = 2.0

log = logging.getLogger("cellstore.backfill")


class _IndexProgress:
    """The log lines of one process's part in one index's backfill: started, every few seconds, ACTIVE."""

    def __init__(self, table: str, index: str) -> None:
        self.table, self.index = table, index
        self.started = time.monotonic()
        self.last = float("-inf")

    def step(self, txn: Txn, table: Table) -> None:
        """After a step that left more to do (``table`` as that step saved it): a line if one is due."""
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        first = self.last == float("-inf")
        self.last = now
        prefix = keycodec.table_prefix(table.id)
        total = txn.range_stats(prefix, prefix_end(prefix))[0]
        cursor = table.state["indexes"][self.index].get("cursor")
        done = total if cursor is None else txn.range_stats(prefix, bytes.fromhex(cursor) + b"\x00")[0]
        percent = 100 * done // total if total else 100
        what = "backfilling" if first else "backfill of"
        log.info("%s index %s of table %s: %d of %d items read (%d%%)", what, self.index, self.table, done, total, percent)

    def finished(self) -> None:
        log.info("index %s of table %s is ACTIVE: backfill done (%.1fs in this process)",
                 self.index, self.table, time.monotonic() - self.started)


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
        progress: _IndexProgress | None = None
        while more and not db.closing:
            with db.store.transaction(write=True) as txn:
                table = find_table(txn, name)
                pending = [] if table is None else indexes.pending_backfills(table)
                # Keep stepping until a step finds nothing left to do.
                if table is not None and backups.restore_pending(table):
                    backups.restore_step(txn, table)
                elif table is not None and pending:
                    if progress is None or progress.index != pending[0]:
                        progress = _IndexProgress(name, pending[0])
                    if indexes.backfill_index_step(txn, table, pending[0]):
                        progress.step(txn, table)
                    else:
                        progress.finished()
                        progress = None
                elif table is not None and ttl.backfill_pending(table):
                    ttl.backfill_step(txn, table)
                else:
                    txn.delete(markers + name.encode("utf-8"))
                    more = False
