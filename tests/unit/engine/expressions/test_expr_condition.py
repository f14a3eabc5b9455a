"""Condition evaluation: comparators, BETWEEN/IN, logic and functions on DynamoDB's types."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_condition

ITEM: dict[str, Any] = {
    "s": {"S": "hello"},
    "n": {"N": "10"},
    "b": {"B": "AQID"},  # bytes 01 02 03
    "t": {"BOOL": True},
    "z": {"NULL": True},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": ["AQ=="]},
    "l": {"L": [{"S": "x"}, {"N": "1"}, {"M": {"k": {"S": "v"}}}]},
    "m": {"M": {"nest": {"M": {"deep": {"N": "3"}}}, "arr": {"L": [{"N": "7"}]}}},
    "u": {"S": "héllo"},
}

VALUES: dict[str, Any] = {
    ":hello": {"S": "hello"},
    ":he": {"S": "he"},
    ":ell": {"S": "ell"},
    ":x": {"S": "x"},
    ":a": {"S": "a"},
    ":zz": {"S": "zz"},
    ":1": {"N": "1"},
    ":2_5": {"N": "2.5"},
    ":3": {"N": "3"},
    ":5": {"N": "5"},
    ":6": {"N": "6"},
    ":7": {"N": "7"},
    ":10": {"N": "10"},
    ":20": {"N": "20"},
    ":b01": {"B": "AQ=="},
    ":b0102": {"B": "AQI="},
    ":b02": {"B": "Ag=="},
    ":true": {"BOOL": True},
    ":ssab": {"SS": ["b", "a"]},
    ":mkv": {"M": {"k": {"S": "v"}}},
    ":tS": {"S": "S"},
    ":tN": {"S": "N"},
    ":tSS": {"S": "SS"},
    ":tNULL": {"S": "NULL"},
}


def holds(text: str, item: dict[str, Any] | None = None) -> bool:
    ctx = ExpressionContext(None, dict(VALUES))
    return parse_condition(text, ctx).evaluate(ITEM if item is None else item)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s = :hello", True),
        ("s <> :hello", False),
        ("s < :zz", True),
        ("s > :zz", False),
        ("n = :10", True),
        ("n >= :10", True),
        ("n > :10", False),
        ("n < :20", True),  # numeric, not lexicographic
        ("n > :1", True),
        ("b > :b01", True),
        ("b < :b02", True),
        ("ns = :1", False),
        ("ss = :ssab", True),  # set equality ignores order
        ("l[2] = :mkv", True),
        ("m.nest.deep = :3", True),
        ("m.arr[0] = :7", True),
        ("m.arr[1] = :7", False),
        ("t = :true", True),
        ("s < :10", False),  # mismatched types are never ordered
        ("s <> :10", True),
        ("absent = :1", False),
        ("absent <> :1", True),
        ("absent < :1", False),
    ],
)
def test_comparisons(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n BETWEEN :5 AND :10", True),
        ("n BETWEEN :10 AND :20", True),
        ("n BETWEEN :1 AND :5", False),
        ("s BETWEEN :a AND :zz", True),
        ("absent BETWEEN :1 AND :5", False),
        ("s BETWEEN :1 AND :5", False),
        ("n IN (:1, :10)", True),
        ("n IN (:1, :hello)", False),
        ("ss IN (:ssab)", True),
        ("absent IN (:1)", False),
        ("NOT n IN (:1)", True),
    ],
)
def test_between_and_in(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("attribute_exists(s)", True),
        ("attribute_exists(m.nest.deep)", True),
        ("attribute_exists(l[5])", False),
        ("attribute_not_exists(absent)", True),
        ("attribute_not_exists(s.x)", True),
        ("attribute_type(s, :tS)", True),
        ("attribute_type(n, :tN)", True),
        ("attribute_type(ss, :tSS)", True),
        ("attribute_type(z, :tNULL)", True),
        ("attribute_type(s, :tN)", False),
        ("attribute_type(absent, :tS)", False),
        ("begins_with(s, :he)", True),
        ("begins_with(s, :ell)", False),
        ("begins_with(b, :b0102)", True),
        ("begins_with(b, :b02)", False),
        ("begins_with(n, :he)", False),
        ("contains(s, :ell)", True),
        ("contains(s, :x)", False),
        ("contains(ss, :a)", True),
        ("contains(ns, :2_5)", True),  # members are canonical text
        ("contains(ns, :3)", False),
        ("contains(bs, :b01)", True),
        ("contains(l, :x)", True),
        ("contains(l, :1)", True),
        ("contains(l, :mkv)", True),
        ("contains(l, :a)", False),
        ("contains(b, :b02)", True),
        ("contains(n, :1)", False),
        ("contains(absent, :a)", False),
        ("contains(ss, :1)", False),
    ],
)
def test_functions(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("size(s) = :5", True),
        ("size(u) = :6", True),  # UTF-8 bytes
        ("size(b) = :3", True),
        ("size(ss) = :2_5", False),
        ("size(ns) < :3", True),
        ("size(l) = :3", True),
        ("size(m) BETWEEN :1 AND :3", True),
        ("size(n) = :1", False),  # numbers have no size
        ("size(absent) <> :1", True),
        ("size(absent) = :1", False),
        ("size(l) > size(ss)", True),
        ("size(s) IN (:1, :5)", True),
    ],
)
def test_size(text: str, expected: bool) -> None:
    assert holds(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("s = :hello AND n = :10", True),
        ("s = :hello AND n = :1", False),
        ("s = :x OR n = :10", True),
        ("NOT s = :x", True),
        ("NOT NOT s = :x", False),
        ("s = :x AND n = :1 OR n = :10", True),  # AND binds tighter
        ("s = :x AND (n = :1 OR n = :10)", False),
        ("NOT s = :x AND n = :1", False),  # NOT binds tighter than AND
        ("NOT (s = :hello AND n = :1)", True),
    ],
)
def test_logic_and_precedence(text: str, expected: bool) -> None:
    assert holds(text) is expected


def test_condition_on_no_item() -> None:
    assert holds("attribute_not_exists(s)", {})
    assert not holds("s = :hello", {})
    assert holds("s <> :hello", {})


def test_value_on_both_sides_and_value_first() -> None:
    assert holds(":10 = n")
    assert holds(":1 < n")
    assert holds(":1 = :1")
