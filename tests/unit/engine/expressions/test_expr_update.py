"""Update application: SET/REMOVE/ADD/DELETE semantics and apply-time errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_update
from cellstore.errors import ValidationException

VALUES: dict[str, Any] = {
    ":s": {"S": "new"},
    ":n": {"N": "5"},
    ":neg": {"N": "-7.5"},
    ":l": {"L": [{"S": "z"}]},
    ":ss": {"SS": ["b", "c"]},
    ":ns": {"NS": ["1"]},
    ":m": {"M": {"k": {"S": "v"}}},
}


def run(text: str, item: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    ctx = ExpressionContext(None, dict(VALUES))
    before = copy.deepcopy(item)
    result = parse_update(text, ctx).apply(item)
    assert item == before, "apply must not mutate its input"
    return result


def apply_error(text: str, item: dict[str, Any]) -> str:
    with pytest.raises(ValidationException) as info:
        run(text, item)
    return info.value.message


def nums(*values: int) -> dict[str, Any]:
    return {"L": [{"N": str(v)} for v in values]}


def test_set_top_level_and_nested() -> None:
    item = {"m": {"M": {"a": {"N": "1"}}}}
    new, paths = run("SET x = :s, m.b = :n, m.a = :m", item)
    assert new == {
        "x": {"S": "new"},
        "m": {"M": {"a": {"M": {"k": {"S": "v"}}}, "b": {"N": "5"}}},
    }
    assert paths == [("x",), ("m", "b"), ("m", "a")]


def test_set_arithmetic_and_functions() -> None:
    item = {"n": {"N": "1.5"}, "l": nums(1)}
    new, _ = run(
        "SET a = n + :n, b = n - :neg, c = if_not_exists(absent, :n), d = if_not_exists(n, :n), "
        "l = list_append(l, :l), e = list_append(:l, l)",
        item,
    )
    assert new["a"] == {"N": "6.5"}
    assert new["b"] == {"N": "9"}
    assert new["c"] == {"N": "5"}
    assert new["d"] == {"N": "1.5"}
    assert new["l"] == {"L": [{"N": "1"}, {"S": "z"}]}
    assert new["e"] == {"L": [{"S": "z"}, {"N": "1"}]}


def test_set_right_hand_sides_read_the_original_item() -> None:
    new, _ = run("SET a = b, b = a", {"a": {"N": "1"}, "b": {"N": "2"}})
    assert new == {"a": {"N": "2"}, "b": {"N": "1"}}


def test_set_list_index_replaces_or_appends() -> None:
    new, paths = run("SET l[1] = :s, k[9] = :n", {"l": nums(0, 1, 2), "k": nums(0)})
    assert new["l"] == {"L": [{"N": "0"}, {"S": "new"}, {"N": "2"}]}
    assert new["k"] == nums(0, 5)
    assert paths == [("l", 1), ("k", 1)]


@pytest.mark.parametrize(
    ("text", "item", "message"),
    [
        ("SET a.b = :s", {}, "The document path provided in the update expression is invalid for update"),
        ("SET a.b = :s", {"a": {"S": "x"}}, "The document path provided in the update expression is invalid for update"),
        ("SET a[0] = :s", {"a": {"M": {}}}, "The document path provided in the update expression is invalid for update"),
        ("SET a[3].b = :s", {"a": nums(1)}, "The document path provided in the update expression is invalid for update"),
        ("SET a = b + :n", {}, "The provided expression refers to an attribute that does not exist in the item"),
        ("SET a = b + :n", {"b": {"S": "x"}}, "An operand in the update expression has an incorrect data type"),
        ("SET a = list_append(b, :l)", {"b": {"S": "x"}}, "An operand in the update expression has an incorrect data type"),
        ("ADD a :n", {"a": {"S": "x"}}, "An operand in the update expression has an incorrect data type"),
        ("ADD a :ss", {"a": {"NS": ["1"]}}, "An operand in the update expression has an incorrect data type"),
        ("DELETE a :ss", {"a": {"S": "x"}}, "An operand in the update expression has an incorrect data type"),
        ("ADD a.b :n", {}, "The document path provided in the update expression is invalid for update"),
    ],
)
def test_apply_time_errors(text: str, item: dict[str, Any], message: str) -> None:
    assert apply_error(text, item) == message


def test_remove_attributes_nested_and_missing() -> None:
    item = {"a": {"N": "1"}, "m": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}}
    new, paths = run("REMOVE a, m.x, absent, m.absent, nowhere.deep", item)
    assert new == {"m": {"M": {"y": {"N": "2"}}}}
    assert paths == [("a",), ("m", "x"), ("absent",), ("m", "absent"), ("nowhere", "deep")]


def test_remove_list_indexes_refer_to_the_original_list() -> None:
    new, _ = run("REMOVE l[0], l[2], l[9]", {"l": nums(0, 1, 2, 3)})
    assert new["l"] == nums(1, 3)
    new, _ = run("REMOVE l[1].x, l[0]", {"l": {"L": [{"N": "0"}, {"M": {"x": {"N": "1"}}}]}})
    assert new["l"] == {"L": [{"M": {}}]}


def test_add_numbers_and_sets() -> None:
    item = {"n": {"N": "0.1"}, "ss": {"SS": ["a", "b"]}}
    new, _ = run("ADD n :n, ss :ss, fresh :n, fresh_set :ns", item)
    assert new["n"] == {"N": "5.1"}
    assert new["ss"] == {"SS": ["a", "b", "c"]}
    assert new["fresh"] == {"N": "5"}
    assert new["fresh_set"] == {"NS": ["1"]}


def test_delete_from_sets() -> None:
    new, _ = run("DELETE ss :ss, absent :ss", {"ss": {"SS": ["a", "b"]}})
    assert new["ss"] == {"SS": ["a"]}
    assert "absent" not in new
    new, _ = run("DELETE ss :ss", {"ss": {"SS": ["b", "c"]}})
    assert new == {}


def test_all_clauses_together_in_any_order() -> None:
    new, paths = run(
        "REMOVE r ADD n :n SET s = :s DELETE ss :ss",
        {"r": {"N": "1"}, "n": {"N": "1"}, "ss": {"SS": ["a", "b"]}},
    )
    assert new == {"n": {"N": "6"}, "s": {"S": "new"}, "ss": {"SS": ["a"]}}
    assert paths == [("r",), ("n",), ("s",), ("ss",)]


def test_top_level_names() -> None:
    ctx = ExpressionContext({"#k": "pk"}, dict(VALUES))
    update = parse_update(
        "SET #k = :s, m.x = :n, a = :l, b = :m REMOVE r ADD n :n DELETE ss :ss, t :ns", ctx
    )
    assert update.top_level_names() == {"pk", "m", "a", "b", "r", "n", "ss", "t"}


def test_number_overflow_is_reported() -> None:
    big = "9" + "0" * 125
    ctx = ExpressionContext(None, {":big": {"N": big}})
    with pytest.raises(ValidationException) as info:
        parse_update("ADD n :big", ctx).apply({"n": {"N": big}})
    assert info.value.message == (
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )


def _nested(levels: int) -> dict[str, Any]:
    """An AttributeValue ``levels`` deep: ``_nested(1)`` is a scalar."""
    value: dict[str, Any] = {"S": "x"}
    for _ in range(levels - 1):
        value = {"L": [value]}
    return value


@pytest.mark.parametrize(("levels", "allowed"), [(31, True), (32, False)])
def test_set_into_a_nested_path_keeps_the_item_within_32_levels(levels: int, allowed: bool) -> None:
    """``a.b = :v`` puts :v two levels down: a 31-level value reaches level 32, a 32-level one would be 33."""
    update = parse_update("SET a.b = :v", ExpressionContext(None, {":v": _nested(levels)}))
    item = {"a": {"M": {}}}
    if allowed:
        new, _ = update.apply(item)
        assert new["a"]["M"]["b"] == _nested(levels)
    else:
        with pytest.raises(ValidationException) as info:
            update.apply(item)
        assert info.value.message == (
            "One or more parameter values were invalid: Nesting Levels have exceeded supported limits"
        )


@pytest.mark.parametrize(
    "text", ["SET a = list_append(list_append(a, :l), :l)", "SET a = list_append(:l, list_append(:l, a))"]
)
def test_list_append_nested_in_list_append_is_refused(text: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_update(text, ExpressionContext(None, dict(VALUES)))
    assert caught.value.message == (
        "Invalid UpdateExpression: The function is not allowed to be used this way in an expression; "
        "function: list_append"
    )


def test_if_not_exists_inside_list_append_is_allowed() -> None:
    result = run("SET a = list_append(if_not_exists(a, :l), :l)", {})
    assert result[0]["a"] == {"L": [{"S": "z"}, {"S": "z"}]}


def test_list_index_beyond_32_bits_is_a_syntax_error() -> None:
    with pytest.raises(ValidationException) as caught:
        parse_update("SET a[2147483648] = :s", ExpressionContext(None, dict(VALUES)))
    assert caught.value.message.startswith('Invalid UpdateExpression: Syntax error; token: "2147483648"')
    run("SET a[2147483647] = :s", {"a": {"L": []}})
