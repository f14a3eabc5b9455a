"""A table's ARN wherever a TableName goes (issue 21, item 9), through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from client_errors import error

KEY = {"pk": {"S": "k"}}



@pytest.fixture
def arn(ddb: Any, hash_table: str) -> str:
    return str(ddb.describe_table(TableName=hash_table)["Table"]["TableArn"])


def test_item_operations(ddb: Any, hash_table: str, arn: str) -> None:
    ddb.put_item(TableName=arn, Item={**KEY, "a": {"S": "1"}})
    assert ddb.get_item(TableName=arn, Key=KEY)["Item"]["a"] == {"S": "1"}
    ddb.update_item(TableName=arn, Key=KEY, UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": {"S": "2"}})
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"]["a"] == {"S": "2"}
    answer = ddb.get_item(TableName=arn, Key=KEY, ReturnConsumedCapacity="TOTAL")
    assert answer["ConsumedCapacity"]["TableName"] == hash_table
    ddb.delete_item(TableName=arn, Key=KEY)
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_query_and_scan(ddb: Any, hash_table: str, arn: str) -> None:
    ddb.put_item(TableName=hash_table, Item=KEY)
    assert ddb.scan(TableName=arn)["Items"] == [KEY]
    query = ddb.query(TableName=arn, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "k"}})
    assert query["Items"] == [KEY]


def test_batches_answer_under_the_arn(ddb: Any, hash_table: str, arn: str) -> None:
    written = ddb.batch_write_item(RequestItems={arn: [{"PutRequest": {"Item": KEY}}]})
    assert written["UnprocessedItems"] == {}
    read = ddb.batch_get_item(RequestItems={arn: {"Keys": [KEY]}})
    assert read["Responses"] == {arn: [KEY]}
    assert ddb.get_item(TableName=hash_table, Key=KEY)["Item"] == KEY


def test_transactions(ddb: Any, hash_table: str, arn: str) -> None:
    ddb.transact_write_items(TransactItems=[{"Put": {"TableName": arn, "Item": KEY}}])
    answer = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": arn, "Key": KEY}}])
    assert answer["Responses"] == [{"Item": KEY}]


def test_control_plane(ddb: Any, hash_table: str, arn: str) -> None:
    assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == hash_table
    assert ddb.describe_time_to_live(TableName=arn)["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED"


def test_another_region_or_account_names_no_table(ddb: Any, hash_table: str, arn: str) -> None:
    elsewhere = arn.replace(":us-east-1:", ":eu-west-1:")
    assert error(ddb.get_item, TableName=elsewhere, Key=KEY) == (
        "ResourceNotFoundException",
        f"Requested resource not found: Table: {elsewhere} not found",
    )
    other_account = arn.replace(":000000000000:", ":111111111111:")
    assert error(ddb.put_item, TableName=other_account, Item=KEY)[0] == "ResourceNotFoundException"
    assert error(
        ddb.transact_write_items, TransactItems=[{"Put": {"TableName": other_account, "Item": KEY}}]
    )[0] == "ResourceNotFoundException"
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=KEY)


def test_an_arn_of_a_missing_table(ddb: Any, arn: str) -> None:
    missing = arn.rsplit("/", 1)[0] + "/no-such-table"
    assert error(ddb.get_item, TableName=missing, Key=KEY) == (
        "ResourceNotFoundException",
        "Requested resource not found",
    )
