"""Query and Scan: ordered range reads over the keyspace, paged as DynamoDB pages.

A Query is one range read inside one partition's key prefix (never a scan
and sort: the key encoding already orders sort keys); a Scan walks the
table's hash order, and a parallel-scan segment is a slice of that order.
Both stop at ``Limit`` items *evaluated* (before the filter) or once 1 MB of
item data has been read, and hand back the key of the last item evaluated.

With an index name, the same reads run over the index's entries
(``engine/indexes.py``): a Query under one index partition, a Scan over the
index's hash order; the last evaluated key then carries the index key and the
table key.  ``fetch_base`` (local indexes asked for attributes they do not
project) reads each entry's item from the table, in the same snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from cellstore.engine import indexes, keycodec
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, KeyCondition
from cellstore.engine.tables import KeyAttribute, Table, load_table
from cellstore.engine.values import Item, item_size
from cellstore.errors import INVALID_PARAMETERS, ValidationException
from cellstore.storage.base import Txn, prefix_end

PAGE_BYTES = 1024 * 1024


@dataclass(slots=True)
class Page:
    table: Table
    index: indexes.Index | None = None
    items: list[Item] = field(default_factory=list)
    scanned: int = 0
    last_key: Item | None = None
    # Exact DynamoDB size of the items evaluated so far is ``_sized`` plus the
    # sizes of ``_unsized`` (evaluated items not sized yet; see ``_collect``).
    _sized: int = 0
    _unsized: list[Item] = field(default_factory=list)

    @property
    def bytes_read(self) -> int:
        """Exact DynamoDB size of every item evaluated (before the filter): capacity is charged on it."""
        if self._unsized:
            self._sized += sum(map(item_size, self._unsized))
            self._unsized.clear()
        return self._sized


def _after(key: bytes) -> bytes:
    """The smallest key strictly greater than ``key``."""
    return key + b"\x00"


def _past(encoded: bytes) -> bytes:
    """Above every key whose sort component is exactly the value ``encoded`` ends with.

    What may follow an encoded value is nothing (a table key), or a type tag
    (an index entry continues with the next attribute of a multi-attribute
    key, or with the table key); both sort below 0xff,
    while a longer value sharing these bytes continues with an escape (0xff).
    """
    return encoded + b"\xff"


def query_bounds(table: Table, condition: KeyCondition) -> tuple[bytes, bytes]:
    return partition_bounds(keycodec.partition_prefix(table.id, condition.hash_value), condition)


def partition_bounds(prefix: bytes, condition: KeyCondition) -> tuple[bytes, bytes]:
    """The key range of one partition (table or index) that ``condition``'s range part selects."""
    end = prefix_end(prefix)
    op = condition.range_op
    if op is None:
        return prefix, end
    values = [keycodec.encode_value(v) for v in condition.range_values]
    first = prefix + values[0]
    if op == "=":
        return first, _past(first)
    if op == "<":
        return prefix, first
    if op == "<=":
        return prefix, _past(first)
    if op == ">":
        return _past(first), end
    if op == ">=":
        return first, end
    if op == "BETWEEN":
        return first, _past(prefix + values[1])
    if op == "BEGINS_WITH":
        # The encoding minus its terminator is a byte prefix of every value that
        # begins with the operand (0x00 is escaped, so no false matches).
        start = first[:-1]
        return start, prefix_end(start)
    raise ValueError(f"unknown key condition operator {op}")


def _check_key_types(hash_keys: Sequence[KeyAttribute], range_keys: Sequence[KeyAttribute], condition: KeyCondition) -> None:
    """Every value of the condition has its key attribute's declared type (a value is a
    one-member dict keyed by its type)."""
    if not condition.hash_values:  # a classic key: one partition value, no equal sort prefix
        if hash_keys[0].type not in condition.hash_value:
            raise _condition_type_mismatch()
    else:
        for attribute, value in zip(hash_keys, condition.hash_values, strict=False):
            if attribute.type not in value:
                raise _condition_type_mismatch()
        for attribute, value in zip(range_keys, condition.range_prefix, strict=False):  # a prefix: may be shorter
            if attribute.type not in value:
                raise _condition_type_mismatch()
    if condition.range_op is not None:
        kind = range_keys[len(condition.range_prefix)].type
        for value in condition.range_values:
            if kind not in value:
                raise _condition_type_mismatch()


