"""Malformed requests get a typed AWS error, never an internal error.

Hypothesis takes a valid request for each DynamoDB operation and replaces
one member (at any depth) with a value of the wrong shape; dispatch must
either succeed or raise a CellstoreError that is not InternalServerError.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mutations import WRONG_SHAPES, paths, replaced

from cellstore.api import dispatch
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.errors import CellstoreError, InternalServerError
from cellstore.storage.sqlite import SqliteStore

TABLE = "fuzzed"
KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}
VALUES = {":v": {"N": "1"}, ":s": {"S": "x"}}

VALID: dict[str, dict[str, Any]] = {
    "PutItem": {"TableName": TABLE, "Item": {**KEY, "n": {"N": "5"}, "l": {"L": [{"S": "x"}]}},
                "ConditionExpression": "attribute_not_exists(pk) OR n < :v OR s = :s", "ExpressionAttributeValues": VALUES,
                "ReturnValues": "ALL_OLD"},
    "GetItem": {"TableName": TABLE, "Key": KEY, "ProjectionExpression": "#n, l[0]",
                "ExpressionAttributeNames": {"#n": "n"}},
    "UpdateItem": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "SET n = n + :v, s = :s REMOVE l[0]",
                   "ExpressionAttributeValues": VALUES, "ReturnValues": "UPDATED_NEW"},
    "DeleteItem": {"TableName": TABLE, "Key": KEY, "ConditionExpression": "attribute_exists(pk)"},
    "Query": {"TableName": TABLE, "KeyConditionExpression": "pk = :s AND sk > :v", "ExpressionAttributeValues": VALUES,
              "Limit": 5, "ScanIndexForward": False},
    "Scan": {"TableName": TABLE, "FilterExpression": "n > :v", "ExpressionAttributeValues": {":v": {"N": "1"}},
             "Segment": 0, "TotalSegments": 2},
    "BatchWriteItem": {"RequestItems": {TABLE: [{"PutRequest": {"Item": KEY}}]}},
    "BatchGetItem": {"RequestItems": {TABLE: {"Keys": [KEY]}}},
    "TransactWriteItems": {"TransactItems": [{"Update": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "ADD n :v",
                                                         "ExpressionAttributeValues": {":v": {"N": "1"}}}}],
                           "ClientRequestToken": "tok"},
    "TransactGetItems": {"TransactItems": [{"Get": {"TableName": TABLE, "Key": KEY}}]},
    "CreateTable": {"TableName": "other", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "BillingMode": "PAY_PER_REQUEST"},
    "DescribeTable": {"TableName": TABLE},
    "ListTables": {"Limit": 5, "ExclusiveStartTableName": "aaa"},
    "UpdateTable": {"TableName": TABLE, "BillingMode": "PROVISIONED",
                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}},
}

WRONG = st.one_of(
    WRONG_SHAPES,
    st.just({"S": 1}), st.just({"N": "x"}), st.just({"SS": []}), st.just({}), st.just({"B": "!!"}),
    st.just("#"), st.just(":"), st.just("a.b[x]"), st.just("SET"), st.just("))"),
)


@pytest.fixture(scope="module")
def db() -> Iterator[Database]:
    database = open_database(SqliteStore(None))
    dispatch(database, "CreateTable", {
        "TableName": TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    })
    yield database
    database.close()


@pytest.mark.parametrize("operation", sorted(VALID))
def test_valid_request_succeeds(db: Database, operation: str) -> None:
    """The unmutated requests are valid, so the mutations below test one fault each."""
    dispatch(db, operation, copy.deepcopy(VALID[operation]))


@pytest.mark.parametrize("operation", sorted(VALID))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_request_gets_a_typed_error(db: Database, operation: str, data: st.DataObject) -> None:
    payload = VALID[operation]
    path = data.draw(st.sampled_from(list(paths(payload))), label="path")
    value = data.draw(WRONG, label="value")
    request = replaced(payload, path, value)
    try:
        dispatch(db, operation, request if isinstance(request, dict) else {"_": request})
    except InternalServerError:
        raise
    except CellstoreError:
        pass
