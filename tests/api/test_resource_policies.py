"""Resource-based policies (issue 21, item 9): Put/Get/DeleteResourcePolicy, and their effect under --auth sigv4."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from client_errors import error

REGION = "us-east-1"
ACCOUNT = "000000000000"
ADMIN = ("AKIDRPADMIN", "admin-secret")
READER = ("AKIDRPREADER", "reader-secret")
NOBODY = ("AKIDRPNOBODY", "nobody-secret")
READER_ARN = f"arn:aws:iam::{ACCOUNT}:user/reader"
NOBODY_ARN = f"arn:aws:iam::{ACCOUNT}:user/nobody"
KEY = {"pk": {"S": "k"}}



def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: str, actions: list[str], resource: str) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions, "Resource": resource}


class TestOperations:
    @pytest.fixture
    def arn(self, ddb: Any, hash_table: str) -> str:
        return str(ddb.describe_table(TableName=hash_table)["Table"]["TableArn"])

    def test_put_get_delete(self, ddb: Any, arn: str) -> None:
        policy = document(allow(READER_ARN, ["dynamodb:GetItem"], arn))
        revision = ddb.put_resource_policy(ResourceArn=arn, Policy=policy)["RevisionId"]
        got = ddb.get_resource_policy(ResourceArn=arn)
        assert (got["Policy"], got["RevisionId"]) == (policy, revision)
        # The same document again is the same revision (PutResourcePolicy is idempotent).
        assert ddb.put_resource_policy(ResourceArn=arn, Policy=policy)["RevisionId"] == revision
        assert ddb.delete_resource_policy(ResourceArn=arn)["RevisionId"] == revision
        assert error(ddb.get_resource_policy, ResourceArn=arn) == (
            "PolicyNotFoundException",
            f"Resource-based policy not found for the provided ResourceArn: {arn}",
        )
        assert error(ddb.delete_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"

    def test_expected_revision_ids(self, ddb: Any, arn: str) -> None:
        first = document(allow(READER_ARN, ["dynamodb:GetItem"], arn))
        second = document(allow(READER_ARN, ["dynamodb:Query"], arn))
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=first, ExpectedRevisionId="123")[0] == (
            "PolicyNotFoundException"
        )
        revision = ddb.put_resource_policy(ResourceArn=arn, Policy=first, ExpectedRevisionId="NO_POLICY")["RevisionId"]
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=second, ExpectedRevisionId="NO_POLICY")[0] == (
            "PolicyNotFoundException"
        )
        newer = ddb.put_resource_policy(ResourceArn=arn, Policy=second, ExpectedRevisionId=revision)["RevisionId"]
        assert int(newer) > int(revision)
        assert error(ddb.delete_resource_policy, ResourceArn=arn, ExpectedRevisionId=revision)[0] == (
            "PolicyNotFoundException"
        )
        assert ddb.delete_resource_policy(ResourceArn=arn, ExpectedRevisionId=newer)["RevisionId"] == newer

    def test_streams_have_their_own_policy(self, ddb: Any, table_name: str) -> None:
        created = ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]
        try:
            stream = created["LatestStreamArn"]
            policy = document(allow(READER_ARN, ["dynamodb:GetRecords"], stream))
            ddb.put_resource_policy(ResourceArn=stream, Policy=policy)
            assert ddb.get_resource_policy(ResourceArn=stream)["Policy"] == policy
            assert error(ddb.get_resource_policy, ResourceArn=created["TableArn"])[0] == "PolicyNotFoundException"
        finally:
            ddb.delete_table(TableName=table_name)

    def test_the_policy_goes_with_its_table(self, ddb: Any, table_name: str) -> None:
        def make() -> str:
            return str(
                ddb.create_table(
                    TableName=table_name,
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )["TableDescription"]["TableArn"]
            )

        arn = make()
        ddb.put_resource_policy(ResourceArn=arn, Policy=document(allow(READER_ARN, ["dynamodb:GetItem"], arn)))
        ddb.delete_table(TableName=table_name)
        assert error(ddb.get_resource_policy, ResourceArn=arn)[0] == "ResourceNotFoundException"
        make()
        try:
            assert error(ddb.get_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"
        finally:
            ddb.delete_table(TableName=table_name)

    def test_what_cannot_have_a_policy(self, ddb: Any, arn: str) -> None:
        policy = document(allow(READER_ARN, ["dynamodb:GetItem"], arn))
        index = f"{arn}/index/by-x"
        assert error(ddb.put_resource_policy, ResourceArn=index, Policy=policy) == (
            "ValidationException",
            f"Invalid ResourceArn provided as input {index}",
        )
        missing = arn.rsplit("/", 1)[0] + "/no-such-table"
        assert error(ddb.put_resource_policy, ResourceArn=missing, Policy=policy)[0] == "ResourceNotFoundException"
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy="{not json")[0] == "ValidationException"
        no_principal = json.dumps({"Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": arn}]})
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=no_principal)[0] == "ValidationException"
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=" " * (20 * 1024 + 1))[0] == "ValidationException"


class TestDocumentChecks:
    """The document is checked against the resource it is attached to, as DynamoDB checks it."""

    PREFIX = "One or more parameter values were invalid: Invalid policy document: "

    @pytest.fixture
    def arn(self, ddb: Any, hash_table: str) -> str:
        return str(ddb.describe_table(TableName=hash_table)["Table"]["TableArn"])

    def test_stream_actions_in_a_table_policy(self, ddb: Any, arn: str) -> None:
        policy = document(allow(READER_ARN, ["dynamodb:GetItem", "dynamodb:GetRecords", "dynamodb:ListStreams"], arn))
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy) == (
            "ValidationException",
            self.PREFIX + 'The following action names are invalid: "dynamodb:GetRecords", "dynamodb:ListStreams"',
        )
        assert error(ddb.get_resource_policy, ResourceArn=arn)[0] == "PolicyNotFoundException"

    def test_a_service_principal(self, ddb: Any, arn: str) -> None:
        policy = document(
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "dynamodb:GetItem",
             "Resource": arn}
        )
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy) == (
            "ValidationException", self.PREFIX + "Policy contains invalid service principal",
        )

    def test_a_resource_of_another_table(self, ddb: Any, arn: str) -> None:
        other = arn.rsplit("/", 1)[0] + "/someone-else"
        policy = document(allow(READER_ARN, ["dynamodb:GetItem"], other))
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=policy) == (
            "ValidationException",
            self.PREFIX + f'The following resources do not match the resource the policy is attached to: "{other}"',
        )

    def test_version_and_json(self, ddb: Any, arn: str) -> None:
        bad_version = json.dumps({"Version": "2020-01-01", "Statement": [allow(READER_ARN, ["dynamodb:GetItem"], arn)]})
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy=bad_version) == (
            "ValidationException", self.PREFIX + "Policy document Version must be one of 2012-10-17, 2008-10-17",
        )
        assert error(ddb.put_resource_policy, ResourceArn=arn, Policy="{not json") == (
            "ValidationException", self.PREFIX + "Policy document is not valid JSON",
        )

    def test_table_actions_in_a_stream_policy(self, ddb: Any, table_name: str) -> None:
        created = ddb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
        )["TableDescription"]
        try:
            stream = created["LatestStreamArn"]
            policy = document(allow(READER_ARN, ["dynamodb:GetRecords", "dynamodb:PutItem"], stream))
            assert error(ddb.put_resource_policy, ResourceArn=stream, Policy=policy) == (
                "ValidationException", self.PREFIX + 'The following action names are invalid: "dynamodb:PutItem"',
            )
            on_table = document(allow(READER_ARN, ["dynamodb:GetRecords"], created["TableArn"]))
            assert error(ddb.put_resource_policy, ResourceArn=stream, Policy=on_table)[0] == "ValidationException"
        finally:
            ddb.delete_table(TableName=table_name)

    def test_create_table_checks_its_policy_too(self, ddb: Any, table_name: str) -> None:
        arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_name}"
        policy = document(allow(READER_ARN, ["dynamodb:DescribeStream"], arn))
        assert error(
            ddb.create_table,
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            ResourcePolicy=policy,
        ) == ("ValidationException", self.PREFIX + 'The following action names are invalid: "dynamodb:DescribeStream"')
        assert table_name not in ddb.list_tables()["TableNames"]


# --- evaluated with identity policies under --auth sigv4 -----------------------------------


def credentials_toml() -> str:
    admin = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    reader = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": "*"},
                {"Effect": "Allow", "Action": "dynamodb:DeleteItem", "Resource": "*"},
            ],
        }
    )
    return f"""
