"""BatchGetItem and BatchWriteItem: per-table validation, one engine call each."""

from __future__ import annotations

from typing import Any

from cellstore.api.expression_params import RequestExpressions
from cellstore.api.items import collection_metrics
from cellstore.api.registry import operation
from cellstore.api.validation import (
    ONE_ERROR,
    RETURN_CONSUMED_CAPACITY,
    RETURN_ITEM_COLLECTION_METRICS,
    Param,
    check_type,
    constraint_errors,
    is_valid_table_name,
    raise_if_errors,
    table_name_rule,
    validate,
)
from cellstore.engine import batch, capacity
from cellstore.engine.database import Database
from cellstore.engine.expressions import Projection
from cellstore.engine.tables import Table
from cellstore.engine.values import Item, validate_item
from cellstore.errors import ValidationException

MAX_GET_KEYS = 100
MAX_WRITE_REQUESTS = 25

_GET_RULES = {
    "RequestItems": Param("map", required=True, min_length=1, max_length=100),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
}
_WRITE_RULES = {
    "RequestItems": Param("map", required=True, min_length=1, max_length=25),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ReturnItemCollectionMetrics": RETURN_ITEM_COLLECTION_METRICS,
}
_TABLE_NAME = table_name_rule()
_KEYS = Param("list", required=True, min_length=1, max_length=100)


def _check_table_names(request_items: dict[str, Any]) -> None:
    errors: list[str] = []
    for name in request_items:
        if not is_valid_table_name(name):
            errors.extend(constraint_errors("requestItems.member.key", name, _TABLE_NAME))
    raise_if_errors(errors)


def _no_duplicates(tables: dict[str, Table], keys_by_table: dict[str, list[Item]]) -> None:
    for name, keys in keys_by_table.items():
        encoded = [tables[name].item_key(key) for key in keys]
        if len(set(encoded)) != len(encoded):
            raise ValidationException("Provided list of item keys contains duplicates")


def _require_request_items(payload: dict[str, Any], operation_name: str) -> None:
    """An empty RequestItems map: AWS's observed message, not the length constraint."""
    if isinstance(payload, dict) and payload.get("RequestItems") == {}:
        raise ValidationException(f"The requestItems parameter is required for {operation_name}")


@operation("BatchGetItem")
def batch_get_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    _require_request_items(payload, "BatchGetItem")
    validate(payload, _GET_RULES)
    request_items: dict[str, Any] = payload["RequestItems"]
    _check_table_names(request_items)
    keys_by_table: dict[str, list[Item]] = {}
    projections: dict[str, Projection | None] = {}
    total = 0
    for name, spec in request_items.items():
        check_type("RequestItems", spec, "map")
        validate(spec, {"ConsistentRead": Param("boolean")})
        keys = spec.get("Keys")
        if keys is not None:
            check_type("Keys", keys, "list")
        # AWS's member path here keeps the request's case: RequestItems.<table>.member.Keys.
        raise_if_errors(constraint_errors(f"RequestItems.{name}.member.Keys", keys, _KEYS))
        total += len(spec["Keys"])
        if total > MAX_GET_KEYS:
            raise ValidationException("Too many items requested for the BatchGetItem call")
        exprs = RequestExpressions(spec, ("ProjectionExpression",))
        projections[name] = exprs.projection()
        exprs.finish()
        keys_by_table[name] = [validate_item(key) for key in spec["Keys"]]
    _no_duplicates(batch.check_batch_keys(db, keys_by_table), keys_by_table)
    consistent = any(spec.get("ConsistentRead") for spec in request_items.values())
    result = batch.batch_get(db, keys_by_table, consistent=consistent)

    responses = {
        name: [item if projections[name] is None else projections[name].apply(item) for item in found]  # type: ignore[union-attr]
        for name, found in result.found.items()
    }
    unprocessed = {
        name: {**{k: v for k, v in request_items[name].items() if k != "Keys"}, "Keys": keys}
        for name, keys in result.unprocessed.items()
    }
    response: dict[str, Any] = {"Responses": responses, "UnprocessedKeys": unprocessed}
    mode = payload.get("ReturnConsumedCapacity")
    consumed = [
        capacity.consumed(
            name,
            capacity.items_read_units(result.sizes[name], consistent=bool(request_items[name].get("ConsistentRead"))),
            mode,
            read=True,
        )
        for name in result.found
    ]
    if mode not in (None, "NONE"):
        response["ConsumedCapacity"] = consumed
    return response


