"""On-demand backups through boto3: CreateBackup, DescribeBackup, ListBackups, DeleteBackup, RestoreTableFromBackup.

Served, in-process and on PostgreSQL (the ``ddb`` fixture), plus one module
server with ``--workers 2`` on SQLite, where the three writing operations go
through the writer process.  docs/BACKUPS.md describes what is served.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from client_errors import error

BACKUP_ARN = re.compile(r"arn:aws:dynamodb:us-east-1:[0-9]{12}:table/(?P<table>[^/]+)/backup/[0-9]{13}-[0-9a-f]{8}")


def wait_active(ddb: Any, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """The table's description once it is ACTIVE (a restore fills it in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        table: dict[str, Any] = ddb.describe_table(TableName=name)["Table"]
        if table["TableStatus"] == "ACTIVE":
            return table
        assert time.monotonic() < deadline, f"{name} still {table['TableStatus']}"
        time.sleep(0.05)


def scan_all(ddb: Any, name: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = ddb.scan(TableName=name, ConsistentRead=True, **params)
        found += page["Items"]
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def by_key(items: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["pk"]["S"], item["sk"]["S"]): item for item in items}


@pytest.fixture
def indexed_table(ddb: Any, table_name: str) -> Iterator[str]:
    """pk/sk, a GSI on g (INCLUDE x), an LSI on l (KEYS_ONLY), a stream, TTL and a tag: all a backup records."""
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]},
        }],
        LocalSecondaryIndexes=[{
            "IndexName": "by-l",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        Tags=[{"Key": "team", "Value": "data"}],
    )
    ddb.update_time_to_live(TableName=table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    yield table_name
    if table_name in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName=table_name)


def put_rows(ddb: Any, name: str, start: int, stop: int) -> None:
    for n in range(start, stop):
        ddb.put_item(TableName=name, Item={
            "pk": {"S": f"p{n % 3}"}, "sk": {"S": f"s{n:03d}"}, "g": {"S": f"g{n % 2}"},
            "l": {"N": str(n)}, "x": {"S": "kept"}, "y": {"S": "not projected"},
        })


def restore(ddb: Any, arn: str, target: str, **overrides: Any) -> dict[str, Any]:
    answer: dict[str, Any] = ddb.restore_table_from_backup(TargetTableName=target, BackupArn=arn, **overrides)
    return answer["TableDescription"]


# ---- functionality ---------------------------------------------------------------------------


def test_a_restore_holds_exactly_the_items_at_backup_time_with_its_indexes(ddb: Any, indexed_table: str) -> None:
    put_rows(ddb, indexed_table, 0, 20)
    before = by_key(scan_all(ddb, indexed_table))
    details = ddb.create_backup(TableName=indexed_table, BackupName="nightly.1")["BackupDetails"]
    assert BACKUP_ARN.fullmatch(details["BackupArn"])["table"] == indexed_table  # type: ignore[index]
    assert (details["BackupName"], details["BackupStatus"], details["BackupType"]) == ("nightly.1", "AVAILABLE", "USER")
    assert details["BackupSizeBytes"] > 0
    put_rows(ddb, indexed_table, 20, 30)  # after the backup: not restored
    ddb.delete_item(TableName=indexed_table, Key={"pk": {"S": "p0"}, "sk": {"S": "s000"}})

    target = f"{indexed_table}-restored"
    created = restore(ddb, details["BackupArn"], target)
    try:
        assert created["TableStatus"] == "CREATING"
        assert created["RestoreSummary"]["SourceBackupArn"] == details["BackupArn"]
        assert created["RestoreSummary"]["RestoreInProgress"] is True
        table = wait_active(ddb, target)
        assert table["RestoreSummary"]["RestoreInProgress"] is False
        assert table["ItemCount"] == 20
        assert by_key(scan_all(ddb, target)) == before
        # The indexes were rebuilt from the items: the GSI projects x, not y; the LSI keys only.
        g0 = ddb.query(TableName=target, IndexName="by-g", KeyConditionExpression="g = :g",
                       ExpressionAttributeValues={":g": {"S": "g0"}})["Items"]
        assert len(g0) == 10 and all("x" in item and "y" not in item for item in g0)
        lsi = ddb.query(TableName=target, IndexName="by-l", KeyConditionExpression="pk = :p AND l > :n",
                        ExpressionAttributeValues={":p": {"S": "p0"}, ":n": {"N": "10"}})["Items"]
        assert sorted(int(item["l"]["N"]) for item in lsi) == [12, 15, 18]
        assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"by-g"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        # Not restored, as AWS documents: stream, TTL, tags.
        assert "StreamSpecification" not in table and "LatestStreamArn" not in table
        assert ddb.describe_time_to_live(TableName=target)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"
        assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == []
    finally:
        wait_active(ddb, target)
        ddb.delete_table(TableName=target)


def test_describe_backup_records_the_source_table(ddb: Any, indexed_table: str) -> None:
    put_rows(ddb, indexed_table, 0, 4)
    arn = ddb.create_backup(TableName=indexed_table, BackupName="described")["BackupDetails"]["BackupArn"]
    description = ddb.describe_backup(BackupArn=arn)["BackupDescription"]
    assert description["BackupDetails"]["BackupArn"] == arn
    source = description["SourceTableDetails"]
    table = ddb.describe_table(TableName=indexed_table)["Table"]
    assert (source["TableName"], source["TableId"], source["TableArn"]) == (
        indexed_table, table["TableId"], table["TableArn"])
    assert source["ItemCount"] == 4 and source["BillingMode"] == "PAY_PER_REQUEST"
    assert source["KeySchema"] == table["KeySchema"]
    features = description["SourceTableFeatureDetails"]
    assert [index["IndexName"] for index in features["GlobalSecondaryIndexes"]] == ["by-g"]
    assert features["LocalSecondaryIndexes"][0]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert features["StreamDescription"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert features["TimeToLiveDescription"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}


def test_list_backups_filters_and_pages(ddb: Any, table_name: str) -> None:
    first, second = f"{table_name}-a", f"{table_name}-b"
    for name in (first, second):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST")
    try:
        arns = [ddb.create_backup(TableName=first, BackupName=f"bak{n}")["BackupDetails"]["BackupArn"] for n in range(3)]
        middle = ddb.describe_backup(BackupArn=arns[1])["BackupDescription"]["BackupDetails"]["BackupCreationDateTime"]
        other = ddb.create_backup(TableName=second, BackupName="other")["BackupDetails"]["BackupArn"]

        listed = ddb.list_backups(TableName=first)["BackupSummaries"]
        assert [summary["BackupArn"] for summary in listed] == arns
        assert listed[0]["TableName"] == first and listed[0]["BackupStatus"] == "AVAILABLE"
        assert [s["BackupArn"] for s in ddb.list_backups(TableName=second)["BackupSummaries"]] == [other]
        everything = [s["BackupArn"] for s in ddb.list_backups(BackupType="ALL")["BackupSummaries"]]
        assert set(arns + [other]) <= set(everything)
        assert ddb.list_backups(TableName=first, BackupType="SYSTEM")["BackupSummaries"] == []
        # TimeRangeLowerBound is inclusive, TimeRangeUpperBound exclusive.
        from_middle = ddb.list_backups(TableName=first, TimeRangeLowerBound=middle)["BackupSummaries"]
        assert [s["BackupArn"] for s in from_middle] == arns[1:]
        before_middle = ddb.list_backups(TableName=first, TimeRangeUpperBound=middle)["BackupSummaries"]
        assert [s["BackupArn"] for s in before_middle] == arns[:1]

        paged: list[str] = []
        params: dict[str, Any] = {"TableName": first, "Limit": 2}
        while True:
            page = ddb.list_backups(**params)
            assert len(page["BackupSummaries"]) <= 2
            paged += [s["BackupArn"] for s in page["BackupSummaries"]]
            if "LastEvaluatedBackupArn" not in page:
                break
            params["ExclusiveStartBackupArn"] = page["LastEvaluatedBackupArn"]
        assert paged == arns
        # A table's ARN names the table, as everywhere a TableName goes.
        table_arn = ddb.describe_table(TableName=first)["Table"]["TableArn"]
        assert [s["BackupArn"] for s in ddb.list_backups(TableName=table_arn)["BackupSummaries"]] == arns
    finally:
        for name in (first, second):
            ddb.delete_table(TableName=name)


def test_delete_backup(ddb: Any, hash_table: str) -> None:
    ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}})
    arn = ddb.create_backup(TableName=hash_table, BackupName="doomed")["BackupDetails"]["BackupArn"]
    deleted = ddb.delete_backup(BackupArn=arn)["BackupDescription"]
    assert deleted["BackupDetails"]["BackupStatus"] == "DELETED"
    assert deleted["SourceTableDetails"]["ItemCount"] == 1
    missing = ("BackupNotFoundException", f"Backup not found for the given BackupARN: {arn}")
    assert error(ddb.describe_backup, BackupArn=arn) == missing
    assert error(ddb.delete_backup, BackupArn=arn) == missing
    assert error(ddb.restore_table_from_backup, BackupArn=arn, TargetTableName=f"{hash_table}-r") == missing
    assert arn not in [s["BackupArn"] for s in ddb.list_backups(TableName=hash_table)["BackupSummaries"]]


