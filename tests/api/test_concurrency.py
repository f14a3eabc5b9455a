"""Concurrent clients against real multi-process servers.

These are the proofs behind the transaction and conditional-write claims:
money is conserved, optimistic locks admit exactly one winner per version,
counters are exact, and snapshot reads never see half a transfer.  Each runs
twice: on SQLite behind `serve --workers 2`, and on PostgreSQL behind two
separate front ends (`serve --storage ... --workers 2` and a one-process
`serve --storage ...` on another port), the clients spread over both.
"""

from __future__ import annotations

import itertools
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLIENTS = 16


class FrontEnds:
    """Several servers on one database: each ``endpoint_url`` read names the next one."""

    def __init__(self, processes: list[Any]) -> None:
        self.processes = processes
        self._next = itertools.cycle(processes)
        self._lock = threading.Lock()

    @property
    def endpoint_url(self) -> str:
        with self._lock:
            return str(next(self._next).endpoint_url)


@pytest.fixture(scope="module", params=["sqlite", "writer", "postgres"])
def server(
    request: pytest.FixtureRequest,
    module_server_process: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Any]:
    if request.param == "sqlite":  # every worker writes, taking turns on the lock
        processes = [
            module_server_process("--data-dir", str(tmp_path_factory.mktemp("concurrency")), "--workers", "2",
                                  "--no-writer")
        ]
    elif request.param == "writer":  # the default: one writer process runs every write
        processes = [module_server_process("--data-dir", str(tmp_path_factory.mktemp("writer")), "--workers", "2")]
    else:
        dsn = request.getfixturevalue("new_postgres_database")()
        processes = [module_server_process("--storage", dsn, "--workers", "2"), module_server_process("--storage", dsn)]
    yield FrontEnds(processes)
    for process in processes:
        assert process.terminate() == 0


def client_of(server: Any) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(max_pool_connections=CLIENTS * 2, retries={"max_attempts": 1}),
    )


def run_clients(work: Callable[[int], None]) -> None:
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(work, n) for n in range(CLIENTS)]:
            future.result()


def make_table(client: Any, name: str) -> str:
    client.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    return name


