"""Global and local secondary indexes through boto3: create, write, Query/Scan, errors, backfill."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from client_errors import error

from cellstore.engine import indexes

INVALID = "One or more parameter values were invalid: "

BASE_DEFINITIONS = [
    {"AttributeName": "pk", "AttributeType": "S"},
    {"AttributeName": "sk", "AttributeType": "S"},
]
KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]



def gsi(name: str, hash_key: str, range_key: str | None = None, projection: str = "ALL", include: list[str] | None = None) -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    spec: dict[str, Any] = {"ProjectionType": projection}
    if include:
        spec["NonKeyAttributes"] = include
    return {"IndexName": name, "KeySchema": schema, "Projection": spec}


def lsi(name: str, range_key: str, projection: str = "ALL", include: list[str] | None = None) -> dict[str, Any]:
    return gsi(name, "pk", range_key, projection, include)


@pytest.fixture
def table(ddb: Any, table_name: str) -> Iterator[Callable[..., str]]:
    """``table(extra definitions, GlobalSecondaryIndexes=..., LocalSecondaryIndexes=...)`` → name."""

    def make(definitions: dict[str, str], **indexes_: Any) -> str:
        ddb.create_table(
            TableName=table_name,
            KeySchema=KEYS,
            AttributeDefinitions=BASE_DEFINITIONS + [{"AttributeName": n, "AttributeType": t} for n, t in definitions.items()],
            BillingMode="PAY_PER_REQUEST",
            **indexes_,
        )
        return table_name

    yield make
    try:
        ddb.delete_table(TableName=table_name)
    except ClientError:
        pass


def query_all(ddb: Any, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a paged Query or Scan, and how many pages it took."""
    call = ddb.query if "KeyConditionExpression" in params else ddb.scan
    found: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = call(**params)
        pages += 1
        found.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found, pages
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def item(pk: str, sk: str, **attributes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": sk}}
    for name, value in attributes.items():
        result[name] = {"N": str(value)} if isinstance(value, int) else {"S": value}
    return result


class TestProjections:
    def test_all_keys_only_and_include(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table(
            {"g": "S"},
            GlobalSecondaryIndexes=[
                gsi("all", "g"),
                gsi("keys", "g", projection="KEYS_ONLY"),
                gsi("some", "g", projection="INCLUDE", include=["a"]),
            ],
        )
        ddb.put_item(TableName=name, Item=item("p", "1", g="G", a="A", b="B"))
        by = {}
        for index in ("all", "keys", "some"):
            page = ddb.query(TableName=name, IndexName=index, KeyConditionExpression="g = :g",
                             ExpressionAttributeValues={":g": {"S": "G"}})
            by[index] = page["Items"]
        assert by["all"] == [item("p", "1", g="G", a="A", b="B")]
        assert by["keys"] == [item("p", "1", g="G")]
        assert by["some"] == [item("p", "1", g="G", a="A")]

    def test_describe_reports_indexes(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S", "l": "N"}, GlobalSecondaryIndexes=[gsi("by-g", "g", projection="KEYS_ONLY")],
                     LocalSecondaryIndexes=[lsi("by-l", "l", projection="INCLUDE", include=["a"])])
        ddb.put_item(TableName=name, Item=item("p", "1", g="G", l=3))
        ddb.put_item(TableName=name, Item=item("p", "2"))
        described = ddb.describe_table(TableName=name)["Table"]
        (global_,) = described["GlobalSecondaryIndexes"]
        assert global_["IndexName"] == "by-g"
        assert global_["IndexStatus"] == "ACTIVE"
        assert global_["Projection"] == {"ProjectionType": "KEYS_ONLY"}
        assert global_["ItemCount"] == 1 and global_["IndexSizeBytes"] > 0
        assert global_["IndexArn"] == described["TableArn"] + "/index/by-g"
        assert set(global_["ProvisionedThroughput"]) >= {"ReadCapacityUnits", "WriteCapacityUnits"}
        (local,) = described["LocalSecondaryIndexes"]
        assert local["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["a"]}
        assert local["ItemCount"] == 1

    def test_select_all_projected_and_specific(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("some", "g", projection="INCLUDE", include=["a"])])
        ddb.put_item(TableName=name, Item=item("p", "1", g="G", a="A", b="B"))
        params = {"TableName": name, "IndexName": "some", "KeyConditionExpression": "g = :g",
                  "ExpressionAttributeValues": {":g": {"S": "G"}}}
        assert ddb.query(**params, Select="ALL_PROJECTED_ATTRIBUTES")["Items"] == [item("p", "1", g="G", a="A")]
        assert ddb.query(**params, ProjectionExpression="a")["Items"] == [{"a": {"S": "A"}}]
        assert ddb.query(**params, Select="COUNT")["Count"] == 1

    def test_local_index_fetches_unprojected_attributes(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"l": "N"}, LocalSecondaryIndexes=[lsi("by-l", "l", projection="KEYS_ONLY")])
        ddb.put_item(TableName=name, Item=item("p", "1", l=5, a="A"))
        params = {"TableName": name, "IndexName": "by-l", "KeyConditionExpression": "pk = :p",
                  "ExpressionAttributeValues": {":p": {"S": "p"}}}
        assert ddb.query(**params)["Items"] == [item("p", "1", l=5)]
        assert ddb.query(**params, Select="ALL_ATTRIBUTES")["Items"] == [item("p", "1", l=5, a="A")]
        assert ddb.query(**params, ProjectionExpression="a")["Items"] == [{"a": {"S": "A"}}]
        assert ddb.query(**params, ConsistentRead=True)["Count"] == 1


class TestErrors:
    def test_unknown_index(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g")])
        assert error(ddb.scan, TableName=name, IndexName="nope") == (
            "ValidationException", "The table does not have the specified index: nope")

    def test_consistent_read_on_global_index(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g")])
        assert error(ddb.query, TableName=name, IndexName="by-g", ConsistentRead=True, KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "G"}}) == (
            "ValidationException", "Consistent reads are not supported on global secondary indexes")
        assert error(ddb.scan, TableName=name, IndexName="by-g", ConsistentRead=True)[1] == (
            "Consistent reads are not supported on global secondary indexes")

    def test_global_index_answers_only_what_it_projects(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("keys", "g", projection="KEYS_ONLY")])
        assert error(ddb.scan, TableName=name, IndexName="keys", Select="ALL_ATTRIBUTES") == (
            "ValidationException",
            (f"{INVALID}Select type ALL_ATTRIBUTES is not supported for global secondary index keys because its "
            "projection type is not ALL"),
        )
        assert error(ddb.scan, TableName=name, IndexName="keys", ProjectionExpression="pk, b, a") == (
            "ValidationException", f"{INVALID}Global secondary index keys does not project [a, b]")

    def test_wrong_type_index_key_is_refused(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"x": "S"}, GlobalSecondaryIndexes=[gsi("idx", "x")])
        assert error(ddb.put_item, TableName=name, Item=item("p", "1", x=1)) == (
            "ValidationException",
            f"{INVALID}Type mismatch for Index Key x Expected: S Actual: N IndexName: idx",
        )
        ddb.put_item(TableName=name, Item=item("p", "1", x="ok"))
        assert error(ddb.update_item, TableName=name, Key=item("p", "1"), UpdateExpression="SET x = :n",
                     ExpressionAttributeValues={":n": {"N": "2"}})[1].startswith(f"{INVALID}Type mismatch for Index Key x")
        # Nothing was written by the refused requests.
        assert ddb.get_item(TableName=name, Key=item("p", "1"))["Item"] == item("p", "1", x="ok")

    def test_limits(self, ddb: Any, table_name: str) -> None:
        definitions = BASE_DEFINITIONS + [{"AttributeName": "l", "AttributeType": "S"}]
        code, message = error(
            ddb.create_table, TableName=table_name, KeySchema=KEYS, AttributeDefinitions=definitions,
            BillingMode="PAY_PER_REQUEST", LocalSecondaryIndexes=[lsi(f"lsi{i}", "l") for i in range(6)])
        assert (code, message) == ("ValidationException", "Cannot have more than 5 local secondary indexes per table")
        code, message = error(
            ddb.create_table, TableName=table_name, KeySchema=KEYS, AttributeDefinitions=definitions,
            BillingMode="PAY_PER_REQUEST",
            GlobalSecondaryIndexes=[gsi(f"gsi{i}", "l", projection="INCLUDE", include=[f"a{i}-{j}" for j in range(20)])
                                    for i in range(6)])
        assert code == "ValidationException" and "exceeds the limit of 100" in message


