"""A reader of an SQLite file never waits behind a writer of its own process."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cellstore.storage.sqlite import SqliteStore


def test_a_read_goes_on_while_another_thread_holds_a_write_transaction(tmp_path: Path) -> None:
    # A worker's background unit may hold a write transaction while it waits
    # for the flock the writer process holds; the event loop's reads must not
    # queue behind it.
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        with store.transaction(write=True) as txn:
            txn.put(b"k", b"committed")
        inside = threading.Event()
        release = threading.Event()

        def writer() -> None:
            with store.transaction(write=True) as txn:
                txn.put(b"k", b"not yet")
                inside.set()
                release.wait(10)

        thread = threading.Thread(target=writer)
        thread.start()
        assert inside.wait(10)
        done = threading.Event()
        seen: list[bytes | None] = []

        def reader() -> None:
            with store.transaction(write=False) as txn:
                seen.append(txn.get(b"k"))
            done.set()

        threading.Thread(target=reader, daemon=True).start()
        try:
            assert done.wait(5), "the read waited for the writer"
            assert seen == [b"committed"]  # its own snapshot: the uncommitted write is not in it
        finally:
            release.set()
            thread.join(10)
        with store.transaction(write=False) as txn:
            assert txn.get(b"k") == b"not yet"
    finally:
        store.close()


def test_the_read_connection_cannot_write(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    try:
        with pytest.raises(sqlite3.OperationalError), store.transaction(write=False) as txn:
            txn.put(b"k", b"v")
    finally:
        store.close()
