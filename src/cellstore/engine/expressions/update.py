"""Application of resolved update trees (UpdateExpression and legacy AttributeUpdates).

Semantics follow DynamoDB:

* every SET right-hand side is computed from the item *as it was* before the
  update, so ``SET a = b, b = a`` swaps;
* list indexes everywhere refer to the original list: SET/ADD/DELETE run in
  the order written, then REMOVEs run deepest/highest index first, so
  ``REMOVE a[0], a[2]`` removes the original first and third elements;
* SET on a list index past the end appends; several such SETs on one list
  append in ascending index order (``_application_order``);
* the input item is never mutated; the result shares untouched sub-values with it.

The only errors raised here are the data-dependent ones DynamoDB reports at
apply time (wrong operand type, missing operand attribute, invalid path).
"""

from __future__ import annotations

from typing import Any

from cellstore.engine.expressions import messages
from cellstore.engine.expressions.ast import (
    AddAction,
    Arith,
    Attr,
    Call,
    DeleteAction,
    Literal,
    Operand,
    RemoveAction,
    SetAction,
    UpdateAction,
)
from cellstore.engine.expressions.context import ExpressionContext, Resolver
from cellstore.engine.expressions.parser import parse_update_tree
from cellstore.engine.expressions.path import Path, check_paths, get_path
from cellstore.engine.values import (
    MAX_DEPTH,
    AttributeValue,
    Item,
    add_numbers,
    subtract_numbers,
    type_of,
)
from cellstore.errors import INVALID_PARAMETERS, ValidationException


class Update:
    """A parsed, resolved update; ``apply`` may be called once per target item.

    ``mismatch`` is the message for an ADD/DELETE whose operand type does not
    fit the stored value: expressions and legacy AttributeUpdates word it differently.
    """

    __slots__ = ("actions", "mismatch")

    def __init__(
        self,
        actions: tuple[UpdateAction, ...],
        mismatch: str = messages.INCORRECT_DATA_TYPE,
    ) -> None:
        self.actions = actions
        self.mismatch = mismatch

    def top_level_names(self) -> set[str]:
        """Attributes the update writes, so the engine can refuse key attributes."""
        return {str(_target(action)[0]) for action in self.actions}

    def only_removes(self) -> bool:
        """Whether every action takes something away (REMOVE or DELETE), so a missing item stays missing."""
        return bool(self.actions) and all(isinstance(a, (RemoveAction, DeleteAction)) for a in self.actions)

    def paths(self) -> list[Path]:
        return [_target(action) for action in self.actions]

    def apply(self, item: Item) -> tuple[Item, list[Path]]:
        """The updated item and the paths written, in the order written."""
        computed = [
            _compute(action.value, item) if isinstance(action, SetAction) else None
            for action in self.actions
        ]
        new: Item = dict(item)
        written: dict[int, Path] = {}  # by position in the expression
        removes: list[Path] = []
        for position, (action, value) in sorted(enumerate(zip(self.actions, computed, strict=True)), key=_application_order):
            target = _target(action)
            if isinstance(action, SetAction):
                if value is None:  # pragma: no cover - _compute never returns None
                    raise ValidationException(messages.MISSING_ATTRIBUTE)
                if len(target) > 1 and len(target) - 1 + _depth(value) > MAX_DEPTH:
                    raise ValidationException(NESTING_EXCEEDED)
                written[position] = _set_path(new, target, value)
            elif isinstance(action, RemoveAction):
                removes.append(target)
                written[position] = target
            elif isinstance(action, AddAction):
                self._add(new, target, _literal_value(action.value))
                written[position] = target
            else:
                self._delete(new, target, _literal_value(action.value))
                written[position] = target
        touched = [written[position] for position in sorted(written)]
        for target in sorted(removes, key=_removal_order):
            _remove_path(new, target)
        return new, touched

    def _add(self, item: Item, target: Path, operand: AttributeValue) -> None:
        current = get_path(item, target)
        kind = type_of(operand)
        if current is None:
            _set_path(item, target, operand)
            return
        if type_of(current) != kind:
            raise ValidationException(self.mismatch)
        if kind == "N":
            _set_path(item, target, {"N": add_numbers(current["N"], operand["N"])})
            return
        if kind == "L":  # legacy AttributeUpdates only: the expression grammar refuses ADD of a list
            _set_path(item, target, {"L": current["L"] + operand["L"]})
            return
        existing = current[kind]
        present = set(existing)
        merged = existing + [m for m in operand[kind] if m not in present]
        _set_path(item, target, {kind: merged})

    def _delete(self, item: Item, target: Path, operand: AttributeValue) -> None:
        current = get_path(item, target)
        if current is None:
            return
        kind = type_of(operand)
        if type_of(current) != kind:
            raise ValidationException(self.mismatch)
        gone = set(operand[kind])
        left = [m for m in current[kind] if m not in gone]
        if left:
            _set_path(item, target, {kind: left})
        else:
            _remove_path(item, target)


