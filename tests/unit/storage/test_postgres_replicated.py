"""A replicated PostgreSQL database: commit outcomes that are never guessed, a floor of replicas, multi-host URLs.

No replicas are needed to make PostgreSQL wait for them: with
``synchronous_standby_names`` naming a standby that never connects, every
COMMIT waits forever — exactly a primary that lost its quorum.  The cluster
is this module's own (``ALTER SYSTEM`` is server-wide).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("psycopg")

import psycopg

from cellstore.errors import CommitOutcomeUnknown, StorageUnavailable
from cellstore.storage.pgsync import parse_floor, synchronous_count
from cellstore.storage.postgres import PostgresStore, describe


@pytest.mark.parametrize(
    ("names", "count"),
    [
        ("", 0),
        (None, 0),
        ("ANY 3 (a1,b1,b2,c1,c2)", 3),
        ("any 2 (c1, c2)", 2),
        ("FIRST 2 (a, b, c)", 2),
        ("2 (a, b)", 2),
        ("a1, b1", 1),
        ("*", 1),
    ],
)
def test_how_many_replicas_a_commit_waits_for(names: str | None, count: int) -> None:
    assert synchronous_count(names) == count


def test_the_floor_setting_is_a_whole_number() -> None:
    assert parse_floor(None) == 0
    assert parse_floor("") == 0
    assert parse_floor("3") == 3
    with pytest.raises(ValueError, match=r"cellstore\.min_sync_standbys must be a whole number"):
        parse_floor("three")


def test_a_multi_host_url_is_described_host_by_host() -> None:
    url = "postgresql://postgres@127.0.0.1:20001,127.0.0.1:20002/postgres?target_session_attrs=read-write"
    assert describe(url) == "postgresql://postgres@127.0.0.1:20001,127.0.0.1:20002/postgres"


@pytest.fixture(scope="module")
def server(postgres_cluster: Any) -> Iterator[Any]:
    """A cluster of this module's own, its settings restored after each test."""
    from pg_cluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _configure(cluster: Any, **settings: str) -> None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = local")  # this session's own writes never wait for the standby
        for name, value in settings.items():
            if name == "floor":  # a custom setting: ALTER SYSTEM takes only known ones, a database takes any
                conn.execute(f"ALTER DATABASE postgres SET cellstore.min_sync_standbys = '{value}'")
            else:
                conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)  # every backend applies the reload before its next command


@pytest.fixture
def waiting(server: Any) -> Iterator[Any]:
    """``server``, on which a test makes commits wait for a standby that never comes; reset afterwards."""
    yield server
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = local")
        conn.execute("ALTER SYSTEM RESET ALL")
        conn.execute("ALTER DATABASE postgres RESET ALL")
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("DROP TABLE IF EXISTS kv, cellstore_schema")
    time.sleep(0.2)


