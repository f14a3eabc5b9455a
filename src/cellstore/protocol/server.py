"""Running the app on cellstore's HTTP server (``protocol/http.py``), in the foreground or in a background thread.

The socket is bound here rather than by the server so that the real port is
known before the first request (``port=0`` picks a free one), and so that a
bind failure raises ``OSError`` in the caller.  The access log is off unless
asked for (``serve --access-log``): a line per request adds about a fifth to
a GetItem (``protocol/access_log.py``).
"""

from __future__ import annotations

import errno
import fcntl
import functools
import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Container, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple, Self

from cellstore import __version__
from cellstore.api import DEFAULT_ACCOUNT, Database, Tenants
from cellstore.protocol import console, descriptors, http
from cellstore.protocol.admin import routes_for
from cellstore.protocol.app import App
from cellstore.protocol.console import Console
from cellstore.protocol.directory import Directory, OneBackend
from cellstore.protocol.tracing import from_environment
from cellstore.protocol.wire import Dispatch, Routes, Service
from cellstore.protocol.writer_client import WriterClient

if TYPE_CHECKING:
    from cellstore.protocol.access_log import AccessLog
    from cellstore.protocol.credentials import CredentialsFile

log = logging.getLogger("cellstore.server")


class Tls(NamedTuple):
    """``--tls-cert``/``--tls-key``: PEM files for serving HTTPS."""

    certfile: str
    keyfile: str


def services_for(db: Database) -> dict[str, Service]:
    """The services cellstore offers over ``db``, by the name ``wire.parse_target`` gives."""
    # Imported here so that the protocol layer can be used (and tested) on its
    # own, and so that importing this module stays cheap.
    from cellstore.api import OPERATIONS, dispatch, resources, sqs, streams

    return {
        "dynamodb": Service(
            functools.partial(dispatch, db), OPERATIONS, resources=functools.partial(resources.dynamodb, db)
        ),
        "streams": Service(
            functools.partial(streams.dispatch, db), streams.OPERATIONS, resources=functools.partial(resources.streams, db)
        ),
        "sqs": Service(
            functools.partial(sqs.dispatch, db), sqs.OPERATIONS, needs_endpoint=True,
            resources=functools.partial(resources.sqs, db),
        ),
    }


def operations() -> dict[str, Container[str]]:
    """Each service's operation names (what AWS checks before anything else)."""
    from cellstore.api import OPERATIONS, sqs, streams

    return {"dynamodb": OPERATIONS, "streams": streams.OPERATIONS, "sqs": sqs.OPERATIONS}


def directory_of(backend: Database | Tenants | Directory) -> Directory:
    """The directory a server routes by: a bare ``Database`` or ``Tenants`` is one backend holding every account."""
    if isinstance(backend, Database):
        return OneBackend(Tenants.of(backend), services_for)
    if isinstance(backend, Tenants):
        return OneBackend(backend, services_for)
    return backend


def build_app(
    backend: Database | Tenants | Directory,
    credentials: CredentialsFile | None = None,
    *,
    writer: str | bytes | None = None,
    region: str | None = None,
    meter: Callable[[Database, dict[str, Dispatch]], dict[str, Dispatch]] | None = None,
) -> App:
    """The HTTP app serving the DynamoDB and SQS APIs of every account in ``backend``; with ``credentials``, ``--auth sigv4``.

    Each request's account (``protocol/directory.py``) picks its services.
    With ``writer`` (the writer process's address, ``serve --workers``)
    write operations are handed to that process (``protocol/writer.py``).
    ``meter`` (``Metrics.meter``) wraps the dispatchers innermost, under
    ``DISPATCH_WRAPPERS``; a directory of cells meters its cells' services itself.
    """
    directory = directory_of(backend)
    if region is None:
        region = getattr(directory, "region", "us-east-1")
    auth = None
    if credentials is not None:
        from cellstore.protocol.auth import Auth

        auth = Auth(credentials, region=region)
    services = directory.services
    if meter is not None and not isinstance(directory, OneBackend):
        meter = None  # a router's requests run on each cell's own services, metered where they are built (cli.py)
    wrappers = (() if meter is None else (meter,)) + tuple(DISPATCH_WRAPPERS)
    threads = None
    if isinstance(directory, OneBackend) and directory.tenants.remote:
        # A server database (PostgreSQL): engine calls on threads, so round trips overlap.
        from cellstore.protocol.storage_threads import StorageThreads

        threads = StorageThreads()
        wrappers += (threads.wrap,)
    if writer is not None or wrappers:
        if not isinstance(directory, OneBackend):
            raise ValueError("the single writer and the item cache serve one backend, not cells")
        client = WriterClient(writer) if writer is not None else None

        def built(db: Database) -> Mapping[str, Service]:
            """One account's services, its writes handed to the writer and its dispatchers wrapped."""
            found: Mapping[str, Service] = services_for(db)
            if client is not None:
                found = client.wrap(found, db.account)
            for wrap in wrappers:
                dispatchers = wrap(db, {name: service.dispatch for name, service in found.items()})
                found = {name: Service(dispatchers[name], *service[1:]) for name, service in found.items()}
            return found

        services = OneBackend(directory.tenants, built).services
        services(DEFAULT_ACCOUNT)  # built now: a wrapper's mistakes show at start, not on a first request
    app = App(Routes(operations(), services), region=region, auth=auth)
    if threads is not None:
        app.closers.append(threads.close)  # ended when the server stops (run_on, BackgroundServer.stop)
    admin = routes_for(directory)  # GET /_cellstore/NAME: handlers, cache (cli.py's SOURCES) or a router's cells
    app.admin = admin if admin.names else None
    if console.SETTINGS.enabled:  # serve --no-console: no /console
        app.console = Console(region=region, auth_required=auth is not None, pages=admin.names).respond
    return app


