"""Index Query and Scan equal a filter-and-sort over the base table, for random data (hypothesis).

Random writes (puts with or without the index keys, updates, deletes) go
through ``api.dispatch``; then every index query — each operator, both
directions, paged with a small Limit — must return exactly the base items
that match, ordered by index sort key (ties: by table key), projected.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellstore.api import dispatch
from cellstore.engine.database import Database
from cellstore.engine.keycodec import encode_value
from cellstore.engine.wiring import open_database
from cellstore.storage.sqlite import SqliteStore

TABLE = "things"
PARTITIONS = ["a", "b", "c"]

sort_values = st.integers(min_value=-5, max_value=5).map(lambda n: {"N": str(Decimal(n) / 2)})
index_hashes = st.sampled_from(["x", "y", "x\x00z"]).map(lambda s: {"S": s})
maybe = lambda strategy: st.one_of(st.none(), strategy)  # noqa: E731

writes = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "put", "delete"]),
        st.sampled_from(PARTITIONS),
        st.integers(min_value=0, max_value=6),
        maybe(index_hashes),
        maybe(sort_values),
        maybe(st.sampled_from(["p", "q"])),
    ),
    max_size=40,
)
conditions = st.tuples(
    st.sampled_from([None, "=", "<", "<=", ">", ">=", "BETWEEN"]),
    sort_values,
    sort_values,
)


def make_db() -> Database:
    db = open_database(SqliteStore(None), background=False)
    dispatch(db, "CreateTable", {
        "TableName": TABLE,
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "N"},
            {"AttributeName": "h", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "GlobalSecondaryIndexes": [
            {"IndexName": "by-h-r", "KeySchema": [{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["p"]}},
        ],
        "LocalSecondaryIndexes": [
            {"IndexName": "by-r", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "KEYS_ONLY"}},
        ],
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


def matches(value: dict[str, str], op: str | None, low: dict[str, str], high: dict[str, str]) -> bool:
    v, a, b = Decimal(value["N"]), Decimal(low["N"]), Decimal(high["N"])
    return {
        None: True, "=": v == a, "<": v < a, "<=": v <= a, ">": v > a, ">=": v >= a, "BETWEEN": a <= v <= b,
    }[op]


def order(item: dict[str, Any]) -> tuple[bytes, bytes, bytes]:
    return encode_value(item["r"]), encode_value(item["pk"]), encode_value(item["sk"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(writes, index_hashes, conditions, st.booleans(), st.integers(min_value=1, max_value=4))
def test_index_query_equals_filter_and_sort(
    steps: list[tuple[Any, ...]], hash_value: dict[str, str], condition: tuple[Any, ...], forward: bool, limit: int
) -> None:
    db = make_db()
    try:
        for action, pk, sk, h, r, p in steps:
            key = {"pk": {"S": pk}, "sk": {"N": str(sk)}}
            if action == "delete":
                dispatch(db, "DeleteItem", {"TableName": TABLE, "Key": key})
                continue
            item = dict(key, other={"S": "o"})
            for name, value in (("h", h), ("r", r), ("p", None if p is None else {"S": p})):
                if value is not None:
                    item[name] = value
            dispatch(db, "PutItem", {"TableName": TABLE, "Item": item})
        base = paged(db, "Scan", {"TableName": TABLE})
        op, low, high = condition
        if op == "BETWEEN" and Decimal(low["N"]) > Decimal(high["N"]):
            low, high = high, low
        expression = "h = :h" + ("" if op is None else (" AND r BETWEEN :a AND :b" if op == "BETWEEN" else f" AND r {op} :a"))
        values = {":h": hash_value} | ({} if op is None else {":a": low}) | ({":b": high} if op == "BETWEEN" else {})

        expected = sorted(
            (
                {k: v for k, v in row.items() if k in ("pk", "sk", "h", "r", "p")}
                for row in base
                if row.get("h") == hash_value and "r" in row and matches(row["r"], op, low, high)
            ),
            key=order,
            reverse=not forward,
        )
        got = paged(db, "Query", {
            "TableName": TABLE, "IndexName": "by-h-r", "KeyConditionExpression": expression,
            "ExpressionAttributeValues": values, "ScanIndexForward": forward, "Limit": limit,
        })
        assert got == expected

        scanned = paged(db, "Scan", {"TableName": TABLE, "IndexName": "by-h-r", "Limit": limit})
        assert sorted(scanned, key=order) == sorted(
            ({k: v for k, v in row.items() if k in ("pk", "sk", "h", "r", "p")} for row in base if "h" in row and "r" in row),
            key=order,
        )

        for pk in PARTITIONS:
            local = paged(db, "Query", {
                "TableName": TABLE, "IndexName": "by-r", "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": pk}}, "Limit": limit,
            })
            assert local == sorted(
                ({k: v for k, v in row.items() if k in ("pk", "sk", "r")} for row in base if row["pk"]["S"] == pk and "r" in row),
                key=order,
            )
    finally:
        db.close()
