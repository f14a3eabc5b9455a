"""PostgreSQL's own part of grouping transactions: a group's lock, a write transaction's reads, a shared snapshot.

The group-commit contract both backends keep is test_group_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg

from cellstore.storage.postgres import PostgresStore, PostgresTxn


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    backend = PostgresStore(postgres_dsn)
    yield backend
    backend.close()


def test_a_group_holds_the_write_lock_until_its_commit(store: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore(postgres_dsn)
    try:
        with store.group():
            with store.transaction(write=True) as txn:
                txn.put(b"a", b"1")
                assert txn.get(b"b") is None  # the first round trip takes the lock (a put alone waits in the queue)
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                conn.execute("SET lock_timeout = '200ms'")
                with pytest.raises(psycopg.errors.LockNotAvailable):
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (int.from_bytes(b"cellstor", "big"),))
        with other.transaction(write=True) as txn:  # free once the group committed
            assert txn.get(b"a") == b"1"
    finally:
        other.close()


def test_a_write_transaction_reads_a_key_once_and_its_own_writes_after(store: PostgresStore) -> None:
    with store.transaction(write=True) as txn:
        txn.put(b"a", b"1")
        txn.put(b"b", b"2")
    with store.transaction(write=True) as txn:
        assert txn.get(b"a") == b"1"
        txn.put(b"a", b"3")
        assert txn.get(b"a") == b"3"
        assert txn.delete_range(b"a", b"c") == 2
        assert txn.get(b"a") is None and txn.get(b"b") is None
    with store.transaction(write=False) as txn:
        assert txn.get(b"a") is None


def test_reads_in_a_shared_snapshot_are_one_transaction(store: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore(postgres_dsn)
    try:
        with store.transaction(write=True) as txn:
            txn.put(b"k", b"old")
        with store.snapshot():
            with store.transaction(write=False) as txn:
                assert txn.get(b"k") == b"old"
            with other.transaction(write=True) as txn:
                txn.put(b"k", b"new")
            with store.stale_read() as txn:  # a later request in the block: the same snapshot
                assert txn.get(b"k") == b"old"
            with store.transaction(write=True) as txn:  # a write is never part of it
                assert txn.get(b"k") == b"new"
        with store.transaction(write=False) as txn:
            assert txn.get(b"k") == b"new"
    finally:
        other.close()


def test_a_failed_read_in_a_shared_snapshot_leaves_the_later_reads_their_own(store: PostgresStore) -> None:
    with store.transaction(write=True) as txn:
        txn.put(b"k", b"v")
    with store.snapshot():
        with pytest.raises(psycopg.errors.DivisionByZero), store.transaction(write=False) as txn:
            assert isinstance(txn, PostgresTxn)
            txn.execute("SELECT 1/0")  # a statement that fails: PostgreSQL aborts the transaction
        with store.transaction(write=False) as txn:
            assert txn.get(b"k") == b"v"
