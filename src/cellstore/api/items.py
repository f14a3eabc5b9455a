"""PutItem, GetItem, UpdateItem and DeleteItem: validate, translate, call the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellstore.api.expression_params import RequestExpressions, item_param
from cellstore.api.registry import operation
from cellstore.api.validation import (
    RETURN_CONSUMED_CAPACITY,
    RETURN_ITEM_COLLECTION_METRICS,
    Param,
    table_name_rule,
    validate,
)
from cellstore.engine import capacity, indexes, items
from cellstore.engine.database import Database
from cellstore.engine.expressions import project_paths
from cellstore.engine.values import item_size
from cellstore.errors import ValidationException

_RETURN_VALUES = Param("string", enum=("NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"))
_ON_FAILURE = Param("string", enum=("ALL_OLD", "NONE"))
_CONDITIONAL_OPERATOR = Param("string", enum=("AND", "OR"))

_WRITE_RULES = {
    "TableName": table_name_rule(),
    "ReturnValues": _RETURN_VALUES,
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
    "ReturnValuesOnConditionCheckFailure": _ON_FAILURE,
    "ConditionalOperator": _CONDITIONAL_OPERATOR,
    "Expected": Param("map"),
    "ExpressionAttributeNames": Param("map"),
    "ExpressionAttributeValues": Param("map"),
    "ConditionExpression": Param("string"),
}
_PUT_RULES = {**_WRITE_RULES, "Item": Param("map", required=True)}
_KEYED_WRITE_RULES = {**_WRITE_RULES, "Key": Param("map", required=True)}
_UPDATE_RULES = {
    **_KEYED_WRITE_RULES,
    "UpdateExpression": Param("string"),
    "AttributeUpdates": Param("map"),
}
_GET_RULES = {
    "TableName": table_name_rule(),
    "Key": Param("map", required=True),
    "ConsistentRead": Param("boolean"),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ProjectionExpression": Param("string"),
    "AttributesToGet": Param("list", min_length=1),
    "ExpressionAttributeNames": Param("map"),
}


def _only_old_or_none(payload: dict[str, Any]) -> None:
    if payload.get("ReturnValues", "NONE") not in ("NONE", "ALL_OLD"):
        raise ValidationException("ReturnValues can only be ALL_OLD or NONE")


def _write_response(payload: dict[str, Any], result: items.WriteResult, attributes: Any) -> dict[str, Any]:
    response: dict[str, Any] = {}
    if attributes:
        response["Attributes"] = attributes
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        response["ConsumedCapacity"] = capacity.consumed(result.table.name, capacity.write_usage(result), mode, read=False)
    metrics = collection_metrics(payload, result)
    if metrics is not None:
        response["ItemCollectionMetrics"] = metrics
    return response


def collection_metrics(payload: dict[str, Any], result: items.WriteResult) -> dict[str, Any] | None:
    """ItemCollectionMetrics of a write to a table with local indexes, when asked for."""
    item = result.new if result.new is not None else result.old
    if payload.get("ReturnItemCollectionMetrics") != "SIZE" or result.collection_size is None or item is None:
        return None
    return indexes.collection_metrics(result.table, item, result.collection_size)


def _fails_with_old(payload: dict[str, Any]) -> bool:
    return payload.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"


def _put_or_delete(
    db: Database,
    payload: dict[str, Any],
    rules: dict[str, Param],
    member: str,
    write: Callable[..., items.WriteResult],
) -> dict[str, Any]:
    """PutItem and DeleteItem differ only in their item member and engine call."""
    validate(payload, rules)
    _only_old_or_none(payload)
    item = item_param(payload, member)
    exprs = RequestExpressions(payload, ("ConditionExpression",))
    condition = exprs.condition()
    exprs.finish()
    result = write(db, payload["TableName"], item, condition, return_old_on_failure=_fails_with_old(payload))
    old = result.old if payload.get("ReturnValues") == "ALL_OLD" else None
    return _write_response(payload, result, old)


@operation("PutItem")
def put_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    return _put_or_delete(db, payload, _PUT_RULES, "Item", items.put_item)


@operation("DeleteItem")
def delete_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    return _put_or_delete(db, payload, _KEYED_WRITE_RULES, "Key", items.delete_item)


@operation("UpdateItem")
def update_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _UPDATE_RULES)
    key = item_param(payload, "Key")
    exprs = RequestExpressions(payload, ("UpdateExpression", "ConditionExpression"))
    update = exprs.update()
    condition = exprs.condition()
    exprs.finish()
    result = items.update_item(
        db, payload["TableName"], key, update, condition, return_old_on_failure=_fails_with_old(payload)
    )
    mode = payload.get("ReturnValues", "NONE")
    attributes: Any = None
    if mode == "ALL_OLD":
        attributes = result.old
    elif mode == "ALL_NEW":
        attributes = result.new
    elif mode == "UPDATED_OLD" and result.old is not None:
        attributes = project_paths(result.old, result.updated_paths)
    elif mode == "UPDATED_NEW" and result.new is not None:
        attributes = project_paths(result.new, result.updated_paths)
    return _write_response(payload, result, attributes)


@operation("GetItem")
def get_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _GET_RULES)
    key = item_param(payload, "Key")
    exprs = RequestExpressions(payload, ("ProjectionExpression",))
    projection = exprs.projection()
    exprs.finish()
    table, item = items.get_item(db, payload["TableName"], key, consistent=bool(payload.get("ConsistentRead", False)))
    response: dict[str, Any] = {}
    if item is not None:
        response["Item"] = item if projection is None else projection.apply(item)
    mode = payload.get("ReturnConsumedCapacity")
    if capacity.wanted(mode):
        consistent = bool(payload.get("ConsistentRead", False))
        units = capacity.read_units(item_size(item) if item else 0, consistent=consistent)
        response["ConsumedCapacity"] = capacity.consumed(table.name, units, mode, read=True)
    return response
