"""The ``store`` fixture: every storage backend, for the contract suites of this folder.

A backend joins by adding itself to the params.  The PostgreSQL one needs the
session's throwaway cluster (tests/conftest.py).  A suite that holds for only
some backends narrows them with ``pytest.mark.parametrize("store", [...],
indirect=True)``; a backend's own module defines its own ``store``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellstore.storage import PrefixedStore
from cellstore.storage.base import Store
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgres", "prefixed"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend: Store
    if request.param == "prefixed":
        # One account's view of a shared backend: it must keep the whole
        # contract, and never see the keys around it (checked at the end).
        shared = SqliteStore(None)
        with shared.transaction(write=True) as txn:
            txn.put(b"\x09", b"before")
            txn.put(b"\x09123456789013", b"after")
        yield PrefixedStore(shared, b"\x09123456789012")
        with shared.transaction(write=False) as txn:
            assert dict(txn.range(b"", b"\xff")).keys() - {b"\x09", b"\x09123456789013"} <= {
                k for k, _ in txn.range(b"\x09123456789012", b"\x09123456789013")
            }
            assert txn.get(b"\x09") == b"before"
            assert txn.get(b"\x09123456789013") == b"after"
        shared.close()
        return
    if request.param == "postgres":
        from cellstore.storage.postgres import PostgresStore

        backend = PostgresStore(request.getfixturevalue("postgres_dsn"))
    elif request.param == "sqlite-memory":
        backend = SqliteStore(None)
    else:
        backend = SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()
