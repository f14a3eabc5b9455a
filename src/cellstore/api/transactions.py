"""TransactWriteItems and TransactGetItems: per-action translation, one engine call."""

from __future__ import annotations

from typing import Any, TypeVar

from cellstore.api.expression_params import RequestExpressions, item_param
from cellstore.api.items import collection_metrics
from cellstore.api.registry import operation
from cellstore.api.validation import (
    RETURN_CONSUMED_CAPACITY,
    RETURN_ITEM_COLLECTION_METRICS,
    Param,
    check_type,
    table_name_rule,
    validate,
)
from cellstore.engine import capacity, catalog, transactions
from cellstore.engine.database import Database
from cellstore.engine.tables import Table
from cellstore.engine.values import Item, item_size
from cellstore.errors import TransactionCanceledException, ValidationException

MAX_TRANSACTION_BYTES = 4 * 1024 * 1024

_WRITE_RULES = {
    "TransactItems": Param("list", required=True, min_length=1, max_length=100),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "ClientRequestToken": Param("string", min_length=1, max_length=36),
}
_GET_RULES = {
    "TransactItems": Param("list", required=True, min_length=1, max_length=100),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}
_ON_FAILURE = Param("string", enum=("ALL_OLD", "NONE"))
_ACTION_RULES: dict[transactions.WriteKind, dict[str, Param]] = {
    "Put": {"TableName": table_name_rule(), "Item": Param("map", required=True), "ConditionExpression": Param("string"),
            "ReturnValuesOnConditionCheckFailure": _ON_FAILURE},
    "Delete": {"TableName": table_name_rule(), "Key": Param("map", required=True), "ConditionExpression": Param("string"),
               "ReturnValuesOnConditionCheckFailure": _ON_FAILURE},
    "Update": {"TableName": table_name_rule(), "Key": Param("map", required=True),
               "UpdateExpression": Param("string", required=True), "ConditionExpression": Param("string"),
               "ReturnValuesOnConditionCheckFailure": _ON_FAILURE},
    "ConditionCheck": {"TableName": table_name_rule(), "Key": Param("map", required=True),
                       "ConditionExpression": Param("string", required=True),
                       "ReturnValuesOnConditionCheckFailure": _ON_FAILURE},
}


_WRITE_KINDS: tuple[transactions.WriteKind, ...] = ("ConditionCheck", "Put", "Delete", "Update")
_Member = TypeVar("_Member", bound=str)


def _only_member(entry: Any, members: tuple[_Member, ...]) -> tuple[_Member, dict[str, Any]]:
    check_type("TransactItems", entry, "map")
    present = [name for name in members if entry.get(name) is not None]
    if len(present) != 1:
        raise ValidationException(
            "TransactItems can only contain one of Check, Put, Update or Delete"
            if len(members) > 1
            else "1 validation error detected: Value null at 'transactItems.member.get' failed to satisfy constraint: Member must not be null"
        )
    body = entry[present[0]]
    check_type(present[0], body, "map")
    return present[0], body


def _write_action(kind: transactions.WriteKind, body: dict[str, Any]) -> transactions.WriteAction:
    validate(body, _ACTION_RULES[kind])
    params = ("ConditionExpression", "UpdateExpression") if kind == "Update" else ("ConditionExpression",)
    exprs = RequestExpressions(body, params)
    update = exprs.update() if kind == "Update" else None
    condition = exprs.condition()
    exprs.finish()
    return transactions.WriteAction(
        kind=kind,
        table_name=body["TableName"],
        item=item_param(body, "Item" if kind == "Put" else "Key"),
        condition=condition,
        update=update,
        return_old_on_failure=body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD",
    )


