"""KeyConditionExpression (and legacy KeyConditions) reduced to what a Query needs.

A key condition is parsed with the condition grammar, then checked against the
narrow shape DynamoDB accepts: ``hash = :v`` optionally AND one range-key
condition (=, <, <=, >, >=, BETWEEN, begins_with).  The result is plain data
the engine turns into a storage key range, rather than a tree to evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass

from cellstore.engine.expressions import messages
from cellstore.engine.expressions.ast import (
    And,
    Attr,
    Between,
    Call,
    Compare,
    FunctionCondition,
    In,
    Literal,
    Node,
    Not,
    Operand,
    Or,
)
from cellstore.engine.expressions.condition import begins_with, compare_values
from cellstore.engine.expressions.context import ExpressionContext, Resolver
from cellstore.engine.expressions.parser import parse_condition_tree
from cellstore.engine.values import AttributeValue
from cellstore.errors import ValidationException

KIND = "KeyConditionExpression"
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

# (attribute name, operator, operand values) for one key attribute.
KeyPart = tuple[str, str, tuple[AttributeValue, ...]]
# A key role's attribute: one name, or (multi-attribute GSI keys) the names in key-schema order.
KeyNames = str | tuple[str, ...]


@dataclass(frozen=True)
class KeyCondition:
    """The partition value(s) and the optional sort-key restriction of a Query.

    For a table or a single-attribute index: ``hash_value`` and one
    ``range_op`` on the sort key.  For a GSI with a multi-attribute key
    (up to four partition and four sort attributes): ``hash_values`` holds
    every partition attribute's value in key-schema order, ``range_prefix``
    the values of the leading sort attributes compared with ``=``, and
    ``range_op``/``range_values`` restrict the sort attribute after them (the
    last one the condition names).  Both shapes are one range read.
    """

    hash_value: AttributeValue
    range_op: str | None
    range_values: tuple[AttributeValue, ...]
    hash_values: tuple[AttributeValue, ...] = ()
    range_prefix: tuple[AttributeValue, ...] = ()

    @property
    def partition(self) -> tuple[AttributeValue, ...]:
        """Every partition attribute's value, in key-schema order."""
        return self.hash_values or (self.hash_value,)

    def matches_range(self, value: AttributeValue | None) -> bool:
        """Whether a range-key value satisfies the range condition (True if there is none)."""
        op = self.range_op
        if op is None:
            return True
        if value is None:
            return False
        if op == "BETWEEN":
            low, high = self.range_values
            return compare_values(">=", value, low) and compare_values("<=", value, high)
        if op == "BEGINS_WITH":
            return begins_with(value, self.range_values[0])
        return compare_values(op, value, self.range_values[0])


def parse_key_condition(
    text: str, ctx: ExpressionContext, hash_key: KeyNames, range_key: KeyNames | None
) -> KeyCondition:
    """Parse (cached), resolve and check a KeyConditionExpression against the key schema."""
    tree = parse_condition_tree(text, KIND)
    node = Resolver(ctx, KIND).condition(tree)
    parts: list[KeyPart] = []
    _collect(node, parts)
    return build_key_condition(parts, hash_key, range_key)


def _unsupported_operator(name: str) -> ValidationException:
    return messages.invalid(KIND, f"Invalid operator used in KeyConditionExpression: {name}")


def _key_name(operand: Operand) -> str:
    if isinstance(operand, Call):
        raise _unsupported_operator(operand.name)
    if not isinstance(operand, Attr) or len(operand.path) != 1:
        raise ValidationException("Query key condition not supported")
    return str(operand.path[0])


def _literal(operand: Operand) -> AttributeValue:
    if isinstance(operand, Call):
        raise _unsupported_operator(operand.name)
    if not isinstance(operand, Literal):
        raise ValidationException("Query key condition not supported")
    return operand.value


def _collect(node: Node, parts: list[KeyPart]) -> None:
    if isinstance(node, And):
        _collect(node.left, parts)
        _collect(node.right, parts)
    elif isinstance(node, Or):
        raise _unsupported_operator("OR")
    elif isinstance(node, Not):
        raise _unsupported_operator("NOT")
    elif isinstance(node, In):
        raise _unsupported_operator("IN")
    elif isinstance(node, Compare):
        if node.op == "<>":
            raise _unsupported_operator("<>")
        if isinstance(node.left, Literal) and isinstance(node.right, Attr):
            name, op, value = _key_name(node.right), _FLIPPED[node.op], _literal(node.left)
        else:
            name, op, value = _key_name(node.left), node.op, _literal(node.right)
        parts.append((name, op, (value,)))
    elif isinstance(node, Between):
        name = _key_name(node.operand)
        parts.append((name, "BETWEEN", (_literal(node.low), _literal(node.high))))
    elif isinstance(node, FunctionCondition):
        if node.call.name != "begins_with":
            raise _unsupported_operator(node.call.name)
        name = _key_name(node.call.args[0])
        parts.append((name, "BEGINS_WITH", (_literal(node.call.args[1]),)))
    else:  # pragma: no cover - Parens are dropped by resolution
        raise ValidationException("Query key condition not supported")


def _names(names: KeyNames | None) -> tuple[str, ...]:
    if isinstance(names, tuple):
        return names
    return () if names is None else (names,)


def _missed(name: str) -> ValidationException:
    return ValidationException(f"Query condition missed key schema element: {name}")


def build_key_condition(
    parts: list[KeyPart], hash_key: KeyNames, range_key: KeyNames | None
) -> KeyCondition:
    """Check the condition against the key schema: every partition attribute with ``=``, then
    conditions on the sort attributes left to right with no gap, all ``=`` but the last one
    named, and nothing else.  With one attribute per role these are DynamoDB's classic rules."""
    hash_names, range_names = _names(hash_key), _names(range_key)
    by_name: dict[str, KeyPart] = {}
    for part in parts:
        if part[0] in by_name:
            raise ValidationException(
                "KeyConditionExpressions must only contain one condition per key"
            )
        by_name[part[0]] = part
    for name in hash_names:
        if name not in by_name:
            raise _missed(name)
    used = 0  # how many sort attributes, from the left, the condition names
    for name in range_names:
        if name not in by_name:
            break
        used += 1
    beyond = len(by_name) > len(hash_names) + used  # a name that is no key attribute, or a gap
    if beyond and any(name not in hash_names and name not in range_names for name in by_name):
        if used < len(range_names):
            raise _missed(range_names[used])
        raise ValidationException("Query key condition not supported")
    for name in hash_names:
        if by_name[name][1] != "=":
            raise ValidationException("Query key condition not supported")
    if beyond:
        raise _missed(range_names[used])
    first = by_name[hash_names[0]][2][0]
    # A classic key (one attribute per role) leaves the tuple fields empty.
    several = len(hash_names) > 1 or len(range_names) > 1
    hash_values = tuple([by_name[name][2][0] for name in hash_names]) if several else ()
    if not used:
        return KeyCondition(first, None, (), hash_values)
    for name in range_names[: used - 1]:
        if by_name[name][1] != "=":
            raise ValidationException("Query key condition not supported")
    _, range_op, range_values = by_name[range_names[used - 1]]
    prefix = tuple([by_name[name][2][0] for name in range_names[: used - 1]]) if used > 1 else ()
    return KeyCondition(first, range_op, range_values, hash_values, prefix)
