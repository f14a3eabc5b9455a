"""Moving a tenant between cells under concurrent writes, without a server (the router in-process)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.api import Tenants
from cellstore.cells.config import load
from cellstore.cells.deployment import open_router
from cellstore.cells.mover import MoveError, Mover
from cellstore.cells.router import Router
from cellstore.cli import main
from cellstore.engine import keyspace, move_log, tenant_copy
from cellstore.engine.wiring import open_database
from cellstore.errors import ConditionalCheckFailedException, TransactionCanceledException
from cellstore.protocol.server import services_for
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

ALICE = "111111111111"


def settle(result: Any) -> Any:
    while isinstance(result, Wait):
        result.block()
        result = result.retry()
    return result


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[tuple[Router, Mover]]:
    (tmp_path / "cells.toml").write_text('[cells.a]\nstorage = "a"\n[cells.b]\nstorage = "b"\n[tenants]\n"111111111111" = "a"\n')
    config = load(tmp_path / "cells.toml")
    stores = {name: SqliteStore(None) for name in config.cells}
    # The router and the mover share each cell's store, as two processes share a file.
    router = open_router(
        config, lambda cell: Tenants(stores[cell.name], fenced=True, background=False),
        lambda location: open_database(SqliteStore(None), background=False), services_for, start=False,
    )
    mover = Mover({name: cell.tenants for name, cell in router.cells.items()}, router.cellmap.table)
    yield router, mover
    router.close()


def call(router: Router, operation: str, payload: dict[str, Any], service: str = "dynamodb") -> Any:
    return settle(router.dispatch(ALICE, service, operation, payload, "http://localhost" if service == "sqs" else None))


def test_a_move_under_concurrent_conditional_writes_loses_nothing(deployment: tuple[Router, Mover]) -> None:
    router, mover = deployment
    call(router, "CreateTable", {
        "TableName": "counters", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })
    for n in range(300):
        call(router, "PutItem", {"TableName": "counters", "Item": {"pk": {"S": f"filler-{n}"}, "pad": {"S": "x" * 200}}})
    queue_url = call(router, "CreateQueue", {"QueueName": "log.fifo", "Attributes": {"FifoQueue": "true",
                      "ContentBasedDeduplication": "true"}}, "sqs")["QueueUrl"]
    acknowledged: list[int] = []
    sent: list[str] = []
    stop = threading.Event()

    def count() -> None:
        value = 0
        while not stop.is_set():
            try:
                call(router, "PutItem", {
                    "TableName": "counters", "Item": {"pk": {"S": "counter"}, "n": {"N": str(value + 1)}},
                    "ConditionExpression": "attribute_not_exists(pk) OR n = :n",
                    "ExpressionAttributeValues": {":n": {"N": str(value)}},
                })
            except (ConditionalCheckFailedException, TransactionCanceledException):
                break
            value += 1
            acknowledged.append(value)
            body = f"m{value}"
            call(router, "SendMessage", {"QueueUrl": queue_url, "MessageBody": body, "MessageGroupId": "g"}, "sqs")
            sent.append(body)

    writer = threading.Thread(target=count)
    writer.start()
    try:
        while len(acknowledged) < 20:
            stop.wait(0.01)
        plan = mover.plan(ALICE, "b")
        assert (plan.source, plan.target) == ("a", "b") and plan.keys > 300
        mover.move(plan)
        assert len(mover.passes) >= 2  # at least one catch-up pass from the change log, and the fenced one
        moved_at = len(acknowledged)
        while len(acknowledged) < moved_at + 20:
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join()
    assert router.cellmap.refresh().tenants[ALICE] == "b"
    got = call(router, "GetItem", {"TableName": "counters", "Key": {"pk": {"S": "counter"}}, "ConsistentRead": True})
    assert int(got["Item"]["n"]["N"]) == acknowledged[-1]
    received: list[str] = []
    while True:
        answer = call(router, "ReceiveMessage", {"QueueUrl": queue_url, "MaxNumberOfMessages": 10}, "sqs")
        messages = answer.get("Messages", [])
        if not messages:
            break
        received += [m["Body"] for m in messages]
        call(router, "DeleteMessageBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]}, "sqs")
    assert received == sent  # every acknowledged send, in FIFO order
    assert tenant_copy.account_size(router.cells["a"].tenants, ALICE)[0] == 1  # only the fence is left
    assert router.reroutes >= 1
    assert router.cellmap.snapshot.moves == {}


def test_a_killed_move_resumes_from_its_recorded_phase(deployment: tuple[Router, Mover]) -> None:
    router, mover = deployment
    call(router, "CreateQueue", {"QueueName": "q"}, "sqs")
    source = router.cells["a"].tenants
    mover.table.record_move(ALICE, "a", "b", "fenced")
    tenant_copy.write_fence(source, ALICE, "b")  # killed after the fence, before the final pass
    plan = mover.plan(ALICE, "b")
    assert plan.resuming == "fenced"
    with pytest.raises(MoveError, match="being moved to b"):
        mover.plan(ALICE, "a")
    mover.move(plan)
    assert router.cellmap.refresh().tenants[ALICE] == "b"
    assert call(router, "ListQueues", {}, "sqs")["QueueUrls"][0].endswith(f"/{ALICE}/q")


def test_moving_back_clears_the_old_fence(deployment: tuple[Router, Mover]) -> None:
    router, mover = deployment
    call(router, "CreateQueue", {"QueueName": "q"}, "sqs")
    mover.move(mover.plan(ALICE, "b"))
    mover.move(mover.plan(ALICE, "a"))
    assert tenant_copy.fenced_to(router.cells["a"].tenants, ALICE) is None
    assert tenant_copy.fenced_to(router.cells["b"].tenants, ALICE) == "a"
    assert len(call(router, "ListQueues", {}, "sqs")["QueueUrls"]) == 1


def test_cli_dry_run_status_and_drain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cells_file = tmp_path / "cells.toml"
    cells_file.write_text('[cells.a]\nstorage = "a"\nzone = "z1"\n[cells.b]\nstorage = "b"\n[tenants]\n"111111111111" = "a"\n')
    config = load(cells_file)
    for directory in ("a", "b", "cellmap"):
        (tmp_path / directory).mkdir()
    router = open_router(
        config, lambda cell: Tenants(SqliteStore(cell.location()), fenced=True, background=False),
        lambda location: open_database(SqliteStore(location), background=False), services_for, start=False,
    )
    try:
        call(router, "CreateQueue", {"QueueName": "q"}, "sqs")
    finally:
        router.close()
    assert main(["cells", "move", ALICE, "--to", "b", "--dry-run", "--cells", str(cells_file)]) == 0
    assert f"move account {ALICE}: cell a -> cell b" in capsys.readouterr().out
    assert main(["cells", "status", "--cells", str(cells_file)]) == 0
    out = capsys.readouterr().out
    assert "a     z1    ok      1" in out and "map version 1, 1 tenants" in out
    assert main(["cells", "drain", "a", "--cells", str(cells_file)]) == 0
    assert "drained cell a: 1 tenants moved" in capsys.readouterr().out
    assert main(["cells", "status", "--json", "--cells", str(cells_file)]) == 0
    out = capsys.readouterr().out
    assert '"version": 2' in out
    with pytest.raises(SystemExit, match="no cell named 'z'"):
        main(["cells", "move", ALICE, "--to", "z", "--cells", str(cells_file)])



def test_the_progress_line_says_what_its_number_counts() -> None:
    from cellstore.cells.command import progress_line

    copying = tenant_copy.SyncStats(scanned=1500, written=1400, bytes=90000)
    assert progress_line("copy", copying) == "copy: 1500 keys read, 1400 written, 90000 bytes"
    catching_up = tenant_copy.SyncStats(scanned=40, logged=55, written=40, bytes=3000)
    assert progress_line("catch-up pass 1", catching_up) == "catch-up pass 1: 55 log entries read, 40 written, 3000 bytes"


def moving(router: Router) -> tuple[bool, int]:
    """(the source has the account's moving flag, entries in its log) in cell a."""
    with router.cells["a"].tenants.store.transaction(write=False) as txn:
        prefix = keyspace.account_prefix(ALICE)
        return txn.get(prefix + keyspace.TENANT_MOVING) is not None, len(move_log.read(txn, prefix))


def test_a_move_killed_before_its_fence_can_be_called_off(deployment: tuple[Router, Mover]) -> None:
    router, mover = deployment
    call(router, "CreateTable", {
        "TableName": "tbl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })
    for n in range(50):
        call(router, "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": f"k{n}"}}})
    source, target = router.cells["a"].tenants, router.cells["b"].tenants
    # A mover killed mid-copy: the record in copying, the account logging, part of it in b.
    mover.table.record_move(ALICE, "a", "b", "copying")
    tenant_copy.start_log(source, ALICE)
    tenant_copy.copy(source, target, ALICE)
    call(router, "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": "while-killed"}}})
    assert moving(router) == (True, 1)
    assert tenant_copy.account_size(target, ALICE)[0] > 50
    with pytest.raises(MoveError, match="--abort"):
        mover.plan(ALICE, "a")  # another target: the message says how to call this one off

    assert mover.abort(ALICE) > 50
    assert moving(router) == (False, 0)
    assert tenant_copy.account_size(target, ALICE) == (0, 0)
    snapshot = router.cellmap.refresh()
    assert snapshot.moves == {} and snapshot.tenants[ALICE] == "a"
    call(router, "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": "after"}}})
    assert moving(router) == (False, 0)  # its writes are no longer logged
    assert call(router, "Scan", {"TableName": "tbl", "Select": "COUNT"})["Count"] == 52
    with pytest.raises(MoveError, match="no move of account"):
        mover.abort(ALICE)
    mover.move(mover.plan(ALICE, "b"))  # and a move started afresh later works
    assert router.cellmap.refresh().tenants[ALICE] == "b"
    assert call(router, "Scan", {"TableName": "tbl", "Select": "COUNT", "ConsistentRead": True})["Count"] == 52


