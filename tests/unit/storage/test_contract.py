"""The storage door's contract, run against every backend (the ``store`` fixture, conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cellstore.storage.base import Store, prefix_end
from cellstore.storage.sqlite import SqliteStore


def test_put_get_delete(store: Store) -> None:
    with store.transaction(write=True) as txn:
        txn.put(b"a", b"1")
        assert txn.get(b"a") == b"1"
        txn.put(b"a", b"2")
    with store.transaction(write=False) as txn:
        assert txn.get(b"a") == b"2"
        assert txn.get(b"b") is None
    with store.transaction(write=True) as txn:
        txn.delete(b"a")
    with store.transaction(write=False) as txn:
        assert txn.get(b"a") is None


def test_range_is_memcmp_ordered_half_open(store: Store) -> None:
    keys = [b"\x00", b"a", b"a\x00", b"ab", b"a\xff", b"b", b"\xff"]
    with store.transaction(write=True) as txn:
        for key in reversed(keys):
            txn.put(key, key)
    with store.transaction(write=False) as txn:
        assert [k for k, _ in txn.range(b"", b"\xff\xff")] == keys
        assert [k for k, _ in txn.range(b"a", b"b")] == [b"a", b"a\x00", b"ab", b"a\xff"]
        assert [k for k, _ in txn.range(b"a", b"b", reverse=True, limit=2)] == [b"a\xff", b"ab"]
        assert txn.range_stats(b"a", b"b") == (4, len(b"a") + 2 + 2 + 2)


def test_delete_range(store: Store) -> None:
    with store.transaction(write=True) as txn:
        for key in (b"p1", b"p2", b"q1"):
            txn.put(key, b"v")
        assert txn.delete_range(b"p", prefix_end(b"p")) == 2
    with store.transaction(write=False) as txn:
        assert [k for k, _ in txn.range(b"", b"\xff")] == [b"q1"]


def test_error_rolls_back(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction(write=True) as txn:
        txn.put(b"x", b"1")
        raise RuntimeError("abort")
    with store.transaction(write=False) as txn:
        assert txn.get(b"x") is None


def test_file_store_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    first = SqliteStore(path)
    with first.transaction(write=True) as txn:
        txn.put(b"k", b"v")
    first.close()
    second = SqliteStore(path)
    with second.transaction(write=False) as txn:
        assert txn.get(b"k") == b"v"
    second.close()


def test_prefix_end() -> None:
    assert prefix_end(b"ab") == b"ac"
    assert prefix_end(b"a\xff") == b"b"
    with pytest.raises(ValueError):
        prefix_end(b"\xff\xff")


def test_long_ranges_stream_in_order_both_ways(store: Store) -> None:
    keys = [i.to_bytes(2, "big") for i in range(3000)]  # more than any backend's chunk
    with store.transaction(write=True) as txn:
        for key in keys:
            txn.put(key, b"v")
    with store.transaction(write=False) as txn:
        assert [k for k, _ in txn.range(b"", b"\xff")] == keys
        assert [k for k, _ in txn.range(b"", b"\xff", reverse=True)] == keys[::-1]
        assert [k for k, _ in txn.range(keys[10], keys[2000], limit=1500)] == keys[10:1510]
        assert [k for k, _ in txn.range(keys[10], keys[2000], reverse=True, limit=1500)] == keys[1999:499:-1]
        assert txn.range_stats(b"", b"\xff") == (3000, 3000)


def test_writes_while_iterating_a_range(store: Store) -> None:
    with store.transaction(write=True) as txn:
        for i in range(300):
            txn.put(b"a" + i.to_bytes(2, "big"), b"v")
    with store.transaction(write=True) as txn:
        for key, _ in txn.range(b"a", b"b"):
            txn.delete(key)
            txn.put(b"b" + key[1:], b"moved")
    with store.transaction(write=False) as txn:
        assert txn.range_stats(b"a", b"b") == (0, 0)
        assert txn.range_stats(b"b", b"c") == (300, 300 * len(b"moved"))


def test_write_transactions_are_serialised(store: Store) -> None:
    """Read-modify-write from several threads loses no update."""
    import threading

    with store.transaction(write=True) as txn:
        txn.put(b"n", b"0")

    def increment() -> None:
        for _ in range(50):
            with store.transaction(write=True) as txn:
                txn.put(b"n", str(int(txn.get(b"n") or b"0") + 1).encode())

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with store.transaction(write=False) as txn:
        assert txn.get(b"n") == b"200"


def test_reopened_store_is_at_the_latest_schema(store: Store) -> None:
    from cellstore.storage.migrations import LATEST

    assert store.migrated_from in (0, LATEST)  # type: ignore[attr-defined]
