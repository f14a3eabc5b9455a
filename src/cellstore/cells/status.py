"""``cellstore cells status``: every cell's zone, health, tenants and size, and the map's version.

Two sources give the same shape.  ``deployment_status`` reads the cells
file's storage directly (what the CLI does: it works with no server
running), probing each cell on a thread of its own with a deadline, so one
hung cell shows as unhealthy instead of hanging the command.
``router_status`` is a serving front end's view (health from its probes,
request rates from its bulkheads), for the server's admin route.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from cellstore.api import Tenants
from cellstore.cells.cellmap import MapTable, Snapshot
from cellstore.cells.config import CellConfig, CellsConfig
from cellstore.cells.router import Router
from cellstore.engine.cell_stats import probe, stored_bytes
from cellstore.errors import CellstoreError
from cellstore.protocol import admin, wire

#: Seconds a cell has to answer the status probe before it is reported unhealthy.
PROBE_TIMEOUT = 5.0


def _map_part(snapshot: Snapshot, reachable: bool) -> dict[str, Any]:
    return {
        "version": snapshot.version,
        "reachable": reachable,
        "tenants": len(snapshot.tenants),
        "moves": [
            {"account": m.account, "source": m.source, "target": m.target, "phase": m.phase}
            for m in snapshot.moves.values()
        ],
    }


def deployment_status(
    config: CellsConfig, table: MapTable, open_tenants: Callable[[CellConfig], Tenants], *, timeout: float = PROBE_TIMEOUT
) -> dict[str, Any]:
    """The deployment as its storage shows it now (no server needed)."""
    try:
        snapshot, reachable = table.read(), True
    except Exception:  # noqa: BLE001 - an unreachable map is part of the status
        snapshot, reachable = Snapshot(), False
    counts = snapshot.counts()
    results: dict[str, dict[str, Any]] = {}

    def measure(cell: CellConfig) -> None:
        started = time.monotonic()
        try:
            tenants = open_tenants(cell)
            try:
                probe(tenants)
                size = stored_bytes(tenants)
            finally:
                tenants.close()
        except Exception as err:  # noqa: BLE001 - a failing cell is reported, not raised
            results[cell.name] = {"health": "unhealthy", "error": str(err) or type(err).__name__}
            return
        results[cell.name] = {"health": "ok", "bytes": size, "probe_ms": round((time.monotonic() - started) * 1000, 1)}

    threads = [threading.Thread(target=measure, args=(cell,), daemon=True) for cell in config.cells.values()]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    cells = []
    for name, cell in config.cells.items():
        found = results.get(name, {"health": "unhealthy", "error": f"no answer within {timeout:g}s"})
        cells.append({
            "name": name, "zone": cell.zone, "storage": _redacted(cell.storage), "tenants": counts.get(name, 0),
            "accept_new": cell.accept_new, "max_tenants": cell.max_tenants, **found,
        })
    return {"cells": cells, "map": _map_part(snapshot, reachable)}


def router_status(router: Router) -> dict[str, Any]:
    """A serving front end's view: its last health probes, its bulkheads and request rates, its cached map."""
    snapshot = router.cellmap.snapshot
    counts = snapshot.counts()
    cells = []
    for name, cell in router.cells.items():
        health = router.health[name]
        bulkhead = cell.bulkhead
        cells.append({
            "name": name, "zone": cell.config.zone, "storage": _redacted(cell.config.storage),
            "tenants": counts.get(name, 0), "accept_new": cell.config.accept_new, "max_tenants": cell.config.max_tenants,
            "health": "ok" if health.ok else "unhealthy", "error": health.error or None,
            "requests": cell.requests.total, "requests_per_second": cell.requests.rate(), "refused": cell.failures,
            "busy": bulkhead.busy, "queued": bulkhead.queued, "rejected": bulkhead.rejected,
            "timed_out": bulkhead.timed_out,
        })
    return {"cells": cells, "map": _map_part(snapshot, router.cellmap.reachable), "reroutes": router.reroutes}


#: The IAM action a principal's policy must allow to read a server's cell status under ``--auth sigv4``.
ADMIN_ACTION = "DescribeCells"  # allowed as cellstore:DescribeCells (protocol/admin.py)


class AdminRoute:
    """``GET /_cellstore/cells`` on a server of cells: ``router_status`` as JSON.

    Under ``--auth sigv4`` the request must be signed for the service
    ``cellstore`` by a principal whose policy allows ``cellstore:DescribeCells``
    (an admin); ``cellstore cells status --endpoint`` signs it so.
    """

    def __init__(self, router: Router) -> None:
        self.router = router

    def __call__(
        self, path: str, raw_path: str, headers: Sequence[tuple[bytes, bytes]], scheme: str,
        auth: wire.Authenticator | None,
    ) -> wire.Reply:
        if auth is not None:
            try:
                admin.authorize(path, raw_path, headers, scheme, auth, ADMIN_ACTION)
            except CellstoreError as err:
                return wire.error_reply(err)
        return wire.Reply(200, orjson.dumps(router_status(self.router)))


def _redacted(storage: str) -> str:
    """A storage location without a password (``postgresql://user:secret@host`` → ``postgresql://user:***@host``)."""
    scheme, sep, rest = storage.partition("://")
    if not sep or "@" not in rest:
        return storage
    credentials, _, host = rest.rpartition("@")
    user, colon, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def format_status(status: dict[str, Any]) -> str:
    """The status as a table, then the map's line and any moves in progress."""
    columns = ("cell", "zone", "health", "tenants", "bytes", "req/s", "storage")
    rows = [columns]
    for cell in status["cells"]:
        rate = cell.get("requests_per_second")
        rows.append((
            cell["name"], cell["zone"] or "-", cell["health"], str(cell["tenants"]), str(cell.get("bytes", "-")),
            "-" if rate is None else f"{rate:.1f}", cell["storage"],
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    for cell in status["cells"]:
        if cell.get("error"):
            lines.append(f"cell {cell['name']}: {cell['error']}")
    cellmap = status["map"]
    lines.append(f"map version {cellmap['version']}, {cellmap['tenants']} tenants"
                 + ("" if cellmap["reachable"] else " (UNREACHABLE: cached or empty)"))
    lines += [f"move in progress: {m['account']} {m['source']} -> {m['target']} ({m['phase']})" for m in cellmap["moves"]]
    return "\n".join(lines)
