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

Connections come from a pool opened per process (after the fork under
``serve --workers N``; ``pgpool.py``); they are in autocommit mode and this
module issues BEGIN/COMMIT itself, so a transaction's first round trip
carries both BEGIN and the lock.  A lost connection (PostgreSQL restarting,
a network cut, a failover) surfaces as ``StorageUnavailable`` — AWS's
retryable 500 — and the pool connects anew on the next request; a
transaction that failed to *begin* on a dead pooled connection is retried at
once on another, since nothing ran.  A multi-host URL (a quorum cell,
docs/QUORUM.md) adds a write deadline, a floor of synchronous replicas and
stricter commit outcomes: see ``PostgresStore``.

Durability: with PostgreSQL's default ``synchronous_commit=on`` a commit is
flushed to the WAL before ``transaction`` returns.

A connection lost *during* COMMIT leaves the outcome unknown to us, so it is
settled rather than guessed: a write transaction learns its transaction id
with its first write (folded into that statement, no extra round trip), and
after a failed COMMIT a fresh connection asks ``pg_xact_status`` — committed:
return normally; not committed: ``StorageUnavailable``, safe to retry; still
unknown after ``commit_check_timeout``: ``CommitOutcomeUnknown``.  A crash can
hand a transaction id that never reached the WAL to a new transaction, which
the check detects with the checkpoint's next id; docs/POSTGRES.md, "What a
lost connection at COMMIT means", has the whole argument.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import conninfo
from psycopg.pq import TransactionStatus

from cellstore.errors import CommitOutcomeUnknown, StorageUnavailable
from cellstore.storage import migrations
from cellstore.storage.base import Store, Txn
from cellstore.storage.pgdeadline import Watchdog, WriteGuard
from cellstore.storage.pgpool import ConnectionPool, PoolTimeout, discard
from cellstore.storage.pgsync import FLOOR_SETTING, parse_floor, synchronous_count

log = logging.getLogger("cellstore.storage")

#: The advisory lock every write transaction holds: "cellstor" as a big-endian int64.
WRITE_LOCK = int.from_bytes(b"cellstor", "big")

_BEGIN_WRITE = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
_SYNC_NAMES = "SELECT current_setting('synchronous_standby_names')"

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

#: How long a failed COMMIT is checked for (PostgreSQL restarting) before
#: answering CommitOutcomeUnknown, and the pause between checks.
COMMIT_CHECK_TIMEOUT = 15.0
_CHECK_INTERVAL = 0.1

#: How long a write transaction may take, BEGIN to the end of COMMIT, on a
#: replicated database, before its statement is cancelled (docs/QUORUM.md):
#: PostgreSQL's statement_timeout does not cover a COMMIT waiting for replicas.
REPLICATED_WRITE_TIMEOUT = 5.0

#: How long an eventually consistent read looks for a replica before reading the primary instead.
REPLICA_TIMEOUT = 1.0
#: The custom setting naming a node's zone (``cellstore quorum up`` writes it on every node).
ZONE_SETTING = "cellstore.zone"

NOT_REPLICATED = (
    "The write committed on the primary but is not known to have reached enough replicas: "
    "the request may or may not have been applied"
)


