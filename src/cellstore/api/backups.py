"""DescribeContinuousBackups and UpdateContinuousBackups: validate, then ``engine.catalog``.

Point-in-time recovery itself (restoring a table as it was) is not served:
these operations record and report the setting so that tools which read or
set it (Terraform, CDK, audits) work against cellstore; docs/OPERATIONS.md
says so.
"""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.tables import resolve_table_name, table_name_errors
from cellstore.api.validation import (
    Param,
    raise_if_errors,
    structure_errors,
)
from cellstore.engine import catalog
from cellstore.engine.database import Database

_SPECIFICATION = {
    "PointInTimeRecoveryEnabled": Param("boolean", required=True),
    "RecoveryPeriodInDays": Param("integer", min_value=1, max_value=35),
}


@operation("DescribeContinuousBackups")
def describe_continuous_backups(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    name = resolve_table_name(db, payload)
    return {"ContinuousBackupsDescription": catalog.describe_continuous_backups(db, name)}


@operation("UpdateContinuousBackups")
def update_continuous_backups(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    name = table_name_errors(db, payload, errors)
    specification = payload.get("PointInTimeRecoverySpecification")
    errors.extend(structure_errors("pointInTimeRecoverySpecification", specification, _SPECIFICATION, required=True))
    raise_if_errors(errors)
    checked: dict[str, Any] = specification or {}  # present and a map: checked above
    period = checked.get("RecoveryPeriodInDays")
    answer = catalog.update_continuous_backups(
        db, name, bool(checked["PointInTimeRecoveryEnabled"]), None if period is None else int(period)
    )
    return {"ContinuousBackupsDescription": answer}