def parse_update(text: str, ctx: ExpressionContext) -> Update:
    """Parse (cached) and resolve an UpdateExpression, checking path overlaps."""
    tree = parse_update_tree(text)
    resolver = Resolver(ctx, "UpdateExpression")
    actions = tuple(resolver.action(action) for action in tree.actions)
    check_paths([_target(action) for action in actions], "UpdateExpression")
    return Update(actions)


def _target(action: UpdateAction) -> Path:
    target = action.target
    if not isinstance(target, Attr):  # pragma: no cover - resolved trees only
        raise TypeError(target)
    return target.path


def _literal_value(operand: Operand) -> AttributeValue:
    if not isinstance(operand, Literal):  # pragma: no cover - resolved trees only
        raise TypeError(operand)
    return operand.value


def _application_order(
    entry: tuple[int, tuple[UpdateAction, AttributeValue | None]],
) -> tuple[int, tuple[tuple[int, Any], ...]]:
    """SETs first, in ascending path order, then the other actions in the order written.

    Paths never overlap (``check_paths``), so the order only shows when
    several SETs name indexes past the end of the same list: each appends,
    and DynamoDB appends them in ascending index order whatever order they
    were written in (``SET l[9] = :a, l[5] = :b`` on a two-element list
    gives ``[x, y, b, a]``).  AWS documents only that an index past the end
    appends; the ordering is what DynamoDB is observed to do.  ``sorted`` is
    stable, so everything else keeps the order written.
    """
    action = entry[1][0]
    if isinstance(action, SetAction):
        return 0, tuple((1, step) if isinstance(step, int) else (0, step) for step in _target(action))
    return 1, ()


def _removal_order(path: Path) -> tuple[tuple[int, Any], ...]:
    """Sort key putting higher list indexes first, so removals keep original positions."""
    return tuple((1, -step) if isinstance(step, int) else (0, step) for step in path)


def _compute(operand: Operand, item: Item) -> AttributeValue:
    """The value of a SET right-hand side, read from the original item."""
    if isinstance(operand, Literal):
        return operand.value
    if isinstance(operand, Attr):
        value = get_path(item, operand.path)
        if value is None:
            raise ValidationException(messages.MISSING_ATTRIBUTE)
        return value
    if isinstance(operand, Arith):
        left, right = _compute(operand.left, item), _compute(operand.right, item)
        if type_of(left) != "N" or type_of(right) != "N":
            raise ValidationException(messages.INCORRECT_DATA_TYPE)
        if operand.op == "+":
            return {"N": add_numbers(left["N"], right["N"])}
        return {"N": subtract_numbers(left["N"], right["N"])}
    if isinstance(operand, Call):
        if operand.name == "if_not_exists":
            first = operand.args[0]
            if isinstance(first, Attr):
                existing = get_path(item, first.path)
                if existing is not None:
                    return existing
            return _compute(operand.args[1], item)
        if operand.name == "list_append":
            left, right = _compute(operand.args[0], item), _compute(operand.args[1], item)
            if type_of(left) != "L" or type_of(right) != "L":
                raise ValidationException(messages.INCORRECT_DATA_TYPE)
            return {"L": left["L"] + right["L"]}
    raise ValidationException(messages.INCORRECT_DATA_TYPE)  # pragma: no cover


