"""A PartiQL WHERE means what the same ConditionExpression means: both are written from one random tree
and evaluated, by the engine's one ``Condition``, on random items; they must agree on every item."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cellstore.api.partiql.parser import Select, parse
from cellstore.engine.expressions import Condition, ExpressionContext, parse_condition

NAMES = ("a", "b", "c")
NUMBERS = st.integers(min_value=-5, max_value=5)
STRINGS = st.sampled_from(["", "x", "xy", "y"])
SCALARS = st.one_of(NUMBERS.map(lambda n: ("N", str(n))), STRINGS.map(lambda s: ("S", s)))


def item_values() -> st.SearchStrategy[dict[str, Any]]:
    scalar = SCALARS.map(lambda kv: {kv[0]: kv[1]})
    value = st.one_of(scalar, st.lists(scalar, max_size=3).map(lambda xs: {"L": xs}), st.just({"NULL": True}))
    return st.dictionaries(st.sampled_from(NAMES), value, max_size=3)


class Both:
    """One condition written twice: PartiQL text, and a ConditionExpression with its values."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def value(self, kv: tuple[str, str]) -> tuple[str, str]:
        kind, text = kv
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = {kind: text}
        literal = text if kind == "N" else "'" + text.replace("'", "''") + "'"
        return literal, placeholder


@st.composite
def condition(draw: Any, both: Both, depth: int = 0) -> tuple[str, str]:
    choices = ["compare", "between", "in", "begins", "contains", "type", "size", "missing"]
    if depth < 3:
        choices += ["and", "or", "not"]
    kind = draw(st.sampled_from(choices))
    name = draw(st.sampled_from(NAMES))
    if kind in ("and", "or"):
        left, right = draw(condition(both, depth + 1)), draw(condition(both, depth + 1))
        word = kind.upper()
        return f"({left[0]} {word} {right[0]})", f"({left[1]} {word} {right[1]})"
    if kind == "not":
        inner = draw(condition(both, depth + 1))
        return f"NOT {inner[0]}", f"NOT {inner[1]}"
    if kind == "compare":
        op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">="]))
        literal, placeholder = both.value(draw(SCALARS))
        return f"{name} {op} {literal}", f"{name} {op} {placeholder}"
    if kind == "between":
        low, high = sorted(draw(st.lists(NUMBERS, min_size=2, max_size=2)))
        (l1, p1), (l2, p2) = both.value(("N", str(low))), both.value(("N", str(high)))
        return f"{name} BETWEEN {l1} AND {l2}", f"{name} BETWEEN {p1} AND {p2}"
    if kind == "in":
        options = [both.value(kv) for kv in draw(st.lists(SCALARS, min_size=1, max_size=3))]
        return (f"{name} IN [{', '.join(o[0] for o in options)}]", f"{name} IN ({', '.join(o[1] for o in options)})")
    if kind == "begins":
        literal, placeholder = both.value(("S", draw(STRINGS)))
        return f"begins_with({name}, {literal})", f"begins_with({name}, {placeholder})"
    if kind == "contains":
        literal, placeholder = both.value(draw(SCALARS))
        return f"contains({name}, {literal})", f"contains({name}, {placeholder})"
    if kind == "type":
        literal, placeholder = both.value(("S", draw(st.sampled_from(["N", "S", "L", "NULL"]))))
        return f"attribute_type({name}, {literal})", f"attribute_type({name}, {placeholder})"
    if kind == "size":
        literal, placeholder = both.value(("N", str(draw(st.integers(0, 3)))))
        return f"size({name}) >= {literal}", f"size({name}) >= {placeholder}"
    return f"{name} IS MISSING", f"attribute_not_exists({name})"


@settings(max_examples=300, deadline=None)
@given(data=st.data(), items=st.lists(item_values(), min_size=1, max_size=8))
def test_where_agrees_with_the_condition_expression(data: Any, items: list[dict[str, Any]]) -> None:
    both = Both()
    partiql, expression = data.draw(condition(both))
    statement = parse(f"SELECT * FROM tab WHERE {partiql}")
    assert isinstance(statement, Select) and statement.where is not None
    where = Condition(statement.where)
    reference = parse_condition(expression, ExpressionContext(None, both.values or None))
    for item in items:
        assert where.evaluate(item) == reference.evaluate(item), (partiql, expression, item)
