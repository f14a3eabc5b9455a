"""Copying an account's keyspace between backends: what a live move between cells is made of.

An account's data is a handful of contiguous key ranges in its cell's store
(``keyspace.ACCOUNT_KINDS`` under its prefix, ``engine/tenants.py``), so a
move copies raw keys and values: table ids, stream ARNs and sequence
numbers, shard iterators, queue messages in their order, receipt handles,
idempotency tokens and handler checkpoints all stay exactly as they were,
because nothing is re-encoded.

``sync`` is one pass of the copy: it walks the source's ranges in ONE read
snapshot, page by page, compares each page with the same key range of the
target and writes only the difference (puts for new or changed keys,
deletes for keys the source no longer has).  The first pass copies
everything; each later pass (the catch-up) writes only what changed since,
so passes shrink until the writers are fenced off (``write_fence``) and a
last pass leaves the target identical to the fenced source.

The fence key itself is never copied (the target must stay open), and
``clear_fence`` removes a stale one from the target (an account moving back
to a cell it once left).  ``clean`` deletes the source's copy but keeps its
fence as a tombstone, so a front end with a stale map still learns where the
account went.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cellstore.engine import keyspace
from cellstore.engine.tenants import DEFAULT_ACCOUNT, Tenants
from cellstore.storage.base import Store, prefix_end

#: Keys per page of a copy pass: one read of the source, one of the target, one write transaction.
PAGE = 500


@dataclass(slots=True)
class SyncStats:
    """What one ``sync`` pass did: keys looked at, keys written, keys deleted, bytes written."""

    scanned: int = 0
    written: int = 0
    deleted: int = 0
    bytes: int = 0

    @property
    def changes(self) -> int:
        return self.written + self.deleted


def _prefix(account: str) -> bytes:
    return b"" if account == DEFAULT_ACCOUNT else keyspace.account_prefix(account)


def account_ranges(account: str) -> list[tuple[bytes, bytes]]:
    """``account``'s key ranges in its cell's raw store, in key order."""
    prefix = _prefix(account)
    return [(prefix + kind, prefix_end(prefix + kind)) for kind in sorted(keyspace.ACCOUNT_KINDS)]


def fence_key(account: str) -> bytes:
    return _prefix(account) + keyspace.TENANT_FENCE


def account_size(tenants: Tenants, account: str) -> tuple[int, int]:
    """(keys, value bytes) ``account`` holds in ``tenants``' store: the size estimate a move shows first."""
    keys = size = 0
    with tenants.store.transaction(write=False) as txn:
        for start, end in account_ranges(account):
            count, total = txn.range_stats(start, end)
            keys, size = keys + count, size + total
    return keys, size


def sync(
    source: Tenants, target: Tenants, account: str, *, page: int = PAGE,
    progress: Callable[[SyncStats], None] | None = None,
) -> SyncStats:
    """Make ``account``'s keyspace in ``target`` equal to one snapshot of it in ``source`` (fence excluded)."""
    stats = SyncStats()
    fence = fence_key(account)
    with source.store.transaction(write=False) as snapshot:
        for start, end in account_ranges(account):
            rows = snapshot.range(start, end)
            while True:
                taken = _take(rows, page)
                if not taken:
                    # the rest of the range: whatever the target still has there goes
                    _reconcile(target.store, [], start, end, fence, stats)
                    break
                batch = [row for row in taken if row[0] != fence]
                upper = taken[-1][0] + b"\x00"
                _reconcile(target.store, batch, start, upper, fence, stats)
                start = upper
                if progress is not None:
                    progress(stats)
    return stats


def _take(rows: Iterator[tuple[bytes, bytes]], count: int) -> list[tuple[bytes, bytes]]:
    taken = []
    for row in rows:
        taken.append(row)
        if len(taken) == count:
            break
    return taken


def _reconcile(
    store: Store, batch: list[tuple[bytes, bytes]], start: bytes, end: bytes, fence: bytes, stats: SyncStats
) -> None:
    """Make ``[start, end)`` of ``store`` hold exactly ``batch`` (the fence key aside), in one write transaction."""
    stats.scanned += len(batch)
    wanted = dict(batch)
    with store.transaction(write=True) as txn:
        have = {key: value for key, value in txn.range(start, end) if key != fence}
        for key, value in batch:
            if have.get(key) != value:
                txn.put(key, value)
                stats.written += 1
                stats.bytes += len(key) + len(value)
        for key in have.keys() - wanted.keys():
            txn.delete(key)
            stats.deleted += 1


def write_fence(tenants: Tenants, account: str, cell: str) -> None:
    """Fence ``account`` in ``tenants``' store: from this commit on, each of its transactions there fails with ``TenantMoved(cell)``."""
    with tenants.store.transaction(write=True) as txn:
        txn.put(fence_key(account), json.dumps({"cell": cell}).encode("utf-8"))


def clear_fence(tenants: Tenants, account: str) -> None:
    """Open ``account`` in ``tenants``' store again (a stale fence from an earlier move away)."""
    with tenants.store.transaction(write=True) as txn:
        txn.delete(fence_key(account))


def fenced_to(tenants: Tenants, account: str) -> str | None:
    """The cell ``account``'s fence in ``tenants``' store points to, if it is fenced."""
    with tenants.store.transaction(write=False) as txn:
        raw = txn.get(fence_key(account))
    return None if raw is None else str(json.loads(raw)["cell"])


def clean(tenants: Tenants, account: str) -> int:
    """Delete ``account``'s data from ``tenants``' store after a move, keeping the fence as a tombstone."""
    fence = fence_key(account)
    deleted = 0
    with tenants.store.transaction(write=True) as txn:
        for start, end in account_ranges(account):
            if start <= fence < end:
                deleted += txn.delete_range(start, fence) + txn.delete_range(fence + b"\x00", end)
            else:
                deleted += txn.delete_range(start, end)
    return deleted
