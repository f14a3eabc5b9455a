"""DynamoDB's capacity-unit arithmetic, for ReturnConsumedCapacity.

cellstore does not throttle, but clients (and cost estimates built on
cellstore in tests) read ConsumedCapacity, so the numbers follow AWS's rules:
a write unit per started KB of the larger of the old and new item, a read
unit per started 4 KB, half that for eventually consistent reads, and a read
operation over several items (Query, Scan) sums sizes before rounding.
"""

from __future__ import annotations

from typing import Any

WRITE_UNIT = 1024
READ_UNIT = 4096


def write_units(size: int) -> float:
    return float(max(1, -(-size // WRITE_UNIT)))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, -(-size // READ_UNIT))
    return float(units) if consistent else units / 2


def wanted(mode: str | None) -> bool:
    """Whether the request asked for ConsumedCapacity (sizes are only computed then)."""
    return mode is not None and mode != "NONE"


def consumed(table: str, units: float, mode: str | None, *, read: bool) -> dict[str, Any] | None:
    """The ConsumedCapacity member for one table, or None when not requested."""
    if mode is None or mode == "NONE":
        return None
    result: dict[str, Any] = {"TableName": table, "CapacityUnits": units}
    result["ReadCapacityUnits" if read else "WriteCapacityUnits"] = units
    if mode == "INDEXES":
        result["Table"] = {"CapacityUnits": units, ("ReadCapacityUnits" if read else "WriteCapacityUnits"): units}
    return result
