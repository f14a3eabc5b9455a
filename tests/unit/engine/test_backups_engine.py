"""engine/backups.py without a server: ids, the restore's resumable steps, deletion while in use, cell moves."""

from __future__ import annotations

import functools
from typing import Any

import pytest

from cellstore.api import dispatch
from cellstore.engine import background, backups, catalog, items, keyspace, tenant_copy
from cellstore.engine.catalog import TableSpec
from cellstore.engine.database import Database
from cellstore.engine.indexes import IndexSpec
from cellstore.engine.tenants import Tenants
from cellstore.errors import (
    BackupInUseException,
    BackupNotFoundException,
    ResourceInUseException,
    ResourceNotFoundException,
    TableInUseException,
)
from cellstore.storage.sqlite import SqliteStore

BY_G = IndexSpec("by-g", ("g",), (), "KEYS_ONLY", ())


def _table(db: Database, name: str = "things", count: int = 0) -> None:
    catalog.create_table(db, TableSpec(
        name=name, attribute_definitions=(("pk", "S"), ("g", "S")), hash_key="pk", range_key=None,
        billing_mode=catalog.PAY_PER_REQUEST, global_indexes=(BY_G,),
    ))
    for n in range(count):
        items.put_item(db, name, {"pk": {"S": f"p{n:04d}"}, "g": {"S": f"G{n % 3}"}, "v": {"N": str(n)}})


def _rows(db: Database, start: bytes) -> list[tuple[bytes, bytes]]:
    with db.store.transaction(write=False) as txn:
        return list(txn.range(start, start + b"\xff"))


