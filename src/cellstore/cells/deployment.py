"""Opening a deployment of cells in one front end process: every cell, the cell map, the router.

The cells package never opens storage itself (it sits above the engine and
beside the protocol): whoever serves — ``cellstore serve --cells`` in
``cli.py``, or ``embedded`` in tests — passes ``open_tenants`` (a cell's
fenced ``Tenants`` over its store) and ``open_map`` (the map's
``Database``).  Each ``--workers`` process opens its own, after the fork.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping

from cellstore.api import Database, Tenants
from cellstore.cells.bulkhead import QUEUE, THREADS, TIMEOUT, Bulkhead, unavailable
from cellstore.cells.cell import Cell, StartAccount
from cellstore.cells.cellmap import REFRESH_INTERVAL, CellMap, MapTable
from cellstore.cells.config import CellConfig, CellsConfig, CellsConfigError, load
from cellstore.cells.router import Router
from cellstore.cells.status import AdminRoute
from cellstore.errors import CellstoreError
from cellstore.protocol import storage_threads
from cellstore.protocol.directory import ServicesFor
from cellstore.protocol.storage_threads import StorageThreads
from cellstore.protocol.wire import Dispatch, Service
from cellstore.protocol.writer_client import WriterClient

log = logging.getLogger("cellstore.cells")

#: Opens one cell's storage as a fenced ``Tenants``.
OpenTenants = Callable[[CellConfig], Tenants]
#: Opens the cell map's storage as a ``Database`` (a location from ``CellsConfig.map_location``).
OpenMap = Callable[[str], Database]
#: Wraps one account's dispatchers in one cell: ``wrap(cell name, database, {service: dispatch})`` (the item
#: cache of ``serve --cache``, its keys scoped by the cell).
WrapDispatch = Callable[[str, Database, dict[str, Dispatch]], dict[str, Dispatch]]
#: One cell's own ``ServicesFor`` where it differs from the deployment's (None: the same): ``serve --cells
#: --workers N`` hands an SQLite cell's writes to that cell's writer process this way.
CellServices = Callable[[CellConfig], ServicesFor | None]
#: The client a cell's writes are sent through from the event loop (None: the cell has none, or its
#: writes go from its threads): the one its ``CellServices`` hand the writes to.
CellWriter = Callable[[CellConfig], WriterClient | None]

#: Seconds a front end waits for the writer of a cell added to the cells file to answer before serving it.
WRITER_WAIT = 3.0


def open_router(
    config: CellsConfig,
    open_tenants: OpenTenants,
    open_map: OpenMap,
    services_for: ServicesFor,
    *,
    threads: int = THREADS,
    queue_size: int = QUEUE,
    timeout: float = TIMEOUT,
    refresh_interval: float = REFRESH_INTERVAL,
    start: bool = True,
    start_account: StartAccount | None = None,
    wrap: WrapDispatch | None = None,
    cell_services: CellServices | None = None,
    cell_writers: CellWriter | None = None,
) -> Router:
    """Every cell of ``config`` opened; with ``start``, the map refresher and health loop running and the
    placed tenants' databases opening (so their background work runs).  ``start_account`` starts an
    account's own work (its handlers) in the cell that serves it (``cell.Cell``); ``wrap`` wraps every
    account's dispatchers in every cell; ``cell_services`` gives a cell services of its own (under ``wrap``).
    ``cell_writers``: for a cell whose writes the event loop sends to its writer process itself, the client
    its ``cell_services`` hand the writes to (so not with ``wrap``, whose item cache works over the network
    before a write).  A cell added to the file later is opened the same way (``_reloader``).

    A cell whose storage waits on a server (PostgreSQL: ``Tenants.remote``)
    gets storage threads in its bulkhead, as a one-backend PostgreSQL server
    has (``threads`` in its cells-file entry: how many readers), and its
    services hand every operation to them (``_threaded``)."""
    if cell_writers is not None and wrap is not None:
        raise ValueError("a cell's writes go through its bulkhead's threads when its dispatchers are wrapped")

    def opened(cell_config: CellConfig) -> Cell:
        name = cell_config.name
        tenants = open_tenants(cell_config)
        writer = None if cell_writers is None else cell_writers(cell_config)
        own = None if cell_services is None else cell_services(cell_config)
        services = _wrapped(own or services_for, wrap, name)
        storage = None
        if tenants.remote and writer is None:
            storage = StorageThreads(
                cell_config.threads or storage_threads.THREADS, queue_size=queue_size, timeout=timeout,
                name=f"cell-{name}-storage", unavailable=unavailable,
                busy=f"Cell {name} is overloaded or not answering; retry the request.",
                late=f"Cell {name} did not answer in time; retry the request.",
            )
            services = _threaded(services, storage)
        # With storage threads, the bulkhead's own thread only opens accounts, probes and answers the authorizer.
        bulkhead = Bulkhead(name, threads=1 if storage is not None else cell_config.threads or threads,
                            queue_size=queue_size, timeout=timeout, storage=storage)
        return Cell(cell_config, tenants, services, bulkhead, start_account, writer=writer)

    map_db = open_map(config.map_location())
    cellmap = CellMap(MapTable(map_db), refresh_interval=refresh_interval)
    cells = {name: opened(cell_config) for name, cell_config in config.cells.items()}
    # The services' names and shapes: the same for every database, so taken from the map's.
    router = Router(config, cells, cellmap, services_for(map_db))
    router.admin = AdminRoute(router)
    router.reload = _reloader(router, config, opened)
    if start:
        for account, name in cellmap.snapshot.tenants.items():
            cell = cells.get(name)
            if cell is not None:
                cell.bulkhead.post(functools.partial(cell.services, account))
        router.start()
    return router


def _reloader(router: Router, config: CellsConfig, opened: Callable[[CellConfig], Cell]) -> Callable[[], None]:
    """A check, run each health round, that re-reads the cells file when it changes: how a cell is added,
    or a cell closed to new tenants (``accept_new = false``) before a drain, without a restart.

    A new cell with a writer process (its supervisor starts one when it sees
    the cell, within about a second) is served once that writer answers a
    probe, or after ``WRITER_WAIT`` seconds anyway (its health probes then
    keep it unhealthy, its requests refused retryably, until it answers)."""
    path = config.path

    def modified() -> int | None:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return None

    seen = modified()

    def reload() -> None:
        nonlocal seen
        now = modified()
        if now is None or now == seen:
            return
        seen = now
        try:
            new = load(path)
        except CellsConfigError as err:
            log.warning("not applying the changed cells file: %s", err)
            return
        for name, cell_config in new.cells.items():
            if name not in router.cells:
                cell = opened(cell_config)
                if cell.writer is not None:
                    _await_writer(cell)
                router.add_cell(cell)
        router.update_config(new)

    return reload


def _await_writer(cell: Cell) -> None:
    """Until ``cell``'s writer process answers a probe, or ``WRITER_WAIT`` seconds."""
    deadline = time.monotonic() + WRITER_WAIT
    while True:
        try:
            cell.probe(max(0.1, deadline - time.monotonic()))
            return
        except CellstoreError:
            if time.monotonic() >= deadline:
                log.warning("cell %s's writer process does not answer yet; serving the cell anyway", cell.name)
                return
            time.sleep(0.1)


def _threaded(services_for: ServicesFor, storage: StorageThreads) -> ServicesFor:
    """``services_for`` with every offloaded service's operations handed to ``storage`` (outermost, so the item
    cache's network work and the metering run on its threads too, as ``server.build_app`` orders them)."""

    def built(db: Database) -> Mapping[str, Service]:
        found = services_for(db)
        dispatchers = storage.wrap(db, {name: service.dispatch for name, service in found.items()})
        return {name: Service(dispatchers[name], *service[1:]) for name, service in found.items()}

    return built


def _wrapped(services_for: ServicesFor, wrap: WrapDispatch | None, cell: str) -> ServicesFor:
    """``services_for`` with ``wrap`` around each account's dispatchers in ``cell`` (itself without ``wrap``)."""
    if wrap is None:
        return services_for

    def built(db: Database) -> Mapping[str, Service]:
        found = services_for(db)
        dispatchers = wrap(cell, db, {name: service.dispatch for name, service in found.items()})
        return {name: Service(dispatchers[name], *service[1:]) for name, service in found.items()}

    return built
