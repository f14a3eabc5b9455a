"""Property tests: the expression pipeline against a deliberately plain reference evaluator.

Random items and random condition trees are generated here as small Python
tuples, rendered to expression text, parsed and evaluated by cellstore, and
evaluated independently by ``reference`` below, which shares no code with the
pipeline (it decodes numbers with Decimal and binaries with base64 itself).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cellstore.engine.expressions import (
    ExpressionContext,
    parse_condition,
    parse_projection,
    parse_update,
)

NAMES = ["a", "b", "c", "m", "l"]
TYPE_NAMES = ["S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"]

# --- values ------------------------------------------------------------------------

strings = st.text(alphabet="abcé", max_size=4)
numbers = st.builds(
    lambda whole, half: f"{whole}.5" if half and whole >= 0 else str(whole),
    st.integers(-20, 20),
    st.booleans(),
)
binaries = st.binary(max_size=3).map(lambda raw: base64.b64encode(raw).decode())
scalars = st.one_of(
    strings.map(lambda s: {"S": s}),
    numbers.map(lambda n: {"N": n}),
    binaries.map(lambda b: {"B": b}),
    st.booleans().map(lambda v: {"BOOL": v}),
    st.just({"NULL": True}),
)
sets = st.one_of(
    st.lists(strings, min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
    st.lists(numbers, min_size=1, max_size=3, unique=True).map(lambda v: {"NS": v}),
    st.lists(binaries, min_size=1, max_size=3, unique=True).map(lambda v: {"BS": v}),
)
values = st.recursive(
    st.one_of(scalars, sets),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(st.sampled_from(["k", "j"]), inner, max_size=2).map(lambda v: {"M": v}),
    ),
    max_leaves=6,
)
items = st.dictionaries(st.sampled_from(NAMES), values, max_size=5)

# --- reference evaluator --------------------------------------------------------------


def ref_get(item: dict[str, Any], path: tuple[Any, ...]) -> Any:
    current: Any = {"M": item}
    for step in path:
        if isinstance(step, str):
            if "M" not in current or step not in current["M"]:
                return None
            current = current["M"][step]
        else:
            if "L" not in current or step >= len(current["L"]):
                return None
            current = current["L"][step]
    return current


def ref_key(value: dict[str, Any]) -> Any:
    (kind, raw), = value.items()
    if kind == "N":
        return Decimal(raw)
    if kind == "B":
        return base64.b64decode(raw)
    if kind == "S":
        return raw.encode("utf-8")
    return raw


def ref_equal(x: Any, y: Any) -> bool:
    if x is None or y is None:
        return False
    (kx, rx), = x.items()
    (ky, ry), = y.items()
    if kx != ky:
        return False
    if kx in ("S", "N", "B"):
        return bool(ref_key(x) == ref_key(y))
    if kx == "NS":
        return {Decimal(v) for v in rx} == {Decimal(v) for v in ry}
    if kx in ("SS", "BS"):
        return set(rx) == set(ry)
    if kx == "L":
        return len(rx) == len(ry) and all(ref_equal(p, q) for p, q in zip(rx, ry, strict=True))
    if kx == "M":
        return set(rx) == set(ry) and all(ref_equal(rx[k], ry[k]) for k in rx)
    return bool(rx == ry)


def ref_order(x: Any, y: Any) -> int | None:
    if x is None or y is None:
        return None
    kx, ky = next(iter(x)), next(iter(y))
    if kx != ky or kx not in ("S", "N", "B"):
        return None
    a, b = ref_key(x), ref_key(y)
    return -1 if a < b else (1 if a > b else 0)


def ref_size(value: Any) -> Any:
    if value is None:
        return None
    (kind, raw), = value.items()
    if kind == "S":
        return {"N": str(len(raw.encode("utf-8")))}
    if kind == "B":
        return {"N": str(len(base64.b64decode(raw)))}
    if kind in ("SS", "NS", "BS", "L", "M"):
        return {"N": str(len(raw))}
    return None


def ref_operand(node: tuple[Any, ...], item: dict[str, Any], vals: dict[str, Any]) -> Any:
    if node[0] == "path":
        return ref_get(item, node[1])
    if node[0] == "size":
        return ref_size(ref_get(item, node[1]))
    return vals[node[1]]


def reference(node: tuple[Any, ...], item: dict[str, Any], vals: dict[str, Any]) -> bool:
    tag = node[0]
    if tag == "and":
        return reference(node[1], item, vals) and reference(node[2], item, vals)
    if tag == "or":
        return reference(node[1], item, vals) or reference(node[2], item, vals)
    if tag == "not":
        return not reference(node[1], item, vals)
    if tag == "cmp":
        op, x, y = node[1], ref_operand(node[2], item, vals), ref_operand(node[3], item, vals)
        if op == "=":
            return ref_equal(x, y)
        if op == "<>":
            return not ref_equal(x, y)
        order = ref_order(x, y)
        if order is None:
            return False
        return {"<": order < 0, "<=": order <= 0, ">": order > 0, ">=": order >= 0}[op]
    if tag == "between":
        x = ref_operand(node[1], item, vals)
        low, high = ref_order(x, vals[node[2]]), ref_order(x, vals[node[3]])
        return low is not None and high is not None and low >= 0 and high <= 0
    if tag == "in":
        x = ref_operand(node[1], item, vals)
        return any(ref_equal(x, vals[v]) for v in node[2])
    if tag == "exists":
        return ref_get(item, node[1]) is not None
    if tag == "not_exists":
        return ref_get(item, node[1]) is None
    if tag == "type":
        x = ref_get(item, node[1])
        return x is not None and next(iter(x)) == node[2]
    if tag == "begins":
        x, prefix = ref_get(item, node[1]), vals[node[2]]
        if x is None or next(iter(x)) != next(iter(prefix)):
            return False
        return bool(ref_key(x).startswith(ref_key(prefix)))  # S keys are UTF-8 bytes
    if tag == "contains":
        x, y = ref_get(item, node[1]), vals[node[2]]
        if x is None:
            return False
        (kx, rx), = x.items()
        ky = next(iter(y))
        if kx in ("S", "B") and ky == kx:
            return bool(ref_key(y) in ref_key(x))
        if (kx, ky) in (("SS", "S"), ("NS", "N"), ("BS", "B")):
            return any(ref_equal({ky: member}, y) for member in rx)
        if kx == "L":
            return any(ref_equal(element, y) for element in rx)
        return False
    raise AssertionError(node)


# --- random condition trees, rendered to text ------------------------------------------

paths = st.one_of(
    st.sampled_from(NAMES).map(lambda n: (n,)),
    st.tuples(st.just("m"), st.sampled_from(["k", "j"])),
    st.tuples(st.just("l"), st.integers(0, 2)),
    st.tuples(st.just("l"), st.integers(0, 1), st.sampled_from(["k", "j"])),
)


class Builder:
    """Collects placeholder values while a tree is drawn, so the text can refer to them."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.vals: dict[str, Any] = {}
        self.names: dict[str, str] = {}

    def value(self, strategy: Any = values) -> str:
        key = f":v{len(self.vals)}"
        self.vals[key] = self.draw(strategy)
        return key

    def path_text(self, path: tuple[Any, ...]) -> str:
        text = ""
        for step in path:
            if isinstance(step, int):
                text += f"[{step}]"
            else:
                if self.draw(st.booleans()):
                    key = f"#n{len(self.names)}"
                    self.names[key] = step
                    step = key
                text += ("." if text else "") + step
        return text


