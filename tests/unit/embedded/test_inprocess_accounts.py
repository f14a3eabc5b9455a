"""``in_process()`` clients act in an account as the server's do under ``--auth none``: a 12-digit access key id."""

from __future__ import annotations

import time
from typing import Any

import boto3
import pytest

from cellstore.embedded import in_process

ALICE = "111111111111"


def client(store: Any, service: str, access_key: str) -> Any:
    made = boto3.client(service, endpoint_url=store.endpoint_url, region_name="us-east-1",
                        aws_access_key_id=access_key, aws_secret_access_key="secret")
    store.router.attach(made)
    return made


def make_orders(ddb: Any) -> str:
    return str(ddb.create_table(
        TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )["TableDescription"]["TableArn"])


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "wire"])
def test_a_12_digit_access_key_is_an_account_of_its_own(fast: bool) -> None:
    with in_process(fast=fast) as store:
        alice, default = client(store, "dynamodb", ALICE), client(store, "dynamodb", "anything-else")
        assert make_orders(alice) == f"arn:aws:dynamodb:us-east-1:{ALICE}:table/orders"
        assert make_orders(default) == "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
        alice.put_item(TableName="orders", Item={"pk": {"S": "alice's"}})
        assert "Item" not in default.get_item(TableName="orders", Key={"pk": {"S": "alice's"}})
        assert alice.get_item(TableName="orders", Key={"pk": {"S": "alice's"}})["Item"] == {"pk": {"S": "alice's"}}
        assert store.client().list_tables()["TableNames"] == ["orders"]  # the default client: the default account
        streams = client(store, "dynamodbstreams", ALICE)
        (found,) = streams.list_streams()["Streams"]
        assert found["StreamArn"].startswith(f"arn:aws:dynamodb:us-east-1:{ALICE}:table/orders/stream/")
        sqs_alice, sqs_default = client(store, "sqs", ALICE), client(store, "sqs", "anything-else")
        url = sqs_alice.create_queue(QueueName="jobs")["QueueUrl"]
        assert ALICE in url
        assert sqs_default.list_queues().get("QueueUrls", []) == []
        sqs_alice.send_message(QueueUrl=url, MessageBody="hello")
        assert [m["Body"] for m in sqs_alice.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]] == ["hello"]


def test_an_account_persists_and_its_ttl_sweep_runs_after_a_reopen(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELLSTORE_TTL_INTERVAL", "0.1")
    with in_process(tmp_path) as store:
        alice = client(store, "dynamodb", ALICE)
        make_orders(alice)
        alice.update_time_to_live(TableName="orders",
                                  TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires"})
        alice.put_item(TableName="orders", Item={"pk": {"S": "kept"}})
    with in_process(tmp_path) as store:
        alice = client(store, "dynamodb", ALICE)
        assert [item["pk"]["S"] for item in alice.scan(TableName="orders")["Items"]] == ["kept"]
        assert store.client().list_tables()["TableNames"] == []  # the default account has no table
        alice.put_item(TableName="orders", Item={"pk": {"S": "gone"}, "expires": {"N": str(int(time.time()) - 60)}})
        deadline = time.monotonic() + 10
        while len(alice.scan(TableName="orders")["Items"]) > 1:
            assert time.monotonic() < deadline, "the expired item of a non-default account was never swept"
            time.sleep(0.1)
