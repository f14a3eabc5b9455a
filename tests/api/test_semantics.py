"""Write semantics where DynamoDB's observed answer is not the obvious one (issue 21, item 5).

Through boto3, served, in-process and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from client_errors import error
from test_streams import create as create_streamed
from test_streams import read_all

# The shared boto3 session of ``embedded.clients`` (the ``streams`` fixture's)
# routes in-process only if this module was imported before the session was
# made; a server-mode test first in the session would otherwise make it bare.
import cellstore.embedded.inprocess  # noqa: F401

KEY = {"pk": {"S": "k"}}



@pytest.fixture
def streamed_table(ddb: Any, table_name: str) -> Iterator[tuple[str, str]]:
    """A hash table with a NEW_AND_OLD_IMAGES stream: (name, stream ARN)."""
    yield table_name, create_streamed(ddb, table_name)
    ddb.delete_table(TableName=table_name)


class TestUpdateOfMissingItem:
    @pytest.mark.parametrize(
        "update",
        [
            {"UpdateExpression": "REMOVE a"},
            {"UpdateExpression": "REMOVE a, b.c"},
            {"UpdateExpression": "DELETE s :v", "ExpressionAttributeValues": {":v": {"SS": ["x"]}}},
            {"UpdateExpression": "REMOVE a DELETE s :v", "ExpressionAttributeValues": {":v": {"SS": ["x"]}}},
            {"AttributeUpdates": {"a": {"Action": "DELETE"}}},
            {"AttributeUpdates": {"s": {"Action": "DELETE", "Value": {"SS": ["x"]}}}},
        ],
    )
    def test_only_removals_create_nothing(
        self, ddb: Any, streams: Any, streamed_table: tuple[str, str], update: dict[str, Any]
    ) -> None:
        name, arn = streamed_table
        answer = ddb.update_item(TableName=name, Key=KEY, ReturnValues="ALL_NEW", **update)
        assert "Attributes" not in answer
        assert "Item" not in ddb.get_item(TableName=name, Key=KEY)
        assert read_all(streams, arn) == []

    def test_a_set_among_removals_creates_the_item(self, ddb: Any, streams: Any, streamed_table: tuple[str, str]) -> None:
        name, arn = streamed_table
        ddb.update_item(
            TableName=name, Key=KEY, UpdateExpression="SET a = :v REMOVE b", ExpressionAttributeValues={":v": {"S": "x"}}
        )
        assert ddb.get_item(TableName=name, Key=KEY)["Item"] == {"pk": {"S": "k"}, "a": {"S": "x"}}
        assert [record["eventName"] for record in read_all(streams, arn)] == ["INSERT"]

    def test_no_actions_still_creates_the_item(self, ddb: Any, hash_table: str) -> None:
        ddb.update_item(TableName=hash_table, Key=KEY)
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == KEY

    def test_removal_from_an_existing_item_still_applies(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={**KEY, "a": {"S": "x"}})
        answer = ddb.update_item(TableName=hash_table, Key=KEY, UpdateExpression="REMOVE a", ReturnValues="ALL_NEW")
        assert answer["Attributes"] == KEY

    def test_removals_in_a_transaction_create_nothing(self, ddb: Any, hash_table: str) -> None:
        ddb.transact_write_items(
            TransactItems=[{"Update": {"TableName": hash_table, "Key": KEY, "UpdateExpression": "REMOVE a"}}]
        )
        assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


class TestListIndexesPastTheEnd:
    def put_list(self, ddb: Any, table: str) -> None:
        ddb.put_item(TableName=table, Item={**KEY, "l": {"L": [{"S": "x"}, {"S": "y"}]}})

    def test_several_appends_go_in_index_order(self, ddb: Any, hash_table: str) -> None:
        self.put_list(ddb, hash_table)
        answer = ddb.update_item(
            TableName=hash_table,
            Key=KEY,
            UpdateExpression="SET l[9] = :a, l[5] = :b, l[7] = :c",
            ExpressionAttributeValues={":a": {"S": "a"}, ":b": {"S": "b"}, ":c": {"S": "c"}},
            ReturnValues="ALL_NEW",
        )
        expected = {"L": [{"S": "x"}, {"S": "y"}, {"S": "b"}, {"S": "c"}, {"S": "a"}]}
        assert answer["Attributes"]["l"] == expected
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["l"] == expected

    def test_updated_new_names_the_appended_elements(self, ddb: Any, hash_table: str) -> None:
        self.put_list(ddb, hash_table)
        answer = ddb.update_item(
            TableName=hash_table,
            Key=KEY,
            UpdateExpression="SET l[7] = :a, l[0] = :b",
            ExpressionAttributeValues={":a": {"S": "a"}, ":b": {"S": "b"}},
            ReturnValues="UPDATED_NEW",
        )
        # Projected at the positions the values were written to (2 and 0), not at index 7.
        assert answer["Attributes"] == {"l": {"L": [{"S": "b"}, {"S": "a"}]}}

    def test_updated_old_of_an_append_has_nothing_old(self, ddb: Any, hash_table: str) -> None:
        self.put_list(ddb, hash_table)
        answer = ddb.update_item(
            TableName=hash_table,
            Key=KEY,
            UpdateExpression="SET l[7] = :a",
            ExpressionAttributeValues={":a": {"S": "a"}},
            ReturnValues="UPDATED_OLD",
        )
        assert "Attributes" not in answer


class TestLegacyParameters:
    def test_attribute_updates_add_appends_to_a_list(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={**KEY, "l": {"L": [{"S": "x"}]}})
        ddb.update_item(
            TableName=hash_table,
            Key=KEY,
            AttributeUpdates={"l": {"Action": "ADD", "Value": {"L": [{"S": "y"}, {"N": "1"}]}}},
        )
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["l"] == {"L": [{"S": "x"}, {"S": "y"}, {"N": "1"}]}

    def test_attribute_updates_add_of_a_list_to_a_missing_attribute_sets_it(self, ddb: Any, hash_table: str) -> None:
        ddb.update_item(TableName=hash_table, Key=KEY, AttributeUpdates={"l": {"Action": "ADD", "Value": {"L": [{"S": "y"}]}}})
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["l"] == {"L": [{"S": "y"}]}

    def test_attribute_updates_add_of_a_list_to_a_number_is_refused(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={**KEY, "l": {"N": "1"}})
        code, _ = error(
            ddb.update_item,
            TableName=hash_table,
            Key=KEY,
            AttributeUpdates={"l": {"Action": "ADD", "Value": {"L": [{"S": "y"}]}}},
        )
        assert code == "ValidationException"

    def test_expected_not_contains_fails_on_a_missing_attribute(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item=KEY)
        expected = {"q": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "x"}]}}
        code, _ = error(ddb.put_item, TableName=hash_table, Item={**KEY, "z": {"S": "1"}}, Expected=expected)
        assert code == "ConditionalCheckFailedException"

    def test_expected_not_contains_holds_on_a_present_attribute_without_the_value(
        self, ddb: Any, hash_table: str
    ) -> None:
        ddb.put_item(TableName=hash_table, Item={**KEY, "q": {"SS": ["a", "b"]}})
        expected = {"q": {"ComparisonOperator": "NOT_CONTAINS", "AttributeValueList": [{"S": "x"}]}}
        ddb.put_item(TableName=hash_table, Item={**KEY, "z": {"S": "1"}}, Expected=expected)
        assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["z"] == {"S": "1"}


def _gsi_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )


class TestIndexKeySizeLimits:
    @pytest.fixture
    def gsi_table(self, ddb: Any, table_name: str) -> Iterator[str]:
        _gsi_table(ddb, table_name)
        yield table_name
        ddb.delete_table(TableName=table_name)

    def test_partition_attribute_over_2048_bytes_is_refused(self, ddb: Any, gsi_table: str) -> None:
        item = {**KEY, "g": {"S": "x" * 2049}, "r": {"S": "r"}}
        assert error(ddb.put_item, TableName=gsi_table, Item=item) == (
            "ValidationException",
            (
                "One or more parameter values were invalid: Size limit exceeded for Index Key g "
                "Actual Size: 2049 bytes Max Size: 2048 bytes IndexName: by-g"
            ),
        )
        assert "Item" not in ddb.get_item(TableName=gsi_table, Key=KEY)

    def test_sort_attribute_over_1024_bytes_is_refused(self, ddb: Any, gsi_table: str) -> None:
        assert error(
            ddb.update_item,
            TableName=gsi_table,
            Key=KEY,
            UpdateExpression="SET g = :g, r = :r",
            ExpressionAttributeValues={":g": {"S": "g"}, ":r": {"S": "é" * 513}},
        ) == (
            "ValidationException",
            (
                "One or more parameter values were invalid: Size limit exceeded for Index Key r "
                "Actual Size: 1026 bytes Max Size: 1024 bytes IndexName: by-g"
            ),
        )

    def test_keys_at_the_limits_are_indexed(self, ddb: Any, gsi_table: str) -> None:
        item = {**KEY, "g": {"S": "x" * 2048}, "r": {"S": "y" * 1024}}
        ddb.put_item(TableName=gsi_table, Item=item)
        assert ddb.scan(TableName=gsi_table, IndexName="by-g")["Items"] == [item]

    def test_backfill_skips_items_over_the_limits(self, ddb: Any, table_name: str) -> None:
        ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            small = {"pk": {"S": "small"}, "g": {"S": "g"}, "r": {"S": "r"}}
            big = {"pk": {"S": "big"}, "g": {"S": "x" * 3000}, "r": {"S": "r"}}
            long_sort = {"pk": {"S": "long"}, "g": {"S": "g"}, "r": {"S": "y" * 1500}}
            for item in (small, big, long_sort):
                ddb.put_item(TableName=table_name, Item=item)
            ddb.update_table(
                TableName=table_name,
                AttributeDefinitions=[
                    {"AttributeName": "g", "AttributeType": "S"},
                    {"AttributeName": "r", "AttributeType": "S"},
                ],
                GlobalSecondaryIndexUpdates=[
                    {
                        "Create": {
                            "IndexName": "by-g",
                            "KeySchema": [
                                {"AttributeName": "g", "KeyType": "HASH"},
                                {"AttributeName": "r", "KeyType": "RANGE"},
                            ],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    }
                ],
            )
            ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            for _ in range(300):
                description = ddb.describe_table(TableName=table_name)["Table"]
                if description["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE":
                    break
                time.sleep(0.05)
            assert ddb.scan(TableName=table_name, IndexName="by-g")["Items"] == [small]
            # The oversized items are still in the table, and a later small write indexes them.
            assert ddb.scan(TableName=table_name, Select="COUNT")["Count"] == 3
            ddb.update_item(
                TableName=table_name,
                Key={"pk": {"S": "big"}},
                UpdateExpression="SET g = :g",
                ExpressionAttributeValues={":g": {"S": "g2"}},
            )
            assert len(ddb.scan(TableName=table_name, IndexName="by-g")["Items"]) == 2
        finally:
            ddb.delete_table(TableName=table_name)


class TestDeleteTableAnswer:
    def test_carries_only_dynamodbs_members(self, ddb: Any, table_name: str) -> None:
        _gsi_table(ddb, table_name)
        ddb.put_item(TableName=table_name, Item=KEY)
        description = ddb.delete_table(TableName=table_name)["TableDescription"]
        assert description["TableStatus"] == "DELETING"
        assert description["TableName"] == table_name
        assert description["ItemCount"] == 1
        assert description["TableArn"].endswith(f":table/{table_name}")
        assert {"TableId", "ProvisionedThroughput", "TableSizeBytes", "BillingModeSummary"} <= set(description)
        for absent in ("AttributeDefinitions", "KeySchema", "CreationDateTime", "GlobalSecondaryIndexes"):
            assert absent not in description
