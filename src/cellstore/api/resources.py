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
* PartiQL (ExecuteStatement, BatchExecuteStatement, ExecuteTransaction): each
  statement as ``dynamodb:PartiQLSelect`` (EXISTS too), ``PartiQLInsert``,
  ``PartiQLUpdate`` or ``PartiQLDelete`` on its table (a SELECT from
  ``"table"."index"`` on the index), read from the statement's first words,
  with the item API's condition keys for the access the statement makes;
* control plane: the table (``TableName``) or ``ResourceArn``, else ``*``;
* backups: DescribeBackup and DeleteBackup the backup's ARN, ListBackups
  ``*``; RestoreTableFromBackup the backup's ARN, and on the target table
  the read and write actions AWS requires for a restore (PutItem,
  UpdateItem, DeleteItem, GetItem, Query, Scan, BatchWriteItem);
* Streams: the stream ARN (``GetRecords``: the one inside its iterator);
* SQS: ``sqs:<Op>`` on the queue the operation names (batch operations are
  authorized as their single-message action, as SQS does), plus every other
  queue it writes to or names: a move task's destinations, the dead-letter
  queue of a RedrivePolicy and the queues of a RedriveAllowPolicy.

Key values are compared *canonically*: a partition key is run through
``values.validate_value``, the function the engine itself uses, so ``42``,
``42.0``, ``4.2E1`` and ``+42`` are all the leading key ``"42"`` (and a binary
its canonical base64) — a policy cannot be side-stepped by spelling the key
another way.

This module is total over arbitrary JSON: it never raises for a malformed
payload.  Authorization comes before validation, as in AWS (only gross
serialization errors — a body that is not a JSON object — come first), so a
principal without permission gets AccessDenied, never a validation error
that would tell it the table exists.  What cannot be read is never treated
as "nothing": an unreadable partition key or attribute list is the value
``UNREADABLE`` (the empty string, which no real key or attribute name can
be), so allow-lists refuse it, and a request whose table or queue cannot be
read is authorized on ``*``, which only a policy on ``*`` allows.  Such a
request then fails validation in the handler, which reads the same members
with the same functions.  Reading a key schema costs one read transaction;
expressions come from the parse cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson

from cellstore.api import table_arns
from cellstore.api.expression_params import RequestExpressions
from cellstore.api.partiql.parser import Delete, Exists, Insert, Select, Statement, Update, parse, verb_and_table
from cellstore.api.partiql.translate import plan_select, write_action
from cellstore.api.sqs.params import queue_url_parts
from cellstore.engine import catalog, indexes
from cellstore.engine.database import Database
from cellstore.engine.expressions.update import Update as EngineUpdate
from cellstore.engine.queues import queues_for, redrive
from cellstore.engine.tables import Table
from cellstore.engine.values import KEY_TYPES, validate_value
from cellstore.errors import CellstoreError

#: A condition key and its values (a multivalued key has several), hashable.
ContextKeys = tuple[tuple[str, tuple[str, ...]], ...]

#: The condition-key value of a key or attribute list that cannot be read:
#: no partition key or attribute name is empty, so no allow-list admits it.
UNREADABLE = ""


class Access(NamedTuple):
    """One thing a request does: an IAM action on a resource, with its condition keys (lower-case)."""

    action: str
    resource: str
    context: ContextKeys = ()
    #: The resource-based policy (PutResourcePolicy's JSON document) of the table or
    #: stream the resource is, or is an index of; "" when it has none.
    resource_policy: str = ""


# --- DynamoDB -----------------------------------------------------------------

_ITEM_OPERATIONS = {"GetItem": "Key", "DeleteItem": "Key", "UpdateItem": "Key", "PutItem": "Item"}
_TRANSACT_ACTIONS = {
    "Put": ("PutItem", "Item"),
    "Update": ("UpdateItem", "Key"),
    "Delete": ("DeleteItem", "Key"),
    "ConditionCheck": ("ConditionCheckItem", "Key"),
    "Get": ("GetItem", "Key"),
}
#: Control-plane operations that name their table by ARN.
_BY_RESOURCE_ARN = frozenset(
    {
        "TagResource", "UntagResource", "ListTagsOfResource",
        "PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy",
    }
)


