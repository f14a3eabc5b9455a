"""The cell router: the ``Directory`` a server of cells routes by (account → cell → that cell's services).

For each request the protocol layer finds the account and calls the routed
service this module hands out for it.  The router then:

1. looks the account up in the cached cell map (``cellmap.CellMap``), a
   dict lookup; an account the map does not know is placed first
   (``placement.choose``), on the router's own small bulkhead, because that
   reads and writes the map's storage;
2. runs the operation on the account's cell's ``Bulkhead`` and returns its
   ``Wait`` to the event loop, so no storage call of any cell ever runs on
   the loop (a hung cell holds only its own threads) — except a write for a
   cell's own writer process (``serve --cells --workers N`` on SQLite),
   which needs no storage call here, only its frame sent: the loop sends it
   and reads the answer itself, as a plain server does, within the
   bulkhead's bound and timeout (``_send``); and any operation of a
   PostgreSQL cell, which the loop hands to the cell's storage threads
   (``Bulkhead.storage``: group commit, shared overlapped snapshots) the
   same way;
3. if the cell answers ``TenantMoved`` (the account was fenced there for a
   move), forgets the account in that cell, reloads the map until it names
   the new cell (up to ``move_wait`` seconds: the fence comes just before
   the final copy pass and the switch) and runs the operation again there;
4. a long-polling ReceiveMessage's ``Wait`` is re-wrapped so that each of
   its later attempts also runs on the cell's threads.

A health loop probes every cell every ``HEALTH_INTERVAL`` seconds through
its bulkhead; placement skips unhealthy cells (a pinned tenant aside), and
``cells status`` reports what the probes saw.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cellstore.cells import placement
from cellstore.cells.bulkhead import Bulkhead, CellUnavailable, unavailable
from cellstore.cells.cell import Cell
from cellstore.cells.cellmap import CellMap
from cellstore.cells.config import CellsConfig
from cellstore.errors import CellstoreError, TenantMoved
from cellstore.protocol.wire import Service
from cellstore.waiting import Wait

log = logging.getLogger("cellstore.cells")

#: Seconds between health probes of every cell.
HEALTH_INTERVAL = 2.0
#: Seconds a health probe may take before its cell counts as unhealthy (and its requests fail at once).
PROBE_TIMEOUT = 2.0
#: Seconds a request for a moving account waits for the map to switch before it gets a retryable 503.
MOVE_WAIT = 5.0
#: Seconds the event loop waits for an authorization's key-schema read, and for placing a new tenant there.
AUTHORIZE_WAIT = 0.5
PLACE_WAIT = 2.0
#: Seconds a cell's size is remembered for placement.
SIZE_TTL = 30.0


def _itself(services: Mapping[str, Service]) -> Mapping[str, Service]:
    return services


@dataclass(frozen=True, slots=True)
class _Moved:
    """A cell's answer meaning: this account is fenced here (moving away); find its new cell and run it there."""

    cell: str


@dataclass(slots=True)
class Health:
    """What the last probe of a cell saw."""

    ok: bool = True
    checked: float = 0.0  # time.time() of the last probe that finished
    error: str = ""
    latency: float = 0.0  # seconds the last probe took


