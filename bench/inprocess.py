"""A test suite's worth of DynamoDB calls through boto3, with no server.

The scenario: create a table, 2,000 PutItem, 2,000 GetItem, 200 Query
(10 items each), delete the table.  ``--impl cellstore`` answers boto3 from
``cellstore.embedded.in_process``; ``--impl moto`` from moto's ``mock_aws``.
Each runs in its own process (run.py starts one per implementation) so that
neither's botocore hooks can touch the other's calls.

    bench/.peers/venv/bin/python bench/inprocess.py --impl cellstore
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

PUTS = 2000
GETS = 2000
QUERIES = 200
PER_PARTITION = 10


def scenario(client: Any) -> dict[str, float]:
    """Seconds spent in each phase."""
    timings: dict[str, float] = {}
    clock = time.perf_counter
    t = clock()
    client.create_table(
        TableName="suite",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    timings["create_table"] = clock() - t
    data = {"S": "x" * 170}
    t = clock()
    for i in range(PUTS):
        client.put_item(
            TableName="suite",
            Item={"pk": {"S": f"p{i // PER_PARTITION}"}, "sk": {"S": str(i % PER_PARTITION)},
                  "n": {"N": str(i)}, "data": data},
        )
    timings["put_item"] = clock() - t
    t = clock()
    for i in range(GETS):
        j = (i * 7919) % PUTS
        client.get_item(
            TableName="suite",
            Key={"pk": {"S": f"p{j // PER_PARTITION}"}, "sk": {"S": str(j % PER_PARTITION)}},
        )
    timings["get_item"] = clock() - t
    t = clock()
    for i in range(QUERIES):
        items = client.query(
            TableName="suite",
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": f"p{i % (PUTS // PER_PARTITION)}"}},
        )["Items"]
        if len(items) != PER_PARTITION:
            raise RuntimeError(f"query returned {len(items)} items")
    timings["query"] = clock() - t
    t = clock()
    client.delete_table(TableName="suite")
    timings["delete_table"] = clock() - t
    return timings


@contextlib.contextmanager
def _client(impl: str) -> Iterator[Any]:
    if impl == "moto":
        import boto3
        from moto import mock_aws

        with mock_aws():
            yield boto3.client("dynamodb", region_name="us-east-1")
    elif impl in ("cellstore", "cellstore-wire"):
        from cellstore.embedded import in_process

        with in_process(fast=impl == "cellstore") as cs:
            yield cs.client()
    else:
        raise SystemExit(f"unknown --impl {impl}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=["cellstore", "cellstore-wire", "moto"], required=True)
    parser.add_argument("--repeat", type=int, default=3, help="report the fastest of N runs")
    args = parser.parse_args()
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(name, value)
    runs = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        with _client(args.impl) as client:
            timings = scenario(client)
        timings["total"] = time.perf_counter() - start
        runs.append(timings)
    best = min(runs, key=lambda r: r["total"])
    print(json.dumps({"impl": args.impl, "repeat": args.repeat, "seconds": best}))


if __name__ == "__main__":
    main()
