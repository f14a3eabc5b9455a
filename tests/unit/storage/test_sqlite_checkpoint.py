"""The SQLite store checkpoints its WAL on a background thread, never inside a request's COMMIT."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from cellstore.storage.sqlite import SqliteStore


def _write(store: SqliteStore, count: int, size: int) -> None:
    for n in range(count):
        with store.transaction(write=True) as txn:
            txn.put(n.to_bytes(4, "big"), bytes(size))


def test_the_background_thread_copies_committed_pages_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "cellstore.db"
    store = SqliteStore(path)
    try:
        _write(store, 400, 4000)  # ~1.6 MB, all of it in the WAL at commit time
        deadline = time.monotonic() + 10
        while path.stat().st_size < 1_500_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert path.stat().st_size >= 1_500_000
    finally:
        store.close()


def test_requests_never_run_the_auto_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "cellstore.db"
    store = SqliteStore(path)
    try:
        with store.transaction(write=False):
            pass
        assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    finally:
        store.close()


def test_committed_writes_are_readable_by_a_fresh_connection_without_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "cellstore.db"
    store = SqliteStore(path)
    try:
        _write(store, 10, 100)
        other = sqlite3.connect(path)
        assert other.execute("SELECT count(*) FROM kv WHERE length(k) = 4").fetchone()[0] == 10
        other.close()
    finally:
        store.close()


def test_close_stops_the_checkpointer_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "cellstore.db")
    assert store._checkpointer is not None
    thread = store._checkpointer._thread
    assert thread.is_alive()
    store.close()
    assert not thread.is_alive()


def test_figures_show_the_wal_and_every_stores_checkpoint_rounds(tmp_path: Path) -> None:
    """Rounds are kept in ``<db>.checkpoint``, so each process (here: each store on the file) reads them all."""
    path = tmp_path / "cellstore.db"
    first, second = SqliteStore(path), SqliteStore(path)
    try:
        _write(first, 20, 1000)
        assert first.figures()["sqlite_wal_bytes"] == (tmp_path / "cellstore.db-wal").stat().st_size > 0
        deadline = time.monotonic() + 10
        while first.figures()["sqlite_checkpoints_total"] < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        figures, others = first.figures(), second.figures()
        # Both stores' checkpointers take turns on the flock, and both read the one file.
        assert others["sqlite_checkpoints_total"] >= figures["sqlite_checkpoints_total"] >= 4
        assert 0 < figures["sqlite_checkpoint_last_seconds"] <= figures["sqlite_checkpoint_seconds_total"]
    finally:
        first.close()
        second.close()


def test_an_in_memory_store_has_no_figures() -> None:
    store = SqliteStore(None)
    try:
        assert store.figures() == {}
    finally:
        store.close()