class Router:
    """Routes each account's requests to its cell (see the module docstring)."""

    def __init__(
        self,
        config: CellsConfig,
        cells: dict[str, Cell],
        cellmap: CellMap,
        template: Mapping[str, Service],
        *,
        move_wait: float = MOVE_WAIT,
        health_interval: float = HEALTH_INTERVAL,
        probe_timeout: float = PROBE_TIMEOUT,
        region: str = "us-east-1",
    ) -> None:
        self.config = config
        self.region = region
        self.probe_timeout = probe_timeout
        self.cells = cells
        self.cellmap = cellmap
        self.move_wait = move_wait
        self.health = {name: Health() for name in cells}
        self.reroutes = 0
        #: Called each health round: re-reads the cells file if it changed (``deployment.open_router``).
        self.reload: Callable[[], None] | None = None
        #: ``GET /_cellstore/cells`` (``status.AdminRoute``, set by ``deployment.open_router``); the app serves it.
        self.admin: Callable[..., Any] | None = None
        self._template = template
        self._routed: dict[str, Mapping[str, Service]] = {}
        self._sizes: dict[str, tuple[float, int]] = {}
        # Placing new tenants and waiting out moves' switches: work on the map, never on a cell's threads.
        self._placer = Bulkhead("map", threads=4, queue_size=1024)
        self._health_interval = health_interval
        self._stopping = threading.Event()
        self._health_thread = threading.Thread(target=self._health_loop, name="cellstore-cell-health", daemon=True)

    def add_cell(self, cell: Cell) -> None:
        """Serve one more cell (added to the cells file while running); it takes new tenants at once."""
        self.health[cell.name] = Health()
        self.cells = {**self.cells, cell.name: cell}  # a new dict: readers iterate the old one safely
        log.info("serving a new cell: %s", cell.name)

    def update_config(self, config: CellsConfig) -> None:
        """A re-read cells file: new pins, caps, zones and ``accept_new`` apply from now on.

        A cell whose ``storage`` changed keeps the storage it was opened on
        (restart the front end to move a cell); a cell removed from the file
        is still served (drain it first, then restart).
        """
        for name, cell in self.cells.items():
            new = config.cells.get(name)
            if new is None:
                log.warning("cell %s is no longer in %s; still serving it until a restart", name, config.path)
            elif new.storage != cell.config.storage:
                log.warning("cell %s's storage changed in %s; the change needs a restart", name, config.path)
            else:
                cell.config = new
        self.config = config

    def start(self) -> None:
        """Start the map refresher and the health loop."""
        self.cellmap.start()
        self._health_thread.start()

    def close(self) -> None:
        self._stopping.set()
        self.cellmap.stop()
        self._placer.close()
        for cell in self.cells.values():
            cell.close()
        self.cellmap.table.db.close()

    # --- Directory

    def services(self, account: str) -> Mapping[str, Service]:
        found = self._routed.get(account)
        if found is None:
            found = self._routed[account] = {name: self._routed_service(account, name, service)
                                             for name, service in self._template.items()}
        return found

    def _routed_service(self, account: str, name: str, template: Service) -> Service:
        if template.needs_endpoint:
            def dispatch(operation: str, payload: dict[str, Any], endpoint: str | None = None) -> Any:
                return self.dispatch(account, name, operation, payload, endpoint)
        else:
            def dispatch(operation: str, payload: dict[str, Any], endpoint: str | None = None) -> Any:
                return self.dispatch(account, name, operation, payload, None)

        resources = None
        if template.resources is not None:
            def resources(operation: str, payload: dict[str, Any]) -> Any:
                return self.resources(account, name, operation, payload)
        return Service(dispatch, template.operations, template.needs_endpoint, resources)

    def resources(self, account: str, service: str, operation: str, payload: dict[str, Any]) -> Any:
        """What a request touches, for ``--auth sigv4``'s authorizer, which asks on the event loop.

        It reads the table's key schema, so it runs on the cell's bulkhead
        like the request itself, but the loop waits for it: at most
        ``AUTHORIZE_WAIT`` seconds (and not at all for a cell known to be
        unhealthy), so a hung cell can stall the loop for that long per
        request only until the health loop marks it.
        """
        name = self.cellmap.cell_of(account)
        if name is None:
            name = self._on_loop(self._placer, lambda: self.place(account), service, PLACE_WAIT)
        cell = self.cells.get(name)
        if cell is None:
            raise unavailable(service, f"Account {account} is in cell {name}, which this server does not serve.")
        if not self.health[name].ok:
            raise unavailable(service, f"Cell {name} is not answering; retry the request.")

        def read() -> Any:
            inner = cell.services(account)[service].resources
            return None if inner is None else inner(operation, payload)

        return self._on_loop(cell.bulkhead, read, service, AUTHORIZE_WAIT)

    @staticmethod
    def _on_loop(bulkhead: Bulkhead, work: Callable[[], Any], service: str, wait: float) -> Any:
        """``work()`` on ``bulkhead``, its caller waiting at most ``wait`` seconds (then a retryable 503)."""
        pending = bulkhead.submit(work, service)
        pending.wakeups.block(pending.queue_id, pending.generation, time.monotonic() + wait)
        return pending.retry()

    # --- routing

    def dispatch(self, account: str, service: str, operation: str, payload: dict[str, Any], endpoint: str | None) -> Any:
        """Run one operation for ``account`` on its cell; the ``Wait`` settles with the answer."""
        name = self.cellmap.cell_of(account)
        if name is None:
            return self._placer.submit(
                lambda: self.place(account), service,
                then=lambda placed: self._run_on(placed, account, service, operation, payload, endpoint, 0),
            )
        # The usual write of a cell with a writer, or any request of a PostgreSQL cell: no closure, no hop.
        cell = self.cells.get(name)
        if cell is not None and cell.sends(service, operation, payload) and self.health[name].ok:
            services = cell.ready(account)
            if services is not None:
                cell.requests.count()
                return self._send(cell, account, service, operation, payload, endpoint, services, 0)
        return self._run_on(name, account, service, operation, payload, endpoint, 0)

    def _run_on(
        self, name: str, account: str, service: str, operation: str, payload: dict[str, Any], endpoint: str | None,
        hops: int,
    ) -> Any:
        cell = self.cells.get(name)
        if cell is None:  # the map names a cell this front end's file does not have
            raise unavailable(service, f"Account {account} is in cell {name}, which this server does not serve.")
        if hops > 3:
            raise unavailable(service, f"Account {account} is moving; retry the request.")
        cell.requests.count()
        if not self.health[name].ok:  # fail fast: do not queue behind a cell known not to answer
            cell.failures += 1
            raise unavailable(service, f"Cell {name} is not answering; retry the request.")

        def then(result: Any) -> Any:
            if isinstance(result, _Moved):  # wait for the map's switch on the router's threads, not the cell's
                return self._rerouted(account, service, operation, payload, endpoint, result.cell, hops)
            if isinstance(result, Wait):
                inner = result
                if not inner.ends_on_stop:  # a write in the cell's writer process: its answer is read on the loop
                    return Wait(inner.wakeups, inner.queue_id, inner.generation, inner.deadline,
                                lambda: then(self._handed_back(cell, account, inner)), ends_on_stop=False)
                # a long poll: its next attempt runs on the cell's threads too
                return Wait(inner.wakeups, inner.queue_id, inner.generation, inner.deadline,
                            lambda: cell.bulkhead.submit(lambda: self._guarded(cell, account, service, lambda _: inner.retry()),
                                                         service, then=then))
            return result

        def work(services: Mapping[str, Service]) -> Any:
            dispatch = services[service].dispatch
            return dispatch(operation, payload) if endpoint is None else dispatch(operation, payload, endpoint)

        def send(found: Mapping[str, Service] | _Moved) -> Any:  # on the loop again, the account's database open
            if isinstance(found, _Moved):
                return then(found)
            return self._send(cell, account, service, operation, payload, endpoint, found, hops)

        if cell.sends(service, operation, payload):
            # A write for the cell's writer process, or a PostgreSQL cell's request for its storage threads, sent
            # from the loop once the cell's thread has opened the account's database (its first request here).
            job: Callable[[], Any] = lambda: self._guarded(cell, account, service, _itself)  # noqa: E731
            settle: Callable[[Any], Any] = send
        else:
            job, settle = (lambda: self._guarded(cell, account, service, work)), then
        try:
            return cell.bulkhead.submit(job, service, then=settle)
        except CellstoreError:
            cell.failures += 1
            raise

    def _rerouted(
        self, account: str, service: str, operation: str, payload: dict[str, Any], endpoint: str | None,
        away_from: str, hops: int,
    ) -> Wait:
        """A request its cell refused (``TenantMoved``): once the map names another cell (waited for on the
        router's threads, not a cell's), run it there."""
        def rerun(new_cell: str) -> Any:
            self.reroutes += 1
            return self._run_on(new_cell, account, service, operation, payload, endpoint, hops + 1)

        return self._placer.submit(lambda: self._await_switch(account, away_from, service), service, then=rerun)

    def _send(
        self, cell: Cell, account: str, service: str, operation: str, payload: dict[str, Any], endpoint: str | None,
        services: Mapping[str, Service], hops: int,
    ) -> Any:
        """On the event loop: hand a write to ``cell``'s writer process, or a request to its storage threads,
        bounded as the cell's bulkhead is.

        The services of a cell with a writer only encode the write and queue
        its frame (``Cell``), which never blocks: the frames go out when the
        socket takes them, the answer is read by the loop, and a writer that
        does not answer costs the loop nothing.  So the bulkhead's guarantees
        hold without its thread: at most ``queue_size`` writes of the cell in
        flight on this worker (beyond that a write fails at once with a
        retryable 503), each answered within the bulkhead's timeout (else a
        503), and a ``TenantMoved`` from the writer re-routes as ever.  A
        PostgreSQL cell's services only queue the request for its storage
        threads (``Bulkhead.storage``), which keep the same bound and timeout.
        """
        bulkhead = cell.bulkhead
        writer = cell.writer
        storage = bulkhead.storage
        if (writer is not None and writer.in_flight >= bulkhead.queue_size) or (
                storage is not None and storage.waiting >= bulkhead.queue_size):
            bulkhead.rejected += 1
            cell.failures += 1
            raise unavailable(service, f"Cell {cell.name} is overloaded or not answering; retry the request.")
        dispatch = services[service].dispatch
        sent = dispatch(operation, payload) if endpoint is None else dispatch(operation, payload, endpoint)
        if type(sent) is not Wait:  # answered without the writer (not a write after all)
            return sent
        return Wait(sent.wakeups, sent.queue_id, sent.generation, sent.deadline,
                    functools.partial(self._answered, cell, account, service, operation, payload, endpoint, sent, hops),
                    sent.ends_on_stop)

    def _answered(
        self, cell: Cell, account: str, service: str, operation: str, payload: dict[str, Any], endpoint: str | None,
        sent: Wait, hops: int,
    ) -> Any:
        """A sent write's answer, on the loop (decoded only: no hop to the cell's threads); refused by the writer
        because the account moved (``TenantMoved``), it is forgotten here and the write re-routed.  An answer
        that is itself a ``Wait`` (a long poll's next attempt, on a PostgreSQL cell's storage threads) is
        followed the same way."""
        try:
            result = sent.retry()
        except TenantMoved:
            pass
        else:
            if type(result) is Wait:
                return Wait(result.wakeups, result.queue_id, result.generation, result.deadline,
                            functools.partial(self._answered, cell, account, service, operation, payload, endpoint,
                                              result, hops),
                            result.ends_on_stop)
            return result
        cell.bulkhead.post(functools.partial(cell.forget, account))
        return self._rerouted(account, service, operation, payload, endpoint, cell.name, hops)

    def _guarded(self, cell: Cell, account: str, service: str, work: Callable[[Mapping[str, Service]], Any]) -> Any:
        """``work`` on ``cell``'s threads; a ``TenantMoved`` becomes a ``_Moved`` (the loop re-routes it)."""
        try:
            return work(cell.services(account))
        except TenantMoved:
            cell.forget(account)
            return _Moved(cell.name)

    @staticmethod
    def _handed_back(cell: Cell, account: str, handed: Wait) -> Any:
        """The cell's writer's answer to a handed-off write (``protocol/writer.py``), on the event loop: it is
        only decoded here, so no hop to the cell's threads; a ``TenantMoved`` becomes a ``_Moved``, the
        account's database forgotten on the cell's threads."""
        try:
            return handed.retry()
        except TenantMoved:
            cell.bulkhead.post(functools.partial(cell.forget, account))
            return _Moved(cell.name)

    def _await_switch(self, account: str, away_from: str, service: str) -> str:
        deadline = time.monotonic() + self.move_wait
        pause = 0.02
        while True:
            found = self.cellmap.refresh().tenants.get(account)
            if found is not None and found != away_from:
                return found
            if time.monotonic() >= deadline:
                raise unavailable(service, f"Account {account} is moving between cells; retry the request.")
            time.sleep(pause)
            pause = min(pause * 2, 0.25)

    # --- placement

    def cell_for(self, account: str) -> Cell:
        """``account``'s cell, placing the account if it is new (blocks on the map's storage then)."""
        name = self.cellmap.cell_of(account) or self.place(account)
        cell = self.cells.get(name)
        if cell is None:
            raise unavailable("dynamodb", f"Account {account} is in cell {name}, which this server does not serve.")
        return cell

    def place(self, account: str) -> str:
        """Where ``account`` lives, placing it by the policy (``placement.py``) if nobody has yet."""
        snapshot = self.cellmap.refresh()  # another front end may have placed it
        found = snapshot.tenants.get(account)
        if found is not None:
            return found
        healthy = {name: cell.config for name, cell in self.cells.items() if self.health[name].ok}
        chosen = placement.choose(
            account, healthy, self.config.pinned, snapshot.counts(),
            stored_bytes=self._size, recent_requests=lambda name: int(self.cells[name].requests.rate()),
        )
        placed = self.cellmap.place(account, chosen)
        log.info("placed account %s in cell %s", account, placed)
        return placed

    def _size(self, name: str) -> int:
        cached = self._sizes.get(name)
        if cached is not None and time.monotonic() - cached[0] < SIZE_TTL:
            return cached[1]
        cell = self.cells[name]
        try:
            size = int(cell.bulkhead.call(cell.stored_bytes))
        except CellstoreError:
            size = 1 << 62  # not answering: as good as full
        self._sizes[name] = (time.monotonic(), size)
        return size

    # --- health

    def _health_loop(self) -> None:
        while not self._stopping.wait(self._health_interval):
            if self.reload is not None:
                try:
                    self.reload()
                except Exception:  # a bad reload must not stop the health loop
                    log.exception("re-reading the cells file failed")
            self.check_health()
            self.reconcile()
            for cell in self.cells.values():
                cell.requests.sample()

    def reconcile(self) -> None:
        """Open here what the map places in each cell, close what it places elsewhere.

        An account moved away keeps its database (and background work: TTL,
        stream trimming, backfills) open in the old cell of every front end
        until told; one moved in, or placed by another front end, has its
        background work started here without waiting for a request.
        """
        placed = self.cellmap.snapshot.tenants
        for name, cell in self.cells.items():
            for account in cell.tenants.opened():
                if placed.get(account, name) != name:
                    cell.bulkhead.post(functools.partial(cell.forget, account))
            if self.health[name].ok:
                opened = set(cell.tenants.opened())
                for account, where in placed.items():
                    if where == name and account not in opened:
                        cell.bulkhead.post(functools.partial(cell.services, account))

    def check_health(self) -> None:
        """Probe every cell at once through its bulkhead; one that does not answer within ``probe_timeout`` is unhealthy.

        A probe waits in the cell's queue like a request, so a cell whose
        threads are all stuck is unhealthy even before its storage is asked.
        """
        started = time.monotonic()
        probes: dict[str, tuple[threading.Event, list[BaseException]]] = {}
        for name, cell in self.cells.items():
            done, failed = threading.Event(), list[BaseException]()
            probes[name] = (done, failed)
            if not cell.bulkhead.post(functools.partial(_probe, cell, done, failed, self.probe_timeout)):
                failed.append(CellUnavailable(f"cell {name}'s queue is full"))
                done.set()
        for name, (done, failed) in probes.items():
            health = self.health[name]
            answered = done.wait(max(0.0, started + self.probe_timeout - time.monotonic()))
            if answered and not failed:
                if not health.ok:
                    log.warning("cell %s is healthy again", name)
                health.ok, health.error = True, ""
            else:
                error = str(failed[0]) if failed else f"no answer to a probe within {self.probe_timeout:g}s"
                if health.ok:
                    log.warning("cell %s is unhealthy: %s", name, error)
                health.ok, health.error = False, error
                cell = self.cells[name]
                cell.bulkhead.fail_waiting(f"Cell {name} is not answering; retry the request.")
                if cell.writer is not None:  # and the writes its writer process has not answered yet
                    cell.writer.fail_in_flight()
            health.checked = time.time()
            health.latency = time.monotonic() - started


def _probe(cell: Cell, done: threading.Event, failed: list[BaseException], timeout: float) -> None:
    try:
        cell.probe(timeout)
    except Exception as err:  # noqa: BLE001 - any failure of the probe is the cell's ill health
        failed.append(err)
    finally:
        done.set()