#: Operations on backups, and the actions AWS requires on a restore's target table
#: ("DynamoDB read and write permissions on the target table", backuprestore_IAM).
_BACKUP_OPERATIONS = frozenset({"DescribeBackup", "DeleteBackup", "ListBackups", "RestoreTableFromBackup"})
_RESTORE_TARGET_ACTIONS = ("PutItem", "UpdateItem", "DeleteItem", "GetItem", "Query", "Scan", "BatchWriteItem")


def _backup_accesses(db: Database, operation: str, payload: Mapping[str, Any]) -> list[Access]:
    """Backups: the backup's ARN; ListBackups ``*`` (IAM has no resource for it); a restore also its target table."""
    action = f"dynamodb:{operation}"
    if operation == "ListBackups":
        return [Access(action, "*")]
    arn = payload.get("BackupArn")
    accesses = [Access(action, arn if isinstance(arn, str) else "*")]
    if operation == "RestoreTableFromBackup":
        target = payload.get("TargetTableName")
        resource = db.table_arn(target) if isinstance(target, str) else "*"
        accesses += [Access(f"dynamodb:{name}", resource) for name in _RESTORE_TARGET_ACTIONS]
    return accesses


class _Tables:
    """Key schemas read once per request, in one read transaction each."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._found: dict[str, Table | None] = {}

    def get(self, name: str) -> Table | None:
        if name not in self._found:
            self._found[name] = catalog.lookup_table(self.db, name)
        return self._found[name]


def key_text(value: Any) -> str:
    """The text IAM compares a key value as: canonical S, N or B, else ``UNREADABLE``.

    Canonical because storage is: ``validate_value`` is what the engine runs
    on the key before it encodes it, so the policy sees the number the
    engine will read (``4.2E1`` is ``42``).  A value it refuses, or one that
    is not a scalar key type, cannot name an item; the handler refuses it.
    """
    try:
        canonical = validate_value(value)
    except CellstoreError:
        return UNREADABLE
    (kind, inner), = canonical.items()
    return inner if kind in KEY_TYPES else UNREADABLE


def _leading(table: Table | None, item: Any, hash_name: str | None = None) -> tuple[str, ...]:
    """The partition key of ``item`` on ``table``: () only when the table does not exist."""
    if table is None:
        return ()
    name = hash_name or table.hash_key.name
    if not isinstance(item, Mapping) or name not in item:
        return (UNREADABLE,)
    return (key_text(item[name]),)


def _string_list(raw: Any) -> set[str] | None:
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return set(raw)
    return None


def _names(payload: Mapping[str, Any], params: tuple[str, ...]) -> set[str] | None:
    """Top-level attribute names a request's projection or update names.

    None when it names none (no projection: the whole item); ``{UNREADABLE}``
    when the members cannot be read.  The legacy members are read here,
    type-checked, rather than by the handler's parsers, which expect a
    request already past the model's type checks.
    """
    found: set[str] = set()
    named = False
    legacy: set[str] | None
    if "ProjectionExpression" in params and payload.get("ProjectionExpression") is None:
        if payload.get("AttributesToGet") is not None:
            legacy = _string_list(payload["AttributesToGet"])
            if legacy is None:
                return {UNREADABLE}
            found |= legacy
            named = True
        params = tuple(p for p in params if p != "ProjectionExpression")
    if "UpdateExpression" in params and payload.get("UpdateExpression") is None:
        updates = payload.get("AttributeUpdates")
        if updates is not None:
            if not isinstance(updates, Mapping):
                return {UNREADABLE}
            found |= set(updates)
            named = True
        params = tuple(p for p in params if p != "UpdateExpression")
    if not any(payload.get(p) is not None for p in params):
        return found if named else None
    try:
        exprs = RequestExpressions(payload, params)
        if "ProjectionExpression" in params:
            projection = exprs.projection()
            if projection is not None:
                found |= projection.top_level_names()
                named = True
        if "UpdateExpression" in params:
            update = exprs.update()
            if update is not None:
                found |= update.top_level_names()
                named = True
    except CellstoreError:
        return {UNREADABLE}
    return found if named else None


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
        attributes = set(item) if isinstance(item, Mapping) else {UNREADABLE}
    elif action.endswith("GetItem"):
        attributes = _names(body, ("ProjectionExpression",))
    elif action.endswith("UpdateItem"):
        # No update names no attribute but the key (an UpdateItem may just create the item).
        attributes = _names(body, ("UpdateExpression", "ConditionExpression")) or set()
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


def _query_leading(payload: Mapping[str, Any], table: Table | None) -> tuple[str, ...]:
    """The partition a Query reads, canonical (its expression values are validated).

    On an index whose partition key has several attributes (up to four), every
    one of their values is a leading key, in key-schema order: the partition is
    all of them together, and a policy restricting ``dynamodb:LeadingKeys`` with
    ``ForAllValues`` must then allow each.  AWS documents LeadingKeys only as
    "the partition key" and says nothing of multi-attribute keys; taking the
    first attribute alone would let a Query reach partitions whose other
    attributes the policy never saw, so cellstore takes them all.
    """
    if table is None:
        return ()
    try:
        keyed: Any = table
        if isinstance(payload.get("IndexName"), str):
            keyed = indexes.find_index(table, payload["IndexName"])
        hash_names: tuple[str, ...] = keyed.hash_names
        if payload.get("KeyConditionExpression") is None:
            return _legacy_query_leading(payload.get("KeyConditions"), hash_names)
        exprs = RequestExpressions(payload, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
        condition = exprs.key_condition(hash_names, keyed.range_names)
    except CellstoreError:
        return (UNREADABLE,)
    return tuple(key_text(value) for value in condition.partition)


def _legacy_query_leading(conditions: Any, hash_names: tuple[str, ...]) -> tuple[str, ...]:
    """KeyConditions' partition: the one value of an EQ on each partition attribute."""
    found: list[str] = []
    for hash_name in hash_names:
        spec = conditions.get(hash_name) if isinstance(conditions, Mapping) else None
        if not isinstance(spec, Mapping) or spec.get("ComparisonOperator") != "EQ":
            return (UNREADABLE,)
        operands = spec.get("AttributeValueList")
        if not isinstance(operands, list) or len(operands) != 1:
            return (UNREADABLE,)
        found.append(key_text(operands[0]))
    return tuple(found)


