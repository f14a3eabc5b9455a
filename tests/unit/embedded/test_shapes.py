"""shapes.compile_shape must give exactly what botocore's JSON parser gives."""

from __future__ import annotations

import base64
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.parsers import create_parser

from cellstore.embedded.shapes import compile_shape

SERVICE = botocore.session.get_session().get_service_model("dynamodb")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


ITEM = {
    "pk": {"S": "a"},
    "b": {"B": b64(b"\x00\xff")},
    "bs": {"BS": [b64(b"x"), b64(b"y")]},
    "m": {"M": {"deep": {"L": [{"B": b64(b"z")}, {"NULL": True}, {"M": {}}]}}},
    "n": {"N": "1.5"},
    "t": {"BOOL": False},
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("GetItem", {"Item": ITEM, "ConsumedCapacity": {"TableName": "t", "CapacityUnits": 0.5}}),
    ("GetItem", {}),
    ("Query", {"Items": [ITEM, ITEM], "Count": 2, "ScannedCount": 2, "LastEvaluatedKey": {"pk": {"B": b64(b"k")}}}),
    ("ListTables", {"TableNames": ["a", "b"], "LastEvaluatedTableName": "b"}),
    ("DescribeTable", {"Table": {
        "TableName": "t", "CreationDateTime": 1700000000.123, "TableStatus": "ACTIVE",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "ProvisionedThroughput": {"LastIncreaseDateTime": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
        "NotAMember": "dropped", "ItemCount": None,
    }}),
    ("BatchGetItem", {"Responses": {"t": [ITEM]}, "UnprocessedKeys": {}}),
]


@pytest.mark.parametrize(("operation", "response"), CASES)
def test_matches_botocore_parser(operation: str, response: dict[str, Any]) -> None:
    shape = SERVICE.operation_model(operation).output_shape
    body = orjson.dumps(response)
    expected = create_parser("json").parse({"status_code": 200, "headers": {}, "body": body}, shape)
    expected.pop("ResponseMetadata")
    convert = compile_shape(shape)
    assert convert is not None
    assert convert(orjson.loads(body)) == expected


def test_error_shape_fields() -> None:
    shape = SERVICE.shape_for_error_code("ConditionalCheckFailedException")
    body = {"__type": "x#ConditionalCheckFailedException", "message": "m", "Item": ITEM}
    convert = compile_shape(shape)
    assert convert is not None
    expected = create_parser("json").parse({"status_code": 400, "headers": {}, "body": orjson.dumps(body)}, shape)
    assert convert(body) == expected


def test_plain_scalars_pass_through() -> None:
    shape = SERVICE.operation_model("ListTables").output_shape.members["TableNames"]
    assert compile_shape(shape) is None
