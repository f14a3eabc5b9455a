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

An SQLite cell of ``serve --cells --workers N`` has a ``writer``: the
worker's connection to the cell's writer process, which the router sends
the cell's writes to from the event loop once the account's services are
``ready`` here (docs/CELLS.md, "A writer per SQLite cell").  A PostgreSQL
cell's bulkhead has storage threads (``Bulkhead.storage``): its services
hand every operation to them, and the router calls those from the event
loop too (``sends``; docs/CELLS.md, "PostgreSQL cells").
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
from cellstore.protocol.storage_threads import OFFLOADED
from cellstore.protocol.wire import Service
from cellstore.protocol.writer import WRITES, is_write
from cellstore.protocol.writer_client import WriterClient
from cellstore.protocol.writer_client import probe as probe_writer

#: Starts an account's background work beyond the engine's own on its database in this cell (see above).
StartAccount = Callable[[Database], None]

#: Seconds of request counts kept for the request rate ``cells status`` shows.
RATE_WINDOW = 10

_NO_WRITES: frozenset[str] = frozenset()


class RateMeter:
    """Requests per second over about the last ``RATE_WINDOW`` seconds.

    ``count`` is on every request's path, so it only adds one; ``sample``,
    called each health round (``Router._health_loop``, every 2 s) and by
    ``rate``, notes the total with the time, and the rate is the difference
    over the window.
    """

    def __init__(self) -> None:
        self.total = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque([(time.monotonic(), 0)])

    def count(self) -> None:
        self.total += 1

    def sample(self) -> None:
        """Note the total now; samples older than the window (but the newest such) are dropped."""
        now = time.monotonic()
        samples = self._samples
        if now - samples[-1][0] >= 1.0:  # at most one a second, however often ``rate`` is asked
            samples.append((now, self.total))
        while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW:
            samples.popleft()

    def rate(self) -> float:
        self.sample()
        then, before = self._samples[0]
        elapsed = time.monotonic() - then
        return 0.0 if elapsed <= 0 else (self.total - before) / elapsed


class Cell:
    """A cell of this front end: ``tenants`` (its storage), ``bulkhead`` (its threads), services per account.

    With ``writer``, ``services_for``'s services hand the operations in
    ``writer.WRITES`` to it, wrapped by nothing that reads storage or the
    network (the metering at most), so the event loop may call them.  With
    ``bulkhead.storage``, they hand every operation of the services in
    ``storage_threads.OFFLOADED`` to those threads (``deployment.open_router``
    wraps them so), so the loop may call those too.
    """

    def __init__(
        self, config: CellConfig, tenants: Tenants, services_for: ServicesFor, bulkhead: Bulkhead,
        start_account: StartAccount | None = None, writer: WriterClient | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.tenants = tenants
        self.bulkhead = bulkhead
        self.writer = writer
        self.requests = RateMeter()
        self.failures = 0
        # The accounts' databases and services, built once each, as on a one-backend server.
        self.backend = OneBackend(tenants, services_for)
        self._start_account = start_account
        self._started: set[str] = set()
        self._starting = threading.Lock()
        self._ready: dict[str, Mapping[str, Service]] = {}  # accounts opened and started here: ``ready``
        self._forgets = 0  # moves on every ``forget``

    def services(self, account: str) -> Mapping[str, Service]:
        """``account``'s services in this cell (run it on the bulkhead: the first call opens its database)."""
        found = self._ready.get(account)
        if found is not None:
            return found
        forgets = self._forgets
        found = self.backend.services(account)
        with self._starting:
            if self._start_account is not None and account not in self._started:
                self._start_account(self.tenants.database(account))
                self._started.add(account)
            if forgets == self._forgets:  # no ``forget`` meanwhile, which may have closed what ``found`` uses
                self._ready[account] = found
        return found

    def sends(self, service: str, operation: str, payload: object) -> bool:
        """Whether the event loop may call this operation's dispatch itself (``ready``): it only hands it over.

        A PartiQL request of SELECTs only is no write (``writer.is_write``):
        it is read on the cell's thread, as a worker reads it without cells.
        """
        if self.bulkhead.storage is not None:
            return service in OFFLOADED
        return self.writer is not None and is_write(WRITES.get(service, _NO_WRITES), operation, payload)

    def ready(self, account: str) -> Mapping[str, Service] | None:
        """``account``'s services if ``services`` has opened them already (so calling this reads no storage), else None."""
        return self._ready.get(account)

    def forget(self, account: str) -> None:
        """``account`` moved away: close its database here (its background work stops with it)."""
        with self._starting:
            self._forgets += 1
            self._ready.pop(account, None)
            self._started.discard(account)
            self.backend.forget(account)

    def stored_bytes(self) -> int:
        """Bytes of values stored in this cell, all accounts together (run it on the bulkhead: it reads storage)."""
        return stored_bytes(self.tenants)

    def probe(self, timeout: float = 5.0) -> None:
        """Return when this cell can take a write (run it on the bulkhead): its storage's write lock taken and
        let go, by its writer process when it has one (which must then answer within ``timeout``)."""
        if self.writer is None:
            probe(self.tenants)
        else:
            probe_writer(self.writer.address, timeout)

    def close(self) -> None:
        self.bulkhead.close()
        self.tenants.close()
