"""A PostgreSQL cell's requests on its storage threads (``Bulkhead.storage``), without a server.

Cell pg is a PostgreSQL database (one reader thread, ``threads = 1``, so
that holding it is simple), cell lite an SQLite one.  The router hands pg's
requests to pg's storage threads from the event loop: writes waiting
together share one group commit, reads waiting together one snapshot, and
the bulkhead's guarantees hold for them — its bound, its timeout,
``fail_waiting``, the other cell served meanwhile, a moved tenant's request
re-routed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.api import Tenants
from cellstore.cells.bulkhead import CellUnavailable
from cellstore.cells.config import CellConfig, load
from cellstore.cells.deployment import open_router
from cellstore.cells.router import Router
from cellstore.engine import tenant_copy
from cellstore.engine.wiring import open_database
from cellstore.errors import ConditionalCheckFailedException
from cellstore.protocol import storage_threads
from cellstore.protocol.server import services_for
from cellstore.protocol.storage_threads import StorageThreads
from cellstore.storage import open_store
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

ALICE = "111111111111"  # pinned to pg
BOB = "222222222222"  # pinned to lite
TABLE = {
    "TableName": "orders",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


@contextlib.contextmanager
def deployment(tmp_path: Path, dsn: str, *, queue_size: int = 256, timeout: float = 10.0) -> Iterator[Router]:
    path = tmp_path / "cells.toml"
    path.write_text(
        f'[cells.pg]\nstorage = "{dsn}"\nthreads = 1\n[cells.lite]\nstorage = "{tmp_path / "lite"}"\n'
        f'[tenants]\n"{ALICE}" = "pg"\n"{BOB}" = "lite"\n'
    )

    def opened(cell: CellConfig) -> Tenants:
        if not cell.is_postgres:
            Path(cell.storage).mkdir(exist_ok=True)
        return Tenants(open_store(cell.location()), fenced=True, background=False)

    router = open_router(load(path), opened, lambda location: open_database(SqliteStore(None), background=False),
                         services_for, start=False, queue_size=queue_size, timeout=timeout)
    try:
        yield router
    finally:
        router.close()


@pytest.fixture
def router(tmp_path: Path, postgres_dsn: str) -> Iterator[Router]:
    with deployment(tmp_path, postgres_dsn) as found:
        yield found


async def settled(result: Any) -> Any:
    """On the event loop, as the app awaits a handed-off request: the answer, or the error raised (returned)."""
    loop = asyncio.get_running_loop()
    try:
        while isinstance(result, Wait):
            woken: asyncio.Future[None] = loop.create_future()

            def wake(woken: asyncio.Future[None] = woken) -> None:
                loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result(None))

            token = result.wakeups.subscribe(result.queue_id, wake)
            if not result.stale():
                await asyncio.wait({woken}, timeout=min(result.remaining(), 10.0) + 0.05)
            result.wakeups.unsubscribe(result.queue_id, token)
            result = result.retry()
    except Exception as err:  # noqa: BLE001 - the outcome under test
        return err
    return result


def put(router: Router, account: str, key: str, **extra: Any) -> Any:
    return router.dispatch(account, "dynamodb", "PutItem", {"TableName": "orders", "Item": {"pk": {"S": key}}, **extra},
                           None)


def get(router: Router, account: str, key: str, *, consistent: bool = True) -> Any:
    return router.dispatch(account, "dynamodb", "GetItem",
                           {"TableName": "orders", "Key": {"pk": {"S": key}}, "ConsistentRead": consistent}, None)


def storage_of(router: Router) -> StorageThreads:
    storage = router.cells["pg"].bulkhead.storage
    assert storage is not None  # a PostgreSQL cell has storage threads; the SQLite one has none
    assert router.cells["lite"].bulkhead.storage is None
    return storage


def holding(storage: StorageThreads, *, write: bool) -> tuple[Wait, threading.Event]:
    """The writer thread (``write``) or the one reader busy until the returned event is set."""
    held, release = threading.Event(), threading.Event()
    wait = storage.submit(lambda: (held.set(), release.wait(10)), write=write)
    assert held.wait(5)
    return wait, release


def counting(store: Any, name: str, threads: list[str]) -> None:
    """Note the thread each ``store.name()`` block (group commit or shared snapshot) is opened on."""
    inner: Callable[[], Any] = getattr(store, name)

    def counted() -> Any:
        threads.append(threading.current_thread().name)
        return inner()

    setattr(store, name, counted)


def test_a_postgres_cells_writes_are_group_committed_and_its_reads_share_a_snapshot(router: Router) -> None:
    storage = storage_of(router)
    store = router.cells["pg"].tenants.store
    groups: list[str] = []
    snapshots: list[str] = []

    async def run() -> None:
        created = await settled(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))
        assert created["TableDescription"]["TableName"] == "orders"
        counting(store, "group", groups)
        counting(store, "snapshot", snapshots)
        grouped_before = storage.grouped

        blocker, release = holding(storage, write=True)
        writes = [put(router, ALICE, f"k{n}", ConditionExpression="attribute_not_exists(pk)") for n in range(8)]
        writes.append(put(router, ALICE, "k0", ConditionExpression="attribute_not_exists(pk)"))  # k0 is written first
        release.set()
        answers = await asyncio.gather(*(settled(wait) for wait in writes))
        await settled(blocker)
        assert answers[:8] == [{}] * 8
        assert isinstance(answers[8], ConditionalCheckFailedException)  # the group's earlier write is seen
        assert groups == ["cell-pg-storage-writer"]  # all nine in one group commit, on the cell's writer thread
        assert storage.grouped - grouped_before == 9

        blocker, release = holding(storage, write=False)
        reads = [get(router, ALICE, f"k{n}", consistent=n % 2 == 0) for n in range(8)]
        reads.append(router.dispatch(ALICE, "dynamodb", "Scan", {"TableName": "orders"}, None))
        release.set()
        got = await asyncio.gather(*(settled(wait) for wait in reads))
        await settled(blocker)
        assert [answer["Item"]["pk"]["S"] for answer in got[:8]] == [f"k{n}" for n in range(8)]
        assert got[8]["Count"] == 8
        assert snapshots == ["cell-pg-storage-0"]  # all nine in one shared snapshot, on the cell's reader

        # The SQLite cell is served as ever, on its bulkhead's thread.
        assert (await settled(router.dispatch(BOB, "dynamodb", "CreateTable", TABLE, None)))["TableDescription"]
        assert await settled(put(router, BOB, "b")) == {}

    asyncio.run(run())


def test_a_hung_postgres_cells_bound_timeout_and_fail_waiting_hold_and_the_other_cell_is_served(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(storage_threads, "SWEEP", 0.05)
    with deployment(tmp_path, postgres_dsn, queue_size=4, timeout=0.5) as router:
        storage = storage_of(router)

        async def run() -> None:
            await settled(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))
            await settled(router.dispatch(BOB, "dynamodb", "CreateTable", TABLE, None))
            _, release = holding(storage, write=True)  # as a hung server holds it: the writer thread stuck
            try:
                started = time.monotonic()
                stuck = [put(router, ALICE, f"k{n}") for n in range(3)]  # with the stuck one: 4 waiting
                with pytest.raises(CellUnavailable, match="overloaded"):  # the bound, refused at once
                    put(router, ALICE, "one too many")
                assert router.cells["pg"].bulkhead.rejected == 1
                assert await settled(put(router, BOB, "b")) == {}  # the other cell, meanwhile
                assert time.monotonic() - started < 0.4
                for answer in await asyncio.gather(*(settled(wait) for wait in stuck)):  # the timeout
                    assert isinstance(answer, CellUnavailable) and "did not answer in time" in str(answer)
                assert time.monotonic() - started < 2.0
                assert router.cells["pg"].bulkhead.timed_out >= 3

                # The probe found the cell unhealthy: what waits is answered at once.
                waiting = [put(router, ALICE, "late")]
                assert router.cells["pg"].bulkhead.fail_waiting("Cell pg is not answering; retry the request.") == 1
                answer = await settled(waiting[0])
                assert isinstance(answer, CellUnavailable) and "not answering" in str(answer)
            finally:
                release.set()

        asyncio.run(run())


def test_a_moved_tenants_request_is_refused_in_its_postgres_cell_and_rerouted(router: Router) -> None:
    async def run() -> None:
        await settled(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))
        assert await settled(put(router, ALICE, "before")) == {}
        src, dst = router.cells["pg"].tenants, router.cells["lite"].tenants
        await asyncio.to_thread(tenant_copy.copy, src, dst, ALICE)
        await asyncio.to_thread(tenant_copy.write_fence, src, ALICE, "lite")
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, router.cellmap.table.switch, ALICE, "pg", "lite")
        assert await settled(put(router, ALICE, "after")) == {}  # refused in pg (fenced), then run in lite
        assert router.reroutes == 1
        got = await settled(router.dispatch(ALICE, "dynamodb", "Scan", {"TableName": "orders"}, None))
        assert sorted(item["pk"]["S"] for item in got["Items"]) == ["after", "before"]

    asyncio.run(run())
    assert router.cells["pg"].ready(ALICE) is None  # forgotten in pg
