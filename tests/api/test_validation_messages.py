"""Validation DynamoDB does and its messages as AWS writes them (issue 21, items 4, 8 and 10).

Every case asserts the exact error type and message.  Requests botocore
would refuse client-side go through a client with ``parameter_validation``
off; the one shape botocore cannot serialize at all (an AttributeValue with
an unknown member) is posted as raw JSON to the session server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.api.conftest import create
from tests.api.test_bad_input import post

KEY = {"pk": {"S": "a"}, "sk": {"S": "b"}}
OPERAND = "Incorrect operand type for operator or function; operator or function: "


@pytest.fixture
def table(ddb: Any, table_name: str) -> Iterator[str]:
    """A pk/sk table holding one item with a number, a string and a list."""
    create(ddb, table_name, range_key="sk")
    ddb.put_item(TableName=table_name, Item={**KEY, "x": {"N": "1"}, "s": {"S": "str"}, "l": {"L": [{"N": "1"}]}})
    yield table_name
    ddb.delete_table(TableName=table_name)


def error(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def invalid(message: str) -> tuple[str, str]:
    return ("ValidationException", message)


# --- item 8: never a 500 ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("1e999999999", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("-1E999999999", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e-999999999", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        # Beyond Decimal's own exponent bound: decimal.InvalidOperation, also a 500 before.
        ("1e1000000000000000000", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1e-1000000000000000000", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
    ],
)
def test_numbers_with_huge_exponents(raw: Any, table: str, number: str, message: str) -> None:
    """decimal.Overflow escaped as a 500 for these."""
    assert error(raw.put_item, TableName=table, Item={**KEY, "n": {"N": number}}) == invalid(message)
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="x = :v", ExpressionAttributeValues={":v": {"N": number}},
    ) == invalid(f"ExpressionAttributeValues contains invalid value: {message} for key :v")


def test_zero_with_a_huge_exponent_is_zero(raw: Any, table: str) -> None:
    for zero in ("0e999999999", "-0.0e1000000000000000000"):
        raw.put_item(TableName=table, Item={**KEY, "n": {"N": zero}})
        assert raw.get_item(TableName=table, Key=KEY)["Item"]["n"] == {"N": "0"}


@pytest.mark.parametrize("key", [{}, {"pk": {"S": "a"}}, {"pk": {"N": "1"}, "sk": {"S": "b"}}])
def test_delete_request_with_an_empty_or_partial_key(raw: Any, table: str, key: dict[str, Any]) -> None:
    """An empty Key was a KeyError (a 500) in the duplicate check."""
    assert error(raw.batch_write_item, RequestItems={table: [{"DeleteRequest": {"Key": key}}]}) == invalid(
        "The provided key element does not match the schema"
    )


def test_unknown_attribute_value_member_is_ignored(cellstore_server: Any, served_client: Any, table_name: str) -> None:
    """AWS's JSON reader ignores members it does not know: ``{"Z": "x"}`` is an empty value."""
    create(served_client, table_name, range_key="sk")
    try:
        status, body = post(cellstore_server, "PutItem", {"TableName": table_name, "Item": {**KEY, "q": {"Z": "x"}}})
        assert (status, body["__type"].rsplit("#", 1)[-1], body["message"]) == (
            400, "ValidationException",
            "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
        )
        status, _ = post(cellstore_server, "PutItem", {"TableName": table_name, "Item": {**KEY, "q": {"Z": "x", "S": "y"}}})
        assert status == 200
        assert served_client.get_item(TableName=table_name, Key=KEY)["Item"]["q"] == {"S": "y"}
    finally:
        served_client.delete_table(TableName=table_name)


# --- item 4: expressions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value", "shown"),
    [
        ("x < :v", {"L": []}, "<, operand type: L"),
        ("x <= :v", {"M": {}}, "<=, operand type: M"),
        ("x > :v", {"SS": ["a"]}, ">, operand type: SS"),
        ("x >= :v", {"BOOL": True}, ">=, operand type: BOOL"),
        ("x BETWEEN :v AND :v", {"NULL": True}, "BETWEEN, operand type: NULL"),
    ],
)
def test_ordering_with_a_non_comparable_constant(raw: Any, table: str, expression: str, value: Any, shown: str) -> None:
    """Was a silent ConditionalCheckFailed (or an empty result)."""
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression=expression, ExpressionAttributeValues={":v": value},
    ) == invalid("Invalid ConditionExpression: " + OPERAND + shown)
    assert error(raw.scan, TableName=table, FilterExpression=expression, ExpressionAttributeValues={":v": value}) == invalid(
        "Invalid FilterExpression: " + OPERAND + shown
    )


