"""Copying an account's keyspace between backends: what a live move between cells is made of.

An account's data is a handful of contiguous key ranges in its cell's store
(``keyspace.ACCOUNT_KINDS`` under its prefix, ``engine/tenants.py``), so a
move copies raw keys and values: table ids, stream ARNs and sequence
numbers, shard iterators, queue messages in their order, receipt handles,
idempotency tokens and handler checkpoints all stay exactly as they were,
because nothing is re-encoded.

``copy`` is the bulk copy, a parallel scan: the account's ranges are cut
into segments (each table's items in ``PARTS`` slices of the hash space,
each table's index entries, each other kind whole) and ``workers`` threads
copy segments at once, page by page, each page read in a snapshot of its
own and compared with the same key range of the target, which gets only
the difference (puts for new or changed keys, deletes for keys the source
no longer has).  The pages' snapshots differ, so the copy alone is not a
consistent image; it need not be, because the account's change log
(``engine/move_log.py``) was started before it (``start_log``): every
change committed after that is in the log, and ``catch_up`` copies exactly
the keys the log names, as one snapshot of the source has them, then trims
the entries it copied.  Catch-up passes shrink with the writers' rate, not
the tenant's size, until the writers are fenced off (``write_fence``) and a
last pass leaves the target identical to the fenced source.

The move's own keys — the fence, the moving flag and the log — are never
copied (the target must stay open and unlogged), nor are the account's
handler leases (``stays``): a lease names a runner of the source cell,
which the fence stops (its every transaction there fails with
``TenantMoved``, so it can neither read another batch nor move a
checkpoint), so the target cell's runner takes the mapping over as soon as
it starts there, from the checkpoint that moved, instead of waiting for a
lease nobody will renew to expire.  ``clear_fence``
removes stale ones from the target (an account moving back to a cell it
once left).  ``clean`` deletes the source's copy but keeps its fence as a
tombstone, so a front end with a stale map still learns where the account
went.  An abandoned move (``cells move --abort``, before the fence) undoes
``start_log`` with ``stop_log`` and drops the target's partial copy with
``discard``.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from cellstore.engine import keyspace, move_log
from cellstore.engine.tenants import DEFAULT_ACCOUNT, Tenants
from cellstore.storage.base import Store, Txn, prefix_end

#: Keys per page of a copy: one read of the source, one of the target, one write transaction.
PAGE = 500
#: Threads of the parallel copy, and slices of the hash space each table's items are cut into.
WORKERS = 4
PARTS = 4


@dataclass(slots=True)
class SyncStats:
    """What a copy or a catch-up pass did: keys read, log entries read, keys written, keys deleted, bytes written."""

    scanned: int = 0  # keys read from the source's data
    written: int = 0
    deleted: int = 0
    bytes: int = 0
    segments: int = 0  # a parallel copy's segments
    logged: int = 0  # a catch-up pass's log entries read

    def add(self, other: SyncStats) -> None:
        self.scanned += other.scanned
        self.logged += other.logged
        self.written += other.written
        self.deleted += other.deleted
        self.bytes += other.bytes

    @property
    def changes(self) -> int:
        return self.written + self.deleted


def _prefix(account: str) -> bytes:
    return b"" if account == DEFAULT_ACCOUNT else keyspace.account_prefix(account)


def stays(key: bytes) -> bool:
    """A key of an account (its own keys, without the prefix) that a move never copies: the move's, or a handler lease."""
    return move_log.is_own(key) or key.startswith(keyspace.HANDLER_LEASES)


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


def start_log(tenants: Tenants, account: str) -> None:
    """Flag ``account`` as moving in ``tenants``' store: from this commit on, its changes are logged there."""
    move_log.begin(tenants.store, _prefix(account))


