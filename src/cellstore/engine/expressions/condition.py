"""Evaluation of resolved condition trees (ConditionExpression, FilterExpression, Expected, ...).

Evaluation never raises: every type mismatch or missing attribute has a
defined outcome in DynamoDB (the comparison is simply false; ``<>`` is true),
and all errors that depend only on the request were raised while parsing and
resolving.  That is what lets the engine evaluate inside a write transaction
without a failure path.
"""

from __future__ import annotations

from cellstore.engine.expressions.ast import (
    Always,
    And,
    Arith,
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
    Parens,
)
from cellstore.engine.expressions.context import ExpressionContext, Resolver
from cellstore.engine.expressions.parser import parse_condition_tree
from cellstore.engine.expressions.path import get_path
from cellstore.engine.values import (
    AttributeValue,
    Item,
    compare,
    decode_binary,
    equal,
    type_of,
    value_size,
)


class Condition:
    """A parsed, resolved condition; ``evaluate`` may be called for many items."""

    __slots__ = ("node",)

    def __init__(self, node: Node) -> None:
        self.node = node

    def evaluate(self, item: Item) -> bool:
        """Whether ``item`` satisfies the condition; ``{}`` stands for "no item"."""
        return evaluate(self.node, item)

    def __repr__(self) -> str:
        return f"Condition({self.node!r})"

    def top_level_names(self) -> set[str]:
        """The attribute names the condition's paths start with (found without recursion).

        A Query's filter may not name the key attributes of what it queries,
        which DynamoDB checks on these names.
        """
        names: set[str] = set()
        stack: list[Node | Operand] = [self.node]
        while stack:
            node = stack.pop()
            if isinstance(node, Attr):
                if node.path and isinstance(node.path[0], str):
                    names.add(node.path[0])
            elif isinstance(node, (And, Or)):
                stack.extend((node.left, node.right))
            elif isinstance(node, Not):
                stack.append(node.operand)
            elif isinstance(node, Parens):
                stack.append(node.inner)
            elif isinstance(node, Compare):
                stack.extend((node.left, node.right))
            elif isinstance(node, Between):
                stack.extend((node.operand, node.low, node.high))
            elif isinstance(node, In):
                stack.append(node.operand)
                stack.extend(node.options)
            elif isinstance(node, FunctionCondition):
                stack.append(node.call)
            elif isinstance(node, Call):
                stack.extend(node.args)
            elif isinstance(node, Arith):
                stack.extend((node.left, node.right))
        return names


def parse_condition(
    text: str, ctx: ExpressionContext, kind: str = "ConditionExpression"
) -> Condition:
    """Parse (cached) and resolve a ConditionExpression or FilterExpression."""
    tree = parse_condition_tree(text, kind)
    return Condition(Resolver(ctx, kind).condition(tree))


def operand_value(operand: Operand, item: Item) -> AttributeValue | None:
    """The value an operand denotes for ``item``; None when it denotes nothing."""
    if isinstance(operand, Attr):
        return get_path(item, operand.path)
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Call) and operand.name == "size":
        return size_of(operand_value(operand.args[0], item))
    if isinstance(operand, Arith):  # pragma: no cover - not produced for conditions
        return None
    return None


def size_of(value: AttributeValue | None) -> AttributeValue | None:
    """DynamoDB's size(): bytes of S/B, element count of sets, lists and maps."""
    if value is None:
        return None
    kind = type_of(value)
    if kind in ("S", "B"):
        return {"N": str(value_size(value))}
    if kind in ("SS", "NS", "BS", "L", "M"):
        return {"N": str(len(value[kind]))}
    return None


def _ordered(op: str, order: int) -> bool:
    if op == "<":
        return order < 0
    if op == "<=":
        return order <= 0
    if op == ">":
        return order > 0
    return order >= 0


def compare_values(op: str, left: AttributeValue | None, right: AttributeValue | None) -> bool:
    """One comparator on two (possibly missing) values, with DynamoDB's outcomes."""
    if op == "=":
        return left is not None and right is not None and equal(left, right)
    if op == "<>":
        return not (left is not None and right is not None and equal(left, right))
    if left is None or right is None:
        return False
    order = compare(left, right)
    return order is not None and _ordered(op, order)


def begins_with(value: AttributeValue | None, prefix: AttributeValue | None) -> bool:
    if value is None or prefix is None:
        return False
    kind = type_of(value)
    if kind != type_of(prefix):
        return False
    if kind == "S":
        return bool(value["S"].startswith(prefix["S"]))
    if kind == "B":
        return decode_binary(value["B"]).startswith(decode_binary(prefix["B"]))
    return False


_SET_MEMBER = {"SS": "S", "NS": "N", "BS": "B"}


def contains(value: AttributeValue | None, member: AttributeValue | None) -> bool:
    """contains(): substring of S/B, member of a set, or an element of a list."""
    if value is None or member is None:
        return False
    kind, member_kind = type_of(value), type_of(member)
    if kind == "S" and member_kind == "S":
        return member["S"] in value["S"]
    if kind == "B" and member_kind == "B":
        return decode_binary(member["B"]) in decode_binary(value["B"])
    if kind in _SET_MEMBER:
        # Set members and scalars are both canonical text, so text equality is value equality.
        return _SET_MEMBER[kind] == member_kind and member[member_kind] in value[kind]
    if kind == "L":
        return any(equal(element, member) for element in value["L"])
    return False


def _call(call: Call, item: Item) -> bool:
    name, args = call.name, call.args
    if name == "attribute_exists":
        return operand_value(args[0], item) is not None
    if name == "attribute_not_exists":
        return operand_value(args[0], item) is None
    first = operand_value(args[0], item)
    second = operand_value(args[1], item) if len(args) > 1 else None
    if name == "attribute_type":
        return (
            first is not None
            and second is not None
            and type_of(second) == "S"
            and type_of(first) == second["S"]
        )
    if name == "begins_with":
        return begins_with(first, second)
    if name == "contains":
        return contains(first, second)
    return False


def evaluate(node: Node, item: Item) -> bool:
    if isinstance(node, Compare):
        return compare_values(
            node.op, operand_value(node.left, item), operand_value(node.right, item)
        )
    if isinstance(node, And):
        return evaluate(node.left, item) and evaluate(node.right, item)
    if isinstance(node, Or):
        return evaluate(node.left, item) or evaluate(node.right, item)
    if isinstance(node, Not):
        return not evaluate(node.operand, item)
    if isinstance(node, FunctionCondition):
        return _call(node.call, item)
    if isinstance(node, Between):
        value = operand_value(node.operand, item)
        return compare_values(">=", value, operand_value(node.low, item)) and compare_values(
            "<=", value, operand_value(node.high, item)
        )
    if isinstance(node, In):
        value = operand_value(node.operand, item)
        return value is not None and any(
            compare_values("=", value, operand_value(option, item)) for option in node.options
        )
    if isinstance(node, Parens):
        return evaluate(node.inner, item)
    # Always is the last kind; every other node is handled above.
    return isinstance(node, Always)
