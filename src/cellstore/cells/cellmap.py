"""The cell map: which cell each tenant lives in, durable, versioned and shared by every front end.

The map is kept *through the engine*, as a DynamoDB table (``cellmap``) in a
database of its own (the ``[map]`` storage of cells.toml), so it has the
engine's guarantees — serialised conditional writes, one-snapshot reads, both
backends — and needs no storage code here.  Its items:

``tenant#<account>``  ``cell``: where the account lives
``move#<account>``    a move in progress: ``source``, ``target``, ``phase`` (``cells/mover.py``)
``version``           ``version``: a number that moves on every placement and switch

Every change is one TransactWriteItems that makes it *and* adds one to the
version, with a condition on what it replaces: two front ends placing the
same new tenant at once agree (the second's condition fails and it reads the
first's answer), and a switch only happens from the cell the mover copied.

``CellMap`` is a front end's cached view: ``cell_of`` answers from memory;
``refresh`` reloads the whole map (one Scan) and is run every
``refresh_interval`` seconds and when a tenant is missing or has moved.  If
the map's storage cannot be reached the cache is kept and routing goes on
for every tenant already placed (only placing a new tenant needs the map).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cellstore.api import Database, dispatch
from cellstore.errors import ResourceInUseException, ServiceUnavailable, TransactionCanceledException

log = logging.getLogger("cellstore.cells")

TABLE = "cellmap"
_VERSION_KEY = {"key": {"S": "version"}}

#: Seconds between a front end's reloads of the whole map.
REFRESH_INTERVAL = 2.0


class MapUnavailable(ServiceUnavailable):
    """The cell map's storage cannot be read or written now: a new tenant cannot be placed (retryable 503)."""


@dataclass(frozen=True, slots=True)
class Move:
    """A move in progress, as the map records it so that a killed mover can resume."""

    account: str
    source: str
    target: str
    phase: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole map as of one read: tenant → cell, the moves in progress, the version."""

    version: int = 0
    tenants: Mapping[str, str] = field(default_factory=dict)
    moves: Mapping[str, Move] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Tenants per cell."""
        counts: dict[str, int] = {}
        for cell in self.tenants.values():
            counts[cell] = counts.get(cell, 0) + 1
        return counts


