"""``SqliteStore.group``: many transactions, one COMMIT — the writer process's group commit."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellstore.errors import ConditionalCheckFailedException
from cellstore.storage.prefixed import PrefixedStore
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()


def committed(tmp_path: Path, key: bytes) -> bytes | None:
    """``key`` as another connection (another process) sees it: only what is committed."""
    conn = sqlite3.connect(tmp_path / "db.sqlite")
    try:
        row = conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


def test_transactions_in_a_group_see_each_other_and_commit_together(store: SqliteStore, tmp_path: Path) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with store.transaction(write=False) as txn:
            assert txn.get(b"a") == b"1"  # a later transaction sees an earlier one's write
        with store.transaction(write=True) as txn:
            txn.put(b"b", b"2")
        assert committed(tmp_path, b"a") is None  # nothing is durable before the group's COMMIT
    assert not group.spoiled
    assert committed(tmp_path, b"a") == b"1"
    assert committed(tmp_path, b"b") == b"2"


def test_a_failure_before_any_write_leaves_the_group_whole(store: SqliteStore, tmp_path: Path) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.get(b"a")
            raise ConditionalCheckFailedException()
        with store.transaction(write=True) as txn:
            txn.put(b"b", b"2")
    assert not group.spoiled
    assert committed(tmp_path, b"a") == b"1"
    assert committed(tmp_path, b"b") == b"2"


def test_a_failure_after_a_write_spoils_the_group_and_nothing_commits(store: SqliteStore, tmp_path: Path) -> None:
    with store.group() as group:
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        with pytest.raises(ConditionalCheckFailedException), store.transaction(write=True) as txn:
            txn.put(b"half", b"written")
            raise ConditionalCheckFailedException()
    assert group.spoiled
    assert committed(tmp_path, b"a") is None
    assert committed(tmp_path, b"half") is None
    with store.transaction(write=False) as txn:  # the connection is usable again
        assert txn.get(b"a") is None


def test_an_exception_out_of_the_group_rolls_it_back(store: SqliteStore, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), store.group():
        with store.transaction(write=True) as txn:
            txn.put(b"a", b"1")
        raise RuntimeError("the writer stopped mid-round")
    assert committed(tmp_path, b"a") is None


def test_groups_do_not_nest(store: SqliteStore) -> None:
    with store.group(), pytest.raises(RuntimeError), store.group():
        pass


def test_grouping_is_true_only_inside_the_group_on_its_own_thread(store: SqliteStore) -> None:
    seen_elsewhere: list[bool] = []
    assert not store.grouping()
    with store.group():
        assert store.grouping()
        assert PrefixedStore(store, b"\x09account00001").grouping()  # an account's view of the same store
        other = threading.Thread(target=lambda: seen_elsewhere.append(store.grouping()))
        other.start()
        other.join()
    assert seen_elsewhere == [False]  # another thread's transactions are not the group's
    assert not store.grouping()
