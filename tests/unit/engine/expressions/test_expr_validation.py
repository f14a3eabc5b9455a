"""Expression checks DynamoDB makes before reading any item (issue 21, item 4).

Each is a ValidationException raised while the expression is parsed and
resolved, so it fires whatever the item holds (or whether there is one).
"""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_condition
from cellstore.engine.values import validate_value
from cellstore.errors import ValidationException

VALUES: dict[str, Any] = {
    ":n": {"N": "1"},
    ":s": {"S": "abc"},
    ":l": {"L": []},
    ":m": {"M": {}},
    ":ss": {"SS": ["a"]},
    ":b": {"BOOL": True},
    ":null": {"NULL": True},
    ":t": {"S": "S"},
}
OPERAND = "Invalid ConditionExpression: Incorrect operand type for operator or function; "


def condition_error(text: str, **values: Any) -> str:
    with pytest.raises(ValidationException) as caught:
        parse_condition(text, ExpressionContext(None, values or None))
    return caught.value.message


def evaluate(text: str, item: dict[str, Any], **values: Any) -> bool:
    return parse_condition(text, ExpressionContext(None, values or None)).evaluate(item)


@pytest.mark.parametrize(
    ("text", "placeholder", "shown"),
    [
        ("a < :v", ":l", "<, operand type: L"),
        ("a <= :v", ":m", "<=, operand type: M"),
        (":v > a", ":ss", ">, operand type: SS"),
        ("a >= :v", ":b", ">=, operand type: BOOL"),
        ("a BETWEEN :v AND :v", ":null", "BETWEEN, operand type: NULL"),
    ],
)
def test_ordering_a_non_comparable_constant(text: str, placeholder: str, shown: str) -> None:
    message = condition_error(text, **{":v": VALUES[placeholder]})
    assert message == OPERAND + "operator or function: " + shown


def test_ordering_a_path_to_a_non_comparable_value_is_simply_false() -> None:
    assert evaluate("a < b", {"a": {"L": []}, "b": {"L": []}}) is False
    assert evaluate("a = :v", {"a": {"L": []}}, **{":v": {"L": []}}) is True  # equality takes any type


def test_contains_the_same_path_twice() -> None:
    assert condition_error("contains(a, a)") == (
        "Invalid ConditionExpression: The first operand must be distinct from the remaining operands "
        "for this operator or function; operator: contains, first operand: [a]"
    )


def test_attribute_type_with_a_path_for_its_type() -> None:
    assert condition_error("attribute_type(a, b)") == OPERAND + "operator or function: attribute_type, operand type: PATH"


def test_size_and_attribute_type_of_a_value_are_accepted() -> None:
    values = {":v": validate_value({"S": "abc"}), ":n": {"N": "2"}, ":t": {"S": "S"}}
    assert evaluate("size(:v) > :n", {}, **{":v": values[":v"], ":n": values[":n"]}) is True
    assert evaluate("attribute_type(:v, :t)", {}, **{":v": values[":v"], ":t": values[":t"]}) is True


def test_size_of_a_number_value_is_refused() -> None:
    assert condition_error("size(:v) > :n", **{":v": {"N": "5"}, ":n": {"N": "1"}}) == (
        OPERAND + "operator or function: size, operand type: N"
    )


def test_a_bare_name_may_not_start_with_an_underscore() -> None:
    assert condition_error("_x = :n", **{":n": {"N": "1"}}) == (
        'Invalid ConditionExpression: Syntax error; token: "_", near: "_x"'
    )


def test_top_level_names_of_a_condition() -> None:
    condition = parse_condition(
        "a.b = :n AND (NOT contains(c[1], :n) OR size(d) BETWEEN :n AND :n) AND e IN (:n, f)",
        ExpressionContext(None, {":n": {"N": "1"}}),
    )
    assert condition.top_level_names() == {"a", "c", "d", "e", "f"}
