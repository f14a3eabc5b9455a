"""``pgoverlap.Overlap``: a shared snapshot's read requests run together, their round trips merged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("psycopg")
pytest.importorskip("greenlet")

import psycopg

from cellstore.errors import StorageUnavailable
from cellstore.storage.base import Snapshot
from cellstore.storage.pgoverlap import Overlap
from cellstore.storage.postgres import PostgresStore, PostgresTxn


@pytest.fixture
def store(postgres_dsn: str) -> Iterator[PostgresStore]:
    backend = PostgresStore(postgres_dsn)
    with backend.transaction(write=True) as txn:
        txn.put(b"desc", b"the table")
        for n in range(200):
            txn.put(b"item/%03d" % n, b"value %d" % n)
    yield backend
    backend.close()


def run(store: PostgresStore, works: list[Callable[[], Any]]) -> tuple[list[Any], Overlap]:
    """Every work in one shared snapshot; each one's result (or the error it raised), in order."""
    outcomes: list[Any] = [None] * len(works)

    def answer(index: int, result: Any, error: BaseException | None) -> None:
        outcomes[index] = error if error is not None else result

    with store.snapshot() as shared:
        assert isinstance(shared, Overlap)
        shared.run(works, answer)
    return outcomes, shared


def get_item(store: PostgresStore, n: int) -> Callable[[], tuple[bytes | None, bytes | None]]:
    """A GetItem's shape: the table's description, then the item."""

    def work() -> tuple[bytes | None, bytes | None]:
        with store.transaction(write=False) as txn:
            return txn.get(b"desc"), txn.get(b"item/%03d" % n)

    return work


def test_reads_of_a_batch_share_round_trips(store: PostgresStore) -> None:
    outcomes, shared = run(store, [get_item(store, n) for n in range(10)])
    assert outcomes == [(b"the table", b"value %d" % n) for n in range(10)]
    # One round trip for the description (read once for all ten), one for the ten items.
    assert shared.round_trips == 2


def test_ranges_and_gets_interleave_across_chunks(store: PostgresStore) -> None:
    def scan(reverse: bool) -> Callable[[], list[bytes]]:
        def work() -> list[bytes]:
            with store.transaction(write=False) as txn:
                return [key for key, _ in txn.range(b"item/", b"item0", reverse=reverse)]  # 200 keys: several chunks

        return work

    keys = [b"item/%03d" % n for n in range(200)]
    outcomes, _ = run(store, [scan(False), get_item(store, 7), scan(True), get_item(store, 199)])
    assert outcomes == [keys, (b"the table", b"value 7"), keys[::-1], (b"the table", b"value 199")]


def test_the_batch_is_one_snapshot_taken_at_its_first_round_trip(store: PostgresStore, postgres_dsn: str) -> None:
    other = PostgresStore(postgres_dsn)
    try:
        def reader_then_writer() -> bytes | None:
            with store.transaction(write=False) as txn:
                seen = txn.get(b"item/001")
            with other.transaction(write=True) as txn:  # another front end commits meanwhile
                txn.put(b"item/001", b"changed")
                txn.put(b"item/002", b"changed")
            return seen

        def late_reader() -> tuple[bytes | None, bytes | None]:
            with store.transaction(write=False) as txn:
                first = txn.get(b"item/003")
                return first, txn.get(b"item/002")  # after the other commit, in the same snapshot

        outcomes, _ = run(store, [reader_then_writer, late_reader])
        assert outcomes == [b"value 1", (b"value 3", b"value 2")]
        with store.transaction(write=False) as txn:
            assert txn.get(b"item/002") == b"changed"
    finally:
        other.close()


def test_a_failed_round_trip_fails_the_reads_on_it_and_later_reads_open_their_own(store: PostgresStore) -> None:
    def failing() -> None:
        with store.transaction(write=False) as txn:
            assert isinstance(txn, PostgresTxn)
            txn.execute("SELECT 1/0")

    def retrying() -> bytes | None:
        try:
            with store.transaction(write=False) as txn:
                txn.get(b"item/005")  # in the same round trip as the failing statement
        except psycopg.Error:
            pass
        with store.transaction(write=False) as txn:  # the shared transaction failed: a transaction of its own
            return txn.get(b"item/005")

    outcomes, shared = run(store, [failing, retrying, get_item(store, 6)])
    assert isinstance(outcomes[0], psycopg.errors.DivisionByZero)
    assert outcomes[1] == b"value 5"
    assert isinstance(outcomes[2], psycopg.Error)  # parked on the same round trip
    assert shared.round_trips == 1
    with store.transaction(write=False) as txn:  # the connection went back to the pool usable
        assert txn.get(b"item/008") == b"value 8"


