"""Mutated requests on the wire, signed for ``--auth sigv4`` or with a well-formed fake signature for ``--auth none``.

``tests/property`` feeds wrong shapes to ``api.dispatch`` in process; this
fuzzer covers what lies in front of it — the HTTP server, the target and
content-type parsing, SigV4 verification and policy evaluation (with a
principal whose policy has conditions, so they are evaluated on fuzzed
keys) — by sending each mutation as a real request.  The answer must be a
2xx or 4xx; every 5xx is kept as a sample for the report.
"""

from __future__ import annotations

import copy
import http.client
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .abuse import FAKE_AUTH
from .clients import client

TABLE = "fuzzed"
ADMIN = ("AKIACHAOSADMIN", "chaos-admin-secret")
TENANT = ("AKIACHAOSTENANT", "chaos-tenant-secret")
KEY = {"pk": {"S": "tenant"}, "sk": {"N": "1"}}
VALUES = {":v": {"N": "1"}, ":s": {"S": "x"}}

#: One valid request per operation: (service, target, body); the mutations start from these.
VALID: list[tuple[str, str, dict[str, Any]]] = [
    ("dynamodb", "DynamoDB_20120810.PutItem", {"TableName": TABLE, "Item": {**KEY, "n": {"N": "5"}},
                                               "ConditionExpression": "attribute_not_exists(pk) OR n < :v",
                                               "ExpressionAttributeValues": {":v": {"N": "9"}}}),
    ("dynamodb", "DynamoDB_20120810.GetItem", {"TableName": TABLE, "Key": KEY, "ProjectionExpression": "#n",
                                               "ExpressionAttributeNames": {"#n": "n"}}),
    ("dynamodb", "DynamoDB_20120810.UpdateItem", {"TableName": TABLE, "Key": KEY,
                                                  "UpdateExpression": "SET n = n + :v, s = :s",
                                                  "ExpressionAttributeValues": VALUES, "ReturnValues": "ALL_NEW"}),
    ("dynamodb", "DynamoDB_20120810.Query", {"TableName": TABLE, "KeyConditionExpression": "pk = :s AND sk > :v",
                                             "ExpressionAttributeValues": VALUES, "Limit": 5}),
    ("dynamodb", "DynamoDB_20120810.Scan", {"TableName": TABLE, "Segment": 0, "TotalSegments": 2, "Limit": 3}),
    ("dynamodb", "DynamoDB_20120810.BatchWriteItem", {"RequestItems": {TABLE: [{"PutRequest": {"Item": KEY}}]}}),
    ("dynamodb", "DynamoDB_20120810.TransactWriteItems", {"TransactItems": [
        {"Update": {"TableName": TABLE, "Key": KEY, "UpdateExpression": "ADD n :v", "ExpressionAttributeValues": {":v": {"N": "1"}}}}
    ], "ClientRequestToken": "tok"}),
    ("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": TABLE}),
    ("sqs", "AmazonSQS.SendMessage", {"QueueUrl": "", "MessageBody": "hello", "DelaySeconds": 0,
                                      "MessageAttributes": {"a": {"DataType": "Number", "StringValue": "1"}}}),
    ("sqs", "AmazonSQS.ReceiveMessage", {"QueueUrl": "", "MaxNumberOfMessages": 2, "VisibilityTimeout": 0}),
]

#: Odd values, numbers spelled every way a parser may mishandle among them.
ODD: list[Any] = [
    None, True, -1, 0, 2**64, 1e308, "", "a" * 70_000, [], {}, [[[]]], {"S": 1}, {"N": "x"}, {"SS": []}, {"B": "!!"},
    {"N": "1e999"}, {"N": "0x10"}, {"N": "١٢"}, {"N": "²"}, {"N": "NaN"}, {"N": "-0"}, {"N": "1_000"}, {"N": " 1"},
    {"N": "9" * 40}, "١٢", "²", "1e999", "NaN", "Infinity", "-0", "0x10", "\u0000", "\ud800", "#", ":", "))", "SET",
]