@st.composite
def conditions(draw: Any) -> tuple[tuple[Any, ...], str, dict[str, Any], dict[str, str]]:
    builder = Builder(draw)

    def operand(avoid: tuple[Any, ...] | None = None, ordered: bool = False) -> tuple[tuple[Any, ...], str]:
        choice = draw(st.sampled_from(["path", "size", "value"]))
        path = draw(paths)
        if choice == "value" or path == avoid:  # DynamoDB refuses ``a = a``
            # An ordering comparison takes only S, N or B constants (others are refused at parse time).
            key = builder.value(scalars.filter(lambda v: next(iter(v)) in ("S", "N", "B"))) if ordered else builder.value()
            return ("value", key), key
        text = builder.path_text(path)
        return ((choice, path), f"size({text})" if choice == "size" else text)

    def leaf() -> tuple[tuple[Any, ...], str]:
        kind = draw(
            st.sampled_from(
                ["cmp", "between", "in", "exists", "not_exists", "type", "begins", "contains"]
            )
        )
        path = draw(paths)
        if kind == "cmp":
            op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
            ordered = op not in ("=", "<>")
            left, ltext = operand(ordered=ordered)
            right, rtext = operand(avoid=left[1] if left[0] != "value" else None, ordered=ordered)
            return ("cmp", op, left, right), f"{ltext} {op} {rtext}"
        text = builder.path_text(path)
        if kind == "between":
            low_value = draw(st.one_of(scalars, sets).filter(lambda v: next(iter(v)) in "SNB"))
            high_value = draw(
                scalars.filter(lambda v: next(iter(v)) == next(iter(low_value)))
            )
            if ref_order(low_value, high_value) == 1:
                low_value, high_value = high_value, low_value
            low, high = builder.value(st.just(low_value)), builder.value(st.just(high_value))
            return ("between", ("path", path), low, high), f"{text} BETWEEN {low} AND {high}"
        if kind == "in":
            keys = [builder.value() for _ in range(draw(st.integers(1, 4)))]
            return ("in", ("path", path), keys), f"{text} IN ({', '.join(keys)})"
        if kind == "exists":
            return ("exists", path), f"attribute_exists({text})"
        if kind == "not_exists":
            return ("not_exists", path), f"attribute_not_exists({text})"
        if kind == "type":
            type_name = draw(st.sampled_from(TYPE_NAMES))
            key = builder.value(st.just({"S": type_name}))
            return ("type", path, type_name), f"attribute_type({text}, {key})"
        if kind == "begins":
            key = builder.value(
                st.one_of(strings.map(lambda s: {"S": s}), binaries.map(lambda b: {"B": b}))
            )
            return ("begins", path, key), f"begins_with({text}, {key})"
        key = builder.value()
        return ("contains", path, key), f"contains({text}, {key})"

    def tree(depth: int) -> tuple[tuple[Any, ...], str]:
        if depth == 0 or draw(st.booleans()):
            return leaf()
        kind = draw(st.sampled_from(["and", "or", "not"]))
        if kind == "not":
            inner, text = tree(depth - 1)
            return ("not", inner), f"NOT ({text})"
        (left, ltext), (right, rtext) = tree(depth - 1), tree(depth - 1)
        word = kind.upper()
        # Parenthesise only when needed or at random, never twice around one group.
        return (kind, left, right), f"({ltext}) {word} ({rtext})"

    node, text = tree(3)
    return node, text, builder.vals, builder.names


