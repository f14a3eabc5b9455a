"""One cell as a front end holds it: its tenants' databases, its bulkhead and its request counts.

A cell is a complete engine over its own storage: a fenced ``Tenants``
(each account in its own keyspace, every transaction checking the account's
move fence), with its own background work per account (TTL, stream
retention, backfills) and its own ``Bulkhead``.  Nothing is shared between
cells but the router in front of them.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping

from cellstore.api import Tenants
from cellstore.cells.bulkhead import Bulkhead
from cellstore.cells.config import CellConfig
from cellstore.engine.cell_stats import probe, stored_bytes
from cellstore.protocol.directory import ServicesFor
from cellstore.protocol.wire import Service

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

    def __init__(self, config: CellConfig, tenants: Tenants, services_for: ServicesFor, bulkhead: Bulkhead) -> None:
        self.config = config
        self.name = config.name
        self.tenants = tenants
        self.bulkhead = bulkhead
        self.requests = RateMeter()
        self.failures = 0
        self._services_for = services_for
        self._services: dict[str, Mapping[str, Service]] = {}
        self._lock = threading.Lock()

    def services(self, account: str) -> Mapping[str, Service]:
        """``account``'s services in this cell (opening its database here the first time)."""
        found = self._services.get(account)
        if found is None:
            with self._lock:
                found = self._services.get(account)
                if found is None:
                    found = self._services[account] = self._services_for(self.tenants.database(account))
        return found

    def forget(self, account: str) -> None:
        """``account`` moved away: close its database here (its background work stops with it)."""
        with self._lock:
            self._services.pop(account, None)
        self.tenants.forget(account)

    def stored_bytes(self) -> int:
        """Bytes of values stored in this cell, all accounts together (run it on the bulkhead: it reads storage)."""
        return stored_bytes(self.tenants)

    def probe(self) -> None:
        """Return when this cell's storage answers a read (run it on the bulkhead)."""
        probe(self.tenants)

    def close(self) -> None:
        self.bulkhead.close()
        self.tenants.close()
