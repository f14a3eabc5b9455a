"""The engine's handle: one storage backend plus the identity AWS responses carry.

Everything the api layer asks of the engine goes through a ``Database``; it is
deliberately thin (operations live in their own engine modules and take the
database as their first argument) so that cells and caches can wrap it later.

It carries what ``engine/wiring.py`` declares: the ordered change hooks every
item change runs (``items.apply``), and the background units (index backfill,
the TTL sweeper) — daemon threads started with the database and stopped,
finishing the short transaction they are in, by ``close``.  Build one with
``wiring.open_database``; this module knows none of the hooks or units.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from cellstore.engine.changes import ChangeHook
from cellstore.storage.base import Group, Store

log = logging.getLogger("cellstore.background")

TTL_INTERVAL_ENV = "CELLSTORE_TTL_INTERVAL"
DEFAULT_TTL_INTERVAL = 10.0


class _Task:
    """``work(db)`` run now and then every ``interval()`` seconds, or sooner when woken."""

    def __init__(self, db: Database, name: str, interval: Callable[[], float], work: Callable[[Database], object]):
        self.wakeup = threading.Event()
        self._db = db
        self._interval = interval
        self._work = work
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def _loop(self) -> None:
        db = self._db
        while not db.closing:
            try:
                self._work(db)
            except Exception:  # a failed round is retried next round
                if not db.closing:
                    log.exception("background task %s failed", self.thread.name)
            self.wakeup.wait(self._interval())
            self.wakeup.clear()


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of background work: ``work(db)`` now and every ``interval(db)`` seconds."""

    name: str
    interval: Callable[[Database], float]
    work: Callable[[Database], object]


class Database:
    def __init__(
        self,
        store: Store,
        *,
        hooks: Sequence[ChangeHook],
        units: Sequence[Unit] = (),
        region: str = "us-east-1",
        account: str = "000000000000",
        ttl_interval: float | None = None,
    ) -> None:
        self.store = store
        # The change hooks, in the order they run inside every item change.
        self.hooks: tuple[ChangeHook, ...] = tuple(hooks)
        self.region = region
        self.account = account
        if ttl_interval is None:
            ttl_interval = float(os.environ.get(TTL_INTERVAL_ENV, DEFAULT_TTL_INTERVAL))
        if ttl_interval <= 0:
            raise ValueError("the TTL interval must be a positive number of seconds")
        # Seconds between TTL sweeps: an expired item is deleted within about
        # this long (plus the time to sweep the backlog).
        self.ttl_interval = ttl_interval
        self._closed = threading.Event()
        self._tasks: dict[str, _Task] = {}
        for unit in units:
            self.every(unit.name, functools.partial(unit.interval, self), unit.work)

    def table_arn(self, name: str) -> str:
        return f"arn:aws:dynamodb:{self.region}:{self.account}:table/{name}"

    @property
    def closing(self) -> bool:
        """True once ``close`` began: background loops stop between transactions."""
        return self._closed.is_set()

    def every(self, name: str, interval: Callable[[], float], work: Callable[[Database], object]) -> None:
        """Run ``work(self)`` in a daemon thread now and every ``interval()`` seconds until ``close``."""
        task = _Task(self, name, interval, work)
        self._tasks[name] = task
        task.thread.start()

    def wake(self, name: str) -> None:
        """Run background task ``name`` now rather than at its next interval (no-op if absent)."""
        task = self._tasks.get(name)
        if task is not None:
            task.wakeup.set()

    def group(self) -> AbstractContextManager[Group]:
        """A group commit of this thread's storage transactions (``Store.group``), for the writer process."""
        return self.store.group()

    def snapshot(self) -> AbstractContextManager[object]:
        """One read snapshot for this thread's read transactions (``Store.snapshot``), for a server's storage threads."""
        return self.store.snapshot()

    def stop(self) -> None:
        """Stop the background work, each loop finishing the transaction it is in; the store stays open.

        For a database over a store it does not own (``engine/tenants.py``:
        the default account shares its backend with the other accounts).
        """
        self._closed.set()
        for task in self._tasks.values():
            task.wakeup.set()
        for task in self._tasks.values():
            if task.thread is not threading.current_thread():
                task.thread.join()

    def close(self) -> None:
        self.stop()
        self.store.close()
