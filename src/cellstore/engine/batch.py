"""BatchGetItem and BatchWriteItem in the engine.

A batch write is applied in one storage transaction: DynamoDB promises only
that each put or delete is atomic on its own, and doing the whole batch at
once is stronger, cheaper (one commit, one fsync) and never observable as
wrong.  Unprocessed items therefore never arise from contention; reads return
UnprocessedKeys only when the 16 MB response limit is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from cellstore.engine import items
from cellstore.engine.database import Database
from cellstore.engine.tables import Table, load_table
from cellstore.engine.values import Item, item_size

RESPONSE_LIMIT = 16 * 1024 * 1024


@dataclass(slots=True)
class WriteRequest:
    table_name: str
    put: Item | None = None
    delete_key: Item | None = None


@dataclass(slots=True)
class BatchGetResult:
    found: dict[str, list[Item]] = field(default_factory=dict)
    unprocessed: dict[str, list[Item]] = field(default_factory=dict)
    bytes_read: dict[str, int] = field(default_factory=dict)
    # The size of each key read (0 for a missing item): capacity rounds each up on its own.
    sizes: dict[str, list[int]] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)


def batch_write(db: Database, requests: list[WriteRequest]) -> list[items.WriteResult]:
    with db.store.transaction(write=True) as txn:
        results = []
        for request in requests:
            if request.put is not None:
                results.append(items.put_in(txn, db.hooks, request.table_name, request.put, None, False))
            elif request.delete_key is not None:
                results.append(items.delete_in(txn, db.hooks, request.table_name, request.delete_key, None, False))
        return results


def check_batch_keys(db: Database, keys_by_table: dict[str, list[Item]]) -> dict[str, Table]:
    """Load every table and check every key before reading anything."""
    with db.store.transaction(write=False) as txn:
        tables = {name: load_table(txn, name) for name in keys_by_table}
    for name, keys in keys_by_table.items():
        for key in keys:
            tables[name].check_key(key)
    return tables


def batch_get(db: Database, keys_by_table: dict[str, list[Item]], *, consistent: bool = True) -> BatchGetResult:
    """``consistent=False`` (no table asked for ConsistentRead) may read a replica."""
    result = BatchGetResult()
    total = 0
    full = False
    with db.store.transaction(write=False) if consistent else db.store.stale_read() as txn:
        for name, keys in keys_by_table.items():
            table = load_table(txn, name)
            result.tables[name] = table
            result.found[name] = []
            result.bytes_read[name] = 0
            result.sizes[name] = []
            for position, key in enumerate(keys):
                if full:
                    result.unprocessed.setdefault(name, []).extend(keys[position:])
                    break
                raw = txn.get(table.item_key(key))
                if raw is None:
                    result.sizes[name].append(0)
                    continue
                item: Item = orjson.loads(raw)
                size = item_size(item)
                if total + size > RESPONSE_LIMIT:
                    full = True
                    result.unprocessed.setdefault(name, []).extend(keys[position:])
                    break
                total += size
                result.bytes_read[name] += size
                result.sizes[name].append(size)
                result.found[name].append(item)
    return result