class TestPagination:
    def test_pages_across_duplicate_index_keys(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S", "r": "N"}, GlobalSecondaryIndexes=[gsi("by-g", "g", "r")])
        expected = []
        for n in range(30):
            row = item(f"p{n % 7}", f"s{n}", g="G", r=n % 4)  # many items share (g, r)
            ddb.put_item(TableName=name, Item=row)
            expected.append(row)
        ddb.put_item(TableName=name, Item=item("other", "x", g="H", r=1))
        params = {"TableName": name, "IndexName": "by-g", "KeyConditionExpression": "g = :g",
                  "ExpressionAttributeValues": {":g": {"S": "G"}}, "Limit": 4}
        page = ddb.query(**params)
        assert set(page["LastEvaluatedKey"]) == {"g", "r", "pk", "sk"}
        found, pages = query_all(ddb, **params)
        assert pages == 8
        assert len(found) == 30 and {f["sk"]["S"] for f in found} == {e["sk"]["S"] for e in expected}
        assert [int(f["r"]["N"]) for f in found] == sorted(int(f["r"]["N"]) for f in found)
        backwards, _ = query_all(ddb, **params, ScanIndexForward=False)
        assert backwards == found[::-1]
        ranged, _ = query_all(ddb, **{**params, "KeyConditionExpression": "g = :g AND r BETWEEN :a AND :b",
                                      "ExpressionAttributeValues": {":g": {"S": "G"}, ":a": {"N": "1"}, ":b": {"N": "2"}}})
        assert len(ranged) == sum(1 for n in range(30) if n % 4 in (1, 2))

    def test_scan_and_parallel_scan(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g", projection="KEYS_ONLY")])
        for n in range(40):
            ddb.put_item(TableName=name, Item=item(f"p{n}", "s", g=f"G{n % 9}") if n % 5 else item(f"p{n}", "s"))
        whole, _ = query_all(ddb, TableName=name, IndexName="by-g", Limit=7)
        assert len(whole) == 32  # the sparse index: every fifth item has no g
        segments = []
        for segment in range(3):
            part, _ = query_all(ddb, TableName=name, IndexName="by-g", Segment=segment, TotalSegments=3, Limit=5)
            segments.extend(part)
        assert sorted(s["pk"]["S"] for s in segments) == sorted(w["pk"]["S"] for w in whole)


class TestSparseAndMaintenance:
    def test_items_without_the_key_are_absent_and_updates_move_entries(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g")])
        ddb.put_item(TableName=name, Item=item("p", "1", g="A"))
        ddb.put_item(TableName=name, Item=item("p", "2"))

        def in_index(g: str) -> list[str]:
            page = ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                             ExpressionAttributeValues={":g": {"S": g}})
            return [i["sk"]["S"] for i in page["Items"]]

        assert in_index("A") == ["1"]
        ddb.update_item(TableName=name, Key=item("p", "2"), UpdateExpression="SET g = :g",
                        ExpressionAttributeValues={":g": {"S": "A"}})
        assert in_index("A") == ["1", "2"]
        ddb.update_item(TableName=name, Key=item("p", "1"), UpdateExpression="SET g = :g",
                        ExpressionAttributeValues={":g": {"S": "B"}})
        assert in_index("A") == ["2"] and in_index("B") == ["1"]
        ddb.update_item(TableName=name, Key=item("p", "1"), UpdateExpression="REMOVE g")
        ddb.delete_item(TableName=name, Key=item("p", "2"))
        assert in_index("A") == [] and in_index("B") == []
        assert ddb.scan(TableName=name, IndexName="by-g")["Count"] == 0

    def test_batch_and_transaction_writes_maintain_indexes(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g")])
        ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item("p", str(n), g="G")}} for n in range(5)]})
        ddb.transact_write_items(TransactItems=[
            {"Delete": {"TableName": name, "Key": item("p", "0")}},
            {"Put": {"TableName": name, "Item": item("p", "9", g="G")}},
        ])
        page = ddb.query(TableName=name, IndexName="by-g", KeyConditionExpression="g = :g",
                         ExpressionAttributeValues={":g": {"S": "G"}})
        assert [i["sk"]["S"] for i in page["Items"]] == ["1", "2", "3", "4", "9"]


