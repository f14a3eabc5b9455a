"""Builders for DynamoDB's expression error messages, so their wording lives in one place.

Every parse-time message has the shape ``Invalid <Kind>: <detail>`` where
``<Kind>`` is the request parameter the client sent (ConditionExpression,
FilterExpression, ...).  Apply-time update errors and the unused/empty
ExpressionAttribute* errors have no prefix; they are spelled out where raised.
"""

from __future__ import annotations

from cellstore.engine.values import AttributeValue
from cellstore.errors import ValidationException


def invalid(kind: str, detail: str) -> ValidationException:
    return ValidationException(f"Invalid {kind}: {detail}")


def render_value(value: AttributeValue) -> str:
    """An AttributeValue as DynamoDB prints it in messages: ``{N:5}``, ``{S:abc}``."""
    kind, raw = next(iter(value.items()))
    if kind in ("SS", "NS", "BS"):
        return "{" + kind + ":[" + ", ".join(raw) + "]}"
    if kind == "M":
        inner = ", ".join(f"{k}={render_value(v)}" for k, v in raw.items())
        return "{M:{" + inner + "}}"
    if kind == "L":
        return "{L:[" + ", ".join(render_value(v) for v in raw) + "]}"
    if kind == "BOOL":
        return "{BOOL:" + ("true" if raw else "false") + "}"
    if kind == "NULL":
        return "{NULL:true}"
    return "{" + kind + ":" + str(raw) + "}"


def operand_type(kind: str, function: str, type_name: str) -> ValidationException:
    return invalid(
        kind,
        "Incorrect operand type for operator or function; "
        f"operator or function: {function}, operand type: {type_name}",
    )


def operand_count(kind: str, function: str, count: int) -> ValidationException:
    return invalid(
        kind,
        "Incorrect number of operands for operator or function; "
        f"operator or function: {function}, number of operands: {count}",
    )


def function_misused(kind: str, function: str) -> ValidationException:
    """A function where the grammar does not let it stand (cellstore's text; AWS documents none)."""
    return invalid(kind, f"The function is not allowed to be used this way in an expression; function: {function}")


def requires_path(kind: str, function: str) -> ValidationException:
    return invalid(
        kind, f"Operator or function requires a document path; operator or function: {function}"
    )


# Apply-time update errors (no "Invalid UpdateExpression:" prefix in DynamoDB).
INCORRECT_DATA_TYPE = "An operand in the update expression has an incorrect data type"
INVALID_UPDATE_PATH = "The document path provided in the update expression is invalid for update"
MISSING_ATTRIBUTE = "The provided expression refers to an attribute that does not exist in the item"
