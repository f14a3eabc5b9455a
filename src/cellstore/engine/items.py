"""Single-item writes, split into read → check → compute → apply.

Reading the old item, evaluating the condition, computing the new item and
writing it happen in one write transaction, so a condition can never be
checked against one version and applied to another (optimistic locking in
client code depends on that).  The steps are separate functions because a
transaction runs the first three for every action before it applies any.
Capabilities that must be atomic with the write — index entries, stream
records, TTL entries — are the ``Database``'s change hooks (declared in
``engine/wiring.py``), run by ``apply``, the only place an item changes.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from cellstore.engine.changes import ChangeHook
from cellstore.engine.changes import WriteResult as WriteResult
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, Path, Update
from cellstore.engine.tables import Table, load_table
from cellstore.engine.values import Item, exceeds_item_limit
from cellstore.errors import INVALID_PARAMETERS, ConditionalCheckFailedException, ValidationException
from cellstore.storage.base import Txn


def read(txn: Txn, key: bytes) -> Item | None:
    raw = txn.get(key)
    return None if raw is None else orjson.loads(raw)


def condition_holds(condition: Condition | None, old: Item | None) -> bool:
    return condition is None or condition.evaluate(old or {})


def check(condition: Condition | None, old: Item | None, return_old: bool) -> None:
    if not condition_holds(condition, old):
        if return_old and old is not None:
            raise ConditionalCheckFailedException(Item=old)
        raise ConditionalCheckFailedException()


def check_put(table: Table, item: Item) -> None:
    if exceeds_item_limit(item):
        raise ValidationException("Item size has exceeded the maximum allowed size")
    table.check_item_keys(item)


def check_update(table: Table, update: Update | None) -> None:
    if update is None:
        return
    for name in update.top_level_names():
        if name in table.key_names:
            raise ValidationException(
                INVALID_PARAMETERS + "Cannot update attribute "
                f"{name}. This attribute is part of the key"
            )


def compute_update(key: Item, old: Item | None, update: Update | None) -> tuple[Item | None, list[Path]]:
    """The item after ``update`` (None: still no item); raises ValidationException for data-dependent errors.

    An update of a missing item whose actions only take away (REMOVE, DELETE
    from a set, legacy DELETE) creates nothing, as DynamoDB observably does:
    there is nothing to remove from, so no item and no stream record.  An
    update with no actions at all still creates the item from its key.
    """
    if old is None and update is not None and update.only_removes():
        return None, []
    base = dict(old) if old is not None else dict(key)
    new, paths = (base, []) if update is None else update.apply(base)
    if exceeds_item_limit(new):
        raise ValidationException("Item size to update has exceeded the maximum allowed size")
    return new, paths


def apply(txn: Txn, result: WriteResult, hooks: Sequence[ChangeHook]) -> None:
    """Make ``result`` durable in ``txn``: the one place an item changes.

    ``hooks`` (the database's, in their declared order) run in the same
    transaction, and only when something really changed.
    """
    if result.new is None:
        if result.old is None:
            return
        txn.delete(result.storage_key)
    elif result.new == result.old:
        return
    else:
        txn.put(result.storage_key, orjson.dumps(result.new))
    for hook in hooks:
        hook(txn, result)


def get_item(db: Database, table_name: str, key: Item, *, consistent: bool = True) -> tuple[Table, Item | None]:
    """``consistent=False`` (DynamoDB's default) may read a replica (``Store.stale_read``)."""
    with db.store.transaction(write=False) if consistent else db.store.stale_read() as txn:
        table = load_table(txn, table_name)
        table.check_key(key)
        return table, read(txn, table.item_key(key))


def put_in(
    txn: Txn, hooks: Sequence[ChangeHook], table_name: str, item: Item, condition: Condition | None, return_old: bool
) -> WriteResult:
    """PutItem inside a caller's transaction (also used by BatchWriteItem)."""
    table = load_table(txn, table_name)
    check_put(table, item)
    key = table.item_key(item)
    old = read(txn, key)
    check(condition, old, return_old)
    result = WriteResult(table, key, old, item)
    apply(txn, result, hooks)
    return result


def delete_in(
    txn: Txn, hooks: Sequence[ChangeHook], table_name: str, key: Item, condition: Condition | None, return_old: bool
) -> WriteResult:
    table = load_table(txn, table_name)
    table.check_key(key)
    storage_key = table.item_key(key)
    old = read(txn, storage_key)
    check(condition, old, return_old)
    result = WriteResult(table, storage_key, old, None)
    apply(txn, result, hooks)
    return result


def update_in(
    txn: Txn,
    hooks: Sequence[ChangeHook],
    table_name: str,
    key: Item,
    update: Update | None,
    condition: Condition | None,
    return_old: bool,
) -> WriteResult:
    table = load_table(txn, table_name)
    table.check_key(key)
    check_update(table, update)
    storage_key = table.item_key(key)
    old = read(txn, storage_key)
    check(condition, old, return_old)
    new, paths = compute_update(key, old, update)
    result = WriteResult(table, storage_key, old, new, paths)
    apply(txn, result, hooks)
    return result


def put_item(
    db: Database, table_name: str, item: Item, condition: Condition | None = None, *, return_old_on_failure: bool = False
) -> WriteResult:
    with db.store.transaction(write=True) as txn:
        return put_in(txn, db.hooks, table_name, item, condition, return_old_on_failure)


def delete_item(
    db: Database, table_name: str, key: Item, condition: Condition | None = None, *, return_old_on_failure: bool = False
) -> WriteResult:
    with db.store.transaction(write=True) as txn:
        return delete_in(txn, db.hooks, table_name, key, condition, return_old_on_failure)


def update_item(
    db: Database,
    table_name: str,
    key: Item,
    update: Update | None,
    condition: Condition | None = None,
    *,
    return_old_on_failure: bool = False,
) -> WriteResult:
    with db.store.transaction(write=True) as txn:
        return update_in(txn, db.hooks, table_name, key, update, condition, return_old_on_failure)
