"""The single expression pipeline: tokens → parser → AST → resolution → evaluate/apply.

Every expression parameter of the DynamoDB API (ConditionExpression,
FilterExpression, KeyConditionExpression, UpdateExpression,
ProjectionExpression) and every legacy parameter (Expected, QueryFilter,
ScanFilter, AttributeUpdates, AttributesToGet, KeyConditions) becomes one of
four objects here — Condition, Update, Projection, KeyCondition — so the engine
has exactly one way to evaluate each.  Parsing happens once per request (and
the text-only part once per distinct text, see ``parser``); after that only
update application can fail, and only for data-dependent reasons.
"""

from cellstore.engine.expressions.condition import Condition, parse_condition
from cellstore.engine.expressions.context import ExpressionContext
from cellstore.engine.expressions.keycondition import KeyCondition, parse_key_condition
from cellstore.engine.expressions.legacy import (
    condition_from_expected,
    condition_from_filter,
    key_condition_from_key_conditions,
    mixed_parameters_error,
    projection_from_attributes,
    update_from_attribute_updates,
)
from cellstore.engine.expressions.path import Path, project_paths
from cellstore.engine.expressions.projection import Projection, parse_projection
from cellstore.engine.expressions.update import Update, parse_update

__all__ = [
    "Condition",
    "ExpressionContext",
    "KeyCondition",
    "Path",
    "Projection",
    "Update",
    "condition_from_expected",
    "condition_from_filter",
    "key_condition_from_key_conditions",
    "mixed_parameters_error",
    "parse_condition",
    "parse_key_condition",
    "parse_projection",
    "parse_update",
    "project_paths",
    "projection_from_attributes",
    "update_from_attribute_updates",
]
