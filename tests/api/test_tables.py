"""CreateTable, DescribeTable, ListTables, DeleteTable, UpdateTable, DescribeLimits, DescribeEndpoints via boto3.

Validation tests that botocore would catch client-side use ``raw``, a client
with botocore's parameter validation off, so the server's message is what
the test sees — as a client in another language would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
DEFINITIONS = [{"AttributeName": "pk", "AttributeType": "S"}]
INVALID = "One or more parameter values were invalid: "


@pytest.fixture
def made(ddb: Any, table_name: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create tables through ``made(**CreateTable params)``; whatever still exists is deleted afterwards."""
    names: list[str] = []

    def make(**params: Any) -> dict[str, Any]:
        params.setdefault("TableName", table_name)
        params.setdefault("KeySchema", KEY)
        params.setdefault("AttributeDefinitions", DEFINITIONS)
        if "ProvisionedThroughput" not in params:
            params.setdefault("BillingMode", "PAY_PER_REQUEST")
        names.append(params["TableName"])
        return ddb.create_table(**params)["TableDescription"]

    yield make
    for name in names:
        try:
            ddb.update_table(TableName=name, DeletionProtectionEnabled=False)
            ddb.delete_table(TableName=name)
        except ddb.exceptions.ResourceNotFoundException:
            pass


