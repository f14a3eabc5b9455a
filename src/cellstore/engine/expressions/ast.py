"""Expression syntax trees, before and after placeholder resolution.

The parser produces *unresolved* trees (``PathRef``/``ValueRef`` leaves that
still say ``#n`` and ``:v``); those depend only on the expression text, so they
are immutable and cached across requests.  Resolution against one request's
ExpressionAttributeNames/Values swaps the leaves for ``Attr``/``Literal`` and
drops ``Parens``; evaluation and update application only ever see resolved
trees.  Condition, update and key-condition nodes share the operand classes,
which is what makes this one pipeline rather than three.
"""

from __future__ import annotations

# ``typing`` as a module: this module's own ``Literal`` is the resolved-value node.
import typing
from dataclasses import dataclass

from cellstore.engine.expressions.path import Path
from cellstore.engine.values import AttributeValue

# --- operands ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PathRef:
    """Unresolved document path; ``str`` steps starting with '#' are placeholders."""

    steps: tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ValueRef:
    """Unresolved ``:placeholder``."""

    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    """Resolved document path."""

    path: Path


@dataclass(frozen=True, slots=True, eq=False)
class Literal:
    """Resolved expression attribute value."""

    value: AttributeValue


@dataclass(frozen=True, slots=True)
class Call:
    """A function call: size, if_not_exists, list_append (as operands) or a boolean function."""

    name: str
    args: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class Arith:
    """``a + b`` / ``a - b`` on the right of an update SET."""

    op: str
    left: Operand
    right: Operand


Operand = PathRef | ValueRef | Attr | Literal | Call | Arith

# --- conditions ---------------------------------------------------------------

#: A comparison's operator.
Comparator = typing.Literal["=", "<>", "<", "<=", ">", ">="]
#: Each comparator by its text, so that a token's text becomes a typed operator.
COMPARATORS: dict[str, Comparator] = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


@dataclass(frozen=True, slots=True)
class Compare:
    op: Comparator
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class Between:
    operand: Operand
    low: Operand
    high: Operand


@dataclass(frozen=True, slots=True)
class In:
    operand: Operand
    options: tuple[Operand, ...]


@dataclass(frozen=True, slots=True)
class And:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Or:
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node


@dataclass(frozen=True, slots=True)
class FunctionCondition:
    """A boolean function used as a condition: attribute_exists(a), begins_with(a, :p), ..."""

    call: Call


@dataclass(frozen=True, slots=True)
class Always:
    """The condition every item satisfies: an empty legacy Expected or filter map."""


@dataclass(frozen=True, slots=True)
class Parens:
    """Parenthesised condition; kept only so the parser can spot redundant parentheses."""

    inner: Node


Node = Compare | Between | In | And | Or | Not | FunctionCondition | Always | Parens

# --- updates --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetAction:
    target: PathRef | Attr
    value: Operand


@dataclass(frozen=True, slots=True)
class RemoveAction:
    target: PathRef | Attr


@dataclass(frozen=True, slots=True)
class AddAction:
    target: PathRef | Attr
    value: ValueRef | Literal


@dataclass(frozen=True, slots=True)
class DeleteAction:
    target: PathRef | Attr
    value: ValueRef | Literal


UpdateAction = SetAction | RemoveAction | AddAction | DeleteAction


@dataclass(frozen=True, slots=True)
class UpdateTree:
    """All actions of one UpdateExpression, in the order they were written."""

    actions: tuple[UpdateAction, ...]


@dataclass(frozen=True, slots=True)
class ProjectionTree:
    paths: tuple[PathRef, ...]