[keys.{ADMIN[0]}]
secret = "{ADMIN[1]}"
principal = "admin"

[keys.{READER[0]}]
secret = "{READER[1]}"
principal = "reader"

[keys.{NOBODY[0]}]
secret = "{NOBODY[1]}"
principal = "nobody"

[principals.admin]
policies = ['{admin}']

[principals.reader]
policies = ['{reader}']
"""


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    directory: Path = tmp_path_factory.mktemp("resource-policies")
    (directory / "creds.toml").write_text(credentials_toml())
    return module_server_process("--in-memory", "--auth", "sigv4", "--credentials", str(directory / "creds.toml"))


def client(server: Any, key: tuple[str, str]) -> Any:
    return boto3.session.Session().client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=key[0],
        aws_secret_access_key=key[1],
        config=Config(retries={"max_attempts": 1}),
    )


@pytest.mark.server
@pytest.mark.slow
def test_resource_policies_join_identity_policies(server: Any) -> None:
    admin, reader, nobody = client(server, ADMIN), client(server, READER), client(server, NOBODY)
    arn = admin.create_table(
        TableName="guarded",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )["TableDescription"]["TableArn"]
    admin.put_item(TableName="guarded", Item=KEY)
    assert error(reader.get_item, TableName="guarded", Key=KEY) == (
        "AccessDeniedException",
        (f"User: {READER_ARN} is not authorized to perform: dynamodb:GetItem on resource: {arn} "
        "because no identity-based policy allows the dynamodb:GetItem action"),
    )
    policy = document(
        allow(READER_ARN, ["dynamodb:GetItem", "dynamodb:Query"], arn),
        allow(READER_ARN, ["dynamodb:Query"], f"{arn}/index/*"),
        {"Effect": "Deny", "Principal": {"AWS": READER_ARN}, "Action": "dynamodb:DeleteItem", "Resource": arn},
    )
    admin.put_resource_policy(ResourceArn=arn, Policy=policy)
    # An Allow in the resource policy is enough (same account) ...
    assert reader.get_item(TableName="guarded", Key=KEY)["Item"] == KEY
    assert reader.get_item(TableName=arn, Key=KEY)["Item"] == KEY  # named by its ARN too
    # ... the identity policy still allows what it allows ...
    reader.put_item(TableName="guarded", Item={"pk": {"S": "other"}})
    # ... and an explicit Deny in the resource policy beats the identity policy's Allow.
    assert error(reader.delete_item, TableName="guarded", Key=KEY) == (
        "AccessDeniedException",
        (f"User: {READER_ARN} is not authorized to perform: dynamodb:DeleteItem on resource: {arn} "
        "with an explicit deny in a resource-based policy"),
    )
    # A principal the policy does not name gains nothing from it.
    assert error(nobody.get_item, TableName="guarded", Key=KEY)[0] == "AccessDeniedException"
    # Deleting the policy takes its grants and denials away.
    admin.delete_resource_policy(ResourceArn=arn)
    assert error(reader.get_item, TableName="guarded", Key=KEY)[0] == "AccessDeniedException"
    reader.delete_item(TableName="guarded", Key=KEY)


def test_create_table_attaches_its_resource_policy(ddb: Any, table_name: str) -> None:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_name}"
    policy = document(allow(READER_ARN, ["dynamodb:GetItem"], arn))
    ddb.create_table(
        TableName=table_name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        ResourcePolicy=policy,
    )
    try:
        assert ddb.get_resource_policy(ResourceArn=arn)["Policy"] == policy
    finally:
        ddb.delete_table(TableName=table_name)
