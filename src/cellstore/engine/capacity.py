"""DynamoDB's capacity-unit arithmetic, for ReturnConsumedCapacity.

cellstore does not throttle, but clients (and cost estimates built on
cellstore in tests) read ConsumedCapacity, so the numbers follow AWS's
documented rules:

* a write unit per started KB of the larger of the old and new item;
* a read unit per started 4 KB, half that for eventually consistent reads;
* GetItem and BatchGetItem round *each item* up (BatchGetItem is billed as
  its GetItems, a missing item costing the minimum too);
* Query and Scan sum the sizes of every item evaluated (before the filter)
  and round the total up once, with one unit (half for eventually
  consistent reads) as the minimum per request;
* a write to a table with secondary indexes also writes each index whose
  entry it puts, changes or removes — one write of the entry's size, two
  when the index key changes (the old entry deleted, the new one put) — and
  with ``INDEXES`` each index's share is reported apart, under
  GlobalSecondaryIndexes or LocalSecondaryIndexes, the table's own under
  ``Table``; ``CapacityUnits`` is always the total.

Knowingly different: a Query or Scan of a local index that fetches
attributes it does not project is charged to the index alone, where
DynamoDB also charges the table reads of that fetch.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from cellstore.engine import indexes
from cellstore.engine.changes import WriteResult
from cellstore.engine.values import item_size

WRITE_UNIT = 1024
READ_UNIT = 4096


def write_units(size: int) -> float:
    return float(max(1, -(-size // WRITE_UNIT)))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, -(-size // READ_UNIT))
    return float(units) if consistent else units / 2


def items_read_units(sizes: Iterable[int], *, consistent: bool) -> float:
    """Units of reading items one by one (BatchGetItem, TransactGetItems): each rounds up on its own."""
    return sum(read_units(size, consistent=consistent) for size in sizes)


@dataclass(slots=True)
class Usage:
    """Units one request consumed on one table: the table's own and each index's."""

    table: float = 0.0
    global_indexes: dict[str, float] = field(default_factory=dict)
    local_indexes: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return self.table + sum(self.global_indexes.values()) + sum(self.local_indexes.values())

    def add(self, other: Usage, times: float = 1.0) -> None:
        self.table += other.table * times
        for mine, theirs in ((self.global_indexes, other.global_indexes), (self.local_indexes, other.local_indexes)):
            for name, units in theirs.items():
                mine[name] = mine.get(name, 0.0) + units * times

    def charge_index(self, index: indexes.Index, units: float) -> None:
        into = self.global_indexes if index.is_global else self.local_indexes
        into[index.name] = into.get(index.name, 0.0) + units


def index_read(index: indexes.Index, units: float) -> Usage:
    """A Query or Scan of ``index``: the table itself reads nothing."""
    usage = Usage()
    usage.charge_index(index, units)
    return usage


def _index_write_units(result: WriteResult, index: indexes.Index) -> float:
    """Write units ``result`` costs in ``index`` (0 when the index does not change)."""
    table = result.table
    old_key = None if result.old is None else indexes.entry_key(table, index, result.old)
    new_key = None if result.new is None else indexes.entry_key(table, index, result.new)
    old_entry = None if old_key is None or result.old is None else indexes.project(table, index, result.old)
    new_entry = None if new_key is None or result.new is None else indexes.project(table, index, result.new)
    if old_entry is None and new_entry is None:
        return 0.0
    if old_entry is None or new_entry is None:
        return write_units(item_size(old_entry or new_entry or {}))
    if old_key != new_key:  # the entry moves: delete the old one, put the new one
        return write_units(item_size(old_entry)) + write_units(item_size(new_entry))
    if old_entry == new_entry:
        return 0.0
    return write_units(max(item_size(old_entry), item_size(new_entry)))


def _charged_size(item: dict[str, Any] | None) -> int:
    """``item_size(item)``, or ``WRITE_UNIT`` when its JSON is no longer: all one write unit needs to know.

    An item's DynamoDB size never exceeds the length of its JSON (names are
    quoted, every value carries its type tag) — the bound ``values.exceeds_item_limit``
    relies on too — so a small item's units are known from one ``orjson.dumps``
    instead of a walk of every value.  ``serve`` counts capacity for every
    request (``protocol/metered.py``), so this is on the write path.
    """
    if item is None:
        return 0
    if len(orjson.dumps(item)) <= WRITE_UNIT:
        return WRITE_UNIT
    return item_size(item)


def write_usage(result: WriteResult) -> Usage:
    """What one item write costs: the table's units, and each index's it changes."""
    usage = Usage(table=write_units(max(_charged_size(result.old), _charged_size(result.new))))
    if indexes.has_indexes(result.table):
        for index in indexes.indexes_of(result.table):
            units = _index_write_units(result, index)
            if units:
                usage.charge_index(index, units)
    return usage


def writes_by_table(results: Iterable[WriteResult], names: Iterable[str] = (), times: float = 1.0) -> dict[str, Usage]:
    """The usage of several writes, per table (every one of ``names`` listed, even if unwritten)."""
    usages: dict[str, Usage] = {name: Usage() for name in names}
    for result in results:
        usages.setdefault(result.table.name, Usage()).add(write_usage(result), times)
    return usages


def wanted(mode: str | None) -> bool:
    """Whether the request asked for ConsumedCapacity (sizes are only computed then)."""
    return mode is not None and mode != "NONE"


def _units(units: float, read: bool) -> dict[str, float]:
    return {"CapacityUnits": units, ("ReadCapacityUnits" if read else "WriteCapacityUnits"): units}


def consumed(table: str, units: float | Usage, mode: str | None, *, read: bool) -> dict[str, Any] | None:
    """The ConsumedCapacity member for one table, or None when not requested.

    ``units`` is a bare number when only the table was read or written.
    """
    if mode is None or mode == "NONE":
        return None
    if not isinstance(units, Usage) or not (units.global_indexes or units.local_indexes):
        # The table's own units alone (every read of a table, a write to a table without indexes): built
        # directly, as ``serve`` asks for every request's capacity (``protocol/metered.py``).
        own = units.table if isinstance(units, Usage) else units
        kind = "ReadCapacityUnits" if read else "WriteCapacityUnits"
        alone: dict[str, Any] = {"TableName": table, "CapacityUnits": own, kind: own}
        if mode == "INDEXES":
            alone["Table"] = {"CapacityUnits": own, kind: own}
        return alone
    result: dict[str, Any] = {"TableName": table, **_units(units.total, read)}
    if mode == "INDEXES":
        result["Table"] = _units(units.table, read)
        if units.global_indexes:
            result["GlobalSecondaryIndexes"] = {n: _units(u, read) for n, u in units.global_indexes.items()}
        if units.local_indexes:
            result["LocalSecondaryIndexes"] = {n: _units(u, read) for n, u in units.local_indexes.items()}
    return result