def _write_request(name: str, entry: Any) -> batch.WriteRequest:
    check_type("RequestItems", entry, "map")
    put, delete = entry.get("PutRequest"), entry.get("DeleteRequest")
    if (put is None) == (delete is None):
        # A WriteRequest is a union: exactly one of its two members.
        raise ValidationException(
            f"Invalid request in requestItems.{name}: a WriteRequest must contain exactly one of "
            "PutRequest and DeleteRequest"
        )
    if put is not None:
        check_type("PutRequest", put, "map")
        if put.get("Item") is None:
            raise ValidationException(
                f"1 validation error detected: Value null at 'requestItems.{name}.member.putRequest.item' "
                "failed to satisfy constraint: Member must not be null"
            )
        return batch.WriteRequest(name, put=validate_item(put["Item"]))
    check_type("DeleteRequest", delete, "map")
    if delete.get("Key") is None:
        raise ValidationException(
            f"1 validation error detected: Value null at 'requestItems.{name}.member.deleteRequest.key' "
            "failed to satisfy constraint: Member must not be null"
        )
    return batch.WriteRequest(name, delete_key=validate_item(delete["Key"]))


@operation("BatchWriteItem")
def batch_write_item(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    _require_request_items(payload, "BatchWriteItem")
    validate(payload, _WRITE_RULES)
    request_items: dict[str, Any] = payload["RequestItems"]
    _check_table_names(request_items)
    requests: list[batch.WriteRequest] = []
    for name, entries in request_items.items():
        check_type("RequestItems", entries, "list")
        if not entries:
            # AWS checks each map value against both bounds and lists them so.
            raise ValidationException(
                f"{ONE_ERROR}Value '{{{name}=[]}}' at 'requestItems' failed to satisfy constraint: "
                "Map value must satisfy constraint: [Member must have length less than or equal to 25, "
                "Member must have length greater than or equal to 1]"
            )
        errors = constraint_errors(
            f"requestItems.{name}.member", entries, Param("list", min_length=1, max_length=25)
        )
        raise_if_errors(errors)
        requests.extend(_write_request(name, entry) for entry in entries)
    if len(requests) > MAX_WRITE_REQUESTS:
        raise ValidationException("Too many items requested for the BatchWriteItem call")
    keys_by_table: dict[str, list[Item]] = {}
    tables = batch.check_batch_keys(db, {name: [] for name in request_items})
    for request in requests:
        table = tables[request.table_name]
        if request.put is not None:
            table.check_item_keys(request.put)
            keys_by_table.setdefault(request.table_name, []).append(table.key_of(request.put))
        else:
            # Checked here, before the duplicate check encodes it: an empty or
            # partial Key has no encoding (it was a KeyError, a 500).
            table.check_key(request.delete_key)  # type: ignore[arg-type]
            keys_by_table.setdefault(request.table_name, []).append(request.delete_key)  # type: ignore[arg-type]
    _no_duplicates(tables, keys_by_table)
    results = batch.batch_write(db, requests)
    response: dict[str, Any] = {"UnprocessedItems": {}}
    metrics: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        entry = collection_metrics(payload, result)
        if entry is not None:
            metrics.setdefault(result.table.name, []).append(entry)
    if metrics:
        response["ItemCollectionMetrics"] = metrics
    mode = payload.get("ReturnConsumedCapacity")
    if mode not in (None, "NONE"):
        usages = capacity.writes_by_table(results, request_items)
        response["ConsumedCapacity"] = [
            capacity.consumed(name, usage, mode, read=False) for name, usage in usages.items()
        ]
    return response
