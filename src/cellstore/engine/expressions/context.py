"""ExpressionAttributeNames/Values of one request, and resolution of parsed trees against them.

A request may carry several expressions (e.g. UpdateExpression plus
ConditionExpression) sharing one pair of placeholder maps; DynamoDB rejects
placeholders that none of them used.  The context therefore records every
placeholder resolved through it, and ``check_unused`` is called once after all
of a request's expressions are parsed.

Resolution is also where checks that need the *values* happen (BETWEEN bounds,
operand types of functions), because the cached trees know only the text.
"""

from __future__ import annotations

import re

from cellstore.engine.expressions import messages
from cellstore.engine.expressions.ast import (
    AddAction,
    Always,
    And,
    Arith,
    Attr,
    Between,
    Call,
    Compare,
    DeleteAction,
    FunctionCondition,
    In,
    Literal,
    Node,
    Not,
    Operand,
    Or,
    Parens,
    PathRef,
    RemoveAction,
    SetAction,
    UpdateAction,
    ValueRef,
)
from cellstore.engine.expressions.path import Path, format_path
from cellstore.engine.values import AttributeValue, attribute_name_error, compare, type_of
from cellstore.errors import ValidationException

_NAME_KEY = re.compile(r"#[A-Za-z0-9_]+")
_VALUE_KEY = re.compile(r":[A-Za-z0-9_]+")
VALID_TYPES = "{B,NULL,SS,BOOL,L,BS,N,NS,S,M}"
#: Types an ordering comparison accepts as a constant.
_ORDERED_TYPES = frozenset({"S", "N", "B"})
#: Types size() is defined for.
_SIZED_TYPES = frozenset({"S", "B", "SS", "NS", "BS", "L", "M"})
_TYPE_NAMES = frozenset({"B", "NULL", "SS", "BOOL", "L", "BS", "N", "NS", "S", "M"})


class ExpressionContext:
    """The placeholder maps of one request, plus which placeholders were used."""

    def __init__(
        self, names: dict[str, str] | None, values: dict[str, AttributeValue] | None
    ) -> None:
        if names is not None and not names:
            raise ValidationException("ExpressionAttributeNames must not be empty")
        if values is not None and not values:
            raise ValidationException("ExpressionAttributeValues must not be empty")
        for key in names or {}:
            if not _NAME_KEY.fullmatch(key):
                raise ValidationException(
                    f'ExpressionAttributeNames contains invalid key: Syntax error; key: "{key}"'
                )
        for key, real in (names or {}).items():
            error = attribute_name_error(real)
            if error is not None:
                raise ValidationException(f"ExpressionAttributeNames contains invalid value: {error} for key {key}")
        for key in values or {}:
            if not _VALUE_KEY.fullmatch(key):
                raise ValidationException(
                    f'ExpressionAttributeValues contains invalid key: Syntax error; key: "{key}"'
                )
        self.names: dict[str, str] = names or {}
        self.values: dict[str, AttributeValue] = values or {}
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def check_unused(self) -> None:
        """Raise for placeholders no expression of the request referred to (names first)."""
        unused_names = [k for k in self.names if k not in self.used_names]
        if unused_names:
            raise ValidationException(
                "Value provided in ExpressionAttributeNames unused in expressions: "
                "keys: {" + ", ".join(unused_names) + "}"
            )
        unused_values = [k for k in self.values if k not in self.used_values]
        if unused_values:
            raise ValidationException(
                "Value provided in ExpressionAttributeValues unused in expressions: "
                "keys: {" + ", ".join(unused_values) + "}"
            )

    def name(self, placeholder: str, kind: str) -> str:
        try:
            real = self.names[placeholder]
        except KeyError:
            raise messages.invalid(
                kind,
                "An expression attribute name used in the document path is not defined; "
                f"attribute name: {placeholder}",
            ) from None
        self.used_names.add(placeholder)
        return real

    def value(self, placeholder: str, kind: str) -> AttributeValue:
        try:
            real = self.values[placeholder]
        except KeyError:
            raise messages.invalid(
                kind,
                "An expression attribute value used in expression is not defined; "
                f"attribute value: {placeholder}",
            ) from None
        self.used_values.add(placeholder)
        return real


