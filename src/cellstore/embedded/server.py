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
