"""Document paths: the one type every expression kind uses to name a place in an item.

A path is a tuple of map keys (``str``) and list indexes (``int``), with every
``#placeholder`` already replaced by its real name: ``a.#n[2].c`` with
``{"#n": "b"}`` becomes ``("a", "b", 2, "c")``.  Keeping it a plain tuple lets
the engine hash it, compare it and store it in ReturnValues bookkeeping without
importing anything from the parser.

This module also holds the path operations shared by conditions, updates and
projections: reading a value, the overlap/conflict rule DynamoDB applies to
the paths of one update or projection, and projecting an item onto paths.
"""

from __future__ import annotations

from typing import Any

from cellstore.engine.values import AttributeValue, Item

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """A path as DynamoDB prints it in messages: ``[a, b, [2]]``."""
    parts = [f"[{p}]" if isinstance(p, int) else p for p in path]
    return "[" + ", ".join(parts) + "]"


def get_path(item: Item, path: Path) -> AttributeValue | None:
    """The value at ``path``, or None when any step is missing or of the wrong kind."""
    first = path[0]
    if not isinstance(first, str):
        return None
    value = item.get(first)
    for step in path[1:]:
        if value is None:
            return None
        if isinstance(step, str):
            children = value.get("M")
            value = children.get(step) if children is not None else None
        else:
            elements = value.get("L")
            value = elements[step] if elements is not None and step < len(elements) else None
    return value


def relation(one: Path, two: Path) -> str | None:
    """"overlap", "conflict" or None for two paths of the same update/projection.

    Two paths overlap when one is a prefix of the other (or they are equal):
    writing both would touch the same value twice.  They conflict when at the
    first step where they differ one treats the value as a map and the other
    as a list, so no item could satisfy both.
    """
    for a, b in zip(one, two, strict=False):
        if a == b and type(a) is type(b):
            continue
        if isinstance(a, int) != isinstance(b, int):
            return "conflict"
        return None
    return "overlap"


def check_paths(paths: list[Path], kind: str) -> None:
    """Raise DynamoDB's overlap/conflict error for the first offending pair."""
    from cellstore.engine.expressions.messages import invalid

    for i, second in enumerate(paths):
        for first in paths[:i]:
            found = relation(first, second)
            if found == "overlap":
                raise invalid(
                    kind,
                    "Two document paths overlap with each other; must remove or rewrite one "
                    f"of these paths; path one: {format_path(first)}, "
                    f"path two: {format_path(second)}",
                )
            if found == "conflict":
                raise invalid(
                    kind,
                    "Two document paths conflict with each other; must remove or rewrite one "
                    f"of these paths; path one: {format_path(first)}, "
                    f"path two: {format_path(second)}",
                )


def copy_value(value: AttributeValue) -> AttributeValue:
    """A deep copy of a wire value (cheaper than copy.deepcopy for this shape)."""
    kind, raw = next(iter(value.items()))
    if kind == "M":
        return {"M": {k: copy_value(v) for k, v in raw.items()}}
    if kind == "L":
        return {"L": [copy_value(v) for v in raw]}
    if kind in ("SS", "NS", "BS"):
        return {kind: list(raw)}
    return {kind: raw}


# A projection tree: each node maps a step to its subtree; _WHOLE marks "take all".
_WHOLE: dict[Any, Any] = {}


def _tree(paths: list[Path]) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    for path in paths:
        node = root
        for step in path[:-1]:
            child = node.get(step)
            if child is _WHOLE:
                break
            node = node.setdefault(step, {})
        else:
            node[path[-1]] = _WHOLE
    return root


def _project(value: AttributeValue, node: dict[Any, Any]) -> AttributeValue | None:
    if node is _WHOLE:
        return copy_value(value)
    if "M" in value:
        children = value["M"]
        result = {}
        for step, sub in node.items():
            if isinstance(step, str) and step in children:
                projected = _project(children[step], sub)
                if projected is not None:
                    result[step] = projected
        return {"M": result} if result else None
    if "L" in value:
        elements = value["L"]
        picked = []
        for step in sorted(s for s in node if isinstance(s, int)):
            if step < len(elements):
                projected = _project(elements[step], node[step])
                if projected is not None:
                    picked.append(projected)
        return {"L": picked} if picked else None
    return None


def project_paths(item: Item, paths: list[Path]) -> Item:
    """The parts of ``item`` named by ``paths``, shaped as DynamoDB returns them.

    Nested maps keep only the requested keys; requested list elements are
    returned in index order as a shorter list (``a[3], a[1]`` gives the list
    ``[a[1], a[3]]``); paths that lead nowhere are left out.  The result is a
    deep copy so callers may change it freely.
    """
    result: Item = {}
    for name, node in _tree(paths).items():
        if not isinstance(name, str) or name not in item:
            continue
        projected = _project(item[name], node)
        if projected is not None:
            result[name] = projected
    return result
