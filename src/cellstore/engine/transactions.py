"""TransactWriteItems and TransactGetItems.

A write transaction is one storage write transaction: every action's old
item is read and its condition checked, then — only if every action may
proceed — every change is applied.  Storage write transactions are
serialised (SQLite's single writer, across processes too), so transactions
are serializable with respect to each other and to single-item writes, and a
reader's snapshot can never contain half of one.  Because nothing else can be
"in flight" while a transaction runs, TransactionConflictException never
arises; that is stronger than DynamoDB, where conflicting writers are refused.

Idempotency: a ClientRequestToken is remembered for 10 minutes with a digest
of the request.  The same token with the same request succeeds again without
re-applying; with a different request it fails with
IdempotentParameterMismatchException.  Token records live in the keyspace
(not in process memory), so every worker process sees them.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cellstore.engine import items, keyspace
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, Projection, Update
from cellstore.engine.tables import Table, load_table
from cellstore.engine.values import Item
from cellstore.errors import (
    IdempotentParameterMismatchException,
    TransactionCanceledException,
    ValidationException,
)
from cellstore.storage.base import Txn

TOKEN_TTL_SECONDS = 600
_TOKENS = keyspace.TX_TOKENS
_TOKEN_EXPIRY = keyspace.TX_EXPIRIES
_EXPIRED_SWEEP = 64  # expired token records removed per tokened transaction


#: The member of a TransactItems entry a write action came from.
WriteKind = Literal["Put", "Update", "Delete", "ConditionCheck"]


@dataclass(slots=True)
class WriteAction:
    kind: WriteKind
    table_name: str
    item: Item  # the item for Put, the key otherwise
    condition: Condition | None = None
    update: Update | None = None
    return_old_on_failure: bool = False


@dataclass(slots=True)
class GetAction:
    table_name: str
    key: Item
    projection: Projection | None = None


def request_digest(payload: dict[str, Any]) -> str:
    """A digest of what makes two TransactWriteItems requests "the same"."""
    material = {k: v for k, v in payload.items() if k not in ("ClientRequestToken", "ReturnConsumedCapacity", "ReturnItemCollectionMetrics")}
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _reason_codes(reasons: list[dict[str, Any]]) -> str:
    return ", ".join(reason["Code"] for reason in reasons)


def _remembered(txn: Txn, token: str, digest: str, now: float) -> bool:
    """True if this exact request already committed under ``token``."""
    raw = txn.get(_TOKENS + token.encode())
    if raw is None:
        return False
    record = orjson.loads(raw)
    if record["expires"] <= now:
        return False
    if record["digest"] != digest:
        raise IdempotentParameterMismatchException()
    return True


def _remember(txn: Txn, token: str, digest: str, now: float) -> None:
    expires = now + TOKEN_TTL_SECONDS
    txn.put(_TOKENS + token.encode(), orjson.dumps({"digest": digest, "expires": expires}))
    txn.put(_TOKEN_EXPIRY + int(expires * 1000).to_bytes(8, "big") + token.encode(), b"")
    # Forget a few expired tokens each time, so the records stay bounded.
    horizon = _TOKEN_EXPIRY + int(now * 1000).to_bytes(8, "big")
    for key, _ in list(txn.range(_TOKEN_EXPIRY, horizon, limit=_EXPIRED_SWEEP)):
        txn.delete(key)
        expired_token = key[len(_TOKEN_EXPIRY) + 8 :]
        current = txn.get(_TOKENS + expired_token)
        if current is not None and orjson.loads(current)["expires"] <= now:
            txn.delete(_TOKENS + expired_token)


def _plan(txn: Txn, tables: dict[str, Table], action: WriteAction) -> tuple[items.WriteResult | None, dict[str, Any]]:
    """The change one action would make, and its cancellation reason."""
    table = tables[action.table_name]
    key = table.key_of(action.item) if action.kind == "Put" else action.item
    storage_key = table.item_key(key)
    old = items.read(txn, storage_key)
    if not items.condition_holds(action.condition, old):
        reason: dict[str, Any] = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
        if action.return_old_on_failure and old is not None:
            reason["Item"] = old
        return None, reason
    if action.kind == "Put":
        return items.WriteResult(table, storage_key, old, action.item), {"Code": "None"}
    if action.kind == "Delete":
        return items.WriteResult(table, storage_key, old, None), {"Code": "None"}
    if action.kind == "ConditionCheck":
        return None, {"Code": "None"}
    try:
        new, paths = items.compute_update(key, old, action.update)
    except ValidationException as error:
        return None, {"Code": "ValidationError", "Message": error.message}
    return items.WriteResult(table, storage_key, old, new, paths), {"Code": "None"}


def check_actions(txn: Txn, actions: list[WriteAction]) -> dict[str, Table]:
    """Static checks that fail the whole request (not a cancellation), as DynamoDB does."""
    tables: dict[str, Table] = {}
    seen: set[bytes] = set()
    for action in actions:
        if action.table_name not in tables:
            tables[action.table_name] = load_table(txn, action.table_name)
        table = tables[action.table_name]
        if action.kind == "Put":
            items.check_put(table, action.item)
            key = table.key_of(action.item)
        else:
            table.check_key(action.item)
            key = action.item
        if action.kind == "Update":
            items.check_update(table, action.update)
        storage_key = table.item_key(key)
        if storage_key in seen:
            raise ValidationException("Transaction request cannot include multiple operations on one item")
        seen.add(storage_key)
    return tables


def transact_write(
    db: Database, actions: list[WriteAction], *, token: str | None = None, digest: str = ""
) -> list[items.WriteResult] | None:
    """Apply every action or none; None means an idempotent replay (nothing applied)."""
    now = time.time()
    with db.store.transaction(write=True) as txn:
        if token is not None and _remembered(txn, token, digest, now):
            return None
        tables = check_actions(txn, actions)
        planned = [_plan(txn, tables, action) for action in actions]
        reasons = [reason for _, reason in planned]
        if any(reason["Code"] != "None" for reason in reasons):
            raise TransactionCanceledException(
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{_reason_codes(reasons)}]",
                CancellationReasons=reasons,
            )
        results = [result for result, _ in planned if result is not None]
        for result in results:
            items.apply(txn, result, db.hooks)
        if token is not None:
            _remember(txn, token, digest, now)
        return results


def transact_get(db: Database, actions: list[GetAction]) -> list[tuple[Table, Item | None]]:
    """Every item from one snapshot."""
    with db.store.transaction(write=False) as txn:
        tables: dict[str, Table] = {}
        for action in actions:
            if action.table_name not in tables:
                tables[action.table_name] = load_table(txn, action.table_name)
            tables[action.table_name].check_key(action.key)
        found = []
        for action in actions:
            table = tables[action.table_name]
            found.append((table, items.read(txn, table.item_key(action.key))))
        return found
