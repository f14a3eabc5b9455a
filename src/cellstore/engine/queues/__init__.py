"""The queue engine: SQS standard and FIFO queues over the storage door.

A ``Queues`` is the engine's handle for one database: the ``Database`` (its
store, region and account), the ``Clock`` every stored time comes from, and
the ``Wakeups`` hub that tells long-polling receivers a message arrived.
Operations are module functions taking it first, one concept per module:

* ``catalog``   — create, find, list, delete, purge queues; attributes; tags
* ``attributes``— the settable attributes, their defaults and checks
* ``store``     — a message's records and indexes: the one place they change
* ``fifo``      — message groups: which can be served, and when
* ``dedup``     — the five-minute deduplication window
* ``send``/``receive``/``visibility`` — the message life cycle
* ``redrive``   — dead-letter moves, sources and message move tasks
* ``md5``       — SQS's digests of bodies and message attributes
* ``visible``   — whether anything is receivable now (the long-poll peek)

The keyspace layout is in ``keys.py`` and docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import threading
import weakref

from cellstore.engine.database import Database
from cellstore.engine.queues.clock import Clock, SystemClock
from cellstore.engine.queues.visible import something_visible
from cellstore.engine.queues.wakeups import Wakeups


class Queues:
    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.wakeups = Wakeups(self._peek)

    def now_ms(self) -> int:
        return self.clock.now_ms()

    def arn(self, name: str) -> str:
        return f"arn:aws:sqs:{self.db.region}:{self.db.account}:{name}"

    def _peek(self, queue_id: int) -> bool:
        return something_visible(self.db.store, self.now_ms(), queue_id)


_engines: weakref.WeakKeyDictionary[Database, Queues] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def queues_for(db: Database) -> Queues:
    """The one ``Queues`` of ``db`` in this process (its wake-ups must be shared)."""
    with _engines_lock:
        engine = _engines.get(db)
        if engine is None:
            engine = _engines[db] = Queues(db)
        return engine
