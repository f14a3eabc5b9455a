"""PartiQL's capacity in the ``/metrics`` counters: read or write units by what its statements do, not its name."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cellstore.protocol.metered import Meters


def answer(operation: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A dispatcher's answer carrying the capacity the meter asked for (INDEXES or TOTAL)."""
    entry = {"TableName": "tab", "CapacityUnits": 2.0}
    return {"ConsumedCapacity": entry if operation == "ExecuteStatement" else [entry]}


@pytest.mark.parametrize(("operation", "payload", "read"), [
    ("ExecuteStatement", {"Statement": "SELECT * FROM tab"}, True),
    ("ExecuteStatement", {"Statement": "  select a FROM tab"}, True),
    ("ExecuteStatement", {"Statement": "INSERT INTO tab VALUE {'pk': 1}"}, False),
    ("ExecuteStatement", {"Statement": "SELECTED"}, False),
    ("BatchExecuteStatement", {"Statements": [{"Statement": "SELECT * FROM tab WHERE pk = 1"}]}, True),
    ("BatchExecuteStatement", {"Statements": [{"Statement": "DELETE FROM tab WHERE pk = 1"}]}, False),
    ("ExecuteTransaction", {"TransactStatements": [{"Statement": "EXISTS(SELECT * FROM tab WHERE pk = 1)"},
                                                   {"Statement": "UPDATE tab SET a = 1 WHERE pk = 2"}]}, False),
    ("ExecuteTransaction", {"TransactStatements": [{"Statement": "SELECT * FROM tab WHERE pk = 1"}]}, True),
])
def test_partiql_units_count_as_reads_or_writes(operation: str, payload: dict[str, Any], read: bool) -> None:
    meters = Meters(CollectorRegistry())
    metered = meters.wrap(None, {"dynamodb": answer})["dynamodb"]  # type: ignore[arg-type]
    response = metered(operation, payload)
    assert "ConsumedCapacity" not in response  # not asked for by the client: counted, then taken away
    counted = meters.read_units if read else meters.write_units
    other = meters.write_units if read else meters.read_units
    assert counted.labels("tab", "")._value.get() == 2.0
    assert other.labels("tab", "")._value.get() == 0.0
