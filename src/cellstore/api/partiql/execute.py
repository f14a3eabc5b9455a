"""ExecuteStatement, BatchExecuteStatement and ExecuteTransaction: parse, translate, one engine call each.

Each statement becomes the engine call its item-API twin makes
(``translate.py``); this module shapes AWS's answers: ``Items`` and a
``NextToken`` for a SELECT, RETURNING's attributes for a write, a batch's
per-statement ``Error`` members and a transaction's ``CancellationReasons``
(an INSERT's failed condition is AWS's ``DuplicateItem`` there too).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import orjson

from cellstore.api.partiql import translate
from cellstore.api.partiql.parser import Delete, Exists, Insert, Select, Statement, Update, parse, verb_and_table
from cellstore.api.registry import operation
from cellstore.api.transactions import MAX_TRANSACTION_BYTES
from cellstore.api.validation import RETURN_CONSUMED_CAPACITY, Param, check_type, validate
from cellstore.engine import capacity, indexes, items, reads, transactions
from cellstore.engine.database import Database
from cellstore.engine.expressions import project_paths
from cellstore.engine.expressions.keycondition import build_key_condition
from cellstore.engine.values import Item, item_size, validate_item
from cellstore.errors import (
    CellstoreError,
    ConditionalCheckFailedException,
    DuplicateItemException,
    ResourceNotFoundException,
    TransactionCanceledException,
    ValidationException,
)

_ON_FAILURE = Param("string", enum=("ALL_OLD", "NONE"))
_STATEMENT = Param("string", required=True, min_length=1, max_length=8192)
_PARAMETERS = Param("list", min_length=1)
_EXECUTE_RULES = {
    "Statement": _STATEMENT,
    "Parameters": _PARAMETERS,
    "ConsistentRead": Param("boolean"),
    "NextToken": Param("string", min_length=1, max_length=32768),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "Limit": Param("integer", min_value=1),
    "ReturnValuesOnConditionCheckFailure": _ON_FAILURE,
}
_BATCH_RULES = {
    "Statements": Param("list", required=True, min_length=1, max_length=25),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}
_BATCH_STATEMENT_RULES = {
    "Statement": _STATEMENT,
    "Parameters": _PARAMETERS,
    "ConsistentRead": Param("boolean"),
    "ReturnValuesOnConditionCheckFailure": _ON_FAILURE,
}
_TRANSACTION_RULES = {
    "TransactStatements": Param("list", required=True, min_length=1, max_length=100),
    "ClientRequestToken": Param("string", min_length=1, max_length=36),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}
_TRANSACTION_STATEMENT_RULES = {
    "Statement": _STATEMENT,
    "Parameters": _PARAMETERS,
    "ReturnValuesOnConditionCheckFailure": _ON_FAILURE,
}
#: cellstore's words where AWS documents none (docs/PARTIQL.md lists them).
MIXED_BATCH = "A batch holds either reads (SELECT) or writes (INSERT, UPDATE, DELETE), not both"
MIXED_TRANSACTION = "A transaction holds either reads (SELECT) or writes (INSERT, UPDATE, DELETE, EXISTS), not both"
EXISTS_ALONE = "EXISTS can only be used in a transaction (ExecuteTransaction)"
BAD_TOKEN = "The provided NextToken is not valid for this statement"


def _parsed(payload: dict[str, Any]) -> Statement:
    parameters = payload.get("Parameters") or ()
    return parse(payload["Statement"], parameters)


# --- NextToken ----------------------------------------------------------------


def _statement_digest(payload: dict[str, Any]) -> str:
    material = orjson.dumps((payload["Statement"], payload.get("Parameters")), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(material).hexdigest()[:16]


def _next_token(payload: dict[str, Any], last_key: Item) -> str:
    """An opaque token for the page after ``last_key``, good only for the same statement and parameters."""
    body = orjson.dumps({"s": _statement_digest(payload), "k": last_key})
    return base64.urlsafe_b64encode(body).decode()


def _start_key(payload: dict[str, Any]) -> Item | None:
    token = payload.get("NextToken")
    if token is None:
        return None
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise ValidationException(BAD_TOKEN) from None
    if not isinstance(decoded, dict) or decoded.get("s") != _statement_digest(payload):
        raise ValidationException(BAD_TOKEN)
    return validate_item(decoded.get("k"))


# --- SELECT -------------------------------------------------------------------


def _select(db: Database, payload: dict[str, Any], select: Select) -> dict[str, Any]:
    consistent = bool(payload.get("ConsistentRead", False))
    plan = translate.plan_select(db, select, consistent=consistent)
    start = _start_key(payload)
    limit = payload.get("Limit")
    if plan.key is not None and start is None:
        return _get(db, payload, plan, plan.key, consistent)
    page: reads.Page | None = None
    if plan.partitions is not None:
        found, last_key, bytes_read = _partitions(db, plan, limit, start, consistent)
    elif plan.key_condition is not None:
        page = reads.query(
            db, plan.table.name, plan.key_condition, filter_=plan.filter, forward=plan.forward, limit=limit,
            exclusive_start=start, index_name=plan.index_name, fetch_base=plan.fetch_base, consistent=consistent,
        )
    else:
        page = reads.scan(
            db, plan.table.name, filter_=plan.filter, limit=limit, exclusive_start=start,
            index_name=plan.index_name, fetch_base=plan.fetch_base, consistent=consistent,
        )
    if page is not None:
        found, last_key = page.items, page.last_key
    index = plan.index
    if index is not None and index.projection_type != "ALL":
        found = [indexes.project(plan.table, index, item) for item in found]
    if plan.projection is not None:
        found = [plan.projection.apply(item) for item in found]
    response: dict[str, Any] = {"Items": found}
    if last_key is not None:
        response["NextToken"] = _next_token(payload, last_key)
        response["LastEvaluatedKey"] = last_key
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        # A page's size is worked out only now, when capacity is asked for (reads.Page.bytes_read).
        units = capacity.read_units(bytes_read if page is None else page.bytes_read, consistent=consistent)
        usage = capacity.Usage(units) if index is None else capacity.index_read(index, units)
        response["ConsumedCapacity"] = capacity.consumed(plan.table.name, usage, mode, read=True)
    return response


def _partitions(db: Database, plan: translate.ReadPlan, limit: int | None, start: Item | None,
                consistent: bool) -> tuple[list[Item], Item | None, int]:
    """ORDER BY the partition key: one Query per partition, in the plan's order, as one page.

    Returns the items found, the last evaluated key (None when every partition was
    read to its end) and the bytes evaluated.  ``Limit`` counts the items evaluated
    across the partitions; the page ends where a Query's page is cut short, and a
    NextToken's key says which partition, and where in it, the next page resumes.
    """
    partitions = plan.partitions or ()
    keyed = plan.table if plan.index is None else plan.index
    name = keyed.hash_names[0]
    range_name = keyed.range_names[0] if len(keyed.range_names) == 1 else None
    first = 0
    if start is not None:
        first = next((at for at, value in enumerate(partitions) if start.get(name) == value), len(partitions))
    found: list[Item] = []
    scanned = 0
    bytes_read = 0
    for at, value in enumerate(partitions[first:], start=first):
        remaining = None if limit is None else limit - scanned
        part = reads.query(
            db, plan.table.name, build_key_condition([(name, "=", (value,))], name, range_name),
            filter_=plan.filter, limit=remaining, exclusive_start=start if at == first else None,
            index_name=plan.index_name, fetch_base=plan.fetch_base, consistent=consistent,
        )
        found.extend(part.items)
        scanned += part.scanned
        bytes_read += part.bytes_read
        if part.last_key is not None:  # cut short by Limit or by 1 MB: the next page resumes there
            return found, part.last_key, bytes_read
    return found, None, bytes_read


def _get(db: Database, payload: dict[str, Any], plan: translate.ReadPlan, key: Item, consistent: bool) -> dict[str, Any]:
    """A SELECT naming one item by its full key, as a GetItem (with the other conjuncts as a filter)."""
    table, item = items.get_item(db, plan.table.name, key, consistent=consistent)
    found = [] if item is None or (plan.filter is not None and not plan.filter.evaluate(item)) else [item]
    response: dict[str, Any] = {"Items": found if plan.projection is None else [plan.projection.apply(i) for i in found]}
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        units = capacity.read_units(item_size(item) if item else 0, consistent=consistent)
        response["ConsumedCapacity"] = capacity.consumed(table.name, units, mode, read=True)
    return response


# --- writes -------------------------------------------------------------------


def _write(db: Database, action: transactions.WriteAction) -> items.WriteResult:
    """One write statement through the item API's engine calls; an INSERT's clash is DuplicateItemException."""
    on_failure = action.return_old_on_failure
    if action.kind == "Put":
        try:
            return items.put_item(db, action.table_name, action.item, action.condition)
        except ConditionalCheckFailedException:
            raise DuplicateItemException() from None
    if action.kind == "Update":
        return items.update_item(db, action.table_name, action.item, action.update, action.condition,
                                 return_old_on_failure=on_failure)
    return items.delete_item(db, action.table_name, action.item, action.condition, return_old_on_failure=on_failure)


def _returned(statement: Statement, result: items.WriteResult) -> Item | None:
    mode = statement.returning if isinstance(statement, (Update, Delete)) else None
    if mode == "ALL_OLD":
        return result.old
    if mode == "ALL_NEW":
        return result.new
    if mode == "UPDATED_OLD" and result.old is not None:
        return project_paths(result.old, result.updated_paths)
    if mode == "UPDATED_NEW" and result.new is not None:
        return project_paths(result.new, result.updated_paths)
    return None


@operation("ExecuteStatement")
def execute_statement(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _EXECUTE_RULES)
    statement = _parsed(payload)
    if isinstance(statement, Select):
        return _select(db, payload, statement)
    if isinstance(statement, Exists):
        raise ValidationException(EXISTS_ALONE)
    on_failure = payload.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    result = _write(db, translate.write_action(db, statement, return_old_on_failure=on_failure))
    returned = _returned(statement, result)
    response: dict[str, Any] = {"Items": [returned] if returned else []}
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        response["ConsumedCapacity"] = capacity.consumed(result.table.name, capacity.write_usage(result), mode, read=False)
    return response


# --- BatchExecuteStatement ----------------------------------------------------

#: Each error a batch reports per statement, by the code AWS's BatchStatementError uses.
_BATCH_CODES: tuple[tuple[type[CellstoreError], str], ...] = (
    (ConditionalCheckFailedException, "ConditionalCheckFailed"),
    (DuplicateItemException, "DuplicateItem"),
    (ResourceNotFoundException, "ResourceNotFound"),
    (ValidationException, "ValidationError"),
)


def _batch_error(error: CellstoreError) -> dict[str, Any]:
    code = next((name for kind, name in _BATCH_CODES if isinstance(error, kind)), None)
    if code is None:
        raise error
    body: dict[str, Any] = {"Code": code, "Message": error.message}
    if "Item" in error.fields:
        body["Item"] = error.fields["Item"]
    return body


def _batch_entry(db: Database, entry: dict[str, Any], read_units: dict[str, float],
                 write_results: list[items.WriteResult]) -> dict[str, Any]:
    _, table_name, _ = verb_and_table(entry["Statement"])
    response: dict[str, Any] = {} if table_name is None else {"TableName": table_name}
    try:
        statement = _parsed(entry)
        if isinstance(statement, Select):
            key, condition = translate.full_key(db, statement)
            consistent = bool(entry.get("ConsistentRead", False))
            table, item = items.get_item(db, statement.table, key, consistent=consistent)
            read_units[table.name] = read_units.get(table.name, 0.0) + capacity.read_units(
                item_size(item) if item else 0, consistent=consistent)
            if item is not None and (condition is None or condition.evaluate(item)):
                projection = statement.projection
                response["Item"] = item if projection is None else project_paths(item, list(projection))
            return response
        if isinstance(statement, Exists):
            raise ValidationException(EXISTS_ALONE)
        on_failure = entry.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        result = _write(db, translate.write_action(db, statement, return_old_on_failure=on_failure))
        write_results.append(result)
    except CellstoreError as error:
        response["Error"] = _batch_error(error)
    return response


@operation("BatchExecuteStatement")
def batch_execute_statement(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _BATCH_RULES)
    entries: list[dict[str, Any]] = payload["Statements"]
    for entry in entries:
        check_type("Statements", entry, "map")
        validate(entry, _BATCH_STATEMENT_RULES)
    verbs = {verb_and_table(entry["Statement"])[0] == "SELECT" for entry in entries}
    if len(verbs) > 1:
        raise ValidationException(MIXED_BATCH)
    read_units: dict[str, float] = {}
    write_results: list[items.WriteResult] = []
    responses = [_batch_entry(db, entry, read_units, write_results) for entry in entries]
    response: dict[str, Any] = {"Responses": responses}
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        if write_results:
            usages = capacity.writes_by_table(write_results)
            response["ConsumedCapacity"] = [capacity.consumed(n, u, mode, read=False) for n, u in usages.items()]
        else:
            response["ConsumedCapacity"] = [capacity.consumed(n, u, mode, read=True) for n, u in read_units.items()]
    return response


# --- ExecuteTransaction -------------------------------------------------------


def _duplicate_items(error: TransactionCanceledException, statements: list[Statement]) -> TransactionCanceledException:
    """The engine's cancellation with an INSERT's failed condition said as AWS says it: DuplicateItem."""
    reasons = list(error.fields.get("CancellationReasons", []))
    for position, statement in enumerate(statements):
        if isinstance(statement, Insert) and reasons[position].get("Code") == "ConditionalCheckFailed":
            reasons[position] = {"Code": "DuplicateItem", "Message": translate.DUPLICATE_ITEM}
    return TransactionCanceledException(
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(reason['Code'] for reason in reasons)}]",
        CancellationReasons=reasons,
    )


def _transact_reads(db: Database, payload: dict[str, Any], selects: list[Select]) -> dict[str, Any]:
    actions: list[transactions.GetAction] = []
    conditions = []
    for select in selects:
        key, condition = translate.full_key(db, select)
        actions.append(transactions.GetAction(select.table, key))
        conditions.append(condition)
    found = transactions.transact_get(db, actions)
    keys = [table.item_key(action.key) for (table, _), action in zip(found, actions, strict=True)]
    if len(set(keys)) != len(keys):
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    responses: list[dict[str, Any]] = []
    units: dict[str, float] = {}
    for select, condition, (table, item) in zip(selects, conditions, found, strict=True):
        units[table.name] = units.get(table.name, 0.0) + 2 * capacity.read_units(
            item_size(item) if item else 0, consistent=True)
        if item is None or (condition is not None and not condition.evaluate(item)):
            responses.append({})
        else:
            responses.append({"Item": item if select.projection is None else project_paths(item, list(select.projection))})
    response: dict[str, Any] = {"Responses": responses}
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        response["ConsumedCapacity"] = [capacity.consumed(n, u, mode, read=True) for n, u in units.items()]
    return response


@operation("ExecuteTransaction")
def execute_transaction(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _TRANSACTION_RULES)
    entries: list[dict[str, Any]] = payload["TransactStatements"]
    for entry in entries:
        check_type("TransactStatements", entry, "map")
        validate(entry, _TRANSACTION_STATEMENT_RULES)
    statements = [_parsed(entry) for entry in entries]
    selects = [statement for statement in statements if isinstance(statement, Select)]
    if selects and len(selects) != len(statements):
        raise ValidationException(MIXED_TRANSACTION)
    if selects:
        return _transact_reads(db, payload, selects)
    actions = [
        translate.write_action(db, statement,
                               return_old_on_failure=entry.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD")
        for statement, entry in zip(statements, entries, strict=True)
    ]
    if sum(item_size(action.item) for action in actions) > MAX_TRANSACTION_BYTES:  # as TransactWriteItems
        raise ValidationException("Transaction size has exceeded the maximum allowed size")
    token = payload.get("ClientRequestToken")
    digest = transactions.request_digest(payload) if token is not None else ""
    try:
        results = transactions.transact_write(db, actions, token=token, digest=digest)
    except TransactionCanceledException as error:
        raise _duplicate_items(error, statements) from None
    response: dict[str, Any] = {}
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        units = capacity.writes_by_table(results or [], (action.table_name for action in actions), times=2)
        for action in actions:
            if action.kind == "ConditionCheck":
                units[action.table_name].table += 2 * capacity.write_units(item_size(action.item))
        response["ConsumedCapacity"] = [capacity.consumed(n, u, mode, read=False) for n, u in units.items()]
    return response
