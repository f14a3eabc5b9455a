"""One cell as a front end holds it: its tenants' databases, its bulkhead and its request counts.

A cell is a complete engine over its own storage: a fenced ``Tenants``
(each account in its own keyspace, every transaction checking the account's
move fence), with its own background work per account (TTL, stream
retention, backfills: each account's ``Database`` runs them from when it is
opened here until it is forgotten) and its own ``Bulkhead``.  Nothing is
shared between cells but the router in front of them.

Work that the engine does not start by itself — the handlers of ``serve
--handlers`` — is ``start_account``: called once with an account's database
the first time the account is served here, so it runs in whichever cell the
map places the account.  When the account moves away its database is
forgotten here and that work stops with it (its own state, such as a
handler's checkpoint, is in the account's keyspace and moves too); the
target cell starts it on its first use there.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping

from cellstore.api import Database, Tenants
from cellstore.cells.bulkhead import Bulkhead
from cellstore.cells.config import CellConfig
from cellstore.engine.cell_stats import probe, stored_bytes
from cellstore.protocol.directory import OneBackend, ServicesFor
from cellstore.protocol.wire import Service

#: Starts an account's background work beyond the engine's own on its database in this cell (see above).
StartAccount = Callable[[Database], None]

#: Seconds of request counts kept for the request rate ``cells status`` shows.
RATE_WINDOW = 10


class RateMeter:
    """Requests per second over the last ``RATE_WINDOW`` whole seconds (one counter per second)."""

    def __init__(self) -> None:
        self.total = 0
        self._buckets: collections.deque[list[int]] = collections.deque(maxlen=RATE_WINDOW + 1)

    def count(self) -> None:
        self.total += 1
        now = int(time.monotonic())
        buckets = self._buckets
        if buckets and buckets[-1][0] == now:
            buckets[-1][1] += 1
        else:
            buckets.append([now, 1])

    def rate(self) -> float:
        now = int(time.monotonic())
        return sum(n for second, n in self._buckets if now - RATE_WINDOW <= second < now) / RATE_WINDOW


class Cell:
    """A cell of this front end: ``tenants`` (its storage), ``bulkhead`` (its threads), services per account."""

    def __init__(
        self, config: CellConfig, tenants: Tenants, services_for: ServicesFor, bulkhead: Bulkhead,
        start_account: StartAccount | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.tenants = tenants
        self.bulkhead = bulkhead
        self.requests = RateMeter()
        self.failures = 0
        # The accounts' databases and services, built once each, as on a one-backend server.
        self.backend = OneBackend(tenants, services_for)
        self._start_account = start_account
        self._started: set[str] = set()
        self._starting = threading.Lock()

    def services(self, account: str) -> Mapping[str, Service]:
        """``account``'s services in this cell (run it on the bulkhead: the first call opens its database)."""
        found = self.backend.services(account)
        if self._start_account is not None and account not in self._started:
            with self._starting:
                if account not in self._started:
                    self._start_account(self.tenants.database(account))
                    self._started.add(account)
        return found

    def forget(self, account: str) -> None:
        """``account`` moved away: close its database here (its background work stops with it)."""
        with self._starting:
            self._started.discard(account)
            self.backend.forget(account)

    def stored_bytes(self) -> int:
        """Bytes of values stored in this cell, all accounts together (run it on the bulkhead: it reads storage)."""
        return stored_bytes(self.tenants)

    def probe(self) -> None:
        """Return when this cell's storage answers a read (run it on the bulkhead)."""
        probe(self.tenants)

    def close(self) -> None:
        self.bulkhead.close()
        self.tenants.close()
