"""``serve --cells --workers 2`` over two SQLite cells: each cell's writes go through its own writer process.

Tenants are pinned (alice and carol in cell a, bob in cell b), so both
writers are busy at once; through boto3, conditional writes from many
clients still count exactly, a TransactWriteItems is all or nothing, and an
SQS FIFO queue keeps its order — the guarantees of a single backend's
writer, per cell.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

ALICE, BOB, CAROL = "111111111111", "222222222222", "333333333333"
CLIENTS = 4
INCREMENTS = 25

pytestmark = [pytest.mark.slow, pytest.mark.server]


def client(endpoint: str, account: str, service: str = "dynamodb") -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=account,
        aws_secret_access_key="secret", config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )


def make_table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )


def write_cells_file(directory: Path) -> Path:
    path = directory / "cells.toml"
    path.write_text(
        f'[cells.a]\nstorage = "{directory / "a"}"\n[cells.b]\nstorage = "{directory / "b"}"\n'
        f'[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "b"\n"{CAROL}" = "a"\n'
    )
    return path


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    cells_file = write_cells_file(tmp_path_factory.mktemp("cells"))
    yield module_server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")


def test_every_sqlite_cell_has_its_own_writer_process(server: Any) -> None:
    log = server.log_path.read_text()
    assert "writes: a writer process per SQLite cell (a, b)" in log
    owners = {cell: int(pid) for pid, cell in re.findall(r"writer process (\d+) owns the write path of cell (\w+)", log)}
    assert set(owners) == {"a", "b"} and owners["a"] != owners["b"]


def test_conditional_writes_from_concurrent_clients_count_exactly_in_both_cells(server: Any) -> None:
    """Read, then write only if nobody wrote meanwhile: every increment lands once, in each cell at once."""
    for account in (ALICE, BOB):
        ddb = client(server.endpoint_url, account)
        make_table(ddb, "counter")
        ddb.put_item(TableName="counter", Item={"pk": {"S": "n"}, "n": {"N": "0"}})
    conflicts: list[int] = []

    def increment(account: str) -> None:
        ddb = client(server.endpoint_url, account)
        for _ in range(INCREMENTS):
            while True:
                seen = ddb.get_item(TableName="counter", Key={"pk": {"S": "n"}}, ConsistentRead=True)["Item"]["n"]["N"]
                try:
                    ddb.put_item(TableName="counter", Item={"pk": {"S": "n"}, "n": {"N": str(int(seen) + 1)}},
                                 ConditionExpression="n = :seen", ExpressionAttributeValues={":seen": {"N": seen}})
                    break
                except ddb.exceptions.ConditionalCheckFailedException:
                    conflicts.append(1)

    threads = [threading.Thread(target=increment, args=(account,)) for account in (ALICE, BOB) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for account in (ALICE, BOB):
        item = client(server.endpoint_url, account).get_item(TableName="counter", Key={"pk": {"S": "n"}})["Item"]
        assert item["n"] == {"N": str(CLIENTS * INCREMENTS)}, account
    assert conflicts, "the clients never raced: the test proved nothing about the condition"


def test_update_item_add_from_concurrent_clients_counts_exactly(server: Any) -> None:
    make_table(client(server.endpoint_url, CAROL), "adds")

    def add() -> None:
        ddb = client(server.endpoint_url, CAROL)
        for _ in range(INCREMENTS):
            ddb.update_item(TableName="adds", Key={"pk": {"S": "n"}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})

    threads = [threading.Thread(target=add) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    item = client(server.endpoint_url, CAROL).get_item(TableName="adds", Key={"pk": {"S": "n"}})["Item"]
    assert item["n"] == {"N": str(CLIENTS * INCREMENTS)}


def test_transact_write_items_is_all_or_nothing_in_a_cells_writer(server: Any) -> None:
    ddb = client(server.endpoint_url, BOB)
    make_table(ddb, "orders")
    make_table(ddb, "stock")
    ddb.put_item(TableName="stock", Item={"pk": {"S": "widget"}, "left": {"N": "1"}})

    def buy(order: str) -> None:
        ddb.transact_write_items(TransactItems=[
            {"Update": {"TableName": "stock", "Key": {"pk": {"S": "widget"}}, "UpdateExpression": "SET #l = #l - :one",
                        "ConditionExpression": "#l > :zero", "ExpressionAttributeNames": {"#l": "left"},
                        "ExpressionAttributeValues": {":one": {"N": "1"}, ":zero": {"N": "0"}}}},
            {"Put": {"TableName": "orders", "Item": {"pk": {"S": order}}, "ConditionExpression": "attribute_not_exists(pk)"}},
        ])

    buy("o1")
    with pytest.raises(ddb.exceptions.TransactionCanceledException):
        buy("o2")  # out of stock: neither the update nor the put happens
    assert ddb.get_item(TableName="stock", Key={"pk": {"S": "widget"}})["Item"]["left"] == {"N": "0"}
    assert "Item" in ddb.get_item(TableName="orders", Key={"pk": {"S": "o1"}})
    assert "Item" not in ddb.get_item(TableName="orders", Key={"pk": {"S": "o2"}})
    # The other cell's tenant has no such tables: the transaction stayed in bob's cell.
    with pytest.raises(client(server.endpoint_url, ALICE).exceptions.ResourceNotFoundException):
        client(server.endpoint_url, ALICE).describe_table(TableName="orders")


def test_a_fifo_queue_keeps_its_order_and_long_polls_wake(server: Any) -> None:
    sqs = client(server.endpoint_url, ALICE, "sqs")
    url = sqs.create_queue(QueueName="steps.fifo", Attributes={"FifoQueue": "true",
                                                               "ContentBasedDeduplication": "true"})["QueueUrl"]
    got: list[str] = []
    waited: list[float] = []

    def long_poll() -> None:  # parked in cell a's writer until the first send
        started = time.monotonic()
        messages = client(server.endpoint_url, ALICE, "sqs").receive_message(
            QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        waited.append(time.monotonic() - started)
        got.extend(m["Body"] for m in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    poller = threading.Thread(target=long_poll)
    poller.start()
    time.sleep(0.5)
    for step in range(20):
        sqs.send_message(QueueUrl=url, MessageBody=f"step-{step}", MessageGroupId="g")
    poller.join(15)
    assert waited and waited[0] < 8, waited
    while len(got) < 20:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
        assert messages, f"messages lost: {got}"
        got.extend(m["Body"] for m in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    assert got == [f"step-{step}" for step in range(20)]


def test_the_writers_did_the_writes(server: Any) -> None:
    """Last: stop the server; each cell's writer reports the requests it ran."""
    assert server.terminate() == 0
    served = dict(re.findall(r"writer (\d+) stopped: (\d+) requests", server.log_path.read_text()))
    assert len(served) == 2 and all(int(count) > 0 for count in served.values()), served


