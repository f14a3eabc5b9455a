"""Global secondary indexes with multi-attribute keys (up to four HASH and four RANGE attributes) through boto3.

The botocore in use models KeySchema with ``min: 1`` and no maximum, so these
requests pass its client-side validation as they are; one test also sends a
raw HTTP request to the served endpoint, which no client validation touches.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from client_errors import error

INVALID = "One or more parameter values were invalid: "
KEYS = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
TYPES = {"pk": "S", "sk": "S", "tournament": "S", "division": "S", "round": "S", "bracket": "S", "score": "N", "tag": "B"}



def schema(hashes: list[str], ranges: list[str]) -> list[dict[str, str]]:
    return [{"AttributeName": n, "KeyType": "HASH"} for n in hashes] + [
        {"AttributeName": n, "KeyType": "RANGE"} for n in ranges
    ]


def gsi(name: str, hashes: list[str], ranges: list[str], projection: str = "ALL") -> dict[str, Any]:
    return {"IndexName": name, "KeySchema": schema(hashes, ranges), "Projection": {"ProjectionType": projection}}


def definitions(*names: str) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": TYPES[n]} for n in ("pk", "sk", *names)]


MATCHES = gsi("matches", ["tournament", "division"], ["round", "bracket", "score"])


@pytest.fixture
def table(ddb: Any, table_name: str) -> Iterator[str]:
    """A table with the ``matches`` index: partition (tournament, region), sort (round, bracket, score)."""
    ddb.create_table(
        TableName=table_name,
        KeySchema=KEYS,
        AttributeDefinitions=definitions("tournament", "division", "round", "bracket", "score"),
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[MATCHES],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    yield table_name
    ddb.delete_table(TableName=table_name)


def match(n: int, tournament: str = "W24", region: str = "NA", round_: str = "R1", bracket: str = "U", score: int = 0) -> dict[str, Any]:
    return {
        "pk": {"S": f"m{n:03d}"},
        "sk": {"S": "match"},
        "tournament": {"S": tournament},
        "division": {"S": region},
        "round": {"S": round_},
        "bracket": {"S": bracket},
        "score": {"N": str(score)},
    }


def query(ddb: Any, table: str, condition: str, values: dict[str, Any], **extra: Any) -> list[str]:
    """Every page of an index Query; the table keys (pk) in the order returned."""
    params: dict[str, Any] = {
        "TableName": table, "IndexName": "matches", "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values, **extra,
    }
    if "#" in condition:
        params["ExpressionAttributeNames"] = {"#r": "round"}
    found: list[str] = []
    while True:
        page = ddb.query(**params)
        found += [item["pk"]["S"] for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return found
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


PARTITION = "tournament = :t AND division = :g"
WNA = {":t": {"S": "W24"}, ":g": {"S": "NA"}}


def s(text: str) -> dict[str, str]:
    return {"S": text}


def n(number: int) -> dict[str, str]:
    return {"N": str(number)}


# ---- definitions -------------------------------------------------------------------


def test_create_and_describe_keep_the_key_schema(ddb: Any, table: str) -> None:
    described = ddb.describe_table(TableName=table)["Table"]
    (index,) = described["GlobalSecondaryIndexes"]
    assert index["KeySchema"] == MATCHES["KeySchema"]
    assert index["IndexStatus"] == "ACTIVE"
    assert {d["AttributeName"] for d in described["AttributeDefinitions"]} == {
        "pk", "sk", "tournament", "division", "round", "bracket", "score",
    }


def test_four_and_four_is_the_limit(ddb: Any, table_name: str) -> None:
    names = [f"h{i}" for i in range(5)] + [f"r{i}" for i in range(5)]
    defs = [{"AttributeName": x, "AttributeType": "S"} for x in names] + definitions()

    def create(hashes: list[str], ranges: list[str], name: str) -> tuple[str, str]:
        used = set(hashes + ranges)
        return error(
            ddb.create_table, TableName=name, KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[d for d in defs if d["AttributeName"] in used | {"pk", "sk"}],
            GlobalSecondaryIndexes=[gsi("big", hashes, ranges)],
        )

    assert create(names[:5], names[5:7], table_name + "a") == (
        "ValidationException", "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of HASH key attributes",
    )
    assert create(names[:1], names[5:], table_name + "b") == (
        "ValidationException", "Invalid KeySchema: The KeySchema exceeds the maximum allowed number of RANGE key attributes",
    )
    ddb.create_table(
        TableName=table_name, KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[d for d in defs if d["AttributeName"] not in ("h4", "r4")],
        GlobalSecondaryIndexes=[gsi("big", names[:4], names[5:9])],
    )
    try:
        item = {"pk": s("a"), "sk": s("b"), **{x: s(x) for x in names[:4] + names[5:9]}}
        ddb.put_item(TableName=table_name, Item=item)
        condition = " AND ".join(f"{x} = :{x}" for x in names[:4] + names[5:9])
        found = ddb.query(
            TableName=table_name, IndexName="big", KeyConditionExpression=condition,
            ExpressionAttributeValues={f":{x}": s(x) for x in names[:4] + names[5:9]},
        )
        assert found["Items"] == [item]
    finally:
        ddb.delete_table(TableName=table_name)


@pytest.mark.parametrize(
    ("key_schema", "message"),
    [
        (
            schema(["tournament"], ["round"]) + [{"AttributeName": "division", "KeyType": "HASH"}],
            "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema",
        ),
        (
            [{"AttributeName": "round", "KeyType": "RANGE"}] + schema(["tournament", "division"], []),
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
        ),
        (
            schema(["tournament", "division"], ["tournament"]),
            "Invalid KeySchema: The KeySchema contains the attribute tournament more than once",
        ),
        (
            schema(["tournament", "tournament"], []),
            "Invalid KeySchema: The KeySchema contains the attribute tournament more than once",
        ),
        (
            schema(["tournament"], ["tournament"]),
            "Invalid KeySchema: Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ),
    ],
)
def test_refused_key_schemas(ddb: Any, table_name: str, key_schema: list[dict[str, str]], message: str) -> None:
    assert error(
        ddb.create_table, TableName=table_name, KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=definitions("tournament", "division", "round"),
        GlobalSecondaryIndexes=[{"IndexName": "bad", "KeySchema": key_schema, "Projection": {"ProjectionType": "ALL"}}],
    ) == ("ValidationException", message)


def test_every_key_attribute_needs_a_definition(ddb: Any, table_name: str) -> None:
    assert error(
        ddb.create_table, TableName=table_name, KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=definitions("tournament", "round"),
        GlobalSecondaryIndexes=[gsi("ggg", ["tournament", "division"], ["round"])],
    ) == (
        "ValidationException",
        (
            f"{INVALID}Some index key attributes are not defined in AttributeDefinitions. "
            "Keys: [tournament, division, round], AttributeDefinitions: [pk, sk, tournament, round]"
        ),
    )


def test_local_indexes_keep_two_elements(ddb: Any, table_name: str) -> None:
    code, message = error(
        ddb.create_table, TableName=table_name, KeySchema=KEYS, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=definitions("round", "bracket"),
        LocalSecondaryIndexes=[gsi("lll", ["pk"], ["round", "bracket"])],
    )
    assert code == "ValidationException"
    assert "localSecondaryIndexes.1.member.keySchema" in message and "less than or equal to 2" in message


# ---- writes, sparseness, types ------------------------------------------------------


def test_items_missing_any_key_attribute_are_not_indexed(ddb: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=match(1))
    for missing in ("tournament", "division", "round", "bracket", "score"):
        item = match(2)
        del item[missing]
        item["pk"] = s(f"no-{missing}")
        ddb.put_item(TableName=table, Item=item)
    assert query(ddb, table, PARTITION, WNA) == ["m001"]
    scanned = ddb.scan(TableName=table, IndexName="matches")["Items"]
    assert [i["pk"]["S"] for i in scanned] == ["m001"]
    # Removing one key attribute takes the item out of the index; putting it back returns it.
    ddb.update_item(TableName=table, Key={"pk": s("m001"), "sk": s("match")}, UpdateExpression="REMOVE bracket")
    assert query(ddb, table, PARTITION, WNA) == []
    ddb.update_item(TableName=table, Key={"pk": s("m001"), "sk": s("match")}, UpdateExpression="SET bracket = :b",
                    ExpressionAttributeValues={":b": s("L")})
    assert query(ddb, table, PARTITION, WNA) == ["m001"]


def test_a_key_attribute_of_the_wrong_type_is_refused(ddb: Any, table: str) -> None:
    item = match(1)
    item["score"] = s("high")
    assert error(ddb.put_item, TableName=table, Item=item) == (
        "ValidationException",
        f"{INVALID}Type mismatch for Index Key score Expected: N Actual: S IndexName: matches",
    )
    item = match(1)
    item["division"] = s("")
    code, message = error(ddb.put_item, TableName=table, Item=item)
    assert code == "ValidationException" and "IndexName: matches, IndexKey: division" in message


# ---- Query ---------------------------------------------------------------------------


@pytest.fixture
def loaded(ddb: Any, table: str) -> str:
    """Matches over two partitions, several rounds, brackets and scores."""
    n_ = 0
    for region in ("NA", "EU"):
        for round_ in ("R1", "R2", "R3"):
            for bracket in ("L", "U"):
                for score in (-5, 0, 7):
                    n_ += 1
                    ddb.put_item(TableName=table, Item=match(n_, region=region, round_=round_, bracket=bracket, score=score))
    return table


def expected(region: str = "NA", keep: Callable[[str, str, int], bool] = lambda r, b, sc: True) -> list[str]:
    """The pk values that ``loaded`` wrote, filtered and in index order (round, bracket, score)."""
    n_ = 0
    found = []
    for region_ in ("NA", "EU"):
        for round_ in ("R1", "R2", "R3"):
            for bracket in ("L", "U"):
                for score in (-5, 0, 7):
                    n_ += 1
                    if region_ == region and keep(round_, bracket, score):
                        found.append((round_, bracket, score, f"m{n_:03d}"))
    return [x[-1] for x in sorted(found)]


@pytest.mark.parametrize(
    ("condition", "values", "keep"),
    [
        ("", {}, lambda r, b, sc: True),
        ("#r = :r", {":r": s("R2")}, lambda r, b, sc: r == "R2"),
        ("#r > :r", {":r": s("R1")}, lambda r, b, sc: r > "R1"),
        ("#r < :r", {":r": s("R2")}, lambda r, b, sc: r < "R2"),
        ("#r <= :r", {":r": s("R2")}, lambda r, b, sc: r <= "R2"),
        ("#r >= :r", {":r": s("R2")}, lambda r, b, sc: r >= "R2"),
        ("#r BETWEEN :a AND :b", {":a": s("R2"), ":b": s("R3")}, lambda r, b, sc: "R2" <= r <= "R3"),
        ("begins_with(#r, :r)", {":r": s("R")}, lambda r, b, sc: True),
        ("#r = :r AND bracket = :b", {":r": s("R2"), ":b": s("U")}, lambda r, b, sc: (r, b) == ("R2", "U")),
        ("#r = :r AND bracket > :b", {":r": s("R2"), ":b": s("L")}, lambda r, b, sc: r == "R2" and b > "L"),
        ("#r = :r AND bracket <= :b", {":r": s("R2"), ":b": s("L")}, lambda r, b, sc: r == "R2" and b <= "L"),
        ("#r = :r AND begins_with(bracket, :b)", {":r": s("R3"), ":b": s("U")}, lambda r, b, sc: (r, b) == ("R3", "U")),
        ("#r = :r AND bracket = :b AND score = :s", {":r": s("R1"), ":b": s("U"), ":s": n(0)},
         lambda r, b, sc: (r, b, sc) == ("R1", "U", 0)),
        ("#r = :r AND bracket = :b AND score < :s", {":r": s("R1"), ":b": s("U"), ":s": n(0)},
         lambda r, b, sc: (r, b) == ("R1", "U") and sc < 0),
        ("#r = :r AND bracket = :b AND score >= :s", {":r": s("R1"), ":b": s("U"), ":s": n(0)},
         lambda r, b, sc: (r, b) == ("R1", "U") and sc >= 0),
        ("#r = :r AND bracket = :b AND score BETWEEN :x AND :y", {":r": s("R1"), ":b": s("L"), ":x": n(-5), ":y": n(0)},
         lambda r, b, sc: (r, b) == ("R1", "L") and -5 <= sc <= 0),
        # Conditions in any textual order (the key schema orders them).
        ("score > :s AND bracket = :b AND #r = :r", {":r": s("R3"), ":b": s("L"), ":s": n(-5)},
         lambda r, b, sc: (r, b) == ("R3", "L") and sc > -5),
    ],
)
def test_query_conditions_order_and_paging(
    ddb: Any, loaded: str, condition: str, values: dict[str, Any], keep: Callable[[str, str, int], bool]
) -> None:
    full = PARTITION + (f" AND {condition}" if condition else "")
    want = expected("NA", keep)
    assert want, "every case selects something"
    assert query(ddb, loaded, full, {**WNA, **values}) == want
    assert query(ddb, loaded, full, {**WNA, **values}, ScanIndexForward=False) == want[::-1]
    assert query(ddb, loaded, full, {**WNA, **values}, Limit=2) == want
    assert query(ddb, loaded, full, {**WNA, **values}, Limit=1, ScanIndexForward=False) == want[::-1]


def test_last_evaluated_key_carries_every_key_attribute(ddb: Any, loaded: str) -> None:
    page = ddb.query(TableName=loaded, IndexName="matches", KeyConditionExpression=PARTITION,
                     ExpressionAttributeValues=WNA, Limit=1)
    assert set(page["LastEvaluatedKey"]) == {"pk", "sk", "tournament", "division", "round", "bracket", "score"}
    # A start key from another partition is outside the query's boundaries.
    start = dict(page["LastEvaluatedKey"], division=s("EU"))
    assert error(ddb.query, TableName=loaded, IndexName="matches", KeyConditionExpression=PARTITION,
                 ExpressionAttributeValues=WNA, ExclusiveStartKey=start) == (
        "ValidationException", "The provided starting key is outside query boundaries based on provided conditions",
    )
    partial = {k: v for k, v in page["LastEvaluatedKey"].items() if k != "bracket"}
    assert error(ddb.query, TableName=loaded, IndexName="matches", KeyConditionExpression=PARTITION,
                 ExpressionAttributeValues=WNA, ExclusiveStartKey=partial) == (
        "ValidationException", "The provided starting key is invalid: The provided key element does not match the schema",
    )


@pytest.mark.parametrize(
    ("condition", "values", "message"),
    [
        ("tournament = :t", {":t": s("W24")}, "Query condition missed key schema element: division"),
        ("division = :g", {":g": s("NA")}, "Query condition missed key schema element: tournament"),
        ("tournament = :t AND division > :g", WNA, "Query key condition not supported"),
        (PARTITION + " AND bracket = :b", {**WNA, ":b": s("U")}, "Query condition missed key schema element: round"),
        (PARTITION + " AND #r = :r AND score = :s", {**WNA, ":r": s("R1"), ":s": n(0)},
         "Query condition missed key schema element: bracket"),
        (PARTITION + " AND #r > :r AND bracket = :b", {**WNA, ":r": s("R1"), ":b": s("U")},
         "Query key condition not supported"),
        (PARTITION + " AND begins_with(#r, :r) AND bracket = :b", {**WNA, ":r": s("R"), ":b": s("U")},
         "Query key condition not supported"),
        (PARTITION + " AND #r BETWEEN :r AND :x AND bracket = :b", {**WNA, ":r": s("R1"), ":x": s("R2"), ":b": s("U")},
         "Query key condition not supported"),
        (PARTITION + " AND pk = :p", {**WNA, ":p": s("m001")}, "Query condition missed key schema element: round"),
        (PARTITION + " AND #r = :r AND #r = :r", {**WNA, ":r": s("R1")},
         "KeyConditionExpressions must only contain one condition per key"),
        (PARTITION + " AND #r = :r AND score = :s", {**WNA, ":r": s("R1"), ":s": s("zero")},
         "Query condition missed key schema element: bracket"),
        (PARTITION + " AND #r = :r AND bracket = :b AND score = :s", {**WNA, ":r": s("R1"), ":b": s("U"), ":s": s("0")},
         f"{INVALID}Condition parameter type does not match schema type"),
        ("tournament = :t AND division = :g", {":t": s("W24"), ":g": n(1)},
         f"{INVALID}Condition parameter type does not match schema type"),
    ],
)
def test_refused_key_conditions(ddb: Any, table: str, condition: str, values: dict[str, Any], message: str) -> None:
    params: dict[str, Any] = {"TableName": table, "IndexName": "matches", "KeyConditionExpression": condition,
                              "ExpressionAttributeValues": values}
    if "#r" in condition:
        params["ExpressionAttributeNames"] = {"#r": "round"}
    assert error(ddb.query, **params) == ("ValidationException", message)


def test_legacy_key_conditions_within_their_two_conditions(ddb: Any, loaded: str) -> None:
    """KeyConditions allows two conditions: enough for both partition attributes of ``matches``."""
    page = ddb.query(TableName=loaded, IndexName="matches", KeyConditions={
        "tournament": {"ComparisonOperator": "EQ", "AttributeValueList": [s("W24")]},
        "division": {"ComparisonOperator": "EQ", "AttributeValueList": [s("EU")]},
    })
    assert [item["pk"]["S"] for item in page["Items"]] == expected("EU")
    assert error(ddb.query, TableName=loaded, IndexName="matches", KeyConditions={
        "tournament": {"ComparisonOperator": "EQ", "AttributeValueList": [s("W24")]},
        "round": {"ComparisonOperator": "EQ", "AttributeValueList": [s("R1")]},
    }) == ("ValidationException", "Query condition missed key schema element: division")


def test_consistent_read_is_refused(ddb: Any, table: str) -> None:
    assert error(ddb.query, TableName=table, IndexName="matches", KeyConditionExpression=PARTITION,
                 ExpressionAttributeValues=WNA, ConsistentRead=True) == (
        "ValidationException", "Consistent reads are not supported on global secondary indexes",
    )


def test_scan_returns_every_indexed_item_and_pages(ddb: Any, loaded: str) -> None:
    everything: list[str] = []
    start: dict[str, Any] | None = None
    while True:
        extra = {} if start is None else {"ExclusiveStartKey": start}
        page = ddb.scan(TableName=loaded, IndexName="matches", Limit=5, **extra)
        everything += [item["pk"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if start is None:
            break
    assert sorted(everything) == sorted(expected("NA") + expected("EU"))
    # Within one index partition the scan keeps the index order.
    na = [p for p in everything if p in set(expected("NA"))]
    assert na == expected("NA")


# ---- other writers -----------------------------------------------------------------


def test_batch_and_transactional_writes_maintain_the_index(ddb: Any, table: str) -> None:
    ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": match(i, score=i)}} for i in range(1, 6)]})
    assert query(ddb, table, PARTITION, WNA) == ["m001", "m002", "m003", "m004", "m005"]
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": table, "Item": match(6, score=-1)}},
        {"Delete": {"TableName": table, "Key": {"pk": s("m002"), "sk": s("match")}}},
        {"Update": {"TableName": table, "Key": {"pk": s("m003"), "sk": s("match")},
                    "UpdateExpression": "SET #r = :r", "ExpressionAttributeNames": {"#r": "round"},
                    "ExpressionAttributeValues": {":r": s("R2")}}},
    ])
    assert query(ddb, table, PARTITION, WNA) == ["m006", "m001", "m004", "m005", "m003"]
    ddb.batch_write_item(RequestItems={table: [{"DeleteRequest": {"Key": {"pk": s("m001"), "sk": s("match")}}}]})
    assert query(ddb, table, PARTITION + " AND #r = :r", {**WNA, ":r": s("R1")}) == ["m006", "m004", "m005"]


def test_stream_records_are_those_of_the_table(ddb: Any, streams: Any, table: str) -> None:
    ddb.put_item(TableName=table, Item=match(1))
    ddb.delete_item(TableName=table, Key={"pk": s("m001"), "sk": s("match")})
    arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [r["eventName"] for r in records] == ["INSERT", "REMOVE"]
    assert all(r["dynamodb"]["Keys"] == {"pk": s("m001"), "sk": s("match")} for r in records)
    assert records[0]["dynamodb"]["NewImage"] == match(1)


def test_update_table_create_backfills(ddb: Any, table_name: str) -> None:
    ddb.create_table(TableName=table_name, KeySchema=KEYS, AttributeDefinitions=definitions(),
                     BillingMode="PAY_PER_REQUEST")
    try:
        for i in range(1, 40):
            ddb.put_item(TableName=table_name, Item=match(i, region="NA" if i % 2 else "EU", score=i % 5))
        ddb.update_table(
            TableName=table_name,
            AttributeDefinitions=definitions("tournament", "division", "round", "bracket", "score"),
            GlobalSecondaryIndexUpdates=[{"Create": MATCHES}],
        )
        deadline = time.monotonic() + 20
        while True:
            (index,) = ddb.describe_table(TableName=table_name)["Table"]["GlobalSecondaryIndexes"]
            if index["IndexStatus"] == "ACTIVE":
                break
            assert time.monotonic() < deadline, "backfill did not finish"
            time.sleep(0.05)
        assert index["KeySchema"] == MATCHES["KeySchema"]
        want = sorted((i % 5, f"m{i:03d}") for i in range(1, 40) if i % 2)
        assert query(ddb, table_name, PARTITION, WNA) == [p for _, p in want]
        # Deleting it drops its entries: the index is gone, the table's items stay.
        ddb.update_table(TableName=table_name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "matches"}}])
        assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=table_name)["Table"]
        assert error(ddb.query, TableName=table_name, IndexName="matches", KeyConditionExpression=PARTITION,
                     ExpressionAttributeValues=WNA) == (
            "ValidationException", "The table does not have the specified index: matches",
        )
        assert ddb.scan(TableName=table_name, Select="COUNT")["Count"] == 39
    finally:
        ddb.delete_table(TableName=table_name)


def test_update_table_refuses_an_interleaved_key_schema(ddb: Any, table_name: str) -> None:
    ddb.create_table(TableName=table_name, KeySchema=KEYS, AttributeDefinitions=definitions(),
                     BillingMode="PAY_PER_REQUEST")
    try:
        bad = {"IndexName": "bad", "Projection": {"ProjectionType": "ALL"},
               "KeySchema": schema(["tournament"], ["round"]) + [{"AttributeName": "division", "KeyType": "HASH"}]}
        assert error(ddb.update_table, TableName=table_name,
                     AttributeDefinitions=definitions("tournament", "division", "round"),
                     GlobalSecondaryIndexUpdates=[{"Create": bad}]) == (
            "ValidationException",
            "Invalid KeySchema: All HASH key attributes must precede RANGE key attributes in the KeySchema",
        )
    finally:
        ddb.delete_table(TableName=table_name)


# ---- raw HTTP ------------------------------------------------------------------------


def test_raw_http_create_and_query(cellstore_server: Any, table_name: str) -> None:
    """No client-side validation at all: the JSON goes to the server as written."""
    endpoint = cellstore_server.client().meta.endpoint_url

    url = urlsplit(endpoint)

    def call(operation: str, body: dict[str, Any]) -> dict[str, Any]:
        connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
        try:
            connection.request("POST", "/", body=json.dumps(body).encode(), headers={
                "Content-Type": "application/x-amz-json-1.0",
                "X-Amz-Target": f"DynamoDB_20120810.{operation}",
                "X-Amz-Date": "20250101T000000Z",
                "Authorization": "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, "
                                 "SignedHeaders=host;x-amz-date, Signature=00",
            })
            response = connection.getresponse()
            answer = json.loads(response.read())
        finally:
            connection.close()
        assert response.status == 200, answer
        return dict(answer)

    created = call("CreateTable", {
        "TableName": table_name, "KeySchema": KEYS, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": definitions("tournament", "division", "round", "bracket", "score"),
        "GlobalSecondaryIndexes": [MATCHES],
    })
    assert created["TableDescription"]["GlobalSecondaryIndexes"][0]["KeySchema"] == MATCHES["KeySchema"]
    try:
        call("PutItem", {"TableName": table_name, "Item": match(1, score=3)})
        call("PutItem", {"TableName": table_name, "Item": match(2, score=1)})
        found = call("Query", {
            "TableName": table_name, "IndexName": "matches",
            "KeyConditionExpression": PARTITION + " AND #r = :r AND bracket = :b AND score > :s",
            "ExpressionAttributeNames": {"#r": "round"},
            "ExpressionAttributeValues": {**WNA, ":r": s("R1"), ":b": s("U"), ":s": n(0)},
        })
        assert [item["pk"]["S"] for item in found["Items"]] == ["m002", "m001"]
    finally:
        call("DeleteTable", {"TableName": table_name})
