"""What each request touches, for the authorizer: (IAM action, resource ARN, condition keys).

``--auth sigv4`` authorizes a request before dispatching it (``protocol/auth.py``);
it must not parse payloads itself, so each service's ``resources(db, operation,
payload)`` here answers from the decoded payload, in AWS's terms:

* item operations: ``dynamodb:<Op>`` on the table, with ``dynamodb:LeadingKeys``
  (the partition-key value) and ``dynamodb:Attributes`` (top-level names read
  or written);
* Query and Scan: the table, or ``…/index/<name>`` with ``IndexName``; Query's
  LeadingKeys is the partition it reads;
* BatchGetItem/BatchWriteItem: ``dynamodb:BatchGetItem``/``BatchWriteItem`` on
  each table, once per item with that item's leading key;
* TransactWriteItems/TransactGetItems: each action as ``dynamodb:PutItem``,
  ``UpdateItem``, ``DeleteItem``, ``ConditionCheckItem`` or ``GetItem``;
* control plane: the table (``TableName``) or ``ResourceArn``, else ``*``;
* Streams: the stream ARN (``GetRecords``: the one inside its iterator);
* SQS: ``sqs:<Op>`` on the queue ARN (batch operations are authorized as their
  single-message action, as SQS does).

Payloads are not validated here: a malformed request gets what can be read
from it (an unknown shape falls back to ``*``, which only a policy on ``*``
allows), and the handler reports its faults afterwards.  Reading a key
schema costs one read transaction; expressions come from the parse cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from cellstore.api.expression_params import RequestExpressions
from cellstore.engine import catalog, indexes
from cellstore.engine.database import Database
from cellstore.engine.tables import Table
from cellstore.errors import CellstoreError

#: A condition key and its values (a multivalued key has several), hashable.
ContextKeys = tuple[tuple[str, tuple[str, ...]], ...]


class Access(NamedTuple):
    """One thing a request does: an IAM action on a resource, with its condition keys (lower-case)."""

    action: str
    resource: str
    context: ContextKeys = ()


# --- DynamoDB -----------------------------------------------------------------

_ITEM_OPERATIONS = {"GetItem": "Key", "DeleteItem": "Key", "UpdateItem": "Key", "PutItem": "Item"}
_TRANSACT_ACTIONS = {
    "Put": ("PutItem", "Item"),
    "Update": ("UpdateItem", "Key"),
    "Delete": ("DeleteItem", "Key"),
    "ConditionCheck": ("ConditionCheckItem", "Key"),
    "Get": ("GetItem", "Key"),
}


class _Tables:
    """Key schemas read once per request, in one read transaction each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._found: dict[str, Table | None] = {}

    def get(self, name: str) -> Table | None:
        if name not in self._found:
            self._found[name] = catalog.lookup_table(self.db, name)
        return self._found[name]


def _text(value: Any) -> str | None:
    """The string form IAM compares an attribute value as (S, N or B), else None."""
    if isinstance(value, Mapping) and len(value) == 1:
        (kind, inner), = value.items()
        if kind in ("S", "N", "B") and isinstance(inner, str):
            return inner
    return None


def _leading(table: Table | None, item: Any, hash_name: str | None = None) -> tuple[str, ...]:
    if table is None or not isinstance(item, Mapping):
        return ()
    value = _text(item.get(hash_name or table.hash_key.name))
    return () if value is None else (value,)


def _names(payload: Mapping[str, Any], params: tuple[str, ...]) -> set[str] | None:
    """Top-level attribute names a request's projection or update names, or None if unreadable."""
    try:
        exprs = RequestExpressions(payload, params)
        found: set[str] = set()
        if "ProjectionExpression" in params:
            projection = exprs.projection()
            if projection is None:
                return None  # the whole item
            found |= projection.top_level_names()
        if "UpdateExpression" in params:
            update = exprs.update()
            if update is not None:
                found |= update.top_level_names()
        return found
    except CellstoreError:
        return None


def _context(leading: tuple[str, ...] | None, attributes: Iterable[str] | None, **single: Any) -> ContextKeys:
    keys: list[tuple[str, tuple[str, ...]]] = []
    if leading is not None:
        keys.append(("dynamodb:leadingkeys", leading))
    if attributes is not None:
        keys.append(("dynamodb:attributes", tuple(sorted(attributes))))
    for name, value in single.items():
        if isinstance(value, str):
            keys.append((f"dynamodb:{name.lower()}", (value,)))
    return tuple(keys)


def _key_names(table: Table | None) -> set[str]:
    return set() if table is None else set(table.key_names)


def _item_access(
    tables: _Tables, action: str, table_name: Any, body: Mapping[str, Any], member: str
) -> Access:
    if not isinstance(table_name, str):
        return Access(action, "*")
    table = tables.get(table_name)
    item = body.get(member)
    attributes: set[str] | None
    if member == "Item":
        attributes = set(item) if isinstance(item, Mapping) else None
    elif action.endswith(("GetItem",)):
        attributes = _names(body, ("ProjectionExpression",))
    elif action.endswith("UpdateItem"):
        attributes = _names(body, ("UpdateExpression", "ConditionExpression"))
    else:
        attributes = set()
    if attributes is not None:
        attributes |= _key_names(table)
    return Access(
        action,
        tables.db.table_arn(table_name),
        _context(
            _leading(table, item), attributes,
            Select=body.get("Select"), ReturnValues=body.get("ReturnValues"),
        ),
    )


