"""TransactWriteItems and TransactGetItems through boto3."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError


def error(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    err = excinfo.value.response["Error"]
    return err["Code"], err["Message"]


def balance(ddb: Any, table: str, account: str) -> int:
    return int(ddb.get_item(TableName=table, Key={"pk": {"S": account}}, ConsistentRead=True)["Item"]["balance"]["N"])


def transfer(table: str, source: str, target: str, amount: int) -> list[dict[str, Any]]:
    return [
        {"Update": {"TableName": table, "Key": {"pk": {"S": source}},
                    "UpdateExpression": "SET balance = balance - :a", "ConditionExpression": "balance >= :a",
                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
        {"Update": {"TableName": table, "Key": {"pk": {"S": target}},
                    "UpdateExpression": "SET balance = balance + :a",
                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
    ]


@pytest.fixture
def accounts(ddb: Any, hash_table: str) -> str:
    for name, amount in (("alice", 100), ("bob", 0)):
        ddb.put_item(TableName=hash_table, Item={"pk": {"S": name}, "balance": {"N": str(amount)}})
    return hash_table


def test_all_actions_apply_together(ddb: Any, accounts: str) -> None:
    ddb.transact_write_items(TransactItems=[
        *transfer(accounts, "alice", "bob", 30),
        {"Put": {"TableName": accounts, "Item": {"pk": {"S": "carol"}, "balance": {"N": "5"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"ConditionCheck": {"TableName": accounts, "Key": {"pk": {"S": "audit"}},
                            "ConditionExpression": "attribute_not_exists(pk)"}},
    ])
    assert balance(ddb, accounts, "alice") == 70
    assert balance(ddb, accounts, "bob") == 30
    assert balance(ddb, accounts, "carol") == 5


def test_cancellation_reasons_in_order_and_nothing_applied(ddb: Any, accounts: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            *transfer(accounts, "bob", "alice", 1),  # bob has 0: the condition fails
            {"Delete": {"TableName": accounts, "Key": {"pk": {"S": "zed"}},
                        "ConditionExpression": "attribute_exists(pk)", "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    code, message = error(excinfo)
    assert code == "TransactionCanceledException"
    assert message == ("Transaction cancelled, please refer cancellation reasons for specific reasons "
                       "[ConditionalCheckFailed, None, ConditionalCheckFailed]")
    reasons = excinfo.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None", "ConditionalCheckFailed"]
    assert balance(ddb, accounts, "alice") == 100


def test_failed_condition_returns_old_item_when_asked(ddb: Any, accounts: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": accounts, "Key": {"pk": {"S": "alice"}},
                                "ConditionExpression": "balance > :big", "ExpressionAttributeValues": {":big": {"N": "1000"}},
                                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
        ])
    reason = excinfo.value.response["CancellationReasons"][0]
    assert reason["Item"] == {"pk": {"S": "alice"}, "balance": {"N": "100"}}


def test_data_error_in_update_is_a_validation_error_reason(ddb: Any, accounts: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": accounts, "Key": {"pk": {"S": "alice"}}, "UpdateExpression": "SET balance = nothere + :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        ])
    reason = excinfo.value.response["CancellationReasons"][0]
    assert reason["Code"] == "ValidationError"
    assert reason["Message"] == "The provided expression refers to an attribute that does not exist in the item"


def test_two_actions_on_one_item_are_refused(ddb: Any, accounts: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=transfer(accounts, "alice", "alice", 1))
    assert error(excinfo) == ("ValidationException", "Transaction request cannot include multiple operations on one item")


def test_idempotent_token(ddb: Any, accounts: str) -> None:
    items = transfer(accounts, "alice", "bob", 10)
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
    ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")  # a retry after a timeout
    assert balance(ddb, accounts, "alice") == 90
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=transfer(accounts, "alice", "bob", 11), ClientRequestToken="token-1")
    assert error(excinfo)[0] == "IdempotentParameterMismatchException"
    assert balance(ddb, accounts, "alice") == 90


def test_transact_get_with_projection(ddb: Any, accounts: str) -> None:
    response = ddb.transact_get_items(TransactItems=[
        {"Get": {"TableName": accounts, "Key": {"pk": {"S": "alice"}}, "ProjectionExpression": "balance"}},
        {"Get": {"TableName": accounts, "Key": {"pk": {"S": "nobody"}}}},
    ], ReturnConsumedCapacity="TOTAL")
    assert response["Responses"][0] == {"Item": {"balance": {"N": "100"}}}
    assert response["Responses"][1] == {}
    assert response["ConsumedCapacity"][0]["CapacityUnits"] == 4.0


def test_transactional_capacity_is_doubled(ddb: Any, accounts: str) -> None:
    response = ddb.transact_write_items(TransactItems=transfer(accounts, "alice", "bob", 1), ReturnConsumedCapacity="TOTAL")
    assert response["ConsumedCapacity"] == [{"TableName": accounts, "CapacityUnits": 4.0, "WriteCapacityUnits": 4.0}]


def test_too_many_actions(ddb: Any, hash_table: str) -> None:
    actions = [{"Put": {"TableName": hash_table, "Item": {"pk": {"S": f"k{i}"}}}} for i in range(101)]
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=actions)
    assert error(excinfo)[0] == "ValidationException"
    assert "Member must have length less than or equal to 100" in error(excinfo)[1]


def test_missing_table(ddb: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        ddb.transact_write_items(TransactItems=[{"Put": {"TableName": "no-such-table", "Item": {"pk": {"S": "a"}}}}])
    assert error(excinfo)[0] == "ResourceNotFoundException"
