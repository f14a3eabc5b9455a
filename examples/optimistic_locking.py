"""Optimistic locking with retry: read a version, write only if it is unchanged.

Run against a served cellstore:  python examples/optimistic_locking.py http://127.0.0.1:8000
Several copies of this loop may run at once; each increment lands exactly once.
"""

from __future__ import annotations

import sys
from typing import Any

import boto3
from botocore.exceptions import ClientError


def add_to_cart(client: Any, table: str, cart: str, product: str) -> int:
    """Append ``product`` to a cart; returns how many attempts it took."""
    attempts = 0
    while True:
        attempts += 1
        item = client.get_item(TableName=table, Key={"pk": {"S": cart}}, ConsistentRead=True).get("Item")
        version = int(item["version"]["N"]) if item else 0
        products = [p["S"] for p in item["products"]["L"]] if item else []
        try:
            client.put_item(
                TableName=table,
                Item={
                    "pk": {"S": cart},
                    "version": {"N": str(version + 1)},
                    "products": {"L": [{"S": p} for p in [*products, product]]},
                },
                # First writer creates the item; later writers must hold the version they read.
                ConditionExpression="attribute_not_exists(pk) OR version = :seen",
                ExpressionAttributeValues={":seen": {"N": str(version)}},
            )
            return attempts
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            # Someone else wrote first: re-read and try again.


def main(endpoint: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
    table = "carts"
    if table not in client.list_tables()["TableNames"]:
        client.create_table(TableName=table, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
    for n in range(10):
        add_to_cart(client, table, "cart-1", f"product-{n}")
    print(client.get_item(TableName=table, Key={"pk": {"S": "cart-1"}})["Item"]["version"]["N"])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000")
