"""The handler examples: a CQRS read model fed by a stream, and a FIFO queue absorbing a burst."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from example_modules import load

from cellstore.embedded import in_process
from cellstore.handlers import runner


@pytest.fixture(autouse=True)
def fast_handlers() -> Iterator[None]:
    saved = replace(runner.SETTINGS)
    runner.SETTINGS.poll_seconds = 0.01
    runner.SETTINGS.backoff_seconds = 0.01
    yield
    runner.SETTINGS.poll_seconds, runner.SETTINGS.backoff_seconds = saved.poll_seconds, saved.backoff_seconds


def wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_cqrs_read_model_follows_inserts_changes_and_deletes_across_a_restart(tmp_path: Path) -> None:
    example = load("cqrs_read_model")
    expected: dict[str, tuple[Decimal, int]] = {}
    orders: dict[str, tuple[str, int]] = {}

    def write(client: Any, order: str, customer: str, amount: int) -> None:
        client.put_item(TableName="orders", Item={"order": {"S": order}, "customer": {"S": customer},
                                                  "amount": {"N": str(amount)}})
        orders[order] = (customer, amount)

    def settled(client: Any) -> bool:
        want: dict[str, tuple[Decimal, int]] = {}
        for customer, amount in orders.values():
            total, count = want.get(customer, (Decimal(0), 0))
            want[customer] = (total + amount, count + 1)
        got = {c: v for c, v in example.totals(client, "order_totals").items() if v[1]}
        expected.update(want)
        return got == want

    for phase in range(2):  # the second phase is a restart on the same data dir
        with in_process(tmp_path) as store:
            client = store.client()
            if phase == 0:
                example.create_tables(client, "orders", "order_totals")
            store.handlers.register(store.db.table_arn("orders"), example.make_handler(client, "order_totals"),
                                    Name="totals", BatchSize=25, StartingPosition="TRIM_HORIZON")
            for n in range(60):
                write(client, f"o{phase}-{n}", f"c{n % 4}", 10 + n)
            write(client, f"o{phase}-1", "c9", 1000)  # moves to another customer
            client.delete_item(TableName="orders", Key={"order": {"S": f"o{phase}-2"}})
            del orders[f"o{phase}-2"]
            wait_for(functools.partial(settled, client), 10)
    assert expected["c9"] == (Decimal(2000), 2)


def test_spike_absorber_applies_a_5000_message_burst_once_each_in_order(tmp_path: Path) -> None:
    example = load("spike_absorber")
    drain(example, tmp_path, entities=100, updates=50)


@pytest.mark.slow
def test_spike_absorber_drains_the_issue_s_50000_message_burst(tmp_path: Path) -> None:
    """The acceptance burst: 1,000 entities x 50 updates; takes about a minute on two cores."""
    drain(load("spike_absorber"), tmp_path, entities=1000, updates=50, timeout=300)


def drain(example: ModuleType, tmp_path: Path, entities: int, updates: int, timeout: float = 30) -> None:
    with in_process(tmp_path) as store:
        client, sqs = store.client(), store.client("sqs")
        url = example.create(client, sqs, "balances", "updates")
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sent = example.send_burst(sqs, url, entities=entities, updates=updates)
        assert sent == entities * updates
        mapping = store.handlers.register(arn, example.make_handler(client, "balances"), BatchSize=10,
                                          FunctionResponseTypes=["ReportBatchItemFailures"], MaximumConcurrency=2)
        wait_for(lambda: mapping.metrics.records >= sent, timeout)
        items = {}
        start = None
        while True:  # a scan, page by page
            page = client.scan(TableName="balances", **({"ExclusiveStartKey": start} if start else {}))
            items.update({i["pk"]["S"]: i for i in page["Items"]})
            start = page.get("LastEvaluatedKey")
            if start is None:
                break
        assert len(items) == entities
        for item in items.values():
            assert [int(v["N"]) for v in item["applied"]["L"]] == list(range(1, updates + 1))  # in order, once each
            assert item["version"]["N"] == str(updates)
            assert item["balance"]["N"] == str(updates * (updates + 1) // 2)
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        assert mapping.metrics.errors == 0
