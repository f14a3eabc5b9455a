"""Time to Live: UpdateTimeToLive/DescribeTimeToLive, the expiry index and the sweeper.

For a table with TTL enabled, every item whose TTL attribute is a Number has
an entry

    0x05 <table id:8> <expiry second:8> <item storage key>   (empty value)

kept by a change hook (``maintain``, declared in ``engine/wiring.py``) in the
transaction of each item change, so expired
items are found by one range read up to "now" instead of a scan.  Enabling
TTL on a populated table indexes the existing items with the same backfill
machinery as an online index (``background.run_backfills``); disabling it drops
the entries with one range delete.

The sweeper (``sweep``) runs every ``Database.ttl_interval`` seconds.  It
deletes expired items in batches of ``SWEEP_BATCH``, each batch its own short
write transaction, and each deletion is a real delete through ``items.apply``
with ``origin="ttl"`` — indexes follow, and a stream sees it as the service's
deletion.  Inside the transaction the item is read again and its TTL value
re-checked, so an item rewritten with a later expiry meanwhile is kept and a
sweep repeated by another worker process deletes nothing twice.

As in DynamoDB, an item is expired when its TTL attribute is a Number of
epoch seconds below the current time, and items whose value is more than five
years in the past are never deleted (a guard against values in the wrong
unit); a missing or non-Number attribute means "never expires".
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from cellstore.engine import items, keycodec, keyspace, tables
from cellstore.engine.changes import ChangeHook, WriteResult
from cellstore.engine.database import Database
from cellstore.engine.tables import Table, find_table, save_table
from cellstore.engine.values import Item
from cellstore.errors import ResourceNotFoundException, ValidationException
from cellstore.storage.base import Txn, prefix_end

MAX_AGE_SECONDS = 5 * 365 * 24 * 3600  # older expiry values are never acted on
SWEEP_BATCH = 100
BACKFILL_BATCH = 256

# ``<META> "ttl/" <table name>`` exists for every table with TTL enabled.
TTL_MARKERS = keyspace.TTL_TABLES
_EXPIRY_MAX = (1 << 64) - 1


def _marker(name: str) -> bytes:
    return TTL_MARKERS + name.encode("utf-8")


def attribute_of(table: Table) -> str | None:
    settings = table.state.get("ttl")
    return None if settings is None else str(settings["attribute"])


def expiry_of(item: Item | None, attribute: str) -> Decimal | None:
    """The item's TTL value if it is a Number, else None (never expires)."""
    if item is None:
        return None
    value = item.get(attribute)
    if value is None or "N" not in value:
        return None
    try:
        return Decimal(value["N"])
    except InvalidOperation:
        return None


def entry_key(table: Table, expiry: Decimal, storage_key: bytes) -> bytes | None:
    """The TTL entry of an item expiring at ``expiry``; None if it can never be acted on."""
    if expiry < 0:
        return None
    second = min(math.floor(expiry), _EXPIRY_MAX)
    return keycodec.expiry_prefix(table.id) + second.to_bytes(8, "big") + storage_key


def maintain(txn: Txn, result: WriteResult) -> None:
    """Keep the table's expiry entries in step with one item change (TTL-enabled tables only)."""
    attribute = attribute_of(result.table)
    if attribute is None:
        return
    old = expiry_of(result.old, attribute)
    new = expiry_of(result.new, attribute)
    if old == new:
        return
    if old is not None and (key := entry_key(result.table, old, result.storage_key)) is not None:
        txn.delete(key)
    if new is not None and (key := entry_key(result.table, new, result.storage_key)) is not None:
        txn.put(key, b"")


# ---- UpdateTimeToLive / DescribeTimeToLive ------------------------------------------


def _load(txn: Txn, name: str) -> Table:
    table = find_table(txn, name)
    if table is None:
        raise ResourceNotFoundException(f"Requested resource not found: Table: {name} not found")
    return table


def describe(db: Database, name: str) -> dict[str, Any]:
    """TimeToLiveDescription: ENABLED or DISABLED, never the transitional states (see docs/INDEXES.md)."""
    with db.store.transaction(write=False) as txn:
        attribute = attribute_of(_load(txn, name))
    if attribute is None:
        return {"TimeToLiveStatus": "DISABLED"}
    return {"TimeToLiveStatus": "ENABLED", "AttributeName": attribute}


