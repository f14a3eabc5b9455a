"""PutItem, GetItem, UpdateItem, DeleteItem through boto3 (served and in-process)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


EVERY_TYPE = {
    "pk": {"S": "all-types"},
    "s": {"S": "héllo"},
    "empty": {"S": ""},
    "n": {"N": "1.50"},
    "big": {"N": "12345678901234567890123456789012345678"},
    "tiny": {"N": "-1E-130"},
    "b": {"B": b"\x00\x01binary"},
    "t": {"BOOL": True},
    "nul": {"NULL": True},
    "m": {"M": {"inner": {"L": [{"N": "1"}, {"S": "x"}]}}},
    "l": {"L": [{"S": "a"}, {"M": {}}]},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.0"]},
    "bs": {"BS": [b"x", b"y"]},
}


class TestFunctionality:
    def test_every_type_round_trips(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item=EVERY_TYPE)
        item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "all-types"}})["Item"]
        assert item["n"] == {"N": "1.5"}  # canonical numbers
        assert item["big"] == EVERY_TYPE["big"]
        assert item["b"] == {"B": b"\x00\x01binary"}
        assert sorted(item["ns"]["NS"]) == ["1", "2"]
        assert item["m"] == EVERY_TYPE["m"]
        assert item["empty"] == {"S": ""}
        assert set(item) == set(EVERY_TYPE)

    def test_missing_item_has_no_item_member(self, ddb: Any, hash_table: str) -> None:
        response = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "nope"}})
        assert "Item" not in response

    def test_put_returns_all_old(self, ddb: Any, hash_table: str) -> None:
        first = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "v": {"N": "1"}}, ReturnValues="ALL_OLD")
        assert "Attributes" not in first
        second = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "v": {"N": "2"}}, ReturnValues="ALL_OLD")
        assert second["Attributes"] == {"pk": {"S": "a"}, "v": {"N": "1"}}

    def test_conditional_put_optimistic_lock(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "version": {"N": "1"}},
                     ConditionExpression="attribute_not_exists(pk)")
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}},
                         ConditionExpression="attribute_not_exists(pk)")
        assert error(excinfo) == ("ConditionalCheckFailedException", "The conditional request failed")
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "version": {"N": "2"}},
                     ConditionExpression="version = :v", ExpressionAttributeValues={":v": {"N": "1"}})

    def test_condition_failure_returns_old_item_when_asked(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "x": {"S": "old"}})
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}},
                         ConditionExpression="attribute_not_exists(pk)",
                         ReturnValuesOnConditionCheckFailure="ALL_OLD")
        assert excinfo.value.response["Item"] == {"pk": {"S": "a"}, "x": {"S": "old"}}

    def test_update_expression_clauses(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={
            "pk": {"S": "u"}, "count": {"N": "5"}, "tags": {"SS": ["a", "b"]}, "labels": {"SS": ["a", "b"]},
            "list": {"L": [{"N": "1"}]}, "gone": {"S": "x"}, "rest": {"L": [{"N": "1"}, {"N": "2"}, {"N": "3"}]},
        })
        response = ddb.update_item(
            TableName=hash_table, Key={"pk": {"S": "u"}},
            UpdateExpression=(
                "SET #c = #c + :one, created = if_not_exists(created, :now), #l = list_append(#l, :more) "
                "REMOVE gone, rest[0] ADD visits :one, tags :newtags DELETE labels :oldtags"
            ),
            ExpressionAttributeNames={"#c": "count", "#l": "list"},
            ExpressionAttributeValues={
                ":one": {"N": "1"}, ":now": {"S": "today"}, ":more": {"L": [{"N": "4"}]},
                ":newtags": {"SS": ["c"]}, ":oldtags": {"SS": ["a"]},
            },
            ReturnValues="ALL_NEW",
        )
        item = response["Attributes"]
        assert item["count"] == {"N": "6"}
        assert item["created"] == {"S": "today"}
        assert item["visits"] == {"N": "1"}
        assert sorted(item["tags"]["SS"]) == ["a", "b", "c"]
        assert item["labels"] == {"SS": ["b"]}
        assert "gone" not in item
        assert item["list"] == {"L": [{"N": "1"}, {"N": "4"}]}
        assert item["rest"] == {"L": [{"N": "2"}, {"N": "3"}]}

    def test_update_creates_item_and_returns_updated_values(self, ddb: Any, hash_table: str) -> None:
        response = ddb.update_item(
            TableName=hash_table, Key={"pk": {"S": "new"}},
            UpdateExpression="SET a = :a, b = :b", ExpressionAttributeValues={":a": {"N": "1"}, ":b": {"S": "x"}},
            ReturnValues="UPDATED_NEW",
        )
        assert response["Attributes"] == {"a": {"N": "1"}, "b": {"S": "x"}}
        response = ddb.update_item(
            TableName=hash_table, Key={"pk": {"S": "new"}},
            UpdateExpression="SET a = :a", ExpressionAttributeValues={":a": {"N": "2"}},
            ReturnValues="UPDATED_OLD",
        )
        assert response["Attributes"] == {"a": {"N": "1"}}

    def test_atomic_counter_is_exact_decimal(self, ddb: Any, hash_table: str) -> None:
        for _ in range(3):
            ddb.update_item(TableName=hash_table, Key={"pk": {"S": "c"}}, UpdateExpression="ADD n :d",
                            ExpressionAttributeValues={":d": {"N": "0.1"}})
        item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "c"}})["Item"]
        assert item["n"] == {"N": "0.3"}

    def test_delete_with_condition_and_all_old(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "d"}, "state": {"S": "done"}})
        with pytest.raises(ClientError) as excinfo:
            ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "d"}}, ConditionExpression="#s = :s",
                            ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues={":s": {"S": "open"}})
        assert error(excinfo)[0] == "ConditionalCheckFailedException"
        response = ddb.delete_item(TableName=hash_table, Key={"pk": {"S": "d"}}, ReturnValues="ALL_OLD")
        assert response["Attributes"]["state"] == {"S": "done"}
        assert "Item" not in ddb.get_item(TableName=hash_table, Key={"pk": {"S": "d"}})

    def test_projection_of_nested_paths(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={
            "pk": {"S": "p"}, "a": {"M": {"b": {"L": [{"N": "0"}, {"N": "1"}, {"M": {"c": {"S": "deep"}, "d": {"S": "no"}}}]}}},
            "other": {"S": "x"},
        })
        item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "p"}}, ProjectionExpression="a.b[2].c, pk")["Item"]
        assert item == {"pk": {"S": "p"}, "a": {"M": {"b": {"L": [{"M": {"c": {"S": "deep"}}}]}}}}

    def test_consumed_capacity(self, ddb: Any, hash_table: str) -> None:
        big = "x" * 1500
        response = ddb.put_item(TableName=hash_table, Item={"pk": {"S": "cap"}, "v": {"S": big}},
                                ReturnConsumedCapacity="TOTAL")
        assert response["ConsumedCapacity"]["CapacityUnits"] == 2.0
        assert response["ConsumedCapacity"]["TableName"] == hash_table
        read = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "cap"}}, ReturnConsumedCapacity="TOTAL")
        assert read["ConsumedCapacity"]["CapacityUnits"] == 0.5
        strong = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "cap"}}, ConsistentRead=True,
                              ReturnConsumedCapacity="INDEXES")
        assert strong["ConsumedCapacity"]["CapacityUnits"] == 1.0
        assert strong["ConsumedCapacity"]["Table"]["CapacityUnits"] == 1.0

    def test_legacy_parameters(self, ddb: Any, hash_table: str) -> None:
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": "L"}, "v": {"N": "1"}},
                     Expected={"pk": {"Exists": False}})
        ddb.update_item(TableName=hash_table, Key={"pk": {"S": "L"}},
                        AttributeUpdates={"v": {"Action": "ADD", "Value": {"N": "2"}}, "w": {"Action": "PUT", "Value": {"S": "x"}}},
                        Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}})
        item = ddb.get_item(TableName=hash_table, Key={"pk": {"S": "L"}}, AttributesToGet=["v", "w"])["Item"]
        assert item == {"v": {"N": "3"}, "w": {"S": "x"}}

    def test_resource_api(self, ddb_resource: Any, table_name: str) -> None:
        table = ddb_resource.create_table(
            TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )
        table.put_item(Item={"pk": "r", "price": Decimal("9.99"), "tags": {"x", "y"}, "data": b"raw"})
        table.update_item(Key={"pk": "r"}, UpdateExpression="SET price = price - :d", ExpressionAttributeValues={":d": Decimal("0.99")})
        item = table.get_item(Key={"pk": "r"})["Item"]
        assert item["price"] == Decimal(9)
        assert item["tags"] == {"x", "y"}
        assert item["data"].value == b"raw"
        table.delete()


class TestValidation:
    def test_missing_table(self, ddb: Any) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.get_item(TableName="no-such-table", Key={"pk": {"S": "a"}})
        assert error(excinfo)[0] == "ResourceNotFoundException"

    def test_key_not_matching_schema(self, ddb: Any, hash_table: str) -> None:
        for key in ({"pk": {"N": "1"}}, {"other": {"S": "a"}}, {"pk": {"S": "a"}, "x": {"S": "b"}}):
            with pytest.raises(ClientError) as excinfo:
                ddb.get_item(TableName=hash_table, Key=key)
            assert error(excinfo) == ("ValidationException", "The provided key element does not match the schema")

    def test_put_missing_key(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"x": {"S": "a"}})
        assert error(excinfo) == (
            "ValidationException", "One or more parameter values were invalid: Missing the key pk in the item")

    def test_put_key_wrong_type(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"N": "1"}})
        assert error(excinfo) == (
            "ValidationException",
            "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")

    def test_empty_string_key(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": ""}})
        assert error(excinfo)[1] == (
            "One or more parameter values are not valid. The AttributeValue for a key attribute "
            "cannot contain an empty string value. Key: pk")

    def test_empty_and_duplicate_sets(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "s": {"SS": []}})
        assert error(excinfo)[1] == "One or more parameter values were invalid: An string set  may not be empty"
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "s": {"NS": ["1", "1.0"]}})
        assert error(excinfo)[0] == "ValidationException"
        assert "contains duplicates" in error(excinfo)[1]

    def test_numbers_out_of_range(self, ddb: Any, hash_table: str) -> None:
        cases = {
            "1E+126": "Number overflow. Attempting to store a number with magnitude larger than supported range",
            "1E-131": "Number underflow. Attempting to store a number with magnitude smaller than supported range",
            "1.00000000000000000000000000000000000001": "Attempting to store more than 38 significant digits in a Number",
            "abc": "The parameter cannot be converted to a numeric value: abc",
        }
        for number, message in cases.items():
            with pytest.raises(ClientError) as excinfo:
                ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "n": {"N": number}})
            assert error(excinfo) == ("ValidationException", message)

    def test_item_too_large(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}, "v": {"S": "x" * (400 * 1024)}})
        assert error(excinfo) == ("ValidationException", "Item size has exceeded the maximum allowed size")

    def test_hash_key_too_large(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "x" * 2049}})
        assert "Size of hashkey has exceeded the maximum size limit of2048 bytes" in error(excinfo)[1]

    def test_put_return_values_restricted(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}}, ReturnValues="ALL_NEW")
        assert error(excinfo) == ("ValidationException", "ReturnValues can only be ALL_OLD or NONE")

    def test_update_of_key_attribute(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.update_item(TableName=hash_table, Key={"pk": {"S": "a"}}, UpdateExpression="SET pk = :v",
                            ExpressionAttributeValues={":v": {"S": "b"}})
        assert error(excinfo) == (
            "ValidationException",
            "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key")

    def test_unused_expression_values(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_exists(pk)",
                         ExpressionAttributeValues={":unused": {"S": "x"}})
        assert error(excinfo) == (
            "ValidationException",
            "1 validation error detected: Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}")

    def test_expression_and_legacy_together(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.put_item(TableName=hash_table, Item={"pk": {"S": "a"}}, ConditionExpression="attribute_exists(pk)",
                         Expected={"pk": {"Exists": False}})
        assert error(excinfo)[1] == (
            "Can not use both expression and non-expression parameters in the same request: "
            "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")

    def test_invalid_return_values_enum(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.update_item(TableName=hash_table, Key={"pk": {"S": "a"}}, ReturnValues="SOME")
        assert error(excinfo) == (
            "ValidationException",
            ("1 validation error detected: Value 'SOME' at 'returnValues' failed to satisfy constraint: "
            "Member must satisfy enum value set: [NONE, ALL_OLD, UPDATED_OLD, ALL_NEW, UPDATED_NEW]"))

    def test_reserved_word_needs_placeholder(self, ddb: Any, hash_table: str) -> None:
        with pytest.raises(ClientError) as excinfo:
            ddb.update_item(TableName=hash_table, Key={"pk": {"S": "a"}}, UpdateExpression="SET name = :v",
                            ExpressionAttributeValues={":v": {"S": "b"}})
        assert error(excinfo) == (
            "ValidationException",
            "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name")
