"""Dispatchers wrapped to count what the answers carry: consumed capacity, and GetRecords' iterator age.

**Consumed capacity.**  The api computes ConsumedCapacity (``engine/capacity.py``)
only when a request asks for it.  To count it for *every* request, the
wrapper asks for it on the client's behalf — it sets the payload's
``ReturnConsumedCapacity`` in place (the payload is this request's own,
decoded from its body; a write handed to the writer process carries the
setting with it) — counts each table's and each index's units, and hands
the client the answer it asked for: without ConsumedCapacity (``NONE`` or
absent), or with only the totals (``TOTAL``).  It asks for ``INDEXES``
only where the operation can touch an index (a write, whose table may have
indexes; a Query or Scan that names one); a GetItem, BatchGetItem,
TransactGetItems or a Query or Scan of the table reads the table alone, so
its ``TOTAL`` is the table's own units — the same figure, without the
per-index parts built and then removed.  So the figure is the one a client
asking for it would see, and the api and engine are unchanged.  An answer that is an error carries no
ConsumedCapacity and counts nothing (DynamoDB charges a failed conditional
write; cellstore does not report one either).  A request whose
``ReturnConsumedCapacity`` is not a valid value is passed through as it
came, so the api's validation message is the same with or without metrics.

The wrapper sits innermost of ``build_app``'s wrappers, under the item cache
(``serve --cache``): a GetItem the cache answers reads no table and consumes
nothing, as with DAX.

A write handed to the writer process (``serve --workers`` on SQLite) comes
back as a ``Wait``: it is counted when it settles, in the worker that
answers the client.

**Iterator age.**  A GetRecords answer's newest record tells how far behind
the stream its reader is: ``now - ApproximateCreationDateTime`` of the last
record, 0 when the page is empty (the reader is caught up) — Kinesis's
``MillisBehindLatest``, by table.  The table is read from the iterator,
whose text begins with the stream's ARN (``table/<name>/stream/<label>``).

cellstore does not throttle: no request is ever answered with
ProvisionedThroughputExceededException or ThrottlingException, so there is
no throttle series (docs/OBSERVABILITY.md).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from cellstore.api import Database
from cellstore.api.partiql.parser import STATEMENTS, only_selects
from cellstore.waiting import Wait

Dispatch = Callable[..., Any]

#: The operations that accept ReturnConsumedCapacity.
CAPACITY_OPERATIONS = frozenset({
    "GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan",
    "BatchGetItem", "BatchWriteItem", "TransactGetItems", "TransactWriteItems",
    "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
})
_MODES = frozenset({"NONE", "TOTAL"})
#: The per-index parts of an INDEXES answer that a TOTAL answer does not have.
_INDEX_PARTS = ("Table", "GlobalSecondaryIndexes", "LocalSecondaryIndexes")
#: Distinct (table, index) series each counter keeps, at most: tables come and go, the label set stays bounded.
MAX_SERIES = 2000
#: The ``index`` label of a table's own units.
TABLE = ""


class Meters:
    """The counters, and ``wrap``, the ``build_app`` wrapper that feeds them."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.read_units = Counter(
            "cellstore_consumed_read_capacity_units",
            "Read capacity units consumed, by table and index (index \"\" is the table's own).",
            ["table", "index"], registry=registry,
        )
        self.write_units = Counter(
            "cellstore_consumed_write_capacity_units",
            "Write capacity units consumed, by table and index (index \"\" is the table's own).",
            ["table", "index"], registry=registry,
        )
        self.iterator_age = Gauge(
            "cellstore_stream_iterator_age_seconds",
            "Age of the newest record the last GetRecords of a table's stream returned; 0 when caught up.",
            ["table"], registry=registry, multiprocess_mode="livemostrecent",
        )
        self._children: dict[tuple[bool, str, str], Any] = {}

    def wrap(self, db: Database, dispatchers: dict[str, Dispatch]) -> dict[str, Dispatch]:
        """``build_app``'s wrapper: DynamoDB's dispatcher metered for capacity, Streams' for iterator age."""
        wrapped = dict(dispatchers)
        if "dynamodb" in dispatchers:
            wrapped["dynamodb"] = self._capacity(dispatchers["dynamodb"])
        if "streams" in dispatchers:
            wrapped["streams"] = self._iterator_age(dispatchers["streams"])
        return wrapped

    def _capacity(self, dispatch: Dispatch) -> Dispatch:
        def metered(operation: str, payload: Any, *rest: Any) -> Any:
            if operation not in CAPACITY_OPERATIONS or not isinstance(payload, dict):
                return dispatch(operation, payload, *rest)
            mode = payload.get("ReturnConsumedCapacity")
            if mode == "INDEXES":
                asked = mode
            elif mode is None or mode in _MODES:
                asked = "INDEXES" if _may_touch_an_index(operation, payload) else "TOTAL"
                if mode != asked:
                    payload["ReturnConsumedCapacity"] = asked
            else:  # not a valid value: the api says so, as it would without metrics
                return dispatch(operation, payload, *rest)
            return self._counted(dispatch(operation, payload, *rest), _reads(operation, payload), mode, asked)

        return metered

    def _counted(self, answer: Any, read: bool, mode: str | None, asked: str) -> Any:
        """``answer`` counted and shaped as asked; a ``Wait`` (a write handed to the writer process) once it settles."""
        if isinstance(answer, dict):
            self.count(answer, read=read)
            if mode != asked:
                _as_asked(answer, mode)
            return answer
        if isinstance(answer, Wait):
            retry = answer.retry
            return dataclasses.replace(answer, retry=lambda: self._counted(retry(), read, mode, asked))
        return answer

    def count(self, answer: dict[str, Any], *, read: bool) -> None:
        """Add up an answer's ConsumedCapacity (one entry, or a list of them)."""
        consumed = answer.get("ConsumedCapacity")
        if consumed is None:
            return
        if isinstance(consumed, dict):
            self._count_entry(consumed, read)
            return
        for entry in consumed:
            self._count_entry(entry, read)

    def _count_entry(self, entry: dict[str, Any], read: bool) -> None:
        """One table's entry: its parts when it has them (INDEXES), else the whole is the table's own (TOTAL)."""
        table = entry.get("TableName", "")
        own = entry.get("Table")
        if own is None:
            self._add(read, table, TABLE, entry.get("CapacityUnits", 0.0))
            return
        self._add(read, table, TABLE, own.get("CapacityUnits", 0.0))
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            parts = entry.get(kind)
            if parts:
                for index, units in parts.items():
                    self._add(read, table, index, units.get("CapacityUnits", 0.0))

    def _add(self, read: bool, table: str, index: str, units: float) -> None:
        key = (read, table, index)
        child = self._children.get(key)
        if child is None:
            if len(self._children) >= MAX_SERIES:
                return  # the label set is full: figures for yet another table are dropped, not invented
            child = self._children[key] = (self.read_units if read else self.write_units).labels(table, index)
        if units:
            child.inc(units)

    def _iterator_age(self, dispatch: Dispatch) -> Dispatch:
        def metered(operation: str, payload: Any, *rest: Any) -> Any:
            answer = dispatch(operation, payload, *rest)
            if operation == "GetRecords" and isinstance(answer, dict) and isinstance(payload, dict):
                table = _table_of_iterator(payload.get("ShardIterator"))
                if table is not None:
                    records = answer.get("Records") or ()
                    age = 0.0
                    if records:
                        created = records[-1].get("dynamodb", {}).get("ApproximateCreationDateTime")
                        if isinstance(created, (int, float)):
                            age = max(0.0, time.time() - created)
                    self.iterator_age.labels(table).set(age)
            return answer

        return metered