@dataclass(frozen=True)
class _XidSql:
    """The statements that learn a write transaction's id and later ask its fate.

    The first write of a transaction returns the transaction id and the
    server's start time with its own result (``RETURNING``, or a CTE where
    the row count is needed), and ``synchronous_standby_names`` for a quorum
    cell's floor (``PostgresTxn._note``), so learning them costs no round trip; later
    writes are the plain statements.  The start time is taken with the id,
    not per connection, because a connection through pgbouncer outlives a
    restart of the server behind it.
    A write that changed no row returns no id, and none is needed: nothing
    was written yet.  PostgreSQL 13 named the functions ``pg_current_xact_id``
    and ``pg_xact_status``; 10 to 12 have ``txid_current``/``txid_status``,
    which return the same 64-bit ids.
    """

    put: str
    delete: str
    delete_range: str
    note: str
    assign: str
    status: str

    @classmethod
    def for_server(cls, server_version: int) -> _XidSql:
        if server_version >= 130000:
            current, if_assigned = "pg_current_xact_id()::text", "pg_current_xact_id_if_assigned()::text"
            status = "pg_xact_status(%s::text::xid8)"
        else:
            current, if_assigned = "txid_current()::text", "txid_current_if_assigned()::text"
            status = "txid_status(%s::text::bigint)"
        started = "pg_postmaster_start_time()"
        # And how many replicas the COMMIT will wait for (a quorum cell's floor, pgsync.py).
        noted = f"{started}, current_setting('synchronous_standby_names')"
        return cls(
            put=f"{_PUT} RETURNING {current}, {noted}",
            delete=f"{_DELETE} RETURNING {current}, {noted}",
            # count(*) consumes the CTE, so the DELETE has run when the id is read.
            delete_range=f"WITH w AS ({_DELETE_RANGE} RETURNING 1) SELECT count(*), {if_assigned}, {noted} FROM w",
            note=f"SELECT {if_assigned}, {noted}",
            assign=f"SELECT {current}, {noted}",
            status=f"SELECT {status}, {started}",
        )


class _Outcome(enum.Enum):
    COMMITTED = "committed"
    ABORTED = "aborted"
    PENDING = "pending"  # not learned yet: the server is unreachable or the transaction still runs
    UNKNOWABLE = "unknowable"  # PostgreSQL no longer keeps the status (NULL)


def _unavailable(exc: BaseException) -> StorageUnavailable:
    log.warning("PostgreSQL unavailable: %s", exc)
    return StorageUnavailable()


class PostgresTxn(Txn):
    __slots__ = ("_conn", "_floor", "_sql", "backend_pid", "connection", "failed", "server_started", "xid")

    def __init__(self, conn: psycopg.Connection, sql: _XidSql, floor: int = 0) -> None:
        self._conn = conn
        self._floor = floor
        #: The transaction's connection, for this backend's own schema migrations.
        self.connection = conn
        self._sql = sql
        #: A statement failed: PostgreSQL aborted the transaction, so it must
        #: not be reported committed even if the caller swallowed the error.
        self.failed = False
        #: The transaction id (64-bit, as text) once something was written;
        #: None while nothing was, when a lost COMMIT cannot have changed anything.
        self.xid: str | None = None
        #: ``pg_postmaster_start_time()`` when the id was taken: a different
        #: value when the COMMIT is checked means the server restarted in between.
        self.server_started: datetime | None = None
        #: The backend that runs the transaction, to end it if it outlives its client.
        self.backend_pid = conn.info.backend_pid

    def _note(self, rows: list[tuple[Any, ...]]) -> None:
        """Keep the (id, start time) that end a first write's row; no row or no id: nothing written.

        The row ends with the primary's ``synchronous_standby_names`` too: a
        write its COMMIT would acknowledge with fewer replicas than the
        cell's floor fails here, before anything is committed.
        """
        if not rows or rows[0][-3] is None:
            return
        self.xid, self.server_started = str(rows[0][-3]), rows[0][-2]
        waits_for = synchronous_count(rows[0][-1])
        if waits_for < self._floor:
            self.failed = True
            log.warning("write refused: the primary waits for %d synchronous replicas, the cell promises %d", waits_for, self._floor)
            raise StorageUnavailable(
                f"Too few replicas to make a write durable: {waits_for} of the {self._floor} needed are in sync"
            )

    def note_xid(self) -> None:
        """Note the id of a transaction that wrote by other means (schema migrations)."""
        if self.xid is None:
            self._note(self._rows(self._sql.note, ()))

    def require_quorum(self) -> None:
        """Make a write transaction that wrote nothing commit through the quorum anyway.

        Its answer may rest on what it read, and on the primary that can be a
        commit not yet on enough replicas (one whose wait was cancelled):
        an idempotent retry that finds its token answers success without
        writing.  Taking a transaction id makes the COMMIT write a record and
        wait for the replicas, and WAL is replicated in order, so everything
        it read is then on the quorum too (and the floor is checked).
        """
        if self.xid is None:
            self._note(self._rows(self._sql.assign, ()))

    def _rows(self, query: str, params: tuple[object, ...]) -> list[tuple[bytes, ...]]:
        try:
            cursor = self._conn.execute(query, params, binary=True)
            return cursor.fetchall() if cursor.description is not None else []
        except psycopg.OperationalError as exc:
            self.failed = True
            raise _unavailable(exc) from exc
        except psycopg.Error:
            self.failed = True
            raise

    def _count(self, query: str, params: tuple[object, ...]) -> int:
        try:
            return self._conn.execute(query, params).rowcount
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
        if self.xid is None:
            self._note(self._rows(self._sql.put, (key, value)))
        else:
            self._count(_PUT, (key, value))

    def delete(self, key: bytes) -> None:
        if self.xid is None:
            self._note(self._rows(self._sql.delete, (key,)))
        else:
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
            for k, v in rows:  # noqa: UP028 - unpacking makes a row the (key, value) pair range() promises
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
        if self.xid is not None:
            return self._count(_DELETE_RANGE, (start, end))
        rows = self._rows(self._sql.delete_range, (start, end))
        self._note(rows)
        return int(rows[0][0])

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        ((count, size),) = self._rows(_RANGE_STATS, (start, end))
        return int(count), int(size)


