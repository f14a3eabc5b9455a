"""Where a request goes once its account is known: the ``Directory`` a server routes by.

A tenant is an AWS account id (``engine/tenants.py``).  The protocol layer
finds a request's account — the signed-in principal's under ``--auth
sigv4``, else the access key id when it is twelve digits (the convention
LocalStack users know), else the default account — and asks its directory
for that account's services.  A one-backend server's directory is
``OneBackend``: every account in the same store, dispatched inline.  A
server of cells passes the cell router (``cellstore.cells``), which picks
the account's cell and runs the call inside that cell's bulkhead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from cellstore.api import Database, Tenants
from cellstore.protocol.wire import Service

#: Builds one account's services over its database (``server.services_for``, maybe wrapped).
ServicesFor = Callable[[Database], Mapping[str, Service]]


class Directory(Protocol):
    """What a server routes by: an account's services (raising a ``CellstoreError`` if it has none now).

    ``region`` is the one its ARNs and health check name; ``close`` ends
    every account's background work and closes the backends, when the
    server stops.
    """

    region: str

    def services(self, account: str) -> Mapping[str, Service]: ...

    def close(self) -> None: ...


class OneBackend:
    """Every account in one backend: ``tenants``' database for the account, its services built once and kept."""

    def __init__(self, tenants: Tenants, services_for: ServicesFor) -> None:
        self.tenants = tenants
        self.region = tenants.region
        self._services_for = services_for
        self._services: dict[str, Mapping[str, Service]] = {}
        self._lock = threading.Lock()

    def services(self, account: str) -> Mapping[str, Service]:
        found = self._services.get(account)
        if found is None:
            with self._lock:
                found = self._services.get(account)
                if found is None:
                    found = self._services[account] = self._services_for(self.tenants.database(account))
        return found

    def forget(self, account: str) -> None:
        """``account`` moved to another backend: drop its services and close its database here."""
        with self._lock:
            self._services.pop(account, None)
        self.tenants.forget(account)

    def close(self) -> None:
        self.tenants.close()
