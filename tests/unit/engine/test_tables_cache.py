"""engine.tables' parsed-record cache: shared Table objects are never changed.

``load_table`` hands out one parsed ``Table`` per distinct stored record
(keyed by the record's bytes, read in the caller's transaction), shared by
every request.  Every code path that changes a table must therefore work on
its own copy; these tests drive each of them and check that no cached object
drifted from the bytes it was parsed from.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from cellstore.api import dispatch
from cellstore.engine import background, items, keyspace, migrations, tables, transactions, ttl
from cellstore.engine import streams as engine_streams
from cellstore.engine.database import Database
from cellstore.engine.tables import Table, find_table, load_table, save_table


def create(db: Database, name: str = "things", **extra: Any) -> None:
    dispatch(
        db,
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            **extra,
        },
    )


def loaded(db: Database, name: str = "things") -> Table:
    with db.store.transaction(write=False) as txn:
        return load_table(txn, name)


def assert_cache_intact() -> None:
    for raw, table in list(tables._PARSED.items()):
        assert table == Table.from_record(orjson.loads(raw)), f"cached table {table.name} was changed in place"


def test_a_record_is_parsed_once_and_a_changed_record_is_parsed_again(db: Database) -> None:
    create(db)
    first = loaded(db)
    assert loaded(db) is first
    arn = first.description["TableArn"]
    dispatch(db, "TagResource", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})
    second = loaded(db)
    assert second is not first
    assert second.tags == [{"Key": "k", "Value": "v"}] and first.tags == []


def test_find_table_and_copy_give_private_objects(db: Database) -> None:
    create(db)
    shared = loaded(db)
    snapshot = copy.deepcopy(shared)
    with db.store.transaction(write=False) as txn:
        fresh = find_table(txn, "things")
    assert fresh is not None and fresh == shared and fresh is not shared
    fresh.description["Changed"] = True
    fresh.state["changed"] = True
    fresh.tags.append({"Key": "a", "Value": "b"})
    private = shared.copy()
    private.description["KeySchema"].append({"AttributeName": "x", "KeyType": "RANGE"})
    private.state.setdefault("indexes", {})["x"] = {}
    assert shared == snapshot
    assert_cache_intact()


def test_changing_a_loaded_table_and_saving_it_does_not_leak_into_the_cache(db: Database) -> None:
    create(db)
    shared = loaded(db)
    snapshot = copy.deepcopy(shared)
    with db.store.transaction(write=True) as txn:
        table = load_table(txn, "things").copy()
        table.description["DeletionProtectionEnabled"] = True
        save_table(txn, table)
    assert shared == snapshot
    assert loaded(db).description["DeletionProtectionEnabled"] is True
    assert_cache_intact()


def test_every_table_changing_operation_leaves_cached_tables_untouched(db: Database) -> None:
    create(db, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    for n in range(5):
        dispatch(db, "PutItem", {"TableName": "things", "Item": {"pk": {"S": f"p{n}"}, "g": {"S": "x"}}})
    before = loaded(db)
    snapshot = copy.deepcopy(before)
    arn = before.description["TableArn"]

    dispatch(db, "TagResource", {"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]})
    loaded(db)
    dispatch(db, "UntagResource", {"ResourceArn": arn, "TagKeys": ["k"]})
    loaded(db)
    dispatch(db, "UpdateTimeToLive", {"TableName": "things",
                                      "TimeToLiveSpecification": {"Enabled": True, "AttributeName": "exp"}})
    loaded(db)
    ttl.sweep(db, now=0.0)  # runs the TTL backfill and saves the table
    loaded(db)
    dispatch(db, "UpdateTable", {
        "TableName": "things",
        "AttributeDefinitions": [{"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexUpdates": [{"Create": {
            "IndexName": "by-g",
            "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }}],
    })
    loaded(db)
    background.run_backfills(db)
    loaded(db)
    dispatch(db, "PutItem", {"TableName": "things", "Item": {"pk": {"S": "after"}, "g": {"S": "y"}}})
    dispatch(db, "UpdateTable", {"TableName": "things", "DeletionProtectionEnabled": True})

    assert before == snapshot
    after = loaded(db)
    assert after.state.get("ttl") and "GlobalSecondaryIndexes" in after.description
    assert "GlobalSecondaryIndexes" not in before.description and "ttl" not in before.state
    assert_cache_intact()


def test_a_pre_streams_table_migrated_gets_one_stream_even_from_a_transaction_of_several_writes(
    db: Database,
) -> None:
    create(db, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    with db.store.transaction(write=True) as txn:  # as an older cellstore stored it: no stream identity
        table = find_table(txn, "things")
        assert table is not None
        del table.description["LatestStreamArn"], table.description["LatestStreamLabel"]
        save_table(txn, table)
        txn.delete(keyspace.DATA_FORMAT)
    legacy = loaded(db)
    snapshot = copy.deepcopy(legacy)
    migrations.migrate(db.store)  # what opening the database does
    transactions.transact_write(db, [
        transactions.WriteAction("Put", "things", {"pk": {"S": "a"}}),
        transactions.WriteAction("Put", "things", {"pk": {"S": "b"}}),
    ])
    items.put_item(db, "things", {"pk": {"S": "c"}})
    assert legacy == snapshot and "LatestStreamLabel" not in legacy.description
    stream_arn = loaded(db).description["LatestStreamArn"]
    described = engine_streams.describe_stream(db, stream_arn, 100, None)
    (shard,) = described.shards
    iterator = engine_streams.get_shard_iterator(db, stream_arn, shard.id, "TRIM_HORIZON", None)
    records = engine_streams.get_records(db, iterator, 100).records
    assert [r["dynamodb"]["Keys"]["pk"]["S"] for r in records] == ["a", "b", "c"]
    assert_cache_intact()
