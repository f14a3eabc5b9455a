"""The durable replication queue: writes a zone missed, kept until that zone takes them.

EVCache does not drop a write a zone failed to take; it queues it and replays
it.  Here the queue is a local SQLite file (``retry_queue`` in cache.toml),
not a cellstore queue: the library must work without a cellstore server, a
write that failed because the network is partitioned must not need the
network to be remembered, and SQLite is in the standard library and survives
the process (a client restarted with the same file replays what the last one
left).  Without a file the queue is an in-memory SQLite database: same code,
lost with the process.

One row per (zone, key): a newer write for the key replaces an older pending
one, and a direct write that reaches the zone removes the row.  The client
runs every write, direct or replayed, for one key and zone on one thread (its
"lane"), and a replay reads the row when it runs, so a replay never puts an
older value over a newer one.  Rows whose value would have expired by now are
dropped instead of replayed.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SET, DELETE, TOUCH = "set", "delete", "touch"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    zone TEXT NOT NULL,
    key TEXT NOT NULL,
    op TEXT NOT NULL,
    value BLOB,
    expiry INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    due REAL NOT NULL,
    PRIMARY KEY (zone, key)
)
"""

#: Backoff between replays of one write: doubles from the first to the last.
FIRST_BACKOFF, LAST_BACKOFF = 0.25, 30.0


@dataclass(frozen=True)
class Pending:
    zone: str
    key: str
    op: str
    value: bytes | None
    expiry: int  # unix seconds, 0 = none (for SET: the value's; for TOUCH: the new one)
    attempts: int


class RetryQueue:
    def __init__(self, path: Path | None) -> None:
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL" if path else "PRAGMA journal_mode=MEMORY")
            # NORMAL: a row survives the process dying (what the queue is for) without an fsync per write;
            # a power cut may lose the last ones, which the cache's TTLs bound anyway.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(_SCHEMA)
            self._db.execute("CREATE INDEX IF NOT EXISTS pending_due ON pending (due)")
            #: Rows queued: kept by counting changes, never by a count(*) per write (the queue can be long).
            self.pending = int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def put(self, zone: str, key: str, op: str, value: bytes | None, expiry: int) -> None:
        with self._lock:
            self._db.execute("BEGIN")  # the replaced row and the new one, together or not at all
            replaced = self._db.execute("DELETE FROM pending WHERE zone = ? AND key = ?", (zone, key)).rowcount
            self._db.execute(
                "INSERT INTO pending (zone, key, op, value, expiry, attempts, due) VALUES (?, ?, ?, ?, ?, 0, ?)",
                (zone, key, op, value, expiry, time.time() + FIRST_BACKOFF),
            )
            self._db.execute("COMMIT")
            self.pending += 1 - replaced

    def discard(self, zone: str, key: str) -> None:
        """A write for ``key`` reached ``zone`` directly: an older queued one must not follow it."""
        if not self.pending:
            return
        with self._lock:
            self.pending -= self._db.execute("DELETE FROM pending WHERE zone = ? AND key = ?", (zone, key)).rowcount

    def due(self, limit: int = 500) -> list[tuple[str, str]]:
        """(zone, key) of the writes whose replay is due; rows that would have expired are dropped first."""
        now = time.time()
        with self._lock:
            self.pending -= self._db.execute(
                "DELETE FROM pending WHERE op != 'delete' AND expiry > 0 AND expiry <= ?", (int(now),)
            ).rowcount
            rows = self._db.execute(
                "SELECT zone, key FROM pending WHERE due <= ? ORDER BY due LIMIT ?", (now, limit)
            ).fetchall()
        return [(str(zone), str(key)) for zone, key in rows]

    def hurry(self, zone: str) -> None:
        """Make every write queued for ``zone`` due now: its node is back, and serving what it had."""
        with self._lock:
            self._db.execute("UPDATE pending SET due = 0 WHERE zone = ?", (zone,))

    def get(self, zone: str, key: str) -> Pending | None:
        """The write queued for ``key`` in ``zone`` now (read when it is replayed, so never a replaced one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT zone, key, op, value, expiry, attempts FROM pending WHERE zone = ? AND key = ?", (zone, key)
            ).fetchone()
        return None if row is None else Pending(*row)

    def done(self, entry: Pending) -> None:
        self.discard(entry.zone, entry.key)

    def failed(self, entry: Pending) -> None:
        backoff = min(FIRST_BACKOFF * 2 ** (entry.attempts + 1), LAST_BACKOFF)
        with self._lock:
            self._db.execute(
                "UPDATE pending SET attempts = attempts + 1, due = ? WHERE zone = ? AND key = ?",
                (time.time() + backoff, entry.zone, entry.key),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