def test_a_backup_survives_delete_table_and_restores_under_the_same_name(ddb: Any, table_name: str) -> None:
    ddb.create_table(TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "N"}],
                     ProvisionedThroughput={"ReadCapacityUnits": 3, "WriteCapacityUnits": 4})
    for n in range(5):
        ddb.put_item(TableName=table_name, Item={"pk": {"N": str(n)}, "v": {"B": bytes([n])}})
    arn = ddb.create_backup(TableName=table_name, BackupName="keep")["BackupDetails"]["BackupArn"]
    ddb.delete_table(TableName=table_name)
    assert ddb.describe_backup(BackupArn=arn)["BackupDescription"]["SourceTableDetails"]["TableName"] == table_name
    assert error(ddb.create_backup, TableName=table_name, BackupName="again") == (
        "TableNotFoundException", f"Table not found: {table_name}")
    restore(ddb, arn, table_name)
    try:
        table = wait_active(ddb, table_name)
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 3
        assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 4
        items = sorted(scan_all(ddb, table_name), key=lambda item: int(item["pk"]["N"]))
        assert [(item["pk"]["N"], item["v"]["B"]) for item in items] == [(str(n), bytes([n])) for n in range(5)]
    finally:
        ddb.delete_table(TableName=table_name)
        ddb.delete_backup(BackupArn=arn)


