"""PostgreSQL behind the storage door: the same ordered keyspace on a server database.

Layout: ``kv(k bytea PRIMARY KEY, v bytea NOT NULL)``; bytea compares like
memcmp (a shorter key that is a prefix sorts first), the order the engine's
keys are built for, so a Query is one index range scan as on SQLite.

Concurrency, identical to SQLite's: write transactions are serialised with
respect to each other, globally, across every process and host using the
database.  Each write transaction begins with ``pg_advisory_xact_lock`` on one
constant key (released by COMMIT or ROLLBACK) and runs at READ COMMITTED:
every statement after the lock sees everything committed before it, and no
other writer can commit until it ends, so it reads and writes as if alone.
(REPEATABLE READ would be wrong here: its snapshot is taken by the lock
statement itself, *before* the wait.)  The alternative — SERIALIZABLE with
retry on 40001 — and the measurements behind this choice are in
docs/POSTGRES.md.  Read transactions are REPEATABLE READ READ ONLY: one
snapshot, never waiting for writers.

Connections come from a psycopg_pool pool opened per process (after the fork
under ``serve --workers N``); they are in autocommit mode and this module
issues BEGIN/COMMIT itself, so a transaction's first round trip carries both
BEGIN and the lock.  A lost connection (PostgreSQL restarting, a network cut)
surfaces as ``StorageUnavailable`` — AWS's retryable 500 — and the pool
replaces the connection by itself; a transaction that failed to *begin* on a
dead pooled connection is retried at once on another, since nothing ran.

Durability: with PostgreSQL's default ``synchronous_commit=on`` a commit is
flushed to the WAL before ``transaction`` returns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from cellstore.errors import StorageUnavailable
from cellstore.storage import migrations
from cellstore.storage.base import Store, Txn

log = logging.getLogger("cellstore.storage")

#: The advisory lock every write transaction holds: "cellstor" as a big-endian int64.
WRITE_LOCK = int.from_bytes(b"cellstor", "big")

_BEGIN_WRITE = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

# A range is read in chunks (keyset pagination), so a Query that stops after
# one page never reads the rest of the table; chunks grow for long scans.
_FIRST_CHUNK = 64
_MAX_CHUNK = 2048

_GET = "SELECT v FROM kv WHERE k = %s"
_PUT = "INSERT INTO kv (k, v) VALUES (%s, %s) ON CONFLICT (k) DO UPDATE SET v = excluded.v"
_DELETE = "DELETE FROM kv WHERE k = %s"
_RANGE = "SELECT k, v FROM kv WHERE k >= %s AND k < %s ORDER BY k LIMIT %s"
_RANGE_REVERSE = "SELECT k, v FROM kv WHERE k >= %s AND k < %s ORDER BY k DESC LIMIT %s"
_DELETE_RANGE = "DELETE FROM kv WHERE k >= %s AND k < %s"
_RANGE_STATS = "SELECT count(*), coalesce(sum(octet_length(v)), 0) FROM kv WHERE k >= %s AND k < %s"


def _unavailable(exc: BaseException) -> StorageUnavailable:
    log.warning("PostgreSQL unavailable: %s", exc)
    return StorageUnavailable()


class PostgresTxn(Txn):
    __slots__ = ("_conn", "connection", "failed")

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn
        #: The transaction's connection, for this backend's own schema migrations.
        self.connection = conn
        #: A statement failed: PostgreSQL aborted the transaction, so it must
        #: not be reported committed even if the caller swallowed the error.
        self.failed = False

    def _rows(self, query: str, params: tuple[object, ...]) -> list[tuple[bytes, ...]]:
        try:
            cursor = self._conn.execute(query, params, binary=True)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError as exc:
            self.failed = True
            raise _unavailable(exc) from exc
        except psycopg.Error:
            self.failed = True
            raise

    def _count(self, query: str, params: tuple[object, ...]) -> int:
        try:
            return self._conn.execute(query, params).rowcount  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            self.failed = True
            raise _unavailable(exc) from exc
        except psycopg.Error:
            self.failed = True
            raise

    def get(self, key: bytes) -> bytes | None:
        rows = self._rows(_GET, (key,))
        return rows[0][0] if rows else None

    def put(self, key: bytes, value: bytes) -> None:
        self._count(_PUT, (key, value))

    def delete(self, key: bytes) -> None:
        self._count(_DELETE, (key,))

    def range(
        self,
        start: bytes,
        end: bytes,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        chunk = _FIRST_CHUNK
        remaining = limit
        while remaining is None or remaining > 0:
            size = chunk if remaining is None else min(chunk, remaining)
            rows = self._rows(_RANGE_REVERSE if reverse else _RANGE, (start, end, size))
            for k, v in rows:
                yield k, v
            if len(rows) < size:
                return
            if reverse:
                end = rows[-1][0]
            else:
                start = rows[-1][0] + b"\x00"  # the smallest key after the last one read
            if remaining is not None:
                remaining -= len(rows)
            chunk = min(chunk * 4, _MAX_CHUNK)

    def delete_range(self, start: bytes, end: bytes) -> int:
        return self._count(_DELETE_RANGE, (start, end))

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        ((count, size),) = self._rows(_RANGE_STATS, (start, end))
        return int(count), int(size)  # type: ignore[call-overload]


def describe(dsn: str) -> str:
    """``dsn`` without its password, for messages and logs."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unparseable DSN)"
    params.pop("password", None)
    host = params.get("host", "localhost")
    return f"postgresql://{params.get('user', '')}@{host}:{params.get('port', 5432)}/{params.get('dbname', '')}"


