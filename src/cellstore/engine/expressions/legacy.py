"""Legacy (pre-expression) parameters translated into the same objects as expressions.

Expected, QueryFilter/ScanFilter, AttributeUpdates, AttributesToGet and
KeyConditions are still sent by ORMs such as PynamoDB.  Rather than a second
evaluator, each is translated into the resolved AST the expression pipeline
produces, so Condition/Update/Projection/KeyCondition behave identically
whichever parameter style the client used.  Legacy attribute names are plain
top-level names: ``"a.b"`` names the attribute called ``a.b``, not a path.

The api layer only checks that each legacy parameter is a map (or a list);
every member inside — the per-attribute structure, its operator or action
string, its Exists flag, its value list and each AttributeValue — is
type-checked here, as AWS's deserializer would (SerializationException), and
every value is validated and made canonical with ``validate_value`` exactly
as an item's values are, so a legacy request can neither crash the server nor
store a value an expression request could not.
"""

from __future__ import annotations

from typing import Any

from cellstore.engine.expressions.ast import (
    AddAction,
    Always,
    And,
    Attr,
    Between,
    Call,
    Comparator,
    Compare,
    DeleteAction,
    FunctionCondition,
    In,
    Literal,
    Node,
    Not,
    Or,
    RemoveAction,
    SetAction,
    UpdateAction,
)
from cellstore.engine.expressions.condition import Condition
from cellstore.engine.expressions.keycondition import KeyCondition, KeyNames, KeyPart, build_key_condition
from cellstore.engine.expressions.projection import Projection
from cellstore.engine.expressions.update import Update
from cellstore.engine.values import AttributeValue, compare, json_kind, type_of, validate_value
from cellstore.errors import INVALID_PARAMETERS, SerializationException, ValidationException

TYPE_MISMATCH = INVALID_PARAMETERS + "Type mismatch for attribute to update"

# operator -> (allowed operand counts, allowed operand types or None for any)
_SCALARS = frozenset({"S", "N", "B"})
_OPERATORS: dict[str, tuple[range, frozenset[str] | None]] = {
    "EQ": (range(1, 2), None),
    "NE": (range(1, 2), None),
    "LE": (range(1, 2), _SCALARS),
    "LT": (range(1, 2), _SCALARS),
    "GE": (range(1, 2), _SCALARS),
    "GT": (range(1, 2), _SCALARS),
    "NOT_NULL": (range(1), None),
    "NULL": (range(1), None),
    "CONTAINS": (range(1, 2), _SCALARS),
    "NOT_CONTAINS": (range(1, 2), _SCALARS),
    "BEGINS_WITH": (range(1, 2), frozenset({"S", "B"})),
    "IN": (range(1, 1 << 31), _SCALARS),
    "BETWEEN": (range(2, 3), _SCALARS),
}
# The order DynamoDB lists the enum in its validation message.
_ENUM = "[IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
_COMPARATORS: dict[str, Comparator] = {"EQ": "=", "NE": "<>", "LE": "<=", "LT": "<", "GE": ">=", "GT": ">"}
_KEY_OPERATORS = {
    "EQ": "=",
    "LE": "<=",
    "LT": "<",
    "GE": ">=",
    "GT": ">",
    "BEGINS_WITH": "BEGINS_WITH",
    "BETWEEN": "BETWEEN",
}


def mixed_parameters_error(
    non_expression: list[str], expression: list[str]
) -> ValidationException:
    """The error for a request mixing legacy and expression parameters (raised by the api layer)."""
    return ValidationException(
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {" + ", ".join(non_expression) + "} "
        "Expression parameters: {" + ", ".join(expression) + "}"
    )


def _structure(spec: Any, shape: str) -> dict[str, Any]:
    """One per-attribute legacy structure (``shape`` names its AWS type); null reads as empty."""
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        article = "an" if shape[0] in "AEIOU" else "a"
        raise SerializationException(
            f"Unexpected value type in payload: {json_kind(spec)} can not be converted to {article} {shape}"
        )
    return spec


def _string(value: Any) -> str | None:
    """An optional string member (ComparisonOperator, Action)."""
    if value is not None and not isinstance(value, str):
        raise SerializationException(f"{json_kind(value)} can not be converted to a String")
    return value


