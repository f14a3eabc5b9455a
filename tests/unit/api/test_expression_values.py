"""api.expression_params.attribute_values: each value validated, its error wrapped naming the key."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.api.expression_params import attribute_values
from cellstore.errors import ValidationException


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"SS": []}, "An string set  may not be empty"),
        ({"NS": []}, "An number set  may not be empty"),
        ({"BS": []}, "Binary sets should not be empty"),
    ],
)
def test_empty_set_names_its_key(value: Any, text: str) -> None:
    with pytest.raises(ValidationException) as caught:
        attribute_values({"ExpressionAttributeValues": {":ok": {"S": "x"}, ":empty": value}})
    assert caught.value.message == (
        f"ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: {text} "
        "for key :empty"
    )


def test_valid_values_are_canonical() -> None:
    assert attribute_values({"ExpressionAttributeValues": {":n": {"N": "007"}, ":s": {"SS": ["a"]}}}) == {
        ":n": {"N": "7"},
        ":s": {"SS": ["a"]},
    }
