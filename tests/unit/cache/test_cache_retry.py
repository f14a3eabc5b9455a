"""The retry queue on its own: one row per (zone, key), counted without count(*), durable in its file."""

from __future__ import annotations

import time
from pathlib import Path

from cellstore.cache import retry
from cellstore.cache.retry import RetryQueue


def test_a_newer_write_replaces_the_queued_one(tmp_path: Path) -> None:
    queue = RetryQueue(tmp_path / "q.db")
    queue.put("b", "k", retry.SET, b"old", 0)
    queue.put("b", "k", retry.SET, b"new", 0)
    queue.put("c", "k", retry.DELETE, None, 0)
    assert queue.pending == 2
    entry = queue.get("b", "k")
    assert entry is not None and (entry.op, entry.value) == (retry.SET, b"new")
    queue.discard("b", "k")
    queue.discard("b", "never queued")
    assert queue.pending == 1
    queue.close()


def test_replays_are_due_after_a_backoff_that_grows(tmp_path: Path) -> None:
    queue = RetryQueue(None)
    queue.put("b", "k", retry.SET, b"v", 0)
    assert queue.due() == []  # not before the first backoff
    time.sleep(retry.FIRST_BACKOFF + 0.05)
    assert queue.due() == [("b", "k")]
    entry = queue.get("b", "k")
    assert entry is not None
    queue.failed(entry)
    assert queue.due() == []  # twice as long now
    queue.done(entry)
    assert queue.pending == 0


def test_writes_whose_value_expired_are_dropped_not_replayed(tmp_path: Path) -> None:
    queue = RetryQueue(None)
    queue.put("b", "gone", retry.SET, b"v", int(time.time()) - 1)
    queue.put("b", "delete", retry.DELETE, None, 0)
    time.sleep(retry.FIRST_BACKOFF + 0.05)
    assert queue.due() == [("b", "delete")]
    assert queue.pending == 1


def test_the_queue_outlives_its_process(tmp_path: Path) -> None:
    first = RetryQueue(tmp_path / "q.db")
    for i in range(5):
        first.put("b", f"k{i}", retry.SET, b"v", 0)
    first.close()
    second = RetryQueue(tmp_path / "q.db")
    assert second.pending == 5
    second.close()
