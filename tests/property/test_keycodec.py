"""Key encoding preserves DynamoDB's order for S, N and B (hypothesis)."""

from __future__ import annotations

import base64
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cellstore.engine.keycodec import encode_value
from cellstore.engine.values import canonical_number, compare

# Numbers across DynamoDB's whole range and precision, including the extremes.
numbers = st.builds(
    lambda sign, digits, exponent: canonical_number(f"{sign}{digits}E{exponent}"),
    st.sampled_from(["", "-"]),
    st.integers(min_value=0, max_value=10**38 - 1),
    st.integers(min_value=-130, max_value=88),
)
strings = st.text(min_size=1, max_size=40)
binaries = st.binary(min_size=1, max_size=40)


def _order(a: dict, b: dict) -> int:
    result = compare(a, b)
    assert result is not None
    return result


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


@given(numbers, numbers)
def test_numbers(a: str, b: str) -> None:
    x, y = {"N": a}, {"N": b}
    encoded = _sign((encode_value(x) > encode_value(y)) - (encode_value(x) < encode_value(y)))
    assert encoded == _sign((Decimal(a) > Decimal(b)) - (Decimal(a) < Decimal(b)))


@given(strings, strings)
def test_strings_order_by_utf8_bytes(a: str, b: str) -> None:
    x, y = {"S": a}, {"S": b}
    by_bytes = _sign((a.encode() > b.encode()) - (a.encode() < b.encode()))
    assert _sign((encode_value(x) > encode_value(y)) - (encode_value(x) < encode_value(y))) == by_bytes
    assert _order(x, y) == by_bytes


@given(binaries, binaries)
def test_binaries(a: bytes, b: bytes) -> None:
    x = {"B": base64.b64encode(a).decode()}
    y = {"B": base64.b64encode(b).decode()}
    assert _sign((encode_value(x) > encode_value(y)) - (encode_value(x) < encode_value(y))) == _sign((a > b) - (a < b))


@given(strings, strings, strings, strings)
def test_composite_keys_order_component_wise(p1: str, s1: str, p2: str, s2: str) -> None:
    """A partition key followed by a sort key still orders by (pk, sk): encodings are prefix-free."""
    k1 = encode_value({"S": p1}) + encode_value({"S": s1})
    k2 = encode_value({"S": p2}) + encode_value({"S": s2})
    expected = (p1.encode(), s1.encode()) < (p2.encode(), s2.encode())
    assert (k1 < k2) == expected


@given(st.one_of(numbers.map(lambda n: {"N": n}), strings.map(lambda s: {"S": s})))
def test_encoding_is_injective_per_value(value: dict) -> None:
    assert encode_value(value) == encode_value(dict(value))
