"""Attribute-value validation, canonical numbers and DynamoDB's size rules."""

from __future__ import annotations

import pytest

from cellstore.engine import values
from cellstore.errors import SerializationException, ValidationException


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1.50", "1.5"), ("1e2", "100"), ("-0", "0"), ("0.000", "0"), ("123.456e-3", "0.123456"),
     ("042", "42"), ("-1.0E-2", "-0.01"), ("+5", "5")],
)
def test_canonical_numbers(text: str, canonical: str) -> None:
    assert values.canonical_number(text) == canonical


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1E126", "Number overflow. Attempting to store a number with magnitude larger than supported range"),
        ("1E-131", "Number underflow. Attempting to store a number with magnitude smaller than supported range"),
        ("1" * 39, "Attempting to store more than 38 significant digits in a Number"),
        ("NaN", "The parameter cannot be converted to a numeric value: NaN"),
        ("", "The parameter cannot be converted to a numeric value: "),
    ],
)
def test_invalid_numbers(text: str, message: str) -> None:
    with pytest.raises(ValidationException) as excinfo:
        values.canonical_number(text)
    assert excinfo.value.message == message


def test_thirty_eight_digits_with_zeros_are_fine() -> None:
    assert values.canonical_number("1" * 38 + "000") == "1" * 38 + "000"


def test_exact_arithmetic_beyond_python_default_precision() -> None:
    a = "1" * 38
    assert values.add_numbers(a, "0") == a
    with pytest.raises(ValidationException):
        values.add_numbers("9" * 38, "0.1")


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({}, "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"),
        ({"S": "a", "N": "1"}, "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"),
        ({"NULL": False}, "One or more parameter values were invalid: Null attribute value types must have the value of true"),
        ({"SS": []}, "One or more parameter values were invalid: An string set  may not be empty"),
        ({"NS": []}, "One or more parameter values were invalid: An number set  may not be empty"),
    ],
)
def test_invalid_values(value: dict, error: str) -> None:
    with pytest.raises(ValidationException) as excinfo:
        values.validate_value(value)
    assert excinfo.value.message == error


def test_wrong_json_types_are_serialization_errors() -> None:
    with pytest.raises(SerializationException):
        values.validate_value({"S": 5})
    with pytest.raises(SerializationException):
        values.validate_value({"B": "not base64!"})


def test_nesting_limit() -> None:
    value: dict = {"S": "leaf"}
    for _ in range(32):
        value = {"L": [value]}
    with pytest.raises(ValidationException):
        values.validate_value(value)


def test_binary_is_canonicalised() -> None:
    assert values.validate_value({"B": "AAE="}) == {"B": "AAE="}


def test_sizes_follow_dynamodb() -> None:
    assert values.item_size({"ab": {"S": "héllo"}}) == 2 + 6
    assert values.value_size({"N": "12345"}) == 4  # 5 digits -> 3 bytes + 1
    assert values.value_size({"BOOL": True}) == 1
    assert values.value_size({"L": [{"S": "ab"}]}) == 3 + 1 + 2
    assert values.value_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1


def test_equality_of_sets_ignores_order() -> None:
    assert values.equal({"SS": ["a", "b"]}, {"SS": ["b", "a"]})
    assert not values.equal({"N": "1"}, {"S": "1"})
    assert values.compare({"N": "10"}, {"N": "9"}) == 1
    assert values.compare({"S": "a"}, {"N": "1"}) is None


def test_item_limit_bound_agrees_with_exact_size() -> None:
    small = {"pk": {"S": "a"}, "v": {"S": "x" * 1000}}
    assert not values.exceeds_item_limit(small)
    # Binary: JSON carries base64 (4/3 of the raw size), so the exact walk decides.
    import base64

    near = {"b": {"B": base64.b64encode(b"x" * (400 * 1024 - 1)).decode()}}
    assert values.item_size(near) == 400 * 1024
    assert not values.exceeds_item_limit(near)
    over = {"b": {"B": base64.b64encode(b"x" * (400 * 1024)).decode()}}
    assert values.exceeds_item_limit(over)


class TestAttributeNameSize:
    """Names under 64 KB (65,535 UTF-8 bytes), at the top level and inside maps."""

    LIMIT = values.MAX_ATTRIBUTE_NAME_BYTES

    def test_at_the_limit_is_accepted(self) -> None:
        name = "a" * self.LIMIT
        assert values.validate_item({name: {"S": "x"}}) == {name: {"S": "x"}}
        assert values.validate_value({"M": {name: {"N": "1"}}}) == {"M": {name: {"N": "1"}}}

    @pytest.mark.parametrize("name", ["a" * 65_536, "é" * 32_768, "😀" * 16_384])
    def test_over_the_limit_in_bytes_is_refused(self, name: str) -> None:
        size = len(name.encode("utf-8"))
        expected = (
            "One or more parameter values were invalid: Attribute name is too large, must be less than 64 KB; "
            f"name size: {size} bytes"
        )
        with pytest.raises(ValidationException) as caught:
            values.validate_item({name: {"S": "x"}})
        assert caught.value.message == expected
        with pytest.raises(ValidationException) as caught:
            values.validate_value({"M": {"ok": {"M": {name: {"S": "x"}}}}})
        assert caught.value.message == expected

    def test_characters_are_not_bytes(self) -> None:
        assert values.attribute_name_error("é" * 32_767) is None  # 65,534 bytes
        assert values.attribute_name_error("é" * 32_768) is not None  # 65,536 bytes