def test_no_writer_lets_each_worker_write_for_itself(server_process: Callable[..., Any], tmp_path: Path) -> None:
    cells_file = write_cells_file(tmp_path)
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2", "--no-writer")
    ddb = client(server.endpoint_url, ALICE)
    make_table(ddb, "plain")
    ddb.put_item(TableName="plain", Item={"pk": {"S": "k"}}, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ddb.exceptions.ConditionalCheckFailedException):
        ddb.put_item(TableName="plain", Item={"pk": {"S": "k"}}, ConditionExpression="attribute_not_exists(pk)")
    log = server.log_path.read_text()
    assert "writes:" not in log and "writer process" not in log


def test_a_cell_added_to_the_file_at_run_time_gets_its_writer(server_process: Callable[..., Any], tmp_path: Path) -> None:
    """The supervisor starts the new SQLite cell's writer; every worker hands that cell's writes to it."""
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(f'[cells.a]\nstorage = "{tmp_path / "a"}"\n[tenants]\n"{ALICE}" = "a"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    make_table(client(server.endpoint_url, ALICE), "orders")
    cells_file.write_text(f'[cells.a]\nstorage = "{tmp_path / "a"}"\n[cells.c]\nstorage = "{tmp_path / "c"}"\n'
                          f'[tenants]\n"{ALICE}" = "a"\n"{BOB}" = "c"\n')
    deadline = time.monotonic() + 10
    while "owns the write path of cell c" not in server.log_path.read_text():
        assert time.monotonic() < deadline, server.log_path.read_text()
        time.sleep(0.1)
    time.sleep(2.5)  # each worker's health loop re-reads the file within 2 s (and waits for c's writer)
    ddb = client(server.endpoint_url, BOB)
    make_table(ddb, "orders")
    for n in range(20):  # from both workers, whichever answers
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"k{n}"}})
    assert ddb.scan(TableName="orders", Select="COUNT", ConsistentRead=True)["Count"] == 20
    log = server.log_path.read_text()
    writer_of_c = re.findall(r"writer process (\d+) owns the write path of cell c\b", log)[-1]
    assert server.terminate() == 0
    served = dict(re.findall(r"writer (\d+) stopped: (\d+) requests", server.log_path.read_text()))
    assert int(served[writer_of_c]) >= 21, served  # the CreateTable and every PutItem went through c's writer


def test_partiql_selects_are_read_in_the_cell_and_writes_reach_its_writer(
    server_process: Callable[..., Any], tmp_path: Path
) -> None:
    """The router hands a cell's writer only what may write: a request of PartiQL SELECTs is read on the cell's thread."""
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text(f'[cells.a]\nstorage = "{tmp_path / "a"}"\n[tenants]\n"{ALICE}" = "a"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "2")
    ddb = client(server.endpoint_url, ALICE)
    make_table(ddb, "stmts")  # 1
    ddb.execute_statement(Statement="INSERT INTO stmts VALUE {'pk': 'a', 'n': 1}")  # 2
    ddb.execute_statement(Statement="UPDATE stmts SET n = 2 WHERE pk = 'a'")  # 3
    for _ in range(10):  # each read sees every write acknowledged before it
        got = ddb.execute_statement(Statement="SELECT n FROM stmts WHERE pk = ?", Parameters=[{"S": "a"}])
        assert got["Items"] == [{"n": {"N": "2"}}]
    read = ddb.execute_transaction(TransactStatements=[{"Statement": "SELECT * FROM stmts WHERE pk = 'a'"}])
    assert read["Responses"][0]["Item"]["n"] == {"N": "2"}
    assert server.terminate() == 0
    served = re.findall(r"writer \d+ stopped: (\d+) requests", server.log_path.read_text())
    assert served == ["3"], served
