"""Legacy parameters translate into the same Condition/Update/Projection/KeyCondition objects."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.engine.expressions import (
    KeyCondition,
    condition_from_expected,
    condition_from_filter,
    key_condition_from_key_conditions,
    mixed_parameters_error,
    projection_from_attributes,
    update_from_attribute_updates,
)
from cellstore.errors import SerializationException, ValidationException

ITEM: dict[str, Any] = {
    "s": {"S": "hello"},
    "n": {"N": "10"},
    "ss": {"SS": ["a", "b"]},
    "a.b": {"S": "dotted"},
}


def error(call: Any, *args: Any) -> str:
    with pytest.raises(ValidationException) as info:
        call(*args)
    return info.value.message


def test_expected_value_and_exists() -> None:
    assert condition_from_expected({"s": {"Value": {"S": "hello"}}}, None).evaluate(ITEM)
    assert condition_from_expected({"s": {"Value": {"S": "hello"}, "Exists": True}}, None).evaluate(ITEM)
    assert not condition_from_expected({"s": {"Exists": False}}, None).evaluate(ITEM)
    assert condition_from_expected({"x": {"Exists": False}}, None).evaluate(ITEM)
    assert condition_from_expected({"a.b": {"Value": {"S": "dotted"}}}, None).evaluate(ITEM)
    assert condition_from_expected({}, None).evaluate({})


def test_expected_conditional_operator() -> None:
    both = {"s": {"Value": {"S": "nope"}}, "n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "2"}]}}
    assert not condition_from_expected(both, "AND").evaluate(ITEM)
    assert not condition_from_expected(both, None).evaluate(ITEM)
    assert condition_from_expected(both, "OR").evaluate(ITEM)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Exists": True}, "Value must be provided when Exists is true for Attribute: s"),
        ({}, "Value must be provided when Exists is null for Attribute: s"),
        ({"Exists": False, "Value": {"S": "x"}}, "Value cannot be used when Exists is false for Attribute: s"),
        ({"AttributeValueList": [{"S": "x"}]}, "AttributeValueList can only be used with a ComparisonOperator for Attribute: s"),
        ({"Value": {"S": "x"}, "ComparisonOperator": "EQ"}, "Value and Exists cannot be used with ComparisonOperator for Attribute: s"),
        ({"ComparisonOperator": "EQ"}, "Invalid number of argument(s) for the EQ ComparisonOperator"),
        ({"ComparisonOperator": "NULL", "AttributeValueList": [{"S": "x"}]}, "Invalid number of argument(s) for the NULL ComparisonOperator"),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"S": "x"}]}, "Invalid number of argument(s) for the BETWEEN ComparisonOperator"),
        ({"ComparisonOperator": "GT", "AttributeValueList": [{"BOOL": True}]}, "ComparisonOperator GT is not valid for BOOL AttributeValue type"),
        ({"ComparisonOperator": "CONTAINS", "AttributeValueList": [{"SS": ["a"]}]}, "ComparisonOperator CONTAINS is not valid for SS AttributeValue type"),
        ({"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"N": "1"}]}, "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type"),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"S": "a"}]}, "AttributeValues inside AttributeValueList must be of same type"),
        ({"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "5"}, {"N": "1"}]}, "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound"),
    ],
)
def test_expected_errors(spec: dict[str, Any], message: str) -> None:
    assert error(condition_from_expected, {"s": spec}, None) == (
        "One or more parameter values were invalid: " + message
    )


def test_enum_and_conditional_operator_errors() -> None:
    assert error(condition_from_expected, {"s": {"ComparisonOperator": "LIKE", "AttributeValueList": []}}, None) == (
        "1 validation error detected: Value 'LIKE' at 'expected.s.member.comparisonOperator' failed to "
        "satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, "
        "EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
    )
    assert error(condition_from_expected, {"s": {"Exists": False}}, "AND") == (
        "One or more parameter values were invalid: ConditionalOperator can only be used when "
        "Filter or Expected has two or more elements"
    )
    assert error(condition_from_filter, {"s": {}}, None, "ScanFilter") == (
        "1 validation error detected: Value null at 'scanFilter.s.member.comparisonOperator' failed "
        "to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    ("name", "operator", "values", "expected"),
    [
        ("s", "EQ", [{"S": "hello"}], True),
        ("s", "NE", [{"S": "hello"}], False),
        ("x", "NE", [{"S": "hello"}], True),
        ("n", "LE", [{"N": "10"}], True),
        ("n", "LT", [{"N": "10"}], False),
        ("n", "GE", [{"N": "9"}], True),
        ("n", "GT", [{"S": "9"}], False),
        ("n", "NOT_NULL", [], True),
        ("x", "NULL", [], True),
        ("s", "CONTAINS", [{"S": "ell"}], True),
        ("ss", "CONTAINS", [{"S": "a"}], True),
        ("ss", "NOT_CONTAINS", [{"S": "z"}], True),
        ("x", "NOT_CONTAINS", [{"S": "z"}], False),  # a missing attribute fails NOT_CONTAINS, as in DynamoDB
        ("s", "BEGINS_WITH", [{"S": "he"}], True),
        ("n", "IN", [{"N": "1"}, {"N": "10"}], True),
        ("n", "BETWEEN", [{"N": "1"}, {"N": "10"}], True),
        ("n", "BETWEEN", [{"N": "11"}, {"N": "12"}], False),
    ],
)
def test_filter_operators(name: str, operator: str, values: list[Any], expected: bool) -> None:
    spec = {name: {"ComparisonOperator": operator, "AttributeValueList": values}}
    assert condition_from_filter(spec, None, "QueryFilter").evaluate(ITEM) is expected


def test_attribute_updates() -> None:
    update = update_from_attribute_updates(
        {
            "s": {"Value": {"S": "new"}},
            "n": {"Action": "ADD", "Value": {"N": "-1"}},
            "ss": {"Action": "DELETE", "Value": {"SS": ["a"]}},
            "a.b": {"Action": "DELETE"},
            "fresh": {"Action": "ADD", "Value": {"NS": ["1"]}},
        }
    )
    new, paths = update.apply(ITEM)
    assert new == {"s": {"S": "new"}, "n": {"N": "9"}, "ss": {"SS": ["b"]}, "fresh": {"NS": ["1"]}}
    assert ("a.b",) in paths
    assert update.top_level_names() == {"s", "n", "ss", "a.b", "fresh"}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"Action": "PUT"}, "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"),
        ({"Action": "ADD"}, "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified"),
        ({"Action": "ADD", "Value": {"S": "x"}}, "One or more parameter values were invalid: ADD action is not supported for the type S"),
        ({"Action": "DELETE", "Value": {"N": "1"}}, "One or more parameter values were invalid: DELETE action with value is not supported for the type N"),
    ],
)
def test_attribute_update_errors(spec: dict[str, Any], message: str) -> None:
    assert error(update_from_attribute_updates, {"s": spec}) == message


def test_attribute_update_type_mismatch_at_apply() -> None:
    update = update_from_attribute_updates({"s": {"Action": "ADD", "Value": {"N": "1"}}})
    assert error(update.apply, ITEM) == (
        "One or more parameter values were invalid: Type mismatch for attribute to update"
    )


def test_attributes_to_get() -> None:
    projection = projection_from_attributes(["s", "a.b", "absent"])
    assert projection.apply(ITEM) == {"s": {"S": "hello"}, "a.b": {"S": "dotted"}}
    assert error(projection_from_attributes, ["s", "s"]) == (
        "One or more parameter values were invalid: Duplicate value in attribute name: s"
    )


def test_key_conditions() -> None:
    condition = key_condition_from_key_conditions(
        {
            "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
            "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "1"}, {"N": "3"}]},
        },
        "pk",
        "sk",
    )
    assert condition == KeyCondition({"S": "p"}, "BETWEEN", ({"N": "1"}, {"N": "3"}))
    condition = key_condition_from_key_conditions(
        {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
         "sk": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "x"}]}},
        "pk",
        "sk",
    )
    assert condition.range_op == "BEGINS_WITH" and condition.matches_range({"S": "xy"})


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ({}, "Conditions can be of length 1 or 2 only"),
        ({"sk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]}}, "Query condition missed key schema element: pk"),
        ({"pk": {"ComparisonOperator": "NE", "AttributeValueList": [{"S": "p"}]}}, "Attempted conditional constraint is not an indexable operation"),
        ({"pk": {"ComparisonOperator": "GT", "AttributeValueList": [{"S": "p"}]}}, "Query key condition not supported"),
        ({"pk": {"ComparisonOperator": "EQ", "AttributeValueList": []}}, "One or more parameter values were invalid: Invalid number of argument(s) for the EQ ComparisonOperator"),
    ],
)
def test_key_condition_errors(conditions: dict[str, Any], message: str) -> None:
    assert error(key_condition_from_key_conditions, conditions, "pk", "sk") == message


def test_mixed_parameters_message() -> None:
    assert mixed_parameters_error(["Expected"], ["ConditionExpression"]).message == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}"
    )
    assert mixed_parameters_error(["AttributesToGet", "QueryFilter"], ["ProjectionExpression"]).message == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet, QueryFilter} Expression parameters: "
        "{ProjectionExpression}"
    )


# --- wrong JSON types anywhere inside a legacy parameter: typed errors, never a crash ---

WRONG_TYPED: list[tuple[Any, Any, str]] = [
    # AttributeUpdates: the per-attribute structure, its Action and its Value.
    (update_from_attribute_updates, {"x": [1]},
     "Unexpected value type in payload: START_ARRAY can not be converted to an AttributeValueUpdate"),
    (update_from_attribute_updates, {"x": "PUT"},
     "Unexpected value type in payload: STRING_VALUE can not be converted to an AttributeValueUpdate"),
    (update_from_attribute_updates, {"x": {"Action": [], "Value": {"N": "1"}}},
     "START_ARRAY can not be converted to a String"),
    (update_from_attribute_updates, {"x": {"Value": [1]}},
     "Unexpected value type in payload: START_ARRAY can not be converted to an AttributeValue"),
    (update_from_attribute_updates, {"x": {"Value": {"S": 1}}}, "NUMBER_VALUE can not be converted to a String"),
    # Expected.
    (lambda e: condition_from_expected(e, None), {"x": [1]},
     "Unexpected value type in payload: START_ARRAY can not be converted to an ExpectedAttributeValue"),
    (lambda e: condition_from_expected(e, None), {"x": {"Exists": "yes"}},
     "STRING_VALUE can not be converted to a Boolean"),
    (lambda e: condition_from_expected(e, None), {"x": {"ComparisonOperator": ["EQ"], "AttributeValueList": []}},
     "START_ARRAY can not be converted to a String"),
    (lambda e: condition_from_expected(e, None), {"x": {"ComparisonOperator": "EQ", "AttributeValueList": 7}},
     "NUMBER_VALUE can not be converted to a List"),
    (lambda e: condition_from_expected(e, None), {"x": {"ComparisonOperator": "EQ", "AttributeValueList": [5]}},
     "Unexpected value type in payload: NUMBER_VALUE can not be converted to an AttributeValue"),
    # QueryFilter/ScanFilter and KeyConditions.
    (lambda f: condition_from_filter(f, None, "ScanFilter"), {"x": 1},
     "Unexpected value type in payload: NUMBER_VALUE can not be converted to a Condition"),
    (lambda f: condition_from_filter(f, None, "ScanFilter"), {"x": {"ComparisonOperator": "IN", "AttributeValueList": [[]]}},
     "Unexpected value type in payload: START_ARRAY can not be converted to an AttributeValue"),
    (lambda k: key_condition_from_key_conditions(k, "pk", None), {"pk": [1]},
     "Unexpected value type in payload: START_ARRAY can not be converted to a Condition"),
    (lambda k: key_condition_from_key_conditions(k, "pk", None), {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": 5}]}},
     "NUMBER_VALUE can not be converted to a String"),
    # AttributesToGet elements.
    (projection_from_attributes, [["a"]], "START_ARRAY can not be converted to a String"),
    (projection_from_attributes, [{"a": 1}], "START_OBJECT can not be converted to a String"),
]


@pytest.mark.parametrize(("call", "argument", "message"), WRONG_TYPED)
def test_wrong_json_types_inside_legacy_parameters(call: Any, argument: Any, message: str) -> None:
    with pytest.raises(SerializationException) as info:
        call(argument)
    assert info.value.message == message


def test_legacy_values_are_validated_and_canonical() -> None:
    """Values reach the item exactly as an expression's would: checked numbers, canonical text."""
    with pytest.raises(ValidationException, match="cannot be converted to a numeric value: abc"):
        update_from_attribute_updates({"x": {"Value": {"N": "abc"}}})
    with pytest.raises(ValidationException, match="cannot be converted to a numeric value: zz"):
        condition_from_filter({"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "zz"}]}}, None, "ScanFilter")
    new, _ = update_from_attribute_updates({"x": {"Value": {"N": "010.50"}}}).apply({})
    assert new == {"x": {"N": "10.5"}}
    assert condition_from_expected({"n": {"Value": {"N": "1e1"}}}, None).evaluate(ITEM) is True
    deep: dict[str, Any] = {"S": "x"}
    for _ in range(40):
        deep = {"L": [deep]}
    with pytest.raises(ValidationException, match="Nesting Levels have exceeded supported limits"):
        update_from_attribute_updates({"x": {"Value": deep}})
