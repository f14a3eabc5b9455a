"""KeyConditionExpression: accepted shapes, range matching and DynamoDB's refusals."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.engine.expressions import ExpressionContext, KeyCondition, parse_key_condition
from cellstore.errors import ValidationException

VALUES: dict[str, Any] = {
    ":p": {"S": "p"},
    ":a": {"S": "a"},
    ":c": {"S": "c"},
    ":n": {"N": "5"},
    ":n2": {"N": "10"},
}


def key(text: str, range_key: str | None = "sk") -> KeyCondition:
    return parse_key_condition(text, ExpressionContext({"#s": "sk"}, dict(VALUES)), "pk", range_key)


def key_error(text: str, range_key: str | None = "sk") -> str:
    with pytest.raises(ValidationException) as info:
        key(text, range_key)
    return info.value.message


def test_hash_only() -> None:
    condition = key("pk = :p")
    assert condition == KeyCondition({"S": "p"}, None, ())
    assert condition.matches_range(None)


@pytest.mark.parametrize(
    ("text", "op"),
    [
        ("pk = :p AND sk = :a", "="),
        ("sk < :a AND pk = :p", "<"),
        ("pk = :p AND #s <= :a", "<="),
        ("pk = :p AND sk > :a", ">"),
        ("pk = :p AND sk >= :a", ">="),
        ("pk = :p AND :a > sk", "<"),
        ("pk = :p AND sk BETWEEN :a AND :c", "BETWEEN"),
        ("pk = :p AND begins_with(sk, :a)", "BEGINS_WITH"),
        ("(pk = :p) AND (sk = :a)", "="),
    ],
)
def test_range_operators(text: str, op: str) -> None:
    assert key(text).range_op == op


def test_matches_range() -> None:
    assert key("pk = :p AND sk BETWEEN :a AND :c").matches_range({"S": "b"})
    assert not key("pk = :p AND sk BETWEEN :a AND :c").matches_range({"S": "d"})
    assert key("pk = :p AND begins_with(sk, :a)").matches_range({"S": "abc"})
    assert not key("pk = :p AND begins_with(sk, :a)").matches_range({"S": "bac"})
    assert key("pk = :p AND sk < :n2").matches_range({"N": "9"})
    assert not key("pk = :p AND sk < :n2").matches_range({"S": "9"})
    assert not key("pk = :p AND sk = :a").matches_range(None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sk = :a", "Query condition missed key schema element: pk"),
        ("pk = :p AND extra = :a", "Query condition missed key schema element: sk"),
        ("pk = :p AND sk = :a AND sk = :c", "KeyConditionExpressions must only contain one condition per key"),
        ("pk < :p", "Query key condition not supported"),
        ("pk = :p AND sk.x = :a", "Query key condition not supported"),
        ("pk = :p AND sk = pk", "Query key condition not supported"),
        ("pk = :p OR sk = :a", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :p AND NOT sk = :a", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: NOT"),
        ("pk = :p AND sk IN (:a)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: IN"),
        ("pk = :p AND sk <> :a", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: <>"),
        ("pk = :p AND attribute_exists(sk)", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("pk = :p AND size(sk) = :n", "Invalid KeyConditionExpression: Invalid operator used in KeyConditionExpression: size"),
        ("pk = :p AND begins_with(sk, :n)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("pk = :p AND sk BETWEEN :n2 AND :n", "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:10}, upper bound operand: AttributeValue: {N:5}"),
        ("pk = ", 'Invalid KeyConditionExpression: Syntax error; token: "<EOF>", near: "pk ="'),
    ],
)
def test_refusals(text: str, message: str) -> None:
    assert key_error(text) == message


def test_extra_condition_without_range_key() -> None:
    assert key_error("pk = :p AND sk = :a", range_key=None) == "Query key condition not supported"
