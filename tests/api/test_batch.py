"""BatchWriteItem and BatchGetItem through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def test_write_then_get(ddb: Any, hash_table: str) -> None:
    puts = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(25)]
    response = ddb.batch_write_item(RequestItems={hash_table: puts})
    assert response["UnprocessedItems"] == {}
    keys = [{"pk": {"S": f"k{i}"}} for i in range(30)]
    got = ddb.batch_get_item(RequestItems={hash_table: {"Keys": keys, "ProjectionExpression": "v"}})
    assert sorted(int(i["v"]["N"]) for i in got["Responses"][hash_table]) == list(range(25))
    assert got["UnprocessedKeys"] == {}
    deletes = [{"DeleteRequest": {"Key": {"pk": {"S": f"k{i}"}}}} for i in range(10)]
    ddb.batch_write_item(RequestItems={hash_table: deletes})
    assert ddb.scan(TableName=hash_table, Select="COUNT")["Count"] == 15


def test_resource_batch_writer(ddb_resource: Any, hash_table: str) -> None:
    table = ddb_resource.Table(hash_table)
    with table.batch_writer() as writer:
        for i in range(60):
            writer.put_item(Item={"pk": f"w{i}", "n": i})
    assert table.scan(Select="COUNT")["Count"] == 60


def test_limits_and_duplicates(ddb: Any, hash_table: str) -> None:
    too_many = [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(26)]
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={hash_table: too_many})
    assert error(excinfo)[0] == "ValidationException"
    duplicate = [{"PutRequest": {"Item": {"pk": {"S": "same"}}}}, {"DeleteRequest": {"Key": {"pk": {"S": "same"}}}}]
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={hash_table: duplicate})
    assert error(excinfo) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_get_item(RequestItems={hash_table: {"Keys": [{"pk": {"S": "a"}}, {"pk": {"S": "a"}}]}})
    assert error(excinfo) == ("ValidationException", "Provided list of item keys contains duplicates")
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_get_item(RequestItems={hash_table: {"Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}})
    assert error(excinfo)[0] == "ValidationException"


def test_missing_table(ddb: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.batch_write_item(RequestItems={"no-such-table": [{"PutRequest": {"Item": {"pk": {"S": "a"}}}}]})
    assert error(excinfo)[0] == "ResourceNotFoundException"


def test_batch_write_is_all_or_nothing_on_validation_error(ddb: Any, hash_table: str) -> None:
    bad = [{"PutRequest": {"Item": {"pk": {"S": "ok"}}}}, {"PutRequest": {"Item": {"pk": {"N": "1"}}}}]
    with pytest.raises(ClientError):
        ddb.batch_write_item(RequestItems={hash_table: bad})
    assert "Item" not in ddb.get_item(TableName=hash_table, Key={"pk": {"S": "ok"}})


def test_write_request_must_be_exactly_one_of_put_or_delete(ddb: Any, hash_table: str) -> None:
    both = {"PutRequest": {"Item": {"pk": {"S": "a"}}}, "DeleteRequest": {"Key": {"pk": {"S": "a"}}}}
    for entry in (both, {}):
        with pytest.raises(ClientError) as excinfo:
            ddb.batch_write_item(RequestItems={hash_table: [entry]})
        assert error(excinfo)[0] == "ValidationException"
    assert ddb.scan(TableName=hash_table, Select="COUNT")["Count"] == 0
