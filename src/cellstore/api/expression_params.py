"""Turn a request's expression parameters — or their legacy equivalents — into
parsed engine expressions, once per request.

Every item operation accepts either the expression form (ConditionExpression,
ProjectionExpression, ...) with ExpressionAttributeNames/Values, or the legacy
form (Expected, AttributesToGet, ...) that ORMs still send; never both.  This
module is the one place that enforces that rule and the "unused name/value"
rule, so each operation module just names its parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cellstore.api.validation import ONE_ERROR, check_type
from cellstore.engine import expressions
from cellstore.engine.expressions import ExpressionContext, legacy
from cellstore.engine.expressions.keycondition import KeyNames
from cellstore.engine.values import AttributeValue, Item, validate_item, validate_value
from cellstore.errors import INVALID_PARAMETERS, ValidationException

# Each expression parameter and the legacy parameters it replaces.
LEGACY_OF = {
    "ConditionExpression": ("Expected", "ConditionalOperator"),
    "ProjectionExpression": ("AttributesToGet",),
    "UpdateExpression": ("AttributeUpdates",),
    "FilterExpression": ("QueryFilter", "ScanFilter", "ConditionalOperator"),
    "KeyConditionExpression": ("KeyConditions",),
}


def attribute_values(payload: Mapping[str, Any]) -> dict[str, AttributeValue] | None:
    raw = payload.get("ExpressionAttributeValues")
    if raw is None:
        return None
    check_type("ExpressionAttributeValues", raw, "map")
    result: dict[str, AttributeValue] = {}
    for name, value in raw.items():
        try:
            result[name] = validate_value(value)
        except ValidationException as error:
            raise ValidationException(
                f"ExpressionAttributeValues contains invalid value: {error.message} for key {name}"
            ) from None
    return result


def attribute_names(payload: Mapping[str, Any]) -> dict[str, str] | None:
    raw = payload.get("ExpressionAttributeNames")
    if raw is None:
        return None
    check_type("ExpressionAttributeNames", raw, "map")
    for value in raw.values():
        check_type("ExpressionAttributeNames", value, "string")
    return dict(raw)


class RequestExpressions:
    """The expression context of one request (or of one table within a batch)."""

    def __init__(self, payload: Mapping[str, Any], expression_params: tuple[str, ...]) -> None:
        self.payload = payload
        used_expressions = [p for p in expression_params if payload.get(p) is not None]
        # Mixing is refused only within one pair (KeyConditions with
        # KeyConditionExpression, QueryFilter with FilterExpression, ...):
        # DynamoDB accepts KeyConditions next to a FilterExpression or
        # ProjectionExpression.
        clashes = [
            (p, legacy_name)
            for p in used_expressions
            for legacy_name in LEGACY_OF[p]
            if payload.get(legacy_name) is not None
        ]
        if clashes:
            # The message still names every legacy and expression parameter sent.
            used_legacy = list(dict.fromkeys(
                legacy_name
                for p in expression_params
                for legacy_name in LEGACY_OF[p]
                if payload.get(legacy_name) is not None
            ))
            raise ValidationException(
                "Can not use both expression and non-expression parameters in the same request: "
                f"Non-expression parameters: {{{', '.join(used_legacy)}}} "
                f"Expression parameters: {{{', '.join(used_expressions)}}}"
            )
        names = attribute_names(payload)
        values = attribute_values(payload)
        if not used_expressions:
            if names is not None:
                raise ValidationException(
                    "ExpressionAttributeNames can only be specified when using expressions"
                )
            if values is not None:
                # AWS names the expressions that could have used the values.
                absent = [p for p in expression_params if p != "ProjectionExpression"]
                suffix = f": {' and '.join(absent)} {'is' if len(absent) == 1 else 'are'} null" if absent else ""
                raise ValidationException(
                    "ExpressionAttributeValues can only be specified when using expressions" + suffix
                )
        for param in used_expressions:
            check_type(param, payload[param], "string")
        self.context = ExpressionContext(names, values)

    def text(self, param: str) -> str | None:
        value = self.payload.get(param)
        if value is not None and value == "":
            raise ValidationException(f"{ONE_ERROR}Invalid {param}: The expression can not be empty;")
        return value

    def condition(self) -> expressions.Condition | None:
        text = self.text("ConditionExpression")
        if text is not None:
            return expressions.parse_condition(text, self.context, "ConditionExpression")
        expected = self.payload.get("Expected")
        if expected is not None:
            check_type("Expected", expected, "map")
            return legacy.condition_from_expected(expected, self.payload.get("ConditionalOperator"))
        self.no_lone_conditional_operator()
        return None

    def no_lone_conditional_operator(self) -> None:
        """ConditionalOperator joins the conditions of Expected or a legacy filter; alone it is refused."""
        if self.payload.get("ConditionalOperator") is not None:
            raise ValidationException("ConditionalOperator cannot be used without Filter or Expected")

    def filter(self, legacy_param: str) -> expressions.Condition | None:
        text = self.text("FilterExpression")
        if text is not None:
            return expressions.parse_condition(text, self.context, "FilterExpression")
        conditions = self.payload.get(legacy_param)
        if conditions is not None:
            check_type(legacy_param, conditions, "map")
            return legacy.condition_from_filter(
                conditions, self.payload.get("ConditionalOperator"), legacy_param
            )
        self.no_lone_conditional_operator()
        return None

    def projection(self) -> expressions.Projection | None:
        text = self.text("ProjectionExpression")
        if text is not None:
            return expressions.parse_projection(text, self.context)
        names = self.payload.get("AttributesToGet")
        if names is not None:
            check_type("AttributesToGet", names, "list")
            for name in names:  # before set(): a list or map element is unhashable
                check_type("AttributesToGet", name, "string")
            if len(set(names)) != len(names):
                raise ValidationException(
                    INVALID_PARAMETERS + f"Duplicate value in attribute name: {names[0]}"
                )
            return legacy.projection_from_attributes(names)
        return None

    def update(self) -> expressions.Update | None:
        text = self.text("UpdateExpression")
        if text is not None:
            return expressions.parse_update(text, self.context)
        updates = self.payload.get("AttributeUpdates")
        if updates is not None:
            check_type("AttributeUpdates", updates, "map")
            return legacy.update_from_attribute_updates(updates)
        return None

    def key_condition(self, hash_key: KeyNames, range_key: KeyNames | None) -> expressions.KeyCondition:
        text = self.text("KeyConditionExpression")
        if text is not None:
            return expressions.parse_key_condition(text, self.context, hash_key, range_key)
        conditions = self.payload.get("KeyConditions")
        if conditions is not None:
            check_type("KeyConditions", conditions, "map")
            return legacy.key_condition_from_key_conditions(conditions, hash_key, range_key)
        raise ValidationException("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")

    def finish(self) -> None:
        """Call once every expression is parsed: unused names or values are errors."""
        try:
            self.context.check_unused()
        except ValidationException as error:
            # AWS words these as a one-error validation message (observed).
            raise ValidationException(ONE_ERROR + error.message) from None


def item_param(payload: Mapping[str, Any], name: str) -> Item:
    raw = payload.get(name)
    if raw is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{name[:1].lower() + name[1:]}' "
            "failed to satisfy constraint: Member must not be null"
        )
    return validate_item(raw)