def _condition_type_mismatch() -> ValidationException:
    return ValidationException(
        f"{INVALID_PARAMETERS}Condition parameter type does not match schema type"
    )


def _start_key(table: Table, start: Item | None) -> bytes | None:
    if start is None:
        return None
    try:
        table.check_key(start)
    except ValidationException:
        raise ValidationException("The provided starting key is invalid: The provided key element does not match the schema") from None
    return table.item_key(start)


def _index_start_key(table: Table, index: indexes.Index, start: Item | None) -> bytes | None:
    """The entry key an index read's ExclusiveStartKey (index key + table key) names."""
    if start is None:
        return None
    names = set(index.key_names) | set(table.key_names)
    key = None
    if set(start) == names:
        try:
            table.check_key(table.key_of(start))
            key = indexes.entry_key(table, index, start)
        except ValidationException:
            key = None
    if key is None:
        raise ValidationException("The provided starting key is invalid: The provided key element does not match the schema")
    return key


def _collect(
    table: Table,
    rows: object,
    limit: int | None,
    filter_: Condition | None,
    index: indexes.Index | None = None,
    fetch_from: Txn | None = None,
) -> Page:
    """One page from ``rows``; callers cap the range read at ``limit`` rows, so a
    small Limit never makes storage produce rows that are then discarded."""
    # The page ends once the exact sizes of the items evaluated reach 1 MB.  An
    # item's stored JSON is never shorter than its DynamoDB size (every name,
    # value and wrapper costs at least as many JSON bytes as DynamoDB counts;
    # see values.exceeds_item_limit), so while the stored lengths of the items
    # not yet sized keep the total under 1 MB the exact total is under it too,
    # and sizing waits: for the usual page it happens only if capacity is asked
    # for (Page.bytes_read).  Near the limit every item is sized exactly, so the
    # page ends on exactly the item it always did.
    page = Page(table, index)
    unsized = page._unsized
    bound = 0  # page._sized + stored lengths of ``unsized``: >= the exact total
    for _, raw in rows:  # type: ignore[attr-defined]
        item: Item = orjson.loads(raw)
        entry = item  # the row read (an index entry under an index): the last evaluated key's source
        if fetch_from is not None:
            base = fetch_from.get(table.item_key(item))
            if base is not None:
                raw = base
                item = orjson.loads(base)
        page.scanned += 1
        unsized.append(item)
        bound += len(raw)
        if bound >= PAGE_BYTES:
            bound = page.bytes_read  # sizes ``unsized`` exactly and empties it
        if filter_ is None or filter_.evaluate(item):
            page.items.append(item)
        if (limit is not None and page.scanned >= limit) or bound >= PAGE_BYTES:
            page.last_key = table.key_of(entry) if index is None else indexes.key_of(table, index, entry)
            break
    return page


def _readable_index(table: Table, name: str) -> indexes.Index:
    index = indexes.find_index(table, name)
    if index.status != "ACTIVE":
        raise ValidationException(f"Cannot read from backfilling global secondary index: {name}")
    return index


def _resume_query(
    start: bytes,
    end: bytes,
    after: bytes | None,
    exclusive_start: Item | None,
    hash_names: tuple[str, ...],
    key_condition: KeyCondition,
    forward: bool,
) -> tuple[bytes, bytes]:
    """Narrow a Query's range to what follows ExclusiveStartKey (storage key ``after``)."""
    if after is None:
        return start, end
    if exclusive_start is not None and tuple(exclusive_start.get(name) for name in hash_names) != key_condition.partition:
        raise ValidationException("The provided starting key is outside query boundaries based on provided conditions")
    return (max(start, _after(after)), end) if forward else (start, min(end, after))