_READS = frozenset({"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"})
#: Reads of a table's own items only: an index is never read by them.
_TABLE_READS = frozenset({"GetItem", "BatchGetItem", "TransactGetItems"})
#: Reads of a table, or of the index they name (``IndexName``).
_RANGE_READS = frozenset({"Query", "Scan"})


def _reads(operation: str, payload: dict[str, Any]) -> bool:
    """Whether the request's capacity is read capacity: a read operation, or PartiQL whose statements are SELECTs."""
    if operation in STATEMENTS:
        return only_selects(operation, payload)
    return operation in _READS


def _may_touch_an_index(operation: str, payload: dict[str, Any]) -> bool:
    """Whether the request's capacity can have an index's part: a write (its table may have indexes), or a read of one."""
    if operation in _TABLE_READS:
        return False
    if operation in _RANGE_READS:
        return payload.get("IndexName") is not None
    return True


def _as_asked(answer: dict[str, Any], mode: str | None) -> None:
    """Reshape an INDEXES or TOTAL answer in place to what ``mode`` (None, NONE or TOTAL) gives."""
    consumed = answer.get("ConsumedCapacity")
    if consumed is None:
        return
    if mode is None or mode == "NONE":
        del answer["ConsumedCapacity"]
        return
    for entry in consumed if isinstance(consumed, list) else (consumed,):
        for part in _INDEX_PARTS:
            entry.pop(part, None)


def _table_of_iterator(iterator: Any) -> str | None:
    """The table of a shard iterator ("<stream arn>|..."), or None if it is not one."""
    if not isinstance(iterator, str):
        return None
    arn = iterator.partition("|")[0]
    _, found, rest = arn.partition(":table/")
    if not found:
        return None
    table, found, _ = rest.partition("/stream/")
    return table if found and table else None