def describe(dsn: str) -> str:
    """``dsn`` without its password, for messages and logs."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "PostgreSQL (unparseable DSN)"
    params.pop("password", None)
    hosts = str(params.get("host", "localhost")).split(",")
    ports = str(params.get("port", 5432)).split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    where = ",".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=False))
    return f"postgresql://{params.get('user', '')}@{where}/{params.get('dbname', '')}"


class PostgresStore(Store):
    """A cellstore database in a PostgreSQL database; every process opens its own pool.

    ``dsn`` is a libpq connection string or URL.  ``max_size`` bounds the
    connections this process holds (the server calls the engine from one
    thread; background tasks and long-poll peeks add a few).
    ``commit_check_timeout`` bounds how long a COMMIT whose connection was
    lost is checked for (while PostgreSQL restarts) before the request is
    answered ``CommitOutcomeUnknown`` (default: ``COMMIT_CHECK_TIMEOUT``).

    A *replicated* database — a multi-host URL (a quorum cell: libpq picks the
    primary with ``target_session_attrs=read-write``) or a server with
    ``synchronous_standby_names`` set — changes two rules (docs/QUORUM.md):
    a write transaction has a client-side deadline, ``write_timeout``
    (default ``REPLICATED_WRITE_TIMEOUT``), after which its statement is
    cancelled; and a COMMIT whose outcome is not known to be quorum-durable
    (connection lost, or the wait for replicas cancelled) is answered
    ``CommitOutcomeUnknown`` at once, never settled as success: the old
    primary's "committed" does not say the replicas have it, and after a
    failover the node answering is another server.
    """

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeout: float = 5.0,
        commit_check_timeout: float | None = None,
        write_timeout: float | None = None,
        zone: str | None = None,
    ) -> None:
        self.dsn = dsn
        self._max_size = max_size
        self.commit_check_timeout = COMMIT_CHECK_TIMEOUT if commit_check_timeout is None else commit_check_timeout
        self._sql = _XidSql.for_server(130000)  # replaced below by the server's own version
        self._pool = ConnectionPool(dsn, max_size=max_size, timeout=timeout)
        self._watchdog = Watchdog()
        #: Set below: a quorum cell or a server with synchronous standbys.
        self.replicated = False
        #: Set below from ``cellstore.min_sync_standbys``: replicas every commit must reach (0: no floor).
        self.sync_floor = 0
        self.write_timeout = write_timeout
        #: This front end's zone (``serve --zone``, else ``CELLSTORE_ZONE``): its replicas serve stale reads first.
        self.zone = zone if zone is not None else os.environ.get("CELLSTORE_ZONE") or None
        #: Connections to replicas, for eventually consistent reads; None with a single host.
        self.replicas: ConnectionPool | None = None
        try:
            self._pool.open(min_size)
        except PoolTimeout as exc:
            self._pool.close()
            reason = str(exc).split("\n", 1)[0].strip()
            raise StorageUnavailable(f"cannot connect to {describe(dsn)} ({reason})") from exc
        try:
            conn = self._pool.getconn()
            try:
                self._sql = _XidSql.for_server(conn.info.server_version)
                row = conn.execute(f"SELECT current_setting('synchronous_standby_names'), current_setting('{FLOOR_SETTING}', true)").fetchone()
                self.replicated = _multi_host(dsn) or bool(row and row[0])
                self.sync_floor = parse_floor(row[1] if row else None)
            finally:
                self._pool.putconn(conn)
            if self.replicated and self.write_timeout is None:
                self.write_timeout = REPLICATED_WRITE_TIMEOUT
            if _multi_host(dsn):
                self.replicas = ConnectionPool(replica_dsn(dsn, self.zone), max_size=max_size, timeout=REPLICA_TIMEOUT)
            #: The schema version found on opening; ``migrations.LATEST`` once open.
            self.migrated_from = self._migrate()
        except BaseException:
            self._pool.close()
            raise

    def _migrate(self) -> int:
        """Apply pending migrations in one transaction holding the write lock."""
        # Not held to the quorum when it writes nothing: a front end may open a cell below its floor, to read.
        with self._transaction(write=True, quorum=False) as txn:
            conn = txn.connection
            conn.execute("CREATE TABLE IF NOT EXISTS cellstore_schema (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM cellstore_schema").fetchone()
            version = 0 if row is None or row[0] is None else int(row[0])
            todo = migrations.pending(version, describe(self.dsn))
            for migration in todo:
                for statement in migration.postgres:
                    conn.execute(statement)
            if todo:
                conn.execute("DELETE FROM cellstore_schema")
                conn.execute("INSERT INTO cellstore_schema (version) VALUES (%s)", (todo[-1].version,))
                txn.note_xid()
        return version

    def _begin(self, statement: str, guard: WriteGuard | None, pool: ConnectionPool | None = None) -> psycopg.Connection:
        """A pooled connection inside a new transaction; dead pooled connections are skipped."""
        pool = self._pool if pool is None else pool
        failure: BaseException = RuntimeError("no connection tried")
        for _ in range(self._max_size + 1):
            try:
                conn = pool.getconn()
            except PoolTimeout as exc:
                raise _unavailable(exc) from exc
            if guard is not None:
                guard.attach(conn)
            try:
                conn.execute(statement)
                return conn
            except psycopg.OperationalError as exc:
                if guard is not None and guard.detach():
                    discard(conn)  # a cancel was sent: it must not reach the connection's next user
                pool.putconn(conn)  # broken: the pool discards it
                if not conn.broken:
                    raise _unavailable(exc) from exc
                failure = exc
        raise _unavailable(failure) from failure

    def transaction(self, *, write: bool) -> AbstractContextManager[PostgresTxn]:
        return self._transaction(write=write)

    def stale_read(self) -> AbstractContextManager[PostgresTxn]:
        """A read on a replica, this front end's zone first (``replica_dsn``); the primary when none answers."""
        if self.replicas is None:
            return self._transaction(write=False)
        return self._replica_read(self.replicas)

    @contextmanager
    def _replica_read(self, replicas: ConnectionPool) -> Iterator[PostgresTxn]:
        conn: psycopg.Connection | None
        try:
            conn = self._begin(_BEGIN_READ, None, replicas)
        except StorageUnavailable:
            log.info("no replica answered within %.1f s: reading the primary", REPLICA_TIMEOUT)
            conn = None
        if conn is None:
            with self._transaction(write=False) as txn:
                yield txn
            return
        try:
            try:
                yield PostgresTxn(conn, self._sql)
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")  # ends the snapshot; nothing was written
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from exc
        finally:
            replicas.putconn(conn)

    @contextmanager
    def _transaction(self, *, write: bool, quorum: bool = True) -> Iterator[PostgresTxn]:
        guard = WriteGuard(self._watchdog, self.write_timeout) if write else None
        conn = self._begin(_BEGIN_WRITE if write else _BEGIN_READ, guard)
        txn = PostgresTxn(conn, self._sql, self.sync_floor)
        try:
            try:
                yield txn
            except BaseException:
                _rollback(conn)
                raise
            if txn.failed or conn.info.transaction_status != TransactionStatus.INTRANS:
                _rollback(conn)
                raise StorageUnavailable()
            if write and quorum and self.sync_floor:
                try:
                    txn.require_quorum()
                except BaseException:
                    _rollback(conn)
                    raise
            try:
                conn.execute("COMMIT")
            except psycopg.OperationalError as exc:
                if txn.xid is None:  # nothing was written: whatever happened changed nothing
                    raise _unavailable(exc) from exc
                if self.replicated:
                    log.error("connection lost during COMMIT of transaction %s on a replicated database: %s", txn.xid, exc)
                    raise CommitOutcomeUnknown() from exc
                self._settle_commit(txn, exc)
            if guard is not None and guard.sync_wait_cancelled:
                # Committed on the primary, not known to be on enough replicas: never a success.
                raise CommitOutcomeUnknown(NOT_REPLICATED)
            if self.sync_floor and txn.xid is not None:
                self._check_commit_floor(conn, txn)
        finally:
            if guard is not None and guard.detach():
                discard(conn)
            self._pool.putconn(conn)

    def _check_commit_floor(self, conn: psycopg.Connection, txn: PostgresTxn) -> None:
        """After COMMIT: if the primary lowered its quorum below the floor meanwhile, the commit may have fewer copies."""
        try:
            row = conn.execute(_SYNC_NAMES).fetchone()
        except psycopg.OperationalError as exc:
            log.error("lost the connection checking the quorum of transaction %s: %s", txn.xid, exc)
            raise CommitOutcomeUnknown() from exc
        waits_for = synchronous_count(row[0] if row else None)
        if waits_for < self.sync_floor:
            log.error(
                "transaction %s committed while the primary waited for %d replicas, fewer than the %d promised",
                txn.xid,
                waits_for,
                self.sync_floor,
            )
            raise CommitOutcomeUnknown(NOT_REPLICATED)

    def _settle_commit(self, txn: PostgresTxn, cause: psycopg.OperationalError) -> None:
        """Return if a COMMIT that failed with ``cause`` did commit; raise otherwise.

        Asks PostgreSQL on fresh connections, retrying while it restarts, for
        at most ``commit_check_timeout``: not committed is ``StorageUnavailable``
        (a retry is safe), never learned is ``CommitOutcomeUnknown``.
        """
        deadline = time.monotonic() + self.commit_check_timeout
        while True:
            outcome = self._commit_outcome(txn, deadline)
            if outcome is _Outcome.COMMITTED:
                log.warning("connection lost during COMMIT of transaction %s, which did commit: %s", txn.xid, cause)
                return
            if outcome is _Outcome.ABORTED:
                log.warning("connection lost during COMMIT of transaction %s, which did not commit: %s", txn.xid, cause)
                raise StorageUnavailable() from cause
            if outcome is _Outcome.UNKNOWABLE or time.monotonic() >= deadline:
                log.error("connection lost during COMMIT of transaction %s, outcome unknown: %s", txn.xid, cause)
                raise CommitOutcomeUnknown() from cause
            time.sleep(_CHECK_INTERVAL)

    def _commit_outcome(self, txn: PostgresTxn, deadline: float) -> _Outcome:
        """One attempt to learn whether ``txn`` committed."""
        xid = int(txn.xid or 0)
        connect_timeout = max(2, int(deadline - time.monotonic()) + 1)  # libpq: whole seconds, at least 2
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=connect_timeout) as conn:
                return _ask_outcome(conn, self._sql, txn, xid)
        except psycopg.OperationalError as exc:
            log.info("checking a lost COMMIT: PostgreSQL not reachable yet: %s", exc)
            return _Outcome.PENDING
        except psycopg.Error as exc:  # e.g. a function this role may not call
            log.error("checking a lost COMMIT failed: %s", exc)
            return _Outcome.UNKNOWABLE

    def figures(self) -> dict[str, float]:
        """This process's pool: connections in use, its size limit, and the waits for a free one."""
        return {
            "postgres_pool_connections_in_use": float(self._pool.in_use()),
            "postgres_pool_connections_max": float(self._pool.max_size),
            "postgres_pool_waits_total": float(self._pool.waits),
            "postgres_pool_wait_seconds_total": self._pool.waited_seconds,
        }

    def close(self) -> None:
        self._watchdog.stop()
        self._pool.close()
        if self.replicas is not None:
            self.replicas.close()


