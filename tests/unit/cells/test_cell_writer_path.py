"""A cell's writes sent to its writer process from the event loop (``Router._send``), without a server.

Cell a has a writer (``protocol/writer.py``, serving on a thread over a real
Unix socket and the cell's own SQLite file, as ``serve --cells --workers N``
runs it in a process of its own); cell b has none.  The router hands a's
writes to the writer from the loop, not from a's bulkhead thread, so they
go through while that thread is held; the bulkhead's bound and timeout
still hold for them, a hung writer costs the other cell nothing, and a
moved tenant's write fails in the writer and is re-routed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
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
from cellstore.errors import ServiceUnavailable
from cellstore.protocol.directory import OneBackend, ServicesFor
from cellstore.protocol.server import services_for
from cellstore.protocol.writer import Writer, listen
from cellstore.protocol.writer_client import WriterClient
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait

ALICE = "111111111111"  # pinned to a (the cell with a writer)
BOB = "222222222222"  # pinned to b
CELLS = f"""
[cells.a]
storage = "a"
[cells.b]
storage = "b"
[tenants]
"{ALICE}" = "a"
"{BOB}" = "b"
"""
TABLE = {
    "TableName": "orders",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
}


class Deployment:
    """Two cells behind a router; cell a's writes go to ``listener`` (a writer serves it only after ``serve``)."""

    def __init__(self, tmp_path: Path, *, queue_size: int = 256, timeout: float = 10.0) -> None:
        path = tmp_path / "cells.toml"
        path.write_text(CELLS)
        self.config = load(path)
        self.listener = listen()
        self.client = WriterClient(self.listener.getsockname(), timeout=timeout, receive_timeout=timeout + 20)
        self.writer: Writer | None = None
        self.backend: OneBackend | None = None
        self._thread: threading.Thread | None = None

        def opened(cell: CellConfig) -> Tenants:
            return Tenants(SqliteStore(cell.location() if cell.name == "a" else None), fenced=True, background=False)

        def own(cell: CellConfig) -> ServicesFor | None:
            if cell.name != "a":
                return None
            return lambda db: self.client.wrap(services_for(db), db.account)

        Path(self.config.cells["a"].storage).mkdir()
        self.router: Router = open_router(
            self.config, opened, lambda location: open_database(SqliteStore(None), background=False), services_for,
            start=False, queue_size=queue_size, timeout=timeout, cell_services=own,
            cell_writers=lambda cell: self.client if cell.name == "a" else None,
        )

    def serve(self) -> Writer:
        """Cell a's writer, over its own connection to a's file (as the writer process opens it)."""
        tenants = Tenants(SqliteStore(self.config.cells["a"].location()), fenced=True, background=False)
        self.backend = backend = OneBackend(tenants, services_for)
        self.writer = Writer(backend.services, self.listener, group=tenants.group, forget=backend.forget)
        self._thread = threading.Thread(target=self.writer.serve, daemon=True)
        self._thread.start()
        return self.writer

    def close(self) -> None:
        self.client.close()  # a no-op if the loop that read it closed it already
        if self.writer is not None and self._thread is not None:
            self.writer.stop()
            self._thread.join(10)
        if self.backend is not None:
            self.backend.close()
        self.router.close()
        self.listener.close()


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    found = Deployment(tmp_path)
    found.serve()
    yield found
    found.close()


def settle(result: Any) -> Any:
    """Off any event loop: block on each ``Wait`` (the client then reads its socket itself)."""
    while isinstance(result, Wait):
        result.block()
        result = result.retry()
    return result


async def settled(result: Any) -> Any:
    """On the event loop: as the app awaits a handed-off request (subscribe, then retry once woken or past the deadline)."""
    loop = asyncio.get_running_loop()
    while isinstance(result, Wait):
        woken: asyncio.Future[None] = loop.create_future()

        def wake(woken: asyncio.Future[None] = woken) -> None:
            loop.call_soon_threadsafe(lambda: woken.done() or woken.set_result(None))

        token = result.wakeups.subscribe(result.queue_id, wake)
        if not result.stale():
            await asyncio.wait({woken}, timeout=result.remaining() + 0.05)
        result.wakeups.unsubscribe(result.queue_id, token)
        result = result.retry()
    return result


def put(router: Router, account: str, key: str) -> Any:
    return router.dispatch(account, "dynamodb", "PutItem", {"TableName": "orders", "Item": {"pk": {"S": key}}}, None)


def test_a_cells_writes_go_to_its_writer_from_the_loop_while_its_thread_is_held(deployment: Deployment) -> None:
    router, writer = deployment.router, deployment.writer
    assert writer is not None

    async def run() -> None:
        await settled(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))  # opens alice's database first
        await settled(router.dispatch(BOB, "dynamodb", "CreateTable", TABLE, None))
        held = threading.Event()
        release = threading.Event()
        router.cells["a"].bulkhead.post(lambda: (held.set(), release.wait(10)))  # cell a's only thread, held
        assert held.wait(5)
        try:
            before = writer.requests
            answers = await asyncio.gather(*(settled(put(router, ALICE, f"k{n}")) for n in range(20)))
            assert answers == [{}] * 20
            assert writer.requests - before == 20  # every one through the writer, none waiting for a's thread
            assert await settled(put(router, BOB, "b")) == {}  # b (no writer) on its own thread, as ever
        finally:
            release.set()
        got = await settled(router.dispatch(ALICE, "dynamodb", "GetItem",
                                            {"TableName": "orders", "Key": {"pk": {"S": "k7"}}, "ConsistentRead": True},
                                            None))
        assert got["Item"] == {"pk": {"S": "k7"}}
        deployment.client.close()  # on its loop

    asyncio.run(run())


