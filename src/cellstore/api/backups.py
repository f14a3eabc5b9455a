"""Backups: on-demand backups (``engine.backups``) and the continuous-backups setting (``engine.catalog``).

CreateBackup, DescribeBackup, ListBackups, DeleteBackup and
RestoreTableFromBackup validate here and make one ``engine/backups.py`` call
each; RestoreTableFromBackup's index overrides are checked as CreateTable
checks its indexes (``api/tables.py``), against the backup's attribute
definitions.  docs/BACKUPS.md says what is served.

Point-in-time recovery itself (restoring a table as it was) is not served:
these operations record and report the setting so that tools which read or
set it (Terraform, CDK, audits) work against cellstore; docs/OPERATIONS.md
says so.
"""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import operation
from cellstore.api.tables import (
    BILLING_MODE,
    THROUGHPUT,
    billing_throughput,
    check_create_indexes,
    index_list_errors,
    member_errors,
    optional_structure,
    resolve_table_name,
    table_name_errors,
    throughput_of,
)
from cellstore.api.validation import (
    TABLE_NAME_PATTERN,
    Param,
    raise_if_errors,
    structure_errors,
    table_name_rule,
    validate,
)
from cellstore.engine import backups, catalog, indexes
from cellstore.engine.catalog import PAY_PER_REQUEST, PROVISIONED
from cellstore.engine.database import Database
from cellstore.engine.values import json_kind
from cellstore.errors import SerializationException

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


# ---- on-demand backups ---------------------------------------------------------------

_BACKUP_NAME = Param("string", required=True, min_length=3, max_length=255, pattern=TABLE_NAME_PATTERN)
_BACKUP_ARN = Param("string", required=True, min_length=37, max_length=1024)
_BACKUP_TYPES = ("USER", "SYSTEM", "AWS_BACKUP", "ALL")
_SSE_OVERRIDE = {
    "Enabled": Param("boolean"),
    "KMSMasterKeyId": Param("string"),
    "SSEType": Param("string", enum=("AES256", "KMS")),
}


def _time_bound(payload: dict[str, Any], member: str) -> float | None:
    """A timestamp member (epoch seconds, as boto3 sends them); a string or other JSON is a serialization error."""
    value = payload.get(member)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SerializationException(f"{json_kind(value)} can not be converted to a Timestamp")
    return float(value)


@operation("CreateBackup")
def create_backup(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    name = table_name_errors(db, payload, errors)
    backup_name = member_errors(payload, "BackupName", "string", _BACKUP_NAME, errors)
    raise_if_errors(errors)
    return {"BackupDetails": backups.create_backup(db, name, str(backup_name))}


@operation("DescribeBackup")
def describe_backup(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"BackupArn": _BACKUP_ARN})
    return {"BackupDescription": backups.describe_backup(db, payload["BackupArn"])}


@operation("DeleteBackup")
def delete_backup(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {"BackupArn": _BACKUP_ARN})
    return {"BackupDescription": backups.delete_backup(db, payload["BackupArn"])}


@operation("ListBackups")
def list_backups(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, {
        "TableName": table_name_rule(required=False),
        "Limit": Param("integer", min_value=1, max_value=100),
        "ExclusiveStartBackupArn": Param("string", min_length=37, max_length=1024),
        "BackupType": Param("string", enum=_BACKUP_TYPES),
    })
    wanted = backups.BackupFilter(
        table=payload.get("TableName"),
        lower=_time_bound(payload, "TimeRangeLowerBound"),
        upper=_time_bound(payload, "TimeRangeUpperBound"),
        backup_type=payload.get("BackupType") or backups.USER,
    )
    limit = payload.get("Limit")
    summaries, last = backups.list_backups(
        db, wanted, None if limit is None else int(limit), payload.get("ExclusiveStartBackupArn")
    )
    answer: dict[str, Any] = {"BackupSummaries": summaries}
    if last is not None:
        answer["LastEvaluatedBackupArn"] = last
    return answer


def _checked_overrides(
    lsis: list[dict[str, Any]] | None,
    gsis: list[dict[str, Any]] | None,
    table_keys: tuple[str, str | None],
    definitions: dict[str, str],
    billing: str,
) -> tuple[tuple[indexes.IndexSpec, ...] | None, tuple[indexes.IndexSpec, ...] | None]:
    """The index overrides checked as CreateTable checks its indexes; None keeps the backup's, [] drops them.

    Checked against the backup's AttributeDefinitions, of which only the
    table's keys and the overrides' keys count (the restored table keeps no
    definition nothing uses, so the backup's other index keys are no error).
    """
    given = [index for group in (lsis, gsis) for index in group or []]
    keys = {str(key) for key in table_keys if key is not None}
    keys.update(element["AttributeName"] for index in given for element in index["KeySchema"])
    used = {name: kind for name, kind in definitions.items() if name in keys}
    local, global_ = check_create_indexes(lsis or None, gsis or None, table_keys, used, billing)
    return (None if lsis is None else local), (None if gsis is None else global_)


@operation("RestoreTableFromBackup")
def restore_table_from_backup(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    target = member_errors(payload, "TargetTableName", "string", table_name_rule(), errors)
    arn = member_errors(payload, "BackupArn", "string", _BACKUP_ARN, errors)
    mode = member_errors(payload, "BillingModeOverride", "string", BILLING_MODE, errors)
    gsis = index_list_errors("globalSecondaryIndexOverride", payload.get("GlobalSecondaryIndexOverride"), errors)
    lsis = index_list_errors("localSecondaryIndexOverride", payload.get("LocalSecondaryIndexOverride"), errors)
    throughput = optional_structure(
        "provisionedThroughputOverride", payload.get("ProvisionedThroughputOverride"), THROUGHPUT, errors
    )
    optional_structure("sSESpecificationOverride", payload.get("SSESpecificationOverride"), _SSE_OVERRIDE, errors)
    raise_if_errors(errors)
    definitions, table_keys, source_billing = backups.source_definitions(db, str(arn))
    billing = str(mode or source_billing)
    if throughput is not None or (billing == PROVISIONED and source_billing == PAY_PER_REQUEST):
        billing_throughput(billing, throughput)  # PROVISIONED needs a throughput, PAY_PER_REQUEST refuses one
    local, global_ = _checked_overrides(lsis, gsis, table_keys, definitions, billing)
    request = backups.RestoreRequest(
        target=str(target),
        backup_arn=str(arn),
        billing_mode=None if mode is None else billing,
        throughput=throughput_of(throughput),
        global_indexes=global_,
        local_indexes=local,
    )
    return {"TableDescription": backups.restore_table(db, request)}
