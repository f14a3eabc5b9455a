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
``serve --workers N``; ``pgpool.py``), each driven in libpq's pipeline mode
(``pgpipe.py``): a transaction's BEGIN (and a write's lock and transaction
id) go with its first read, its writes with the next round trip (the COMMIT
at the latest), and a read's COMMIT is not waited for (docs/POSTGRES.md,
"Throughput").  ``group`` and ``snapshot`` let a server's storage threads run
several requests' transactions as one (``pggroup.py``).  A lost connection (PostgreSQL
restarting, a network cut, a failover) surfaces as ``StorageUnavailable`` —
AWS's retryable 500 — and the pool connects anew on the next request; a
transaction whose first round trip found its pooled connection dead is sent
again on another, since nothing of it reached the server.  A multi-host URL (a quorum cell,
docs/QUORUM.md) adds a write deadline, a floor of synchronous replicas and
stricter commit outcomes: see ``PostgresStore``.

Durability: with PostgreSQL's default ``synchronous_commit=on`` a commit is
flushed to the WAL before ``transaction`` returns.

A connection lost *during* COMMIT leaves the outcome unknown to us, so it is
settled rather than guessed: a write transaction learns its transaction id
with its write lock (folded into that statement, no extra round trip), and
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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import conninfo

from cellstore.errors import CommitOutcomeUnknown, StorageUnavailable
from cellstore.storage import migrations, pgpipe
from cellstore.storage.base import Group, Snapshot, Store, Txn
from cellstore.storage.pgdeadline import Watchdog, WriteGuard
from cellstore.storage.pggroup import Batches, SharedTxn
from cellstore.storage.pgoverlap import Overlap
from cellstore.storage.pgpipe import BYTEA, INT8, Pipe, Statement
from cellstore.storage.pgpool import ConnectionPool, PoolTimeout, discard
from cellstore.storage.pgsync import FLOOR_SETTING, parse_floor, synchronous_count

log = logging.getLogger("cellstore.storage")

#: The advisory lock every write transaction holds: "cellstor" as a big-endian int64.
WRITE_LOCK = int.from_bytes(b"cellstor", "big")

