"""Query on a GSI with a multi-attribute key equals a brute-force filter-and-sort of the table (hypothesis).

The index ``multi`` has partition (h1: S, h2: N) and sort (r1: S, r2: N, r3: S).
Random puts (each key attribute present or not) and deletes go through
``api.dispatch``; then a Query with equality on both partition attributes and
a left-to-right condition on the first k sort attributes (equality on all but
the last used, any operator on that one), in either direction and paged with
a small Limit, must return exactly the table items that have every key
attribute and match, ordered by (r1, r2, r3) and then the table key — compared
here with Python's own ordering of the values, not the engine's byte encoding.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellstore.api import dispatch
from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.storage.sqlite import SqliteStore

TABLE = "things"
SORT = ("r1", "r2", "r3")
KEY_NAMES = ("pk", "sk", "h1", "h2", *SORT)

strings = st.sampled_from(["a", "ab", "a\x00", "b"]).map(lambda s: {"S": s})
numbers = st.integers(min_value=-3, max_value=3).map(lambda n: {"N": str(Decimal(n) / 2)})
# Few partitions, so that queries find items; richer sort values, so that conditions split them.
partition_strings = st.sampled_from(["a", "a\x00"]).map(lambda s: {"S": s})
partition_numbers = st.sampled_from(["0", "-1.5"]).map(lambda n: {"N": n})
KINDS = {"h1": partition_strings, "h2": partition_numbers, "r1": strings, "r2": numbers, "r3": strings}


writes = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "put", "put", "delete"]),
        st.sampled_from(["p", "q"]),
        st.integers(min_value=0, max_value=5),
        st.fixed_dictionaries(KINDS),
        # Key attributes the item lacks (it is then left out of the index).
        st.frozensets(st.sampled_from(sorted(KINDS)), max_size=2),
    ),
    min_size=1,
    max_size=40,
)
OPERATORS = ["=", "<", "<=", ">", ">=", "BETWEEN", "BEGINS_WITH"]
queries = st.tuples(
    partition_strings, partition_numbers,  # the partition
    st.sampled_from([3, 2, 1, 0]),  # how many sort attributes the condition names
    st.sampled_from(OPERATORS),
    st.fixed_dictionaries({name: KINDS[name] for name in SORT}),  # equality values / first operand
    st.fixed_dictionaries({name: KINDS[name] for name in SORT}),  # second operand of BETWEEN
)


def make_db() -> Database:
    db = open_database(SqliteStore(None), background=False)
    dispatch(db, "CreateTable", {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S" if name in ("pk", "h1", "r1", "r3") else "N"}
            for name in KEY_NAMES
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [{
            "IndexName": "multi",
            "KeySchema": [{"AttributeName": "h1", "KeyType": "HASH"}, {"AttributeName": "h2", "KeyType": "HASH"}]
            + [{"AttributeName": name, "KeyType": "RANGE"} for name in SORT],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
    })
    return db


def paged(db: Database, operation: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while True:
        page = dispatch(db, operation, dict(payload))
        found.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return found
        payload["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def natural(value: dict[str, str]) -> Any:
    """A key value as Python orders it the way DynamoDB does: numbers by value, strings by UTF-8 bytes."""
    return Decimal(value["N"]) if "N" in value else value["S"].encode("utf-8")


def matches(value: dict[str, str], op: str, low: dict[str, str], high: dict[str, str]) -> bool:
    v, a, b = natural(value), natural(low), natural(high)
    if op == "BEGINS_WITH":
        return isinstance(v, bytes) and v.startswith(a)
    return {"=": v == a, "<": v < a, "<=": v <= a, ">": v > a, ">=": v >= a, "BETWEEN": a <= v <= b}[op]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes, queries, st.booleans(), st.integers(min_value=1, max_value=4), st.data())
def test_multi_attribute_query_equals_filter_and_sort(
    steps: list[tuple[Any, ...]], query: tuple[Any, ...], forward: bool, limit: int, data: st.DataObject
) -> None:
    db = make_db()
    try:
        for action, pk, sk, keys, dropped in steps:
            key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
            if action == "delete":
                dispatch(db, "DeleteItem", {"TableName": TABLE, "Key": key})
                continue
            item = dict(key, other={"S": "o"}, **{name: value for name, value in keys.items() if name not in dropped})
            dispatch(db, "PutItem", {"TableName": TABLE, "Item": item})
        base = paged(db, "Scan", {"TableName": TABLE})

        h1, h2, used, op, first, second = query
        indexed = [{name: row[name] for name in KEY_NAMES} for row in base if all(name in row for name in KEY_NAMES)]
        if indexed and not data.draw(st.booleans(), "leave the condition random"):
            # Most random conditions select nothing; aim this one at an item that exists.
            aimed = data.draw(st.sampled_from(indexed), "aimed item")
            h1, h2 = aimed["h1"], aimed["h2"]
            first = {name: aimed[name] for name in SORT}
        last = SORT[used - 1] if used else None
        if last is not None and op == "BEGINS_WITH" and "S" not in first[last]:
            op = ">="  # begins_with takes a string or binary operand; r2 is a number
        if op == "BETWEEN" and last is not None and natural(first[last]) > natural(second[last]):
            first, second = dict(first, **{last: second[last]}), dict(second, **{last: first[last]})
        names = {"#" + name: name for name in SORT[:used]}
        values = {":h1": h1, ":h2": h2}
        parts = ["h1 = :h1", "h2 = :h2"]
        for name in SORT[: max(used - 1, 0)]:
            parts.append(f"#{name} = :{name}")
            values[f":{name}"] = first[name]
        if last is not None:
            values[f":{last}"] = first[last]
            if op == "BETWEEN":
                parts.append(f"#{last} BETWEEN :{last} AND :hi")
                values[":hi"] = second[last]
            elif op == "BEGINS_WITH":
                parts.append(f"begins_with(#{last}, :{last})")
            else:
                parts.append(f"#{last} {op} :{last}")

        def selected(row: dict[str, Any]) -> bool:
            if any(name not in row for name in KEY_NAMES) or (row["h1"], row["h2"]) != (h1, h2):
                return False
            if any(row[name] != first[name] for name in SORT[: max(used - 1, 0)]):
                return False
            return last is None or matches(row[last], op, first[last], second[last])

        expected = sorted(
            ({name: row[name] for name in KEY_NAMES} for row in base if selected(row)),
            key=lambda row: [natural(row[name]) for name in (*SORT, "pk", "sk")],
            reverse=not forward,
        )
        payload: dict[str, Any] = {
            "TableName": TABLE, "IndexName": "multi", "KeyConditionExpression": " AND ".join(parts),
            "ExpressionAttributeValues": values, "ScanIndexForward": forward, "Limit": limit,
        }
        if names:
            payload["ExpressionAttributeNames"] = names
        assert paged(db, "Query", payload) == expected

        scanned = paged(db, "Scan", {"TableName": TABLE, "IndexName": "multi", "Limit": limit})
        def order(row: dict[str, Any]) -> list[Any]:
            return [natural(row[name]) for name in KEY_NAMES]

        assert sorted(scanned, key=order) == sorted(indexed, key=order)
    finally:
        db.close()
