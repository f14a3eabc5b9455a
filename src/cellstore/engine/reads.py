"""Query and Scan: ordered range reads over the keyspace, paged as DynamoDB pages.

A Query is one range read inside one partition's key prefix (never a scan
and sort: the key encoding already orders sort keys); a Scan walks the
table's hash order, and a parallel-scan segment is a slice of that order.
Both stop at ``Limit`` items *evaluated* (before the filter) or once 1 MB of
item data has been read, and hand back the key of the last item evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from cellstore.engine import keycodec
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, KeyCondition
from cellstore.engine.tables import Table, load_table
from cellstore.engine.values import Item, item_size
from cellstore.errors import ValidationException
from cellstore.storage.base import prefix_end

PAGE_BYTES = 1024 * 1024


@dataclass(slots=True)
class Page:
    table: Table
    items: list[Item] = field(default_factory=list)
    scanned: int = 0
    bytes_read: int = 0
    last_key: Item | None = None


def _after(key: bytes) -> bytes:
    """The smallest key strictly greater than ``key``."""
    return key + b"\x00"


def query_bounds(table: Table, condition: KeyCondition) -> tuple[bytes, bytes]:
    prefix = keycodec.partition_prefix(table.id, condition.hash_value)
    end = prefix_end(prefix)
    op = condition.range_op
    if op is None:
        return prefix, end
    values = [keycodec.encode_value(v) for v in condition.range_values]
    first = prefix + values[0]
    if op == "=":
        return first, _after(first)
    if op == "<":
        return prefix, first
    if op == "<=":
        return prefix, _after(first)
    if op == ">":
        return _after(first), end
    if op == ">=":
        return first, end
    if op == "BETWEEN":
        return first, _after(prefix + values[1])
    if op == "BEGINS_WITH":
        # The encoding minus its terminator is a byte prefix of every value that
        # begins with the operand (0x00 is escaped, so no false matches).
        start = first[:-1]
        return start, prefix_end(start)
    raise ValueError(f"unknown key condition operator {op}")


def _check_key_types(table: Table, condition: KeyCondition) -> None:
    if next(iter(condition.hash_value)) != table.hash_key.type:
        raise ValidationException("One or more parameter values were invalid: Condition parameter type does not match schema type")
    if table.range_key is not None:
        for value in condition.range_values:
            if next(iter(value)) != table.range_key.type:
                raise ValidationException(
                    "One or more parameter values were invalid: Condition parameter type does not match schema type"
                )


def _start_key(table: Table, start: Item | None) -> bytes | None:
    if start is None:
        return None
    try:
        table.check_key(start)
    except ValidationException:
        raise ValidationException("The provided starting key is invalid: The provided key element does not match the schema") from None
    return table.item_key(start)


def _collect(
    table: Table,
    rows: object,
    limit: int | None,
    filter_: Condition | None,
) -> Page:
    page = Page(table)
    for _, raw in rows:  # type: ignore[attr-defined]
        item: Item = orjson.loads(raw)
        page.scanned += 1
        page.bytes_read += item_size(item)
        if filter_ is None or filter_.evaluate(item):
            page.items.append(item)
        if (limit is not None and page.scanned >= limit) or page.bytes_read >= PAGE_BYTES:
            page.last_key = table.key_of(item)
            break
    return page


def query(
    db: Database,
    table_name: str,
    key_condition: KeyCondition,
    *,
    filter_: Condition | None = None,
    forward: bool = True,
    limit: int | None = None,
    exclusive_start: Item | None = None,
) -> Page:
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, table_name)
        _check_key_types(table, key_condition)
        start, end = query_bounds(table, key_condition)
        after = _start_key(table, exclusive_start)
        if after is not None:
            if exclusive_start is not None and exclusive_start.get(table.hash_key.name) != key_condition.hash_value:
                raise ValidationException("The provided starting key is outside query boundaries based on provided conditions")
            if forward:
                start = max(start, _after(after))
            else:
                end = min(end, after)
        if start >= end:
            return Page(table)
        rows = txn.range(start, end, reverse=not forward)
        return _collect(table, rows, limit, filter_)


def scan(
    db: Database,
    table_name: str,
    *,
    filter_: Condition | None = None,
    limit: int | None = None,
    exclusive_start: Item | None = None,
    segment: int | None = None,
    total_segments: int | None = None,
) -> Page:
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, table_name)
        if segment is not None and total_segments is not None:
            start, end = keycodec.segment_bounds(table.id, segment, total_segments)
        else:
            prefix = keycodec.table_prefix(table.id)
            start, end = prefix, prefix_end(prefix)
        after = _start_key(table, exclusive_start)
        if after is not None:
            if not start <= after < end:
                raise ValidationException(
                    "The provided Exclusive start key does not map to the provided Segment and TotalSegments values."
                )
            start = _after(after)
        rows = txn.range(start, end)
        return _collect(table, rows, limit, filter_)
