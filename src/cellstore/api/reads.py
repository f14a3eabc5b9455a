"""Query and Scan: validate, translate expressions, page through the engine.

With ``IndexName`` the request is checked against the index as DynamoDB does
(``_IndexRead``): no consistent reads on a global index, ``Select`` defaulting
to ALL_PROJECTED_ATTRIBUTES, and a global index answering only what it
projects.  A local index asked for more reads the table for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cellstore.api.expression_params import RequestExpressions
from cellstore.api.registry import operation
from cellstore.api.validation import ONE_ERROR, RETURN_CONSUMED_CAPACITY, Param, table_name_rule, validate
from cellstore.engine import capacity, catalog, indexes, reads
from cellstore.engine.database import Database
from cellstore.engine.expressions import Condition, Projection
from cellstore.engine.tables import Table
from cellstore.engine.values import Item, validate_item
from cellstore.errors import INVALID_PARAMETERS, ValidationException

_COMMON_RULES = {
    "TableName": table_name_rule(),
    "IndexName": Param("string", min_length=3, max_length=255, pattern="[a-zA-Z0-9_.-]+"),
    # AWS lists Select's values in this order (observed), not the model's.
    "Select": Param("string", enum=("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES")),
    # AWS's observed answer names Query/Scan's Limit as 'Limit', without its value.
    "Limit": Param("integer", min_value=1, path="Limit", echo_value=False),
    "ConsistentRead": Param("boolean"),
    "ExclusiveStartKey": Param("map"),
    "ReturnConsumedCapacity": RETURN_CONSUMED_CAPACITY,
    "ConditionalOperator": Param("string", enum=("AND", "OR")),
    "AttributesToGet": Param("list", min_length=1),
    "ProjectionExpression": Param("string"),
    "FilterExpression": Param("string"),
    "ExpressionAttributeNames": Param("map"),
    "ExpressionAttributeValues": Param("map"),
}
_QUERY_RULES = {
    **_COMMON_RULES,
    "ScanIndexForward": Param("boolean"),
    "KeyConditions": Param("map"),
    "QueryFilter": Param("map"),
    "KeyConditionExpression": Param("string"),
}
_SCAN_RULES = {
    **_COMMON_RULES,
    "ScanFilter": Param("map"),
    "Segment": Param("integer", min_value=0, max_value=999999),
    "TotalSegments": Param("integer", min_value=1, max_value=1000000),
}


def _projection_for_select(payload: dict[str, Any], projection: Projection | None) -> str:
    """Resolve Select against the projection parameters, as DynamoDB does."""
    projection_param = "ProjectionExpression" if payload.get("ProjectionExpression") is not None else "AttributesToGet"
    select: str | None = payload.get("Select")
    if select is None:
        return "SPECIFIC_ATTRIBUTES" if projection is not None else "ALL_ATTRIBUTES"
    if select == "ALL_PROJECTED_ATTRIBUTES" and payload.get("IndexName") is None:
        raise ValidationException(
            ONE_ERROR + "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"
        )
    if select == "COUNT" and projection is not None:
        raise ValidationException(f"Cannot specify the {projection_param} when choosing to get only the COUNT")
    if select in ("ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES") and projection is not None:
        raise ValidationException(f"Cannot specify the {projection_param} when choosing to get {select}")
    if select == "SPECIFIC_ATTRIBUTES" and projection is None:
        raise ValidationException(
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"
        )
    return select


@dataclass(frozen=True, slots=True)
class _IndexRead:
    """How a read names its index: the table, the index (or None), Select, and whether to fetch items."""

    table: Table
    index: indexes.Index | None
    select: str
    fetch_base: bool = False

    @property
    def name(self) -> str | None:
        return None if self.index is None else self.index.name


def _check_index(
    db: Database, payload: dict[str, Any], select: str, projection: Projection | None, filter_: Condition | None
) -> _IndexRead:
    """Resolve IndexName against the table and check the read's Select/projection against it."""
    table = catalog.read_table(db, payload["TableName"])  # a missing table is reported first
    name = payload.get("IndexName")
    if name is None:
        return _IndexRead(table, None, select)
    index = indexes.find_index(table, name)
    if payload.get("Select") is None and projection is None:
        select = "ALL_PROJECTED_ATTRIBUTES"
    if index.is_global and payload.get("ConsistentRead"):
        raise ValidationException("Consistent reads are not supported on global secondary indexes")
    if index.projection_type == "ALL":
        return _IndexRead(table, index, select)
    missing = [] if projection is None else sorted(n for n in projection.top_level_names() if not index.projects(table, n))
    if index.is_global:
        if select == "ALL_ATTRIBUTES":
            raise ValidationException(
                f"{INVALID_PARAMETERS}Select type ALL_ATTRIBUTES is not supported for "
                f"global secondary index {name} because its projection type is not ALL"
            )
        if missing:
            raise ValidationException(
                f"{INVALID_PARAMETERS}Global secondary index {name} does not project "
                f"[{', '.join(missing)}]"
            )
        return _IndexRead(table, index, select)
    # A local index fetches what it does not project from the table (filters included).
    fetch = select == "ALL_ATTRIBUTES" or bool(missing) or filter_ is not None
    return _IndexRead(table, index, select, fetch)