def test_overrides_choose_billing_and_indexes(ddb: Any, indexed_table: str) -> None:
    put_rows(ddb, indexed_table, 0, 6)
    arn = ddb.create_backup(TableName=indexed_table, BackupName="override")["BackupDetails"]["BackupArn"]
    target = f"{indexed_table}-o"
    restore(ddb, arn, target, BillingModeOverride="PROVISIONED",
            ProvisionedThroughputOverride={"ReadCapacityUnits": 5, "WriteCapacityUnits": 6},
            GlobalSecondaryIndexOverride=[], LocalSecondaryIndexOverride=[],
            SSESpecificationOverride={"Enabled": False})
    try:
        table = wait_active(ddb, target)
        assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        assert table["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
        assert "GlobalSecondaryIndexes" not in table and "LocalSecondaryIndexes" not in table
        assert {d["AttributeName"] for d in table["AttributeDefinitions"]} == {"pk", "sk"}
        assert len(scan_all(ddb, target)) == 6
    finally:
        ddb.delete_table(TableName=target)


# ---- errors ------------------------------------------------------------------------------------


def test_errors(ddb: Any, raw: Any, hash_table: str) -> None:
    assert error(ddb.create_backup, TableName="no-such-table", BackupName="b12") == (
        "TableNotFoundException", "Table not found: no-such-table")
    code, message = error(raw.create_backup, TableName=hash_table, BackupName="a b")
    assert code == "ValidationException"
    assert message == (
        "1 validation error detected: Value 'a b' at 'backupName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
    )
    assert error(raw.create_backup, TableName=hash_table)[0] == "ValidationException"
    arn = ddb.create_backup(TableName=hash_table, BackupName="b12")["BackupDetails"]["BackupArn"]
    assert error(ddb.restore_table_from_backup, BackupArn=arn, TargetTableName=hash_table) == (
        "TableAlreadyExistsException", f"Table already exists: {hash_table}")
    unknown = arn[:-8] + "00000000"
    assert error(ddb.describe_backup, BackupArn=unknown) == (
        "BackupNotFoundException", f"Backup not found for the given BackupARN: {unknown}")
    code, _ = error(raw.list_backups, BackupType="MINE")
    assert code == "ValidationException"
    code, _ = error(raw.list_backups, Limit=0)
    assert code == "ValidationException"
    # An index override must use attributes the backup's table defined.
    code, message = error(
        ddb.restore_table_from_backup, BackupArn=arn, TargetTableName=f"{hash_table}-x",
        GlobalSecondaryIndexOverride=[{"IndexName": "nope", "KeySchema": [{"AttributeName": "z", "KeyType": "HASH"}],
                                       "Projection": {"ProjectionType": "ALL"}}],
    )
    assert code == "ValidationException" and "Some index key attributes are not defined" in message
    # Billing overrides are checked as CreateTable checks BillingMode against ProvisionedThroughput.
    assert error(ddb.restore_table_from_backup, BackupArn=arn, TargetTableName=f"{hash_table}-x",
                 BillingModeOverride="PROVISIONED") == (
        "ValidationException", ("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
                                "must both be specified when BillingMode is PROVISIONED"))
    assert error(ddb.restore_table_from_backup, BackupArn=arn, TargetTableName=f"{hash_table}-x",
                 ProvisionedThroughputOverride={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}) == (
        "ValidationException", ("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"))
    assert f"{hash_table}-x" not in ddb.list_tables()["TableNames"]


def test_a_backup_in_use_by_a_restore_cannot_be_deleted(ddb: Any, hash_table: str) -> None:
    """While the target is CREATING the backup is in use; once ACTIVE it may go.

    The restore may finish between any two calls (a race the engine's unit
    test, tests/unit/engine/test_backups_engine.py, closes by stepping it by
    hand): a DeleteBackup that succeeds must come after the table is ACTIVE.
    """
    for n in range(600):  # more than one restore step
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{n}"}})
    arn = ddb.create_backup(TableName=hash_table, BackupName="busy")["BackupDetails"]["BackupArn"]
    target = f"{hash_table}-busy"
    restore(ddb, arn, target)
    try:
        try:
            deleted = ddb.delete_backup(BackupArn=arn)
        except ClientError as refused:
            assert refused.response["Error"]["Code"] == "BackupInUseException"
            wait_active(ddb, target)
            deleted = ddb.delete_backup(BackupArn=arn)
        else:
            assert ddb.describe_table(TableName=target)["Table"]["TableStatus"] == "ACTIVE"
        assert deleted["BackupDescription"]["BackupDetails"]["BackupStatus"] == "DELETED"
        assert len(scan_all(ddb, target)) == 600
    finally:
        wait_active(ddb, target)
        ddb.delete_table(TableName=target)


class _Held(Exception):
    """A restore step refused while a test holds restores (the backfill unit retries it next round)."""


@pytest.fixture
def held_restores(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Restores make no progress until the event is set, so a target stays CREATING for as long as a test needs.

    Every ``ddb`` (served, in-process, PostgreSQL) runs its background units in this process.
    """
    from cellstore.engine import backups

    release = threading.Event()
    step = backups.restore_step

    def held(txn: Any, table: Any, batch: int = backups.BATCH) -> bool:
        if not release.is_set():
            raise _Held("held by the test")  # the step's transaction rolls back: nothing copied
        return step(txn, table, batch)

    monkeypatch.setattr(backups, "restore_step", held)
    yield release
    release.set()


def test_a_table_being_restored_refuses_item_operations_update_table_and_delete_table(
    ddb: Any, hash_table: str, held_restores: threading.Event
) -> None:
    """As AWS: items of a table that is not ACTIVE are not found; changing or deleting it is ResourceInUse."""
    for n in range(3):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": f"k{n}"}})
    arn = ddb.create_backup(TableName=hash_table, BackupName="held")["BackupDetails"]["BackupArn"]
    target = f"{hash_table}-held"
    assert restore(ddb, arn, target)["TableStatus"] == "CREATING"
    key = {"pk": {"S": "k0"}}
    not_found = ("ResourceNotFoundException", "Requested resource not found")
    try:
        assert error(ddb.put_item, TableName=target, Item={"pk": {"S": "new"}}) == not_found
        assert error(ddb.update_item, TableName=target, Key=key, UpdateExpression="SET v = :v",
                     ExpressionAttributeValues={":v": {"S": "x"}}) == not_found
        assert error(ddb.delete_item, TableName=target, Key=key) == not_found
        assert error(ddb.batch_write_item, RequestItems={target: [{"PutRequest": {"Item": key}}]}) == not_found
        assert error(ddb.transact_write_items, TransactItems=[{"Put": {"TableName": target, "Item": key}}]) == not_found
        assert error(ddb.execute_statement, Statement=f"INSERT INTO \"{target}\" VALUE {{'pk': 'p'}}") == not_found
        assert error(ddb.get_item, TableName=target, Key=key) == not_found
        assert error(ddb.query, TableName=target, KeyConditionExpression="pk = :k",
                     ExpressionAttributeValues={":k": {"S": "k0"}}) == not_found
        assert error(ddb.scan, TableName=target) == not_found
        assert error(ddb.batch_get_item, RequestItems={target: {"Keys": [key]}}) == not_found
        assert error(ddb.transact_get_items, TransactItems=[{"Get": {"TableName": target, "Key": key}}]) == not_found
        in_use = ("ResourceInUseException",
                  f"Attempt to change a resource which is still in use: Table is being created: {target}")
        assert error(ddb.delete_table, TableName=target) == in_use
        assert error(ddb.update_table, TableName=target, DeletionProtectionEnabled=True) == in_use
        assert error(ddb.update_table, TableName=target, BillingMode="PROVISIONED",
                     ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}) == in_use
        assert ddb.describe_table(TableName=target)["Table"]["TableStatus"] == "CREATING"  # still there, untouched
    finally:
        held_restores.set()
    wait_active(ddb, target)
    assert ddb.get_item(TableName=target, Key=key, ConsistentRead=True)["Item"] == key
    ddb.put_item(TableName=target, Item={"pk": {"S": "new"}})
    assert len(scan_all(ddb, target)) == 4
    ddb.update_table(TableName=target, DeletionProtectionEnabled=False)
    ddb.delete_table(TableName=target)


# ---- a consistent snapshot under concurrent writers ------------------------------------------


def test_a_backup_under_concurrent_transactions_is_one_snapshot(ddb: Any, hash_table: str) -> None:
    """A writer adds pairs (a_n, b_n) and sets counter = n in one transaction; every backup holds whole pairs only."""
    stop = threading.Event()
    failures: list[ClientError] = []

    def write() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                ddb.transact_write_items(TransactItems=[
                    {"Put": {"TableName": hash_table, "Item": {"pk": {"S": f"a{n}"}}}},
                    {"Put": {"TableName": hash_table, "Item": {"pk": {"S": f"b{n}"}}}},
                    {"Put": {"TableName": hash_table, "Item": {"pk": {"S": "counter"}, "n": {"N": str(n)}}}},
                ])
        except ClientError as exc:  # reported by the test thread
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    arns = []
    try:
        for _ in range(3):
            time.sleep(0.1)
            arns.append(ddb.create_backup(TableName=hash_table, BackupName="racing")["BackupDetails"]["BackupArn"])
    finally:
        stop.set()
        writer.join()
    assert not failures
    for position, arn in enumerate(arns):
        target = f"{hash_table}-snap{position}"
        restore(ddb, arn, target)
        try:
            wait_active(ddb, target)
            keys = {item["pk"]["S"]: item for item in scan_all(ddb, target)}
            counter = int(keys.pop("counter")["n"]["N"]) if "counter" in keys else 0
            assert set(keys) == {f"{side}{n}" for n in range(1, counter + 1) for side in "ab"}
            assert ddb.describe_backup(BackupArn=arn)["BackupDescription"]["SourceTableDetails"]["ItemCount"] == (
                2 * counter + (1 if counter else 0))
        finally:
            ddb.delete_table(TableName=target)


# ---- through the writer process ----------------------------------------------------------------


@pytest.fixture(scope="module")
def writer_server(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    process = module_server_process("--workers", "2", "--data-dir", str(tmp_path_factory.mktemp("backups")))
    yield process
    assert process.terminate() == 0


@pytest.mark.slow
@pytest.mark.server
def test_backup_and_restore_through_the_writer_process(writer_server: Any) -> None:
    ddb = boto3.client(
        "dynamodb", endpoint_url=writer_server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}),
    )
    ddb.create_table(TableName="source", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    for n in range(300):
        ddb.put_item(TableName="source", Item={"pk": {"S": f"k{n}"}})
    arn = ddb.create_backup(TableName="source", BackupName="via-writer")["BackupDetails"]["BackupArn"]
    ddb.put_item(TableName="source", Item={"pk": {"S": "late"}})
    # Fresh clients are fresh connections, spread over both workers: each sees the backup.
    for _ in range(4):
        other = boto3.client("dynamodb", endpoint_url=writer_server.endpoint_url, region_name="us-east-1",
                             aws_access_key_id="test", aws_secret_access_key="test")
        assert other.describe_backup(BackupArn=arn)["BackupDescription"]["SourceTableDetails"]["ItemCount"] == 300
    restore(ddb, arn, "copy")
    wait_active(ddb, "copy")
    assert len(scan_all(ddb, "copy")) == 300
    assert error(ddb.restore_table_from_backup, BackupArn=arn, TargetTableName="copy")[0] == "TableAlreadyExistsException"
    assert ddb.delete_backup(BackupArn=arn)["BackupDescription"]["BackupDetails"]["BackupStatus"] == "DELETED"