class MapTable:
    """The map's durable side: reads and conditional writes of the ``cellmap`` table in ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        try:
            dispatch(db, "CreateTable", {
                "TableName": TABLE,
                "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}],
                "BillingMode": "PAY_PER_REQUEST",
            })
        except ResourceInUseException:
            pass  # made by an earlier start or another front end

    def read(self) -> Snapshot:
        """The whole map in one consistent Scan per page (the map is small: one item per tenant)."""
        version = 0
        tenants: dict[str, str] = {}
        moves: dict[str, Move] = {}
        request: dict[str, Any] = {"TableName": TABLE, "ConsistentRead": True}
        while True:
            page = dispatch(self.db, "Scan", request)
            for item in page.get("Items", ()):
                key = item["key"]["S"]
                kind, _, account = key.partition("#")
                if kind == "version":
                    version = int(item["version"]["N"])
                elif kind == "tenant":
                    tenants[account] = item["cell"]["S"]
                elif kind == "move":
                    moves[account] = Move(account, item["source"]["S"], item["target"]["S"], item["phase"]["S"])
            last = page.get("LastEvaluatedKey")
            if not last:
                return Snapshot(version, tenants, moves)
            request["ExclusiveStartKey"] = last

    def cell_of(self, account: str) -> str | None:
        item = dispatch(self.db, "GetItem", {
            "TableName": TABLE, "Key": {"key": {"S": f"tenant#{account}"}}, "ConsistentRead": True,
        }).get("Item")
        return None if item is None else str(item["cell"]["S"])

    def place(self, account: str, cell: str) -> str:
        """Record ``account`` in ``cell`` unless it is placed already; returns where it is."""
        try:
            self._change({
                "Put": {
                    "TableName": TABLE,
                    "Item": {"key": {"S": f"tenant#{account}"}, "cell": {"S": cell}},
                    "ConditionExpression": "attribute_not_exists(#k)",
                    "ExpressionAttributeNames": {"#k": "key"},
                }
            })
        except TransactionCanceledException:
            found = self.cell_of(account)
            if found is None:
                raise
            return found
        return cell

    def switch(self, account: str, source: str, target: str) -> None:
        """Point ``account`` at ``target``, only if it is still in ``source``; ends its move record."""
        self._change(
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"key": {"S": f"tenant#{account}"}},
                    "UpdateExpression": "SET cell = :target",
                    "ConditionExpression": "cell = :source",
                    "ExpressionAttributeValues": {":source": {"S": source}, ":target": {"S": target}},
                }
            },
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"key": {"S": f"move#{account}"}},
                    "UpdateExpression": "SET phase = :phase, #s = :source, target = :target",
                    "ExpressionAttributeNames": {"#s": "source"},
                    "ExpressionAttributeValues": {":phase": {"S": "switched"}, ":source": {"S": source}, ":target": {"S": target}},
                }
            },
        )

    def record_move(
        self, account: str, source: str, target: str, phase: str, *, after: tuple[str | None, ...] | None = None,
    ) -> None:
        """Write (or advance) ``account``'s move record; the version does not change (routing does not).

        ``after``: the phases the record may be in before (None: no record),
        else ``ConditionalCheckFailedException`` — so a mover still running
        cannot fence a move that ``cells move --abort`` called off meanwhile.
        """
        request: dict[str, Any] = {
            "TableName": TABLE,
            "Item": {
                "key": {"S": f"move#{account}"},
                "source": {"S": source},
                "target": {"S": target},
                "phase": {"S": phase},
                "updated": {"N": str(int(time.time()))},
            },
        }
        if after is not None:
            request.update(_phase_condition(after))
        dispatch(self.db, "PutItem", request)

    def end_move(self, account: str, *, phase: str | None = None) -> None:
        """Remove ``account``'s move record (only while it is in ``phase``, if given)."""
        request: dict[str, Any] = {"TableName": TABLE, "Key": {"key": {"S": f"move#{account}"}}}
        if phase is not None:
            request.update(_phase_condition((phase,)))
        dispatch(self.db, "DeleteItem", request)

    def _change(self, *actions: dict[str, Any]) -> None:
        dispatch(self.db, "TransactWriteItems", {
            "TransactItems": [
                *actions,
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _VERSION_KEY,
                        "UpdateExpression": "ADD version :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        })


def _phase_condition(phases: tuple[str | None, ...]) -> dict[str, Any]:
    """A condition that the move record is in one of ``phases`` (None: that there is no record)."""
    terms = ["attribute_not_exists(#k)" if phase is None else f"phase = :p{n}" for n, phase in enumerate(phases)]
    values = {f":p{n}": {"S": phase} for n, phase in enumerate(phases) if phase is not None}
    condition: dict[str, Any] = {"ConditionExpression": " OR ".join(terms)}
    if None in phases:
        condition["ExpressionAttributeNames"] = {"#k": "key"}
    if values:
        condition["ExpressionAttributeValues"] = values
    return condition


class CellMap:
    """A front end's cached map over a ``MapTable``: answers from memory, reloads now and then and on a miss."""

    def __init__(self, table: MapTable, *, refresh_interval: float = REFRESH_INTERVAL) -> None:
        self.table = table
        self.refresh_interval = refresh_interval
        self.snapshot = Snapshot()
        self.reachable = True
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh()

    def start(self) -> None:
        """Reload every ``refresh_interval`` seconds on a thread of its own (never on a request's path)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._refresher, name="cellstore-cellmap", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()

    def _refresher(self) -> None:
        while not self._stopping.wait(self.refresh_interval):
            self.refresh()

    def cell_of(self, account: str) -> str | None:
        """Where the cache says ``account`` is (None: not placed, as far as this front end knows)."""
        return self.snapshot.tenants.get(account)

    def refresh(self) -> Snapshot:
        """Reload the map; when its storage is unreachable keep routing from the cache (and say so once)."""
        with self._lock:
            try:
                snapshot = self.table.read()
            except Exception as err:  # noqa: BLE001 - any failure of the map store: keep the cache
                if self.reachable:
                    log.warning("cell map unreachable, routing from the cached map (version %s): %s",
                                self.snapshot.version, err)
                self.reachable = False
                return self.snapshot
            if not self.reachable:
                log.warning("cell map reachable again (version %s)", snapshot.version)
            self.reachable = True
            if snapshot.version >= self.snapshot.version:
                self.snapshot = snapshot
            return self.snapshot

    def place(self, account: str, cell: str) -> str:
        """Record a new tenant (or learn where another front end put it); refreshes the cache."""
        try:
            placed = self.table.place(account, cell)
        except Exception as err:  # whatever the map store's failure, the client may retry
            raise MapUnavailable(f"The cell map is unavailable, so account {account} cannot be placed: {err}") from err
        self.refresh()
        return placed
