"""A served deployment of three cells (two PostgreSQL, one SQLite) through boto3: tenants apart, moves live.

With ``--auth none`` an access key id of 12 digits is the request's account,
so a client made with access key "111111111111" is that tenant.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ALICE = "111111111111"
BOB = "222222222222"

pytestmark = [pytest.mark.slow, pytest.mark.server]


def client(endpoint: str, account: str, service: str = "dynamodb") -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
        aws_secret_access_key="secret", config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def write_cells_file(directory: Path, sqlite_dir: str, dsn_b: str, dsn_c: str, extra: str = "") -> Path:
    path = directory / "cells.toml"
    path.write_text(
        f'[cells.a]\nstorage = "{sqlite_dir}"\n[cells.b]\nstorage = "{dsn_b}"\nzone = "b"\n'
        f'[cells.c]\nstorage = "{dsn_c}"\nzone = "c"\n{extra}'
    )
    return path


def cells_cli(cells_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cellstore", "cells", *args, "--cells", str(cells_file)],
        capture_output=True, text=True, check=True, timeout=120,
    )


def placed(cells_file: Path) -> dict[str, int]:
    status = json.loads(cells_cli(cells_file, "status", "--json").stdout)
    return {cell["name"]: cell["tenants"] for cell in status["cells"]}


@pytest.fixture(scope="module")
def deployment(
    module_server_process: Callable[..., Any], new_postgres_database: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    directory = tmp_path_factory.mktemp("cells")
    cells_file = write_cells_file(directory, "a", new_postgres_database(), new_postgres_database())
    server = module_server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    yield server.endpoint_url, cells_file


def make_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )


def test_two_tenants_in_two_cells_with_the_same_table_names(deployment: tuple[str, Path]) -> None:
    endpoint, cells_file = deployment
    alice, bob = client(endpoint, ALICE), client(endpoint, BOB)
    make_table(alice, "orders")
    make_table(bob, "orders")
    counts = placed(cells_file)
    assert sorted(counts.values()) == [0, 1, 1]  # two tenants, two different cells
    alice.transact_write_items(TransactItems=[
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "o1"}, "who": {"S": "alice"}}}},
        {"Put": {"TableName": "orders", "Item": {"pk": {"S": "o2"}, "who": {"S": "alice"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
    ])
    assert alice.get_item(TableName="orders", Key={"pk": {"S": "o1"}})["Item"]["who"] == {"S": "alice"}
    assert "Item" not in bob.get_item(TableName="orders", Key={"pk": {"S": "o1"}})
    arn = alice.describe_table(TableName="orders")["Table"]["TableArn"]
    assert arn == f"arn:aws:dynamodb:us-east-1:{ALICE}:table/orders"
    with pytest.raises(bob.exceptions.TransactionCanceledException):
        bob.transact_write_items(TransactItems=[
            {"Put": {"TableName": "orders", "Item": {"pk": {"S": "o1"}}}},
            {"ConditionCheck": {"TableName": "orders", "Key": {"pk": {"S": "o2"}},
                                "ConditionExpression": "attribute_exists(pk)"}},
        ])


def test_sqs_queues_are_per_tenant(deployment: tuple[str, Path]) -> None:
    endpoint, _ = deployment
    alice, bob = client(endpoint, ALICE, "sqs"), client(endpoint, BOB, "sqs")
    url_a = alice.create_queue(QueueName="jobs")["QueueUrl"]
    url_b = bob.create_queue(QueueName="jobs")["QueueUrl"]
    assert url_a != url_b and ALICE in url_a and BOB in url_b
    alice.send_message(QueueUrl=url_a, MessageBody="for alice")
    assert bob.receive_message(QueueUrl=url_b, WaitTimeSeconds=1).get("Messages", []) == []
    got = alice.receive_message(QueueUrl=url_a, WaitTimeSeconds=5)["Messages"]
    assert [m["Body"] for m in got] == ["for alice"]


def test_a_tenant_moves_under_write_load_and_nothing_is_lost(deployment: tuple[str, Path]) -> None:
    endpoint, cells_file = deployment
    mover_account = "333333333333"
    ddb, sqs = client(endpoint, mover_account), client(endpoint, mover_account, "sqs")
    streams = client(endpoint, mover_account, "dynamodbstreams")
    ddb.create_table(
        TableName="counter", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"},
    )
    stream_arn = ddb.describe_table(TableName="counter")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")[
        "ShardIterator"]
    for n in range(200):
        ddb.put_item(TableName="counter", Item={"pk": {"S": f"fill-{n}"}, "pad": {"S": "x" * 500}})
    queue_url = sqs.create_queue(
        QueueName="log.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    status = json.loads(cells_cli(cells_file, "status", "--json").stdout)
    before = {cell["name"]: cell["tenants"] for cell in status["cells"]}
    acknowledged: list[int] = []
    sent: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def count() -> None:
        value = 0
        try:
            while not stop.is_set():
                ddb.put_item(
                    TableName="counter", Item={"pk": {"S": "n"}, "n": {"N": str(value + 1)}},
                    ConditionExpression="attribute_not_exists(pk) OR n = :n",
                    ExpressionAttributeValues={":n": {"N": str(value)}},
                )
                value += 1
                acknowledged.append(value)
                sqs.send_message(QueueUrl=queue_url, MessageBody=f"m{value}", MessageGroupId="g")
                sent.append(f"m{value}")
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    writer = threading.Thread(target=count)
    writer.start()
    try:
        while len(acknowledged) < 30 and writer.is_alive():
            stop.wait(0.05)
        source = _cell_of(cells_file, mover_account)
        target = next(name for name in ("a", "b", "c") if name != source)
        dry = cells_cli(cells_file, "move", mover_account, "--to", target, "--dry-run")
        assert f"cell {source} -> cell {target}" in dry.stdout
        moved = cells_cli(cells_file, "move", mover_account, "--to", target)
        assert "switched account" in moved.stderr
        at_switch = len(acknowledged)
        while len(acknowledged) < at_switch + 30 and writer.is_alive():
            stop.wait(0.05)
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert _cell_of(cells_file, mover_account) == target
    assert sum(before.values()) == sum(placed(cells_file).values())
    got = ddb.get_item(TableName="counter", Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]
    assert int(got["n"]["N"]) == acknowledged[-1]  # fresh: the last acknowledged write, read after the switch
    assert ddb.scan(TableName="counter", Select="COUNT")["Count"] == 201
    received: list[str] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            break
        received += [m["Body"] for m in messages]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert received == sent  # every acknowledged send, once, in FIFO order
    # idempotency: a send of an earlier body (content-based deduplication) is still a duplicate after the move
    sqs.send_message(QueueUrl=queue_url, MessageBody=sent[-1], MessageGroupId="g")
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []) == []
    # the shard iterator taken before the move still reads the stream, writes from before and after the switch
    keys: list[str] = []
    while iterator and len(keys) < 200 + len(acknowledged):
        page = streams.get_records(ShardIterator=iterator)
        keys += [r["dynamodb"]["Keys"]["pk"]["S"] for r in page["Records"]]
        iterator = page.get("NextShardIterator")
        if not page["Records"]:
            break
    assert keys.count("n") == len(acknowledged) and keys[0] == "fill-0"


def _cell_of(cells_file: Path, account: str) -> str:
    from cellstore.cells.cellmap import MapTable
    from cellstore.cells.config import load
    from cellstore.engine.wiring import open_database
    from cellstore.storage import open_store

    db = open_database(open_store(load(cells_file).map_location()), background=False)
    try:
        found = MapTable(db).cell_of(account)
    finally:
        db.close()
    assert found is not None
    return found


def test_status_from_a_running_server(deployment: tuple[str, Path]) -> None:
    endpoint, cells_file = deployment
    # Each on a new connection: the kernel spreads them over both workers, and the
    # status (each worker's own counts) comes from whichever worker answers it.
    for _ in range(20):
        client(endpoint, ALICE).list_tables()
    found = json.loads(cells_cli(cells_file, "status", "--json", "--endpoint", endpoint).stdout)
    cells = {cell["name"]: cell for cell in found["cells"]}
    assert set(cells) == {"a", "b", "c"}
    assert all(cell["health"] == "ok" for cell in cells.values())
    assert sum(cell["requests"] for cell in cells.values()) > 0
    assert found["map"]["version"] >= 1 and found["map"]["reachable"] is True  # ALICE placed at least


def test_the_admin_route_needs_an_admin_under_sigv4(server_process: Callable[..., Any], tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    credentials = tmp_path / "credentials.toml"
    credentials.write_text(
        '[keys.AKIAADMIN]\nsecret = "admin-secret"\nprincipal = "admin"\n'
        '[keys.AKIATENANT]\nsecret = "tenant-secret"\nprincipal = "tenant"\n'
        '[principals.admin]\npolicies = [\'{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "*", "Resource": "*"}]}\']\n'
        '[principals.tenant]\naccount = "444444444444"\npolicies = [\'{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}\']\n'
    )
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text('[cells.a]\nstorage = "a"\n')
    server = server_process("--cells", str(cells_file), "--auth", "sigv4", "--credentials", str(credentials),
                            "--workers", "1")
    url = server.endpoint_url + "/_cellstore/cells"

    def get(key: str | None, secret: str = "") -> tuple[int, bytes]:
        request = AWSRequest(method="GET", url=url)
        if key is not None:
            SigV4Auth(Credentials(key, secret), "cellstore", "us-east-1").add_auth(request)
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=dict(request.headers.items()))) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    tenant = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
                          aws_access_key_id="AKIATENANT", aws_secret_access_key="tenant-secret")
    make_table(tenant, "orders")  # authorized through the router (the key schema read on the cell's thread)
    tenant.put_item(TableName="orders", Item={"pk": {"S": "k"}})
    assert tenant.describe_table(TableName="orders")["Table"]["TableArn"].split(":")[4] == "444444444444"
    status, body = get("AKIAADMIN", "admin-secret")
    assert status == 200 and json.loads(body)["cells"][0]["name"] == "a"
    status, body = get("AKIATENANT", "tenant-secret")
    assert status == 400 and b"AccessDenied" in body
    status, body = get(None)
    assert status in (400, 403) and b"MissingAuthenticationToken" in body


def test_a_cell_added_to_the_file_is_served_without_a_restart(server_process: Callable[..., Any], tmp_path: Path) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text('[cells.a]\nstorage = "a"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    make_table(client(server.endpoint_url, ALICE), "orders")
    cells_file.write_text('[cells.a]\nstorage = "a"\naccept_new = false\n[cells.b]\nstorage = "b"\n')
    time.sleep(3)  # each worker's health loop notices the change within 2 s
    for account in (BOB, "555555555555", "666666666666"):  # whichever worker answers, b takes them
        make_table(client(server.endpoint_url, account), "orders")
    assert placed(cells_file) == {"a": 1, "b": 3}


def test_metrics_of_a_server_of_cells_count_requests_by_operation(deployment: tuple[str, Path]) -> None:
    """/metrics on a server of cells knows the operations (it has no default account's gauges to read)."""
    import urllib.request

    endpoint, _ = deployment
    for _ in range(3):
        client(endpoint, BOB).list_tables()
    text = ""
    for _ in range(2):  # two workers: a scrape reads every worker's counters, whichever answers it
        with urllib.request.urlopen(endpoint + "/metrics") as answer:
            text = answer.read().decode()
    assert 'cellstore_requests_total{operation="ListTables",outcome="success",service="dynamodb"}' in text


def test_a_postgres_cell_counts_concurrent_conditional_writes_exactly_and_runs_transactions(
    server_process: Callable[..., Any], new_postgres_database: Callable[[], str], tmp_path: Path,
) -> None:
    """A PostgreSQL cell's requests run on its storage threads (group commit, shared snapshots) in each of two
    workers: conditional writes racing from 8 clients still count exactly, and transactions stay atomic."""
    cells_file = write_cells_file(tmp_path, "a", new_postgres_database(), new_postgres_database(),
                                  extra=f'[tenants]\n"{ALICE}" = "b"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    ddb = client(server.endpoint_url, ALICE)
    make_table(ddb, "counters")
    ddb.put_item(TableName="counters", Item={"pk": {"S": "x"}, "bal": {"N": "100"}})
    ddb.put_item(TableName="counters", Item={"pk": {"S": "y"}, "bal": {"N": "0"}})
    clients, rounds = 8, 15
    won = [0] * clients
    errors: list[BaseException] = []

    def racer(index: int) -> None:
        mine = client(server.endpoint_url, ALICE)
        try:
            for _ in range(rounds):
                mine.update_item(TableName="counters", Key={"pk": {"S": "added"}}, UpdateExpression="ADD n :one",
                                 ExpressionAttributeValues={":one": {"N": "1"}})
                while True:  # optimistic: read the count, write it + 1 only if nobody wrote in between
                    item = mine.get_item(TableName="counters", Key={"pk": {"S": "checked"}}, ConsistentRead=True)
                    seen = int(item.get("Item", {}).get("n", {"N": "0"})["N"])
                    try:
                        mine.put_item(
                            TableName="counters", Item={"pk": {"S": "checked"}, "n": {"N": str(seen + 1)}},
                            ConditionExpression="attribute_not_exists(pk) OR n = :seen",
                            ExpressionAttributeValues={":seen": {"N": str(seen)}},
                        )
                        won[index] += 1
                        break
                    except mine.exceptions.ConditionalCheckFailedException:
                        continue
                if index < 4:  # half the clients also move one unit from x to y in a transaction
                    mine.transact_write_items(TransactItems=[
                        {"Update": {"TableName": "counters", "Key": {"pk": {"S": "x"}},
                                    "UpdateExpression": "SET bal = bal - :one", "ConditionExpression": "bal >= :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                        {"Update": {"TableName": "counters", "Key": {"pk": {"S": "y"}},
                                    "UpdateExpression": "SET bal = bal + :one",
                                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                    ])
        except BaseException as err:  # noqa: BLE001 - reported by the test below
            errors.append(err)

    threads = [threading.Thread(target=racer, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    total = clients * rounds
    assert sum(won) == total

    def count(key: str, name: str) -> int:
        item = ddb.get_item(TableName="counters", Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
        return int(item[name]["N"])

    assert count("checked", "n") == total  # every acknowledged conditional write counted once, none lost
    assert count("added", "n") == total
    assert (count("x", "bal"), count("y", "bal")) == (100 - 4 * rounds, 4 * rounds)
    with pytest.raises(ddb.exceptions.TransactionCanceledException):  # a failed condition: nothing applied
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "counters", "Key": {"pk": {"S": "y"}}, "UpdateExpression": "SET bal = :zero",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}}}},
            {"ConditionCheck": {"TableName": "counters", "Key": {"pk": {"S": "x"}},
                                "ConditionExpression": "bal >= :lots", "ExpressionAttributeValues": {":lots": {"N": "1000"}}}},
        ])
    assert count("y", "bal") == 4 * rounds
    assert placed(cells_file) == {"a": 0, "b": 1, "c": 0}  # it all ran in the PostgreSQL cell b
