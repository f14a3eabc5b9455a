"""PostgreSQL-only behaviour of the storage door: schema versions, sharing, failures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("psycopg")

import psycopg

from cellstore.errors import StorageUnavailable
from cellstore.storage import migrations
from cellstore.storage.postgres import PostgresStore


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    backend = PostgresStore(postgres_dsn)
    yield backend
    backend.close()


def test_two_stores_share_one_database(store: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore(postgres_dsn)
    try:
        with store.transaction(write=True) as txn:
            txn.put(b"k", b"v")
        with other.transaction(write=False) as txn:
            assert txn.get(b"k") == b"v"
        assert other.migrated_from == migrations.LATEST
    finally:
        other.close()


def test_a_read_transaction_is_one_snapshot(store: PostgresStore) -> None:
    with store.transaction(write=True) as txn:
        txn.put(b"k", b"old")
    with store.transaction(write=False) as reader:
        assert reader.get(b"k") == b"old"
        with store.transaction(write=True) as writer:
            writer.put(b"k", b"new")
            writer.put(b"k2", b"new")
        assert reader.get(b"k") == b"old"
        assert reader.get(b"k2") is None


def test_a_swallowed_statement_error_never_commits(store: PostgresStore) -> None:
    with pytest.raises(StorageUnavailable), store.transaction(write=True) as txn:
        txn.put(b"a", b"1")
        try:
            txn.range_stats(b"a", 5)  # type: ignore[arg-type] - bytea < integer: an SQL error
        except Exception:  # noqa: BLE001, S110 - an engine that swallows a storage error
            pass
    with store.transaction(write=False) as txn:
        assert txn.get(b"a") is None


def test_a_newer_schema_is_refused(store: PostgresStore, postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("UPDATE cellstore_schema SET version = %s", (migrations.LATEST + 1,))
    try:
        with pytest.raises(migrations.SchemaTooNew, match="newer cellstore"):
            PostgresStore(postgres_dsn)
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute("UPDATE cellstore_schema SET version = %s", (migrations.LATEST,))


def test_an_older_schema_is_upgraded(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS kv")
        conn.execute("DROP TABLE IF EXISTS cellstore_schema")
    upgraded = PostgresStore(postgres_dsn)
    try:
        assert upgraded.migrated_from == 0
        with upgraded.transaction(write=False) as txn:
            assert txn.get(b"k") is None
    finally:
        upgraded.close()
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT version FROM cellstore_schema").fetchall() == [(migrations.LATEST,)]


def test_a_killed_connection_is_a_retryable_500_then_recovers(store: PostgresStore, postgres_dsn: str) -> None:
    def kill_backends() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    with store.transaction(write=True) as txn:
        txn.put(b"k", b"1")
    # Mid-transaction: the statement after the cut fails, nothing commits.
    with pytest.raises(StorageUnavailable) as caught, store.transaction(write=True) as txn:
        txn.put(b"k", b"2")
        assert txn.get(b"other") is None  # the transaction has begun on the server (a put alone waits in the queue)
        kill_backends()
        txn.put(b"k2", b"2")
    assert caught.value.status == 500 and caught.value.code == "InternalServerError"
    # Idle pooled connections are dead too: the next transaction skips them.
    kill_backends()
    with store.transaction(write=False) as txn:
        assert txn.get(b"k") == b"1"
        assert txn.get(b"k2") is None


def test_an_unreachable_server_is_reported_clearly() -> None:
    from pg_cluster import free_port

    with pytest.raises(StorageUnavailable, match="cannot connect to postgresql://"):
        PostgresStore(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/none", timeout=1.0)




def test_pool_figures_count_connections_in_use_and_waits(postgres_dsn: str) -> None:
    import threading
    import time

    backend = PostgresStore(postgres_dsn, max_size=1)
    try:
        assert backend.figures()["postgres_pool_connections_in_use"] == 0
        waited = threading.Event()

        def second() -> None:
            with backend.transaction(write=False):
                waited.set()

        with backend.transaction(write=False):
            assert backend.figures()["postgres_pool_connections_in_use"] == 1
            thread = threading.Thread(target=second)
            thread.start()
            time.sleep(0.2)  # the other transaction waits for the one connection
            assert not waited.is_set()
        thread.join(5)
        figures = backend.figures()
        assert waited.is_set() and figures["postgres_pool_waits_total"] >= 1
        assert 0.1 < figures["postgres_pool_wait_seconds_total"] < 5
        assert figures["postgres_pool_connections_in_use"] == 0 and figures["postgres_pool_connections_max"] == 1
    finally:
        backend.close()


def test_a_statement_whose_prepare_was_skipped_is_prepared_at_its_next_use(postgres_dsn: str) -> None:
    """In a pipeline, statements after a failed one are skipped: a first use's prepare among them never happened."""
    from cellstore.storage.pgpipe import Pipe, Statement, rows

    pipe = Pipe(psycopg.connect(postgres_dsn, autocommit=True))
    try:
        later = Statement("SELECT 41 + 1")
        pipe.queue(Statement("SELECT 1/0"))
        pipe.queue(later, binary=False, want=True)
        with pytest.raises(psycopg.errors.DivisionByZero):
            pipe.run()
        pipe.queue(later, binary=False, want=True)
        assert rows(pipe.run()[0]) == [(b"42",)]
    finally:
        pipe.conn.close()
