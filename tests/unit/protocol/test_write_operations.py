"""``writer.WRITES`` against the operation registries: every served operation that writes is in it.

With ``serve --workers N`` an operation left out of ``WRITES`` runs in the
worker, which then writes under the file lock beside the writer process —
correct, but what the writer exists to avoid (UpdateContinuousBackups was
such an operation).  So every served operation outside ``WRITES`` is run
here, on an in-memory database holding one of everything, and must open no
write transaction.  A new operation outside ``WRITES`` fails
``test_every_operation_outside_writes_has_an_example`` until it has an
example below: whoever adds it decides.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import pytest

from cellstore.api import DEFAULT_ACCOUNT, Tenants
from cellstore.protocol import operations
from cellstore.protocol.server import services_for
from cellstore.protocol.wire import Service
from cellstore.protocol.writer import WRITES
from cellstore.storage import PrefixedStore
from cellstore.storage.base import Txn
from cellstore.storage.sqlite import SqliteStore

ENDPOINT = "http://localhost:4566"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:{DEFAULT_ACCOUNT}:table/tbl"


class _Recording(PrefixedStore):
    """A store that notes every write transaction opened, and every change made in any transaction."""

    def __init__(self) -> None:
        super().__init__(SqliteStore(None), b"")
        self.writes: list[str] = []

    def transaction(self, *, write: bool) -> AbstractContextManager[Txn]:
        if write:
            self.writes.append("write transaction")
        return self._noted(self.inner.transaction(write=write))

    @contextmanager
    def _noted(self, opened: AbstractContextManager[Txn]) -> Iterator[Txn]:
        with opened as txn:
            yield _NotingTxn(txn, self.writes)


class _NotingTxn(Txn):
    def __init__(self, inner: Txn, writes: list[str]) -> None:
        self._inner = inner
        self._writes = writes

    def get(self, key: bytes) -> bytes | None:
        return self._inner.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        self._writes.append("put")
        self._inner.put(key, value)

    def delete(self, key: bytes) -> None:
        self._writes.append("delete")
        self._inner.delete(key)

    def range(self, start: bytes, end: bytes, *, reverse: bool = False, limit: int | None = None) -> Iterator[tuple[bytes, bytes]]:
        return self._inner.range(start, end, reverse=reverse, limit=limit)

    def delete_range(self, start: bytes, end: bytes) -> int:
        self._writes.append("delete_range")
        return self._inner.delete_range(start, end)

    def range_stats(self, start: bytes, end: bytes) -> tuple[int, int]:
        return self._inner.range_stats(start, end)


Context = dict[str, Any]

#: A valid request of each served operation outside ``WRITES``, made from what ``_world`` set up.
EXAMPLES: dict[tuple[str, str], Callable[[Context], dict[str, Any]]] = {
    ("dynamodb", "GetItem"): lambda c: {"TableName": "tbl", "Key": {"pk": {"S": "a"}}, "ConsistentRead": True},
    ("dynamodb", "BatchGetItem"): lambda c: {"RequestItems": {"tbl": {"Keys": [{"pk": {"S": "a"}}]}}},
    ("dynamodb", "Query"): lambda c: {"TableName": "tbl", "KeyConditionExpression": "pk = :a",
                                      "ExpressionAttributeValues": {":a": {"S": "a"}}},
    ("dynamodb", "Scan"): lambda c: {"TableName": "tbl"},
    ("dynamodb", "TransactGetItems"): lambda c: {"TransactItems": [{"Get": {"TableName": "tbl", "Key": {"pk": {"S": "a"}}}}]},
    ("dynamodb", "DescribeTable"): lambda c: {"TableName": "tbl"},
    ("dynamodb", "ListTables"): lambda c: {},
    ("dynamodb", "DescribeTimeToLive"): lambda c: {"TableName": "tbl"},
    ("dynamodb", "DescribeContinuousBackups"): lambda c: {"TableName": "tbl"},
    ("dynamodb", "ListTagsOfResource"): lambda c: {"ResourceArn": TABLE_ARN},
    ("dynamodb", "DescribeLimits"): lambda c: {},
    ("dynamodb", "DescribeEndpoints"): lambda c: {},
    ("dynamodb", "DescribeBackup"): lambda c: {"BackupArn": c["backup"]},
    ("dynamodb", "ListBackups"): lambda c: {},
    ("dynamodb", "GetResourcePolicy"): lambda c: {"ResourceArn": TABLE_ARN},
    ("streams", "ListStreams"): lambda c: {},
    ("streams", "DescribeStream"): lambda c: {"StreamArn": c["stream"]},
    ("streams", "GetShardIterator"): lambda c: {"StreamArn": c["stream"], "ShardId": c["shard"],
                                                "ShardIteratorType": "TRIM_HORIZON"},
    ("streams", "GetRecords"): lambda c: {"ShardIterator": c["iterator"]},
    ("sqs", "GetQueueUrl"): lambda c: {"QueueName": "q"},
    ("sqs", "GetQueueAttributes"): lambda c: {"QueueUrl": c["queue"], "AttributeNames": ["All"]},
    ("sqs", "ListQueues"): lambda c: {},
    ("sqs", "ListQueueTags"): lambda c: {"QueueUrl": c["queue"]},
    ("sqs", "ListDeadLetterSourceQueues"): lambda c: {"QueueUrl": c["dlq"]},
    ("sqs", "ListMessageMoveTasks"): lambda c: {"SourceArn": c["dlq_arn"]},
}


def _call(services: dict[str, Service], service: str, operation: str, payload: dict[str, Any]) -> Any:
    target = services[service]
    if target.needs_endpoint:
        return target.dispatch(operation, payload, ENDPOINT)
    return target.dispatch(operation, payload)


@pytest.fixture
def world() -> Iterator[tuple[_Recording, dict[str, Service], Context]]:
    """One of everything: a table with a stream, an item, a backup, a policy, a queue with a dead-letter queue."""
    store = _Recording()
    tenants = Tenants(store, background=False)
    services = services_for(tenants.database(DEFAULT_ACCOUNT))
    call = functools.partial(_call, services)
    call("dynamodb", "CreateTable", {
        "TableName": "tbl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    })
    call("dynamodb", "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": "a"}}})
    call("dynamodb", "PutResourcePolicy", {"ResourceArn": TABLE_ARN, "Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": DEFAULT_ACCOUNT},
                                               "Action": "dynamodb:GetItem", "Resource": TABLE_ARN}]})})
    context: Context = {"backup": call("dynamodb", "CreateBackup", {"TableName": "tbl", "BackupName": "bak"})[
        "BackupDetails"]["BackupArn"]}
    stream = call("streams", "ListStreams", {})["Streams"][0]["StreamArn"]
    shard = call("streams", "DescribeStream", {"StreamArn": stream})["StreamDescription"]["Shards"][0]["ShardId"]
    context.update(stream=stream, shard=shard, iterator=call("streams", "GetShardIterator", {
        "StreamArn": stream, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"})["ShardIterator"])
    context["dlq"] = call("sqs", "CreateQueue", {"QueueName": "dlq"})["QueueUrl"]
    context["dlq_arn"] = call("sqs", "GetQueueAttributes", {"QueueUrl": context["dlq"], "AttributeNames": ["QueueArn"]})[
        "Attributes"]["QueueArn"]
    context["queue"] = call("sqs", "CreateQueue", {"QueueName": "q", "Attributes": {"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": context["dlq_arn"], "maxReceiveCount": "3"})}})["QueueUrl"]
    call("sqs", "SendMessage", {"QueueUrl": context["queue"], "MessageBody": "m"})
    yield store, services, context
    tenants.close()


def _outside_writes() -> list[tuple[str, str]]:
    return sorted((service, name) for service, served in operations.served().items()
                  for name in served  # type: ignore[attr-defined]
                  if name not in WRITES.get(service, frozenset()))


def test_every_operation_outside_writes_has_an_example() -> None:
    missing = [key for key in _outside_writes() if key not in EXAMPLES]
    assert not missing, f"add each to writer.WRITES if it may write, else an example here: {missing}"


def test_writes_names_only_served_operations() -> None:
    served = operations.served()
    for service, names in WRITES.items():
        assert set(names) <= set(served[service]), service  # type: ignore[call-overload]


@pytest.mark.parametrize(("service", "operation"), _outside_writes())
def test_an_operation_outside_writes_opens_no_write_transaction(
    world: tuple[_Recording, dict[str, Service], Context], service: str, operation: str
) -> None:
    store, services, context = world
    store.writes.clear()
    _call(services, service, operation, EXAMPLES[(service, operation)](context))
    assert store.writes == [], f"{service} {operation} writes: put it in writer.WRITES"


def test_the_recording_sees_a_write(world: tuple[_Recording, dict[str, Service], Context]) -> None:
    store, services, _ = world
    store.writes.clear()
    _call(services, "dynamodb", "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": "b"}}})
    assert "write transaction" in store.writes and "put" in store.writes
