"""Shared by the "bad input never 500" property tests: valid requests, where to break them, and with what.

A request is broken by replacing one or two members (at any depth, list
elements included) with a value of the wrong shape.  The values cover what
has produced 500s before:

- every JSON type where another belongs, also as list elements
  (``[{"a": 1}]`` where a list of strings belongs);
- lists, maps and AttributeValues nested hundreds of levels deep (up to
  orjson's own limit of 1,024, the deepest a served request can be);
- numbers outside the Java int and long ranges AWS parses members into;
- expressions within the 4 KB limit nested ~1,000-2,000 deep (parentheses,
  NOT chains, function calls);
- number strings with exponents far beyond any Decimal context
  (``1e999999999`` overflowed inside the range check);
- keys that are empty, partial, of the wrong type or carry an unknown
  AttributeValue member (an empty DeleteRequest Key was a KeyError).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

DYNAMODB_TABLE = "fuzzed"
KEY = {"pk": {"S": "a"}, "sk": {"N": "1"}}
VALUES = {":v": {"N": "1"}, ":s": {"S": "x"}}

#: (operation, payload) per name; every payload is valid against a table created by ``create_dynamodb_table``.
DYNAMODB_VALID: dict[str, tuple[str, dict[str, Any]]] = {
    "PutItem": ("PutItem", {
        "TableName": DYNAMODB_TABLE, "Item": {**KEY, "n": {"N": "5"}, "l": {"L": [{"S": "x"}]}},
        "ConditionExpression": "attribute_not_exists(pk) OR n < :v OR s = :s", "ExpressionAttributeValues": VALUES,
        "ReturnValues": "ALL_OLD"}),
    "GetItem": ("GetItem", {"TableName": DYNAMODB_TABLE, "Key": KEY, "ProjectionExpression": "#n, l[0]",
                            "ExpressionAttributeNames": {"#n": "n"}}),
    "UpdateItem": ("UpdateItem", {
        "TableName": DYNAMODB_TABLE, "Key": KEY, "UpdateExpression": "SET n = n + :v, s = :s REMOVE l[0]",
        "ExpressionAttributeValues": VALUES, "ReturnValues": "UPDATED_NEW"}),
    "DeleteItem": ("DeleteItem", {"TableName": DYNAMODB_TABLE, "Key": KEY, "ConditionExpression": "attribute_exists(pk)"}),
    "Query": ("Query", {
        "TableName": DYNAMODB_TABLE, "KeyConditionExpression": "pk = :s AND sk > :v", "ExpressionAttributeValues": VALUES,
        "Limit": 5, "ScanIndexForward": False}),
    "Scan": ("Scan", {"TableName": DYNAMODB_TABLE, "FilterExpression": "n > :v", "ExpressionAttributeValues": {":v": {"N": "1"}},
                      "Segment": 0, "TotalSegments": 2, "Limit": 10}),
    "BatchWriteItem": ("BatchWriteItem", {"RequestItems": {DYNAMODB_TABLE: [{"PutRequest": {"Item": KEY}}]}}),
    "BatchWriteItem/delete": ("BatchWriteItem", {
        "RequestItems": {DYNAMODB_TABLE: [{"DeleteRequest": {"Key": {"pk": {"S": "gone"}, "sk": {"N": "9"}}}}]}}),
    "TransactWriteItems/keys": ("TransactWriteItems", {"TransactItems": [
        {"ConditionCheck": {"TableName": DYNAMODB_TABLE, "Key": KEY, "ConditionExpression": "attribute_exists(pk)"}},
        {"Delete": {"TableName": DYNAMODB_TABLE, "Key": {"pk": {"S": "b"}, "sk": {"N": "2"}}}}]}),
    "BatchGetItem": ("BatchGetItem", {"RequestItems": {DYNAMODB_TABLE: {"Keys": [KEY], "AttributesToGet": ["pk", "n"]}}}),
    "TransactWriteItems": ("TransactWriteItems", {
        "TransactItems": [{"Update": {"TableName": DYNAMODB_TABLE, "Key": KEY, "UpdateExpression": "ADD n :v",
                                      "ExpressionAttributeValues": {":v": {"N": "1"}}}}],
        "ClientRequestToken": "tok"}),
    "TransactGetItems": ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": DYNAMODB_TABLE, "Key": KEY}}]}),
    "CreateTable": ("CreateTable", {
        "TableName": "other", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"}),
    "DescribeTable": ("DescribeTable", {"TableName": DYNAMODB_TABLE}),
    "ListTables": ("ListTables", {"Limit": 5, "ExclusiveStartTableName": "aaa"}),
    "UpdateTable": ("UpdateTable", {"TableName": DYNAMODB_TABLE, "BillingMode": "PROVISIONED",
                                    "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}),
    # The legacy (pre-expression) parameters ORMs still send: every member of them is fuzzed too.
    "PutItem/legacy": ("PutItem", {
        "TableName": DYNAMODB_TABLE, "Item": {**KEY, "n": {"N": "5"}},
        "Expected": {"n": {"ComparisonOperator": "LT", "AttributeValueList": [{"N": "9"}]}, "zz": {"Exists": False}},
        "ConditionalOperator": "OR"}),
    "GetItem/legacy": ("GetItem", {"TableName": DYNAMODB_TABLE, "Key": KEY, "AttributesToGet": ["n", "l"]}),
    "UpdateItem/legacy": ("UpdateItem", {
        "TableName": DYNAMODB_TABLE, "Key": KEY,
        "AttributeUpdates": {"n": {"Action": "ADD", "Value": {"N": "1"}}, "s": {"Action": "PUT", "Value": {"S": "y"}},
                             "l": {"Action": "DELETE"}},
        "Expected": {"pk": {"Value": {"S": "a"}, "Exists": True}, "zz": {"Exists": False}},
        "ConditionalOperator": "OR"}),
    "Query/legacy": ("Query", {
        "TableName": DYNAMODB_TABLE, "AttributesToGet": ["pk", "n"],
        "KeyConditions": {"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]},
                          "sk": {"ComparisonOperator": "BETWEEN", "AttributeValueList": [{"N": "0"}, {"N": "9"}]}},
        "QueryFilter": {"n": {"ComparisonOperator": "IN", "AttributeValueList": [{"N": "5"}, {"N": "6"}]}}}),
    "Scan/legacy": ("Scan", {
        "TableName": DYNAMODB_TABLE, "AttributesToGet": ["n"],
        "ScanFilter": {"n": {"ComparisonOperator": "NOT_NULL"}, "s": {"ComparisonOperator": "BEGINS_WITH",
                                                                      "AttributeValueList": [{"S": "y"}]}},
        "ConditionalOperator": "AND"}),
}

#: (name in DYNAMODB_VALID, path, lowest, highest) of every integer member and its documented range.
DYNAMODB_INTEGER_MEMBERS: list[tuple[str, tuple[Any, ...], int, int]] = [
    ("Query", ("Limit",), 1, 2**31 - 1),
    ("Scan", ("Limit",), 1, 2**31 - 1),
    ("Scan", ("Segment",), 0, 999_999),
    ("Scan", ("TotalSegments",), 1, 1_000_000),
    ("ListTables", ("Limit",), 1, 100),
]


def create_dynamodb_table() -> dict[str, Any]:
    """The CreateTable payload of the table the requests above use."""
    return {
        "TableName": DYNAMODB_TABLE, "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                 {"AttributeName": "sk", "AttributeType": "N"}],
    }


def expression_paths() -> list[tuple[str, tuple[Any, ...]]]:
    """(name, path) of every expression member in DYNAMODB_VALID."""
    found = []
    for name, (_, payload) in DYNAMODB_VALID.items():
        for path in paths(payload):
            if path and isinstance(path[-1], str) and path[-1].endswith("Expression"):
                found.append((name, path))
    return found


def number_paths() -> list[tuple[str, tuple[Any, ...]]]:
    """(name, path) of every number string (an ``N`` member) in DYNAMODB_VALID."""
    return [
        (name, path)
        for name, (_, payload) in DYNAMODB_VALID.items()
        for path in paths(payload)
        if path and path[-1] == "N"
    ]


def key_paths() -> list[tuple[str, tuple[Any, ...]]]:
    """(name, path) of every primary key (a ``Key`` member or an element of ``Keys``) in DYNAMODB_VALID."""
    return [
        (name, path)
        for name, (_, payload) in DYNAMODB_VALID.items()
        for path in paths(payload)
        if path and (path[-1] == "Key" or (len(path) > 1 and path[-2] == "Keys"))
    ]


# --- values of the wrong shape -------------------------------------------------------------

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=5), st.just(""),
)

#: Numbers AWS's deserializer cannot read into an Integer (or a Long).
OUT_OF_RANGE = st.one_of(
    st.sampled_from([2**31, -(2**31) - 1, 2**63, -(2**63) - 1, 10**30, 1e300, -1e300]),
    st.integers(min_value=2**31), st.integers(max_value=-(2**31) - 1),
)


def _number(mantissa: str, sign: str, exponent: int) -> str:
    return f"{mantissa}e{sign}{exponent}"


#: Number strings whose exponent no Decimal context holds, or that sit at DynamoDB's range edges.
EXTREME_NUMBERS = st.one_of(
    st.sampled_from(["1e999999999", "-1E999999999", "1e-999999999", "1e126", "1e-131",
                     "1" * 39, "0." + "0" * 200 + "1", "1" + "0" * 200]),
    st.builds(_number, st.sampled_from(["1", "-1", "9.99", "0.001"]), st.sampled_from(["", "+", "-"]),
              st.integers(min_value=200, max_value=10**18)),
)

#: Keys of the wrong shape for the ``pk``/``sk`` (S/N) table.
WRONG_KEYS = st.one_of(
    st.just({}),
    st.just({"pk": {"S": "a"}}),
    st.just({"sk": {"N": "1"}}),
    st.just({"pk": {"N": "1"}, "sk": {"N": "1"}}),
    st.just({"pk": {"S": "a"}, "sk": {"S": "1"}}),
    st.just({"pk": {"S": "a"}, "sk": {"N": "1"}, "x": {"S": "extra"}}),
    st.just({"pk": {"Z": "a"}, "sk": {"N": "1"}}),
    st.just({"pk": {"S": ""}, "sk": {"N": "1"}}),
    st.builds(lambda n: {"pk": {"S": "a"}, "sk": {"N": n}}, EXTREME_NUMBERS),
)


def nested_list(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def nested_map(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_attribute(depth: int, kind: str) -> Any:
    """An AttributeValue ``depth`` levels of L or M deep (DynamoDB's own limit is 32)."""
    value: Any = {"S": "x"}
    for _ in range(depth):
        value = {"L": [value]} if kind == "L" else {"M": {"a": value}}
    return value


#: Up to 1,020 levels: orjson refuses anything deeper, so no served request nests more.
DEPTHS = st.one_of(st.sampled_from([33, 100, 999, 1020]), st.integers(30, 1020))

DEEP_VALUES = st.one_of(
    DEPTHS.map(nested_list),
    DEPTHS.map(nested_map),
    st.builds(nested_attribute, DEPTHS, st.sampled_from(["L", "M"])),
    # Deep where a map of AttributeValues (an item, a key) belongs.
    st.builds(lambda depth, kind: {"pk": nested_attribute(depth, kind)}, DEPTHS, st.sampled_from(["L", "M"])),
)


def _fit(text: str, tail: str = "") -> str:
    """Nothing over 4 KB: DynamoDB's size check would refuse it before any parsing."""
    return text if len(text.encode()) <= 4096 else text[: 4096 - len(tail)] + tail


def _deep_expression(shape: str, depth: int) -> str:
    if shape == "parens":
        return _fit("(" * depth + "n = :v" + ")" * depth)
    if shape == "not":
        return _fit("NOT " * depth + "n = :v")
    if shape == "not-parens":
        return _fit("NOT (" * depth + "n = :v" + ")" * depth)
    if shape == "and-nest":
        return _fit("n = :v AND (" * depth + "n = :v" + ")" * depth)
    if shape == "calls":
        return _fit("size(" * depth + "n" + ")" * depth + " > :v")
    if shape == "update-calls":
        return _fit("SET n = " + "if_not_exists(n," * depth + ":v" + ")" * depth)
    return _fit("n, " * depth + "n")  # a long projection list


#: Expressions within 4 KB, nested from a few levels to ~2,000.
DEEP_EXPRESSIONS = st.builds(
    _deep_expression,
    st.sampled_from(["parens", "not", "not-parens", "and-nest", "calls", "update-calls", "list"]),
    st.one_of(st.sampled_from([99, 100, 101, 300, 1000, 2000]), st.integers(1, 2000)),
)

#: Lists whose elements are of the wrong JSON type (where a list of strings or structures belongs).
WRONG_ELEMENTS = st.lists(
    st.one_of(SCALARS, st.lists(st.text(max_size=2), max_size=2), st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)),
    min_size=1, max_size=3,
)

