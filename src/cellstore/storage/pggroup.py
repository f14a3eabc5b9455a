"""Several requests' transactions run as one on PostgreSQL: a thread's group commit and its shared read snapshot.

A server's storage threads (``protocol/storage_threads.py``) take every
request waiting when they look and run them together: the writer thread's
writes in one write transaction (``PostgresStore.group``: one write lock,
one COMMIT, and on a quorum cell one wait for the replicas, for all of
them), a reader thread's reads in one REPEATABLE READ transaction
(``PostgresStore.snapshot``), its reads overlapped (``pgoverlap.py``).  A
transaction the engine opens on such a thread joins the thread's batch
rather than opening one of its own (``Batches.joined``).  Everything here
runs on the thread that opened the batch; the store's own transactions
(opening, committing, ending) stay in ``postgres.py``, handed in as
callables, so this module knows nothing of how a transaction talks to
PostgreSQL.  docs/POSTGRES.md, "Throughput", has the measurements.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Generic, TypeVar

from cellstore.errors import StorageUnavailable
from cellstore.storage.base import Group, Snapshot, Txn
from cellstore.storage.pgoverlap import Overlap
from cellstore.storage.pgpool import ConnectionPool

log = logging.getLogger("cellstore.storage")


class SharedTxn(Txn):
    """A transaction other transactions may join (``postgres.PostgresTxn``)."""

    #: A statement failed: PostgreSQL aborted the transaction.
    failed: bool


T = TypeVar("T", bound=SharedTxn)


class _GroupTxn(Txn):
    """A transaction inside a group commit: the group's own, with no BEGIN or COMMIT; notes whether it wrote."""

    __slots__ = ("_shared", "wrote")

    def __init__(self, shared: Txn) -> None:
        self._shared = shared
        self.wrote = False

    def get(self, key: bytes) -> bytes | None:
        return self._shared.get(key)

    def get_stable(self, key: bytes) -> bytes | None:
        return self._shared.get_stable(key)

    def put(self, key: bytes, value: bytes) -> None:
        self.wrote = True
        self._shared.put(key, value)

    def delete(self, key: bytes) -> None:
        self.wrote = True
        self._shared.delete(key)

    def range(
        self,
        start: bytes,
        end: bytes,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        return self._shared.range(start, end, reverse=reverse, limit=limit)

    def delete_range(self, start: bytes, end: bytes) -> int:
        self.wrote = True
        return self._shared.delete_range(start, end)

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        return self._shared.range_stats(start, end)


class _Shared(Generic[T]):
    """A thread's shared snapshot: its overlap, and its transactions once a read opened them."""

    __slots__ = ("no_replica", "overlap", "primary", "replica")

    def __init__(self) -> None:
        self.overlap = Overlap()
        self.primary: T | None = None
        self.replica: T | None = None
        self.no_replica = False  # no replica answered: the batch's eventually consistent reads read the primary


class _Rollback(Exception):
    """Ends a spoiled group commit's transaction without committing it."""


class Batches(Generic[T]):
    """The group commit and the shared read snapshot each thread of one ``PostgresStore`` has open.

    The store hands in what a batch needs of it: ``write`` and ``read`` open
    a transaction of the store's own (a group's, or a read's when the shared
    one failed); ``open_read`` opens a shared read on a pool, its round trips
    parking in the given overlap; ``replica_read`` is an eventually
    consistent read of its own; ``end`` ends a shared read and gives its
    connection back to the pool; ``pool`` and ``replicas`` are the store's
    pools now (``replicas`` None with a single host).
    """

    __slots__ = (
        "_end", "_groups", "_open_read", "_pool", "_read", "_replica_read", "_replica_timeout", "_replicas", "_snapshots",
        "_write",
    )

    def __init__(
        self,
        *,
        pool: Callable[[], ConnectionPool],
        write: Callable[[], AbstractContextManager[T]],
        read: Callable[[], AbstractContextManager[Txn]],
        open_read: Callable[[ConnectionPool, Overlap], T],
        replica_read: Callable[[ConnectionPool], AbstractContextManager[Txn]],
        end: Callable[[T, ConnectionPool], None],
        replicas: Callable[[], ConnectionPool | None],
        replica_timeout: float,
    ) -> None:
        self._pool = pool
        self._write = write
        self._read = read
        self._open_read = open_read
        self._replica_read = replica_read
        self._end = end
        self._replicas = replicas
        self._replica_timeout = replica_timeout
        #: The group commit each thread has open (``group``): its transaction and its ``Group``.
        self._groups: dict[int, tuple[T, Group]] = {}
        #: The shared read snapshot each thread has open (``snapshot``).
        self._snapshots: dict[int, _Shared[T]] = {}

    def joined(self, *, write: bool) -> AbstractContextManager[Txn] | None:
        """A transaction in this thread's group, or (a read) in its shared snapshot; None outside both."""
        if self._groups and threading.get_ident() in self._groups:
            return self._in_group(self._groups[threading.get_ident()])
        if not write and self._snapshots and threading.get_ident() in self._snapshots:
            return self._in_snapshot(self._snapshots[threading.get_ident()])
        return None

    def joined_stale(self) -> AbstractContextManager[Txn] | None:
        """An eventually consistent read in this thread's group or shared snapshot; None outside both."""
        if self._groups and threading.get_ident() in self._groups:
            return self._in_group(self._groups[threading.get_ident()])  # it must see the group's own writes
        shared = self._snapshots.get(threading.get_ident()) if self._snapshots else None
        if shared is None:
            return None
        replicas = self._replicas()
        if replicas is None:
            return self._in_snapshot(shared)
        return self._in_replica_snapshot(shared, replicas)

    @contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """One REPEATABLE READ transaction for every read transaction this thread opens inside (``Store.snapshot``).

        Opened at the first read inside, begun with its first round trip,
        ended (COMMIT, not waited for) at the end.  A statement that fails
        aborts it: later reads inside then open transactions of their own.
        The ``Overlap`` yielded runs requests with their reads overlapped
        (``pgoverlap.py``).  On a quorum cell the eventually consistent
        reads inside share a second one, on a replica (``stale_read``); the
        primary's is then opened only if a read needs it, so that they go on
        while there is no primary.
        """
        me = threading.get_ident()
        if me in self._snapshots:
            raise RuntimeError("shared snapshots do not nest")
        shared = self._snapshots[me] = _Shared[T]()
        try:
            yield shared.overlap
        finally:
            del self._snapshots[me]
            if shared.primary is not None:
                self._end(shared.primary, self._pool())
            replicas = self._replicas()
            if shared.replica is not None and replicas is not None:
                self._end(shared.replica, replicas)

    @contextmanager
    def _in_snapshot(self, shared: _Shared[T]) -> Iterator[Txn]:
        """A read in this thread's shared snapshot: the primary's shared transaction, opened by the first."""
        txn = shared.primary
        if txn is None:
            txn = shared.primary = self._open_read(self._pool(), shared.overlap)
        if txn.failed:
            with self._read() as own:
                yield own
            return
        yield txn

    @contextmanager
    def _in_replica_snapshot(self, shared: _Shared[T], replicas: ConnectionPool) -> Iterator[Txn]:
        """An eventually consistent read in this thread's shared snapshot: the batch's replica transaction."""
        if shared.replica is None and not shared.no_replica:
            try:
                shared.replica = self._open_read(replicas, shared.overlap)
            except StorageUnavailable:
                log.info("no replica answered within %.1f s: reading the primary", self._replica_timeout)
                shared.no_replica = True  # for the rest of the batch too
        replica = shared.replica
        if replica is None:
            with self._in_snapshot(shared) as txn:
                yield txn
            return
        if replica.failed:
            with self._replica_read(replicas) as txn:
                yield txn
            return
        yield replica

    @contextmanager
    def group(self) -> Iterator[Group]:
        """One write transaction (one lock, one COMMIT) around every transaction this thread opens inside.

        ``Store.group``'s contract: each inner transaction sees the ones
        before it; one that raises after it wrote spoils the group, which
        then rolls back as a whole.  Reads inside join it too, so they see
        the group's writes.  Nothing done inside may be acknowledged before
        the block exits: the COMMIT (and its outcome rules) come then.
        """
        me = threading.get_ident()
        if me in self._groups:
            raise RuntimeError("group commits do not nest")
        group = Group()
        try:
            with self._write() as txn:
                self._groups[me] = (txn, group)
                try:
                    yield group
                finally:
                    del self._groups[me]
                if group.spoiled or txn.failed:
                    group.spoiled = True
                    raise _Rollback
        except _Rollback:
            pass

    @contextmanager
    def _in_group(self, opened: tuple[T, Group]) -> Iterator[Txn]:
        shared, group = opened
        txn = _GroupTxn(shared)
        try:
            yield txn
        except BaseException:
            if txn.wrote or shared.failed:
                group.spoiled = True
            raise
        if shared.failed:
            group.spoiled = True
