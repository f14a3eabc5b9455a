"""``Store.group``'s contract — many transactions, one COMMIT — on every backend that groups.

SQLite groups for the writer process (``protocol/writer.py``), PostgreSQL for
the storage threads (``protocol/storage_threads.py``); both keep the one
contract below.  What only one backend does stays in its own module
(test_sqlite_group.py, test_postgres_group.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from cellstore.errors import ConditionalCheckFailedException
from cellstore.storage.base import Store

pytestmark = pytest.mark.parametrize("store", ["sqlite-file", "postgres"], indirect=True)

Committed = Callable[[bytes], "bytes | None"]


@pytest.fixture
def committed(request: pytest.FixtureRequest, store: Store, tmp_path: Path) -> Committed:
    """``key`` as another connection (another process or front end) sees it: only what is committed."""
    if request.node.callspec.params["store"] == "postgres":
        import psycopg

        dsn = request.getfixturevalue("postgres_dsn")

        def on_postgres(key: bytes) -> bytes | None:
            with psycopg.connect(dsn, autocommit=True) as conn:
                row = conn.execute("SELECT v FROM kv WHERE k = %s", (key,)).fetchone()
            return None if row is None else bytes(row[0])

        return on_postgres

    def on_sqlite(key: bytes) -> bytes | None:
        conn = sqlite3.connect(tmp_path / "db.sqlite")  # the file the ``store`` fixture opened
        try:
            row = conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        finally:
            conn.close()
        return None if row is None else bytes(row[0])

    return on_sqlite


def test_transactions_in_a_group_see_each_other_and_commit_together(store: Store, committed: Committed) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with store.transaction(write=False) as txn:
            assert txn.get(b"a") == b"1"  # a later transaction sees an earlier one's write
        with store.stale_read() as txn:
            assert txn.get(b"a") == b"1"  # an eventually consistent read too
        with store.transaction(write=True) as txn:
            txn.put(b"b", b"2")
            assert [key for key, _ in txn.range(b"a", b"c")] == [b"a", b"b"]  # queued writes are sent first
        assert committed(b"a") is None  # nothing is durable before the group's COMMIT
    assert not group.spoiled
    assert committed(b"a") == b"1"
    assert committed(b"b") == b"2"


def test_a_failure_before_any_write_leaves_the_group_whole(store: Store, committed: Committed) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.get(b"a")
            raise ConditionalCheckFailedException()
        with store.transaction(write=True) as txn:
            txn.put(b"b", b"2")
    assert not group.spoiled
    assert committed(b"a") == b"1"
    assert committed(b"b") == b"2"


def test_a_failure_after_a_write_spoils_the_group_and_nothing_commits(store: Store, committed: Committed) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.put(b"half", b"written")
            raise ConditionalCheckFailedException()
    assert group.spoiled
    assert committed(b"a") is None
    assert committed(b"half") is None
    with store.transaction(write=False) as txn:  # the connection is usable again
        assert txn.get(b"a") is None


def test_an_exception_out_of_the_group_rolls_it_back(store: Store, committed: Committed) -> None:
    with pytest.raises(RuntimeError), store.group():
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        raise RuntimeError("the writer stopped mid-round")
    assert committed(b"a") is None


def test_groups_do_not_nest(store: Store) -> None:
    with store.group(), pytest.raises(RuntimeError), store.group():
        pass