def test_contains_with_the_same_path_twice(raw: Any, table: str) -> None:
    assert error(raw.put_item, TableName=table, Item=KEY, ConditionExpression="contains(s, s)") == invalid(
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this "
        "operator or function; operator: contains, first operand: [s]"
    )


def test_attribute_type_with_a_path_as_its_type(raw: Any, table: str) -> None:
    assert error(raw.put_item, TableName=table, Item=KEY, ConditionExpression="attribute_type(x, s)") == invalid(
        "Invalid ConditionExpression: " + OPERAND + "attribute_type, operand type: PATH"
    )


def test_a_name_starting_with_an_underscore(raw: Any, table: str) -> None:
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="_x = :v", ExpressionAttributeValues={":v": {"N": "1"}},
    ) == invalid('Invalid ConditionExpression: Syntax error; token: "_", near: "_x"')
    raw.put_item(  # through a placeholder the name is fine
        TableName=table, Item=KEY, ConditionExpression="attribute_not_exists(#u)", ExpressionAttributeNames={"#u": "_x"},
    )


def test_list_append_nested_in_list_append(raw: Any, table: str) -> None:
    raw.put_item(TableName=table, Item={**KEY, "l": {"L": []}})
    values = {":l": {"L": [{"S": "x"}]}}
    assert error(
        raw.update_item, TableName=table, Key=KEY, UpdateExpression="SET l = list_append(list_append(l, :l), :l)",
        ExpressionAttributeValues=values,
    ) == invalid(
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; function: list_append"
    )
    raw.update_item(  # if_not_exists inside list_append stays allowed
        TableName=table, Key=KEY, UpdateExpression="SET l = list_append(if_not_exists(l, :l), :l)",
        ExpressionAttributeValues=values,
    )
    assert raw.get_item(TableName=table, Key=KEY)["Item"]["l"] == {"L": [{"S": "x"}]}


def test_a_list_index_too_large_in_a_projection(raw: Any, table: str) -> None:
    raw.put_item(TableName=table, Item={**KEY, "l": {"L": [{"S": "x"}]}})
    assert error(raw.get_item, TableName=table, Key=KEY, ProjectionExpression="l[4294967296]") == invalid(
        'Invalid ProjectionExpression: Syntax error; token: "4294967296", near: "[4294967296"'
    )
    assert raw.get_item(TableName=table, Key=KEY, ProjectionExpression="l[2147483647]")["Item"] == {}


def test_size_and_attribute_type_of_a_value_are_accepted(raw: Any, table: str) -> None:
    raw.put_item(
        TableName=table, Item=KEY, ConditionExpression="size(:v) = :three AND attribute_type(:v, :s)",
        ExpressionAttributeValues={":v": {"S": "abc"}, ":three": {"N": "3"}, ":s": {"S": "S"}},
    )
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="size(:v) = :v",
        ExpressionAttributeValues={":v": {"N": "3"}},
    ) == invalid("Invalid ConditionExpression: " + OPERAND + "size, operand type: N")


