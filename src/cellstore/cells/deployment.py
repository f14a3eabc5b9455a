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
from collections.abc import Callable, Mapping

from cellstore.api import Database, Tenants
from cellstore.cells.bulkhead import QUEUE, THREADS, TIMEOUT, Bulkhead
from cellstore.cells.cell import Cell, StartAccount
from cellstore.cells.cellmap import REFRESH_INTERVAL, CellMap, MapTable
from cellstore.cells.config import CellConfig, CellsConfig, CellsConfigError, load
from cellstore.cells.router import Router
from cellstore.cells.status import AdminRoute
from cellstore.protocol.directory import ServicesFor
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
#: One cell's own ``ServicesFor``, by cell name, where it differs from the deployment's (None: the same):
#: ``serve --cells --workers N`` hands an SQLite cell's writes to that cell's writer process this way.
CellServices = Callable[[str], ServicesFor | None]


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
    cell_writers: Mapping[str, WriterClient] | None = None,
) -> Router:
    """Every cell of ``config`` opened; with ``start``, the map refresher and health loop running and the
    placed tenants' databases opening (so their background work runs).  ``start_account`` starts an
    account's own work (its handlers) in the cell that serves it (``cell.Cell``); ``wrap`` wraps every
    account's dispatchers in every cell; ``cell_services`` gives a cell services of its own (under ``wrap``).
    ``cell_writers``: the cells whose writes the event loop sends to their writer process itself, through
    this client, which their ``cell_services`` hand the writes to (so not with ``wrap``, whose item cache
    works over the network before a write).  A cell added to the file later gets ``services_for``
    (``_reloader``)."""
    if cell_writers and wrap is not None:
        raise ValueError("a cell's writes go through its bulkhead's threads when its dispatchers are wrapped")
    map_db = open_map(config.map_location())
    cellmap = CellMap(MapTable(map_db), refresh_interval=refresh_interval)
    cells = {}
    for name, cell_config in config.cells.items():
        bulkhead = Bulkhead(name, threads=cell_config.threads or threads, queue_size=queue_size, timeout=timeout)
        own = None if cell_services is None else cell_services(name)
        cells[name] = Cell(cell_config, open_tenants(cell_config), _wrapped(own or services_for, wrap, name), bulkhead,
                           start_account, writer=None if cell_writers is None else cell_writers.get(name))
    # The services' names and shapes: the same for every database, so taken from the map's.
    router = Router(config, cells, cellmap, services_for(map_db))
    router.admin = AdminRoute(router)
    router.reload = _reloader(router, config, open_tenants, services_for, queue_size, timeout, threads, start_account,
                              wrap)
    if start:
        for account, name in cellmap.snapshot.tenants.items():
            cell = cells.get(name)
            if cell is not None:
                cell.bulkhead.post(functools.partial(cell.services, account))
        router.start()
    return router


def _reloader(
    router: Router, config: CellsConfig, open_tenants: OpenTenants, services_for: ServicesFor,
    queue_size: int, timeout: float, threads: int, start_account: StartAccount | None, wrap: WrapDispatch | None,
) -> Callable[[], None]:
    """A check, run each health round, that re-reads the cells file when it changes: how a cell is added,
    or a cell closed to new tenants (``accept_new = false``) before a drain, without a restart."""
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
                bulkhead = Bulkhead(name, threads=cell_config.threads or threads, queue_size=queue_size, timeout=timeout)
                router.add_cell(Cell(cell_config, open_tenants(cell_config), _wrapped(services_for, wrap, name), bulkhead,
                                     start_account))
        router.update_config(new)

    return reload


def _wrapped(services_for: ServicesFor, wrap: WrapDispatch | None, cell: str) -> ServicesFor:
    """``services_for`` with ``wrap`` around each account's dispatchers in ``cell`` (itself without ``wrap``)."""
    if wrap is None:
        return services_for

    def built(db: Database) -> Mapping[str, Service]:
        found = services_for(db)
        dispatchers = wrap(cell, db, {name: service.dispatch for name, service in found.items()})
        return {name: Service(dispatchers[name], *service[1:]) for name, service in found.items()}

    return built
