"""A store seen through a key prefix: one tenant's private keyspace inside a shared backend.

A cell holds many accounts in one backend (one SQLite file, one PostgreSQL
database).  Each account's engine must see a keyspace of its own — its own
table ids, queue ids, stream sequence numbers and catalog — so that two
accounts can each have a table named ``orders`` and so that moving an account
to another cell is copying one contiguous key range.  ``PrefixedStore`` gives
that without the engine knowing: every key the engine passes is prefixed on
the way down and stripped on the way up, and ranges stay inside the prefix,
so byte order (and with it DynamoDB order) is unchanged.

A moving or moved account's checks (its fence and change log) are made by
``engine/tenants.py``'s ``MovableStore`` around this one, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from cellstore.storage.base import Group, Snapshot, Store, Txn


class PrefixedTxn(Txn):
    __slots__ = ("_cut", "_inner", "_prefix")

    def __init__(self, inner: Txn, prefix: bytes) -> None:
        self._inner = inner
        self._prefix = prefix
        self._cut = len(prefix)

    def get(self, key: bytes) -> bytes | None:
        return self._inner.get(self._prefix + key)

    def get_stable(self, key: bytes) -> bytes | None:
        return self._inner.get_stable(self._prefix + key)

    def put(self, key: bytes, value: bytes) -> None:
        self._inner.put(self._prefix + key, value)

    def delete(self, key: bytes) -> None:
        self._inner.delete(self._prefix + key)

    def range(
        self,
        start: bytes,
        end: bytes,
        *,
        reverse: bool = False,
        limit: int | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        cut = self._cut
        for key, value in self._inner.range(self._prefix + start, self._prefix + end, reverse=reverse, limit=limit):
            yield key[cut:], value

    def delete_range(self, start: bytes, end: bytes) -> int:
        return self._inner.delete_range(self._prefix + start, self._prefix + end)

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        return self._inner.range_stats(self._prefix + start, self._prefix + end)


class PrefixedStore(Store):
    """``inner`` restricted to the keys under ``prefix``; closing it leaves ``inner`` open (its owner closes it)."""

    def __init__(self, inner: Store, prefix: bytes) -> None:
        self.inner = inner
        self.prefix = prefix
        self.migrated_from = inner.migrated_from
        self.remote = inner.remote

    @contextmanager
    def _viewed(self, opened: AbstractContextManager[Txn]) -> Iterator[Txn]:
        with opened as txn:
            yield PrefixedTxn(txn, self.prefix) if self.prefix else txn

    def transaction(self, *, write: bool) -> AbstractContextManager[Txn]:
        return self._viewed(self.inner.transaction(write=write))

    def stale_read(self) -> AbstractContextManager[Txn]:
        """The inner store's replica read, seen through the prefix (a fence is checked in the replica's snapshot)."""
        return self._viewed(self.inner.stale_read())

    def group(self) -> AbstractContextManager[Group]:
        return self.inner.group()

    def figures(self) -> dict[str, float]:
        return self.inner.figures()

    def grouping(self) -> bool:
        return self.inner.grouping()

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        return self.inner.snapshot()

    def close(self) -> None:
        return None
