"""Accounts (tenants) through boto3: each account its own tables, queues and ARNs (engine/tenants.py).

With ``--auth none`` a 12-digit access key id is the account (the convention
LocalStack users know); any other key is the default account.  With ``--auth
sigv4`` the principal's ``account`` in the credentials file is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ALICE = "111111111111"
BOB = "222222222222"
DEFAULT = "000000000000"
REGION = "us-east-1"


def client(endpoint: str, service: str, key: str, secret: str = "x") -> Any:
    return boto3.session.Session().client(
        service, region_name=REGION, endpoint_url=endpoint, aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def create_orders(ddb: Any) -> dict[str, Any]:
    description: dict[str, Any] = ddb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    return description


@pytest.fixture(scope="module")
def endpoint(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    data = tmp_path_factory.mktemp("accounts")
    url: str = module_server_process("--data-dir", str(data)).endpoint_url
    return url


def test_two_accounts_each_have_a_table_named_orders(endpoint: str) -> None:
    alice, bob, anon = (client(endpoint, "dynamodb", key) for key in (ALICE, BOB, "AKIDEXAMPLE"))
    a, b = create_orders(alice), create_orders(bob)
    assert a["TableArn"] == f"arn:aws:dynamodb:{REGION}:{ALICE}:table/orders"
    assert b["TableArn"] == f"arn:aws:dynamodb:{REGION}:{BOB}:table/orders"
    assert f":{ALICE}:table/orders/stream/" in a["LatestStreamArn"]
    alice.put_item(TableName="orders", Item={"pk": {"S": "1"}, "who": {"S": "alice"}})
    bob.put_item(TableName="orders", Item={"pk": {"S": "1"}, "who": {"S": "bob"}})
    bob.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "2"}, "who": {"S": "bob"}}}},
        {"Update": {"TableName": "orders", "Key": {"pk": {"S": "1"}}, "UpdateExpression": "SET n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
    ])
    assert alice.get_item(TableName="orders", Key={"pk": {"S": "1"}})["Item"]["who"] == {"S": "alice"}
    assert bob.get_item(TableName="orders", Key={"pk": {"S": "1"}})["Item"]["n"] == {"N": "1"}
    assert alice.scan(TableName="orders")["Count"] == 1
    assert bob.scan(TableName="orders")["Count"] == 2
    assert "orders" not in anon.list_tables()["TableNames"]  # the default account has none
    with pytest.raises(anon.exceptions.ResourceNotFoundException):
        anon.describe_table(TableName="orders")
    # A table ARN of another account is not this account's table.
    with pytest.raises(alice.exceptions.ResourceNotFoundException):
        alice.describe_table(TableName=b["TableArn"])
    alice.delete_table(TableName="orders")
    with pytest.raises(alice.exceptions.ResourceNotFoundException):
        alice.describe_table(TableName="orders")
    assert bob.describe_table(TableName="orders")["Table"]["TableStatus"] == "ACTIVE"  # another account's: untouched
    assert bob.scan(TableName="orders")["Count"] == 2
    streams = client(endpoint, "dynamodbstreams", BOB)
    assert [s["StreamArn"] for s in streams.list_streams(TableName="orders")["Streams"]] == [b["LatestStreamArn"]]


def test_queues_are_per_account(endpoint: str) -> None:
    alice, bob = client(endpoint, "sqs", ALICE), client(endpoint, "sqs", BOB)
    a_url = alice.create_queue(QueueName="jobs")["QueueUrl"]
    b_url = bob.create_queue(QueueName="jobs")["QueueUrl"]
    assert a_url.endswith(f"/{ALICE}/jobs") and b_url.endswith(f"/{BOB}/jobs")
    arn = alice.get_queue_attributes(QueueUrl=a_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert arn == f"arn:aws:sqs:{REGION}:{ALICE}:jobs"
    alice.send_message(QueueUrl=a_url, MessageBody="for alice")
    assert "Messages" not in bob.receive_message(QueueUrl=b_url, WaitTimeSeconds=0)
    got = alice.receive_message(QueueUrl=a_url, WaitTimeSeconds=0)["Messages"]
    assert [m["Body"] for m in got] == ["for alice"]
    assert bob.list_queues().get("QueueUrls") == [b_url]


def test_accounts_survive_a_restart(server_process: Callable[..., Any], tmp_path: Path) -> None:
    """An account's data is in the data directory, found again (and its background work restarted) on start."""
    data = tmp_path / "data"
    first = server_process("--data-dir", str(data))
    create_orders(client(first.endpoint_url, "dynamodb", ALICE))
    client(first.endpoint_url, "dynamodb", ALICE).put_item(TableName="orders", Item={"pk": {"S": "k"}})
    first.kill()
    second = server_process("--data-dir", str(data))
    alice = client(second.endpoint_url, "dynamodb", ALICE)
    assert alice.get_item(TableName="orders", Key={"pk": {"S": "k"}}, ConsistentRead=True)["Item"] == {"pk": {"S": "k"}}
    assert client(second.endpoint_url, "dynamodb", DEFAULT).list_tables()["TableNames"] == []


def test_signed_principals_act_in_their_own_account(server_process: Callable[..., Any], tmp_path: Path) -> None:
    creds = tmp_path / "creds.toml"
    allow = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'
    creds.write_text(f"""
[keys.AKIAALICE]
secret = "alice-secret"
principal = "alice"
[keys.AKIADEFAULT]
secret = "default-secret"
principal = "ops"
[principals.alice]
account = "{ALICE}"
policies = ['{allow}']
[principals.ops]
policies = ['{allow}']
""")
    served = server_process("--in-memory", "--auth", "sigv4", "--credentials", str(creds))
    alice = client(served.endpoint_url, "dynamodb", "AKIAALICE", "alice-secret")
    ops = client(served.endpoint_url, "dynamodb", "AKIADEFAULT", "default-secret")
    assert create_orders(alice)["TableArn"] == f"arn:aws:dynamodb:{REGION}:{ALICE}:table/orders"
    assert ops.list_tables()["TableNames"] == []
    assert create_orders(ops)["TableArn"] == f"arn:aws:dynamodb:{REGION}:{DEFAULT}:table/orders"


def test_an_account_in_the_credentials_file_must_be_twelve_digits(tmp_path: Path) -> None:
    from cellstore.protocol.credentials import CredentialsError, load

    creds = tmp_path / "creds.toml"
    creds.write_text('[keys.K]\nsecret = "s"\nprincipal = "p"\n[principals.p]\naccount = "12345"\n')
    with pytest.raises(CredentialsError, match=r"principals\.p\.account must be a 12-digit account id"):
        load(creds)
