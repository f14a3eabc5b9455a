"""The ``cellstore`` command: a thin shell over the library, one function per subcommand."""

from __future__ import annotations

import argparse
import errno
import functools
import logging
import os
import shutil
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellstore import __version__
from cellstore.cache import command as cache_command
from cellstore.cells import command as cells_command

if TYPE_CHECKING:
    from cellstore.api import Database as MapDatabase
    from cellstore.api import Tenants
    from cellstore.cache.items import ServiceCache
    from cellstore.cells.config import CellConfig
    from cellstore.protocol.access_log import AccessLog
    from cellstore.protocol.directory import ServicesFor
    from cellstore.protocol.writer_client import SharedWriterClient, WriterClient
    from cellstore.storage.base import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellstore",
        description="A data store that speaks the DynamoDB, DynamoDB Streams and SQS APIs on one port, "
        "and runs handlers fed from its streams and queues.",
        epilog="Run 'cellstore COMMAND --help' for a command's options; the operations served are "
        "listed in docs/OPERATIONS.md.",
    )
    parser.add_argument("--version", action="version", version=f"cellstore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve DynamoDB, DynamoDB Streams and SQS over HTTP (and run handlers)",
        description="Serve the DynamoDB, DynamoDB Streams and SQS APIs over HTTP on one port until SIGINT "
        "or SIGTERM, and run the stream and queue handlers of --handlers.",
        epilog="examples:\n  cellstore serve --port 8000 --data-dir ./data\n  cellstore serve --in-memory --port 0\n  cellstore serve --workers 2 --data-dir ./data\n  cellstore serve --ttl-interval 1 --in-memory\n  cellstore serve --workers 4 --storage postgresql://cellstore@db.internal/cellstore\n  cellstore serve --auth sigv4 --credentials creds.toml --tls-cert cert.pem --tls-key key.pem\n  cellstore serve --in-memory --access-log - --access-log-format json\n  OTEL_TRACES_EXPORTER=console cellstore serve --in-memory --log-format json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port", type=_port, default=8000, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="server processes sharing the port and the data, one core each "
        "(default: one per CPU core; 1 with --in-memory)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=None,
        metavar="N",
        help="client connections each server process keeps open; past it the longest-idle keep-alive "
        "connection is closed to admit a new one (default: the open-file limit, raised to its hard "
        "limit at start, less 64 descriptors; see docs/RELIABILITY.md)",
    )
    serve.add_argument(
        "--writer",
        action=argparse.BooleanOptionalAction,
        default=None,  # None: the writer where it applies (SQLite, --workers > 1: one backend, or each SQLite cell)
        help="with --workers > 1 on SQLite, one writer process runs every write, with group commit, so no "
        "worker waits on SQLite's lock (docs/ARCHITECTURE.md, write path); with --cells, one per SQLite cell; "
        "--no-writer lets each worker write for itself, taking turns on the lock, as before (default: the writer)",
    )
    serve.add_argument(
        "--ttl-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between TTL sweeps (default: $CELLSTORE_TTL_INTERVAL or 10)",
    )
    serve.add_argument(
        "--handlers",
        type=Path,
        metavar="FILE",
        help="run the stream and queue handlers listed in this TOML file (see docs/HANDLERS.md)",
    )
    storage = serve.add_mutually_exclusive_group()
    storage.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="directory holding cellstore.db, created if missing (default: ./data)",
    )
    storage.add_argument(
        "--in-memory", action="store_true", help="keep everything in memory; lost on exit"
    )
    storage.add_argument(
        "--storage",
        metavar="URL",
        help="a postgresql:// URL: keep the data in that PostgreSQL database instead of SQLite "
        "(any number of servers may share it)",
    )
    storage.add_argument(
        "--cells",
        type=Path,
        metavar="FILE",
        help="serve a deployment of cells described by this TOML file: tenants placed in independent "
        "storages behind one endpoint (see docs/CELLS.md)",
    )
    security = serve.add_argument_group("authentication and transport")
    security.add_argument(
        "--auth",
        choices=("none", "sigv4"),
        default="none",
        help="none: accept any well-formed signature; sigv4: verify signatures and policies "
        "from --credentials (default: %(default)s)",
    )
    security.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="access keys, principals and their IAM-style policies (TOML or JSON; see docs/AUTH.md); "
        "re-read on SIGHUP",
    )
    security.add_argument("--tls-cert", type=Path, metavar="PEM", help="serve HTTPS with this certificate (chain)")
    security.add_argument("--tls-key", type=Path, metavar="PEM", help="the private key of --tls-cert")
    security.add_argument(
        "--audit-log",
        type=Path,
        metavar="FILE",
        help="append a JSON line per refused request to FILE (also logged as 'cellstore.audit')",
    )
    logs = serve.add_argument_group("logging")
    logs.add_argument(
        "--access-log",
        metavar="FILE",
        help="log one line per request (time, request id, principal, service, operation, table or queue, "
        "status, milliseconds) to FILE, or to standard error for '-' (default: no access log)",
    )
    logs.add_argument(
        "--access-log-format",
        choices=("text", "json"),
        default="text",
        help="text: space-separated fields; json: one JSON object per line (default: %(default)s)",
    )
    logs.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="the server's own log lines: text, or one JSON object per line, a line about a request "
        "naming its request id (x-amzn-RequestId); json also makes --access-log json (default: %(default)s)",
    )
    observe = serve.add_argument_group("observability (docs/OBSERVABILITY.md)")
    observe.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_false",
        help="do not serve GET /metrics (Prometheus text format; on by default, unauthenticated like the "
        "health check: it names tables and queues)",
    )
    observe.add_argument(
        "--no-console",
        dest="console",
        action="store_false",
        help="do not serve the web console at /console (on by default; see docs/CONSOLE.md)",
    )
    cache_command.add_serve_options(serve)  # --cache FILE --zone NAME (cellstore/cache/command.py)
    serve.set_defaults(run=_serve, parser=serve)

    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade a database's schema",
        description="Create or upgrade a database's storage schema to this cellstore's version, then exit. "
        "'serve' does the same when it starts; a database written by a newer cellstore is refused.",
        epilog="examples:\n  cellstore migrate --data-dir ./data\n"
        "  cellstore migrate --storage postgresql://cellstore@db.internal/cellstore",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    target = migrate.add_mutually_exclusive_group()
    target.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="directory holding cellstore.db (default: ./data)"
    )
    target.add_argument("--storage", metavar="URL", help="a postgresql:// URL")
    migrate.set_defaults(run=_migrate, parser=migrate)

    handlers = commands.add_parser(
        "handlers",
        help="inspect stream and queue handlers",
        description="Show every handler mapping that has run on a database, account by account: its lease "
        "holder, checkpoint and last saved metrics; with --cells, in every cell of a deployment.",
        epilog="examples:\n  cellstore handlers status --data-dir ./data\n  cellstore handlers status --json --data-dir ./data\n"
        "  cellstore handlers status --cells cells.toml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    handlers.add_argument("action", choices=("status",), help="what to show")
    handlers.add_argument("--json", action="store_true", help="print JSON instead of a table")
    where = handlers.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir", type=Path, default=Path("data"), help="directory holding cellstore.db (default: ./data)"
    )
    where.add_argument("--storage", metavar="URL", help="a postgresql:// URL")
    where.add_argument("--cells", type=Path, metavar="FILE", help="every cell of this cells file (docs/CELLS.md)")
    handlers.set_defaults(run=_handlers, parser=handlers)

    importing = commands.add_parser(
        "import",
        help="copy a table from any DynamoDB-compatible endpoint, then catch up from its stream",
        description="Copy a table from a DynamoDB-compatible endpoint (AWS itself, DynamoDB Local, dynalite, "
        "another cellstore) with a parallel Scan and BatchWriteItem, then apply its stream's records until "
        "caught up (or, with --follow, until Ctrl-C: the cut-over).  Safe to run again after an interruption.",
        epilog="examples:\n  cellstore import --table orders --from-endpoint http://old-host:8000\n"
        "  cellstore import --table orders --from-region eu-west-1 --follow   # from AWS, with its credentials\n"
        "  cellstore import --table orders --from-endpoint http://a:8000 --to-endpoint http://b:8000 "
        "--target-table orders_v2 --segments 8",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    importing.add_argument("--table", required=True, help="the source table")
    importing.add_argument("--from-endpoint", metavar="URL", help="the source endpoint (default: AWS)")
    importing.add_argument("--from-region", default="us-east-1", help="the source region (default: %(default)s)")
    importing.add_argument(
        "--to-endpoint", metavar="URL", default="http://127.0.0.1:8000",
        help="the cellstore to import into (default: %(default)s)",
    )
    importing.add_argument("--target-table", help="the table's name in the target (default: the same)")
    importing.add_argument("--segments", type=int, default=4, help="parallel Scan segments (default: %(default)s)")
    importing.add_argument(
        "--follow", action="store_true", help="keep applying the source's stream until Ctrl-C (the cut-over)"
    )
    importing.set_defaults(run=_import, parser=importing)
    # cellstore cells status|move|drain (cellstore/cells/command.py): the cells' storage and map opened as serve opens them
    cell_openers = cells_command.Openers(cell=_cell_opener(fenced=False, background=False), cell_map=_open_map)
    cells_command.register(commands, cell_openers)
    cache_command.register(commands)  # cellstore cache warm ... (cellstore/cache/command.py)
    from cellstore.quorum.command import add_parser as add_quorum  # operations tooling: docs/QUORUM.md

    add_quorum(commands)
    return parser


def _port(text: str) -> int:
    """``--port``: a TCP port, checked here so that 99999 is a usage error rather than a traceback from bind."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: use 1-65535, or 0 for a free one")
    return port


def default_workers(location: str | None) -> int:
    """One worker per core the process may run on: request handling is CPU-bound Python, one core per process.

    In memory there is nothing to share between processes, so one.
    """
    if location is None:
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _location(args: argparse.Namespace) -> str | None:
    """Where the data lives: a postgresql:// URL, an SQLite file, or None for memory."""
    from cellstore.storage import is_postgres

    if args.storage is not None:
        if not is_postgres(args.storage):
            raise SystemExit("cellstore: --storage takes a postgresql:// URL")
        return str(args.storage)
    if getattr(args, "in_memory", False):
        return None
    return str(args.data_dir / "cellstore.db")


def _open_store(location: str | None) -> Store:
    """``open_store``, with what a first run gets wrong said in one line (a ``SystemExit``), not a traceback.

    A missing driver, an unreachable PostgreSQL (``StorageUnavailable``
    carries the server's reason), a data directory that cannot be made or a
    database written by a newer cellstore: each is the user's to fix, so
    each names the problem and what to do.
    """
    from cellstore.errors import StorageUnavailable
    from cellstore.storage import is_postgres, open_store
    from cellstore.storage.migrations import SchemaTooNew

    try:
        return open_store(location)
    except SchemaTooNew as err:
        raise SystemExit(f"cellstore: {err}") from None
    except ModuleNotFoundError as err:
        if is_postgres(location) and (err.name or "").startswith("psycopg"):
            raise SystemExit(
                "cellstore: --storage postgresql:// needs the PostgreSQL driver: pip install 'cellstore[postgres]'"
            ) from None
        raise
    except StorageUnavailable as err:
        raise SystemExit(
            f"cellstore: {err.message}; check that PostgreSQL runs there and the URL's user, "
            "password and database are right"
        ) from None
    except (OSError, sqlite3.Error) as err:
        raise SystemExit(f"cellstore: cannot open the database {location}: {_reason(err)}") from None


def _reason(err: BaseException) -> str:
    """The OS's words for ``err``, without the call details Python appends."""
    reason = getattr(err, "strerror", None) or str(err)
    return str(reason).partition(" (while attempting")[0]


def _data_dir(args: argparse.Namespace) -> Path | None:
    """The SQLite data directory, made if missing, or None for PostgreSQL and memory; refused in one line."""
    if getattr(args, "storage", None) is not None or getattr(args, "in_memory", False):
        return None
    path: Path = args.data_dir
    if path.exists() and not path.is_dir():
        raise SystemExit(f"cellstore: --data-dir {path} is a file, not a directory: choose another --data-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SystemExit(
            f"cellstore: cannot create --data-dir {path}: {_reason(err)}; choose another --data-dir"
        ) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SystemExit(f"cellstore: --data-dir {path} is not writable by this user: choose another --data-dir")
    return path


def _migrate_data(store: Store, *, logged: bool = False) -> int:
    """The engine's data migrations (``engine/migrations.py``); the data format found, or one line and an exit.

    ``logged``: each migration run is a log record (``serve``, whose every line
    follows ``--log-format``), not a status line on stderr (``cellstore migrate``).
    """
    from cellstore.engine import migrations
    from cellstore.progress import LoggedLines, StatusLine, TextSink

    stream: TextSink = LoggedLines(logging.getLogger("cellstore.migrations")) if logged else sys.stderr
    try:
        return migrations.migrate(store, StatusLine(stream))  # each migration run, as it runs
    except migrations.DataFormatTooNew as err:
        store.close()
        raise SystemExit(f"cellstore: {err}") from None


def _migrate(args: argparse.Namespace) -> int:
    from cellstore.engine.migrations import LATEST as LATEST_DATA
    from cellstore.storage.migrations import LATEST

    location = _location(args)
    _data_dir(args)
    store = _open_store(location)
    found = store.migrated_from
    data_found = _migrate_data(store)
    store.close()
    print(f"schema version {LATEST}" + ("" if found == LATEST else f" (was {found})"))
    print(f"data format {LATEST_DATA}" + ("" if data_found == LATEST_DATA else f" (was {data_found})"))
    return 0


def _security(args: argparse.Namespace) -> dict[str, object]:
    """``serve``'s credentials and TLS keyword arguments, checked before anything starts."""
    from cellstore.protocol.server import Tls

    options: dict[str, object] = {}
    if args.auth == "sigv4":
        from cellstore.protocol.credentials import CredentialsError, CredentialsFile

        if args.credentials is None:
            raise SystemExit("cellstore: --auth sigv4 needs --credentials FILE")
        try:
            options["credentials"] = CredentialsFile(args.credentials)
        except CredentialsError as err:
            raise SystemExit(f"cellstore: {err}") from None
    elif args.credentials is not None:
        raise SystemExit("cellstore: --credentials needs --auth sigv4")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("cellstore: --tls-cert and --tls-key go together")
    if args.tls_cert is not None:
        for path in (args.tls_cert, args.tls_key):
            if not path.is_file():
                raise SystemExit(f"cellstore: {path}: no such file")
        options["tls"] = Tls(str(args.tls_cert), str(args.tls_key))
    if args.audit_log is not None:
        handler = logging.FileHandler(args.audit_log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logging.getLogger("cellstore.audit").addHandler(handler)
    return options


def _serve(args: argparse.Namespace) -> int:
    if not args.console:
        from cellstore.protocol import console

        console.SETTINGS.enabled = False
    if args.zone:  # this front end's zone: replica reads of a multi-host --storage (or a cell's) prefer it
        os.environ["CELLSTORE_ZONE"] = args.zone
    if args.cells is not None:
        return _serve_cells(args)
    location = _location(args)
    if args.workers is None:
        args.workers = default_workers(location)
    if args.workers < 1:
        raise SystemExit("cellstore: --workers must be at least 1")
    if args.ttl_interval is not None and args.ttl_interval <= 0:
        raise SystemExit("cellstore: --ttl-interval must be a positive number of seconds")
    if args.max_connections is not None and args.max_connections < 1:
        raise SystemExit("cellstore: --max-connections must be at least 1")
    security = _security(args)
    if args.handlers is not None:
        from cellstore.handlers import HandlerConfigError, config

        try:
            config.check(args.handlers)  # before any worker starts: a bad file stops serve here
        except HandlerConfigError as err:
            raise SystemExit(f"cellstore: {err}") from None
    if args.workers > 1 and location is None:
        raise SystemExit("cellstore: --workers needs --data-dir or --storage: processes cannot share memory")
    item_cache = cache_command.service_cache(args)
    from cellstore.handlers import stored_status
    from cellstore.protocol.admin import SOURCES

    SOURCES["handlers"] = lambda db: {"handlers": stored_status(db)}  # GET /_cellstore/handlers (protocol/admin.py)
    if item_cache is not None:  # serve --cache: every server process builds its app with the item cache
        from cellstore.protocol.server import DISPATCH_WRAPPERS

        DISPATCH_WRAPPERS.append(item_cache)
        SOURCES["cache"] = lambda db: item_cache.metrics()  # GET /_cellstore/cache: this process's counters
    metrics_dir = _metrics_dir(args)
    try:
        return _serve_with(args, location, security, metrics_dir, item_cache)
    finally:
        if metrics_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_with(
    args: argparse.Namespace, location: str | None, security: dict[str, object], metrics_dir: str | None,
    item_cache: ServiceCache | None = None,
) -> int:
    from cellstore.engine.tenants import Tenants
    from cellstore.protocol.server import DataDirInUse, claim_data_dir, serve
    from cellstore.protocol.workers import serve_workers
    from cellstore.storage import is_postgres

    access_log = _access_log(args, item_cache)
    data_dir = _data_dir(args)
    if data_dir is not None:
        try:
            claim_data_dir(data_dir)  # held until this process exits (kill -9 included)
        except DataDirInUse as err:
            raise SystemExit(f"cellstore: {err}") from None
    # Opened once here, before anything is served: every mistake in --storage or
    # --data-dir is reported in one line, and migrations run before any worker starts.
    store = _open_store(location)
    _migrate_data(store, logged=True)
    store.close()
    parent = os.getpid()

    def open_db() -> Tenants:
        # Every account in the backend; each one's background work starts now.
        tenants = Tenants(_open_store(location), ttl_interval=args.ttl_interval)
        tenants.open_stored()
        if args.handlers is not None and (args.workers == 1 or os.getpid() != parent):
            # in the workers only: a lease picks the one that runs each, on its account's database
            _start_handlers(tenants, args.handlers)
        return tenants

    about = _about(args, location)
    try:
        if args.workers == 1:
            serve(
                open_db(), args.host, args.port, max_connections=args.max_connections, about=about,
                access_log=access_log, **security,  # type: ignore[arg-type]
            )
            return 0
        # Each worker opens its own store (SQLite connection, PostgreSQL pool) after the fork.
        return serve_workers(
            open_db,
            args.host,
            args.port,
            args.workers,
            max_connections=args.max_connections,
            about=about,
            access_log=access_log,
            writer=args.writer is not False and not is_postgres(location),
            worker_exited=_worker_exited if metrics_dir is not None else None,
            **security,  # type: ignore[arg-type]
        )
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise SystemExit(
                f"cellstore: {args.host}:{args.port} is already in use: stop what listens there, "
                "or choose another --port (0 picks a free one)"
            ) from None
        if err.errno in (errno.EADDRNOTAVAIL, errno.EACCES) or isinstance(err, socket.gaierror):
            raise SystemExit(f"cellstore: cannot listen on {args.host}:{args.port}: {_reason(err)}") from None
        raise


def _about(args: argparse.Namespace, location: str | None) -> str:
    """What the start-up line says besides the URL and workers: where the data lives, who writes it, auth, handlers, logs."""
    if location is None:
        where = "in memory (lost on exit)"
    elif args.storage is not None:
        from cellstore.storage.postgres import describe

        where = f"PostgreSQL {describe(location)}"
    else:
        where = f"SQLite {Path(location).resolve()}"
    parts = [f"data: {where}"]
    if args.workers > 1 and location is not None and args.storage is None:
        parts.append(
            "writes: one writer process" if args.writer is not False else "writes: every worker on the lock (--no-writer)"
        )
    parts.append(f"auth: {args.auth}")
    if args.handlers is not None:
        parts.append(f"handlers: {args.handlers}")
    if args.access_log is not None:
        parts.append(f"access log: {'stderr' if args.access_log == '-' else args.access_log}")
    return "; ".join(parts)


#: prometheus-client's multiprocess directory variable (``protocol/metrics.py``).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _metrics_dir(args: argparse.Namespace) -> str | None:
    """With ``--workers`` > 1 and metrics on: a fresh multiprocess directory, in the environment (None otherwise).

    prometheus-client picks its multiprocess mode when first imported, so
    this runs before anything imports it; the workers inherit the variable
    across the fork and the supervisor removes the directory at exit.
    """
    if not args.metrics or args.workers == 1:
        return None
    path = tempfile.mkdtemp(prefix="cellstore-metrics-")
    os.environ[MULTIPROC_ENV] = path
    return path


def _worker_exited(pid: int) -> None:
    from cellstore.protocol.metrics import worker_exited

    worker_exited(pid)


def _access_log(args: argparse.Namespace, item_cache: ServiceCache | None = None) -> AccessLog | None:
    """What the HTTP server calls per request: ``--access-log`` lines and ``/metrics`` counts, or None (no cost)."""
    metrics = None
    if args.metrics:
        from cellstore.handlers import stored_status
        from cellstore.protocol.metrics import Metrics

        caches = None if item_cache is None else (lambda: [cache.client.metrics() for cache in item_cache.caches])
        metrics = Metrics(handler_status=stored_status, cell_status=_cell_status, cache_status=caches)
    from cellstore.protocol.access_log import AccessLog

    if args.access_log is None:
        return AccessLog(None, metrics=metrics) if metrics is not None else None

    try:
        stream = sys.stderr if args.access_log == "-" else open(args.access_log, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - open for the process's life
    except OSError as err:
        raise SystemExit(f"cellstore: cannot open --access-log {args.access_log}: {_reason(err)}") from None
    json_lines = args.access_log_format == "json" or args.log_format == "json"
    return AccessLog(stream, json_lines=json_lines, metrics=metrics)


def _cell_status(directory: object) -> dict[str, Any] | None:
    """A served directory's per-cell figures for ``/metrics``: its router's status, or None if it is no router."""
    from cellstore.cells.router import Router
    from cellstore.cells.status import router_status

    return router_status(directory) if isinstance(directory, Router) else None


def _start_handlers(tenants: Tenants, path: Path) -> None:
    from cellstore.handlers import HandlerConfigError, config

    try:
        entries = config.read(path, tenants.region)
        for account in config.accounts(entries):
            config.start(tenants.database(account), entries)
    except HandlerConfigError as err:
        tenants.close()
        raise SystemExit(f"cellstore: {err}") from None


def _handlers(args: argparse.Namespace) -> int:
    import json

    from cellstore.engine.tenants import Tenants
    from cellstore.handlers import stored_status

    stores: list[tuple[str | None, Tenants]]
    if args.cells is not None:
        opener = _cell_opener(fenced=True, background=False)
        stores = [(name, opener(cell)) for name, cell in _cells_config(args.cells).cells.items()]
    else:
        _data_dir(args)
        # fenced: an account moved to another cell is skipped here (its mappings went with it), not opened
        stores = [(None, Tenants(_open_store(_location(args)), background=False, fenced=True))]
    found: list[dict[str, Any]] = []
    for cell, tenants in stores:
        try:  # each account keeps its own mappings, in its own keyspace
            stored = tenants.open_stored()  # the default account first; one moved away is not opened
            opened = set(tenants.opened())
            found += [{**({"cell": cell} if cell is not None else {}), "account": account, **entry}
                      for account in stored if account in opened for entry in stored_status(tenants.database(account))]
        finally:
            tenants.close()
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
        return 0
    columns: tuple[str, ...] = ("cell",) if args.cells is not None else ()
    columns += ("account", "name", "kind", "state", "owner", "records", "errors", "retries", "lag", "last_error")
    rows = [columns]
    for entry in found:
        metrics = entry["metrics"]
        state = metrics.get("state", "-") if entry["owner"] else "idle"
        where = (entry["cell"],) if args.cells is not None else ()
        rows.append((*where, entry["account"], entry["name"], entry["kind"], state, entry["owner"] or "-", *(
            str(metrics.get(key, 0)) for key in ("records", "errors", "retries", "lag")), metrics.get("last_error") or "-"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(columns))]
    for row in rows:
        print("  ".join(str(value).ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _import(args: argparse.Namespace) -> int:
    import signal
    import threading

    from cellstore.embedded.clients import new_client
    from cellstore.importer import ImportFailed, ImportProgress, import_table
    from cellstore.progress import StatusLine

    def source_client(service: str) -> object:
        import boto3

        session = boto3.session.Session()
        if args.from_endpoint is not None and session.get_credentials() is None:
            return new_client(service, args.from_endpoint)  # a local endpoint: test credentials
        return session.client(service, region_name=args.from_region, endpoint_url=args.from_endpoint)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
    progress = ImportProgress(StatusLine(sys.stderr))
    try:
        stats = import_table(
            source_client("dynamodb"), source_client("dynamodbstreams"), new_client("dynamodb", args.to_endpoint),
            args.table, target_table=args.target_table, segments=args.segments, follow=args.follow,
            progress=progress, stop=stop,
        )
    except ImportFailed as err:
        raise SystemExit(f"cellstore import: {err}") from None
    progress.done(stats)
    return 0


# --- cells (docs/CELLS.md): `serve --cells` (`cells status|move|drain` is cells/command.py) ----------------


def _serve_cells(args: argparse.Namespace) -> int:
    """``serve --cells FILE``: every cell of the file behind the cell router, in each worker."""
    from cellstore.cells import bulkhead
    from cellstore.cells.config import CellsConfigError
    from cellstore.cells.config import load as load_cells
    from cellstore.cells.deployment import open_router
    from cellstore.cells.router import Router
    from cellstore.protocol import writer as cell_writer
    from cellstore.protocol.server import serve
    from cellstore.protocol.workers import serve_workers
    from cellstore.protocol.writer_client import SharedWriterClient, WriterClient

    config = _cells_config(args.cells)
    if args.workers is None:
        args.workers = default_workers(str(args.cells))
    if args.workers < 1:
        raise SystemExit("cellstore: --workers must be at least 1")
    if args.ttl_interval is not None and args.ttl_interval <= 0:
        raise SystemExit("cellstore: --ttl-interval must be a positive number of seconds")
    if args.handlers is not None:
        from cellstore.handlers import HandlerConfigError
        from cellstore.handlers import config as handlers_config

        try:
            handlers_config.check(args.handlers)  # before any worker starts: a bad file stops serve here
        except HandlerConfigError as err:
            raise SystemExit(f"cellstore: {err}") from None
    security = _security(args)
    metrics_dir = _metrics_dir(args)  # before the metrics module is imported: it picks its mode then
    item_cache = cache_command.service_cache(args)  # serve --cache: each cell's accounts, keys scoped by the cell
    access_log = _access_log(args, item_cache)  # /metrics: the cache zones' counters too
    # Every cell's storage and the map opened once before anything is served: a
    # mistake is one line, and migrations run before any worker starts.
    for cell in config.cells.values():
        _cell_opener(fenced=True, background=False)(cell).close()
    _open_map(config.map_location()).close()
    parent = os.getpid()
    bulkhead.COLOCATE = args.workers == 1  # one worker: its cells' threads keep to its loop's CPU (docs/CELLS.md)
    # A writer process per SQLite cell (docs/CELLS.md, "A writer per SQLite cell"): its listening socket made
    # here, at an address every worker forked later can name (a cell added to the file later too: the
    # supervisor starts its writer, `added_writers`); PostgreSQL cells write from every worker.
    writing = args.workers > 1 and args.writer is not False
    addresses = cell_writer.cell_addresses()
    writers = {name: cell_writer.listen(cell_writer.cell_address(addresses, name))
               for name, cell in config.cells.items() if writing and not cell.is_postgres}
    meter = None if access_log is None or access_log.metrics is None else access_log.metrics.meter

    def open_directory() -> Router:
        in_worker = args.workers == 1 or os.getpid() != parent
        clients: dict[str, WriterClient | SharedWriterClient] = {}

        def client_of(cell: CellConfig) -> WriterClient | SharedWriterClient | None:
            """An SQLite cell's writer's client in this worker: each write sent from the event loop; with --cache
            from the cell's thread, since the item cache invalidates a write's keys over the network first."""
            if not (writing and in_worker) or cell.is_postgres:
                return None
            found = clients.get(cell.name)
            if found is None:
                address = cell_writer.cell_address(addresses, cell.name)
                found = clients[cell.name] = (
                    SharedWriterClient(address, timeout=bulkhead.TIMEOUT) if item_cache is not None
                    else WriterClient(address, timeout=bulkhead.TIMEOUT, receive_timeout=bulkhead.TIMEOUT + 20.0))
            return found

        def own_services(cell: CellConfig) -> ServicesFor | None:
            client = client_of(cell)
            return None if client is None else _cell_services(meter, client)

        def loop_writer(cell: CellConfig) -> WriterClient | None:
            client = client_of(cell)
            return client if isinstance(client, WriterClient) else None

        return open_router(
            config, _cell_opener(fenced=True, background=in_worker, ttl_interval=args.ttl_interval), _open_map,
            _cell_services(meter, None), start=in_worker,
            # each account's handlers run in the cell that holds it, and follow it when it moves
            start_account=_account_handlers(args.handlers) if args.handlers is not None and in_worker else None,
            wrap=None if item_cache is None else lambda cell, db, dispatchers: item_cache(db, dispatchers, scope=cell),
            cell_services=own_services, cell_writers=None if item_cache is not None else loop_writer,
        )

    def cell_writer_backend(cell: CellConfig) -> Callable[[], Tenants]:
        """What a cell's writer process serves: the cell's fenced storage, its background work left to the workers."""
        return functools.partial(_cell_opener(fenced=True, background=False), cell)

    seen_file = [_modified(args.cells)]

    def added_writers() -> dict[str, tuple[socket.socket, Callable[[], Tenants]]]:
        """The SQLite cells added to the cells file since last asked, each with its writer's listening socket (the
        supervisor starts the writers; the workers, re-reading the file too, name the same addresses)."""
        modified = _modified(args.cells)
        if modified == seen_file[0]:
            return {}
        seen_file[0] = modified
        try:
            now = load_cells(args.cells)
        except CellsConfigError:
            return {}  # the workers log it, and keep the file as it was
        added = {}
        for name, cell in now.cells.items():
            if name not in writers and not cell.is_postgres:
                _cell_opener(fenced=True, background=False)(cell).close()  # made and migrated before its writer runs
                writers[name] = cell_writer.listen(cell_writer.cell_address(addresses, name))
                added[name] = (writers[name], cell_writer_backend(cell))
        return added

    kinds = ", ".join(f"{name} ({'PostgreSQL' if cell.is_postgres else 'SQLite'})" for name, cell in config.cells.items())
    about = f"cells: {args.cells} [{kinds}]; auth: {args.auth}" + (f"; handlers: {args.handlers}" if args.handlers else "")
    if writers:
        about += f"; writes: a writer process per SQLite cell ({', '.join(writers)})"
    try:
        if args.workers == 1:
            serve(open_directory(), args.host, args.port, max_connections=args.max_connections, about=about,
                  access_log=access_log, **security)  # type: ignore[arg-type]
            return 0
        return serve_workers(open_directory, args.host, args.port, args.workers, max_connections=args.max_connections,
                             about=about, access_log=access_log, worker_exited=_worker_exited if metrics_dir else None,
                             cell_writers={name: (listener, cell_writer_backend(config.cells[name]))
                                           for name, listener in writers.items()},
                             added_cell_writers=added_writers if writing else None,
                             **security)  # type: ignore[arg-type]
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise SystemExit(f"cellstore: {args.host}:{args.port} is already in use: choose another --port") from None
        raise
    finally:
        for listener in writers.values():
            listener.close()
        if metrics_dir is not None:  # one scrape of any worker counts every worker's requests, as without cells
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _modified(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _cell_services(
    meter: Callable[..., dict[str, Any]] | None, client: WriterClient | SharedWriterClient | None
) -> ServicesFor:
    """A cell's ``services_for``: its writes handed to ``client`` (its writer), then metered as a single backend's
    are (consumed capacity, GetRecords' iterator age) — the order ``build_app`` wraps a single backend in."""
    from cellstore.protocol.server import services_for
    from cellstore.protocol.wire import Service

    def built(db: MapDatabase) -> Mapping[str, Service]:
        found: Mapping[str, Service] = services_for(db)
        if client is not None:
            found = client.wrap(found, db.account)
        if meter is not None:
            dispatchers = meter(db, {name: service.dispatch for name, service in found.items()})
            found = {name: Service(dispatchers[name], *service[1:]) for name, service in found.items()}
        return found

    return built


def _account_handlers(path: Path) -> Callable[[MapDatabase], None]:
    """Starts, on an account's database, the entries of the handlers file that belong to that account."""
    from cellstore.handlers import config as handlers_config

    entries = handlers_config.read(path)  # checked in the parent already

    def start(db: MapDatabase) -> None:
        handlers_config.start(db, entries)

    return start


_cells_config = cells_command.read_config  # serve --cells reads the file as `cellstore cells` does


def _cell_opener(*, fenced: bool, background: bool, ttl_interval: float | None = None) -> Callable[[CellConfig], Tenants]:
    """Opens a cell's storage as ``Tenants`` (an SQLite data dir is made if missing)."""
    from cellstore.api import Tenants

    def open_tenants(cell: CellConfig) -> Tenants:
        if not cell.is_postgres:
            Path(cell.storage).mkdir(parents=True, exist_ok=True)
        return Tenants(_open_store(cell.location()), fenced=fenced, background=background, ttl_interval=ttl_interval)

    return open_tenants


def _open_map(location: str) -> MapDatabase:
    """The cell map's database (``cells/cellmap.py``), its SQLite directory made if missing."""
    from cellstore.engine.wiring import open_database
    from cellstore.storage import is_postgres

    if not is_postgres(location):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
    return open_database(_open_store(location), background=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        parser.print_help()  # what cellstore is and does, to stdout: `cellstore | less` works
        return 0
    if extra:  # the subcommand's usage, not the top level's: that is where the options are
        args.parser.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "log_format", "text") == "json":
        from cellstore.protocol.access_log import JsonFormatter

        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter())
    return int(args.run(args))
