"""The engine's background work, started by every ``Database``.

* ``backfill`` — runs pending backfills (a global index being created, TTL
  being enabled on a populated table) to completion; woken by the request
  that starts one, and polling every ``BACKFILL_POLL`` seconds so that work
  left by a restart, or started by another worker process, is picked up.
* ``ttl`` — the TTL sweeper, every ``Database.ttl_interval`` seconds.

Both are safe to run in several processes at once (``serve --workers N``):
every unit of work is one short write transaction that re-reads the state it
acts on (the table record with its backfill cursor, the item and its TTL
value) and is idempotent, so a second worker doing the same unit finds it
done.  No leader is elected.
"""

from __future__ import annotations

from cellstore.engine import indexes, ttl
from cellstore.engine.database import Database

BACKFILL_POLL = 1.0


def start(db: Database) -> None:
    db.every("backfill", lambda: BACKFILL_POLL, indexes.run_backfills)
    db.every("ttl", lambda: db.ttl_interval, ttl.sweep)