def test_works_that_read_nothing_or_raise_are_answered_in_turn(store: PostgresStore) -> None:
    order: list[int] = []

    def noted(index: int, work: Callable[[], Any]) -> Callable[[], Any]:
        def wrapped() -> Any:
            try:
                return work()
            finally:
                order.append(index)

        return wrapped

    def boom() -> None:
        raise KeyError("not found")

    works = [noted(0, get_item(store, 1)), noted(1, lambda: "no reads"), noted(2, boom)]
    outcomes, _ = run(store, works)
    assert outcomes[0] == (b"the table", b"value 1")
    assert outcomes[1] == "no reads"
    assert isinstance(outcomes[2], KeyError)
    assert order == [1, 2, 0]  # those that never waited finished first


def test_reads_in_the_snapshot_outside_run_are_plain_round_trips(store: PostgresStore) -> None:
    with store.snapshot():
        with store.transaction(write=False) as txn:
            assert txn.get(b"item/010") == b"value 10"
        with store.transaction(write=False) as txn:
            assert [key for key, _ in txn.range(b"item/01", b"item/02")] == [b"item/01%d" % n for n in range(10)]


def test_the_default_snapshot_runs_works_one_after_another() -> None:
    outcomes: list[Any] = []
    Snapshot().run([lambda: 1, lambda: 1 / 0, lambda: 3], lambda i, result, error: outcomes.append((i, result, type(error))))
    assert outcomes == [(0, 1, type(None)), (1, None, ZeroDivisionError), (2, 3, type(None))]


def get_stable_item(store: PostgresStore, n: int) -> Callable[[], tuple[bytes | None, bytes | None]]:
    """A GetItem as the engine reads it: the description with ``get_stable``, then the item."""

    def work() -> tuple[bytes | None, bytes | None]:
        with store.transaction(write=False) as txn:
            return txn.get_stable(b"desc"), txn.get(b"item/%03d" % n)

    return work


def test_a_remembered_description_is_guessed_and_the_batch_is_one_round_trip(store: PostgresStore) -> None:
    run(store, [get_stable_item(store, 0), get_stable_item(store, 1)])  # reads and remembers it
    outcomes, shared = run(store, [get_stable_item(store, n) for n in range(10)])
    assert outcomes == [(b"the table", b"value %d" % n) for n in range(10)]
    assert (shared.round_trips, shared.misguessed) == (1, 0)  # the description's check went with the items


def test_a_description_another_front_end_changed_is_read_again(store: PostgresStore, postgres_dsn: str) -> None:
    run(store, [get_stable_item(store, 0), get_stable_item(store, 1)])
    other = PostgresStore(postgres_dsn)
    try:
        with other.transaction(write=True) as txn:
            txn.put(b"desc", b"updated")
        outcomes, shared = run(store, [get_stable_item(store, n) for n in range(4)])
        assert outcomes == [(b"updated", b"value %d" % n) for n in range(4)]
        assert shared.misguessed == 4
        outcomes, shared = run(store, [get_stable_item(store, n) for n in range(4)])  # remembered again
        assert outcomes == [(b"updated", b"value %d" % n) for n in range(4)]
        assert (shared.round_trips, shared.misguessed) == (1, 0)
        with other.transaction(write=True) as txn:
            txn.delete(b"desc")
        outcomes, _ = run(store, [get_stable_item(store, 3)])
        assert outcomes == [(None, b"value 3")]
    finally:
        other.close()


def test_a_request_that_only_guessed_or_failed_on_a_guess_waits_for_its_check(store: PostgresStore, postgres_dsn: str) -> None:
    run(store, [get_stable_item(store, 0), get_stable_item(store, 1)])
    other = PostgresStore(postgres_dsn)
    try:
        with other.transaction(write=True) as txn:
            txn.put(b"desc", b"re-created")

        def describe() -> bytes | None:
            with store.transaction(write=False) as txn:
                return txn.get_stable(b"desc")

        def strict() -> bytes | None:
            with store.transaction(write=False) as txn:
                found = txn.get_stable(b"desc")
                if found != b"re-created":
                    raise LookupError("no such table")  # what the engine would answer on the old description
                return found

        outcomes, shared = run(store, [describe, strict])
        assert outcomes == [b"re-created", b"re-created"]
        assert shared.misguessed == 2
    finally:
        other.close()


def test_the_guess_is_checked_in_the_batch_s_own_snapshot(store: PostgresStore, postgres_dsn: str) -> None:
    """The check is read in the same snapshot as the item: a change committed after it began is not seen by either."""
    run(store, [get_stable_item(store, 0), get_stable_item(store, 1)])
    other = PostgresStore(postgres_dsn)
    try:
        def first() -> bytes | None:
            with store.transaction(write=False) as txn:
                seen = txn.get(b"item/004")  # the snapshot begins here
            with other.transaction(write=True) as txn:
                txn.put(b"desc", b"too late")
                txn.put(b"item/009", b"too late")
            return seen

        outcomes, shared = run(store, [first, get_stable_item(store, 9)])
        assert outcomes == [b"value 4", (b"the table", b"value 9")]
        assert shared.misguessed == 0
    finally:
        other.close()


