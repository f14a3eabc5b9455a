"""UpdateTimeToLive and DescribeTimeToLive: validate, then ``engine.ttl``."""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.tables import resolve_table_name, table_name_errors
from cellstore.api.validation import Param, raise_if_errors, structure_errors
from cellstore.engine import ttl
from cellstore.engine.database import Database

_SPECIFICATION = {
    "AttributeName": Param("string", required=True, min_length=1, max_length=255),
    "Enabled": Param("boolean", required=True),
}


@operation("UpdateTimeToLive")
def update_time_to_live(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    name = table_name_errors(db, payload, errors)
    specification = payload.get("TimeToLiveSpecification")
    errors.extend(structure_errors("timeToLiveSpecification", specification, _SPECIFICATION, required=True))
    raise_if_errors(errors)
    # Checked above: a missing specification is one of the errors raised.
    specification = payload["TimeToLiveSpecification"]
    answer = ttl.update(db, name, bool(specification["Enabled"]), str(specification["AttributeName"]))
    return {"TimeToLiveSpecification": answer}


@operation("DescribeTimeToLive")
def describe_time_to_live(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    return {"TimeToLiveDescription": ttl.describe(db, resolve_table_name(db, payload))}