_BEGIN_WRITE = Statement("BEGIN ISOLATION LEVEL READ COMMITTED")
_BEGIN_READ = Statement("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
_COMMIT = Statement("COMMIT")
_ROLLBACK = Statement("ROLLBACK")
_SYNC_NAMES = Statement("SELECT current_setting('synchronous_standby_names')")

#: Keys a store remembers for ``get_stable`` guesses (table descriptions: one per table in use).
_STABLE_LIMIT = 4096

# A range is read in chunks (keyset pagination), so a Query that stops after
# one page never reads the rest of the table; chunks grow for long scans.
_FIRST_CHUNK = 64
_MAX_CHUNK = 2048

_GET = Statement("SELECT v FROM kv WHERE k = $1", (BYTEA,))
_PUT = Statement("INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v", (BYTEA, BYTEA))
_DELETE = Statement("DELETE FROM kv WHERE k = $1", (BYTEA,))
_RANGE = Statement("SELECT k, v FROM kv WHERE k >= $1 AND k < $2 ORDER BY k LIMIT $3", (BYTEA, BYTEA, INT8))
_RANGE_REVERSE = Statement("SELECT k, v FROM kv WHERE k >= $1 AND k < $2 ORDER BY k DESC LIMIT $3", (BYTEA, BYTEA, INT8))
_DELETE_RANGE = Statement("DELETE FROM kv WHERE k >= $1 AND k < $2", (BYTEA, BYTEA))
_RANGE_STATS = Statement(
    "SELECT count(*), coalesce(sum(octet_length(v)), 0)::int8 FROM kv WHERE k >= $1 AND k < $2", (BYTEA, BYTEA)
)

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


#: The server's start time as text (microseconds since 1970), noted with a transaction id and compared when checking it.
_STARTED = "(extract(epoch FROM pg_postmaster_start_time()) * 1000000)::bigint::text"


@dataclass(frozen=True)
class _XidSql:
    """The statements that learn a write transaction's id and later ask its fate.

    A write transaction takes the write lock and its transaction id in one
    statement, in the same round trip as its BEGIN and its first read
    (``pgpipe.py``), with the server's start time and
    ``synchronous_standby_names`` for a quorum cell's floor
    (``PostgresTxn._note``): so the id is known before any COMMIT is sent,
    and learning it costs no round trip.  The start time is taken with the
    id, not per connection, because a connection through pgbouncer outlives
    a restart of the server behind it.  A transaction that may not wait for
    replicas (a front end's migrations, which may open a cell below its
    floor to read) takes the lock alone and notes an id only if it wrote.
    PostgreSQL 13 named the functions ``pg_current_xact_id`` and
    ``pg_xact_status``; 10 to 12 have ``txid_current``/``txid_status``,
    which return the same 64-bit ids.
    """

    lock_assign: Statement
    lock: Statement
    note: Statement
    status: str

    @classmethod
    def for_server(cls, server_version: int) -> _XidSql:
        if server_version >= 130000:
            current, if_assigned = "pg_current_xact_id()::text", "pg_current_xact_id_if_assigned()::text"
            status = "pg_xact_status(%s::text::xid8)"
        else:
            current, if_assigned = "txid_current()::text", "txid_current_if_assigned()::text"
            status = "txid_status(%s::text::bigint)"
        # And how many replicas the COMMIT will wait for (a quorum cell's floor, pgsync.py).
        noted = f"{_STARTED}, current_setting('synchronous_standby_names')"
        return cls(
            lock_assign=Statement(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})::text, {current}, {noted}"),
            lock=Statement(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
            note=Statement(f"SELECT {if_assigned}, {noted}"),
            status=f"SELECT {status}, {_STARTED}",
        )


class _Outcome(enum.Enum):
    COMMITTED = "committed"
    ABORTED = "aborted"
    PENDING = "pending"  # not learned yet: the server is unreachable or the transaction still runs
    UNKNOWABLE = "unknowable"  # PostgreSQL no longer keeps the status (NULL)


def _unavailable(exc: BaseException) -> StorageUnavailable:
    log.warning("PostgreSQL unavailable: %s", exc)
    return StorageUnavailable()


class PostgresTxn(SharedTxn):
    """One transaction on a pipelined connection: sent lazily, writes travel with the next round trip.

    Nothing is sent when it opens: its BEGIN (and, for a write, the lock
    statement) is queued and goes with the first statement that needs an
    answer.  ``put`` and ``delete`` need none, so they are queued too and go
    with the next read or with the COMMIT.  If that first round trip finds
    the pooled connection dead, nothing of the transaction reached the
    server, so it is sent again on a fresh connection (``reconnect``).
    """

    __slots__ = (
        "_cache", "_floor", "_inflight", "_noting", "_opened", "_pipe", "_reconnect", "_sql", "_stable", "backend_pid", "checking",
        "failed", "overlap", "sent", "server_started", "wrote", "xid",
    )

    def __init__(
        self,
        pipe: Pipe,
        sql: _XidSql,
        *,
        write: bool,
        floor: int = 0,
        assign: bool = True,
        reconnect: Callable[[], Pipe] | None = None,
        stable: dict[bytes, bytes | None] | None = None,
    ) -> None:
        self._pipe = pipe
        # The store's last-read values of keys read with ``get_stable``: guesses, each checked before it counts.
        self._stable = stable
        self._floor = floor
        self._sql = sql
        self._reconnect = reconnect
        #: A statement failed: PostgreSQL aborted the transaction, so it must
        #: not be reported committed even if the caller swallowed the error.
        self.failed = False
        #: Something reached the server (a ROLLBACK is then owed).
        self.sent = False
        #: Something was (or may have been) written: a lost COMMIT must then be settled.
        self.wrote = False
        #: The transaction id (64-bit, as text) once known: from the lock statement, or the note after
        #: a migration wrote; None for a read, or a migration that wrote nothing.
        self.xid: str | None = None
        #: The server's start time when the id was taken: a different value
        #: when the COMMIT is checked means the server restarted in between.
        self.server_started: str | None = None
        self.backend_pid = pipe.conn.info.backend_pid
        self._noting = False
        # A read sees one snapshot, and a write holds the write lock, so what it read stays true until it
        # writes it: a key read twice (a table's description, by every request of a group) is read once.
        self._cache: dict[bytes, bytes | None] | None = {}
        #: A shared snapshot's requests overlapped in greenlets (``pgoverlap.py``): a round trip then parks.
        self.overlap: Overlap | None = None
        #: Keys whose read is queued for the next overlapped round trip: a second request reading one waits for it.
        self._inflight: set[bytes] = set()
        #: Keys whose guess's check is queued for the next overlapped round trip, and where in the queue.
        self.checking: dict[bytes, int] = {}
        if write:
            pipe.queue(_BEGIN_WRITE)
            if assign:
                pipe.queue(sql.lock_assign, binary=False, want=True)
                self._noting = True
            else:
                pipe.queue(sql.lock)
        else:
            pipe.queue(_BEGIN_READ)
        self._opened = len(pipe.queued)

    @property
    def untouched(self) -> bool:
        """Nothing but the BEGIN queued and nothing sent: the transaction never began on the server."""
        return not self.sent and len(self._pipe.queued) == self._opened

    @property
    def pipe(self) -> Pipe:
        """The transaction's connection (the store puts it back in its pool at the end)."""
        return self._pipe

    def _run(self) -> list[Any]:
        """One round trip (or, overlapped, a share of one): the wanted results of what was queued, the note's taken out."""
        overlap = self.overlap
        if overlap is not None and overlap.overlapping:
            return overlap.park(self)
        wanted = [result for result in self.round_trip() if result is not None]
        if self._noting:
            self._noting = False
            self._note(pgpipe.rows(wanted.pop(0)), assigned=True)
        return wanted

    def round_trip(self) -> list[Any]:
        """Send everything queued and wait: each statement's result (None where not wanted)."""
        pipe = self._pipe
        first = not self.sent
        resend = list(pipe.queued) if first and self._reconnect is not None else None
        self.sent = True
        try:
            try:
                results = pipe.run()
            except psycopg.OperationalError:
                if resend is None or not pipe.conn.closed:
                    raise
                # A dead pooled connection: nothing of this transaction reached the server.
                pipe = self._pipe = self._reconnect()  # type: ignore[misc]
                self.backend_pid = pipe.conn.info.backend_pid
                for entry in resend:
                    pipe.queue(*entry[:2], binary=entry[2], want=entry[3])
                results = pipe.run()
        except psycopg.OperationalError as exc:
            self.failed = True
            raise _unavailable(exc) from exc
        except BaseException:
            self.failed = True
            raise
        return results

    def _note(self, rows: list[tuple[bytes | None, ...]], *, assigned: bool) -> None:
        """Keep the (id, start time) that end a note's row; no id: nothing written.

        The row ends with the primary's ``synchronous_standby_names`` too: a
        write its COMMIT would acknowledge with fewer replicas than the
        cell's floor fails here, before anything is committed.
        """
        if not rows or rows[0][-3] is None:
            return
        xid, started, names = (None if value is None else value.decode() for value in rows[0][-3:])
        self.xid, self.server_started = xid, started
        waits_for = synchronous_count(names)
        if waits_for < self._floor:
            self.failed = True
            log.warning("write refused: the primary waits for %d synchronous replicas, the cell promises %d", waits_for, self._floor)
            raise StorageUnavailable(
                f"Too few replicas to make a write durable: {waits_for} of the {self._floor} needed are in sync"
            )

    @property
    def noted(self) -> bool:
        """The lock statement's answer (the transaction id) has arrived."""
        return not self._noting

    def flush(self) -> None:
        """Send what is queued and wait for it (the id, and any queued writes, before a COMMIT)."""
        self._run()

    def execute(self, sql: str) -> list[tuple[bytes | None, ...]]:
        """A statement without parameters, its rows as text (schema migrations)."""
        self._cache = None  # it may change anything
        self._pipe.queue(Statement(sql), binary=False, want=True)
        self.wrote = True  # a migration's DDL writes; the caller notes the id with ``note_xid``
        return pgpipe.rows(self._run()[-1])

    def note_xid(self) -> None:
        """Note the id of a transaction that wrote by other means (schema migrations)."""
        if self.xid is None:
            self._pipe.queue(self._sql.note, binary=False, want=True)
            self._note(pgpipe.rows(self._run()[-1]), assigned=False)

    def get(self, key: bytes) -> bytes | None:
        cache = self._cache
        if cache is not None:
            if key in cache:
                return cache[key]
            if key in self._inflight:  # another overlapped request reads it in the next round trip: wait for that
                self._run()  # parks with nothing of its own queued; the reader was parked first, so is resumed first
                if key in cache:
                    return cache[key]
        self._pipe.queue(_GET, [key], want=True)
        overlapped = cache is not None and self.overlap is not None and self.overlap.overlapping
        if overlapped:
            self._inflight.add(key)
        try:
            result = self._run()[-1]
        finally:
            if overlapped:
                self._inflight.discard(key)
        value: bytes | None = result.get_value(0, 0) if result.ntuples else None
        if cache is not None:
            cache[key] = value
        return value

    def get_stable(self, key: bytes) -> bytes | None:
        """``get``; inside an overlapped snapshot, a key read before is guessed and checked later (``pgoverlap.py``)."""
        cache, stable = self._cache, self._stable
        if cache is None or stable is None:
            return self.get(key)
        if key in cache:
            return cache[key]
        overlap = self.overlap
        if overlap is not None and key in stable and key not in self._inflight and overlap.may_guess():
            guess = stable[key]
            if key not in self.checking:
                self.checking[key] = len(self._pipe.queued)
                self._pipe.queue(_GET, [key], want=True)
            overlap.guessed(self, key, guess)
            return guess
        value = self.get(key)
        self._remember(key, value)
        return value

    def learned(self, key: bytes, result: Any) -> bytes | None:
        """A guess's check: ``key``'s value in this snapshot, from ``result`` of its read; remembered."""
        value: bytes | None = result.get_value(0, 0) if result.ntuples else None
        if self._cache is not None:
            self._cache[key] = value
        self._remember(key, value)
        return value

    def _remember(self, key: bytes, value: bytes | None) -> None:
        stable = self._stable
        if stable is not None:
            if len(stable) >= _STABLE_LIMIT and key not in stable:
                stable.clear()  # rare (table churn); simpler and safe: a guess is only ever a guess
            stable[key] = value

    def put(self, key: bytes, value: bytes) -> None:
        self._pipe.queue(_PUT, [key, value])
        self.wrote = True
        if self._cache is not None:
            self._cache[key] = value

    def delete(self, key: bytes) -> None:
        self._pipe.queue(_DELETE, [key])
        self.wrote = True
        if self._cache is not None:
            self._cache[key] = None

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
            self._pipe.queue(_RANGE_REVERSE if reverse else _RANGE, [start, end, pgpipe.param_int8(size)], want=True)
            result = self._run()[-1]
            get = result.get_value
            count = result.ntuples
            last = b""
            for i in range(count):
                last = get(i, 0)
                yield last, get(i, 1)
            if count < size:
                return
            if reverse:
                end = last
            else:
                start = last + b"\x00"  # the smallest key after the last one read
            if remaining is not None:
                remaining -= count
            chunk = min(chunk * 4, _MAX_CHUNK)

    def delete_range(self, start: bytes, end: bytes) -> int:
        if self._cache:
            for key in [key for key in self._cache if start <= key < end]:
                self._cache[key] = None
        self._pipe.queue(_DELETE_RANGE, [start, end], want=True)
        deleted = pgpipe.count(self._run()[-1])
        if deleted:
            self.wrote = True
        return deleted

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        self._pipe.queue(_RANGE_STATS, [start, end], want=True)
        ((count, size),) = pgpipe.rows(self._run()[-1])
        return pgpipe.int8(count or b"\0"), pgpipe.int8(size or b"\0")


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
    connections this process holds (a server's storage threads hold one
    each at most, ``protocol/storage_threads.py``; background tasks and
    long-poll peeks add a few).
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
        max_size: int = 16,
        timeout: float = 5.0,
        commit_check_timeout: float | None = None,
        write_timeout: float | None = None,
        zone: str | None = None,
    ) -> None:
        self.dsn = dsn
        self.remote = True
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
        #: The group commit and the shared read snapshot each thread has open (``group``, ``snapshot``).
        self._batches: Batches[PostgresTxn] = Batches(
            pool=lambda: self._pool,
            write=lambda: self._transaction(write=True),
            read=lambda: self._transaction(write=False),
            open_read=self._open_shared,
            replica_read=self._replica_read,
            end=_end_shared,
            replicas=lambda: self.replicas,
            replica_timeout=REPLICA_TIMEOUT,
        )
        #: Values last read of keys read with ``Txn.get_stable``: an overlapped read's guesses (``pgoverlap.py``).
        self._stable: dict[bytes, bytes | None] = {}
        #: Connections to replicas, for eventually consistent reads; None with a single host.
        self.replicas: ConnectionPool | None = None
        try:
            self._pool.open(min_size)
        except PoolTimeout as exc:
            self._pool.close()
            reason = str(exc).split("\n", 1)[0].strip()
            raise StorageUnavailable(f"cannot connect to {describe(dsn)} ({reason})") from exc
        try:
            pipe = self._pool.getconn()
            try:
                self._sql = _XidSql.for_server(pipe.conn.info.server_version)
                pipe.queue(
                    Statement(f"SELECT current_setting('synchronous_standby_names'), current_setting('{FLOOR_SETTING}', true)"),
                    binary=False, want=True,
                )
                ((names, floor),) = pgpipe.rows(pipe.run()[0])
                self.replicated = _multi_host(dsn) or bool(names)
                self.sync_floor = parse_floor(None if floor is None else floor.decode())
            finally:
                self._pool.putconn(pipe)
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
            txn.execute("CREATE TABLE IF NOT EXISTS cellstore_schema (version integer NOT NULL)")
            ((found,),) = txn.execute("SELECT max(version) FROM cellstore_schema")
            version = 0 if found is None else int(found)
            todo = migrations.pending(version, describe(self.dsn))
            for migration in todo:
                for statement in migration.postgres:
                    txn.execute(statement)
            if todo:
                txn.execute("DELETE FROM cellstore_schema")
                txn.execute(f"INSERT INTO cellstore_schema (version) VALUES ({int(todo[-1].version)})")
                txn.note_xid()
            else:
                txn.wrote = False  # CREATE TABLE IF NOT EXISTS of a table that exists changed nothing
        return version

    def _connection(self, guard: WriteGuard | None, pool: ConnectionPool | None = None) -> Pipe:
        """A pooled connection (its deadline armed for a write); nothing is sent yet."""
        pool = self._pool if pool is None else pool
        try:
            pipe = pool.getconn()
        except PoolTimeout as exc:
            raise _unavailable(exc) from exc
        if guard is not None:
            guard.attach(pipe.conn)
        return pipe

    def _reconnector(self, guard: WriteGuard | None, pool: ConnectionPool, txn: list[PostgresTxn]) -> Callable[[], Pipe]:
        """For a transaction whose first round trip found its pooled connection dead: the next one."""

        def reconnect() -> Pipe:
            old = txn[0].pipe
            if guard is not None and guard.detach():
                discard(old)
            pool.putconn(old)  # broken: the pool discards it
            return self._connection(guard, pool)

        return reconnect

    def _open(self, *, write: bool, guard: WriteGuard | None, pool: ConnectionPool, floor: int = 0, assign: bool = True) -> PostgresTxn:
        holder: list[PostgresTxn] = []
        txn = PostgresTxn(
            self._connection(guard, pool), self._sql, write=write, floor=floor, assign=assign,
            reconnect=self._reconnector(guard, pool, holder), stable=self._stable,
        )
        holder.append(txn)
        return txn

    def transaction(self, *, write: bool) -> AbstractContextManager[Txn]:
        joined = self._batches.joined(write=write)
        return self._transaction(write=write) if joined is None else joined

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """One REPEATABLE READ transaction for every read transaction this thread opens inside (``pggroup.py``)."""
        return self._batches.snapshot()

    def group(self) -> AbstractContextManager[Group]:
        """One write transaction (one lock, one COMMIT) around every transaction this thread opens inside (``pggroup.py``)."""
        return self._batches.group()

    def stale_read(self) -> AbstractContextManager[Txn]:
        """A read on a replica, this front end's zone first (``replica_dsn``); the primary when none answers."""
        joined = self._batches.joined_stale()
        if joined is not None:
            return joined
        if self.replicas is None:
            return self._transaction(write=False)
        return self._replica_read(self.replicas)

    def _open_shared(self, pool: ConnectionPool, overlap: Overlap) -> PostgresTxn:
        """A shared snapshot's read transaction on ``pool``, its round trips parking in ``overlap``."""
        txn = self._open(write=False, guard=None, pool=pool)
        txn.overlap = overlap
        overlap.add(txn)
        return txn

    @contextmanager
    def _replica_read(self, replicas: ConnectionPool) -> Iterator[PostgresTxn]:
        try:
            txn = self._open(write=False, guard=None, pool=replicas)
        except StorageUnavailable:
            log.info("no replica answered within %.1f s: reading the primary", REPLICA_TIMEOUT)
            with self._transaction(write=False) as txn:
                yield txn
            return
        try:
            try:
                yield txn
            except BaseException:
                _rollback(txn)
                raise
            if txn.failed:
                _rollback(txn)
                raise StorageUnavailable()
            _end_read(txn)
        finally:
            replicas.putconn(txn.pipe)

    @contextmanager
    def _transaction(self, *, write: bool, quorum: bool = True) -> Iterator[PostgresTxn]:
        guard = WriteGuard(self._watchdog, self.write_timeout) if write else None
        txn = self._open(
            write=write, guard=guard, pool=self._pool, floor=self.sync_floor if quorum else 0, assign=quorum
        )
        try:
            try:
                yield txn
            except BaseException:
                _rollback(txn)
                raise
            if txn.failed:
                _rollback(txn)
                raise StorageUnavailable()
            if not write:
                _end_read(txn)
                return
            if txn.untouched:  # nothing read or written: nothing to commit
                txn.pipe.queued.clear()
                return
            try:
                if not txn.noted:  # a blind write: learn the id before sending COMMIT (one more round trip)
                    txn.flush()
            except BaseException:
                _rollback(txn)
                raise
            self._commit(txn)
            if guard is not None and guard.sync_wait_cancelled:
                # Committed on the primary, not known to be on enough replicas: never a success.
                raise CommitOutcomeUnknown(NOT_REPLICATED)
        finally:
            if guard is not None and guard.detach():
                discard(txn.pipe)
            self._pool.putconn(txn.pipe)

    def _commit(self, txn: PostgresTxn) -> None:
        """COMMIT, with the writes still queued; on a quorum cell the primary's quorum is read in the same round trip."""
        pipe = txn.pipe
        pipe.queue(_COMMIT, want=True)
        check_floor = bool(self.sync_floor and txn.xid is not None)
        if check_floor:
            pipe.queue(_SYNC_NAMES, binary=False, want=True)
        try:
            results = pipe.run()
        except psycopg.OperationalError as exc:
            if not txn.wrote:  # nothing was written: whatever happened changed nothing
                raise _unavailable(exc) from exc
            if self.replicated:
                log.error("connection lost during COMMIT of transaction %s on a replicated database: %s", txn.xid, exc)
                raise CommitOutcomeUnknown() from exc
            self._settle_commit(txn, exc)
            return
        except psycopg.Error as exc:  # a queued write failed: the transaction is aborted, COMMIT skipped
            txn.failed = True
            log.warning("a write failed inside a transaction, which was rolled back: %s", exc)
            _rollback(txn)
            raise StorageUnavailable() from exc
        results = [result for result in results if result is not None]
        if results[0].command_status != b"COMMIT":  # PostgreSQL rolled back an aborted transaction instead
            txn.failed = True
            _rollback(txn)
            raise StorageUnavailable()
        if check_floor:
            self._check_commit_floor(txn, results[-1])

    def _check_commit_floor(self, txn: PostgresTxn, names: Any) -> None:
        """After COMMIT: if the primary lowered its quorum below the floor meanwhile, the commit may have fewer copies."""
        ((value,),) = pgpipe.rows(names)
        waits_for = synchronous_count(None if value is None else value.decode())
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


def _rollback(txn: PostgresTxn) -> None:
    """End a transaction that must not commit: ROLLBACK sent, its answer left for the connection's next user."""
    pipe = txn.pipe
    pipe.queued.clear()
    if not txn.sent or pipe.conn.closed or pipe.conn.broken:
        return  # nothing reached the server (or the server is gone): nothing to roll back
    pipe.queue(_ROLLBACK)
    try:
        pipe.send_unread()
    except psycopg.Error:
        log.debug("rollback failed", exc_info=True)


def _end_shared(txn: PostgresTxn, pool: ConnectionPool) -> None:
    """End a shared snapshot's transaction and give its connection back to ``pool``."""
    try:
        if txn.failed:
            _rollback(txn)
        else:
            _end_read(txn)
    finally:
        pool.putconn(txn.pipe)


def _end_read(txn: PostgresTxn) -> None:
    """End a read transaction: its COMMIT (of nothing) sent, the answer left for the connection's next user."""
    pipe = txn.pipe
    if not txn.sent:
        pipe.queued.clear()  # it read nothing: nothing was begun
        return
    pipe.queue(_COMMIT)
    try:
        pipe.send_unread()
    except psycopg.OperationalError:
        pass  # a read's snapshot ends with its connection; the pool drops a broken one