def update(db: Database, name: str, enabled: bool, attribute: str) -> dict[str, Any]:
    """Enable or disable TTL; enabling on a populated table starts an expiry-index backfill."""
    with db.store.transaction(write=True) as txn:
        table = _load(txn, name)
        current = attribute_of(table)
        if current is not None and current != attribute:
            raise ValidationException(
                f"TimeToLive is active on a different AttributeName: current AttributeName is {current}"
            )
        if enabled and current is not None:
            raise ValidationException("TimeToLive is already enabled")
        if not enabled and current is None:
            raise ValidationException("TimeToLive is already disabled")
        if enabled:
            table.state["ttl"] = {"attribute": attribute, "backfill": True}
            txn.put(_marker(name), b"")
            txn.put(keyspace.BACKFILLS + name.encode("utf-8"), b"")
        else:
            del table.state["ttl"]
            delete_all(txn, table.id)
            txn.delete(_marker(name))
        save_table(txn, table)
    if enabled:
        db.wake("backfill")
    return {"AttributeName": attribute, "Enabled": enabled}


def delete_all(txn: Txn, table_id: int) -> None:
    start = keycodec.expiry_prefix(table_id)
    txn.delete_range(start, prefix_end(start))


# ---- backfill (enabling TTL on a populated table) ----------------------------------


def backfill_pending(table: Table) -> bool:
    settings = table.state.get("ttl")
    return settings is not None and bool(settings.get("backfill"))


def backfill_step(txn: Txn, table: Table, batch: int = BACKFILL_BATCH) -> bool:
    """Add expiry entries for the next ``batch`` items; True while more remain.  Idempotent."""
    settings = table.state["ttl"]
    attribute = settings["attribute"]

    def visit(storage_key: bytes, raw: bytes) -> None:
        expiry = expiry_of(orjson.loads(raw), attribute)
        if expiry is not None and (key := entry_key(table, expiry, storage_key)) is not None:
            txn.put(key, b"")

    return tables.backfill_step(txn, table, settings, visit, batch)


# ---- the sweeper ------------------------------------------------------------------


def expired(expiry: Decimal | None, now: float) -> bool:
    return expiry is not None and now - MAX_AGE_SECONDS <= expiry < Decimal(repr(now))


def sweep_step(
    txn: Txn, hooks: Sequence[ChangeHook], table: Table, now: float, batch: int = SWEEP_BATCH
) -> tuple[int, bool]:
    """Delete up to ``batch`` expired items of ``table``; (deleted, whether more may remain)."""
    attribute = attribute_of(table)
    if attribute is None:
        return 0, False
    prefix = keycodec.expiry_prefix(table.id)
    low = max(0, math.floor(now - MAX_AGE_SECONDS))
    high = math.floor(now) + 1
    rows = list(txn.range(prefix + low.to_bytes(8, "big"), prefix + high.to_bytes(8, "big"), limit=batch))
    deleted = changed = 0
    for key, _ in rows:
        storage_key = key[len(prefix) + 8:]
        item = items.read(txn, storage_key)
        expiry = expiry_of(item, attribute)
        if item is None or expiry is None or entry_key(table, expiry, storage_key) != key:
            txn.delete(key)  # a stale entry: nothing to expire here
            changed += 1
        elif expired(expiry, now):
            items.apply(txn, WriteResult(table, storage_key, item, None, origin="ttl"), hooks)
            deleted += 1
            changed += 1
    # A full batch that changed nothing holds only items expiring later this second.
    return deleted, len(rows) == batch and changed > 0


def sweep(db: Database, now: float | None = None) -> int:
    """Delete every expired item of every TTL-enabled table; returns how many were deleted."""
    with db.store.transaction(write=False) as txn:
        names = [key[len(TTL_MARKERS):].decode("utf-8") for key, _ in
                 txn.range(TTL_MARKERS, prefix_end(TTL_MARKERS))]
    total = 0
    for name in names:
        more = True
        while more and not db.closing:
            moment = time.time() if now is None else now
            with db.store.transaction(write=True) as txn:
                table = find_table(txn, name)
                if table is None or attribute_of(table) is None:
                    txn.delete(_marker(name))
                    break
                deleted, more = sweep_step(txn, db.hooks, table, moment)
                total += deleted
    return total