@settings(max_examples=400, deadline=None)
@given(items, conditions())
def test_condition_matches_reference(item: dict[str, Any], drawn: Any) -> None:
    node, text, vals, names = drawn
    ctx = ExpressionContext(names or None, vals or None)
    condition = parse_condition(text, ctx, "FilterExpression")
    ctx.check_unused()
    assert condition.evaluate(item) is reference(node, item, vals), text


@settings(max_examples=150, deadline=None)
@given(items, st.sampled_from(NAMES), values)
def test_set_then_project_returns_the_value(item: dict[str, Any], name: str, value: Any) -> None:
    ctx = ExpressionContext({"#t": name}, {":v": value})
    new, paths = parse_update("SET #t = :v", ctx).apply(item)
    assert paths == [(name,)]
    projection = parse_projection("#t", ExpressionContext({"#t": name}, None))
    assert projection.apply(new) == {name: value}
    assert {k: v for k, v in new.items() if k != name} == {
        k: v for k, v in item.items() if k != name
    }


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.none(), numbers), numbers)
def test_add_numbers_equals_decimal_sum(start: str | None, delta: str) -> None:
    item = {} if start is None else {"n": {"N": start}}
    new, _ = parse_update("ADD n :d", ExpressionContext(None, {":d": {"N": delta}})).apply(item)
    expected = Decimal(start or "0") + Decimal(delta)
    assert Decimal(new["n"]["N"]) == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True), st.integers(0, 7))
def test_remove_list_indexes_matches_plain_deletion(indexes: list[int], length: int) -> None:
    original = [{"N": str(i)} for i in range(length)]
    text = "REMOVE " + ", ".join(f"l[{i}]" for i in indexes)
    new, _ = parse_update(text, ExpressionContext(None, None)).apply({"l": {"L": original}})
    expected = [v for i, v in enumerate(original) if i not in indexes]
    assert new["l"]["L"] == expected