def test_a_second_front_end_re_creating_a_table_is_seen_by_the_engine(postgres_dsn: str) -> None:
    from cellstore.engine import catalog, items
    from cellstore.engine.wiring import open_database

    def spec(range_key: str | None) -> catalog.TableSpec:
        definitions = (("pk", "S"),) + ((range_key, "S"),) if range_key else (("pk", "S"),)
        return catalog.TableSpec("t", definitions, "pk", range_key, billing_mode="PAY_PER_REQUEST")

    mine, theirs = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)
    db, other = open_database(mine, background=False), open_database(theirs, background=False)
    try:
        catalog.create_table(db, spec(None))
        items.put_item(db, "t", {"pk": {"S": "a"}, "v": {"S": "first"}})

        def read(key: dict[str, Any]) -> Callable[[], Any]:
            return lambda: items.get_item(db, "t", key)[1]

        outcomes, shared = run(mine, [read({"pk": {"S": "a"}}), read({"pk": {"S": "a"}})])
        assert outcomes == [{"pk": {"S": "a"}, "v": {"S": "first"}}] * 2
        # Another front end deletes the table and creates one of the same name with another key schema.
        catalog.delete_table(other, "t")
        catalog.create_table(other, spec("sk"))
        items.put_item(other, "t", {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "second"}})
        outcomes, shared = run(mine, [read({"pk": {"S": "a"}}), read({"pk": {"S": "a"}, "sk": {"S": "1"}})])
        assert type(outcomes[0]).__name__ == "ValidationException"  # the old key no longer fits the table
        assert outcomes[1] == {"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"S": "second"}}
        assert shared.misguessed == 2
    finally:
        db.close()
        other.close()


def test_eventually_consistent_reads_of_a_batch_share_one_replica_transaction(postgres_dsn: str) -> None:
    """On a quorum cell (here: a "replica" pool that reaches the same server) stale reads share their own snapshot."""
    from cellstore.storage.pgpool import ConnectionPool, PoolTimeout

    store = PostgresStore(postgres_dsn)
    store.replicas = ConnectionPool(postgres_dsn, max_size=4, timeout=1.0)
    try:
        with store.transaction(write=True) as txn:
            txn.put(b"desc", b"the table")
            txn.put(b"item/001", b"value 1")
        seen: list[tuple[str, int]] = []

        def read(stale: bool) -> Callable[[], bytes | None]:
            def work() -> bytes | None:
                with store.stale_read() if stale else store.transaction(write=False) as txn:
                    assert isinstance(txn, PostgresTxn)
                    seen.append(("stale" if stale else "strong", txn.backend_pid))
                    txn.get_stable(b"desc")
                    return txn.get(b"item/001")

            return work

        for _ in range(2):  # the second time the description is guessed, on each connection
            seen.clear()
            outcomes, shared = run(store, [read(n % 2 == 0) for n in range(6)])
            assert outcomes == [b"value 1"] * 6
            assert len({pid for kind, pid in seen if kind == "stale"}) == 1
            assert len({pid for kind, pid in seen if kind == "strong"}) == 1
            assert len(set(seen)) == 2 and len(shared.txns) == 2
            assert store.replicas.in_use() == 0  # the replica's connection went back at the end
        assert (shared.round_trips, shared.misguessed) == (2, 0)  # one per connection

        # No primary (its pool reaches nothing): the batch's stale reads go on, its strong ones fail alone.
        live, store._pool = store._pool, ConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", max_size=1, timeout=0.2)
        try:
            outcomes, shared = run(store, [read(True), read(False), read(True)])
        finally:
            store._pool.close()
            store._pool = live
        assert outcomes[0] == outcomes[2] == b"value 1"
        assert isinstance(outcomes[1], StorageUnavailable)

        # No replica answers: the batch's stale reads fall back to the primary's shared transaction.
        store.replicas.close()
        store.replicas = ConnectionPool("host=127.0.0.1 port=1 connect_timeout=1", max_size=1, timeout=0.2)
        seen.clear()
        outcomes, shared = run(store, [read(True), read(True), read(False)])
        assert outcomes == [b"value 1"] * 3
        assert len({pid for _, pid in seen}) == 1 and len(shared.txns) == 1
        with pytest.raises(PoolTimeout):
            store.replicas.getconn()
    finally:
        store.close()
