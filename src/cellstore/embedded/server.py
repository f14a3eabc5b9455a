"""cellstore served over HTTP from a background thread of the calling process.

This is what a test suite or a local tool wants when something must talk to
a real endpoint (another process, a non-Python SDK, the AWS CLI): a free
loopback port, an in-memory database by default, and boto3 clients ready to
use.  The server runs its own event loop on a thread, so the calling
thread is free to make blocking boto3 calls against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cellstore.embedded.clients import Cellstore
from cellstore.engine.tenants import DEFAULT_ACCOUNT, Tenants
from cellstore.protocol.server import BackgroundServer, build_app


@contextmanager
def serve(
    data_dir: str | Path | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    storage: str | None = None,
) -> Iterator[Cellstore]:
    """Serve cellstore for the duration of the block; yields ``.endpoint_url``, ``.client()``, ``.resource()``.

    In memory unless ``data_dir`` is given (the file is ``<data_dir>/cellstore.db``).
    ``port=0`` picks a free port; ``storage`` (a ``postgresql://`` URL) puts the
    database on PostgreSQL instead.
    """
    from cellstore.storage import open_store

    path = None if data_dir is None else str(Path(data_dir) / "cellstore.db")
    # Every account in one backend, as ``cellstore serve`` has them; the
    # yielded handle's database is the default account's.
    tenants = Tenants(open_store(storage if storage is not None else path))
    try:
        with BackgroundServer(build_app(tenants), host, port) as server:
            yield Cellstore(tenants.database(DEFAULT_ACCOUNT), server.url)
    finally:
        tenants.close()


@contextmanager
def serve_cells(cells_file: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[Cellstore]:
    """Serve a deployment of cells (docs/CELLS.md) for the block, as ``cellstore serve --cells`` does.

    The yielded handle's ``db`` is the default account's database in its cell.
    """
    from cellstore.cells.config import CellConfig, load
    from cellstore.cells.deployment import open_router
    from cellstore.engine.database import Database
    from cellstore.engine.wiring import open_database
    from cellstore.protocol.server import services_for
    from cellstore.storage import is_postgres, open_store

    def open_tenants(cell: CellConfig) -> Tenants:
        if not cell.is_postgres:
            Path(cell.storage).mkdir(parents=True, exist_ok=True)
        return Tenants(open_store(cell.location()), fenced=True)

    def open_map(location: str) -> Database:
        if not is_postgres(location):
            Path(location).parent.mkdir(parents=True, exist_ok=True)
        return open_database(open_store(location), background=False)

    router = open_router(load(cells_file), open_tenants, open_map, services_for)
    try:
        default = router.cell_for(DEFAULT_ACCOUNT).tenants.database(DEFAULT_ACCOUNT)
        with BackgroundServer(build_app(router), host, port) as server:
            yield Cellstore(default, server.url)
    finally:
        router.close()
