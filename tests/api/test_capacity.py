"""ConsumedCapacity as AWS bills it (issue 21, item 6), through boto3.

Sizes here are chosen so that rounding per item and rounding the sum differ:
three items of about 1.5 KB are 3 read units one by one but 2 together.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

PAD = "x" * 1500  # an item with this is 1.5 KB: one read unit alone, two write units


def item(key: str, **extra: Any) -> dict[str, Any]:
    return {"pk": {"S": key}, "pad": {"S": PAD}, **extra}


@pytest.fixture
def indexed_table(ddb: Any, table_name: str) -> Iterator[str]:
    """pk/sk, a KEYS_ONLY global index on g, and an ALL local index on l."""
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "S"},
            {"AttributeName": "l", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-g",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        LocalSecondaryIndexes=[
            {
                "IndexName": "by-l",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    yield table_name
    ddb.delete_table(TableName=table_name)


def units(n: float, kind: str = "Write") -> dict[str, float]:
    return {"CapacityUnits": n, f"{kind}CapacityUnits": n}


class TestReads:
    def test_batch_get_rounds_each_item_up(self, ddb: Any, hash_table: str) -> None:
        for key in "abc":
            ddb.put_item(TableName=hash_table, Item=item(key))
        keys = [{"pk": {"S": key}} for key in "abcd"]  # "d" is missing and still costs the minimum
        consistent = ddb.batch_get_item(
            RequestItems={hash_table: {"Keys": keys, "ConsistentRead": True}}, ReturnConsumedCapacity="TOTAL"
        )
        assert consistent["ConsumedCapacity"] == [{"TableName": hash_table, **units(4.0, "Read")}]
        eventual = ddb.batch_get_item(RequestItems={hash_table: {"Keys": keys}}, ReturnConsumedCapacity="TOTAL")
        assert eventual["ConsumedCapacity"] == [{"TableName": hash_table, **units(2.0, "Read")}]

    def test_query_and_scan_round_the_sum_once(self, ddb: Any, hash_table: str) -> None:
        for key in "abc":
            ddb.put_item(TableName=hash_table, Item=item(key))
        scan = ddb.scan(TableName=hash_table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
        assert scan["ConsumedCapacity"]["CapacityUnits"] == 2.0  # 4.5 KB
        # The filter does not lower the bill: every item evaluated is read.
        filtered = ddb.scan(
            TableName=hash_table,
            FilterExpression="pk = :none",
            ExpressionAttributeValues={":none": {"S": "none"}},
            ReturnConsumedCapacity="TOTAL",
        )
        assert filtered["Count"] == 0
        assert filtered["ConsumedCapacity"]["CapacityUnits"] == 1.0  # eventually consistent: half of 2

    def test_a_request_costs_at_least_the_minimum(self, ddb: Any, hash_table: str) -> None:
        query = ddb.query(
            TableName=hash_table,
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": "nothing"}},
            ReturnConsumedCapacity="TOTAL",
        )
        assert query["ConsumedCapacity"]["CapacityUnits"] == 0.5
        scan = ddb.scan(TableName=hash_table, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
        assert scan["ConsumedCapacity"]["CapacityUnits"] == 1.0

    def test_index_query_is_charged_to_the_index(self, ddb: Any, indexed_table: str) -> None:
        ddb.put_item(TableName=indexed_table, Item={**item("a"), "sk": {"S": "1"}, "g": {"S": "G"}})
        answer = ddb.query(
            TableName=indexed_table,
            IndexName="by-g",
            KeyConditionExpression="g = :g",
            ExpressionAttributeValues={":g": {"S": "G"}},
            ReturnConsumedCapacity="INDEXES",
        )
        assert answer["ConsumedCapacity"] == {
            "TableName": indexed_table,
            **units(0.5, "Read"),
            "Table": units(0.0, "Read"),
            "GlobalSecondaryIndexes": {"by-g": units(0.5, "Read")},
        }
        local = ddb.query(
            TableName=indexed_table,
            IndexName="by-l",
            KeyConditionExpression="pk = :k",
            ExpressionAttributeValues={":k": {"S": "a"}},
            ReturnConsumedCapacity="INDEXES",
        )
        assert local["ConsumedCapacity"]["LocalSecondaryIndexes"] == {"by-l": units(0.5, "Read")}


class TestIndexWrites:
    def test_put_writes_every_index_holding_the_item(self, ddb: Any, indexed_table: str) -> None:
        answer = ddb.put_item(
            TableName=indexed_table,
            Item={**item("a"), "sk": {"S": "1"}, "g": {"S": "G"}, "l": {"S": "L"}},
            ReturnConsumedCapacity="INDEXES",
        )
        # Table: 1.5 KB is 2 units; KEYS_ONLY global entry is tiny (1); the ALL local entry is the item (2).
        assert answer["ConsumedCapacity"] == {
            "TableName": indexed_table,
            **units(5.0),
            "Table": units(2.0),
            "GlobalSecondaryIndexes": {"by-g": units(1.0)},
            "LocalSecondaryIndexes": {"by-l": units(2.0)},
        }

    def test_total_mode_counts_index_writes_in_the_total(self, ddb: Any, indexed_table: str) -> None:
        answer = ddb.put_item(
            TableName=indexed_table,
            Item={**item("a"), "sk": {"S": "1"}, "g": {"S": "G"}},
            ReturnConsumedCapacity="TOTAL",
        )
        assert answer["ConsumedCapacity"] == {"TableName": indexed_table, **units(3.0)}

    def test_changing_an_index_key_costs_two_index_writes(self, ddb: Any, indexed_table: str) -> None:
        key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=indexed_table, Item={**key, "g": {"S": "G"}})
        moved = ddb.update_item(
            TableName=indexed_table,
            Key=key,
            UpdateExpression="SET g = :g",
            ExpressionAttributeValues={":g": {"S": "H"}},
            ReturnConsumedCapacity="INDEXES",
        )
        assert moved["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {"by-g": units(2.0)}
        assert "LocalSecondaryIndexes" not in moved["ConsumedCapacity"]  # the item has no l: not in by-l

    def test_a_write_the_index_does_not_see_costs_it_nothing(self, ddb: Any, indexed_table: str) -> None:
        key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=indexed_table, Item={**key, "g": {"S": "G"}})
        answer = ddb.update_item(
            TableName=indexed_table,
            Key=key,
            UpdateExpression="SET extra = :v",  # not projected into the KEYS_ONLY index
            ExpressionAttributeValues={":v": {"S": "v"}},
            ReturnConsumedCapacity="INDEXES",
        )
        assert answer["ConsumedCapacity"] == {"TableName": indexed_table, **units(1.0), "Table": units(1.0)}

    def test_removing_from_an_index_costs_one_write(self, ddb: Any, indexed_table: str) -> None:
        key = {"pk": {"S": "a"}, "sk": {"S": "1"}}
        ddb.put_item(TableName=indexed_table, Item={**key, "g": {"S": "G"}})
        answer = ddb.delete_item(TableName=indexed_table, Key=key, ReturnConsumedCapacity="INDEXES")
        assert answer["ConsumedCapacity"]["GlobalSecondaryIndexes"] == {"by-g": units(1.0)}

    def test_batch_write_sums_index_writes_per_table(self, ddb: Any, indexed_table: str) -> None:
        answer = ddb.batch_write_item(
            RequestItems={
                indexed_table: [
                    {"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": str(n)}, "g": {"S": "G"}}}} for n in range(3)
                ]
            },
            ReturnConsumedCapacity="INDEXES",
        )
        assert answer["ConsumedCapacity"] == [
            {
                "TableName": indexed_table,
                **units(6.0),
                "Table": units(3.0),
                "GlobalSecondaryIndexes": {"by-g": units(3.0)},
            }
        ]

    def test_transactions_write_indexes_twice_as_dear(self, ddb: Any, indexed_table: str) -> None:
        answer = ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": indexed_table, "Item": {"pk": {"S": "a"}, "sk": {"S": "1"}, "g": {"S": "G"}}}}
            ],
            ReturnConsumedCapacity="INDEXES",
        )
        assert answer["ConsumedCapacity"] == [
            {
                "TableName": indexed_table,
                **units(4.0),
                "Table": units(2.0),
                "GlobalSecondaryIndexes": {"by-g": units(2.0)},
            }
        ]