def _check_keys(db: Database, keys: list[tuple[str, Item | None]]) -> list[Table]:
    """Each action's key against its table's schema, before the engine sees it.

    DynamoDB answers a key of the wrong shape or type inside a transaction
    with a TransactionCanceledException whose reason for that action is
    ValidationError (the others "None"), not with a ValidationException.
    ``keys`` holds (table name, key) per action in request order; a None key
    (a Put: its item's key types stay a ValidationException, checked by the
    engine) is not checked here.
    """
    tables: dict[str, Table] = {}
    reasons: list[dict[str, str]] = []
    for name, key in keys:
        if name not in tables:
            tables[name] = catalog.read_table(db, name)
        try:
            if key is not None:
                tables[name].check_key(key)
        except ValidationException as error:
            reasons.append({"Code": "ValidationError", "Message": error.message})
        else:
            reasons.append({"Code": "None"})
    if any(reason["Code"] != "None" for reason in reasons):
        raise TransactionCanceledException(
            "Transaction cancelled, please refer cancellation reasons for specific reasons "
            f"[{', '.join(reason['Code'] for reason in reasons)}]",
            CancellationReasons=reasons,
        )
    return [tables[name] for name, _ in keys]


def _consumed(
    payload: dict[str, Any], units: dict[str, float] | dict[str, capacity.Usage], *, read: bool
) -> list[dict[str, Any]] | None:
    mode = payload.get("ReturnConsumedCapacity")
    if mode in (None, "NONE"):
        return None
    return [c for name, total in units.items() if (c := capacity.consumed(name, total, mode, read=read))]


@operation("TransactWriteItems")
def transact_write_items(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _WRITE_RULES)
    actions = [
        _write_action(*_only_member(entry, _WRITE_KINDS))
        for entry in payload["TransactItems"]
    ]
    _check_keys(db, [(action.table_name, None if action.kind == "Put" else action.item) for action in actions])
    if sum(item_size(action.item) for action in actions) > MAX_TRANSACTION_BYTES:
        raise ValidationException("Transaction size has exceeded the maximum allowed size")
    token = payload.get("ClientRequestToken")
    digest = transactions.request_digest(payload) if token is not None else ""
    results = transactions.transact_write(db, actions, token=token, digest=digest)
    response: dict[str, Any] = {}
    # Transactional writes cost two write units per KB (indexes included), as in DynamoDB.
    units = capacity.writes_by_table(results or [], (action.table_name for action in actions), times=2)
    for action in actions:
        if action.kind == "ConditionCheck":
            units[action.table_name].table += 2 * capacity.write_units(item_size(action.item))
    consumed = _consumed(payload, units, read=False)
    if consumed is not None:
        response["ConsumedCapacity"] = consumed
    metrics: dict[str, list[dict[str, Any]]] = {}
    for result in results or []:
        entry = collection_metrics(payload, result)
        if entry is not None:
            metrics.setdefault(result.table.name, []).append(entry)
    if metrics:
        response["ItemCollectionMetrics"] = metrics
    return response


@operation("TransactGetItems")
def transact_get_items(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _GET_RULES)
    actions = []
    for entry in payload["TransactItems"]:
        _, body = _only_member(entry, ("Get",))
        validate(body, {"TableName": table_name_rule(), "Key": Param("map", required=True)})
        exprs = RequestExpressions(body, ("ProjectionExpression",))
        projection = exprs.projection()
        exprs.finish()
        actions.append(transactions.GetAction(body["TableName"], item_param(body, "Key"), projection))
    tables = _check_keys(db, [(action.table_name, action.key) for action in actions])
    encoded = [table.item_key(action.key) for table, action in zip(tables, actions, strict=True)]
    if len(set(encoded)) != len(encoded):
        # Two Gets on one item: refused like two writes on one item (observed).
        raise ValidationException("Transaction request cannot include multiple operations on one item")
    found = transactions.transact_get(db, actions)
    responses: list[dict[str, Any]] = []
    units: dict[str, float] = {}
    for action, (table, item) in zip(actions, found, strict=True):
        units[table.name] = units.get(table.name, 0.0) + 2 * capacity.read_units(
            item_size(item) if item else 0, consistent=True
        )
        if item is None:
            responses.append({})
        else:
            responses.append({"Item": item if action.projection is None else action.projection.apply(item)})
    response: dict[str, Any] = {"Responses": responses}
    consumed = _consumed(payload, units, read=True)
    if consumed is not None:
        response["ConsumedCapacity"] = consumed
    return response
