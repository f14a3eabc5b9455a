"""Projection semantics for nested paths and list indexes."""

from __future__ import annotations

from typing import Any

import pytest

from cellstore.engine.expressions import ExpressionContext, parse_projection, project_paths
from cellstore.errors import ValidationException

ITEM: dict[str, Any] = {
    "a": {"S": "1"},
    "m": {"M": {"x": {"N": "1"}, "y": {"M": {"z": {"N": "2"}, "w": {"N": "3"}}}}},
    "l": {"L": [{"S": "e0"}, {"M": {"k": {"S": "v"}, "j": {"S": "u"}}}, {"S": "e2"}, {"S": "e3"}]},
    "#odd": {"S": "placeholder target"},
}


def project(text: str, names: dict[str, str] | None = None) -> dict[str, Any]:
    return parse_projection(text, ExpressionContext(names, None)).apply(ITEM)


def test_top_level_and_missing() -> None:
    assert project("a, absent") == {"a": {"S": "1"}}


def test_nested_maps_keep_only_requested_keys() -> None:
    assert project("m.y.z, m.x") == {"m": {"M": {"x": {"N": "1"}, "y": {"M": {"z": {"N": "2"}}}}}}


def test_list_indexes_are_compacted_in_index_order() -> None:
    assert project("l[3], l[0], l[7]") == {"l": {"L": [{"S": "e0"}, {"S": "e3"}]}}
    assert project("l[1].k") == {"l": {"L": [{"M": {"k": {"S": "v"}}}]}}


def test_paths_through_wrong_types_give_nothing() -> None:
    assert project("a.b, m[0], l.k") == {}


def test_placeholders_and_top_level_names() -> None:
    projection = parse_projection("#o, m.x", ExpressionContext({"#o": "#odd"}, None))
    assert projection.apply(ITEM) == {"#odd": {"S": "placeholder target"}, "m": {"M": {"x": {"N": "1"}}}}
    assert projection.top_level_names() == {"#odd", "m"}
    assert projection.paths == [("#odd",), ("m", "x")]


def test_result_is_a_copy() -> None:
    result = project_paths(ITEM, [("m",)])
    result["m"]["M"]["x"]["N"] = "99"
    assert ITEM["m"]["M"]["x"] == {"N": "1"}


def test_project_paths_tolerates_overlapping_paths() -> None:
    assert project_paths(ITEM, [("m", "x"), ("m",)]) == {"m": ITEM["m"]}
    assert project_paths(ITEM, [("m",), ("m", "x")]) == {"m": ITEM["m"]}


def test_a_list_index_beyond_32_bits_is_refused() -> None:
    with pytest.raises(ValidationException) as caught:
        project("a, l[99999999999]")
    assert caught.value.message == (
        'Invalid ProjectionExpression: Syntax error; token: "99999999999", near: "[99999999999"'
    )
    assert project("l[2147483647]") == {}
    assert project("l[000000000000001]") == {"l": {"L": [{"M": {"k": {"S": "v"}, "j": {"S": "u"}}}]}}
