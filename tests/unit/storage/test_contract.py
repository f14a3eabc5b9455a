"""The storage door's contract, run against every backend.

A new backend (PostgreSQL next) joins by adding itself to ``backends``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cellstore.storage.base import Store, prefix_end
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture(params=["sqlite-memory", "sqlite-file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = SqliteStore(None) if request.param == "sqlite-memory" else SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()


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
    with pytest.raises(RuntimeError):
        with store.transaction(write=True) as txn:
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