class PostgresStore(Store):
    """A cellstore database in a PostgreSQL database; every process opens its own pool.

    ``dsn`` is a libpq connection string or URL.  ``max_size`` bounds the
    connections this process holds (the server calls the engine from one
    thread; background tasks and long-poll peeks add a few).
    """

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 8, timeout: float = 5.0) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self._pool: ConnectionPool[psycopg.Connection] = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            name="cellstore",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as exc:
            self._pool.close()
            raise StorageUnavailable(f"cannot connect to {describe(dsn)}") from exc
        try:
            #: The schema version found on opening; ``migrations.LATEST`` once open.
            self.migrated_from = self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> int:
        """Apply pending migrations in one transaction holding the write lock."""
        with self.transaction(write=True) as txn:
            conn = txn.connection
            conn.execute("CREATE TABLE IF NOT EXISTS cellstore_schema (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM cellstore_schema").fetchone()
            version = 0 if row is None or row[0] is None else int(row[0])
            todo = migrations.pending(version, describe(self.dsn))
            for migration in todo:
                for statement in migration.postgres:
                    conn.execute(statement)  # type: ignore[arg-type]
            if todo:
                conn.execute("DELETE FROM cellstore_schema")
                conn.execute("INSERT INTO cellstore_schema (version) VALUES (%s)", (todo[-1].version,))
        return version

    def _begin(self, statement: str) -> psycopg.Connection:
        """A pooled connection inside a new transaction; dead pooled connections are skipped."""
        failure: BaseException = RuntimeError("no connection tried")
        for _ in range(self._max_size + 1):
            try:
                conn = self._pool.getconn()
            except PoolTimeout as exc:
                raise _unavailable(exc) from exc
            try:
                conn.execute(statement)  # type: ignore[arg-type]
                return conn
            except psycopg.OperationalError as exc:
                self._pool.putconn(conn)  # broken: the pool discards it and connects anew
                if not conn.broken:
                    raise _unavailable(exc) from exc
                failure = exc
        raise _unavailable(failure) from failure

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[PostgresTxn]:
        conn = self._begin(_BEGIN_WRITE if write else _BEGIN_READ)
        txn = PostgresTxn(conn)
        try:
            try:
                yield txn
            except BaseException:
                _rollback(conn)
                raise
            if txn.failed or conn.info.transaction_status != TransactionStatus.INTRANS:
                _rollback(conn)
                raise StorageUnavailable()
            try:
                conn.execute("COMMIT")
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from exc
        finally:
            self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.close()


def _rollback(conn: psycopg.Connection) -> None:
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        log.debug("rollback failed", exc_info=True)