def test_bank_transfers_conserve_money(server: Any) -> None:
    client = client_of(server)
    table = make_table(client, "bank")
    accounts = [f"acct{i:02}" for i in range(50)]
    for name in accounts:
        client.put_item(TableName=table, Item={"pk": {"S": name}, "balance": {"N": "100"}})
    total = 100 * len(accounts)
    applied: list[tuple[str, str, int]] = []
    refused = 0
    lock = threading.Lock()
    stop_readers = threading.Event()
    bad_snapshots: list[int] = []

    def transfers(worker: int) -> None:
        nonlocal refused
        rng = random.Random(worker)
        own = client_of(server)
        for n in range(500):
            source, target = rng.sample(accounts, 2)
            amount = rng.randint(1, 40)
            try:
                own.transact_write_items(
                    ClientRequestToken=f"w{worker}-{n}",
                    TransactItems=[
                        {"Update": {"TableName": table, "Key": {"pk": {"S": source}},
                                    "UpdateExpression": "SET balance = balance - :a",
                                    "ConditionExpression": "balance >= :a",
                                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
                        {"Update": {"TableName": table, "Key": {"pk": {"S": target}},
                                    "UpdateExpression": "SET balance = balance + :a",
                                    "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
                    ],
                )
            except ClientError as error:
                assert error.response["Error"]["Code"] == "TransactionCanceledException"
                with lock:
                    refused += 1
                continue
            with lock:
                applied.append((source, target, amount))

    def snapshot_reader() -> None:
        own = client_of(server)
        while not stop_readers.is_set():
            response = own.transact_get_items(TransactItems=[
                {"Get": {"TableName": table, "Key": {"pk": {"S": name}}}} for name in accounts
            ])
            seen = sum(int(r["Item"]["balance"]["N"]) for r in response["Responses"])
            if seen != total:
                bad_snapshots.append(seen)

    reader = threading.Thread(target=snapshot_reader)
    reader.start()
    try:
        run_clients(transfers)
    finally:
        stop_readers.set()
        reader.join()

    expected = {name: 100 for name in accounts}
    for source, target, amount in applied:
        expected[source] -= amount
        expected[target] += amount
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    balances = {i["pk"]["S"]: int(i["balance"]["N"]) for i in items}
    assert balances == expected  # every acknowledged transfer applied exactly once
    assert sum(balances.values()) == total
    assert min(balances.values()) >= 0
    assert len(applied) + refused == CLIENTS * 500
    assert bad_snapshots == []


def test_optimistic_locking_one_winner_per_version(server: Any) -> None:
    client = client_of(server)
    table = make_table(client, "locks")
    client.put_item(TableName=table, Item={"pk": {"S": "doc"}, "version": {"N": "0"}})
    wins: list[int] = []
    lock = threading.Lock()

    def racer(worker: int) -> None:
        own = client_of(server)
        for _ in range(30):
            current = int(own.get_item(TableName=table, Key={"pk": {"S": "doc"}}, ConsistentRead=True)["Item"]["version"]["N"])
            try:
                own.update_item(
                    TableName=table, Key={"pk": {"S": "doc"}},
                    UpdateExpression="SET version = :next, writer = :w",
                    ConditionExpression="version = :current",
                    ExpressionAttributeValues={":next": {"N": str(current + 1)}, ":current": {"N": str(current)},
                                               ":w": {"N": str(worker)}},
                )
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
                continue
            with lock:
                wins.append(current + 1)

    run_clients(racer)
    final = int(client.get_item(TableName=table, Key={"pk": {"S": "doc"}}, ConsistentRead=True)["Item"]["version"]["N"])
    assert sorted(wins) == list(range(1, final + 1))  # exactly one winner per version
    assert final == len(wins)


def test_atomic_counters_are_exact(server: Any) -> None:
    client = client_of(server)
    table = make_table(client, "counters")

    def increment(worker: int) -> None:
        own = client_of(server)
        for _ in range(1000):
            own.update_item(TableName=table, Key={"pk": {"S": "hits"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})

    run_clients(increment)
    item = client.get_item(TableName=table, Key={"pk": {"S": "hits"}}, ConsistentRead=True)["Item"]
    assert item["n"] == {"N": str(CLIENTS * 1000)}


def test_put_if_absent_has_exactly_one_winner_per_key(server: Any) -> None:
    """Conditional puts racing through every front end (and, on SQLite, grouped in one commit by the writer)."""
    client = client_of(server)
    table = make_table(client, "claims")
    keys = [f"slot{i:03}" for i in range(100)]
    winners: dict[str, list[int]] = {key: [] for key in keys}
    lock = threading.Lock()

    def claim(worker: int) -> None:
        own = client_of(server)
        for key in random.Random(worker).sample(keys, len(keys)):
            try:
                own.put_item(TableName=table, Item={"pk": {"S": key}, "owner": {"N": str(worker)}},
                             ConditionExpression="attribute_not_exists(pk)")
            except ClientError as error:
                assert error.response["Error"]["Code"] == "ConditionalCheckFailedException"
                continue
            with lock:
                winners[key].append(worker)

    run_clients(claim)
    assert all(len(won) == 1 for won in winners.values()), {k: v for k, v in winners.items() if len(v) != 1}
    stored = {i["pk"]["S"]: int(i["owner"]["N"]) for i in client.scan(TableName=table, ConsistentRead=True)["Items"]}
    assert stored == {key: won[0] for key, won in winners.items()}  # the acknowledged winner is the one kept


def test_every_message_is_received_once_by_concurrent_consumers(server: Any) -> None:
    """SQS sends, receives and deletes racing through every front end: no message lost or handed out twice."""
    def sqs_client() -> Any:
        return boto3.client(
            "sqs", endpoint_url=server.endpoint_url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(max_pool_connections=CLIENTS * 2, retries={"max_attempts": 1}),
        )

    url = sqs_client().create_queue(QueueName="race", Attributes={"VisibilityTimeout": "300"})["QueueUrl"]
    sent = [f"m{n}" for n in range(CLIENTS * 40)]
    received: list[str] = []
    lock = threading.Lock()

    def produce_and_consume(worker: int) -> None:
        own = sqs_client()
        for body in sent[worker::CLIENTS]:
            own.send_message(QueueUrl=url, MessageBody=body)
        idle = 0
        while idle < 3:
            messages = own.receive_message(QueueUrl=url, MaxNumberOfMessages=5, WaitTimeSeconds=1).get("Messages", [])
            idle = 0 if messages else idle + 1
            for message in messages:
                own.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            with lock:
                received.extend(message["Body"] for message in messages)

    run_clients(produce_and_consume)
    assert sorted(received) == sorted(sent)  # each exactly once: the visibility timeout outlives the test
