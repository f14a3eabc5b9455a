"""Lambda's filter rule syntax, matched against records."""

from __future__ import annotations

import pytest

from cellstore.handlers.filters import check_pattern, matches, matches_any
from cellstore.handlers.settings import HandlerConfigError

RECORD = {
    "eventName": "MODIFY",
    "dynamodb": {
        "Keys": {"pk": {"S": "order#7"}},
        "NewImage": {"pk": {"S": "order#7"}, "total": {"N": "42.5"}, "tags": {"SS": ["a", "b"]}, "paid": {"BOOL": True}},
    },
    "body": {"count": 3, "missing": None},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"eventName": ["MODIFY", "INSERT"]}, True),
        ({"eventName": ["REMOVE"]}, False),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "order#"}]}}}}, True),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"suffix": "#8"}]}}}}, False),
        ({"eventName": [{"equals-ignore-case": "modify"}]}, True),
        ({"eventName": [{"anything-but": ["REMOVE", "INSERT"]}]}, True),
        ({"eventName": [{"anything-but": "MODIFY"}]}, False),
        ({"eventName": [{"anything-but": {"prefix": "MOD"}}]}, False),
        ({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": [">", 40, "<=", 42.5]}]}}}}, True),
        ({"dynamodb": {"NewImage": {"total": {"N": [{"numeric": ["<", 40]}]}}}}, False),
        ({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}, True),
        ({"dynamodb": {"NewImage": {"paid": {"BOOL": [True]}}}}, True),
        ({"dynamodb": {"NewImage": {"paid": {"BOOL": [1]}}}}, False),
        ({"dynamodb": {"OldImage": [{"exists": False}]}}, True),
        ({"dynamodb": {"NewImage": [{"exists": True}]}}, True),
        ({"dynamodb": {"OldImage": {"pk": {"S": [{"anything-but": "x"}]}}}}, False),
        ({"body": {"count": [3.0]}}, True),
        ({"body": {"missing": [None]}}, True),
        ({"eventName": ["MODIFY"], "body": {"count": [4]}}, False),
    ],
)
def test_patterns(pattern: dict, expected: bool) -> None:
    check_pattern(pattern)
    assert matches(pattern, RECORD) is expected


def test_patterns_are_ored_and_none_means_everything() -> None:
    assert matches_any([], RECORD)
    assert matches_any([{"eventName": ["REMOVE"]}, {"eventName": ["MODIFY"]}], RECORD)


@pytest.mark.parametrize(
    "pattern",
    [{}, {"a": []}, {"a": 1}, {"a": [{"numeric": [">"]}]}, {"a": [{"wat": 1}]}, {"a": [{"exists": "yes"}]}, {"a": [[1]]}],
)
def test_malformed_patterns_are_refused(pattern: dict) -> None:
    with pytest.raises(HandlerConfigError):
        check_pattern(pattern)