def test_a_hung_writer_holds_neither_the_loop_nor_the_other_cell_and_its_bound_and_timeout_hold(tmp_path: Path) -> None:
    # Nobody serves cell a's listening socket: a writer that is alive but stuck (SIGSTOPped) looks like this.
    deployment = Deployment(tmp_path, queue_size=4, timeout=0.5)
    router = deployment.router
    deployment.listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        async def run() -> None:
            settled_b = await settled(router.dispatch(BOB, "dynamodb", "CreateTable", TABLE, None))
            assert settled_b["TableDescription"]["TableName"] == "orders"
            assert router.place(ALICE) == "a"  # pinned
            cell = router.cells["a"]
            cell.bulkhead.call(lambda: cell.services(ALICE))  # alice's database open: her writes go from the loop
            big = "x" * 300_000  # more than the socket takes: the rest waits in the client, not in a send call
            started = time.monotonic()
            first = router.dispatch(ALICE, "dynamodb", "PutItem",
                                    {"TableName": "orders", "Item": {"pk": {"S": "big"}, "pad": {"S": big}}}, None)
            stuck = [first] + [put(router, ALICE, f"k{n}") for n in range(3)]
            assert time.monotonic() - started < 0.3  # none of it waited for the writer
            with pytest.raises(CellUnavailable, match="overloaded"):  # the bound: 4 in flight on this worker
                put(router, ALICE, "one too many")
            assert router.cells["a"].bulkhead.rejected == 1
            assert await settled(put(router, BOB, "b")) == {}  # the other cell: served meanwhile
            assert time.monotonic() - started < 0.45
            for wait in stuck:  # the timeout: each answered with a retryable 503, none a success
                with pytest.raises(ServiceUnavailable):
                    await settled(wait)
            assert time.monotonic() - started < 2.0
            deployment.client.close()  # on its loop

        asyncio.run(run())
    finally:
        deployment.close()


def test_a_moved_tenants_write_fails_in_the_writer_and_is_rerouted(deployment: Deployment) -> None:
    router = deployment.router
    settle(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))
    settle(put(router, ALICE, "before"))
    src, dst = router.cells["a"].tenants, router.cells["b"].tenants
    tenant_copy.copy(src, dst, ALICE)
    tenant_copy.write_fence(src, ALICE, "b")

    def switch_soon() -> None:
        time.sleep(0.3)
        router.cellmap.table.switch(ALICE, "a", "b")

    switcher = threading.Thread(target=switch_soon)
    switcher.start()
    try:
        assert settle(put(router, ALICE, "after")) == {}  # refused by a's writer (fenced), then run in b
    finally:
        switcher.join()
    assert router.reroutes == 1
    got = settle(router.dispatch(ALICE, "dynamodb", "Scan", {"TableName": "orders"}, None))
    assert sorted(item["pk"]["S"] for item in got["Items"]) == ["after", "before"]
    assert router.cells["a"].ready(ALICE) is None  # forgotten in a, as a worker's is


def test_the_health_probe_goes_through_the_cells_writer(deployment: Deployment) -> None:
    writer = deployment.writer
    assert writer is not None
    deployment.router.check_health()
    assert deployment.router.health["a"].ok and deployment.router.health["b"].ok
    assert (writer.probes, writer.requests) == (1, 0)  # the writer took its lock for it; no client's request


def test_a_cell_whose_writer_does_not_answer_its_probe_is_unhealthy_and_its_writes_fail_at_once(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path)  # nobody serves cell a's listening socket: a stuck writer
    router = deployment.router
    router.probe_timeout = 0.3
    try:
        async def run() -> None:
            assert router.place(ALICE) == "a"
            cell = router.cells["a"]
            cell.bulkhead.call(lambda: cell.services(ALICE))
            stuck = [put(router, ALICE, f"k{n}") for n in range(3)]
            await asyncio.sleep(0.05)  # the frames go out
            started = time.monotonic()
            await asyncio.to_thread(router.check_health)
            assert not router.health["a"].ok and router.health["b"].ok
            for wait in stuck:  # failed when the cell was marked, not at the 10 s timeout
                with pytest.raises(ServiceUnavailable):
                    await settled(wait)
            assert time.monotonic() - started < 2.0
            with pytest.raises(CellUnavailable, match="not answering"):  # and new ones at once
                put(router, ALICE, "next")
            deployment.client.close()

        asyncio.run(run())
    finally:
        deployment.close()


def test_a_partiql_select_is_read_on_the_cells_thread_and_an_insert_goes_to_its_writer(deployment: Deployment) -> None:
    """The fast path takes only what may write (``writer.is_write``): a SELECT is no write, so it waits for the
    cell's thread like any read — never read on the event loop, where a stuck storage would hold every cell."""
    router, writer = deployment.router, deployment.writer
    assert writer is not None

    def statement(text: str) -> Any:
        return router.dispatch(ALICE, "dynamodb", "ExecuteStatement", {"Statement": text}, None)

    async def run() -> None:
        await settled(router.dispatch(ALICE, "dynamodb", "CreateTable", TABLE, None))
        held = threading.Event()
        release = threading.Event()
        router.cells["a"].bulkhead.post(lambda: (held.set(), release.wait(10)))  # cell a's only thread, held
        assert held.wait(5)
        try:
            before = writer.requests
            assert await settled(statement("INSERT INTO orders VALUE {'pk': 'q'}")) == {"Items": []}
            assert writer.requests - before == 1  # through the writer while the thread is held
            read = statement("SELECT * FROM orders WHERE pk = 'q'")
            assert isinstance(read, Wait) and not read.stale()  # queued for the held thread, not answered on the loop
        finally:
            release.set()
        assert (await settled(read))["Items"] == [{"pk": {"S": "q"}}]
        assert writer.requests - before == 1
        deployment.client.close()

    asyncio.run(run())
