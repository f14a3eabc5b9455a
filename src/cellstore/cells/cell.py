"""One cell as a front end holds it: its tenants' databases, its bulkhead and its request counts.

A cell is a complete engine over its own storage: a fenced ``Tenants``
(each account in its own keyspace, every transaction checking the account's
move fence), with its own background work per account (TTL, stream
retention, backfills) and its own ``Bulkhead``.  Nothing is shared between
cells but the router in front of them.
"""

from __future__ import annotations

import collections
import time

from cellstore.api import Tenants
from cellstore.cells.bulkhead import Bulkhead
from cellstore.cells.config import CellConfig
from cellstore.engine.cell_stats import probe, stored_bytes
from cellstore.protocol.directory import OneBackend, ServicesFor

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
        # The accounts' databases and services, built once each, as on a one-backend server.
        self.backend = OneBackend(tenants, services_for)
        self.services = self.backend.services

    def forget(self, account: str) -> None:
        """``account`` moved away: close its database here (its background work stops with it)."""
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