def replica_dsn(dsn: str, zone: str | None) -> str:
    """``dsn`` for eventually consistent reads: standbys only, those in ``zone`` tried first.

    Each host is asked its zone (``cellstore.zone``) once, here; a host that
    does not answer goes last.  libpq then takes the first standby that
    accepts, in this order.
    """
    params = conninfo.conninfo_to_dict(dsn)
    hosts = str(params.get("host", "")).split(",")
    ports = str(params.get("port", 5432)).split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    pairs = list(zip(hosts, ports, strict=False))
    if zone is not None:
        zones = {pair: _zone_of(dsn, *pair) for pair in pairs}
        pairs.sort(key=lambda pair: 0 if zones[pair] == zone else 1 if zones[pair] is not None else 2)
    params.update(
        host=",".join(host for host, _ in pairs),
        port=",".join(port for _, port in pairs),
        target_session_attrs="standby",
        application_name="cellstore-stale-read",
    )
    return conninfo.make_conninfo("", **params)


def _zone_of(dsn: str, host: str, port: str) -> str | None:
    try:
        single = conninfo.make_conninfo(dsn, host=host, port=port, target_session_attrs="any", connect_timeout=2)
        with psycopg.connect(single, autocommit=True) as conn:
            row = conn.execute(f"SELECT current_setting('{ZONE_SETTING}', true)").fetchone()
    except psycopg.Error as exc:
        log.info("could not learn the zone of %s:%s: %s", host, port, exc)
        return None
    return None if row is None or not row[0] else str(row[0])


