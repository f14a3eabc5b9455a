"""cellstore's own pytest plugin, used the way the README shows."""

from __future__ import annotations

from typing import Any

from cellstore.embedded import Cellstore


def create_users(client: Any) -> None:
    client.create_table(
        TableName="users",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )


def test_signup(dynamodb_client: Any) -> None:
    create_users(dynamodb_client)
    assert dynamodb_client.list_tables()["TableNames"] == ["users"]


def test_each_test_gets_a_fresh_database(dynamodb_client: Any) -> None:
    assert dynamodb_client.list_tables()["TableNames"] == []
    create_users(dynamodb_client)  # the same name again: no clash with test_signup


def test_resource_shares_the_clients_database(dynamodb_client: Any, dynamodb_resource: Any) -> None:
    create_users(dynamodb_client)
    dynamodb_resource.Table("users").put_item(Item={"id": "ada", "born": 1815})
    item = dynamodb_client.get_item(TableName="users", Key={"id": {"S": "ada"}})["Item"]
    assert item == {"id": {"S": "ada"}, "born": {"N": "1815"}}


def test_session_server(cellstore_server: Cellstore, cellstore_endpoint: str) -> None:
    assert cellstore_endpoint == cellstore_server.endpoint_url
    assert cellstore_endpoint.startswith("http://127.0.0.1:")
    assert "TableNames" in cellstore_server.client().list_tables()
