"""A minimal SQS JSON-protocol client on http.client, for setting up bench queues.

The load itself comes from wrk (bench/lua/sqs_cycle.lua); this client only
creates the queue and puts a backlog of messages in it, with the same headers
as the Lua script (AWS JSON 1.0, ``X-Amz-Target: AmazonSQS.*``, a SigV4-shaped
``Authorization`` whose credential scope names ``sqs``: moto's server routes
on it), against any peer that speaks SQS.
"""

from __future__ import annotations

import http.client
import json
from typing import Any

from dynamo import SIGNATURE

HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/sqs/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
    ),
}

#: Messages put in the queue before any load, so the first receives find one
#: (sqs_cycle.lua's cycles are then never cut short by an empty queue).
BACKLOG = 100


class SqsError(Exception):
    pass


class Client:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        headers = dict(HEADERS, **{"X-Amz-Target": f"AmazonSQS.{operation}"})
        self._conn.request("POST", "/", body=json.dumps(payload), headers=headers)
        response = self._conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SqsError(f"{operation}: HTTP {response.status}: {body[:300]!r}")
        return json.loads(body) if body else {}

    def close(self) -> None:
        self._conn.close()


def queue_for(body_bytes: int) -> str:
    return f"bench-{body_bytes}"


def create_queue(client: Client, name: str, body_bytes: int, backlog: int = BACKLOG) -> str:
    """A standard queue with ``backlog`` messages of ``body_bytes``; returns its URL.

    The URL is the server's own answer (cellstore and moto differ in the
    account part), which is what the Lua script then sends as ``QueueUrl``.
    """
    url = str(client.call("CreateQueue", {"QueueName": name})["QueueUrl"])
    body = "m" * body_bytes
    for start in range(0, backlog, 10):
        entries = [{"Id": str(i), "MessageBody": body} for i in range(min(10, backlog - start))]
        failed = client.call("SendMessageBatch", {"QueueUrl": url, "Entries": entries}).get("Failed")
        if failed:
            raise SqsError(f"SendMessageBatch: {failed}")
    return url
