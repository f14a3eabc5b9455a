"""``PostgresStore.group``: many transactions, one lock and one COMMIT — the storage threads' group commit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg

from cellstore.errors import ConditionalCheckFailedException
from cellstore.storage.postgres import PostgresStore, PostgresTxn


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    backend = PostgresStore(postgres_dsn)
    yield backend
    backend.close()


def committed(dsn: str, key: bytes) -> bytes | None:
    """``key`` as another connection (another front end) sees it: only what is committed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT v FROM kv WHERE k = %s", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def test_transactions_in_a_group_see_each_other_and_commit_together(store: PostgresStore, postgres_dsn: str) -> None:
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
        assert committed(postgres_dsn, b"a") is None  # nothing is durable before the group's COMMIT
    assert not group.spoiled
    assert committed(postgres_dsn, b"a") == b"1"
    assert committed(postgres_dsn, b"b") == b"2"


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


def test_a_failure_before_any_write_leaves_the_group_whole(store: PostgresStore, postgres_dsn: str) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.get(b"a")
            raise ConditionalCheckFailedException()
        with store.transaction(write=True) as txn:
            txn.put(b"b", b"2")
    assert not group.spoiled
    assert committed(postgres_dsn, b"a") == b"1"
    assert committed(postgres_dsn, b"b") == b"2"


def test_a_failure_after_a_write_spoils_the_group_and_nothing_commits(store: PostgresStore, postgres_dsn: str) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.put(b"half", b"written")
            raise ConditionalCheckFailedException()
    assert group.spoiled
    assert committed(postgres_dsn, b"a") is None
    assert committed(postgres_dsn, b"half") is None
    with store.transaction(write=False) as txn:  # the connection is usable again
        assert txn.get(b"a") is None


def test_an_exception_out_of_the_group_rolls_it_back(store: PostgresStore, postgres_dsn: str) -> None:
    with pytest.raises(RuntimeError), store.group():
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        raise RuntimeError("the writer stopped mid-round")
    assert committed(postgres_dsn, b"a") is None


def test_groups_do_not_nest(store: PostgresStore) -> None:
    with store.group(), pytest.raises(RuntimeError), store.group():
        pass


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
