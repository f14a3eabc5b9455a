"""The cell router without a server: config, placement, the map, routing, moves' re-routing, bulkheads."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.api import Tenants
from cellstore.cells import placement
from cellstore.cells.bulkhead import Bulkhead, CellUnavailable, SqsCellUnavailable
from cellstore.cells.cellmap import CellMap, MapTable
from cellstore.cells.config import CellConfig, CellsConfigError, load, parse
from cellstore.cells.deployment import open_router
from cellstore.cells.router import Router
from cellstore.engine import tenant_copy
from cellstore.engine.wiring import open_database
from cellstore.errors import ServiceUnavailable, StorageUnavailable
from cellstore.protocol.server import services_for
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

ALICE = "111111111111"
BOB = "222222222222"
CAROL = "333333333333"


def settle(result: Any) -> Any:
    while isinstance(result, Wait):
        result.block()
        result = result.retry()
    return result


def config_of(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "cells.toml"
    path.write_text(text)
    return load(path)


THREE = """
[cells.a]
storage = "a"
[cells.b]
storage = "b"
zone = "z2"
[cells.c]
storage = "c"
max_tenants = 1
"""


@pytest.fixture
def router(tmp_path: Path) -> Iterator[Router]:
    config = config_of(tmp_path, THREE)
    router = open_router(
        config,
        lambda cell: Tenants(SqliteStore(None), fenced=True, background=False),
        lambda location: open_database(SqliteStore(None), background=False),
        services_for,
        start=False,
    )
    yield router
    router.close()


def call(router: Router, account: str, operation: str, payload: dict[str, Any], service: str = "dynamodb") -> Any:
    endpoint = "http://localhost" if service == "sqs" else None
    return settle(router.dispatch(account, service, operation, payload, endpoint))


def create_table(router: Router, account: str, name: str) -> dict[str, Any]:
    return call(router, account, "CreateTable", {
        "TableName": name,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    })


# --- config


def test_config_reads_cells_pins_and_map(tmp_path: Path) -> None:
    config = config_of(tmp_path, THREE + '[tenants]\n"111111111111" = "b"\n[map]\nstorage = "postgresql://x@h/map"\n')
    assert list(config.cells) == ["a", "b", "c"]
    assert config.cells["a"].storage == str(tmp_path / "a")
    assert config.cells["a"].location() == str(tmp_path / "a" / "cellstore.db")
    assert config.cells["b"].zone == "z2"
    assert config.cells["c"].max_tenants == 1
    assert config.pinned == {ALICE: "b"}
    assert config.map_location() == "postgresql://x@h/map"


def test_config_default_map_is_beside_the_file(tmp_path: Path) -> None:
    config = config_of(tmp_path, '[cells.a]\nstorage = "postgresql://u@h/a"\nthreads = 4\n')
    assert config.cells["a"].location() == "postgresql://u@h/a"
    assert config.cells["a"].threads == 4
    assert config.map_location() == str(tmp_path / "cellmap" / "cellmap.db")


@pytest.mark.parametrize(("text", "says"), [
    ("", "no cells"),
    ("[cells.a]\n", "cells.a.storage is required"),
    ('[cells.a]\nstorage = "x"\nsize = 3\n', "cells.a.size: unknown key"),
    ('[cells."a b"]\nstorage = "x"\n', "a cell name is"),
    ('[cells.a]\nstorage = "x"\nmax_tenants = 0\n', "max_tenants must be"),
    ('[cells.a]\nstorage = "x"\naccept_new = "no"\n', "accept_new must be true or false"),
    ('[cells.a]\nstorage = "x"\nthreads = 0\n', "threads must be a whole number"),
    ('[cells.a]\nstorage = "x"\n[tenants]\n"12" = "a"\n', "exactly 12 digits"),
    ('[cells.a]\nstorage = "x"\n[tenants]\n"111111111111" = "z"\n', "'z' is not a cell"),
    ('[cells.a]\nstorage = "x"\n[cells.b]\nstorage = "x"\n', "cells.b.storage: cell a has the same storage"),
    ('[cells.a]\nstorage = "x"\n[extra]\n', "unknown section 'extra'"),
    ("[cells.a\n", "not valid TOML"),
])
def test_config_mistakes_are_one_clear_error(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(CellsConfigError, match=says):
        config_of(tmp_path, text)


def test_config_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CellsConfigError, match="cannot read the cells file"):
        load(tmp_path / "nope.toml")


# --- placement


def cells(*specs: CellConfig) -> dict[str, CellConfig]:
    return {spec.name: spec for spec in specs}


def test_placement_pinned_first_then_least_loaded_under_caps() -> None:
    all_cells = cells(CellConfig("a", "a"), CellConfig("b", "b", max_tenants=2), CellConfig("c", "c", accept_new=False))
    assert placement.choose(ALICE, all_cells, {ALICE: "c"}, {}) == "c"  # pinned beats accept_new
    assert placement.choose(BOB, all_cells, {}, {"a": 3, "b": 1}) == "b"
    assert placement.choose(BOB, all_cells, {}, {"a": 3, "b": 2}) == "a"  # b is at its cap
    assert placement.choose(BOB, all_cells, {}, {"a": 1, "b": 1}, stored_bytes={"a": 10, "b": 5}.__getitem__) == "b"
    with pytest.raises(placement.NoCellForTenant):
        placement.choose(BOB, cells(CellConfig("c", "c", accept_new=False)), {}, {})


# --- the map


def test_two_front_ends_placing_one_tenant_agree() -> None:
    map_db = open_database(SqliteStore(None), background=False)
    try:
        first, second = CellMap(MapTable(map_db)), CellMap(MapTable(map_db))
        assert first.place(ALICE, "a") == "a"
        assert second.place(ALICE, "b") == "a"  # the condition fails, the first answer stands
        assert second.snapshot.tenants == {ALICE: "a"}
        assert second.snapshot.version == 1
        MapTable(map_db).switch(ALICE, "a", "b")
        assert first.refresh().tenants == {ALICE: "b"} and first.snapshot.version == 2
    finally:
        map_db.close()


def test_the_cache_keeps_routing_when_the_map_store_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    map_db = open_database(SqliteStore(None), background=False)
    try:
        table = MapTable(map_db)
        cellmap = CellMap(table)
        cellmap.place(ALICE, "a")

        def unreachable() -> Any:
            raise StorageUnavailable("the map's PostgreSQL is down")

        monkeypatch.setattr(table, "read", unreachable)
        assert cellmap.refresh().tenants == {ALICE: "a"}
        assert not cellmap.reachable
        assert cellmap.cell_of(ALICE) == "a"
        monkeypatch.setattr(table, "place", lambda account, cell: unreachable())
        with pytest.raises(ServiceUnavailable, match="cannot be placed"):
            cellmap.place(BOB, "b")
    finally:
        map_db.close()


# --- routing


def test_accounts_are_placed_in_different_cells_with_the_same_table_names(router: Router) -> None:
    for account in (ALICE, BOB, CAROL):
        described = create_table(router, account, "orders")
        assert described["TableDescription"]["TableArn"] == f"arn:aws:dynamodb:us-east-1:{account}:table/orders"
    placed = router.cellmap.snapshot.tenants
    assert sorted(placed.values()) == ["a", "b", "c"]
    call(router, ALICE, "PutItem", {"TableName": "orders", "Item": {"pk": {"S": "k"}, "who": {"S": "alice"}}})
    assert "Item" not in call(router, BOB, "GetItem", {"TableName": "orders", "Key": {"pk": {"S": "k"}}})
    got = call(router, ALICE, "GetItem", {"TableName": "orders", "Key": {"pk": {"S": "k"}}})
    assert got["Item"]["who"] == {"S": "alice"}
    # c takes one tenant: the fourth goes to a or b
    create_table(router, "444444444444", "orders")
    assert router.cellmap.snapshot.tenants["444444444444"] in ("a", "b")


def test_sqs_is_per_account_and_long_polls_run_on_the_cell(router: Router) -> None:
    url_a = call(router, ALICE, "CreateQueue", {"QueueName": "jobs"}, "sqs")["QueueUrl"]
    url_b = call(router, BOB, "CreateQueue", {"QueueName": "jobs"}, "sqs")["QueueUrl"]
    assert ALICE in url_a and BOB in url_b
    call(router, ALICE, "SendMessage", {"QueueUrl": url_a, "MessageBody": "hi"}, "sqs")
    empty = call(router, BOB, "ReceiveMessage", {"QueueUrl": url_b, "WaitTimeSeconds": 1}, "sqs")
    assert empty.get("Messages", []) == []
    got = call(router, ALICE, "ReceiveMessage", {"QueueUrl": url_a, "WaitTimeSeconds": 1}, "sqs")
    assert [m["Body"] for m in got["Messages"]] == ["hi"]


def test_a_moved_account_is_rerouted_to_its_new_cell(router: Router) -> None:
    create_table(router, ALICE, "orders")
    call(router, ALICE, "PutItem", {"TableName": "orders", "Item": {"pk": {"S": "k"}, "n": {"N": "1"}}})
    source = router.cellmap.cell_of(ALICE)
    assert source is not None
    target = next(name for name in router.cells if name != source)
    src, dst = router.cells[source].tenants, router.cells[target].tenants
    tenant_copy.copy(src, dst, ALICE)
    tenant_copy.write_fence(src, ALICE, target)
    assert tenant_copy.copy(src, dst, ALICE).changes == 0

    def switch_soon() -> None:
        time.sleep(0.3)
        router.cellmap.table.switch(ALICE, source, target)

    switcher = threading.Thread(target=switch_soon)
    switcher.start()
    got = call(router, ALICE, "GetItem", {"TableName": "orders", "Key": {"pk": {"S": "k"}}})  # waits for the switch
    switcher.join()
    assert got["Item"]["n"] == {"N": "1"}
    assert router.reroutes == 1
    tenant_copy.clean(src, ALICE)
    assert tenant_copy.account_size(src, ALICE)[0] == 1  # the fence, kept as a tombstone
    assert tenant_copy.fenced_to(src, ALICE) == target


def test_a_move_that_does_not_switch_in_time_is_a_retryable_error(router: Router) -> None:
    router.move_wait = 0.2
    create_table(router, ALICE, "orders")
    source = router.cellmap.cell_of(ALICE)
    assert source is not None
    tenant_copy.write_fence(router.cells[source].tenants, ALICE, "elsewhere")
    with pytest.raises(CellUnavailable, match="moving between cells"):
        call(router, ALICE, "ListTables", {})


# --- bulkheads


def test_a_full_bulkhead_fails_fast_and_a_slow_one_times_out() -> None:
    bulkhead = Bulkhead("slow", threads=1, queue_size=1, timeout=0.2)
    release = threading.Event()
    try:
        first = bulkhead.submit(release.wait, "dynamodb")  # takes the one thread
        time.sleep(0.05)
        second = bulkhead.submit(release.wait, "sqs")  # fills the queue
        with pytest.raises(CellUnavailable, match="overloaded"):
            bulkhead.submit(release.wait, "dynamodb")
        with pytest.raises(CellUnavailable, match="did not answer in time"):
            settle(first)
        with pytest.raises(SqsCellUnavailable):
            settle(second)
        assert (bulkhead.rejected, bulkhead.timed_out) == (1, 2)
    finally:
        release.set()
        bulkhead.close()
    assert settle(Bulkhead("ok").submit(lambda: 42, "dynamodb")) == 42


def test_a_hung_cell_does_not_stop_the_others(router: Router) -> None:
    for account in (ALICE, BOB):
        create_table(router, account, "orders")
    hung = router.cells[router.cellmap.snapshot.tenants[ALICE]]
    release = threading.Event()
    for _ in range(40):  # every thread of the hung cell stuck, and its queue partly full
        hung.bulkhead.post(release.wait)
    try:
        started = time.monotonic()
        call(router, BOB, "PutItem", {"TableName": "orders", "Item": {"pk": {"S": "k"}}})
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


def test_health_marks_a_cell_that_does_not_answer(router: Router) -> None:
    cell = router.cells["a"]
    release = threading.Event()
    router.probe_timeout = 0.2
    for _ in range(20):
        cell.bulkhead.post(release.wait)
    try:
        router.check_health()
        assert router.health["a"].ok is False
        assert router.health["b"].ok is True
        assert router.place(ALICE) != "a"  # placement skips the unhealthy cell
        router.cellmap.place(BOB, "a")
        started = time.monotonic()
        with pytest.raises(CellUnavailable, match="not answering"):  # at once, not after the timeout
            call(router, BOB, "ListTables", {})
        assert time.monotonic() - started < 0.1
    finally:
        release.set()
    router.check_health()
    assert router.health["a"].ok is True
    assert call(router, BOB, "ListTables", {})["TableNames"] == []


def test_parse_accepts_a_mapping_directly(tmp_path: Path) -> None:
    config = parse({"cells": {"only": {"storage": "postgresql://u@h/db"}}}, tmp_path / "x.toml")
    assert list(config.cells) == ["only"]


def test_a_request_given_up_on_while_queued_never_runs() -> None:
    bulkhead = Bulkhead("one", threads=1, queue_size=4, timeout=0.1)
    release = threading.Event()
    ran: list[str] = []
    try:
        bulkhead.submit(release.wait, "dynamodb")
        time.sleep(0.05)
        late = bulkhead.submit(lambda: ran.append("late"), "dynamodb")
        failed = bulkhead.submit(lambda: ran.append("failed"), "sqs")
        assert bulkhead.fail_waiting("cell one is down") == 3  # the running one is answered too
        with pytest.raises(SqsCellUnavailable, match="cell one is down"):
            settle(failed)
        with pytest.raises(CellUnavailable):
            settle(late)
        release.set()
        assert settle(bulkhead.submit(lambda: "after", "dynamodb")) == "after"
        assert ran == []
    finally:
        release.set()
        bulkhead.close()


def test_reconcile_closes_moved_accounts_and_opens_placed_ones(router: Router) -> None:
    create_table(router, ALICE, "orders")
    source = router.cellmap.cell_of(ALICE)
    assert source is not None
    target = next(name for name in router.cells if name != source)
    assert ALICE in router.cells[source].tenants.opened()
    router.cellmap.table.switch(ALICE, source, target)  # as a mover on another machine would
    router.cellmap.refresh()
    router.reconcile()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
        ALICE in router.cells[source].tenants.opened() or ALICE not in router.cells[target].tenants.opened()
    ):
        time.sleep(0.01)
    assert ALICE not in router.cells[source].tenants.opened()
    assert ALICE in router.cells[target].tenants.opened()


def test_authorization_reads_wait_briefly_for_a_hung_cell(router: Router) -> None:
    create_table(router, ALICE, "orders")
    accesses = router.resources(ALICE, "dynamodb", "GetItem", {"TableName": "orders", "Key": {"pk": {"S": "k"}}})
    assert [access.action for access in accesses] == ["dynamodb:GetItem"]
    cell = router.cells[router.cellmap.snapshot.tenants[ALICE]]
    release = threading.Event()
    cell.bulkhead.post(release.wait)
    try:
        started = time.monotonic()
        with pytest.raises(CellUnavailable):
            router.resources(ALICE, "dynamodb", "GetItem", {"TableName": "orders", "Key": {"pk": {"S": "k"}}})
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


def test_a_changed_cells_file_adds_cells_and_closes_others_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "cells.toml"
    path.write_text('[cells.a]\nstorage = "a"\n')
    router = open_router(
        load(path), lambda cell: Tenants(SqliteStore(None), fenced=True, background=False),
        lambda location: open_database(SqliteStore(None), background=False), services_for, start=False,
    )
    try:
        assert router.reload is not None
        router.reload()  # unchanged: nothing happens
        assert list(router.cells) == ["a"]
        path.write_text('[cells.a]\nstorage = "a"\naccept_new = false\n[cells.b]\nstorage = "b"\nzone = "z"\n')
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
        router.reload()
        assert list(router.cells) == ["a", "b"] and router.cells["a"].config.accept_new is False
        create_table(router, ALICE, "orders")
        assert router.cellmap.snapshot.tenants[ALICE] == "b"
        path.write_text("[cells.a\n")  # a broken file is not applied
        os.utime(path, ns=(time.time_ns(), time.time_ns() + 2_000_000_000))
        router.reload()
        assert list(router.cells) == ["a", "b"]
    finally:
        router.close()