class Resolver:
    """Turns one cached tree into a resolved tree for one request."""

    def __init__(self, ctx: ExpressionContext, kind: str) -> None:
        self.ctx = ctx
        self.kind = kind

    def path(self, ref: PathRef) -> Path:
        return tuple(
            self.ctx.name(step, self.kind) if isinstance(step, str) and step[0] == "#" else step
            for step in ref.steps
        )

    def attr(self, ref: PathRef | Attr) -> Attr:
        return ref if isinstance(ref, Attr) else Attr(self.path(ref))

    def literal(self, ref: ValueRef | Literal) -> Literal:
        return ref if isinstance(ref, Literal) else Literal(self.ctx.value(ref.name, self.kind))

    def operand(self, operand: Operand) -> Operand:
        if isinstance(operand, PathRef):
            return Attr(self.path(operand))
        if isinstance(operand, ValueRef):
            return Literal(self.ctx.value(operand.name, self.kind))
        if isinstance(operand, Call):
            call = Call(operand.name, tuple(self.operand(a) for a in operand.args))
            self.check_call_types(call)
            return call
        if isinstance(operand, Arith):
            arith = Arith(operand.op, self.operand(operand.left), self.operand(operand.right))
            for side in (arith.left, arith.right):
                if isinstance(side, Literal) and type_of(side.value) != "N":
                    raise messages.operand_type(self.kind, arith.op, type_of(side.value))
            return arith
        return operand

    def check_call_types(self, call: Call) -> None:
        """Operand-type checks DynamoDB makes on arguments before touching data.

        attribute_type's second argument must be a value: a document path
        there is refused with operand type ``PATH`` (AWS documents no text
        for this case; the wording follows its other operand-type errors).
        ``list_append`` nested directly in ``list_append`` is refused (DynamoDB
        has been seen to refuse it; AWS documents neither the rule nor a text,
        so the message is cellstore's); ``if_not_exists`` inside ``list_append``
        stays allowed, as AWS's own examples use it.
        """
        if call.name == "attribute_type" and len(call.args) == 2 and isinstance(call.args[1], Attr):
            raise messages.operand_type(self.kind, call.name, "PATH")
        if call.name == "list_append" and any(isinstance(a, Call) and a.name == "list_append" for a in call.args):
            raise messages.function_misused(self.kind, call.name)
        literals = [(i, a.value) for i, a in enumerate(call.args) if isinstance(a, Literal)]
        for index, value in literals:
            kind = type_of(value)
            if call.name == "begins_with" and kind not in ("S", "B"):
                raise messages.operand_type(self.kind, call.name, kind)
            if call.name == "attribute_type" and index == 1:
                if kind != "S":
                    raise messages.operand_type(self.kind, call.name, kind)
                if value["S"] not in _TYPE_NAMES:
                    raise messages.invalid(
                        self.kind,
                        "Invalid attribute type name found; "
                        f"type: {value['S']}, valid types: {VALID_TYPES}",
                    )
            if call.name == "list_append" and kind != "L":
                raise messages.operand_type(self.kind, call.name, kind)
            if call.name == "size" and kind not in _SIZED_TYPES:
                raise messages.operand_type(self.kind, call.name, kind)

    def check_comparable(self, op: str, operands: tuple[Operand, ...]) -> None:
        """An ordering comparison (<, <=, >, >=, BETWEEN) needs S, N or B constants.

        DynamoDB refuses a constant of any other type (list, map, set, BOOL,
        NULL) when it parses the expression, whatever the item holds; a path
        to such a value is not an error (the comparison is simply false).
        """
        for operand in operands:
            if isinstance(operand, Literal):
                kind = type_of(operand.value)
                if kind not in _ORDERED_TYPES:
                    raise messages.operand_type(self.kind, op, kind)

    def condition(self, node: Node) -> Node:
        if isinstance(node, Parens):
            return self.condition(node.inner)
        if isinstance(node, Always):
            return node
        if isinstance(node, And):
            return And(self.condition(node.left), self.condition(node.right))
        if isinstance(node, Or):
            return Or(self.condition(node.left), self.condition(node.right))
        if isinstance(node, Not):
            return Not(self.condition(node.operand))
        if isinstance(node, Compare):
            left, right = self.operand(node.left), self.operand(node.right)
            self.check_distinct(node.op, left, (right,))
            if node.op not in ("=", "<>"):
                self.check_comparable(node.op, (left, right))
            return Compare(node.op, left, right)
        if isinstance(node, Between):
            between = Between(
                self.operand(node.operand), self.operand(node.low), self.operand(node.high)
            )
            self.check_distinct("BETWEEN", between.operand, (between.low, between.high))
            self.check_comparable("BETWEEN", (between.operand, between.low, between.high))
            self.check_bounds(between)
            return between
        if isinstance(node, In):
            operand = self.operand(node.operand)
            options = tuple(self.operand(o) for o in node.options)
            self.check_distinct("IN", operand, options)
            return In(operand, options)
        call = self.operand(node.call)
        if not isinstance(call, Call):  # pragma: no cover - the parser only builds calls here
            raise TypeError(call)
        if call.name == "contains":
            # contains(a, a) is refused like a = a (the Developer Guide: "The
            # path and the operand must be distinct").
            self.check_distinct("contains", call.args[0], call.args[1:])
        return FunctionCondition(call)

    def check_distinct(self, op: str, first: Operand, rest: tuple[Operand, ...]) -> None:
        """DynamoDB refuses ``a = a``-style expressions whose outcome is fixed by the text."""
        if isinstance(first, Attr) and any(
            isinstance(o, Attr) and o.path == first.path for o in rest
        ):
            raise messages.invalid(
                self.kind,
                "The first operand must be distinct from the remaining operands for this "
                f"operator or function; operator: {op}, first operand: {format_path(first.path)}",
            )

    def check_bounds(self, node: Between) -> None:
        if not (isinstance(node.low, Literal) and isinstance(node.high, Literal)):
            return
        low, high = node.low.value, node.high.value
        shown = (
            f"lower bound operand: AttributeValue: {messages.render_value(low)}, "
            f"upper bound operand: AttributeValue: {messages.render_value(high)}"
        )
        if type_of(low) != type_of(high):
            raise messages.invalid(
                self.kind,
                f"The BETWEEN operator requires same data type for lower and upper bounds; {shown}",
            )
        order = compare(low, high)
        if order is not None and order > 0:
            raise messages.invalid(
                self.kind,
                "The BETWEEN operator requires upper bound to be greater than or equal to lower "
                f"bound; {shown}",
            )

    def action(self, action: UpdateAction) -> UpdateAction:
        if isinstance(action, SetAction):
            return SetAction(self.attr(action.target), self.operand(action.value))
        if isinstance(action, RemoveAction):
            return RemoveAction(self.attr(action.target))
        target = self.attr(action.target)
        literal = self.literal(action.value)
        kind = type_of(literal.value)
        if isinstance(action, AddAction):
            if kind not in ("N", "SS", "NS", "BS"):
                raise messages.invalid(
                    self.kind,
                    "Incorrect operand type for operator or function; "
                    f"operator: ADD, operand type: {LONG_TYPE_NAMES[kind]}",
                )
            return AddAction(target, literal)
        if kind not in ("SS", "NS", "BS"):
            raise messages.invalid(
                self.kind,
                "Incorrect operand type for operator or function; "
                f"operator: DELETE, operand type: {LONG_TYPE_NAMES[kind]}",
            )
        return DeleteAction(target, literal)


LONG_TYPE_NAMES = {
    "S": "STRING",
    "N": "NUMBER",
    "B": "BINARY",
    "BOOL": "BOOLEAN",
    "NULL": "NULL",
    "M": "MAP",
    "L": "LIST",
    "SS": "STRING_SET",
    "NS": "NUMBER_SET",
    "BS": "BINARY_SET",
}
