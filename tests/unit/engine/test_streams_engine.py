"""engine.streams against an in-memory store: records, iterators, identities."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from cellstore.engine import catalog, items, keyspace, migrations, streams
from cellstore.engine.catalog import StreamSpec, TableSpec, TableUpdate
from cellstore.engine.database import Database
from cellstore.engine.tables import find_table, load_table, save_table
from cellstore.engine.wiring import open_database
from cellstore.errors import ExpiredIteratorException, ValidationException
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None), region="eu-west-1", account="123456789012")
    yield database
    database.close()


def make_table(db: Database, view: str = "NEW_AND_OLD_IMAGES") -> str:
    description = catalog.create_table(
        db,
        TableSpec(
            name="things",
            attribute_definitions=(("pk", "S"),),
            hash_key="pk",
            range_key=None,
            billing_mode=catalog.PAY_PER_REQUEST,
            stream=StreamSpec(True, view),
        ),
    )
    return str(description["LatestStreamArn"])


def records(db: Database, arn: str) -> list[dict]:
    (shard,) = streams.describe_stream(db, arn, 100, None).shards
    iterator = streams.get_shard_iterator(db, arn, shard.id, "TRIM_HORIZON", None)
    return streams.get_records(db, iterator, 1000).records


def test_stream_identity_follows_aws_shapes(db: Database) -> None:
    arn = make_table(db)
    match = re.fullmatch(
        r"arn:aws:dynamodb:eu-west-1:123456789012:table/things/stream/(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})", arn
    )
    assert match
    assert streams.parse_arn(db, arn) == ("things", match.group(1))
    assert streams.parse_arn(db, "arn:aws:dynamodb:us-east-1:123456789012:table/things/stream/x") is None
    assert streams.parse_arn(db, db.table_arn("things")) is None
    assert streams.sequence_text(42) == "000000000000000000042"


def test_reenabling_in_the_same_millisecond_gets_a_new_label(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams.SETTINGS, "clock", lambda: 1_700_000_000.0)
    first = make_table(db)
    catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(False)))
    second = catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(True, "KEYS_ONLY")))["LatestStreamArn"]
    assert first != second and second > first


def test_ttl_deletions_carry_the_service_identity(db: Database) -> None:
    arn = make_table(db)
    items.put_item(db, "things", {"pk": {"S": "a"}})
    with db.store.transaction(write=True) as txn:
        table = load_table(txn, "things")
        key = table.item_key({"pk": {"S": "a"}})
        items.apply(txn, items.WriteResult(table, key, items.read(txn, key), None, origin="ttl"), db.hooks)
    insert, remove = records(db, arn)
    assert "userIdentity" not in insert
    assert remove["eventName"] == "REMOVE"
    assert remove["userIdentity"] == {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def test_a_failed_write_leaves_no_record(db: Database) -> None:
    arn = make_table(db)
    with pytest.raises(RuntimeError), db.store.transaction(write=True) as txn:
        items.put_in(txn, db.hooks, "things", {"pk": {"S": "a"}}, None, False)
        raise RuntimeError("rolled back")
    assert records(db, arn) == []
    items.put_item(db, "things", {"pk": {"S": "b"}})
    (record,) = records(db, arn)
    assert record["dynamodb"]["SequenceNumber"] == "000000000000000000001"  # the counter rolled back too


def test_iterators_round_trip_and_refuse_tampering() -> None:
    position = streams.Position("arn:aws:dynamodb:r:1:table/t/stream/l", 3, 17, 1_700_000_000.5)
    token = streams.encode_iterator(position)
    assert token.startswith(position.arn + "|1|")
    assert streams.decode_iterator(token) == position
    forged = streams.encode_iterator(streams.Position(position.arn, 3, 1, position.issued)).rsplit("|", 1)[1]
    with pytest.raises(ValidationException):
        streams.decode_iterator(position.arn.replace("/t/", "/u/") + "|1|" + forged)
    for garbage in ("", "nothing", "a|1|!!!", "a|2|" + forged):
        with pytest.raises(ValidationException):
            streams.decode_iterator(garbage)


def test_expiry_uses_the_settings_clock(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_700_000_000.0]
    monkeypatch.setattr(streams.SETTINGS, "clock", lambda: now[0])
    monkeypatch.setattr(streams.SETTINGS, "iterator_ttl_seconds", 5)
    arn = make_table(db)
    (shard,) = streams.describe_stream(db, arn, 100, None).shards
    iterator = streams.get_shard_iterator(db, arn, shard.id, "LATEST", None)
    now[0] += 5
    with pytest.raises(ExpiredIteratorException) as caught:
        streams.get_records(db, iterator, 10)
    assert "tolerated delay of 5000 milliseconds" in caught.value.message


def as_before_streams(db: Database) -> None:
    """Make "things" look as a cellstore from before streams stored it: enabled, but no stream."""
    with db.store.transaction(write=True) as txn:
        table = find_table(txn, "things")
        assert table is not None
        del table.description["LatestStreamArn"], table.description["LatestStreamLabel"]
        save_table(txn, table)
        txn.delete(keyspace.DATA_FORMAT)


def test_data_migration_gives_a_table_streamed_before_streams_existed_its_stream(db: Database) -> None:
    make_table(db)
    as_before_streams(db)
    assert migrations.migrate(db.store) == 0
    assert migrations.migrate(db.store) == migrations.LATEST  # done once, then a no-op
    items.put_item(db, "things", {"pk": {"S": "a"}})
    arn = catalog.describe_table(db, "things")["LatestStreamArn"]
    (record,) = records(db, arn)
    assert record["eventName"] == "INSERT"
