"""engine.catalog against an in-memory SQLite store: the catalog rules that need stored state."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from cellstore.engine import catalog, keycodec
from cellstore.engine.catalog import StreamSpec, TableSpec, TableUpdate, Throughput
from cellstore.engine.database import Database
from cellstore.engine.tables import load_table
from cellstore.engine.wiring import open_database
from cellstore.errors import ResourceInUseException, ResourceNotFoundException, ValidationException
from cellstore.storage.sqlite import SqliteStore


@pytest.fixture
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None), region="eu-west-1", account="123456789012")
    yield database
    database.close()


def spec(name: str = "things", **fields: object) -> TableSpec:
    base: dict[str, object] = {
        "name": name,
        "attribute_definitions": (("pk", "S"),),
        "hash_key": "pk",
        "range_key": None,
        "throughput": Throughput(5, 5),
    }
    base.update(fields)
    return TableSpec(**base)  # type: ignore[arg-type]


def put_raw_item(db: Database, name: str, pk: str, body: bytes = b"{}") -> None:
    with db.store.transaction(write=True) as txn:
        table = load_table(txn, name)
        txn.put(keycodec.item_key(table.id, {"S": pk}, None), body)


class TestCreate:
    def test_description_shape(self, db: Database) -> None:
        description = catalog.create_table(db, spec())
        assert description["TableStatus"] == "CREATING"
        assert description["TableArn"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/things"
        assert description["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
        assert description["ProvisionedThroughput"] == {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 5,
        }
        assert description["ItemCount"] == 0 and description["TableSizeBytes"] == 0
        assert description["BillingModeSummary"] == {"BillingMode": "PROVISIONED"}
        assert description["DeletionProtectionEnabled"] is False
        assert "StreamSpecification" not in description
        assert "TableClassSummary" not in description
        assert len(description["TableId"]) == 36

    def test_pay_per_request_reports_zero_throughput(self, db: Database) -> None:
        description = catalog.create_table(db, spec(billing_mode="PAY_PER_REQUEST", throughput=None))
        assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
        summary = description["BillingModeSummary"]
        assert summary["BillingMode"] == "PAY_PER_REQUEST"
        assert summary["LastUpdateToPayPerRequestDateTime"] == description["CreationDateTime"]

    def test_stream_and_class_are_stored(self, db: Database) -> None:
        catalog.create_table(
            db, spec(stream=StreamSpec(True, "KEYS_ONLY"), table_class="STANDARD_INFREQUENT_ACCESS")
        )
        description = catalog.describe_table(db, "things")
        assert description["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        assert description["LatestStreamArn"] == f"{description['TableArn']}/stream/{description['LatestStreamLabel']}"
        assert description["TableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}

    def test_existing_name_is_in_use(self, db: Database) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ResourceInUseException, match=r"^Table already exists: things$"):
            catalog.create_table(db, spec())

    def test_tags_are_checked_before_anything_is_stored(self, db: Database) -> None:
        with pytest.raises(ValidationException):
            catalog.create_table(db, spec(tags=(("aws:x", "y"),)))
        assert catalog.list_table_names(db, None, 100) == ([], False)


class TestDescribe:
    def test_counts_items_live(self, db: Database) -> None:
        catalog.create_table(db, spec())
        put_raw_item(db, "things", "a", b"12345")
        put_raw_item(db, "things", "b", b"123")
        description = catalog.describe_table(db, "things")
        assert description["TableStatus"] == "ACTIVE"
        assert (description["ItemCount"], description["TableSizeBytes"]) == (2, 8)

    def test_counts_only_its_own_items(self, db: Database) -> None:
        catalog.create_table(db, spec("one"))
        catalog.create_table(db, spec("two"))
        put_raw_item(db, "two", "a")
        assert catalog.describe_table(db, "one")["ItemCount"] == 0

    def test_unknown_table(self, db: Database) -> None:
        with pytest.raises(ResourceNotFoundException, match=r"^Requested resource not found: Table: nope not found$"):
            catalog.describe_table(db, "nope")


class TestList:
    def test_pages_in_name_order(self, db: Database) -> None:
        for name in ("ccc", "aaa", "bbb", "a.b"):
            catalog.create_table(db, spec(name))
        assert catalog.list_table_names(db, None, 2) == (["a.b", "aaa"], True)
        assert catalog.list_table_names(db, "aaa", 2) == (["bbb", "ccc"], False)
        assert catalog.list_table_names(db, "ccc", 2) == ([], False)

    def test_start_after_a_name_that_does_not_exist(self, db: Database) -> None:
        for name in ("aaa", "ccc"):
            catalog.create_table(db, spec(name))
        assert catalog.list_table_names(db, "bbb", 10) == (["ccc"], False)


class TestDelete:
    def test_removes_table_and_items(self, db: Database) -> None:
        catalog.create_table(db, spec())
        put_raw_item(db, "things", "a")
        description = catalog.delete_table(db, "things")
        assert description["TableStatus"] == "DELETING"
        assert description["ItemCount"] == 1
        with db.store.transaction(write=False) as txn:
            assert list(txn.range(keycodec.ITEMS, b"\x03")) == []
        with pytest.raises(ResourceNotFoundException):
            catalog.describe_table(db, "things")

    def test_recreated_table_starts_empty(self, db: Database) -> None:
        catalog.create_table(db, spec())
        put_raw_item(db, "things", "a")
        catalog.delete_table(db, "things")
        catalog.create_table(db, spec())
        assert catalog.describe_table(db, "things")["ItemCount"] == 0

    def test_deletion_protection(self, db: Database) -> None:
        catalog.create_table(db, spec(deletion_protection=True))
        with pytest.raises(ValidationException, match=r"^Resource cannot be deleted as it is currently protected"):
            catalog.delete_table(db, "things")
        catalog.update_table(db, "things", TableUpdate(deletion_protection=False))
        catalog.delete_table(db, "things")

    def test_unknown_table(self, db: Database) -> None:
        with pytest.raises(ResourceNotFoundException, match="Table: nope not found"):
            catalog.delete_table(db, "nope")


class TestUpdate:
    def test_throughput_increase_and_decrease(self, db: Database) -> None:
        catalog.create_table(db, spec())
        description = catalog.update_table(db, "things", TableUpdate(throughput=Throughput(10, 10)))
        assert description["TableStatus"] == "UPDATING"
        throughput = description["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (10, 10)
        assert "LastIncreaseDateTime" in throughput
        throughput = catalog.update_table(db, "things", TableUpdate(throughput=Throughput(1, 10)))[
            "ProvisionedThroughput"
        ]
        assert throughput["NumberOfDecreasesToday"] == 1
        assert "LastDecreaseDateTime" in throughput
        assert catalog.describe_table(db, "things")["TableStatus"] == "ACTIVE"

    def test_same_throughput_is_refused(self, db: Database) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ValidationException, match=r"^The provisioned throughput for the table will not change\."):
            catalog.update_table(db, "things", TableUpdate(throughput=Throughput(5, 5)))

    def test_switch_to_pay_per_request_and_back(self, db: Database) -> None:
        catalog.create_table(db, spec())
        description = catalog.update_table(db, "things", TableUpdate(billing_mode="PAY_PER_REQUEST"))
        assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert "LastUpdateToPayPerRequestDateTime" in description["BillingModeSummary"]
        assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
        with pytest.raises(ValidationException, match="must both be specified when BillingMode is PROVISIONED"):
            catalog.update_table(db, "things", TableUpdate(billing_mode="PROVISIONED"))
        with pytest.raises(ValidationException, match="Neither ReadCapacityUnits nor WriteCapacityUnits"):
            catalog.update_table(db, "things", TableUpdate(throughput=Throughput(3, 3)))
        description = catalog.update_table(
            db, "things", TableUpdate(billing_mode="PROVISIONED", throughput=Throughput(3, 4))
        )
        assert description["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        assert description["ProvisionedThroughput"]["WriteCapacityUnits"] == 4

    def test_streams(self, db: Database) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ValidationException, match="stream disabled"):
            catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(False)))
        catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(True, "NEW_IMAGE")))
        with pytest.raises(ValidationException, match=r"^Table already has an enabled stream: TableName: things$"):
            catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(True, "OLD_IMAGE")))
        with pytest.raises(ValidationException, match="while updating table IOPS"):
            catalog.update_table(db, "things", TableUpdate(throughput=Throughput(9, 9), stream=StreamSpec(False)))
        catalog.update_table(db, "things", TableUpdate(stream=StreamSpec(False)))
        assert "StreamSpecification" not in catalog.describe_table(db, "things")

    def test_table_class_and_protection(self, db: Database) -> None:
        catalog.create_table(db, spec())
        description = catalog.update_table(db, "things", TableUpdate(deletion_protection=True))
        assert description["TableStatus"] == "ACTIVE"
        assert description["DeletionProtectionEnabled"] is True
        description = catalog.update_table(db, "things", TableUpdate(table_class="STANDARD_INFREQUENT_ACCESS"))
        assert description["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
        assert "LastUpdateDateTime" in description["TableClassSummary"]

    def test_failed_update_changes_nothing(self, db: Database) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ValidationException):
            catalog.update_table(
                db, "things", TableUpdate(billing_mode="PAY_PER_REQUEST", throughput=Throughput(1, 1))
            )
        assert catalog.describe_table(db, "things")["BillingModeSummary"]["BillingMode"] == "PROVISIONED"


class TestTags:
    ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/things"

    def test_tag_untag_list(self, db: Database) -> None:
        catalog.create_table(db, spec(tags=(("a", "1"),)))
        catalog.tag_resource(db, self.ARN, (("b", "2"), ("a", "3")))
        assert catalog.list_tags(db, self.ARN) == [{"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
        catalog.untag_resource(db, self.ARN, ("a", "missing"))
        assert catalog.list_tags(db, self.ARN) == [{"Key": "b", "Value": "2"}]

    def test_fifty_tags_at_most(self, db: Database) -> None:
        catalog.create_table(db, spec())
        catalog.tag_resource(db, self.ARN, tuple((f"k{i}", "v") for i in range(50)))
        catalog.tag_resource(db, self.ARN, (("k0", "replaced"),))
        with pytest.raises(ValidationException, match="limit of 50"):
            catalog.tag_resource(db, self.ARN, (("one-more", "v"),))
        assert len(catalog.list_tags(db, self.ARN)) == 50

    @pytest.mark.parametrize(("key", "value", "what"), [("a#b", "v", "Key provided is invalid a#b"), ("k", "it's", "Value provided is invalid it's")])
    def test_characters_outside_the_documented_set(self, db: Database, key: str, value: str, what: str) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ValidationException, match=f"^The Tag {what}$"):
            catalog.tag_resource(db, self.ARN, ((key, value),))
        with pytest.raises(ValidationException, match="provided is invalid"):
            catalog.create_table(db, spec("other", tags=((key, value),)))
        catalog.tag_resource(db, self.ARN, (("Équipe 1+2=3 _.:/-", "ünïcode värde ٣"),))
        assert catalog.list_tags(db, self.ARN) == [{"Key": "Équipe 1+2=3 _.:/-", "Value": "ünïcode värde ٣"}]

    def test_reserved_prefix(self, db: Database) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ValidationException, match="aws:"):
            catalog.tag_resource(db, self.ARN, (("aws:owner", "me"),))

    @pytest.mark.parametrize(
        "arn",
        [
            "arn:aws:dynamodb:eu-west-1:123456789012:table/nope",
            "arn:aws:dynamodb:us-east-1:123456789012:table/things",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/things/index/x",
            "not-an-arn",
        ],
    )
    def test_arn_naming_no_table(self, db: Database, arn: str) -> None:
        catalog.create_table(db, spec())
        with pytest.raises(ResourceNotFoundException, match=f"^Requested resource not found: ResourcArn: {arn} not found$"):
            catalog.list_tags(db, arn)

    def test_tags_are_part_of_the_record(self, db: Database) -> None:
        catalog.create_table(db, spec(tags=(("a", "1"),)))
        with db.store.transaction(write=False) as txn:
            record = orjson.loads(txn.get(keycodec.table_name_key("things")) or b"{}")
        assert record["tags"] == [{"Key": "a", "Value": "1"}]
