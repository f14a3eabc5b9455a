"""The last 500s of the hardening issue, as a client meets them: each is now a typed 400.

Shapes botocore will not serialize (a list where AttributeUpdates wants a
structure) are posted as raw JSON to the session server, signed by botocore;
the rest go through a boto3 client with botocore's own parameter checks off,
in every mode (served, in-process, PostgreSQL).
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

NESTING = "The expression has too many nesting levels; nesting levels: 101, maximum: 100"


def error(call: Any, **params: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["Error"]["Code"], response["Error"]["Message"], response["ResponseMetadata"]["HTTPStatusCode"]


def post(server: Any, operation: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``payload`` as raw JSON, signed as botocore would sign it."""
    body = json.dumps(payload).encode()
    request = AWSRequest(
        method="POST", url=server.endpoint_url + "/", data=body,
        headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}"},
    )
    SigV4Auth(Credentials("cellstore", "cellstore"), "dynamodb", "us-east-1").add_auth(request)
    prepared = request.prepare()
    url = urllib.parse.urlsplit(prepared.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        connection.request("POST", "/", body=body, headers=dict(prepared.headers))
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize("limit", [2**31, 2**40, 10**30])
def test_scan_limit_beyond_an_integer_is_refused(raw: Any, hash_table: str, limit: int) -> None:
    """``Limit=2147483648`` was accepted (and read as a huge limit)."""
    assert error(raw.scan, TableName=hash_table, Limit=limit) == (
        "SerializationException", "NUMBER_VALUE can not be converted to an Integer", 400,
    )


def test_scan_limit_at_the_top_of_the_range_works(raw: Any, hash_table: str) -> None:
    assert raw.scan(TableName=hash_table, Limit=2**31 - 1)["Count"] == 0


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 2000 + "a = :v" + ")" * 2000,  # RecursionError (a 500, and ~141 KB logged) before
        "NOT " * 1000 + "a = :v",
        "a = :v AND (" * 150 + "a = :v" + ")" * 150,
    ],
)
def test_deep_filter_expression_is_a_validation_error(ddb: Any, hash_table: str, expression: str) -> None:
    assert len(expression) <= 4096
    code, message, status = error(
        ddb.scan, TableName=hash_table, FilterExpression=expression, ExpressionAttributeValues={":v": {"S": "x"}},
    )
    assert (code, message, status) == ("ValidationException", "Invalid FilterExpression: " + NESTING, 400)


def test_deep_condition_expression_is_a_validation_error(ddb: Any, hash_table: str) -> None:
    code, message, _ = error(
        ddb.put_item, TableName=hash_table, Item={"pk": {"S": "a"}},
        ConditionExpression="(" * 2000 + "a = :v" + ")" * 2000, ExpressionAttributeValues={":v": {"S": "x"}},
    )
    assert (code, message) == ("ValidationException", "Invalid ConditionExpression: " + NESTING)


def test_attribute_updates_with_a_list_value(cellstore_server: Any, served_client: Any, table_name: str) -> None:
    served_client.create_table(
        TableName=table_name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    try:
        key = {"pk": {"S": "a"}}
        status, body = post(cellstore_server, "UpdateItem", {"TableName": table_name, "Key": key, "AttributeUpdates": {"x": [1]}})
        assert (status, body) == (400, {
            "__type": "com.amazon.coral.service#SerializationException",
            "Message": "Unexpected value type in payload: START_ARRAY can not be converted to an AttributeValueUpdate",
        })
        # A value that is not an AttributeValue is refused, not stored.
        status, body = post(cellstore_server, "UpdateItem", {
            "TableName": table_name, "Key": key, "AttributeUpdates": {"x": {"Value": {"N": "abc"}}}})
        assert status == 400 and body["__type"].endswith("#ValidationException"), body
        assert "Item" not in served_client.get_item(TableName=table_name, Key=key)
    finally:
        served_client.delete_table(TableName=table_name)


@pytest.mark.parametrize("element", [["a"], {"a": 1}, 5, None])
def test_attributes_to_get_with_an_element_not_a_string(cellstore_server: Any, element: Any) -> None:
    """Even for a table that does not exist: the element was hashed before the table was looked up."""
    status, body = post(cellstore_server, "GetItem", {
        "TableName": "no-such-table", "Key": {"pk": {"S": "a"}}, "AttributesToGet": [element]})
    assert status == 400 and body["__type"] == "com.amazon.coral.service#SerializationException", body


TOO_LARGE_NAME = (
    "Attribute name is too large, must be less than 64 KB; name size: 65536 bytes"
)


def test_attribute_name_over_64_kb(ddb: Any, hash_table: str) -> None:
    """Names under 64 KB (the Developer Guide's naming rules): at the top level, in a map, in ExpressionAttributeNames."""
    big = "n" * 65_536
    key = {"pk": {"S": "k"}}
    assert error(ddb.put_item, TableName=hash_table, Item={**key, big: {"S": "x"}}) == (
        "ValidationException", f"One or more parameter values were invalid: {TOO_LARGE_NAME}", 400,
    )
    assert error(ddb.put_item, TableName=hash_table, Item={**key, "m": {"M": {big: {"S": "x"}}}}) == (
        "ValidationException", f"One or more parameter values were invalid: {TOO_LARGE_NAME}", 400,
    )
    assert error(
        ddb.update_item, TableName=hash_table, Key=key, UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": big}, ExpressionAttributeValues={":v": {"S": "x"}},
    ) == ("ValidationException", f"ExpressionAttributeNames contains invalid value: {TOO_LARGE_NAME} for key #n", 400)
    assert "Item" not in ddb.get_item(TableName=hash_table, Key=key)
    at_limit = "n" * 65_535
    ddb.put_item(TableName=hash_table, Item={**key, at_limit: {"S": "x"}})
    assert ddb.get_item(TableName=hash_table, Key=key)["Item"][at_limit] == {"S": "x"}