def test_backup_ids_keep_creation_order_within_one_millisecond(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _table(db)
    monkeypatch.setattr(backups.time, "time", lambda: 1_700_000_000.0)  # every backup in the same instant
    arns = [backups.create_backup(db, "things", f"b{n}")["BackupArn"] for n in range(3)]
    ids = [arn.rpartition("/")[2] for arn in arns]
    assert [backup_id[:13] for backup_id in ids] == ["1700000000000", "1700000000001", "1700000000002"]
    listed, last = backups.list_backups(db, backups.BackupFilter(table="things"), None, None)
    assert [summary["BackupArn"] for summary in listed] == arns and last is None


def test_an_arn_names_a_backup_only_with_its_own_table_and_account(db: Database) -> None:
    _table(db)
    arn = backups.create_backup(db, "things", "mine")["BackupArn"]
    elsewhere = arn.replace("table/things/", "table/other/")
    other_account = arn.replace(":000000000000:", ":111111111111:")
    for wrong in (elsewhere, other_account, arn + "0", "arn:aws:dynamodb:us-east-1:000000000000:table/things"):
        with pytest.raises(BackupNotFoundException):
            backups.describe_backup(db, wrong)
    assert backups.describe_backup(db, arn)["BackupDetails"]["BackupName"] == "mine"


def test_a_restore_runs_in_resumable_steps_and_each_step_may_run_twice(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _table(db, count=250)
    arn = backups.create_backup(db, "things", "steps")["BackupArn"]
    described = backups.restore_table(db, backups.RestoreRequest("copy", arn))
    assert described["TableStatus"] == "CREATING"
    assert catalog.describe_table(db, "copy")["TableStatus"] == "CREATING"
    with pytest.raises(TableInUseException):
        backups.create_backup(db, "copy", "too-soon")
    with pytest.raises(BackupInUseException):
        backups.delete_backup(db, arn)
    # One step of 100 by hand, then the same step again from the same saved state: nothing doubles.
    with db.store.transaction(write=True) as txn:
        table = catalog.find_table(txn, "copy")
        assert table is not None and backups.restore_step(txn, table, batch=100)
    with db.store.transaction(write=True) as txn:
        table = catalog.find_table(txn, "copy")
        assert table is not None
        cursor = table.state[catalog.RESTORING]["cursor"]
        again = table.copy()
        again.state[catalog.RESTORING].pop("cursor")  # as if the first step's save were lost
        backups.restore_step(txn, again, batch=100)
        assert again.state[catalog.RESTORING]["cursor"] == cursor
    monkeypatch.setattr(backups, "restore_step", functools.partial(backups.restore_step, batch=100))
    background.run_backfills(db)  # the unit finishes it and drops the marker
    described = catalog.describe_table(db, "copy")
    assert described["TableStatus"] == "ACTIVE" and described["ItemCount"] == 250
    assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == 250
    assert described["RestoreSummary"]["RestoreInProgress"] is False
    assert _rows(db, keyspace.BACKFILLS) == []
    assert backups.delete_backup(db, arn)["BackupDetails"]["BackupStatus"] == "DELETED"
    assert _rows(db, keyspace.BACKUP_ITEMS) == []  # the backup's items went with it


def test_a_table_being_restored_cannot_be_deleted_or_updated_until_it_is_active(db: Database) -> None:
    _table(db, count=3)
    arn = backups.create_backup(db, "things", "pinned")["BackupArn"]
    backups.restore_table(db, backups.RestoreRequest("copy", arn))
    in_use = "Attempt to change a resource which is still in use: Table is being created: copy"
    with pytest.raises(ResourceInUseException) as deleting:
        catalog.delete_table(db, "copy")
    with pytest.raises(ResourceInUseException) as updating:
        catalog.update_table(db, "copy", catalog.TableUpdate(deletion_protection=True))
    assert deleting.value.message == updating.value.message == in_use
    with pytest.raises(BackupInUseException):
        backups.delete_backup(db, arn)
    background.run_backfills(db)
    assert catalog.update_table(db, "copy", catalog.TableUpdate(table_class="STANDARD"))["TableStatus"] == "UPDATING"
    assert catalog.delete_table(db, "copy")["TableStatus"] == "DELETING"
    assert backups.delete_backup(db, arn)["BackupDetails"]["BackupStatus"] == "DELETED"


def _dispatch_table(db: Database, name: str) -> None:
    dispatch(db, "CreateTable", {
        "TableName": name, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })


def test_a_cell_move_carries_the_accounts_backups() -> None:
    """Backups are in the account's keyspace (``ACCOUNT_KINDS``): the copy a move makes holds them, restorable."""
    account = "222222222222"
    source = Tenants(SqliteStore(None), fenced=True, background=False)
    target = Tenants(SqliteStore(None), fenced=True, background=False)
    db = source.database(account)
    _dispatch_table(db, "moving")
    for n in range(40):
        dispatch(db, "PutItem", {"TableName": "moving", "Item": {"pk": {"S": f"k{n}"}}})
    arn: str = dispatch(db, "CreateBackup", {"TableName": "moving", "BackupName": "travels"})["BackupDetails"]["BackupArn"]
    tenant_copy.copy(source, target, account)
    moved = target.database(account)
    described: dict[str, Any] = dispatch(moved, "DescribeBackup", {"BackupArn": arn})["BackupDescription"]
    assert described["SourceTableDetails"]["ItemCount"] == 40
    dispatch(moved, "RestoreTableFromBackup", {"BackupArn": arn, "TargetTableName": "arrived"})
    background.run_backfills(moved)
    assert catalog.describe_table(moved, "arrived")["ItemCount"] == 40
    # The root keyspace (the default account) holds none of it.
    assert _rows(target.database("000000000000"), keyspace.BACKUPS) == []


def test_item_operations_on_a_table_being_restored_find_no_table_until_it_is_active(db: Database) -> None:
    _table(db, count=5)
    arn = backups.create_backup(db, "things", "early-writer")["BackupArn"]
    backups.restore_table(db, backups.RestoreRequest("copy", arn))
    key = {"pk": {"S": "p0000"}}
    for operation in (
        lambda: items.put_item(db, "copy", {"pk": {"S": "p0000"}, "g": {"S": "moved"}}),
        lambda: items.get_item(db, "copy", key),
        lambda: items.delete_item(db, "copy", key),
        lambda: dispatch(db, "Query", {"TableName": "copy", "KeyConditionExpression": "pk = :k",
                                       "ExpressionAttributeValues": {":k": {"S": "p0000"}}}),
        lambda: dispatch(db, "Scan", {"TableName": "copy"}),
    ):
        with pytest.raises(ResourceNotFoundException) as refused:
            operation()
        assert refused.value.message == "Requested resource not found"
    assert catalog.describe_table(db, "copy")["TableStatus"] == "CREATING"  # the table itself is there
    background.run_backfills(db)
    assert items.get_item(db, "copy", key)[1] == {"pk": {"S": "p0000"}, "g": {"S": "G0"}, "v": {"N": "0"}}
    described = catalog.describe_table(db, "copy")
    assert described["ItemCount"] == 5
    assert described["GlobalSecondaryIndexes"][0]["ItemCount"] == 5
