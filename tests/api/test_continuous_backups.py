"""DescribeContinuousBackups and UpdateContinuousBackups through boto3 (issue 21, item 12).

Point-in-time recovery is a recorded setting only (docs/OPERATIONS.md): these
tests check the answers tools read, not any restore.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from client_errors import error

DISABLED = {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}


def test_a_new_table_has_point_in_time_recovery_disabled(ddb: Any, hash_table: str) -> None:
    answer = ddb.describe_continuous_backups(TableName=hash_table)
    assert answer["ContinuousBackupsDescription"] == DISABLED


def test_enabling_then_disabling(ddb: Any, hash_table: str) -> None:
    enabled = ddb.update_continuous_backups(
        TableName=hash_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )["ContinuousBackupsDescription"]
    assert enabled == {
        "ContinuousBackupsStatus": "ENABLED",
        "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "ENABLED", "RecoveryPeriodInDays": 35},
    }
    assert ddb.describe_continuous_backups(TableName=hash_table)["ContinuousBackupsDescription"] == enabled
    disabled = ddb.update_continuous_backups(
        TableName=hash_table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    assert disabled["ContinuousBackupsDescription"] == DISABLED


def test_recovery_period_is_kept(ddb: Any, hash_table: str) -> None:
    ddb.update_continuous_backups(
        TableName=hash_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7},
    )
    description = ddb.describe_continuous_backups(TableName=hash_table)["ContinuousBackupsDescription"]
    assert description["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7


def test_the_table_arn_names_the_table(ddb: Any, hash_table: str) -> None:
    arn = ddb.describe_table(TableName=hash_table)["Table"]["TableArn"]
    assert ddb.describe_continuous_backups(TableName=arn)["ContinuousBackupsDescription"] == DISABLED


def test_a_missing_table_is_table_not_found(ddb: Any) -> None:
    assert error(ddb.describe_continuous_backups, TableName="no-such-table") == (
        "TableNotFoundException",
        "Table not found: no-such-table",
    )
    assert error(
        ddb.update_continuous_backups,
        TableName="no-such-table",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    ) == ("TableNotFoundException", "Table not found: no-such-table")


def test_the_setting_is_validated(ddb: Any, hash_table: str) -> None:
    client = _unvalidated(ddb)
    code, message = error(client.update_continuous_backups, TableName=hash_table)
    assert (code, message) == (
        "ValidationException",
        (
            "1 validation error detected: Value null at 'pointInTimeRecoverySpecification' failed to satisfy "
            "constraint: Member must not be null"
        ),
    )
    code, message = error(
        client.update_continuous_backups,
        TableName=hash_table,
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 36},
    )
    assert code == "ValidationException"
    assert "recoveryPeriodInDays" in message


def _unvalidated(ddb: Any) -> Any:
    """A client on ``ddb``'s endpoint that sends what botocore would refuse client-side."""
    return boto3.client(
        "dynamodb",
        endpoint_url=ddb.meta.endpoint_url,
        region_name=ddb.meta.region_name,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(parameter_validation=False),
    )
