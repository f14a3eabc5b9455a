"""A minimal DynamoDB JSON 1.0 client on http.client, for setting up bench tables.

The load itself comes from wrk (bench/lua/); this client only creates the
table and preloads the items GetItem, Query and UpdateItem read, with the same
headers and item shape as the Lua scripts, against any peer.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

SIGNATURE = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
    ),
}

#: Sort keys per preloaded partition: a Query of one partition returns this many items.
ITEMS_PER_PARTITION = 10


class DynamoError(Exception):
    pass


class Client:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = dict(HEADERS, **{"X-Amz-Target": f"DynamoDB_20120810.{operation}"})
        self._conn.request("POST", "/", body=json.dumps(payload), headers=headers)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise DynamoError(f"{operation}: HTTP {response.status}: {body[:300]!r}")
        return json.loads(body) if body else {}

    def close(self) -> None:
        self._conn.close()


def item(pk: str, sk: str, item_bytes: int) -> dict[str, Any]:
    """The item shape the Lua scripts write (bench/lua/common.lua)."""
    return {
        "pk": {"S": pk},
        "sk": {"S": sk},
        "n": {"N": "1"},
        "data": {"S": "x" * max(1, item_bytes - 30)},
    }


def create_table(client: Client, name: str) -> None:
    client.call(
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    deadline = time.monotonic() + 30
    while client.call("DescribeTable", {"TableName": name})["Table"]["TableStatus"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise DynamoError(f"table {name} did not become ACTIVE")
        time.sleep(0.05)


def preload(client: Client, name: str, item_bytes: int, partitions: int) -> None:
    """Partitions q0..q{partitions-1}, each with sort keys 0..9."""
    requests = [
        {"PutRequest": {"Item": item(f"q{p}", str(s), item_bytes)}}
        for p in range(partitions)
        for s in range(ITEMS_PER_PARTITION)
    ]
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {name: requests[start : start + 25]}
        while pending:
            pending = client.call("BatchWriteItem", {"RequestItems": pending}).get("UnprocessedItems") or {}


def wait_ready(port: int, timeout: float = 30.0) -> None:
    """Wait until the server on ``port`` answers ListTables."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = Client(port)
            try:
                client.call("ListTables", {})
                return
            finally:
                client.close()
        except (OSError, http.client.HTTPException, DynamoError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
