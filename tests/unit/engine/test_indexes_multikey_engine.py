"""Multi-attribute GSI keys in the engine: tuple encoding, entry layout, key-condition rules, backfill."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from cellstore.engine import background, catalog, indexes, items, keycodec
from cellstore.engine.catalog import TableSpec, TableUpdate
from cellstore.engine.database import Database
from cellstore.engine.expressions.keycondition import KeyCondition, build_key_condition
from cellstore.engine.indexes import IndexSpec, IndexUpdate
from cellstore.engine.tables import load_table
from cellstore.engine.values import AttributeValue
from cellstore.engine.wiring import open_database
from cellstore.errors import ValidationException
from cellstore.storage.base import prefix_end
from cellstore.storage.sqlite import SqliteStore

MULTI = IndexSpec("multi", ("a", "b"), ("x", "y", "z"), "KEYS_ONLY")
DEFINITIONS = (("pk", "S"), ("sk", "N"), ("a", "S"), ("b", "N"), ("x", "S"), ("y", "B"), ("z", "N"))


def spec(name: str = "things", **fields: object) -> TableSpec:
    base: dict[str, object] = {
        "name": name,
        "attribute_definitions": (("pk", "S"), ("sk", "N")),
        "hash_key": "pk",
        "range_key": "sk",
        "billing_mode": catalog.PAY_PER_REQUEST,
    }
    base.update(fields)
    return TableSpec(**base)  # type: ignore[arg-type]


def entries(db: Database, name: str = "things") -> list[tuple[bytes, bytes]]:
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, name)
        prefix = indexes.find_index(table, "multi").prefix(table)
        return list(txn.range(prefix, prefix_end(prefix)))


def item(n: int, **keys: AttributeValue) -> dict[str, AttributeValue]:
    return {"pk": {"S": f"p{n % 7}"}, "sk": {"N": str(n)}, **keys}


# ---- keycodec ----------------------------------------------------------------


SAMPLES: list[AttributeValue] = [
    {"S": ""}, {"S": "a"}, {"S": "a\x00"}, {"S": "ab"}, {"S": "b"},
    {"N": "-10"}, {"N": "-1.5"}, {"N": "0"}, {"N": "1"}, {"N": "10"},
]


def test_a_one_tuple_encodes_exactly_as_a_single_value() -> None:
    for value in SAMPLES:
        assert keycodec.encode_values([value]) == keycodec.encode_value(value)
        assert keycodec.index_tuple_partition_prefix(7, 3, [value]) == keycodec.index_partition_prefix(7, 3, value)


def _sort_key(value: AttributeValue) -> tuple[int, object]:
    if "N" in value:
        return (0, Decimal(value["N"]))
    return (1, value["S"].encode("utf-8"))


def test_tuples_order_element_by_element() -> None:
    """Byte order of encoded tuples is lexicographic order of their elements (numbers before strings by tag)."""
    tuples = [list(t) for t in itertools.product(SAMPLES, repeat=2)]
    by_bytes = sorted(tuples, key=keycodec.encode_values)
    by_values = sorted(tuples, key=lambda t: [_sort_key(v) for v in t])
    assert by_bytes == by_values
    # And a tuple's encoding is never a prefix-collision of a different tuple's.
    assert len({keycodec.encode_values(t) for t in tuples}) == len(tuples)


# ---- entries -------------------------------------------------------------------


def test_entry_layout_and_sparseness(db: Database) -> None:
    catalog.create_table(db, spec(attribute_definitions=DEFINITIONS, global_indexes=(MULTI,)))
    keys = {"a": {"S": "A"}, "b": {"N": "2"}, "x": {"S": "X"}, "y": {"B": "AAE="}, "z": {"N": "-3"}}
    items.put_item(db, "things", item(1, **keys, w={"S": "not projected"}))
    for missing in keys:
        items.put_item(db, "things", item(10, **{k: v for k, v in keys.items() if k != missing}))
    ((key, value),) = entries(db)
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
    partition = keycodec.encode_value(keys["a"]) + keycodec.encode_value(keys["b"])
    assert key == (
        keycodec.index_prefix(table.id, 1) + keycodec.partition_hash(partition) + partition
        + keycodec.encode_value(keys["x"]) + keycodec.encode_value(keys["y"]) + keycodec.encode_value(keys["z"])
        + keycodec.encode_value({"S": "p1"}) + keycodec.encode_value({"N": "1"})
    )
    assert orjson.loads(value) == {"pk": {"S": "p1"}, "sk": {"N": "1"}, **keys}
    described = catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]
    assert described["KeySchema"] == [
        {"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "HASH"},
        {"AttributeName": "x", "KeyType": "RANGE"}, {"AttributeName": "y", "KeyType": "RANGE"},
        {"AttributeName": "z", "KeyType": "RANGE"},
    ]
    assert described["ItemCount"] == 1


def test_every_key_attribute_type_is_checked(db: Database) -> None:
    catalog.create_table(db, spec(attribute_definitions=DEFINITIONS, global_indexes=(MULTI,)))
    good = {"a": {"S": "A"}, "b": {"N": "2"}, "x": {"S": "X"}, "y": {"B": "AAE="}, "z": {"N": "-3"}}
    for name, wrong in (("b", {"S": "2"}), ("y", {"S": "y"}), ("z", {"B": "AA=="})):
        with pytest.raises(ValidationException, match=f"Type mismatch for Index Key {name} Expected"):
            items.put_item(db, "things", item(1, **{**good, name: wrong}))
    assert entries(db) == []


def test_online_creation_equals_a_fresh_build(tmp_path: Path) -> None:
    db = open_database(SqliteStore(tmp_path / "cellstore.db"), background=False)
    catalog.create_table(db, spec())
    for n in range(90):
        keys: dict[str, AttributeValue] = {"a": {"S": f"A{n % 3}"}, "b": {"N": str(n % 2)}, "x": {"S": f"X{n % 4}"},
                                           "y": {"B": "AAE="}, "z": {"N": str(n)}}
        if n % 5 == 0:
            del keys["y"]
        items.put_item(db, "things", item(n, **keys))
    catalog.update_table(db, "things", TableUpdate(
        index_updates=(IndexUpdate("Create", "multi", create=MULTI),), attribute_definitions=DEFINITIONS[2:]))
    assert catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING"
    background.run_backfills(db)
    assert catalog.describe_table(db, "things")["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE"
    online = entries(db)
    with db.store.transaction(write=False) as txn:
        table = load_table(txn, "things")
        rows = [orjson.loads(raw) for _, raw in txn.range(keycodec.table_prefix(table.id),
                                                          prefix_end(keycodec.table_prefix(table.id)))]
    catalog.create_table(db, spec("fresh", attribute_definitions=DEFINITIONS, global_indexes=(MULTI,)))
    for row in rows:
        items.put_item(db, "fresh", row)
    assert [(k[11:], v) for k, v in online] == [(k[11:], v) for k, v in entries(db, "fresh")]
    assert len(online) == 72  # 90 items, every fifth without y
    db.close()


# ---- key conditions ------------------------------------------------------------------


A, B, X, Y, Z = ({"S": "a"},), ({"N": "1"},), ({"S": "x"},), ({"B": "AA=="},), ({"N": "9"},)
HASHES, RANGES = ("a", "b"), ("x", "y", "z")


def build(*parts: tuple[str, str, tuple[AttributeValue, ...]]) -> KeyCondition:
    return build_key_condition(list(parts), HASHES, RANGES)


def test_partition_only_and_equal_prefixes() -> None:
    condition = build(("b", "=", B), ("a", "=", A))
    assert condition.partition == (A[0], B[0]) and condition.range_op is None and condition.range_prefix == ()
    condition = build(("a", "=", A), ("b", "=", B), ("x", "=", X), ("y", "=", Y), ("z", "<=", Z))
    assert condition.range_prefix == (X[0], Y[0]) and condition.range_op == "<=" and condition.range_values == Z
    condition = build(("a", "=", A), ("b", "=", B), ("x", "BEGINS_WITH", X))
    assert condition.range_prefix == () and condition.range_op == "BEGINS_WITH"


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ((("a", "=", A),), "Query condition missed key schema element: b"),
        ((("b", "=", B), ("x", "=", X)), "Query condition missed key schema element: a"),
        ((("a", "=", A), ("b", ">", B)), "Query key condition not supported"),
        ((("a", "=", A), ("b", "=", B), ("y", "=", Y)), "Query condition missed key schema element: x"),
        ((("a", "=", A), ("b", "=", B), ("x", "=", X), ("z", "=", Z)), "Query condition missed key schema element: y"),
        ((("a", "=", A), ("b", "=", B), ("x", ">", X), ("y", "=", Y)), "Query key condition not supported"),
        ((("a", "=", A), ("b", "=", B), ("x", "BETWEEN", X + X), ("y", "<", Y)), "Query key condition not supported"),
        ((("a", "=", A), ("b", "=", B), ("x", "=", X), ("x", "=", X)),
         "KeyConditionExpressions must only contain one condition per key"),
        ((("a", "=", A), ("b", "=", B), ("x", "=", X), ("y", "=", Y), ("z", "=", Z), ("q", "=", Z)),
         "Query key condition not supported"),
    ],
)
def test_refused_shapes(parts: tuple[tuple[str, str, tuple[AttributeValue, ...]], ...], message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        build(*parts)
    assert caught.value.message == message


def test_single_attribute_names_keep_the_classic_result() -> None:
    """Names given as plain strings or as 1-tuples give the same KeyCondition as before."""
    parts = [("pk", "=", A), ("sk", ">", B)]
    classic = build_key_condition(parts, "pk", "sk")
    assert classic == build_key_condition(parts, ("pk",), ("sk",))
    assert classic == KeyCondition(A[0], ">", B)
