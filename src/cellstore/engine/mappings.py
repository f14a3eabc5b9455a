"""Event-source mapping records: definition, checkpoint, lease and metrics of each mapping.

``cellstore.handlers`` (beside the api, outside the engine) keeps its state
through this engine door rather than writing storage records itself.
Everything lives under the 0x08 prefix (``engine/keyspace.py``), so a
restarted process (or another ``serve --workers`` process, or ``cellstore
handlers status``) sees it:

    0x08 "d" <mapping name>    definition: source, function, settings (JSON)
    0x08 "c" <mapping name>    checkpoint (JSON): stream mappings only
    0x08 "l" <mapping name>    lease: {"owner", "expires"} (epoch seconds)
    0x08 "m" <mapping name>    metrics as last saved by the lease holder (JSON)

A checkpoint is ``{"stream": <arn>, "lanes": [<after seq>, ...]}``: lane *i*
(records whose key hashes to *i* mod ParallelizationFactor) has been handled
up to and including sequence number ``lanes[i]``.  It is written only while
the lease is held and checked in the same transaction, so a process that
lost its lease can never move a checkpoint back or forward.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from cellstore.engine import keyspace
from cellstore.engine.database import Database
from cellstore.storage.base import Txn, prefix_end


class LeaseLost(Exception):
    """Another process holds this mapping's lease now; stop and let it work."""


def _key(prefix: bytes, name: str) -> bytes:
    return prefix + name.encode("utf-8")


def _load(txn: Txn, key: bytes) -> Any:
    raw = txn.get(key)
    return None if raw is None else orjson.loads(raw)


def save_definition(db: Database, name: str, definition: dict[str, Any]) -> None:
    with db.store.transaction(write=True) as txn:
        txn.put(_key(keyspace.HANDLER_DEFINITIONS, name), orjson.dumps(definition))


def load_checkpoint(db: Database, name: str) -> dict[str, Any] | None:
    with db.store.transaction(write=False) as txn:
        return _load(txn, _key(keyspace.HANDLER_CHECKPOINTS, name))  # type: ignore[no-any-return]


def acquire(db: Database, name: str, owner: str, seconds: float) -> bool:
    """Take or renew the lease on mapping ``name``; False while another live owner holds it."""
    now = time.time()
    with db.store.transaction(write=True) as txn:
        lease = _load(txn, _key(keyspace.HANDLER_LEASES, name))
        if lease is not None and lease["owner"] != owner and lease["expires"] > now:
            return False
        txn.put(_key(keyspace.HANDLER_LEASES, name), orjson.dumps({"owner": owner, "expires": now + seconds}))
        return True


def release(db: Database, name: str, owner: str) -> None:
    with db.store.transaction(write=True) as txn:
        lease = _load(txn, _key(keyspace.HANDLER_LEASES, name))
        if lease is not None and lease["owner"] == owner:
            txn.delete(_key(keyspace.HANDLER_LEASES, name))


def save(
    db: Database, name: str, owner: str, *, checkpoint: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None
) -> None:
    """Write the checkpoint and/or metrics if ``owner`` still holds the lease; else ``LeaseLost``."""
    with db.store.transaction(write=True) as txn:
        lease = _load(txn, _key(keyspace.HANDLER_LEASES, name))
        if lease is None or lease["owner"] != owner:
            raise LeaseLost(name)
        if checkpoint is not None:
            txn.put(_key(keyspace.HANDLER_CHECKPOINTS, name), orjson.dumps(checkpoint))
        if metrics is not None:
            txn.put(_key(keyspace.HANDLER_METRICS, name), orjson.dumps(metrics))


def status(db: Database) -> list[dict[str, Any]]:
    """Every mapping ever registered on this database, with its lease, checkpoint and saved metrics."""
    now = time.time()
    found = []
    with db.store.transaction(write=False) as txn:
        definitions = keyspace.HANDLER_DEFINITIONS
        for key, raw in txn.range(definitions, prefix_end(definitions)):
            name = key[len(definitions):].decode("utf-8")
            lease = _load(txn, _key(keyspace.HANDLER_LEASES, name))
            live = lease is not None and lease["expires"] > now
            found.append(
                {
                    **orjson.loads(raw),
                    "name": name,
                    "owner": lease["owner"] if live else None,
                    "checkpoint": _load(txn, _key(keyspace.HANDLER_CHECKPOINTS, name)),
                    "metrics": _load(txn, _key(keyspace.HANDLER_METRICS, name)) or {},
                }
            )
    return found
