"""Tenants: every account of one backend, each seeing a keyspace of its own.

A tenant is an AWS account id.  As in AWS, tables, streams, queues and
handlers belong to an account, and two accounts may each have a table named
``orders``: each account's ``Database`` reads and writes through a
``PrefixedStore`` under ``keyspace.ACCOUNTS + <account id>``, so its table
ids, queue ids, stream sequence numbers and catalog are its own.  The default
account (``DEFAULT_ACCOUNT``) is the root keyspace itself, so a data directory
written before accounts existed is the default account's, unchanged, and a
single-account server pays nothing for the indirection.

``Tenants`` is what a front end holds for one backend (one cell's storage):
it opens an account's database the first time the account is used, and at
start (``open_stored``) every account that already has data, so each
account's background work — TTL sweeps, backfills — runs whether or not a
request for it arrives.

With ``fenced=True`` (a server of cells, where accounts move between
backends) every transaction first reads the account's ``TENANT_FENCE`` key
in its own snapshot and raises ``errors.TenantMoved`` when the account has
been fenced for a move: a front end whose cell map is stale can then neither
write to nor read from the copy left behind.  While a move is under way the
same read finds the moving flag, and write transactions log what they
change (``engine/move_log.py``).
"""

from __future__ import annotations

import functools
import re
import threading
from contextlib import AbstractContextManager

from cellstore.engine import keyspace, wiring
from cellstore.engine.database import Database
from cellstore.engine.move_log import GroupMarks, MovableStore
from cellstore.errors import TenantMoved
from cellstore.storage import PrefixedStore
from cellstore.storage.base import Group, Store, prefix_end

#: The account of every request that names no other (AWS's placeholder account id).
DEFAULT_ACCOUNT = "000000000000"

_ACCOUNT_ID = re.compile(r"[0-9]{12}")


def is_account_id(value: str) -> bool:
    """True for an AWS account id: exactly twelve ASCII digits."""
    return _ACCOUNT_ID.fullmatch(value) is not None


def account_store(store: Store, account: str, *, fenced: bool = False, marks: GroupMarks | None = None) -> Store:
    """``store`` as ``account`` sees it; the default account without a fence gets ``store`` itself.

    ``marks``: the fence checks of the backend's group commits, shared by its accounts (``move_log.GroupMarks``).
    """
    if not is_account_id(account):
        raise ValueError(f"not an account id: {account!r}")
    prefix = b"" if account == DEFAULT_ACCOUNT else keyspace.account_prefix(account)
    if fenced:  # checks the fence, and logs changes while the account moves (engine/move_log.py)
        return MovableStore(store, prefix, marks)
    if not prefix:
        return store
    return PrefixedStore(store, prefix)


def stored_accounts(store: Store) -> list[str]:
    """The non-default accounts with any key in ``store``, in order: a skip-scan, one probe per account."""
    found: list[str] = []
    end = prefix_end(keyspace.ACCOUNTS)
    start = keyspace.ACCOUNTS
    width = len(keyspace.ACCOUNTS) + 12
    with store.transaction(write=False) as txn:
        while True:
            first = next(iter(txn.range(start, end, limit=1)), None)
            if first is None:
                return found
            account = first[0][len(keyspace.ACCOUNTS):width].decode("ascii")
            found.append(account)
            start = prefix_end(first[0][:width])


class Tenants:
    """The accounts of one backend: a ``Database`` per account, opened on first use and closed together."""

    def __init__(
        self,
        store: Store,
        *,
        region: str = "us-east-1",
        ttl_interval: float | None = None,
        background: bool = True,
        fenced: bool = False,
    ) -> None:
        self.store = store
        self.region = region
        self.fenced = fenced
        self._marks = GroupMarks()  # one group commit spans every account: their fence checks, once each per group
        self._open = functools.partial(
            wiring.open_database, region=region, ttl_interval=ttl_interval, background=background
        )
        self._databases: dict[str, Database] = {}
        self._lock = threading.Lock()

    @classmethod
    def of(cls, db: Database) -> Tenants:
        """The accounts of ``db``'s backend, ``db`` serving its own account (for a server handed one database)."""
        tenants = cls(db.store, region=db.region, ttl_interval=db.ttl_interval)
        tenants._databases[db.account] = db
        return tenants

    def database(self, account: str) -> Database:
        """``account``'s database, opened (and its data format brought up to date) on first use."""
        db = self._databases.get(account)
        if db is not None:
            return db
        with self._lock:
            db = self._databases.get(account)
            if db is None:
                db = self._open(account_store(self.store, account, fenced=self.fenced, marks=self._marks), account=account)
                self._databases[account] = db
            return db

    def group(self) -> AbstractContextManager[Group]:
        """A group commit over every account of the backend (``Store.group``), for the writer process.

        Fenced, each account's fence is checked once in it (``move_log.GroupMarks``).
        """
        return self._marks.around(self.store) if self.fenced else self.store.group()

    @property
    def remote(self) -> bool:
        """The backend waits on round trips to a server (``Store.remote``): a front end runs requests on threads."""
        return self.store.remote

    def opened(self) -> list[str]:
        """The accounts whose database this front end has open."""
        return sorted(self._databases)

    def open_stored(self) -> list[str]:
        """Open every account that has data, so that its background work runs; returns them, default first."""
        accounts = [DEFAULT_ACCOUNT, *stored_accounts(self.store)]
        for account in accounts:
            try:
                self.database(account)
            except TenantMoved:
                continue  # moved away: its data here is only the fence
        return accounts

    def forget(self, account: str) -> None:
        """Close ``account``'s database here (it moved to another backend); the backend stays open."""
        with self._lock:
            db = self._databases.pop(account, None)
        if db is not None and db.store is not self.store:
            db.close()
        elif db is not None:
            db.stop()

    def close(self) -> None:
        """Close every account's database, then the backend."""
        with self._lock:
            databases, self._databases = list(self._databases.values()), {}
        for db in databases:
            if db.store is self.store:
                db.stop()
            else:
                db.close()
        self.store.close()