def test_query_filter_on_a_key_attribute(raw: Any, table: str) -> None:
    assert error(
        raw.query, TableName=table, KeyConditionExpression="pk = :p", FilterExpression="sk = :s",
        ExpressionAttributeValues={":p": {"S": "a"}, ":s": {"S": "b"}},
    ) == invalid("Filter Expression can only contain non-primary key attributes: Primary key attribute: sk")
    assert error(
        raw.query, TableName=table, KeyConditions={"pk": {"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "EQ"}},
        QueryFilter={"pk": {"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "EQ"}},
    ) == invalid("QueryFilter can only contain non-primary key attributes: Primary key attribute: pk")
    # Scan has no such rule.
    assert raw.scan(TableName=table, FilterExpression="sk = :s", ExpressionAttributeValues={":s": {"S": "b"}})["Count"] == 1


def test_key_conditions_with_projection_and_filter_expressions(raw: Any, table: str) -> None:
    """Only mixing within one pair is refused (it was refused for any mix)."""
    conditions = {"pk": {"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "EQ"}}
    found = raw.query(
        TableName=table, KeyConditions=conditions, ProjectionExpression="x", FilterExpression="s = :s",
        ExpressionAttributeValues={":s": {"S": "str"}},
    )
    assert found["Items"] == [{"x": {"N": "1"}}]
    assert error(
        raw.query, TableName=table, KeyConditions=conditions, KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "a"}},
    ) == invalid(
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {KeyConditions} Expression parameters: {KeyConditionExpression}"
    )


# --- item 4: requests --------------------------------------------------------------------------------


def test_transact_get_items_twice_on_one_item(raw: Any, table: str) -> None:
    get = {"Get": {"TableName": table, "Key": KEY}}
    assert error(raw.transact_get_items, TransactItems=[get, get]) == invalid(
        "Transaction request cannot include multiple operations on one item"
    )


def test_transact_get_items_with_an_empty_key(raw: Any, table: str) -> None:
    with pytest.raises(ClientError) as caught:
        raw.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": KEY}}, {"Get": {"TableName": table, "Key": {}}}])
    response = caught.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert response["Error"]["Message"] == (
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ValidationError]"
    )
    assert response["CancellationReasons"] == [
        {"Code": "None"},
        {"Code": "ValidationError", "Message": "The provided key element does not match the schema"},
    ]


def test_transact_write_items_with_a_key_of_the_wrong_type(raw: Any, table: str) -> None:
    with pytest.raises(ClientError) as caught:
        raw.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "sk": {"S": "b"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"N": "1"}, "sk": {"S": "b"}}}},
        ])
    response = caught.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in response["CancellationReasons"]] == ["None", "ValidationError"]
    assert "Item" not in raw.get_item(TableName=table, Key={"pk": {"S": "new"}, "sk": {"S": "b"}})


def test_tagging_with_a_malformed_arn(raw: Any, table: str) -> None:
    arn = raw.describe_table(TableName=table)["Table"]["TableArn"]
    for bad in ("notanarn", arn + "/index/gsi", "arn:aws:s3:::bucket"):
        expected = invalid(f"Invalid TableArn: Invalid ResourceArn provided as input {bad}")
        assert error(raw.tag_resource, ResourceArn=bad, Tags=[{"Key": "a", "Value": "b"}]) == expected
        assert error(raw.untag_resource, ResourceArn=bad, TagKeys=["a"]) == expected
        assert error(raw.list_tags_of_resource, ResourceArn=bad) == expected


# --- item 10: messages ---------------------------------------------------------------------------------


def test_describe_and_update_table_without_a_table_name(raw: Any) -> None:
    expected = invalid("The parameter 'TableName' is required but was not present in the request")
    assert error(raw.describe_table) == expected
    assert error(raw.update_table, BillingMode="PAY_PER_REQUEST") == expected


def test_an_empty_table_name_reports_the_minimum_length_only(raw: Any) -> None:
    assert error(raw.get_item, TableName="", Key=KEY) == invalid(
        "1 validation error detected: Value '' at 'tableName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )


def test_empty_request_items(raw: Any) -> None:
    assert error(raw.batch_get_item, RequestItems={}) == invalid("The requestItems parameter is required for BatchGetItem")
    assert error(raw.batch_write_item, RequestItems={}) == invalid("The requestItems parameter is required for BatchWriteItem")


def test_batch_member_paths(raw: Any, table: str) -> None:
    assert error(raw.batch_get_item, RequestItems={table: {"Keys": []}}) == invalid(
        f"1 validation error detected: Value '[]' at 'RequestItems.{table}.member.Keys' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1"
    )
    assert error(raw.batch_write_item, RequestItems={table: []}) == invalid(
        f"1 validation error detected: Value '{{{table}=[]}}' at 'requestItems' failed to satisfy constraint: "
        "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
        "Member must have length greater than or equal to 1]"
    )


def test_select_lists_its_values_in_aws_order(raw: Any, table: str) -> None:
    assert error(raw.scan, TableName=table, Select="EVERYTHING") == invalid(
        "1 validation error detected: Value 'EVERYTHING' at 'select' failed to satisfy constraint: "
        "Member must satisfy enum value set: [SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"
    )


def test_select_messages(raw: Any, table: str) -> None:
    assert error(raw.scan, TableName=table, Select="SPECIFIC_ATTRIBUTES") == invalid(
        "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
    )
    assert error(raw.scan, TableName=table, Select="ALL_PROJECTED_ATTRIBUTES") == invalid(
        "1 validation error detected: ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
    )


def test_unused_placeholders_and_empty_expressions(raw: Any, table: str) -> None:
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="x = :v",
        ExpressionAttributeNames={"#w": "w"}, ExpressionAttributeValues={":v": {"N": "1"}},
    ) == invalid("1 validation error detected: Value provided in ExpressionAttributeNames unused in expressions: keys: {#w}")
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="x = :v",
        ExpressionAttributeValues={":v": {"N": "1"}, ":w": {"N": "2"}},
    ) == invalid("1 validation error detected: Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}")
    assert error(raw.update_item, TableName=table, Key=KEY, UpdateExpression="") == invalid(
        "1 validation error detected: Invalid UpdateExpression: The expression can not be empty;"
    )


