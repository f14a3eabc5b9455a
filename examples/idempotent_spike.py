"""A spike of writes made safe to retry: TransactWriteItems with ClientRequestToken.

A marketing blast creates an order and decrements stock in one transaction per
request. The token is derived from the request itself, so a client that times
out and retries (or a queue that redelivers) applies each order exactly once.

Run against a served cellstore:  python examples/idempotent_spike.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import boto3
from botocore.exceptions import ClientError


def place_order(client: Any, table: str, order_id: str, sku: str) -> bool:
    """True if the order is (now or already) placed, False if out of stock."""
    try:
        client.transact_write_items(
            # Same order, same token (at most 36 characters): retries are no-ops.
            ClientRequestToken=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{table}/order/{order_id}")),
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": f"order#{order_id}"}, "sku": {"S": sku}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"Update": {"TableName": table, "Key": {"pk": {"S": f"stock#{sku}"}},
                            "UpdateExpression": "SET available = available - :one",
                            "ConditionExpression": "available >= :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            ],
        )
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "TransactionCanceledException":
            return False
        raise


def main(endpoint: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    table = "shop"
    if table not in client.list_tables()["TableNames"]:
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
    client.put_item(TableName=table, Item={"pk": {"S": "stock#tshirt"}, "available": {"N": "100"}})
    placed = sum(place_order(client, table, str(n), "tshirt") for n in range(150))
    retried = sum(place_order(client, table, str(n), "tshirt") for n in range(100))  # every retry is a no-op
    stock = client.get_item(TableName=table, Key={"pk": {"S": "stock#tshirt"}})["Item"]["available"]["N"]
    print(f"placed={placed} retried_ok={retried} stock_left={stock}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