# Values of the wrong shape for almost any member.
WRONG_SHAPES = st.one_of(
    SCALARS,
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    WRONG_ELEMENTS, OUT_OF_RANGE, DEEP_VALUES,
)


# --- where to put them ---------------------------------------------------------------------


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every member path in a JSON-like request, the whole request included."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(payload: Any, path: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``payload`` with the member at ``path`` replaced by ``value``."""
    return _place(copy.deepcopy(payload), path, value)


def _place(request: Any, path: tuple[Any, ...], value: Any) -> Any:
    """``request`` with the member at ``path`` replaced in place (the whole request for ``()``).

    A path an earlier replacement already removed (its parent is no longer a
    map or list holding it) leaves the request as it was.
    """
    if not path:
        return value
    target = request
    for step in path[:-1]:
        if not _holds(target, step):
            return request
        target = target[step]
    if isinstance(target, dict) or (isinstance(target, list) and _holds(target, path[-1])):
        target[path[-1]] = value
    return request


def _holds(container: Any, step: Any) -> bool:
    if isinstance(container, dict):
        return step in container
    return isinstance(container, list) and isinstance(step, int) and 0 <= step < len(container)


def mutate(data: Any, payload: dict[str, Any], wrong: Any) -> Any:
    """One or two members of ``payload`` replaced by values drawn from ``wrong``."""
    all_paths = list(paths(payload))
    request: Any = copy.deepcopy(payload)  # once: the values placed may be ~1,000 levels deep
    placed: list[tuple[Any, ...]] = []
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        path = data.draw(st.sampled_from(all_paths), label="path")
        value = data.draw(wrong, label="value")
        # Never place into a value placed before: it may be a shared constant
        # (st.just), and placing it inside itself would make a cycle no JSON has.
        if any(path[: len(earlier)] == earlier for earlier in placed):
            continue
        request = _place(request, path, value)
        placed.append(path)
    return request