def _query_leading(tables: _Tables, payload: Mapping[str, Any], table: Table | None) -> tuple[str, ...]:
    if table is None:
        return ()
    try:
        keyed: Any = table
        if isinstance(payload.get("IndexName"), str):
            keyed = indexes.find_index(table, payload["IndexName"])
        exprs = RequestExpressions(payload, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
        condition = exprs.key_condition(keyed.hash_key.name, keyed.range_key.name if keyed.range_key else None)
    except CellstoreError:
        return ()
    value = _text(condition.hash_value)
    return () if value is None else (value,)


def _read_access(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Access:
    name = payload.get("TableName")
    if not isinstance(name, str):
        return Access(f"dynamodb:{operation}", "*")
    table = tables.get(name)
    arn = tables.db.table_arn(name)
    index = payload.get("IndexName")
    if isinstance(index, str):
        arn = f"{arn}/index/{index}"
    leading = _query_leading(tables, payload, table) if operation == "Query" else None
    attributes = _names(payload, ("ProjectionExpression",))
    return Access(f"dynamodb:{operation}", arn, _context(leading, attributes, Select=payload.get("Select")))


def _batch_accesses(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Iterator[Access]:
    request_items = payload.get("RequestItems")
    if not isinstance(request_items, Mapping):
        yield Access(f"dynamodb:{operation}", "*")
        return
    action = f"dynamodb:{operation}"
    for name, spec in request_items.items():
        table = tables.get(name)
        arn = tables.db.table_arn(name)
        if operation == "BatchGetItem":
            keys = spec.get("Keys") if isinstance(spec, Mapping) else None
            attributes = _names(spec, ("ProjectionExpression",)) if isinstance(spec, Mapping) else None
            if attributes is not None:
                attributes |= _key_names(table)
            for key in keys if isinstance(keys, list) and keys else [None]:
                yield Access(action, arn, _context(_leading(table, key), attributes))
            continue
        entries = spec if isinstance(spec, list) and spec else [None]
        for entry in entries:
            item: Any = None
            attributes = None
            if isinstance(entry, Mapping):
                put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
                if isinstance(put, Mapping):
                    item = put.get("Item")
                    attributes = set(item) if isinstance(item, Mapping) else None
                elif isinstance(delete, Mapping):
                    item = delete.get("Key")
                    attributes = _key_names(table)
            yield Access(action, arn, _context(_leading(table, item), attributes))


def _transact_accesses(tables: _Tables, payload: Mapping[str, Any]) -> Iterator[Access]:
    entries = payload.get("TransactItems")
    if not isinstance(entries, list) or not entries:
        yield Access("dynamodb:TransactWriteItems", "*")
        return
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            yield Access("dynamodb:TransactWriteItems", "*")
            continue
        (kind, body), = entry.items()
        if kind not in _TRANSACT_ACTIONS or not isinstance(body, Mapping):
            yield Access("dynamodb:TransactWriteItems", "*")
            continue
        operation, member = _TRANSACT_ACTIONS[kind]
        yield _item_access(tables, f"dynamodb:{operation}", body.get("TableName"), body, member)


def dynamodb(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What a DynamoDB request touches."""
    tables = _Tables(db)
    if operation in _ITEM_OPERATIONS:
        return [_item_access(tables, f"dynamodb:{operation}", payload.get("TableName"), payload, _ITEM_OPERATIONS[operation])]
    if operation in ("Query", "Scan"):
        return [_read_access(tables, operation, payload)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return list(_batch_accesses(tables, operation, payload))
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return list(_transact_accesses(tables, payload))
    action = f"dynamodb:{operation}"
    if isinstance(payload.get("TableName"), str):
        return [Access(action, db.table_arn(payload["TableName"]))]
    if isinstance(payload.get("ResourceArn"), str):
        return [Access(action, payload["ResourceArn"])]
    if operation == "ListTables":
        return [Access(action, db.table_arn("*"))]
    return [Access(action, "*")]


# --- DynamoDB Streams -------------------------------------------------------


def streams(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What a Streams request touches: its stream, found in the iterator for GetRecords."""
    action = f"dynamodb:{operation}"
    arn = payload.get("StreamArn")
    if operation == "GetRecords" and isinstance(payload.get("ShardIterator"), str):
        arn = payload["ShardIterator"].partition("|")[0]  # iterators are "<stream arn>|..."
    if isinstance(arn, str) and arn.startswith("arn:"):
        return [Access(action, arn)]
    if operation == "ListStreams":
        return [Access(action, db.table_arn("*") + "/stream/*")]
    return [Access(action, "*")]


# --- SQS --------------------------------------------------------------------

#: SQS authorizes a batch as its single-message action.
_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def queue_arn(db: Database, name: str) -> str:
    return f"arn:aws:sqs:{db.region}:{db.account}:{name}"


def sqs(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What an SQS request touches: the queue named by ``QueueUrl``, ``QueueName`` or ``SourceArn``."""
    action = "sqs:" + _SQS_ACTIONS.get(operation, operation)
    url = payload.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = [p for p in (urlsplit(url).path if "://" in url else url).split("/") if p]
        if parts:
            return [Access(action, queue_arn(db, parts[-1]))]
    name = payload.get("QueueName")
    if isinstance(name, str) and name:
        return [Access(action, queue_arn(db, name))]
    source = payload.get("SourceArn")
    if isinstance(source, str) and source.startswith("arn:"):
        return [Access(action, source)]
    return [Access(action, "*")]