def _read_access(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Access:
    name = payload.get("TableName")
    if not isinstance(name, str):
        return Access(f"dynamodb:{operation}", "*")
    table = tables.get(name)
    arn = tables.db.table_arn(name)
    index = payload.get("IndexName")
    if isinstance(index, str):
        arn = f"{arn}/index/{index}"
    elif index is not None:
        arn = "*"  # the handler refuses a non-string IndexName; it names nothing
    leading = _query_leading(payload, table) if operation == "Query" else None
    attributes = _names(payload, ("ProjectionExpression",))
    return Access(f"dynamodb:{operation}", arn, _context(leading, attributes, Select=payload.get("Select")))


def _batch_accesses(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Iterator[Access]:
    request_items = payload.get("RequestItems")
    if not isinstance(request_items, Mapping) or not request_items:
        yield Access(f"dynamodb:{operation}", "*")
        return
    action = f"dynamodb:{operation}"
    for name, spec in request_items.items():
        table = tables.get(name)
        arn = tables.db.table_arn(name)
        if operation == "BatchGetItem":
            keys = spec.get("Keys") if isinstance(spec, Mapping) else None
            attributes = _names(spec, ("ProjectionExpression",)) if isinstance(spec, Mapping) else {UNREADABLE}
            if attributes is not None:
                attributes |= _key_names(table)
            for key in keys if isinstance(keys, list) and keys else [None]:
                yield Access(action, arn, _context(_leading(table, key), attributes))
            continue
        entries = spec if isinstance(spec, list) and spec else [None]
        for entry in entries:
            item: Any = None
            attributes = {UNREADABLE}
            if isinstance(entry, Mapping):
                put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
                if isinstance(put, Mapping):
                    item = put.get("Item")
                    attributes = set(item) if isinstance(item, Mapping) else {UNREADABLE}
                elif isinstance(delete, Mapping):
                    item = delete.get("Key")
                    attributes = _key_names(table)
            yield Access(action, arn, _context(_leading(table, item), attributes))


def _transact_accesses(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Iterator[Access]:
    entries = payload.get("TransactItems")
    unreadable = Access(f"dynamodb:{operation}", "*")
    if not isinstance(entries, list) or not entries:
        yield unreadable
        return
    for entry in entries:
        if not isinstance(entry, Mapping) or len(entry) != 1:
            yield unreadable
            continue
        (kind, body), = entry.items()
        if kind not in _TRANSACT_ACTIONS or not isinstance(body, Mapping):
            yield unreadable
            continue
        action, member = _TRANSACT_ACTIONS[kind]
        yield _item_access(tables, f"dynamodb:{action}", body.get("TableName"), body, member)


#: Each PartiQL statement's list member, by operation (None: the payload is the one statement).
_PARTIQL_LISTS = {"ExecuteStatement": None, "BatchExecuteStatement": "Statements", "ExecuteTransaction": "TransactStatements"}


def _partiql_accesses(tables: _Tables, operation: str, payload: Mapping[str, Any]) -> Iterator[Access]:
    member = _PARTIQL_LISTS[operation]
    entries = [payload] if member is None else payload.get(member)
    if not isinstance(entries, list) or not entries:
        yield Access(f"dynamodb:{operation}", "*")
        return
    for entry in entries:
        text = entry.get("Statement") if isinstance(entry, Mapping) else None
        verb, table, index = verb_and_table(text) if isinstance(text, str) else ("", None, None)
        if not verb or table is None:
            yield Access(f"dynamodb:{operation}", "*")
            continue
        arn = tables.db.table_arn(table)
        context = _partiql_context(tables, verb, text, entry.get("Parameters")) if isinstance(text, str) else ()
        yield Access(f"dynamodb:PartiQL{verb.capitalize()}", arn if index is None else f"{arn}/index/{index}", context)


def _partiql_context(tables: _Tables, verb: str, text: str, parameters: Any) -> ContextKeys:
    """A statement's condition keys, as the item API's for the same access.

    ``dynamodb:LeadingKeys`` is the partition the statement reads or writes,
    as for the item API (a SELECT by key or partition: its partition values;
    a write: its item's); a scanning SELECT has none, as Scan has none.
    ``dynamodb:FullTableScan`` is "true" when a SELECT plans as a Scan:
    AWS's example policy denies ``PartiQLSelect`` where it is true, and that
    deny must hold.  ``dynamodb:Attributes`` is ``_partiql_attributes``'s,
    ``dynamodb:Select`` says whether a SELECT projects (``SPECIFIC_ATTRIBUTES``)
    or reads the whole item (``ALL_ATTRIBUTES``) — AWS's attribute-restricting
    policy requires the former with ``StringEqualsIfExists``, which is what
    refuses ``SELECT *`` — and ``dynamodb:ReturnValues`` is a RETURNING
    clause as ReturnValues spells it.  A statement that cannot be parsed or
    planned (a missing table, a parameter short) is ``UNREADABLE`` for
    LeadingKeys and Attributes, so a policy that restricts either refuses,
    and fails in its handler otherwise.
    """
    try:
        statement = parse(text, parameters if isinstance(parameters, list) else ())
        select = statement.select if isinstance(statement, Exists) and verb == "SELECT" else statement
        if isinstance(select, Select):
            plan = plan_select(tables.db, select, consistent=False)
            if plan.partitions is not None:
                leading: tuple[str, ...] | None = tuple(key_text(value) for value in plan.partitions)
            elif plan.key_condition is not None:
                leading = tuple(key_text(value) for value in plan.key_condition.partition)
            else:
                leading = None
            scan = plan.key_condition is None and plan.partitions is None
            selects = "ALL_ATTRIBUTES" if select.projection is None else "SPECIFIC_ATTRIBUTES"
            return _context(
                leading, _partiql_attributes(tables, statement), FullTableScan="true" if scan else "false",
                Select=None if isinstance(statement, Exists) else selects,  # EXISTS returns no attribute
            )
        action = write_action(tables.db, statement)
    except CellstoreError:
        return _context((UNREADABLE,), {UNREADABLE})
    table = tables.get(action.table_name)
    returning = statement.returning if isinstance(statement, (Update, Delete)) else None
    return _context(_leading(table, action.item), _partiql_attributes(tables, statement), ReturnValues=returning)


def _partiql_attributes(tables: _Tables, statement: Statement) -> set[str] | None:
    """The top-level names a statement reads or writes, with the key names, as the item API names them.

    A SELECT's projection, as GetItem's (None for ``SELECT *``: the whole
    item, as a GetItem without a projection); an INSERT's item, as
    PutItem's; an UPDATE's SET and REMOVE targets, as UpdateItem's; a
    DELETE or an EXISTS, the key alone, as DeleteItem and ConditionCheckItem.
    Names in a WHERE are conditions, and the item API leaves a
    ConditionExpression's names out too.
    """
    names: set[str]
    if isinstance(statement, Exists):
        return _key_names(tables.get(statement.select.table))
    if isinstance(statement, Select):
        if statement.projection is None:
            return None
        names = {str(path[0]) for path in statement.projection}
    elif isinstance(statement, Insert):
        names = set(statement.item)
    elif isinstance(statement, Update):
        names = EngineUpdate(statement.actions).top_level_names()
    else:
        names = set()
    return names | _key_names(tables.get(statement.table))


def _with_resource_policies(tables: _Tables, accesses: Iterable[Access]) -> list[Access]:
    """``accesses``, each carrying the resource policy of what it touches.

    A table's policy also governs its indexes (``…/table/t/index/i``), as in
    DynamoDB; a stream has its own.  Stored with the table, read in the same
    lookup as the key schema.
    """
    prefix = tables.db.table_arn("")
    found = []
    for access in accesses:
        document = ""
        if access.resource.startswith(prefix):
            name, _, rest = access.resource[len(prefix):].partition("/")
            table = tables.get(name)
            if table is not None:
                attached = access.resource if rest.startswith("stream/") else prefix + name
                document = catalog.resource_policy_of(table, attached)
        found.append(Access(*access[:3], document) if document else access)
    return found


def dynamodb(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What a DynamoDB request touches (a table ARN as TableName is the table it names)."""
    tables = _Tables(db)
    return _with_resource_policies(tables, _dynamodb(tables, operation, payload))


def _dynamodb(tables: _Tables, operation: str, payload: dict[str, Any]) -> list[Access]:
    db = tables.db
    payload, _ = table_arns.with_table_names(db, operation, payload, strict=False)
    if operation in _ITEM_OPERATIONS:
        return [_item_access(tables, f"dynamodb:{operation}", payload.get("TableName"), payload, _ITEM_OPERATIONS[operation])]
    if operation in ("Query", "Scan"):
        return [_read_access(tables, operation, payload)]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return list(_batch_accesses(tables, operation, payload))
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return list(_transact_accesses(tables, operation, payload))
    if operation in _PARTIQL_LISTS:
        return list(_partiql_accesses(tables, operation, payload))
    action = f"dynamodb:{operation}"
    if operation in _BACKUP_OPERATIONS:
        return _backup_accesses(db, operation, payload)
    if operation in _BY_RESOURCE_ARN:
        # Read only the member the handler reads: a TableName beside it names nothing.
        arn = payload.get("ResourceArn")
        return [Access(action, arn if isinstance(arn, str) else "*")]
    if isinstance(payload.get("TableName"), str):
        return [Access(action, db.table_arn(payload["TableName"]))]
    if operation == "ListTables":
        return [Access(action, db.table_arn("*"))]
    return [Access(action, "*")]


# --- DynamoDB Streams -------------------------------------------------------


def streams(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What a Streams request touches: its stream, found in the iterator for GetRecords."""
    return _with_resource_policies(_Tables(db), _streams(db, operation, payload))


def _streams(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
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
#: Operations naming their queue by a member other than ``QueueUrl``.
_BY_NAME = frozenset({"CreateQueue", "GetQueueUrl"})
_BY_SOURCE_ARN = frozenset({"StartMessageMoveTask", "ListMessageMoveTasks"})
_NOT_A_QUEUE = frozenset({"ListQueues"})
#: What a message move task does to its source queue besides starting the
#: task, as SQS's guide to dead-letter queue redrive lists it: it reads,
#: deletes and counts the source's messages.
_MOVE_SOURCE_ACTIONS = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")


def queue_arn(db: Database, name: str) -> str:
    """The queue's ARN as the queue engine spells it (``Queues.arn``), so policy and handler agree."""
    return queues_for(db).arn(name)


def _queue_of(db: Database, operation: str, payload: Mapping[str, Any]) -> str:
    """The ARN of the queue ``operation`` acts on, read from the member its handler reads; else ``*``."""
    if operation in _BY_NAME:
        name = payload.get("QueueName")
        return queue_arn(db, name) if isinstance(name, str) and name else "*"
    if operation in _BY_SOURCE_ARN:
        source = payload.get("SourceArn")
        return source if isinstance(source, str) and source.startswith("arn:") else "*"
    if operation == "CancelMessageMoveTask":
        return _task_source(db, payload.get("TaskHandle"))
    if operation in _NOT_A_QUEUE:
        return "*"
    url = payload.get("QueueUrl")
    if isinstance(url, str) and url:
        parts = queue_url_parts(url)
        if parts:
            return queue_arn(db, parts[-1])
    return "*"


def _task_source(db: Database, handle: Any) -> str:
    """The source queue of a stored move task (CancelMessageMoveTask acts on it)."""
    if not isinstance(handle, str) or not handle:
        return "*"
    source = redrive.task_source(queues_for(db), handle)
    return "*" if source is None else source


def _move_destinations(db: Database, payload: Mapping[str, Any], source_arn: str) -> Iterator[str]:
    """Every queue a move task may write to: ``DestinationArn``, else each message's original queue."""
    destination = payload.get("DestinationArn")
    if destination is not None:
        yield destination if isinstance(destination, str) else "*"
        return
    yield from sorted(redrive.possible_destinations(queues_for(db), source_arn))


def _attribute_text(attributes: Any, name: str) -> str | None:
    value = attributes.get(name) if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) else None


def _named_queues(payload: Mapping[str, Any]) -> Iterator[Access]:
    """The queues a CreateQueue/SetQueueAttributes names in its redrive attributes.

    A RedrivePolicy makes the queue write its failed messages into the
    dead-letter queue, so it needs ``sqs:SendMessage`` there — the check SQS
    makes when the policy is set.  A RedriveAllowPolicy lists the queues that
    may use this one as theirs; naming a queue needs
    ``sqs:GetQueueAttributes`` on it (a principal names only queues it may see).
    Unparseable policies name nothing: the handler refuses them.
    """
    attributes = payload.get("Attributes")
    redrive = _attribute_text(attributes, "RedrivePolicy")
    if redrive:
        target = _json_member(redrive, "deadLetterTargetArn")
        if isinstance(target, str):
            yield Access("sqs:SendMessage", target)
    allow = _attribute_text(attributes, "RedriveAllowPolicy")
    if allow:
        sources = _json_member(allow, "sourceQueueArns")
        for arn in sources if isinstance(sources, list) else ():
            yield Access("sqs:GetQueueAttributes", arn if isinstance(arn, str) else "*")


def _json_member(text: str, member: str) -> Any:
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return document.get(member) if isinstance(document, dict) else None


def sqs(db: Database, operation: str, payload: dict[str, Any]) -> list[Access]:
    """What an SQS request touches: its own queue first, then every other queue it writes to or names."""
    action = "sqs:" + _SQS_ACTIONS.get(operation, operation)
    queue = _queue_of(db, operation, payload)
    accesses = [Access(action, queue)]
    if operation == "StartMessageMoveTask":
        accesses += [Access(extra, queue) for extra in _MOVE_SOURCE_ACTIONS]
        if queue != "*":
            accesses += [Access("sqs:SendMessage", arn) for arn in _move_destinations(db, payload, queue)]
    elif operation in ("CreateQueue", "SetQueueAttributes"):
        accesses += list(_named_queues(payload))
    return accesses