def error(call: Callable[..., Any], **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def validation(call: Callable[..., Any], **params: Any) -> str:
    code, message = error(call, **params)
    assert code == "ValidationException", message
    return message


# ---- CreateTable ---------------------------------------------------------------


class TestCreateTableSerialization:
    def test_billing_mode_not_a_string(self, raw: Any, table_name: str) -> None:
        code, message = error(
            raw.create_table, TableName=table_name, KeySchema=KEY, AttributeDefinitions=DEFINITIONS, BillingMode=123
        )
        assert (code, message) == ("SerializationException", "NUMBER_VALUE can not be converted to a String")

    def test_throughput_not_a_number(self, raw: Any, table_name: str) -> None:
        code, message = error(
            raw.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS,
            ProvisionedThroughput={"ReadCapacityUnits": "five", "WriteCapacityUnits": 5},
        )
        assert (code, message) == ("SerializationException", "STRING_VALUE can not be converted to an Integer")


class TestCreateTableValidation:
    def test_missing_everything(self, raw: Any) -> None:
        assert validation(raw.create_table) == (
            "3 validation errors detected: "
            "Value null at 'attributeDefinitions' failed to satisfy constraint: Member must not be null; "
            "Value null at 'tableName' failed to satisfy constraint: Member must not be null; "
            "Value null at 'keySchema' failed to satisfy constraint: Member must not be null"
        )

    def test_member_constraints_in_one_message(self, raw: Any) -> None:
        message = validation(
            raw.create_table,
            TableName="ab",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASHY"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "Z"}],
            ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 1},
        )
        assert message == (
            "4 validation errors detected: "
            "Value 'Z' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [B, N, S]; "
            "Value 'ab' at 'tableName' failed to satisfy constraint: Member must have length greater than or equal to 3; "
            "Value 'HASHY' at 'keySchema.1.member.keyType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [HASH, RANGE]; "
            "Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1"
        )

    def test_table_name_pattern(self, raw: Any) -> None:
        message = validation(
            raw.create_table, TableName="a b", KeySchema=KEY, AttributeDefinitions=DEFINITIONS, BillingMode="PAY_PER_REQUEST"
        )
        assert message == (
            "1 validation error detected: Value 'a b' at 'tableName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )

    def test_too_many_keys(self, raw: Any, table_name: str) -> None:
        schema = [{"AttributeName": name, "KeyType": "HASH"} for name in ("a", "b", "c")]
        message = validation(
            raw.create_table, TableName=table_name, KeySchema=schema, AttributeDefinitions=DEFINITIONS
        )
        assert message == (
            "1 validation error detected: Value '[KeySchemaElement(attributeName=a, keyType=HASH), "
            "KeySchemaElement(attributeName=b, keyType=HASH), KeySchemaElement(attributeName=c, keyType=HASH)]' "
            "at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2"
        )

    @pytest.mark.parametrize(
        ("schema", "expected"),
        [
            (
                [{"AttributeName": "pk", "KeyType": "RANGE"}],
                "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
            ),
            (
                [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "HASH"}],
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
            ),
            (
                [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}],
                "Invalid KeySchema: Some index key attribute have no definition",  # AWS's observed answer
            ),
        ],
    )
    def test_key_schema_rules(self, ddb: Any, table_name: str, schema: list[dict[str, str]], expected: str) -> None:
        definitions = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}]
        message = validation(
            ddb.create_table, TableName=table_name, KeySchema=schema, AttributeDefinitions=definitions, BillingMode="PAY_PER_REQUEST"
        )
        assert message == expected

    def test_key_not_defined(self, ddb: Any, table_name: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert message == (
            f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
            "Keys: [pk, sk], AttributeDefinitions: [other]"
        )

    def test_extra_attribute_definition(self, ddb: Any, table_name: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS + [{"AttributeName": "extra", "AttributeType": "N"}],
            BillingMode="PAY_PER_REQUEST",
        )
        assert message == (
            f"{INVALID}Number of attributes in KeySchema does not exactly match number of attributes defined "
            "in AttributeDefinitions"
        )

    def test_provisioned_needs_throughput(self, ddb: Any, table_name: str) -> None:
        message = validation(ddb.create_table, TableName=table_name, KeySchema=KEY, AttributeDefinitions=DEFINITIONS)
        assert message == (
            f"{INVALID}ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        )

    def test_pay_per_request_forbids_throughput(self, ddb: Any, table_name: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        )
        assert message == (
            f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
        )

    def test_stream_disabled_with_view_type(self, ddb: Any, table_name: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": False, "StreamViewType": "NEW_IMAGE"},
        )
        assert message == (
            f"{INVALID}Table is being created with a stream disabled, UpdateViewType should not be specified"
        )

    def test_stream_enabled_without_view_type(self, ddb: Any, table_name: str) -> None:
        validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True},
        )

    def test_tag_constraints(self, raw: Any, table_name: str) -> None:
        message = validation(
            raw.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS,
            BillingMode="PAY_PER_REQUEST",
            Tags=[{"Key": "", "Value": "v"}, {"Key": "k" * 129, "Value": "v" * 257}],
        )
        assert message.startswith("3 validation errors detected: ")
        assert "Value '' at 'tags.1.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1" in message
        assert "at 'tags.2.member.value' failed to satisfy constraint: Member must have length less than or equal to 256" in message

    def test_valid_index_is_accepted(self, ddb: Any, table_name: str) -> None:
        ddb.create_table(
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS + [{"AttributeName": "g", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[
                {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}
            ],
        )
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert [index["IndexName"] for index in table["GlobalSecondaryIndexes"]] == ["by-g"]
        ddb.delete_table(TableName=table_name)

    @pytest.mark.parametrize(
        ("index", "expected"),
        [
            (
                {"IndexName": "by-g", "KeySchema": [{"AttributeName": "nope", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
                (f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. Keys: [nope], "
                "AttributeDefinitions: [pk, g]"),
            ),
            (
                {"IndexName": "by-g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "INCLUDE"}},
                f"{INVALID}ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
            ),
            (
                {
                    "IndexName": "by-g",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                },
                f"{INVALID}ProvisionedThroughput should not be specified for index: by-g when BillingMode is PAY_PER_REQUEST",
            ),
        ],
    )
    def test_invalid_index(self, ddb: Any, table_name: str, index: dict[str, Any], expected: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS + [{"AttributeName": "g", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[index],
        )
        assert message == expected

    def test_local_index_needs_table_range_key(self, ddb: Any, table_name: str) -> None:
        message = validation(
            ddb.create_table,
            TableName=table_name,
            KeySchema=KEY,
            AttributeDefinitions=DEFINITIONS + [{"AttributeName": "l", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            LocalSecondaryIndexes=[
                {
                    "IndexName": "by-l",
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "l", "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
        assert message == (
            f"{INVALID}Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex"
        )


class TestCreateTableFunctionality:
    def test_response_shape(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        description = made(ProvisionedThroughput={"ReadCapacityUnits": 2, "WriteCapacityUnits": 3})
        assert description["TableStatus"] == "CREATING"
        assert description["TableName"] == table_name
        assert description["KeySchema"] == KEY
        assert description["AttributeDefinitions"] == DEFINITIONS
        assert description["ProvisionedThroughput"] == {
            "NumberOfDecreasesToday": 0,
            "ReadCapacityUnits": 2,
            "WriteCapacityUnits": 3,
        }
        assert description["ItemCount"] == 0 and description["TableSizeBytes"] == 0
        assert description["TableArn"].endswith(f":table/{table_name}")
        assert description["TableArn"].startswith("arn:aws:dynamodb:")
        assert len(description["TableId"]) == 36
        assert description["DeletionProtectionEnabled"] is False
        assert description["CreationDateTime"].year >= 2024

    def test_usable_at_once(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}})
        assert ddb.describe_table(TableName=table_name)["Table"]["ItemCount"] == 1

    def test_existing_table(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        code, message = error(made)
        assert (code, message) == ("ResourceInUseException", f"Table already exists: {table_name}")

    def test_pay_per_request_options(self, made: Callable[..., dict[str, Any]]) -> None:
        description = made(
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            TableClass="STANDARD_INFREQUENT_ACCESS",
            DeletionProtectionEnabled=True,
        )
        assert description["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert description["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
        assert description["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert description["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"
        assert description["DeletionProtectionEnabled"] is True


# ---- DescribeTable / ListTables / DeleteTable -------------------------------------


class TestDescribeTable:
    def test_validation(self, raw: Any) -> None:
        assert validation(raw.describe_table, TableName="x") == (
            "1 validation error detected: Value 'x' at 'tableName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 3"
        )

    def test_unknown(self, ddb: Any, table_name: str) -> None:
        assert error(ddb.describe_table, TableName=table_name) == (
            "ResourceNotFoundException",
            f"Requested resource not found: Table: {table_name} not found",
        )

    def test_active_with_counts(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}, "x": {"S": "hello"}})
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["ItemCount"] == 1 and table["TableSizeBytes"] > 0

    def test_by_arn(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        arn = made()["TableArn"]
        assert ddb.describe_table(TableName=arn)["Table"]["TableName"] == table_name


class TestListTables:
    def test_validation(self, raw: Any) -> None:
        assert validation(raw.list_tables, Limit=101, ExclusiveStartTableName="a") == (
            "2 validation errors detected: "
            "Value 'a' at 'exclusiveStartTableName' failed to satisfy constraint: "
            "Member must have length greater than or equal to 3; "
            "Value '101' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 100"
        )

    def test_pages(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        names = sorted(f"{table_name}-{i}" for i in range(5))
        for name in names:
            made(TableName=name)
        first = ddb.list_tables(ExclusiveStartTableName=table_name, Limit=3)
        assert first["TableNames"] == names[:3]
        assert first["LastEvaluatedTableName"] == names[2]
        listed = [
            name
            for page in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2})
            for name in page["TableNames"]
        ]
        assert [name for name in listed if name.startswith(f"{table_name}-")] == names

    def test_no_last_evaluated_when_none_remain(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made(TableName=f"{table_name}-a")
        made(TableName=f"{table_name}-b")
        names = [n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]]
        page = ddb.list_tables(ExclusiveStartTableName=names[-2], Limit=1)
        assert page["TableNames"] == names[-1:]
        assert "LastEvaluatedTableName" not in page


class TestDeleteTable:
    def test_unknown(self, ddb: Any, table_name: str) -> None:
        assert error(ddb.delete_table, TableName=table_name) == (
            "ResourceNotFoundException",
            f"Requested resource not found: Table: {table_name} not found",
        )

    def test_deleting_then_gone(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        description = ddb.delete_table(TableName=table_name)["TableDescription"]
        assert description["TableStatus"] == "DELETING"
        assert description["TableName"] == table_name
        ddb.get_waiter("table_not_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 1})
        assert table_name not in ddb.list_tables()["TableNames"]

    def test_recreated_table_starts_empty(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        ddb.put_item(TableName=table_name, Item={"pk": {"S": "a"}})
        ddb.delete_table(TableName=table_name)
        made()
        assert ddb.scan(TableName=table_name)["Items"] == []
        assert ddb.describe_table(TableName=table_name)["Table"]["ItemCount"] == 0

    def test_deletion_protection(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made(DeletionProtectionEnabled=True)
        assert validation(ddb.delete_table, TableName=table_name) == (
            "Resource cannot be deleted as it is currently protected against deletion. "
            "Disable deletion protection first."
        )
        ddb.update_table(TableName=table_name, DeletionProtectionEnabled=False)
        ddb.delete_table(TableName=table_name)


# ---- UpdateTable ---------------------------------------------------------------


class TestUpdateTable:
    def test_nothing_to_update(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        assert validation(ddb.update_table, TableName=table_name) == (
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
            "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required"
        )

    def test_validation(self, raw: Any, table_name: str) -> None:
        assert validation(
            raw.update_table, TableName=table_name, BillingMode="FREE", ProvisionedThroughput={"ReadCapacityUnits": 1}
        ) == (
            "2 validation errors detected: "
            "Value 'FREE' at 'billingMode' failed to satisfy constraint: "
            "Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]; "
            "Value null at 'provisionedThroughput.writeCapacityUnits' failed to satisfy constraint: "
            "Member must not be null"
        )

    def test_unknown(self, ddb: Any, table_name: str) -> None:
        assert error(ddb.update_table, TableName=table_name, DeletionProtectionEnabled=True) == (
            "ResourceNotFoundException",
            f"Requested resource not found: Table: {table_name} not found",
        )

    def test_throughput(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made(ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        description = ddb.update_table(
            TableName=table_name, ProvisionedThroughput={"ReadCapacityUnits": 6, "WriteCapacityUnits": 4}
        )["TableDescription"]
        assert description["TableStatus"] == "UPDATING"
        throughput = ddb.describe_table(TableName=table_name)["Table"]["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (6, 4)
        assert throughput["NumberOfDecreasesToday"] == 1
        ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 1})

    def test_unchanged_throughput(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made(ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
        assert validation(
            ddb.update_table, TableName=table_name, ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        ) == (
            "The provisioned throughput for the table will not change. The requested value equals the current value. "
            "Current ReadCapacityUnits provisioned for the table: 5. Requested ReadCapacityUnits: 5. "
            "Current WriteCapacityUnits provisioned for the table: 5. Requested WriteCapacityUnits: 5. "
            "Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
        )

    def test_switch_billing_mode(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        assert validation(
            ddb.update_table, TableName=table_name, BillingMode="PROVISIONED"
        ) == f"{INVALID}ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        assert validation(
            ddb.update_table, TableName=table_name, ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}
        ) == f"{INVALID}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
        ddb.update_table(
            TableName=table_name,
            BillingMode="PROVISIONED",
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 2},
        )
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert table["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
        assert table["ProvisionedThroughput"]["WriteCapacityUnits"] == 2

    def test_streams(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        ddb.update_table(TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}
        assert validation(
            ddb.update_table, TableName=table_name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        ) == f"Table already has an enabled stream: TableName: {table_name}"

    def test_deletion_protection_and_class(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        ddb.update_table(TableName=table_name, DeletionProtectionEnabled=True, TableClass="STANDARD_INFREQUENT_ACCESS")
        table = ddb.describe_table(TableName=table_name)["Table"]
        assert table["DeletionProtectionEnabled"] is True
        assert table["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"

    def test_index_updates_are_accepted(self, ddb: Any, made: Callable[..., dict[str, Any]], table_name: str) -> None:
        made()
        description = ddb.update_table(
            TableName=table_name,
            AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": "by-g",
                        "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )["TableDescription"]
        assert description["GlobalSecondaryIndexes"][0]["IndexName"] == "by-g"


# ---- DescribeLimits / DescribeEndpoints --------------------------------------------


def test_describe_limits(ddb: Any) -> None:
    limits = ddb.describe_limits()
    assert {key: value for key, value in limits.items() if key != "ResponseMetadata"} == {
        "AccountMaxReadCapacityUnits": 80000,
        "AccountMaxWriteCapacityUnits": 80000,
        "TableMaxReadCapacityUnits": 40000,
        "TableMaxWriteCapacityUnits": 40000,
    }


def test_describe_endpoints(ddb: Any) -> None:
    endpoints = ddb.describe_endpoints()["Endpoints"]
    # Over HTTP the address is the host the client used (tests/api/test_http_edge.py).
    assert [endpoint["CachePeriodInMinutes"] for endpoint in endpoints] == [1440]