def test_expression_attribute_values_without_an_expression(raw: Any, table: str) -> None:
    values = {":v": {"N": "1"}}
    assert error(raw.put_item, TableName=table, Item=KEY, ExpressionAttributeValues=values) == invalid(
        "ExpressionAttributeValues can only be specified when using expressions: ConditionExpression is null"
    )
    assert error(raw.update_item, TableName=table, Key=KEY, ExpressionAttributeValues=values) == invalid(
        "ExpressionAttributeValues can only be specified when using expressions: "
        "UpdateExpression and ConditionExpression are null"
    )


def test_a_syntax_error_on_the_first_token_shows_it_and_the_next(raw: Any, table: str) -> None:
    assert error(raw.update_item, TableName=table, Key=KEY, UpdateExpression="INVALID SYNTAX") == invalid(
        'Invalid UpdateExpression: Syntax error; token: "INVALID", near: "INVALID SYNTAX"'
    )


# --- streams -------------------------------------------------------------------------------------------


@pytest.fixture
def stream(ddb: Any, streams: Any, table_name: str) -> Iterator[tuple[str, str]]:
    """A table with a stream: its stream ARN and first shard id."""
    ddb.create_table(
        TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    arn = ddb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    yield arn, shard
    ddb.delete_table(TableName=table_name)


def test_malformed_stream_arn(streams: Any, stream: tuple[str, str]) -> None:
    arn, shard = stream
    bad = "x" * 40
    expected = invalid(f"Invalid StreamArn: Invalid StreamArn provided as input {bad}")
    assert error(streams.describe_stream, StreamArn=bad) == expected
    assert error(streams.get_shard_iterator, StreamArn=bad, ShardId=shard, ShardIteratorType="LATEST") == expected
    missing = arn.replace("/stream/", "-gone/stream/")
    assert error(streams.describe_stream, StreamArn=missing)[0] == "ResourceNotFoundException"


@pytest.mark.parametrize("kind", ["TRIM_HORIZON", "LATEST"])
def test_sequence_number_with_a_position_that_ignores_it(streams: Any, stream: tuple[str, str], kind: str) -> None:
    arn, shard = stream
    assert error(
        streams.get_shard_iterator, StreamArn=arn, ShardId=shard, ShardIteratorType=kind, SequenceNumber="1" * 21,
    ) == invalid("SequenceNumber may only be specified for AT_SEQUENCE_NUMBER and AFTER_SEQUENCE_NUMBER")


@pytest.mark.parametrize("start", ["shardId-00000000000000000000-00000000", "shardId-" + "z" * 30])
def test_describe_stream_after_an_unknown_shard(streams: Any, stream: tuple[str, str], start: str) -> None:
    arn, _ = stream
    assert streams.describe_stream(StreamArn=arn, ExclusiveStartShardId=start)["StreamDescription"]["Shards"] == []


# --- item 4: legacy parameters and table definitions ---------------------------------------------------


def test_legacy_in_with_values_of_two_types(raw: Any, table: str) -> None:
    assert error(
        raw.put_item, TableName=table, Item=KEY,
        Expected={"x": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "1"}, {"S": "a"}]}},
    ) == invalid("One or more parameter values were invalid: AttributeValues inside AttributeValueList must be of same type")


