"""``api/partiql/parser.py``: PartiQL text (and its ? parameters) into the engine's resolved trees."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellstore.api.partiql.parser import (
    Delete,
    Exists,
    Insert,
    Select,
    Update,
    parse,
    tokenize,
    verb_and_table,
)
from cellstore.engine.expressions import Condition
from cellstore.engine.expressions.ast import (
    AddAction,
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
    Not,
    Or,
    RemoveAction,
    SetAction,
)
from cellstore.errors import ValidationException

MALFORMED = "Statement wasn't well formed, can't be processed: "


def values(node: Any) -> Any:
    """A tree with each Literal replaced by its value (Literal compares by identity)."""
    if isinstance(node, Literal):
        return ("literal", node.value)
    if isinstance(node, tuple):
        return tuple(values(n) for n in node)
    if hasattr(node, "__slots__") and not isinstance(node, Attr):
        return (type(node).__name__, *(values(getattr(node, s)) for s in node.__slots__))
    return node


def lit(value: Any) -> tuple[str, Any]:
    return ("literal", value)


def test_select_star_with_quoted_table_and_index() -> None:
    statement = parse('SELECT * FROM "Music"."by-year"')
    assert statement == Select("Music", "by-year", None, None)


def test_select_projection_paths() -> None:
    statement = parse('select a, b.c[2], "d e"[\'k\'] from t')
    assert isinstance(statement, Select)
    assert statement.projection == (("a",), ("b", "c", 2), ("d e", "k"))


def test_where_precedence_and_or_not() -> None:
    statement = parse("SELECT * FROM t WHERE a = 1 OR NOT b = 2 AND c <> 'x'")
    assert isinstance(statement, Select)
    assert values(statement.where) == values(
        Or(Compare("=", Attr(("a",)), Literal({"N": "1"})),
           And(Not(Compare("=", Attr(("b",)), Literal({"N": "2"}))), Compare("<>", Attr(("c",)), Literal({"S": "x"}))))
    )


def test_predicates_and_functions() -> None:
    where = parse(
        "SELECT * FROM t WHERE a BETWEEN 1 AND 5 AND b IN [1, 'x'] AND c IS MISSING AND d IS NOT NULL "
        "AND begins_with(e, 'p') AND contains(f.g, ?) AND attribute_type(h, 'N') AND size(i) >= 2 AND j != ?",
        [{"S": "q"}, {"BOOL": True}],
    )
    assert isinstance(where, Select)
    assert values(where.where) == values(
        And(And(And(And(And(And(And(And(
            Between(Attr(("a",)), Literal({"N": "1"}), Literal({"N": "5"})),
            In(Attr(("b",)), (Literal({"N": "1"}), Literal({"S": "x"})))),
            FunctionCondition(Call("attribute_not_exists", (Attr(("c",)),)))),
            Not(FunctionCondition(Call("attribute_type", (Attr(("d",)), Literal({"S": "NULL"})))))),
            FunctionCondition(Call("begins_with", (Attr(("e",)), Literal({"S": "p"}))))),
            FunctionCondition(Call("contains", (Attr(("f", "g")), Literal({"S": "q"}))))),
            FunctionCondition(Call("attribute_type", (Attr(("h",)), Literal({"S": "N"}))))),
            Compare(">=", Call("size", (Attr(("i",)),)), Literal({"N": "2"}))),
            Compare("<>", Attr(("j",)), Literal({"BOOL": True})))
    )


def test_where_evaluates_through_the_engine_condition() -> None:
    statement = parse("SELECT * FROM t WHERE a.b[1] > 2 AND NOT c IN (1, 2)")
    assert isinstance(statement, Select) and statement.where is not None
    condition = Condition(statement.where)
    assert condition.evaluate({"a": {"M": {"b": {"L": [{"N": "0"}, {"N": "3"}]}}}, "c": {"N": "5"}})
    assert not condition.evaluate({"a": {"M": {"b": {"L": [{"N": "0"}, {"N": "3"}]}}}, "c": {"N": "2"}})


def test_order_by() -> None:
    statement = parse("SELECT * FROM t WHERE pk = 1 ORDER BY sk DESC")
    assert isinstance(statement, Select)
    assert (statement.order_path, statement.descending) == (("sk",), True)


def test_insert_values() -> None:
    statement = parse(
        "INSERT INTO t VALUE {'pk': ?, 'n': -1.50, 'l': [TRUE, NULL], 'm': {'x': 'it''s'}, 's': <<2, 1>>, 'e': []}",
        [{"S": "k"}],
    )
    assert statement == Insert("t", {
        "pk": {"S": "k"}, "n": {"N": "-1.5"}, "l": {"L": [{"BOOL": True}, {"NULL": True}]},
        "m": {"M": {"x": {"S": "it's"}}}, "s": {"NS": ["2", "1"]}, "e": {"L": []},
    })


def test_update_actions_and_returning() -> None:
    statement = parse(
        "UPDATE t SET a = a + 1, b = list_append(b, [1]) SET c = set_add(c, <<'x'>>) "
        "SET d = set_delete(d, <<'y'>>) REMOVE e, f[0] WHERE pk = 'k' RETURNING MODIFIED NEW *"
    )
    assert isinstance(statement, Update)
    assert values(statement.actions) == values((
        SetAction(Attr(("a",)), Arith("+", Attr(("a",)), Literal({"N": "1"}))),
        SetAction(Attr(("b",)), Call("list_append", (Attr(("b",)), Literal({"L": [{"N": "1"}]})))),
        AddAction(Attr(("c",)), Literal({"SS": ["x"]})),
        DeleteAction(Attr(("d",)), Literal({"SS": ["y"]})),
        RemoveAction(Attr(("e",))),
        RemoveAction(Attr(("f", 0))),
    ))
    assert statement.returning == "UPDATED_NEW"


def test_delete_and_exists() -> None:
    statement = parse("DELETE FROM t WHERE pk = 1 RETURNING ALL OLD *")
    assert isinstance(statement, Delete) and statement.returning == "ALL_OLD"
    exists = parse('EXISTS(SELECT * FROM "t" WHERE pk = 1 AND a = 2)')
    assert isinstance(exists, Exists) and exists.select.table == "t"


@pytest.mark.parametrize(("text", "message"), [
    ("DROP TABLE t", MALFORMED + "Expected data manipulation"),
    ("", MALFORMED + "Expected data manipulation"),
    ("SELECT * FROM", MALFORMED + "Expected table name but found end of statement"),
    ("SELECT * FROM t WHERE", MALFORMED + "Expected a value but found end of statement"),
    ("SELECT * FROM t WHERE a", MALFORMED + "Expected a comparison but found end of statement"),
    ("SELECT * FROM t extra", MALFORMED + "Unexpected token 'extra' after the end of the statement"),
    ("SELECT * FROM t WHERE a = 'x", MALFORMED + "Unexpected character '''"),
    ("DELETE FROM t", MALFORMED + "Expected WHERE clause but found end of statement"),
    ("UPDATE t WHERE pk = 1", MALFORMED + "Expected SET or REMOVE but found 'WHERE'"),
    ("DELETE FROM t WHERE pk = 1 RETURNING ALL NEW *", MALFORMED + "Unsupported RETURNING clause"),
    ("INSERT INTO t VALUE 1", MALFORMED + "Expected a tuple ({...}) after VALUE but found '1'"),
    ("SELECT * FROM t WHERE pk = ?", "Number of parameters in request and statement don't match."),
])
def test_bad_statements(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse(text)
    assert caught.value.message == message


def test_too_many_parameters() -> None:
    with pytest.raises(ValidationException) as caught:
        parse("SELECT * FROM t", [{"S": "x"}])
    assert caught.value.message == "Number of parameters in request and statement don't match."


def test_a_bad_parameter_is_the_value_error() -> None:
    with pytest.raises(ValidationException):
        parse("SELECT * FROM t WHERE a = ?", [{"N": "not a number"}])


def test_mixed_sets_are_refused() -> None:
    with pytest.raises(ValidationException):
        parse("INSERT INTO t VALUE {'s': <<1, 'a'>>}")


@pytest.mark.parametrize(("text", "expected"), [
    ('SELECT a FROM "t"."i" WHERE x = ?', ("SELECT", "t", "i")),
    ("insert into t value {}", ("INSERT", "t", None)),
    ('UPDATE "a""b" SET x = 1', ("UPDATE", 'a"b', None)),
    ("DELETE FROM t WHERE pk = 1", ("DELETE", "t", None)),
    ("EXISTS(SELECT * FROM t WHERE pk = 1)", ("SELECT", "t", None)),
    ("GRANT ALL", ("", None, None)),
    ("SELECT 'unterminated", ("", None, None)),
])
def test_verb_and_table(text: str, expected: tuple[str, str | None, str | None]) -> None:
    assert verb_and_table(text) == expected


@given(st.text(max_size=80))
def test_any_text_parses_or_is_a_validation_error(text: str) -> None:
    """The parser is total: arbitrary text is a statement or a ValidationException, never a crash."""
    try:
        parse(text)
    except ValidationException:
        pass
    verb_and_table(text)


def test_tokens_keep_quoted_text() -> None:
    assert [t.text for t in tokenize("SELECT \"a b\" FROM t WHERE x<<1>>")][:3] == ["SELECT", '"a b"', "FROM"]


@pytest.mark.parametrize("text", [
    "SELECT * FROM t WHERE " + "(" * 500 + "a = 1" + ")" * 500,
    "SELECT * FROM t WHERE " + "NOT " * 500 + "a = 1",
    "INSERT INTO t VALUE {'a': " + "[" * 500 + "]" * 500 + "}",
    "UPDATE t SET a = " + "list_append(" * 500 + "a" + ", b)" * 500 + " WHERE pk = 1",
])
def test_deep_nesting_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse(text)
    assert caught.value.message == MALFORMED + "Nesting exceeds 100 levels"


def test_an_inserted_item_is_checked_as_put_items_are() -> None:
    with pytest.raises(ValidationException):
        parse("INSERT INTO t VALUE {'a': " + "[" * 40 + "]" * 40 + "}")
