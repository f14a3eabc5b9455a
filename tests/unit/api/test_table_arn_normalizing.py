"""Table ARNs as TableName, seen by the authorizer and by dispatch (``api/table_arns.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cellstore.api import dispatch, resources, table_arns
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.errors import ResourceNotFoundException
from cellstore.storage.sqlite import SqliteStore

ARN = "arn:aws:dynamodb:us-east-1:000000000000:table/numbers"
KEY = {"pk": {"N": "42"}}


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None), background=False)
    dispatch(database, "CreateTable", {
        "TableName": "numbers", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "N"}],
    })
    yield database
    database.close()


@pytest.mark.parametrize(
    ("operation", "by_name", "by_arn"),
    [
        ("GetItem", {"TableName": "numbers", "Key": KEY}, {"TableName": ARN, "Key": KEY}),
        ("PutItem", {"TableName": "numbers", "Item": KEY}, {"TableName": ARN, "Item": KEY}),
        ("Query", {"TableName": "numbers", "IndexName": "i"}, {"TableName": ARN, "IndexName": "i"}),
        ("BatchGetItem", {"RequestItems": {"numbers": {"Keys": [KEY]}}}, {"RequestItems": {ARN: {"Keys": [KEY]}}}),
        (
            "BatchWriteItem",
            {"RequestItems": {"numbers": [{"PutRequest": {"Item": KEY}}]}},
            {"RequestItems": {ARN: [{"PutRequest": {"Item": KEY}}]}},
        ),
        (
            "TransactWriteItems",
            {"TransactItems": [{"Delete": {"TableName": "numbers", "Key": KEY}}]},
            {"TransactItems": [{"Delete": {"TableName": ARN, "Key": KEY}}]},
        ),
        ("DescribeTable", {"TableName": "numbers"}, {"TableName": ARN}),
    ],
)
def test_the_authorizer_sees_the_table_the_arn_names(
    db: Database, operation: str, by_name: dict[str, Any], by_arn: dict[str, Any]
) -> None:
    # Same resource and the same leading keys (read through the table's key schema).
    assert resources.dynamodb(db, operation, by_arn) == resources.dynamodb(db, operation, by_name)


def test_normalizing_never_mutates_the_request(db: Database) -> None:
    request = {"TransactItems": [{"Get": {"TableName": ARN, "Key": KEY}}]}
    named, spelled = table_arns.with_table_names(db, "TransactGetItems", request)
    assert named["TransactItems"][0]["Get"]["TableName"] == "numbers"
    assert request["TransactItems"][0]["Get"]["TableName"] == ARN
    assert spelled == {}


def test_a_foreign_arn_is_refused_by_dispatch_and_left_alone_for_the_authorizer(db: Database) -> None:
    foreign = ARN.replace("us-east-1", "eu-west-1")
    with pytest.raises(ResourceNotFoundException):
        table_arns.table_name(db, foreign)
    assert table_arns.table_name(db, foreign, strict=False) == foreign


@pytest.mark.parametrize("value", ["numbers", "arn:aws:sqs:us-east-1:000000000000:q", "arn:nonsense", 7, None])
def test_anything_but_a_table_arn_is_left_as_it_is(db: Database, value: Any) -> None:
    assert table_arns.table_name(db, value) == value


def test_a_request_naming_tables_by_name_is_passed_through_uncopied(db: Database) -> None:
    for operation, request in (
        ("GetItem", {"TableName": "numbers", "Key": KEY}),
        ("BatchGetItem", {"RequestItems": {"numbers": {"Keys": [KEY]}}}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": "numbers", "Key": KEY}}]}),
    ):
        assert table_arns.with_table_names(db, operation, request) == (request, {})
        assert table_arns.with_table_names(db, operation, request)[0] is request