def _multi_host(dsn: str) -> bool:
    """True for a URL or conninfo naming several hosts (libpq tries them in turn)."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return False
    return "," in str(params.get("host", "")) or "," in str(params.get("hostaddr", ""))


def _ask_outcome(conn: psycopg.Connection, sql: _XidSql, txn: PostgresTxn, xid: int) -> _Outcome:
    try:
        row = conn.execute(sql.status, (str(xid),)).fetchone()
    except psycopg.errors.InvalidParameterValue:
        # "transaction ID … is in the future": PostgreSQL crashed before the
        # id reached the WAL, so the transaction cannot have committed.
        return _Outcome.ABORTED
    if row is None:
        return _Outcome.PENDING
    status, started = row
    if started != txn.server_started:
        # Restarted since.  Crash recovery ends with a checkpoint whose next id
        # is the first handed out afterwards: an id at or beyond the latest
        # checkpoint's never reached the WAL, so it did not commit — and it may
        # since have gone to a new transaction, whose status pg_xact_status
        # would report as if it were ours.
        checkpoint = conn.execute("SELECT next_xid FROM pg_control_checkpoint()").fetchone()
        if checkpoint is None:
            return _Outcome.UNKNOWABLE
        if xid >= _full_xid(checkpoint[0]):
            return _Outcome.ABORTED
    if status == "committed":
        return _Outcome.COMMITTED
    if status == "aborted":
        return _Outcome.ABORTED
    if status is None:
        return _Outcome.UNKNOWABLE
    # In progress: the old backend has not noticed that its client is gone, or
    # is busy with the COMMIT.  End it (it commits or aborts on the way out)
    # and look again.
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = %s AND backend_xid::text = %s",
        (txn.backend_pid, str(xid & 0xFFFFFFFF)),
    )
    return _Outcome.PENDING


def _full_xid(checkpoint_next_xid: Any) -> int:
    """``pg_control_checkpoint().next_xid`` ("epoch:xid") as a 64-bit transaction id."""
    epoch, _, xid = str(checkpoint_next_xid).partition(":")
    return (int(epoch) << 32) | int(xid)


def _rollback(conn: psycopg.Connection) -> None:
    if conn.broken or conn.closed:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        log.debug("rollback failed", exc_info=True)