def test_conditional_operator_without_expected_or_a_filter(raw: Any, table: str) -> None:
    expected = invalid("ConditionalOperator cannot be used without Filter or Expected")
    assert error(raw.put_item, TableName=table, Item=KEY, ConditionalOperator="AND") == expected
    assert error(raw.update_item, TableName=table, Key=KEY, ConditionalOperator="OR") == expected
    assert error(raw.delete_item, TableName=table, Key=KEY, ConditionalOperator="OR") == expected
    assert error(raw.scan, TableName=table, ConditionalOperator="OR") == expected
    assert error(
        raw.query, TableName=table, ConditionalOperator="AND",
        KeyConditions={"pk": {"AttributeValueList": [{"S": "a"}], "ComparisonOperator": "EQ"}},
    ) == expected
    assert raw.get_item(TableName=table, Key=KEY)["Item"]["x"] == {"N": "1"}  # nothing was written or deleted


def _index_table(name: str, projection: dict[str, Any]) -> dict[str, Any]:
    return {
        "TableName": name, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [
            {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": projection}
        ],
    }


def test_index_projection_rules(raw: Any, table_name: str) -> None:
    assert error(raw.create_table, **_index_table(table_name, {})) == invalid(
        "One or more parameter values were invalid: Unknown ProjectionType: null"
    )
    assert error(
        raw.create_table, **_index_table(table_name, {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a", "b", "a"]}),
    ) == invalid("One or more parameter values were invalid: Duplicate NonKeyAttributes in the projection of index by-g: [a]")
    assert error(raw.describe_table, TableName=table_name)[0] == "ResourceNotFoundException"


def test_table_key_schema_with_one_attribute_twice(raw: Any, table_name: str) -> None:
    assert error(
        raw.create_table, TableName=table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    ) == invalid("Invalid KeySchema: Some index key attribute have no definition")


def test_update_table_index_create_needs_its_attribute_definitions(raw: Any, table: str) -> None:
    """Even for an attribute the table already defines (``sk`` here): the request must define it."""
    create = {"Create": {"IndexName": "by-sk", "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
                         "Projection": {"ProjectionType": "ALL"}}}
    assert error(raw.update_table, TableName=table, GlobalSecondaryIndexUpdates=[create]) == invalid(
        "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. "
        "Keys: [sk], AttributeDefinitions: []"
    )
    raw.update_table(
        TableName=table, AttributeDefinitions=[{"AttributeName": "sk", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[create],
    )
    indexes = raw.describe_table(TableName=table)["Table"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in indexes] == ["by-sk"]


def test_query_and_scan_limit_as_aws_names_it(raw: Any, table: str) -> None:
    """AWS's observed answer: 'Limit' as the path, and no echo of the value."""
    expected = invalid(
        "1 validation error detected: Value at 'Limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"
    )
    assert error(raw.scan, TableName=table, Limit=0) == expected
    assert error(
        raw.query, TableName=table, Limit=-5, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "a"}},
    ) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"BS": []}, "Binary sets should not be empty"),
    ],
)
def test_empty_set_in_expression_attribute_values(raw: Any, table: str, value: Any, text: str) -> None:
    """AWS's observed ExpressionAttributeValues wrapper around its observed item-level text, naming the key."""
    expected = invalid(
        f"ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: {text} for key :v"
    )
    assert error(
        raw.put_item, TableName=table, Item=KEY, ConditionExpression="x <> :v", ExpressionAttributeValues={":v": value},
    ) == expected
    assert error(
        raw.update_item, TableName=table, Key=KEY, UpdateExpression="SET x = :v", ExpressionAttributeValues={":v": value},
    ) == expected


def test_empty_sets(raw: Any, table: str) -> None:
    assert error(raw.put_item, TableName=table, Item={**KEY, "b": {"BS": []}}) == invalid(
        "One or more parameter values were invalid: Binary sets should not be empty"
    )
    assert error(raw.put_item, TableName=table, Item={**KEY, "s": {"SS": []}}) == invalid(
        "One or more parameter values were invalid: An string set  may not be empty"
    )
