"""``api/resources.py`` for the backup operations: what ``--auth sigv4`` is told each one touches."""

from __future__ import annotations

from cellstore.api import resources
from cellstore.api.resources import Access
from cellstore.engine.database import Database

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/"
BACKUP = ARN + "music/backup/1700000000000-0123abcd"


def test_create_backup_is_authorized_on_its_table(db: Database) -> None:
    payload = {"TableName": "music", "BackupName": "nightly"}
    assert resources.dynamodb(db, "CreateBackup", payload) == [Access("dynamodb:CreateBackup", ARN + "music")]


def test_describe_and_delete_are_authorized_on_the_backup(db: Database) -> None:
    for operation in ("DescribeBackup", "DeleteBackup"):
        assert resources.dynamodb(db, operation, {"BackupArn": BACKUP}) == [Access(f"dynamodb:{operation}", BACKUP)]
        assert resources.dynamodb(db, operation, {"BackupArn": 7}) == [Access(f"dynamodb:{operation}", "*")]


def test_list_backups_has_no_resource_but_star(db: Database) -> None:
    assert resources.dynamodb(db, "ListBackups", {"TableName": "music"}) == [Access("dynamodb:ListBackups", "*")]


def test_a_restore_needs_the_backup_and_read_and_write_on_its_target(db: Database) -> None:
    got = resources.dynamodb(db, "RestoreTableFromBackup", {"BackupArn": BACKUP, "TargetTableName": "copy"})
    assert got[0] == Access("dynamodb:RestoreTableFromBackup", BACKUP)
    assert {access.action for access in got[1:]} == {
        "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
        "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchWriteItem",
    }
    assert {access.resource for access in got[1:]} == {ARN + "copy"}
    unreadable = resources.dynamodb(db, "RestoreTableFromBackup", {"TargetTableName": ["x"]})
    assert {access.resource for access in unreadable} == {"*"}