def _exclusive_start(payload: dict[str, Any]) -> Item | None:
    raw = payload.get("ExclusiveStartKey")
    return None if raw is None else validate_item(raw)


def _respond(payload: dict[str, Any], page: reads.Page, select: str, projection: Projection | None) -> dict[str, Any]:
    response: dict[str, Any] = {"Count": len(page.items), "ScannedCount": page.scanned}
    mode = payload.get("ReturnConsumedCapacity")
    consumed = None
    if capacity.wanted(mode):  # sizing every item read is only needed for this
        units = capacity.read_units(page.bytes_read, consistent=bool(payload.get("ConsistentRead", False)))
        usage = capacity.Usage(units) if page.index is None else capacity.index_read(page.index, units)
        consumed = capacity.consumed(page.table.name, usage, mode, read=True)
    if select != "COUNT":
        found = page.items
        if page.index is not None and select == "ALL_PROJECTED_ATTRIBUTES":
            found = [indexes.project(page.table, page.index, item) for item in found]
        response["Items"] = found if projection is None else [projection.apply(i) for i in found]
    if page.last_key is not None:
        response["LastEvaluatedKey"] = page.last_key
    if consumed is not None:
        response["ConsumedCapacity"] = consumed
    return response


def _check_filter_keys(payload: dict[str, Any], filter_: Condition | None, keyed: Table | indexes.Index) -> None:
    """A Query's filter may not name a key attribute of the table or index it queries.

    Key attributes belong in the key condition; DynamoDB refuses them in
    FilterExpression and QueryFilter alike, naming the first in key-schema
    order (partition attributes, then sort attributes).
    """
    if filter_ is None:
        return
    names = filter_.top_level_names()
    for key in (*keyed.hash_names, *keyed.range_names):
        if key in names:
            what = "Filter Expression" if payload.get("FilterExpression") is not None else "QueryFilter"
            raise ValidationException(
                f"{what} can only contain non-primary key attributes: Primary key attribute: {key}"
            )


@operation("Query")
def query(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _QUERY_RULES)
    exprs = RequestExpressions(payload, ("KeyConditionExpression", "FilterExpression", "ProjectionExpression"))
    projection = exprs.projection()
    select = _projection_for_select(payload, projection)
    filter_ = exprs.filter("QueryFilter")
    plan = _check_index(db, payload, select, projection, filter_)
    keyed: Table | indexes.Index = plan.table if plan.index is None else plan.index
    key_condition = exprs.key_condition(keyed.hash_names, keyed.range_names)
    _check_filter_keys(payload, filter_, keyed)
    exprs.finish()
    page = reads.query(
        db,
        payload["TableName"],
        key_condition,
        filter_=filter_,
        forward=payload.get("ScanIndexForward", True),
        limit=payload.get("Limit"),
        exclusive_start=_exclusive_start(payload),
        index_name=plan.name,
        fetch_base=plan.fetch_base,
        consistent=bool(payload.get("ConsistentRead", False)),  # a replica may serve it otherwise
    )
    return _respond(payload, page, plan.select, projection)


@operation("Scan")
def scan(db: Database, payload: dict[str, Any]) -> dict[str, Any]:
    validate(payload, _SCAN_RULES)
    segment, total = payload.get("Segment"), payload.get("TotalSegments")
    if segment is not None and total is None:
        raise ValidationException(
            "The TotalSegments parameter is required but was not present in the request when Segment parameter is present"
        )
    if total is not None and segment is None:
        raise ValidationException(
            "The Segment parameter is required but was not present in the request when parameter TotalSegments is present"
        )
    if segment is not None and total is not None and segment >= total:
        raise ValidationException(
            "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
            f"Segment: {segment} is not less than TotalSegments: {total}"
        )
    exprs = RequestExpressions(payload, ("FilterExpression", "ProjectionExpression"))
    projection = exprs.projection()
    select = _projection_for_select(payload, projection)
    filter_ = exprs.filter("ScanFilter")
    exprs.finish()
    plan = _check_index(db, payload, select, projection, filter_)
    page = reads.scan(
        db,
        payload["TableName"],
        filter_=filter_,
        limit=payload.get("Limit"),
        exclusive_start=_exclusive_start(payload),
        segment=segment,
        total_segments=total,
        index_name=plan.name,
        fetch_base=plan.fetch_base,
        consistent=bool(payload.get("ConsistentRead", False)),  # a replica may serve it otherwise
    )
    return _respond(payload, page, plan.select, projection)