def _boolean(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise SerializationException(f"{json_kind(value)} can not be converted to a Boolean")
    return value


def _value_list(values: Any) -> list[AttributeValue]:
    """AttributeValueList: a list of AttributeValues, each validated and canonical."""
    if values is None:
        return []
    if not isinstance(values, list):
        raise SerializationException(f"{json_kind(values)} can not be converted to a List")
    return [validate_value(value) for value in values]


def _optional_value(value: Any) -> AttributeValue | None:
    return None if value is None else validate_value(value)


def _camel(parameter: str) -> str:
    return parameter[0].lower() + parameter[1:]


def _comparison(
    name: str, operator: Any, values: Any, parameter: str
) -> Node:
    """One legacy ComparisonOperator/AttributeValueList pair as a condition node."""
    operator = _string(operator)
    operands = _value_list(values)
    if operator is None:
        raise ValidationException(
            f"1 validation error detected: Value null at '{_camel(parameter)}.{name}.member."
            "comparisonOperator' failed to satisfy constraint: Member must not be null"
        )
    if operator not in _OPERATORS:
        raise ValidationException(
            f"1 validation error detected: Value '{operator}' at '{_camel(parameter)}.{name}."
            f"member.comparisonOperator' failed to satisfy constraint: Member must satisfy "
            f"enum value set: {_ENUM}"
        )
    counts, types = _OPERATORS[operator]
    if len(operands) not in counts:
        raise ValidationException(
            INVALID_PARAMETERS + f"Invalid number of argument(s) for the {operator} ComparisonOperator"
        )
    for operand in operands:
        if types is not None and type_of(operand) not in types:
            raise ValidationException(
                INVALID_PARAMETERS
                + f"ComparisonOperator {operator} is not valid for {type_of(operand)} "
                "AttributeValue type"
            )
    attr = Attr((name,))
    if operator in _COMPARATORS:
        return Compare(_COMPARATORS[operator], attr, Literal(operands[0]))
    if operator == "NOT_NULL":
        return FunctionCondition(Call("attribute_exists", (attr,)))
    if operator == "NULL":
        return FunctionCondition(Call("attribute_not_exists", (attr,)))
    if operator == "CONTAINS":
        return FunctionCondition(Call("contains", (attr, Literal(operands[0]))))
    if operator == "NOT_CONTAINS":
        # Unlike ``NOT contains(a, :v)``, legacy NOT_CONTAINS needs the attribute
        # to exist: on a missing one DynamoDB fails the check (AWS documents only
        # the present case; this is the observed answer).
        return And(
            FunctionCondition(Call("attribute_exists", (attr,))),
            Not(FunctionCondition(Call("contains", (attr, Literal(operands[0]))))),
        )
    if operator == "BEGINS_WITH":
        return FunctionCondition(Call("begins_with", (attr, Literal(operands[0]))))
    if operator == "IN":
        # IN's values share one type, as BETWEEN's bounds do (same message).
        if len({type_of(v) for v in operands}) > 1:
            raise ValidationException(
                INVALID_PARAMETERS + "AttributeValues inside AttributeValueList must be of same type"
            )
        return In(attr, tuple(Literal(v) for v in operands))
    low, high = operands
    if type_of(low) != type_of(high):
        raise ValidationException(
            INVALID_PARAMETERS + "AttributeValues inside AttributeValueList must be of same type"
        )
    order = compare(low, high)
    if order is not None and order > 0:
        raise ValidationException(
            INVALID_PARAMETERS + "The BETWEEN condition was provided a range where the lower bound is "
            "greater than the upper bound"
        )
    return Between(attr, Literal(low), Literal(high))


def _combine(nodes: list[Node], conditional_operator: str | None, count: int) -> Condition:
    if conditional_operator not in (None, "AND", "OR"):
        raise ValidationException(
            f"1 validation error detected: Value '{conditional_operator}' at "
            "'conditionalOperator' failed to satisfy constraint: Member must satisfy enum "
            "value set: [AND, OR]"
        )
    if conditional_operator is not None and count < 2:
        raise ValidationException(
            INVALID_PARAMETERS + "ConditionalOperator can only be used when Filter or Expected has two "
            "or more elements"
        )
    if not nodes:
        return Condition(Always())
    node = nodes[0]
    for other in nodes[1:]:
        node = Or(node, other) if conditional_operator == "OR" else And(node, other)
    return Condition(node)


def condition_from_expected(expected: dict[str, Any], conditional_operator: str | None) -> Condition:
    """Expected → Condition (Value/Exists or ComparisonOperator/AttributeValueList per attribute)."""
    nodes: list[Node] = []
    for name, raw_spec in expected.items():
        spec = _structure(raw_spec, "ExpectedAttributeValue")
        value = _optional_value(spec.get("Value"))
        exists = _boolean(spec.get("Exists"))
        operator = spec.get("ComparisonOperator")
        values = spec.get("AttributeValueList")
        if operator is not None:
            if value is not None or exists is not None:
                raise ValidationException(
                    INVALID_PARAMETERS + "Value and Exists cannot be used with ComparisonOperator for "
                    f"Attribute: {name}"
                )
            nodes.append(_comparison(name, operator, values, "Expected"))
            continue
        if values is not None:
            raise ValidationException(
                INVALID_PARAMETERS + "AttributeValueList can only be used with a ComparisonOperator for "
                f"Attribute: {name}"
            )
        if exists is False:
            if value is not None:
                raise ValidationException(
                    INVALID_PARAMETERS + f"Value cannot be used when Exists is false for Attribute: {name}"
                )
            nodes.append(FunctionCondition(Call("attribute_not_exists", (Attr((name,)),))))
            continue
        if value is None:
            shown = "null" if exists is None else "true"
            raise ValidationException(
                INVALID_PARAMETERS + f"Value must be provided when Exists is {shown} for Attribute: {name}"
            )
        nodes.append(Compare("=", Attr((name,)), Literal(validate_value(value))))
    return _combine(nodes, conditional_operator, len(expected))


def condition_from_filter(
    conditions: dict[str, Any], conditional_operator: str | None, kind: str
) -> Condition:
    """QueryFilter/ScanFilter → Condition; ``kind`` is the parameter name for messages."""
    nodes = []
    for name, raw_spec in conditions.items():
        spec = _structure(raw_spec, "Condition")
        nodes.append(_comparison(name, spec.get("ComparisonOperator"), spec.get("AttributeValueList"), kind))
    return _combine(nodes, conditional_operator, len(conditions))


def update_from_attribute_updates(updates: dict[str, Any]) -> Update:
    """AttributeUpdates → Update: PUT is SET, ADD is ADD, DELETE is REMOVE or set DELETE."""
    actions: list[UpdateAction] = []
    for name, raw_spec in updates.items():
        spec = _structure(raw_spec, "AttributeValueUpdate")
        action = _string(spec.get("Action")) or "PUT"
        value = _optional_value(spec.get("Value"))
        target = Attr((name,))
        if action not in ("PUT", "ADD", "DELETE"):
            raise ValidationException(
                f"1 validation error detected: Value '{action}' at 'attributeUpdates.{name}."
                "member.action' failed to satisfy constraint: Member must satisfy enum value "
                "set: [ADD, PUT, DELETE]"
            )
        if value is None:
            if action != "DELETE":
                raise ValidationException(
                    INVALID_PARAMETERS + "Only DELETE action is allowed when no attribute value is specified"
                )
            actions.append(RemoveAction(target))
            continue
        value = validate_value(value)
        kind = type_of(value)
        if action == "PUT":
            actions.append(SetAction(target, Literal(value)))
        elif action == "ADD":
            # A list is also accepted and appended to an existing list: AWS
            # documents numbers and sets only, DynamoDB is observed to take lists.
            if kind not in ("N", "SS", "NS", "BS", "L"):
                raise ValidationException(
                    INVALID_PARAMETERS + f"ADD action is not supported for the type {kind}"
                )
            actions.append(AddAction(target, Literal(value)))
        else:
            if kind not in ("SS", "NS", "BS"):
                raise ValidationException(
                    INVALID_PARAMETERS + f"DELETE action with value is not supported for the type {kind}"
                )
            actions.append(DeleteAction(target, Literal(value)))
    return Update(tuple(actions), mismatch=TYPE_MISMATCH)


def projection_from_attributes(names: list[str]) -> Projection:
    """AttributesToGet → Projection of top-level attributes (names taken literally)."""
    seen: set[str] = set()
    for name in names:
        _string(name)
        if name in seen:
            raise ValidationException(INVALID_PARAMETERS + f"Duplicate value in attribute name: {name}")
        seen.add(name)
    return Projection([(name,) for name in names])


def key_condition_from_key_conditions(
    conditions: dict[str, Any], hash_key: KeyNames, range_key: KeyNames | None
) -> KeyCondition:
    """KeyConditions → KeyCondition, with the legacy parameter's own error messages."""
    if not 1 <= len(conditions) <= 2:
        raise ValidationException("Conditions can be of length 1 or 2 only")
    parts: list[KeyPart] = []
    for name, raw_spec in conditions.items():
        spec = _structure(raw_spec, "Condition")
        operator = spec.get("ComparisonOperator")
        node = _comparison(name, operator, spec.get("AttributeValueList"), "KeyConditions")
        if operator not in _KEY_OPERATORS:
            raise ValidationException("Attempted conditional constraint is not an indexable operation")
        values: tuple[AttributeValue, ...]
        if isinstance(node, Between):
            values = (_value(node.low), _value(node.high))
        elif isinstance(node, Compare):
            values = (_value(node.right),)
        elif isinstance(node, FunctionCondition):
            values = (_value(node.call.args[1]),)
        else:  # pragma: no cover - _KEY_OPERATORS only yields the shapes above
            raise ValidationException("Query key condition not supported")
        parts.append((name, _KEY_OPERATORS[operator], values))
    return build_key_condition(parts, hash_key, range_key)


def _value(operand: object) -> AttributeValue:
    if not isinstance(operand, Literal):  # pragma: no cover - built from literals above
        raise TypeError(operand)
    return operand.value
