"""``cellstore cells ...``: a deployment's status, a tenant's move, a cell's drain — registered by cli.py with one call.

``cellstore cells status`` reads the cells file, every cell's storage and
the cell map (or, with ``--endpoint``, asks a running server); ``move`` and
``drain`` move tenants while the servers keep serving (``mover.py``).

How a cell's storage and the cell map are opened is cli.py's to say — it is
the one place that knows the storage backends (tests/unit/test_layers.py:
cells imports no storage module) — so ``register`` takes the two openers.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cellstore.cells.config import CellConfig, CellsConfig, CellsConfigError, load

# The mover, the map and the status report (the api and engine behind them) are imported when a
# command runs, not with this module: every ``cellstore`` command imports it, ``--help`` included.
if TYPE_CHECKING:
    from cellstore.api import Database, Tenants
    from cellstore.cells.cellmap import MapTable
    from cellstore.engine.tenant_copy import SyncStats


@dataclass(frozen=True)
class Openers:
    """What the command operates on, opened as cli.py opens it for ``serve --cells``."""

    #: A cell's storage as ``Tenants``, unfenced and without background work (a command is no server).
    cell: Callable[[CellConfig], Tenants]
    #: The cell map's database at a location (``CellsConfig.map_location``).
    cell_map: Callable[[str], Database]


def read_config(path: Path) -> CellsConfig:
    """The cells file, or the command stopped with its mistake in one line."""
    try:
        return load(path)
    except CellsConfigError as err:
        raise SystemExit(f"cellstore: {err}") from None


def register(commands: Any, openers: Openers) -> None:
    """Add ``cells`` and its actions to the ``cellstore`` command's subparsers."""
    cells = commands.add_parser(
        "cells",
        help="operate a deployment of cells: status, move a tenant, drain a cell",
        description="Show a deployment's cells, move a tenant (an account id) to another cell while it is "
        "served, or move every tenant out of a cell.  Reads the cells file and opens the cells' storage "
        "and the cell map directly; the servers keep serving.",
        epilog="examples:\n  cellstore cells status --cells cells.toml\n  cellstore cells status --json\n"
        "  cellstore cells move 111111111111 --to b --dry-run\n  cellstore cells move 111111111111 --to b\n"
        "  cellstore cells move 111111111111 --abort   # call off a move killed before its fence\n"
        "  cellstore cells drain a",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = cells.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser("status", help="cells, zone, health, tenants, size, map version")
    status.add_argument("--json", action="store_true", help="print JSON instead of a table")
    status.add_argument(
        "--endpoint", metavar="URL",
        help="ask a running server (GET /_cellstore/cells: its health probes, request rates, bulkheads) instead of "
        "the storage; signed with the AWS credentials of the environment when there are any",
    )
    move = actions.add_parser("move", help="move one tenant to another cell, live")
    move.add_argument("account", metavar="ACCOUNT", help="the tenant: a 12-digit account id")
    move.add_argument("--to", metavar="CELL", help="the cell to move it to (or --abort)")
    move.add_argument("--dry-run", action="store_true", help="show the plan and the size estimate, move nothing")
    move.add_argument(
        "--abort", action="store_true",
        help="call off the account's move in progress, only before its fence (phase copying): it stays where it is, "
        "stops logging its writes, and the partial copy is deleted; after the fence, run the move again instead",
    )
    drain = actions.add_parser("drain", help="move every tenant out of a cell (set accept_new = false first)")
    drain.add_argument("cell", metavar="CELL", help="the cell to empty")
    for sub in (status, move, drain):
        sub.add_argument(
            "--cells", type=Path, default=Path("cells.toml"), metavar="FILE", help="the cells file (default: ./cells.toml)"
        )
        sub.set_defaults(run=lambda args: run(args, openers), parser=sub)


def run(args: argparse.Namespace, openers: Openers) -> int:
    """``cellstore cells ACTION``: status from the storage or a server, or a move or drain."""
    from cellstore.cells.cellmap import MapTable
    from cellstore.cells.status import deployment_status, format_status

    if args.action == "status" and args.endpoint is not None:
        found = served_status(args.endpoint)
        print(json.dumps(found, indent=2, sort_keys=True) if args.json else format_status(found))
        return 0
    config = read_config(args.cells)
    table = MapTable(openers.cell_map(config.map_location()))
    try:
        if args.action == "status":
            found = deployment_status(config, table, openers.cell)
            print(json.dumps(found, indent=2, sort_keys=True) if args.json else format_status(found))
            return 0
        cells = {name: openers.cell(cell) for name, cell in config.cells.items()}
        try:
            return _move_or_drain(args, config, cells, table)
        finally:
            for tenants in cells.values():
                tenants.close()
    finally:
        table.db.close()


def served_status(endpoint: str) -> dict[str, object]:
    """A server's ``GET /_cellstore/cells``, SigV4-signed for the service ``cellstore`` when credentials are set."""
    import urllib.error
    import urllib.request

    url = endpoint.rstrip("/") + "/_cellstore/cells"
    headers: dict[str, str] = {}
    try:
        import botocore.session
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
    except ModuleNotFoundError:
        pass
    else:
        session = botocore.session.get_session()
        credentials = session.get_credentials()
        if credentials is not None:
            signed = AWSRequest(method="GET", url=url)
            SigV4Auth(credentials, "cellstore", session.get_config_variable("region") or "us-east-1").add_auth(signed)
            headers = dict(signed.headers.items())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:
            found: dict[str, object] = json.loads(response.read())
    except urllib.error.HTTPError as err:
        raise SystemExit(f"cellstore: {url}: {err.code} {err.read().decode('utf-8', 'replace')}") from None
    except OSError as err:
        reason = str(getattr(err, "strerror", None) or err).partition(" (while attempting")[0]
        raise SystemExit(f"cellstore: cannot reach {url}: {reason}") from None
    return found


def progress_line(label: str, stats: SyncStats) -> str:
    """A move's status line: a catch-up pass counts the log entries it read, the copy the keys it read."""
    read = f"{stats.logged} log entries read" if stats.logged else f"{stats.scanned} keys read"
    return f"{label}: {read}, {stats.written} written, {stats.bytes} bytes"


def _move_or_drain(args: argparse.Namespace, config: CellsConfig, cells: dict[str, Tenants], table: MapTable) -> int:
    from cellstore.cells import placement
    from cellstore.cells.mover import MoveError, Mover
    from cellstore.progress import StatusLine

    status = StatusLine(sys.stderr)

    mover = Mover(cells, table, report=status.say, progress=lambda label, stats: status.show(progress_line(label, stats)))
    try:
        if args.action == "move" and args.abort:
            if args.to is not None or args.dry_run:
                args.parser.error("--abort takes neither --to nor --dry-run")
            mover.abort(args.account)
            return 0
        if args.action == "move":
            if args.to is None:
                args.parser.error("the following arguments are required: --to (or --abort)")
            plan = mover.plan(args.account, args.to)
            resuming = f", resuming from phase {plan.resuming}" if plan.resuming else ""
            print(f"move account {plan.account}: cell {plan.source} -> cell {plan.target}, "
                  f"{plan.keys} keys, {plan.bytes} bytes{resuming}", flush=True)
            if not args.dry_run:
                mover.move(plan)
            return 0
        if args.cell not in config.cells:
            raise MoveError(f"no cell named {args.cell!r} (cells: {', '.join(config.cells)})")
        others = {name: cell for name, cell in config.cells.items() if name != args.cell}
        if not others:
            raise MoveError("a deployment of one cell cannot be drained: add a cell first")
        moved = mover.drain(args.cell, lambda account: placement.choose(account, others, {}, table.read().counts()))
        print(f"drained cell {args.cell}: {len(moved)} tenants moved")
        return 0
    except MoveError as err:
        raise SystemExit(f"cellstore: {err}") from None