def test_a_move_past_its_fence_cannot_be_called_off(deployment: tuple[Router, Mover]) -> None:
    router, mover = deployment
    call(router, "CreateQueue", {"QueueName": "q"}, "sqs")
    mover.table.record_move(ALICE, "a", "b", "fenced")
    tenant_copy.write_fence(router.cells["a"].tenants, ALICE, "b")
    with pytest.raises(MoveError, match=f"past its fence .* run cellstore cells move {ALICE} --to b again"):
        mover.abort(ALICE)
    assert router.cellmap.refresh().moves[ALICE].phase == "fenced"
    mover.move(mover.plan(ALICE, "b"))
    assert router.cellmap.refresh().tenants[ALICE] == "b"


def test_a_mover_still_running_when_its_move_is_called_off_stops_before_the_fence(
    deployment: tuple[Router, Mover],
) -> None:
    router, mover = deployment
    call(router, "CreateTable", {
        "TableName": "tbl", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST",
    })
    for n in range(40):
        call(router, "PutItem", {"TableName": "tbl", "Item": {"pk": {"S": f"k{n}"}}})
    other = Mover(mover.cells, mover.table)
    called_off: list[int] = []

    def progress(label: str, stats: tenant_copy.SyncStats) -> None:
        if not called_off:  # an operator's --abort while this mover copies
            called_off.append(other.abort(ALICE))

    running = Mover(mover.cells, mover.table, progress=progress)
    with pytest.raises(MoveError, match="called off while it copied"):
        running.move(running.plan(ALICE, "b"))
    assert called_off
    assert moving(router) == (False, 0)
    assert tenant_copy.account_size(router.cells["b"].tenants, ALICE) == (0, 0)
    assert tenant_copy.fenced_to(router.cells["a"].tenants, ALICE) is None
    snapshot = router.cellmap.refresh()
    assert snapshot.moves == {} and snapshot.tenants[ALICE] == "a"
    assert call(router, "Scan", {"TableName": "tbl", "Select": "COUNT"})["Count"] == 40