@dataclass
class FuzzFigures:
    auth: str
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    five_xx_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def five_xx(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)


def credentials_file(directory: Path) -> Path:
    """An admin allowed everything and a tenant held to its own partition by a LeadingKeys condition."""
    tenant_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query",
                                       "dynamodb:BatchWriteItem"],
         "Resource": f"arn:aws:dynamodb:*:*:table/{TABLE}",
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["tenant"]},
                       "ForAllValues:StringLike": {"dynamodb:Attributes": ["pk", "sk", "n", "s*"]}}},
        {"Effect": "Allow", "Action": "sqs:*", "Resource": f"arn:aws:sqs:*:*:{TABLE}"},
        {"Effect": "Deny", "Action": "dynamodb:Scan", "Resource": "*"},
    ]}
    document = {
        "keys": {ADMIN[0]: {"secret": ADMIN[1], "principal": "admin"},
                 TENANT[0]: {"secret": TENANT[1], "principal": "tenant"}},
        "principals": {"admin": {"policies": [{"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Action": "*", "Resource": "*"}]}]},
                       "tenant": {"policies": [tenant_policy]}},
    }
    path = directory / "chaos-credentials.json"
    path.write_text(json.dumps(document))
    return path


def prepare(endpoint_url: str, signed: bool) -> str:
    """The table and queue the valid requests name; the queue's URL."""
    key, secret = ADMIN if signed else ("cellstore", "cellstore")
    ddb = client("dynamodb", endpoint_url, key, secret)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(TableName=TABLE, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                     {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "N"}],
                         BillingMode="PAY_PER_REQUEST")
    return str(client("sqs", endpoint_url, key, secret).create_queue(QueueName=TABLE)["QueueUrl"])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for name, child in value.items():
            found += _paths(child, (*prefix, name))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def mutate(rng: random.Random, payload: dict[str, Any]) -> bytes:
    """One mutation of ``payload``: a member replaced or removed, or the encoded bytes damaged."""
    choice = rng.random()
    if choice < 0.6:
        result = copy.deepcopy(payload)
        path = rng.choice(_paths(result)[1:])
        target = result
        for step in path[:-1]:
            target = target[step]
        if rng.random() < 0.2 and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = copy.deepcopy(rng.choice(ODD))
        return json.dumps(result).encode("utf-8", "surrogatepass")
    raw = bytearray(json.dumps(payload).encode())
    if choice < 0.8:
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        return bytes(raw)
    return bytes(raw[: rng.randrange(len(raw))])


def run(endpoint_url: str, port: int, requests: int, signed: bool, seed: int = 0) -> FuzzFigures:
    """``requests`` mutated requests, each signed by the admin or the tenant (``signed``) or fake-signed."""
    rng = random.Random(seed)
    figures = FuzzFigures("sigv4" if signed else "none")
    queue_url = prepare(endpoint_url, signed)
    began = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(requests):
        service, target, valid = rng.choice(VALID)
        payload = {**valid, "QueueUrl": queue_url} if service == "sqs" else valid
        body = mutate(rng, payload)
        headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0", "Host": f"127.0.0.1:{port}"}
        if rng.random() < 0.05:
            headers["X-Amz-Target"] = target + rng.choice(["x", ".", "\u00e9", ""]) if rng.random() < 0.5 else ""
        if signed:
            key, secret = rng.choice([ADMIN, TENANT])
            request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=headers)
            SigV4Auth(Credentials(key, secret), service, "us-east-1").add_auth(request)
            headers = dict(request.headers.items())
        else:
            headers["X-Amz-Date"] = "20260101T000000Z"
            headers["Authorization"] = FAKE_AUTH
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status, answer = 0, b""
        figures.requests += 1
        figures.statuses[status] += 1
        if status >= 500 and len(figures.five_xx_samples) < 10:
            figures.five_xx_samples.append(f"{status} {target} {body[:300]!r} -> {answer[:300]!r}")
    conn.close()
    figures.seconds = time.monotonic() - began
    return figures
