"""The storage door: an ordered map of byte keys to byte values, with transactions.

Everything cellstore persists — table descriptions, items, and later index
entries, stream records and queue messages — lives in one ordered keyspace.
Backends know nothing of DynamoDB: keys are opaque bytes compared with memcmp,
and the engine builds them with ``engine/keycodec.py`` so that byte order is
DynamoDB order.  This is the whole interface a new backend must provide.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Self

#: How ``Snapshot.run`` hands back each work's outcome: its index, its result, the error it raised (or None).
Answer = Callable[[int, Any, BaseException | None], None]


class Txn(ABC):
    """One storage transaction: reads see a consistent snapshot plus own writes.

    A write transaction is serializable against every other write transaction
    of the same store: one writer at a time (SQLite: its write lock; PostgreSQL:
    one advisory lock every write transaction takes first, see docs/POSTGRES.md).
    """

    @abstractmethod
    def get(self, key: bytes) -> bytes | None: ...

    def get_stable(self, key: bytes) -> bytes | None:
        """``get`` of a key that rarely changes (a table's description, read by every request).

        The answer is the same as ``get``'s.  A backend whose reads are round
        trips may go on with the value it last read and check it in the same
        snapshot before anything done with it counts (PostgreSQL:
        ``storage/pgoverlap.py``); by default it is ``get``.
        """
        return self.get(key)

    @abstractmethod
    def put(self, key: bytes, value: bytes) -> None: ...

    @abstractmethod
    def delete(self, key: bytes) -> None: ...

    @abstractmethod
    def range(
        self,
        start: bytes,
        end: bytes,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Pairs with ``start <= key < end`` in key order (descending if reverse)."""

    @abstractmethod
    def delete_range(self, start: bytes, end: bytes) -> int:
        """Delete every key in ``[start, end)``; returns how many were removed."""

    @abstractmethod
    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        """(count, total value bytes) of ``[start, end)`` without returning values."""


class Store(ABC):
    """A backend: hands out transactions and owns the underlying connection(s).

    Opening a store brings its schema up to date (``storage/migrations.py``);
    ``migrated_from`` is the schema version it found, which ``cellstore
    migrate`` reports.
    """

    #: The schema version found on opening; ``migrations.LATEST`` once open.
    migrated_from: int
    #: True when a transaction waits on round trips to a server (PostgreSQL): a front end then runs
    #: requests on threads so that their waits overlap (``protocol/storage_threads.py``); False for an
    #: engine in the process (SQLite), whose calls are shorter than a hand-off to a thread.
    remote: bool = False

    @abstractmethod
    def transaction(self, *, write: bool) -> AbstractContextManager[Txn]:
        """A transaction committed when the block exits normally, rolled back on error.

        A committed write transaction is durable against a crash of the process
        (kill -9) before ``transaction`` returns.
        """

    def stale_read(self) -> AbstractContextManager[Txn]:
        """A read transaction that may be served by a replica, so may miss the latest commits.

        For DynamoDB's eventually consistent reads.  One snapshot, like any
        read transaction; a backend without replicas reads as ``transaction``
        does (always current).
        """
        return self.transaction(write=False)

    def group(self) -> AbstractContextManager[Group]:
        """A group commit: this thread's transactions inside the block share one, committed at its end.

        For a single writer that runs many requests' transactions back to
        back (``protocol/writer.py``): each transaction of the block behaves
        as if it committed when it ends — later ones see its writes — but the
        one durable COMMIT comes when the block exits, so nothing done inside
        may be acknowledged before then.  A transaction that raises after it
        wrote cannot be undone alone: the group is then ``spoiled`` and the
        block's exit rolls back everything; the caller runs the block's work
        again without a group.  A backend that cannot group (the default)
        commits each transaction on its own and is never spoiled.
        """
        return _NO_GROUP

    def figures(self) -> dict[str, float]:
        """The backend's own figures for ``/metrics``, by name: cheap to read, none by default.

        SQLite: the WAL's size and the checkpointer's rounds; PostgreSQL: the
        pool's connections in use and its waits for one.  Names are the
        metric's, without the ``cellstore_`` prefix; ``_total`` ones only grow.
        """
        return {}

    def grouping(self) -> bool:
        """Whether this thread is inside ``group``: its transactions then run in one that already holds the write lock.

        A read-only peek that exists only to spare an empty request the write
        lock (ReceiveMessage's) saves nothing there, and costs its reads.
        """
        return False

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """A shared snapshot: this thread's read transactions inside the block are one transaction.

        For a server that runs several waiting read requests together
        (``protocol/storage_threads.py``): every request in the block must
        have arrived before the block began, so the one snapshot — taken at
        its first read — still sees every write acknowledged before each
        request.  The ``Snapshot`` yielded runs the requests (``run``); a
        backend may overlap their reads (PostgreSQL: ``storage/pgoverlap.py``).
        A backend without the need (the default) runs them one by one.
        """
        return contextlib.nullcontext(Snapshot())

    @abstractmethod
    def close(self) -> None: ...


class Group:
    """What ``Store.group`` yields: whether a transaction inside failed after writing."""

    __slots__ = ("spoiled",)

    def __init__(self) -> None:
        self.spoiled = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


_NO_GROUP = Group()  # never spoiled: nothing is ever grouped


class Snapshot:
    """What ``Store.snapshot`` yields: runs read requests in it, by default one after another."""

    __slots__ = ()

    def run(self, works: Sequence[Callable[[], Any]], answer: Answer) -> None:
        """Call each work, handing its outcome to ``answer`` as soon as it is done, in any order."""
        for index, work in enumerate(works):
            try:
                result = work()
            except BaseException as err:  # noqa: BLE001 - the work's own outcome, handed to ``answer``
                answer(index, None, err)
                continue
            answer(index, result, None)


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key that starts with ``prefix``."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        raise ValueError("a prefix of only 0xff bytes has no upper bound")
    return stripped[:-1] + bytes([stripped[-1] + 1])