class TestLocalIndexCollections:
    def test_item_collection_metrics(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"l": "N"}, LocalSecondaryIndexes=[lsi("by-l", "l")])
        response = ddb.put_item(TableName=name, Item=item("p", "1", l=1), ReturnItemCollectionMetrics="SIZE")
        assert response["ItemCollectionMetrics"] == {
            "ItemCollectionKey": {"pk": {"S": "p"}}, "SizeEstimateRangeGB": [0.0, 1.0]}
        response = ddb.update_item(TableName=name, Key=item("p", "1"), UpdateExpression="SET a = :a",
                                   ExpressionAttributeValues={":a": {"S": "x"}}, ReturnItemCollectionMetrics="SIZE")
        assert response["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": {"S": "p"}}
        response = ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": item("q", "1")}}]},
                                        ReturnItemCollectionMetrics="SIZE")
        assert response["ItemCollectionMetrics"][name][0]["ItemCollectionKey"] == {"pk": {"S": "q"}}
        response = ddb.transact_write_items(TransactItems=[{"Put": {"TableName": name, "Item": item("r", "1")}}],
                                            ReturnItemCollectionMetrics="SIZE")
        assert response["ItemCollectionMetrics"][name][0]["ItemCollectionKey"] == {"pk": {"S": "r"}}
        assert "ItemCollectionMetrics" not in ddb.put_item(TableName=name, Item=item("p", "2"))

    def test_no_metrics_without_local_indexes(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({"g": "S"}, GlobalSecondaryIndexes=[gsi("by-g", "g")])
        response = ddb.put_item(TableName=name, Item=item("p", "1", g="G"), ReturnItemCollectionMetrics="SIZE")
        assert "ItemCollectionMetrics" not in response

    def test_collection_size_limit(self, ddb: Any, table: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> None:
        name = table({"l": "N"}, LocalSecondaryIndexes=[lsi("by-l", "l")])
        monkeypatch.setattr(indexes, "COLLECTION_LIMIT", 3000)  # the served and in-process engines share this process
        for n in range(5):
            ddb.put_item(TableName=name, Item=item("p", str(n), l=n, pad="x" * 150))
        code, _ = error(ddb.put_item, TableName=name, Item=item("p", "9", l=9, pad="x" * 900))
        assert code == "ItemCollectionSizeLimitExceededException"
        ddb.put_item(TableName=name, Item=item("other", "9", l=9, pad="x" * 900))  # another collection is fine
        ddb.delete_item(TableName=name, Key=item("p", "0"))  # shrinking is always allowed


class TestOnlineIndexChanges:
    def test_create_backfills_then_delete(self, ddb: Any, table: Callable[..., str]) -> None:
        name = table({})
        for n in range(600):
            ddb.put_item(TableName=name, Item=item(f"p{n % 13}", f"s{n}", g=f"G{n % 3}") if n % 4 else item("x", f"s{n}"))
        described = ddb.update_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": gsi("by-g", "g", projection="KEYS_ONLY")}],
        )["TableDescription"]
        (index,) = described["GlobalSecondaryIndexes"]
        assert index["IndexStatus"] == "CREATING" and index["Backfilling"] is True
        wait_active(ddb, name, "by-g")
        found, _ = query_all(ddb, TableName=name, IndexName="by-g")
        assert len(found) == 450
        assert ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"][0]["ItemCount"] == 450
        ddb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])
        assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=name)["Table"]
        assert error(ddb.scan, TableName=name, IndexName="by-g")[1] == "The table does not have the specified index: by-g"

    def test_update_throughput(self, ddb: Any, table_name: str) -> None:
        ddb.create_table(
            TableName=table_name, KeySchema=KEYS,
            AttributeDefinitions=BASE_DEFINITIONS + [{"AttributeName": "g", "AttributeType": "S"}],
            ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            GlobalSecondaryIndexes=[{**gsi("by-g", "g"), "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1}}],
        )
        ddb.update_table(TableName=table_name, GlobalSecondaryIndexUpdates=[
            {"Update": {"IndexName": "by-g", "ProvisionedThroughput": {"ReadCapacityUnits": 5, "WriteCapacityUnits": 6}}}])
        throughput = ddb.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]
        assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (5, 6)
        ddb.delete_table(TableName=table_name)


def wait_active(ddb: Any, name: str, index: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in ddb.describe_table(TableName=name)["Table"].get("GlobalSecondaryIndexes", []):
            if entry["IndexName"] == index and entry["IndexStatus"] == "ACTIVE":
                assert "Backfilling" not in entry
                return
        time.sleep(0.05)
    raise AssertionError(f"index {index} did not become ACTIVE")


@pytest.mark.slow
def test_backfill_under_concurrent_writes(ddb: Any, table: Callable[..., str]) -> None:
    """20,000 items indexed online while 4 clients keep writing; the index then equals a fresh build."""
    name = table({})
    for start in range(0, 20000, 25):
        ddb.batch_write_item(RequestItems={name: [
            {"PutRequest": {"Item": item(f"p{n % 500}", f"s{n}", g=f"G{n % 50}", v=n)}} for n in range(start, start + 25)]})
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        try:
            while not stop.is_set():
                n = rng.randrange(22000)
                key = item(f"p{n % 500}", f"s{n}")
                action = rng.random()
                if action < 0.5:
                    ddb.put_item(TableName=name, Item=item(f"p{n % 500}", f"s{n}", g=f"G{rng.randrange(60)}", v=rng.randrange(9)))
                elif action < 0.7:
                    ddb.update_item(TableName=name, Key=key, UpdateExpression="REMOVE g")
                elif action < 0.85:
                    ddb.update_item(TableName=name, Key=key, UpdateExpression="SET g = :g",
                                    ExpressionAttributeValues={":g": {"S": f"G{rng.randrange(60)}"}})
                else:
                    ddb.delete_item(TableName=name, Key=key)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    try:
        ddb.update_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "g", "AttributeType": "S"}],
            GlobalSecondaryIndexUpdates=[{"Create": gsi("by-g", "g", projection="INCLUDE", include=["v"])}],
        )
        wait_active(ddb, name, "by-g", timeout=300)
        time.sleep(0.2)  # writes keep going after the backfill finished
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not failures, failures
    base, _ = query_all(ddb, TableName=name)
    expected = sorted(
        ({k: v for k, v in row.items() if k in ("pk", "sk", "g", "v")} for row in base if "g" in row),
        key=lambda row: (row["pk"]["S"], row["sk"]["S"]),
    )
    indexed, _ = query_all(ddb, TableName=name, IndexName="by-g")
    assert sorted(indexed, key=lambda row: (row["pk"]["S"], row["sk"]["S"])) == expected
