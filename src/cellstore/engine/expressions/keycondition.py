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
RANGE_OPERATORS = frozenset({"=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH"})
_FLIPPED = {"=": "=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

# (attribute name, operator, operand values) for one key attribute.
KeyPart = tuple[str, str, tuple[AttributeValue, ...]]


@dataclass(frozen=True)
class KeyCondition:
    """The hash-key value and the optional range-key restriction of a Query."""

    hash_value: AttributeValue
    range_op: str | None
    range_values: tuple[AttributeValue, ...]

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
    text: str, ctx: ExpressionContext, hash_key: str, range_key: str | None
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


def build_key_condition(
    parts: list[KeyPart], hash_key: str, range_key: str | None
) -> KeyCondition:
    """Check one condition per key, the hash key present with ``=``, nothing else."""
    by_name: dict[str, KeyPart] = {}
    for part in parts:
        if part[0] in by_name:
            raise ValidationException(
                "KeyConditionExpressions must only contain one condition per key"
            )
        by_name[part[0]] = part
    if hash_key not in by_name:
        raise ValidationException(f"Query condition missed key schema element: {hash_key}")
    extra = set(by_name) - {hash_key, range_key}
    if extra:
        if range_key is not None and range_key not in by_name:
            raise ValidationException(f"Query condition missed key schema element: {range_key}")
        raise ValidationException("Query key condition not supported")
    _, hash_op, hash_values = by_name[hash_key]
    if hash_op != "=":
        raise ValidationException("Query key condition not supported")
    if range_key is None or range_key not in by_name:
        return KeyCondition(hash_values[0], None, ())
    _, range_op, range_values = by_name[range_key]
    return KeyCondition(hash_values[0], range_op, range_values)
