"""ExpressionAttributeNames/Values: validation, resolution and the unused-placeholder check."""

from __future__ import annotations

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_condition, parse_update
from cellstore.engine.values import MAX_ATTRIBUTE_NAME_BYTES
from cellstore.errors import ValidationException


def context_error(names: dict[str, str] | None, values: dict[str, dict[str, str]] | None) -> str:
    with pytest.raises(ValidationException) as info:
        ExpressionContext(names, values)
    return info.value.message


def test_empty_maps_are_refused() -> None:
    assert context_error({}, None) == "ExpressionAttributeNames must not be empty"
    assert context_error(None, {}) == "ExpressionAttributeValues must not be empty"


def test_keys_must_be_placeholders() -> None:
    assert context_error({"x": "a"}, None) == (
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "x"'
    )
    assert context_error({"#a-b": "a"}, None) == (
        'ExpressionAttributeNames contains invalid key: Syntax error; key: "#a-b"'
    )
    assert context_error(None, {"v": {"S": "a"}}) == (
        'ExpressionAttributeValues contains invalid key: Syntax error; key: "v"'
    )


def test_undefined_placeholders() -> None:
    ctx = ExpressionContext({"#a": "a"}, {":v": {"S": "x"}})
    with pytest.raises(ValidationException) as info:
        parse_condition("#a = :w", ctx)
    assert info.value.message == (
        "Invalid ConditionExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :w"
    )
    with pytest.raises(ValidationException) as info:
        parse_update("SET #b = :v", ctx)
    assert info.value.message == (
        "Invalid UpdateExpression: An expression attribute name used in the document path is not "
        "defined; attribute name: #b"
    )


def test_unused_placeholders_are_reported_names_first() -> None:
    ctx = ExpressionContext({"#a": "a", "#b": "b"}, {":v": {"S": "x"}, ":w": {"S": "y"}})
    parse_condition("#a = :v", ctx)
    with pytest.raises(ValidationException) as info:
        ctx.check_unused()
    assert info.value.message == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    )
    parse_condition("#b = :v", ctx)
    with pytest.raises(ValidationException) as info:
        ctx.check_unused()
    assert info.value.message == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    )


def test_usage_counts_across_all_expressions_of_a_request() -> None:
    ctx = ExpressionContext({"#a": "a"}, {":v": {"S": "x"}, ":w": {"N": "1"}})
    parse_update("SET #a = :v", ctx)
    parse_condition("b <> :w", ctx)
    ctx.check_unused()


def test_several_unused_keys_are_listed() -> None:
    ctx = ExpressionContext(None, {":a": {"S": "x"}, ":b": {"S": "y"}})
    with pytest.raises(ValidationException) as info:
        ctx.check_unused()
    assert info.value.message == (
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:a, :b}"
    )


def test_placeholder_names_may_be_reserved_words_and_contain_dots() -> None:
    ctx = ExpressionContext({"#n": "name", "#d": "a.b"}, {":v": {"S": "x"}})
    condition = parse_condition("#n = :v AND attribute_exists(#d)", ctx)
    assert condition.evaluate({"name": {"S": "x"}, "a.b": {"N": "1"}})
    assert not condition.evaluate({"name": {"S": "x"}, "a": {"M": {"b": {"N": "1"}}}})


def test_an_expression_attribute_name_over_64_kb_is_refused() -> None:
    ExpressionContext({"#ok": "a" * MAX_ATTRIBUTE_NAME_BYTES}, None)
    with pytest.raises(ValidationException) as caught:
        ExpressionContext({"#ok": "a", "#big": "a" * (MAX_ATTRIBUTE_NAME_BYTES + 1)}, None)
    assert caught.value.message == (
        "ExpressionAttributeNames contains invalid value: Attribute name is too large, must be less than 64 KB; "
        "name size: 65536 bytes for key #big"
    )