#: What DynamoDB says of a value nested past its 32 levels (as ``values.validate_value`` does).
NESTING_EXCEEDED = INVALID_PARAMETERS + "Nesting Levels have exceeded supported limits"


def _depth(value: AttributeValue) -> int:
    """Levels of ``value`` (a scalar is 1, ``{"L": [scalar]}`` is 2), found without recursion.

    Only a SET into a nested path can make an item deeper than its values:
    every value was at most ``MAX_DEPTH`` deep when it arrived, but written
    ``n`` levels down it sits ``n`` levels deeper.
    """
    deepest = 0
    stack: list[tuple[AttributeValue, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if "M" in current:
            stack.extend((child, depth + 1) for child in current["M"].values())
        elif "L" in current:
            stack.extend((child, depth + 1) for child in current["L"])
    return deepest


def _set_path(item: Item, path: Path, value: AttributeValue) -> Path:
    """Write ``value`` at ``path`` copy-on-write; returns the path actually written.

    The parent must already exist and be a map (for a name) or a list (for an
    index); an index past the end of a list appends, so the written path may
    differ from the requested one.
    """
    name = path[0]
    if not isinstance(name, str):  # pragma: no cover - the grammar starts paths with a name
        raise ValidationException(messages.INVALID_UPDATE_PATH)
    if len(path) == 1:
        item[name] = value
        return path
    current = item.get(name)
    if current is None:
        raise ValidationException(messages.INVALID_UPDATE_PATH)
    written: list[str | int] = [name]
    item[name] = _set_inside(current, path[1:], value, written)
    return tuple(written)


def _set_inside(
    container: AttributeValue, rest: Path, value: AttributeValue, written: list[str | int]
) -> AttributeValue:
    step = rest[0]
    if isinstance(step, str):
        children = container.get("M")
        if children is None:
            raise ValidationException(messages.INVALID_UPDATE_PATH)
        copy = dict(children)
        written.append(step)
        if len(rest) == 1:
            copy[step] = value
        else:
            child = copy.get(step)
            if child is None:
                raise ValidationException(messages.INVALID_UPDATE_PATH)
            copy[step] = _set_inside(child, rest[1:], value, written)
        return {"M": copy}
    elements = container.get("L")
    if elements is None:
        raise ValidationException(messages.INVALID_UPDATE_PATH)
    items = list(elements)
    if len(rest) == 1:
        if step >= len(items):
            written.append(len(items))
            items.append(value)
        else:
            written.append(step)
            items[step] = value
    else:
        if step >= len(items):
            raise ValidationException(messages.INVALID_UPDATE_PATH)
        written.append(step)
        items[step] = _set_inside(items[step], rest[1:], value, written)
    return {"L": items}


def _remove_path(item: Item, path: Path) -> None:
    """Remove the value at ``path`` copy-on-write; missing paths are a no-op.

    A step through a value of the wrong kind (``a.b`` where ``a`` is a string)
    is DynamoDB's "invalid for update" error.
    """
    name = path[0]
    if not isinstance(name, str):  # pragma: no cover
        return
    if len(path) == 1:
        item.pop(name, None)
        return
    current = item.get(name)
    if current is None:
        return
    replaced = _remove_inside(current, path[1:])
    if replaced is not None:
        item[name] = replaced


def _remove_inside(container: AttributeValue, rest: Path) -> AttributeValue | None:
    step = rest[0]
    if isinstance(step, str):
        children = container.get("M")
        if children is None:
            raise ValidationException(messages.INVALID_UPDATE_PATH)
        if step not in children:
            return None
        copy = dict(children)
        if len(rest) == 1:
            del copy[step]
        else:
            replaced = _remove_inside(copy[step], rest[1:])
            if replaced is None:
                return None
            copy[step] = replaced
        return {"M": copy}
    elements = container.get("L")
    if elements is None:
        raise ValidationException(messages.INVALID_UPDATE_PATH)
    if step >= len(elements):
        return None
    items = list(elements)
    if len(rest) == 1:
        del items[step]
    else:
        replaced = _remove_inside(items[step], rest[1:])
        if replaced is None:
            return None
        items[step] = replaced
    return {"L": items}