#: Wrappers ``build_app`` puts around the services' dispatchers, in order, in every server process:
#: ``wrap(db, {service: dispatch}) -> {service: dispatch}``.  cli.py adds the item cache here
#: (``serve --cache``); the protocol layer itself knows nothing of it.
DISPATCH_WRAPPERS: list[Callable[[Database, dict[str, Dispatch]], dict[str, Dispatch]]] = []


#: Seconds ``cellstore serve`` retries a port that is in use: a server killed
#: just before (kill -9, then restarted at once) may take a moment to let go,
#: since its workers exit a little after their supervisor.
PORT_WAIT = 3.0


def bind(host: str, port: int, *, wait: float = 0.0) -> socket.socket:
    """A listening socket; ``port=0`` asks the OS for a free one; a port in use is retried for ``wait`` seconds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    deadline = time.monotonic() + wait
    while True:
        try:
            return socket.create_server((host, port), family=family, backlog=2048)
        except OSError as err:
            if err.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def url_of(sock: socket.socket, tls: Tls | None = None) -> str:
    host, port = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


#: The file in a data directory whose lock says a server is using it.
SERVE_LOCK = "cellstore.db.serve"


class DataDirInUse(Exception):
    """Another cellstore server is running on this data directory."""


_claimed: list[int] = []  # lock descriptors this process holds for its lifetime


def claim_data_dir(path: Path, *, wait: float = PORT_WAIT) -> None:
    """Hold an exclusive lock on ``path`` for the life of this process, or raise ``DataDirInUse``.

    Two servers on one SQLite file would both work, each with its own
    wake-ups, leases and caches, and would look to their clients like one
    server losing messages.  The lock is ``flock`` on a file in the
    directory, taken by the supervisor only (workers close their copy right
    after the fork), so the kernel drops it the moment that process ends —
    kill -9 included — and a restart straight after a kill -9 gets it within
    ``wait`` seconds.  The file holds the holder's pid, for the message.
    """
    lock = path / SERVE_LOCK
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"--data-dir {path} is in use by another cellstore server (pid {holder}): "
                "stop that one, or choose another --data-dir"
            ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    if not _claimed:
        os.register_at_fork(after_in_child=_drop_claims)
    _claimed.append(fd)


def _drop_claims() -> None:
    """In a forked worker: close the copies of the lock, so that only the supervisor holds it."""
    while _claimed:
        os.close(_claimed.pop())


def _server(
    app: App, tls: Tls | None = None, max_connections: int | None = None, access_log: AccessLog | None = None
) -> http.Server:
    return http.Server(
        app,
        tls=http.tls_context(tls.certfile, tls.keyfile) if tls else None,
        precheck=app.precheck,
        max_connections=descriptors.connection_limit(max_connections),
        access_log=access_log,
    )


def banner(url: str, workers: int, about: str = "") -> str:
    """The start-up line: the URL first (tests and scripts read it), then workers and ``about``."""
    line = f"cellstore {__version__} listening on {url} ({workers} worker{'s' if workers > 1 else ''})"
    return f"{line}; {about}" if about else line


def serve(
    backend: Database | Tenants | Directory,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
    max_connections: int | None = None,
    about: str = "",
    access_log: AccessLog | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then close ``backend`` so SQLite checkpoints.

    Returns normally after a signal, so a supervisor sees exit code 0 for a
    clean shutdown.  ``max_connections`` None derives the cap from the
    open-file limit, first raised to its hard limit.  ``about`` ends the
    start-up line (where the data lives, auth...); ``access_log`` gets a
    line per request.
    """
    descriptors.raise_open_file_limit()
    directory = directory_of(backend)
    try:
        sock = bind(host, port, wait=PORT_WAIT)
    except BaseException:
        directory.close()  # run_on would have; nothing was served
        raise
    try:
        run_on(
            directory, sock, credentials=credentials, tls=tls, max_connections=max_connections, access_log=access_log,
            ready=banner(url_of(sock, tls), 1, about),
        )
    finally:
        sock.close()
        log.info("cellstore stopped")


