"""The ``cellstore`` command: a thin shell over the library, one function per subcommand."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cellstore import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cellstore",
        description="A DynamoDB-compatible data store.",
        epilog="Run 'cellstore serve --help' for the server's options.",
    )
    parser.add_argument("--version", action="version", version=f"cellstore {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the DynamoDB API over HTTP",
        description="Serve the DynamoDB API over HTTP until SIGINT or SIGTERM.",
        epilog="examples:\n  cellstore serve --port 8000 --data-dir ./data\n  cellstore serve --in-memory --port 0\n  cellstore serve --workers 2 --data-dir ./data\n  cellstore serve --ttl-interval 1 --in-memory",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default: %(default)s)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port and the data dir, one core each (default: %(default)s)",
    )
    serve.add_argument(
        "--ttl-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between TTL sweeps (default: $CELLSTORE_TTL_INTERVAL or 10)",
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
    serve.set_defaults(run=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from cellstore.engine.database import Database
    from cellstore.protocol.server import serve
    from cellstore.protocol.workers import serve_workers
    from cellstore.storage.sqlite import SqliteStore

    path = None if args.in_memory else str(args.data_dir / "cellstore.db")
    if args.ttl_interval is not None and args.ttl_interval <= 0:
        raise SystemExit("cellstore: --ttl-interval must be a positive number of seconds")
    if args.workers == 1:
        serve(Database(SqliteStore(path), ttl_interval=args.ttl_interval), args.host, args.port)
        return 0
    if path is None:
        raise SystemExit("cellstore: --workers needs --data-dir: processes cannot share memory")
    return serve_workers(
        lambda: Database(SqliteStore(path), ttl_interval=args.ttl_interval), args.host, args.port, args.workers
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help(sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # uvicorn's own start-up chatter repeats the banner; keep its warnings.
    logging.getLogger("uvicorn").setLevel(logging.WARNING)
    return int(args.run(args))
