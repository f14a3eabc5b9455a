"""``SqliteStore.group``'s own part: ``grouping`` — the shared contract is test_group_contract.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellstore.storage.prefixed import PrefixedStore
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()


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