def segments(tenants: Tenants, account: str, parts: int = PARTS) -> list[tuple[bytes, bytes]]:
    """``account``'s key ranges cut for a parallel copy: items by table and hash slice, index entries by table.

    The segments tile each range with no gap, so the target's keys between
    or beyond the source's tables (a table dropped since a killed copy)
    are reconciled too — deleted.
    """
    prefix = _prefix(account)
    found: list[tuple[bytes, bytes]] = []
    with tenants.store.transaction(write=False) as txn:
        for start, end in account_ranges(account):
            kind = start[len(prefix):]
            points = [start]
            if kind in (keyspace.ITEMS, keyspace.INDEXES):
                for table in _tables(txn, start, end):
                    points.append(table)
                    if kind == keyspace.ITEMS:
                        points += [table + bytes([n * 256 // parts]) for n in range(1, parts)]
            points.append(end)
            found += [(low, high) for low, high in itertools.pairwise(points) if low < high]
    return found


def _tables(txn: Txn, start: bytes, end: bytes) -> Iterator[bytes]:
    """The prefix (kind + 8-byte table id) of each table with keys in ``[start, end)``: one probe per table."""
    width = len(start) + 8
    while True:
        first = next(iter(txn.range(start, end, limit=1)), None)
        if first is None:
            return
        table = first[0][:width]
        yield table
        start = prefix_end(table)


def copy(
    source: Tenants, target: Tenants, account: str, *, workers: int = WORKERS, page: int = PAGE,
    progress: Callable[[SyncStats], None] | None = None,
) -> SyncStats:
    """Make ``account``'s keyspace in ``target`` equal to the source's, segment by segment in parallel (see above)."""
    prefix = _prefix(account)
    stats = SyncStats()
    lock = threading.Lock()

    def own(key: bytes) -> bool:
        return stays(key[len(prefix):])

    def one(segment: tuple[bytes, bytes]) -> None:
        start, end = segment
        while True:
            done = SyncStats()
            with source.store.transaction(write=False) as snapshot:
                rows = list(snapshot.range(start, end, limit=page))
            upper = end if len(rows) < page else rows[-1][0] + b"\x00"
            _reconcile(target.store, [row for row in rows if not own(row[0])], start, upper, own, done)
            with lock:
                stats.add(done)
                if progress is not None:
                    progress(stats)
            if upper == end:
                return
            start = upper

    cut = segments(source, account)
    stats.segments = len(cut)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="cells-copy") as pool:
        for finished in [pool.submit(one, segment) for segment in cut]:
            finished.result()  # a failed segment fails the copy (the mover can be run again)
    return stats


def catch_up(
    source: Tenants, target: Tenants, account: str, *, progress: Callable[[SyncStats], None] | None = None,
) -> SyncStats:
    """Copy the keys ``account``'s change log names, as one snapshot of the source has them; trim what was copied.

    ``logged`` is the number of log entries read (``scanned`` counts only the
    keys a logged range deletion read).  Run after ``write_fence``,
    it leaves the target identical to the frozen source.
    """
    prefix = _prefix(account)
    stats = SyncStats()

    def own(key: bytes) -> bool:
        return stays(key[len(prefix):])

    with source.store.transaction(write=False) as snapshot:
        changes = move_log.read(snapshot, prefix)
        if not changes:
            return stats
        values: dict[bytes, bytes | None] = {}
        ranges: list[tuple[bytes, bytes, list[tuple[bytes, bytes]]]] = []
        for change in changes:
            key = prefix + change.key
            if change.end is None:
                if key not in values and not own(key):
                    values[key] = snapshot.get(key)
            else:
                start, end = key, prefix + change.end
                ranges.append((start, end, [row for row in snapshot.range(start, end) if not own(row[0])]))
    stats.logged, stats.scanned = len(changes), len(values)
    for start, end, rows in ranges:
        _reconcile(target.store, rows, start, end, own, stats)
    keys = list(values.items())
    for first in range(0, len(keys), PAGE):
        with target.store.transaction(write=True) as txn:
            for key, value in keys[first:first + PAGE]:
                if value is None:
                    if txn.get(key) is not None:
                        txn.delete(key)
                        stats.deleted += 1
                elif txn.get(key) != value:
                    txn.put(key, value)
                    stats.written += 1
                    stats.bytes += len(key) + len(value)
        if progress is not None:
            progress(stats)
    move_log.trim(source.store, prefix, changes[-1].seq)
    return stats


def _reconcile(
    store: Store, batch: list[tuple[bytes, bytes]], start: bytes, end: bytes, own: Callable[[bytes], bool],
    stats: SyncStats,
) -> None:
    """Make ``[start, end)`` of ``store`` hold exactly ``batch`` (the move's own keys aside), in one write transaction."""
    stats.scanned += len(batch)
    wanted = dict(batch)
    with store.transaction(write=True) as txn:
        have = {key: value for key, value in txn.range(start, end) if not own(key)}
        for key, value in batch:
            if have.get(key) != value:
                txn.put(key, value)
                stats.written += 1
                stats.bytes += len(key) + len(value)
        for key in have.keys() - wanted.keys():
            txn.delete(key)
            stats.deleted += 1


def stop_log(tenants: Tenants, account: str) -> None:
    """Stop logging ``account``'s changes in ``tenants``' store: its moving flag and log go, in one transaction."""
    with tenants.store.transaction(write=True) as txn:
        move_log.end(txn, _prefix(account))


def discard(tenants: Tenants, account: str) -> int:
    """Delete every key of ``account`` in ``tenants``' store (an abandoned move's partial copy in its target)."""
    with tenants.store.transaction(write=True) as txn:
        return sum(txn.delete_range(start, end) for start, end in account_ranges(account))


def write_fence(tenants: Tenants, account: str, cell: str) -> None:
    """Fence ``account`` in ``tenants``' store: from this commit on, each of its transactions there fails with ``TenantMoved(cell)``."""
    with tenants.store.transaction(write=True) as txn:
        txn.put(fence_key(account), json.dumps({"cell": cell}).encode("utf-8"))


def clear_fence(tenants: Tenants, account: str) -> None:
    """Open ``account`` in ``tenants``' store again (a stale fence, flag or log from an earlier move away)."""
    with tenants.store.transaction(write=True) as txn:
        txn.delete(fence_key(account))
        move_log.end(txn, _prefix(account))


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
