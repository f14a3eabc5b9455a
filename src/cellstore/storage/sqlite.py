"""SQLite behind the storage door: one ordered table of byte keys.

Layout: a single ``kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`` table, so
the B-tree *is* the ordered keyspace and a Query is one index range read.
Durability: WAL with ``synchronous=NORMAL`` — a commit is in the WAL file
(the OS page cache) before ``transaction`` returns, which survives kill -9 of
the server; surviving power loss needs ``synchronous=FULL`` (``durable=True``),
at the price of an fsync per commit.

Concurrency inside one process: writes share one connection guarded by a
lock, so a write transaction is serialised against every other in the
process; reads of a file database have a second connection (and lock) of
their own, so a reader never waits behind a writer.
Across processes (``serve --workers N``), writers queue on an exclusive
``flock`` of ``<db>.lock`` before ``BEGIN IMMEDIATE``.  SQLite's own busy
handler would also serialise them, but it polls with sleeps of up to 100 ms,
so under contention most of the time went to sleeping; a kernel lock wakes
the next writer the moment the previous one commits.  Readers take no lock
(WAL gives them a snapshot) and never wait for writers.

Checkpoints (copying WAL frames back into the database file) run on a
background thread with its own connection, not inside a request's COMMIT as
SQLite's auto-checkpoint would: with ``synchronous=NORMAL`` a checkpoint
fsyncs the WAL and the database file, and paying that inside one unlucky
request was the largest part of PutItem's p99.  The thread runs a PASSIVE
checkpoint every ``CHECKPOINT_INTERVAL`` seconds; PASSIVE never blocks readers
or writers, and sqlite3 releases the GIL while it works, so the event loop
goes on.  With ``--workers`` one process at a time checkpoints (a
non-blocking flock of ``<db>.checkpoint``); the others skip their turn.
Durability is unchanged: a commit is in the WAL before it is acknowledged,
checkpointed or not.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cellstore.storage import migrations
from cellstore.storage.base import Group, Store, Txn

#: Seconds between background checkpoints.  At ~10,000 WAL frames a second of
#: writes this keeps the WAL near 40 MB at worst; idle rounds cost one flock
#: and a read of the WAL index.
CHECKPOINT_INTERVAL = 0.25


class SqliteTxn(Txn):
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, key: bytes) -> bytes | None:
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: bytes, value: bytes) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def delete(self, key: bytes) -> None:
        self._conn.execute("DELETE FROM kv WHERE k = ?", (key,))

    def range(
        self,
        start: bytes,
        end: bytes,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        order = "DESC" if reverse else "ASC"
        cursor = self._conn.execute(
            f"SELECT k, v FROM kv WHERE k >= ? AND k < ? ORDER BY k {order} LIMIT ?",
            (start, end, -1 if limit is None else limit),
        )
        while rows := cursor.fetchmany(256):
            yield from rows

    def delete_range(self, start: bytes, end: bytes) -> int:
        return self._conn.execute("DELETE FROM kv WHERE k >= ? AND k < ?", (start, end)).rowcount

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        count, size = self._conn.execute(
            "SELECT count(*), coalesce(sum(length(v)), 0) FROM kv WHERE k >= ? AND k < ?",
            (start, end),
        ).fetchone()
        return int(count), int(size)


class _GroupTxn(SqliteTxn):
    """A transaction inside a group commit: notes whether it wrote, so a failure knows what it spoiled."""

    __slots__ = ("wrote",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(conn)
        self.wrote = False

    def put(self, key: bytes, value: bytes) -> None:
        self.wrote = True
        super().put(key, value)

    def delete(self, key: bytes) -> None:
        self.wrote = True
        super().delete(key)

    def delete_range(self, start: bytes, end: bytes) -> int:
        self.wrote = True
        return super().delete_range(start, end)


class SqliteStore(Store):
    """A cellstore database in one SQLite file, or in memory when ``path`` is None."""

    def __init__(self, path: str | Path | None, *, durable: bool = False) -> None:
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            ":memory:" if path is None else str(path),
            isolation_level=None,
            check_same_thread=False,
            timeout=30.0,
        )
        self._lock = threading.RLock()
        # Cross-process writer queue; an in-memory database has no other processes.
        self._write_lock_fd: int | None = None
        if path is not None:
            self._write_lock_fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._txn = SqliteTxn(self._conn)
        self._group: Group | None = None  # the group commit open on this connection, if any
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
        #: The schema version found on opening; ``migrations.LATEST`` once open.
        self.migrated_from = self._migrate(":memory:" if path is None else str(path))
        self._checkpointer: _Checkpointer | None = None
        # Read transactions of a file database have a connection of their own,
        # so a reader never queues behind a writer of this process — which may
        # itself be waiting for the flock (a background unit in a worker while
        # the writer process commits a group).  In memory there is one
        # connection: a second one would be a second, empty database.
        self._read_conn: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        if path is not None:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer thread does it
            self._checkpointer = _Checkpointer(str(path), durable)
            self._read_conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30.0)
            self._read_conn.execute("PRAGMA query_only=1")
            self._read_txn = SqliteTxn(self._read_conn)
        self._group_owner: int | None = None  # the thread whose group commit is open

    def _migrate(self, where: str) -> int:
        """Apply pending migrations in one write transaction; the version found first."""
        with self.transaction(write=True):
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            todo = migrations.pending(version, where)
            for migration in todo:
                for statement in migration.sqlite:
                    self._conn.execute(statement)
            if todo:
                self._conn.execute(f"PRAGMA user_version={todo[-1].version}")
        return version

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Txn]:
        if not write and self._read_conn is not None and self._group_owner != threading.get_ident():
            with self._read_lock:
                self._read_conn.execute("BEGIN")
                try:
                    yield self._read_txn
                finally:
                    self._read_conn.execute("COMMIT")  # ends the snapshot; nothing was written
            return
        with self._lock:
            if self._group is not None:  # only the thread that opened the group gets the lock
                yield from self._in_group()
                return
            locked = write and self._write_lock_fd is not None
            if locked:
                fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield self._txn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if locked:
                    fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def _in_group(self) -> Iterator[Txn]:
        """A transaction inside the open group: the group's, with no BEGIN or COMMIT of its own."""
        txn = _GroupTxn(self._conn)
        try:
            yield txn
        except BaseException:
            if txn.wrote and self._group is not None:
                self._group.spoiled = True
            raise

    def grouping(self) -> bool:
        return self._group is not None and self._group_owner == threading.get_ident()

    @contextmanager
    def group(self) -> Iterator[Group]:
        """One BEGIN IMMEDIATE ... COMMIT around every transaction this thread opens inside (``Store.group``).

        The commit is what makes them durable, so the caller answers nobody
        before the block exits.  Spoiled (a transaction failed after it
        wrote) or left by an exception, it rolls back instead.
        """
        with self._lock:
            if self._group is not None:
                raise RuntimeError("group commits do not nest")
            locked = self._write_lock_fd is not None
            if locked:
                fcntl.flock(self._write_lock_fd, fcntl.LOCK_EX)  # type: ignore[arg-type]
            group = self._group = Group()
            self._group_owner = threading.get_ident()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield group
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("ROLLBACK" if group.spoiled else "COMMIT")
            finally:
                self._group = None
                self._group_owner = None
                if locked:
                    fcntl.flock(self._write_lock_fd, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def figures(self) -> dict[str, float]:
        """The WAL file's size and the checkpoint rounds of every process on this file (none in memory)."""
        if self._checkpointer is None:
            return {}
        try:
            wal = os.stat(f"{self._checkpointer.path}-wal").st_size
        except FileNotFoundError:
            wal = 0
        return {"sqlite_wal_bytes": float(wal), **self._checkpointer.figures()}

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._read_lock:
            if self._read_conn is not None:
                self._read_conn.close()
        with self._lock:
            self._conn.close()
            if self._write_lock_fd is not None:
                os.close(self._write_lock_fd)
                self._write_lock_fd = None


#: What ``<db>.checkpoint`` holds: rounds run, their nanoseconds in all, the last one's (``_Checkpointer``).
_ROUNDS = struct.Struct("<QQQ")


class _Checkpointer:
    """A daemon thread that checkpoints the WAL so that no request's COMMIT has to.

    Each round it runs, under the flock of ``<db>.checkpoint``, it adds its
    duration to the figures kept in that file (``_ROUNDS``), so ``figures``
    in any process reads every worker's rounds.
    """

    def __init__(self, path: str, durable: bool) -> None:
        self.path = path
        self._durable = durable
        self._stopping = threading.Event()
        self._lock_fd = os.open(f"{path}.checkpoint", os.O_RDWR | os.O_CREAT, 0o644)
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        try:
            conn.execute(f"PRAGMA synchronous={'FULL' if self._durable else 'NORMAL'}")
            conn.execute("PRAGMA wal_autocheckpoint=0")
            while not self._stopping.wait(CHECKPOINT_INTERVAL):
                self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: sqlite3.Connection) -> None:
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another worker is checkpointing this database
        try:
            started = time.perf_counter_ns()
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            took = time.perf_counter_ns() - started
            rounds, total, _ = self._rounds()
            os.pwrite(self._lock_fd, _ROUNDS.pack(rounds + 1, total + took, took), 0)
        except sqlite3.OperationalError:
            pass  # busy (e.g. a migration holds the database): the next round tries again
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _rounds(self) -> tuple[int, int, int]:
        raw = os.pread(self._lock_fd, _ROUNDS.size, 0)
        return _ROUNDS.unpack(raw) if len(raw) == _ROUNDS.size else (0, 0, 0)

    def figures(self) -> dict[str, float]:
        """Checkpoint rounds run on this database by any process, and their durations (written under the flock)."""
        rounds, total, last = self._rounds()
        return {
            "sqlite_checkpoints_total": float(rounds),
            "sqlite_checkpoint_seconds_total": total / 1e9,
            "sqlite_checkpoint_last_seconds": last / 1e9,
        }

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        os.close(self._lock_fd)
