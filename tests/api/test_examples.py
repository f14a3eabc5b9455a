"""The seed patterns in examples/ run, under concurrency, against a served cellstore."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from example_modules import load


def make_table(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     BillingMode="PAY_PER_REQUEST")


def test_optimistic_locking_under_contention(ddb: Any, table_name: str) -> None:
    example = load("optimistic_locking")
    make_table(ddb, table_name)
    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda n: example.add_to_cart(ddb, table_name, "cart", f"p{n}"), range(40)))
    item = ddb.get_item(TableName=table_name, Key={"pk": {"S": "cart"}})["Item"]
    assert item["version"] == {"N": "40"}
    assert sorted(p["S"] for p in item["products"]["L"]) == sorted(f"p{n}" for n in range(40))
    assert sum(attempts) >= 40


def test_idempotent_spike_applies_each_order_once(ddb: Any, table_name: str) -> None:
    example = load("idempotent_spike")
    make_table(ddb, table_name)
    ddb.put_item(TableName=table_name, Item={"pk": {"S": "stock#tshirt"}, "available": {"N": "50"}})
    with ThreadPoolExecutor(8) as pool:
        # Each order is sent twice, concurrently, as a client retrying after a timeout would.
        results = list(pool.map(lambda n: example.place_order(ddb, table_name, str(n % 60), "tshirt"), range(120)))
    stock = ddb.get_item(TableName=table_name, Key={"pk": {"S": "stock#tshirt"}})["Item"]["available"]["N"]
    orders = ddb.scan(TableName=table_name, FilterExpression="begins_with(pk, :o)",
                      ExpressionAttributeValues={":o": {"S": "order#"}})["Count"]
    assert stock == "0"
    assert orders == 50
    assert sum(results) >= 50


def test_examples_run_as_scripts(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    load("optimistic_locking").main(ddb.meta.endpoint_url)
    assert capsys.readouterr().out.strip() == "10"
    load("idempotent_spike").main(ddb.meta.endpoint_url)
    assert capsys.readouterr().out.strip() == "placed=100 retried_ok=100 stock_left=0"