def _resume_scan(start: bytes, end: bytes, after: bytes | None) -> bytes:
    """A Scan (segment) range's new start after ExclusiveStartKey, which must lie inside it."""
    if after is None:
        return start
    if not start <= after < end:
        raise ValidationException(
            "The provided Exclusive start key does not map to the provided Segment and TotalSegments values."
        )
    return _after(after)


def query(
    db: Database,
    table_name: str,
    key_condition: KeyCondition,
    *,
    filter_: Condition | None = None,
    forward: bool = True,
    limit: int | None = None,
    exclusive_start: Item | None = None,
    index_name: str | None = None,
    fetch_base: bool = False,
    consistent: bool = True,
) -> Page:
    with db.store.transaction(write=False) if consistent else db.store.stale_read() as txn:
        table = load_table(txn, table_name)
        if index_name is not None:
            return _query_index(txn, table, _readable_index(table, index_name), key_condition,
                                filter_, forward, limit, exclusive_start, fetch_base)
        _check_key_types((table.hash_key,), () if table.range_key is None else (table.range_key,), key_condition)
        start, end = query_bounds(table, key_condition)
        start, end = _resume_query(start, end, _start_key(table, exclusive_start), exclusive_start,
                                   table.hash_names, key_condition, forward)
        if start >= end:
            return Page(table)
        rows = txn.range(start, end, reverse=not forward, limit=limit)
        return _collect(table, rows, limit, filter_)


def _query_index(
    txn: Txn,
    table: Table,
    index: indexes.Index,
    key_condition: KeyCondition,
    filter_: Condition | None,
    forward: bool,
    limit: int | None,
    exclusive_start: Item | None,
    fetch_base: bool,
) -> Page:
    _check_key_types(index.hash_keys, index.range_keys, key_condition)
    if key_condition.hash_values:
        prefix = keycodec.index_tuple_partition_prefix(table.id, index.number, key_condition.hash_values)
        # Leading sort attributes fixed by "=" narrow the partition like a longer
        # partition key: the remaining condition is a range within that prefix.
        prefix += keycodec.encode_values(key_condition.range_prefix)
    else:  # a one-attribute partition key and at most one sort attribute, as on a table
        prefix = keycodec.index_partition_prefix(table.id, index.number, key_condition.hash_value)
    start, end = partition_bounds(prefix, key_condition)
    start, end = _resume_query(start, end, _index_start_key(table, index, exclusive_start), exclusive_start,
                               index.hash_names, key_condition, forward)
    if start >= end:
        return Page(table, index)
    rows = txn.range(start, end, reverse=not forward, limit=limit)
    return _collect(table, rows, limit, filter_, index, txn if fetch_base else None)


def scan(
    db: Database,
    table_name: str,
    *,
    filter_: Condition | None = None,
    limit: int | None = None,
    exclusive_start: Item | None = None,
    segment: int | None = None,
    total_segments: int | None = None,
    index_name: str | None = None,
    fetch_base: bool = False,
    consistent: bool = True,
) -> Page:
    with db.store.transaction(write=False) if consistent else db.store.stale_read() as txn:
        table = load_table(txn, table_name)
        if index_name is not None:
            index = _readable_index(table, index_name)
            prefix = index.prefix(table)
            if segment is not None and total_segments is not None:
                start, end = keycodec.prefix_segment_bounds(prefix, segment, total_segments)
            else:
                start, end = prefix, prefix_end(prefix)
            start = _resume_scan(start, end, _index_start_key(table, index, exclusive_start))
            return _collect(table, txn.range(start, end, limit=limit), limit, filter_, index, txn if fetch_base else None)
        if segment is not None and total_segments is not None:
            start, end = keycodec.segment_bounds(table.id, segment, total_segments)
        else:
            prefix = keycodec.table_prefix(table.id)
            start, end = prefix, prefix_end(prefix)
        start = _resume_scan(start, end, _start_key(table, exclusive_start))
        rows = txn.range(start, end, limit=limit)
        return _collect(table, rows, limit, filter_)
