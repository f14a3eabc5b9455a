"""DynamoDB's number grammar, enforced by the one parser every number goes through.

Python's ``Decimal()`` (and ``int()``/``float()``) accept spellings DynamoDB
does not: surrounding whitespace, ``_`` digit separators, any Unicode decimal
digit, ``NaN`` and ``Infinity``.  Each must be refused with DynamoDB's
ValidationException wherever a number is read — an attribute value, a key, a
number set, an expression value, a legacy parameter — while every spelling
DynamoDB accepts still normalises to one canonical text.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cellstore.api.expression_params import RequestExpressions
from cellstore.engine import values
from cellstore.errors import ValidationException

REFUSED = [
    "1_000", " 7 ", " 7", "7 ", "\t7", "7\n", "١٢", "８", "٤٢", "4\u00b2", "NaN", "nan", "-NaN", "sNaN",
    "Infinity", "-Infinity", "inf", "", " ", "+", "-", ".", "e5", "1e", "1e+", "1.2.3", "--1", "+-1",
    "1e5.5", "0x10", "1,000", "4 2", "1__0", "1e1_0",
]
ACCEPTED = [
    ("42", "42"), ("42.0", "42"), ("042", "42"), ("4.2E1", "42"), ("4.2e+1", "42"), ("+42", "42"),
    ("420e-1", "42"), ("-0", "0"), ("0e99", "0"), (".5", "0.5"), ("5.", "5"), ("-.5E1", "-5"),
]


@pytest.mark.parametrize("text", REFUSED)
def test_refused_spellings(text: str) -> None:
    with pytest.raises(ValidationException) as excinfo:
        values.canonical_number(text)
    assert excinfo.value.message == f"The parameter cannot be converted to a numeric value: {text}"


@pytest.mark.parametrize(("text", "canonical"), ACCEPTED)
def test_accepted_spellings_are_one_number(text: str, canonical: str) -> None:
    assert values.canonical_number(text) == canonical


@pytest.mark.parametrize(
    "value",
    [{"N": "1_000"}, {"NS": ["1", " 2"]}, {"M": {"a": {"N": "８"}}}, {"L": [{"N": "١٢"}]}],
)
def test_refused_inside_values(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationException):
        values.validate_value(value)


def test_refused_in_expression_values() -> None:
    with pytest.raises(ValidationException) as excinfo:
        RequestExpressions(
            {"ConditionExpression": "a = :v", "ExpressionAttributeValues": {":v": {"N": " 7 "}}},
            ("ConditionExpression",),
        )
    assert excinfo.value.message == (
        "ExpressionAttributeValues contains invalid value: "
        "The parameter cannot be converted to a numeric value:  7  for key :v"
    )


def test_refused_in_legacy_parameters() -> None:
    exprs = RequestExpressions(
        {"Expected": {"a": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1_0"}]}}},
        ("ConditionExpression",),
    )
    with pytest.raises(ValidationException, match="cannot be converted to a numeric value: 1_0"):
        exprs.condition()


def test_the_range_messages_are_kept() -> None:
    with pytest.raises(ValidationException, match="Number overflow"):
        values.canonical_number("1E126")
    with pytest.raises(ValidationException, match="Number underflow"):
        values.canonical_number("1E-131")
    assert values.canonical_number("9.9999999999999999999999999999999999999E+125").startswith("99999")
    assert values.canonical_number("1E-130") == "0." + "0" * 129 + "1"


@given(st.text(max_size=12))
def test_anything_is_a_canonical_number_or_a_validation_error(text: str) -> None:
    try:
        canonical = values.canonical_number(text)
    except ValidationException:
        return
    assert canonical.isascii()
    assert values.canonical_number(canonical) == canonical


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(lambda d: abs(d) < 10**100))
def test_every_spelling_of_a_number_is_the_same_text(number: Any) -> None:
    try:
        canonical = values.canonical_number(str(number))
    except ValidationException:
        return  # beyond 38 digits or DynamoDB's range
    for spelling in (f"{number:e}", f"+{number}" if number >= 0 else str(number), f"{number}E0"):
        try:
            assert values.canonical_number(spelling) == canonical
        except ValidationException:
            pass  # '{:e}' may round to more digits than 38


def _table_with_item() -> Any:
    from cellstore.api import dispatch
    from cellstore.engine.wiring import open_database
    from cellstore.storage.sqlite import SqliteStore

    db = open_database(SqliteStore(None), background=False)
    dispatch(db, "CreateTable", {
        "TableName": "numbers", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "N"}],
    })
    dispatch(db, "PutItem", {"TableName": "numbers", "Item": {"pk": {"N": "42"}, "n": {"N": "10"}}})
    return db, dispatch


@pytest.mark.parametrize(
    ("operation", "payload"),
    [
        ("PutItem", {"Item": {"pk": {"N": "42"}}, "Expected": {"n": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1_0"}]}}}),
        ("PutItem", {"Item": {"pk": {"N": "42"}}, "Expected": {"n": {"Value": {"N": " 10"}}}}),
        ("UpdateItem", {"Key": {"pk": {"N": "42"}}, "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"N": "٣"}}}}),
        ("Query", {"KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "4_2"}]}}}),
        ("Scan", {"ScanFilter": {"n": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "８"}]}}}),
    ],
)
def test_legacy_parameters_use_the_same_grammar(operation: str, payload: dict[str, Any]) -> None:
    db, dispatch = _table_with_item()
    with pytest.raises(ValidationException, match="cannot be converted to a numeric value"):
        dispatch(db, operation, {"TableName": "numbers", **payload})


def test_legacy_numbers_compare_canonically() -> None:
    db, dispatch = _table_with_item()
    # "010" is the stored 10: the legacy Expected value is normalised like any value.
    dispatch(db, "PutItem", {"TableName": "numbers", "Item": {"pk": {"N": "42"}, "n": {"N": "11"}},
                             "Expected": {"n": {"Value": {"N": "010"}}}})
    got = dispatch(db, "GetItem", {"TableName": "numbers", "Key": {"pk": {"N": "4.2E1"}}})
    assert got["Item"]["n"] == {"N": "11"}