def run_on(
    backend: Database | Tenants | Directory,
    sock: socket.socket,
    *,
    credentials: CredentialsFile | None = None,
    tls: Tls | None = None,
    max_connections: int | None = None,
    access_log: AccessLog | None = None,
    ready: str | None = None,
    writer: str | bytes | None = None,
) -> None:
    """Serve ``backend`` on an already listening socket until a signal; closes it.

    With ``credentials``, SIGHUP re-reads them (in this process); with
    ``writer``, writes go to the writer process at that address.  ``ready``
    is logged once SIGINT and SIGTERM stop the server gracefully: a
    supervisor that signals as soon as it reads the start-up line gets exit
    code 0, not death by signal.
    """
    if access_log is not None and credentials is not None:
        access_log.credentials = credentials  # principals by name, not by access key
    directory = directory_of(backend)
    metrics = None if access_log is None else access_log.metrics
    app = build_app(directory, credentials, writer=writer, meter=None if metrics is None else metrics.meter)
    if access_log is not None and access_log.metrics is not None:
        if isinstance(directory, OneBackend):  # table and queue gauges: the default account's
            default = directory.tenants.database(DEFAULT_ACCOUNT)
            access_log.metrics.bind(services_for(default), default)
        else:
            access_log.metrics.know(operations())  # a directory of cells: request counts and its cells' figures
            access_log.metrics.watch(directory)
        app.metrics = access_log.metrics.exposition
    tracing = from_environment()  # None unless OpenTelemetry is installed and configured
    if tracing is not None:
        app.routes = Routes(app.routes.operations, _traced(app.routes.services, tracing.services))
    server = _server(app, tls, max_connections, access_log)
    if tracing is not None:
        server.app = tracing.wrap(app)
    # Everything alive now (modules, the app, parsed tables) lives as long as
    # the process: move it out of the collector's sight, so a full collection
    # walks only what requests allocate and does not stall one for milliseconds.
    gc.collect()
    gc.freeze()
    # SIGINT/SIGTERM ask for a graceful stop: the server's loop handles them
    # while it runs, and this handler before it starts (a signal then is not
    # lost) and after it stops (a second one while the database closes is
    # not fatal).
    def stop(signum: int, frame: object) -> None:
        server.should_exit = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    if credentials is not None:
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda signum, frame: credentials.reload())
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})  # a forked worker starts with it blocked
    if ready is not None:
        log.info("%s", ready)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        app.close()
        directory.close()


def _traced(
    routed: Callable[[str], Mapping[str, Service]], wrap: Callable[[Mapping[str, Service]], dict[str, Service]]
) -> Callable[[str], Mapping[str, Service]]:
    """``routed`` with each account's services wrapped in spans once, then kept."""
    wrapped: dict[str, Mapping[str, Service]] = {}

    def services(account: str) -> Mapping[str, Service]:
        found = wrapped.get(account)
        if found is None:
            found = wrapped[account] = wrap(routed(account))
        return found

    return services


class BackgroundServer:
    """An app (normally ``build_app(db)``) served from a daemon thread of this process.

    Whoever built the app keeps its database: ``stop`` stops serving but
    closes nothing else.
    """

    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0, *, tls: Tls | None = None) -> None:
        self._sock = bind(host, port)
        self.url = url_of(self._sock, tls)
        self.port: int = self._sock.getsockname()[1]
        self._app = app
        self._server = _server(app, tls)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"cellstore-server-{self.port}",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("cellstore server thread exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"cellstore server did not start within {timeout}s")
            time.sleep(0.001)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
        close = getattr(self._app, "close", None)  # App's; stand-ins may have none
        if close is not None:
            close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