def _local_value(cluster: Any, key: bytes) -> bytes | None:
    with psycopg.connect(cluster.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT v FROM kv WHERE k = %s", (key,)).fetchone()
    return None if row is None else bytes(row[0])


@pytest.mark.slow
def test_a_commit_waiting_for_replicas_past_its_deadline_is_an_unknown_outcome_not_a_success(waiting: Any) -> None:
    store = PostgresStore(waiting.dsn(), write_timeout=0.5)
    _configure(waiting, synchronous_standby_names="ANY 1 (nobody)")
    try:
        started = time.monotonic()
        with pytest.raises(CommitOutcomeUnknown), store.transaction(write=True) as txn:
            txn.put(b"k", b"v")
        assert time.monotonic() - started < 3  # statement_timeout would never have fired
        # PostgreSQL's own rule: a cancelled wait leaves the commit done locally, on this server only.
        assert _local_value(waiting, b"k") == b"v"
        # The store goes on: reads need no replica, and writes work again once the standby is not required.
        with store.transaction(write=False) as txn:
            assert txn.get(b"k") == b"v"
        _configure(waiting, synchronous_standby_names="")
        with store.transaction(write=True) as txn:
            txn.put(b"k", b"w")
        assert _local_value(waiting, b"k") == b"w"
    finally:
        store.close()


@pytest.mark.slow
def test_writes_below_the_floor_are_refused_before_anything_runs(waiting: Any) -> None:
    PostgresStore(waiting.dsn()).close()  # the schema, written while no floor is set
    _configure(waiting, synchronous_standby_names="", floor="2")
    store = PostgresStore(waiting.dsn())  # opens (a write that writes nothing needs no replica)
    try:
        assert store.sync_floor == 2 and store.replicated is False  # nothing asked for a replica yet
        _configure(waiting, synchronous_standby_names="ANY 1 (nobody)")
        started = time.monotonic()
        refused = r"Too few replicas to make a write durable: 1 of the 2 needed"
        with pytest.raises(StorageUnavailable, match=refused), store.transaction(write=True) as txn:
            txn.put(b"k", b"v")
        assert time.monotonic() - started < 1
        assert _local_value(waiting, b"k") is None
        # A write transaction that writes nothing answers from what it read, which may not be durable yet
        # (an idempotent retry finding its token): it is held to the floor too.
        with pytest.raises(StorageUnavailable, match=refused), store.transaction(write=True) as txn:
            txn.get(b"k")
        with store.transaction(write=False) as txn:  # reads need no replica
            assert txn.get(b"k") is None
    finally:
        store.close()


@pytest.mark.slow
def test_a_commit_released_by_a_lowered_quorum_is_an_unknown_outcome(waiting: Any) -> None:
    """Patroni lowers ANY 3 to ANY 2 when replicas die: commits it releases so have fewer copies than promised."""
    PostgresStore(waiting.dsn()).close()
    _configure(waiting, synchronous_standby_names="ANY 1 (nobody)", floor="1")
    store = PostgresStore(waiting.dsn(), write_timeout=30.0)
    outcome: list[BaseException | None] = []

    def write() -> None:
        try:
            with store.transaction(write=True) as txn:
                txn.put(b"k", b"v")
        except BaseException as exc:  # noqa: BLE001 - inspected below
            outcome.append(exc)
        else:
            outcome.append(None)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with psycopg.connect(waiting.dsn(), autocommit=True) as conn:
            for _ in range(100):
                if conn.execute("SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'").fetchone():
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the commit never waited for replicas")
        _configure(waiting, synchronous_standby_names="")  # the wait is released: with no replica at all
        writer.join(10)
        assert len(outcome) == 1 and isinstance(outcome[0], CommitOutcomeUnknown)
    finally:
        writer.join(10)
        store.close()


@pytest.mark.slow
def test_a_multi_host_url_skips_a_dead_host_and_is_treated_as_replicated(server: Any) -> None:
    from pg_cluster import free_port

    dead = free_port()
    url = f"postgresql://postgres@127.0.0.1:{dead},127.0.0.1:{server.port}/postgres?target_session_attrs=read-write"
    store = PostgresStore(url)
    try:
        assert store.replicated and store.write_timeout == 5.0
        with store.transaction(write=True) as txn:
            txn.put(b"multi", b"host")
        with store.transaction(write=False) as txn:
            assert txn.get(b"multi") == b"host"
    finally:
        store.close()
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS kv, cellstore_schema")


@pytest.mark.slow
def test_the_pool_reconnects_at_once_when_the_server_is_back(server: Any) -> None:
    """No backoff: the first request after a restart gets a connection (psycopg_pool waited 1, 2, 4 s...)."""
    store = PostgresStore(server.dsn(), timeout=0.5)
    try:
        with store.transaction(write=True) as txn:
            txn.put(b"before", b"restart")
        server._pg_ctl("stop", "-m", "immediate")
        for _ in range(3):  # attempts while it is down fail (each after the pool's timeout) and leave no backoff
            with pytest.raises(StorageUnavailable), store.transaction(write=False) as txn:
                txn.get(b"before")
        server._pg_ctl("start")
        started = time.monotonic()
        with store.transaction(write=False) as txn:
            assert txn.get(b"before") == b"restart"
        assert time.monotonic() - started < 1
    finally:
        store.close()
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS kv, cellstore_schema")
