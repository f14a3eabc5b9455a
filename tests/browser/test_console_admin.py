"""The console's read-only admin pages in headless Chromium: Handlers, Cells and Cache, each on a server that has them.

Each page is checked against the server's own answer (``GET /_cellstore/NAME``,
read here with urllib) and against what the test did through boto3, so a page
that shows numbers of its own invention fails.  Screenshots go to
``test-artifacts/console/``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.browser.conftest import Console, open_console

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.server]


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def admin_answer(endpoint: str, name: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{endpoint}/_cellstore/{name}", timeout=10) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


def client(endpoint: str, service: str, account: str = "000000000000") -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=account, aws_secret_access_key="x")


def wait_for(check: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)


@pytest.fixture
def page_on(browser: Any) -> Iterator[Any]:
    """``page_on(endpoint)``: a fresh console on that server (script errors fail the test)."""
    opened: list[Iterator[Console]] = []

    def open_on(endpoint: str) -> Console:
        generator = open_console(browser, endpoint)
        opened.append(generator)
        return next(generator)

    yield open_on
    for generator in opened:
        next(generator, None)


HANDLERS = '''
def on_orders(event, context):
    pass

def on_jobs(event, context):
    for record in event["Records"]:
        if record["body"] == "bad":
            raise ValueError("cannot handle job 'bad'")
'''

HANDLERS_TOML = '''
[[handler]]
name = "orders-read-model"
function = "console_handlers:on_orders"
table = "orders"
BatchSize = 5
StartingPosition = "TRIM_HORIZON"

[[handler]]
name = "jobs-worker"
function = "console_handlers:on_jobs"
queue = "jobs"
BatchSize = 1
'''


def test_handlers_page_shows_mappings_state_and_failures(
    page_on: Any, server_process: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "console_handlers.py").write_text(HANDLERS)
    config = tmp_path / "handlers.toml"
    config.write_text(HANDLERS_TOML)
    monkeypatch.setenv("CELLSTORE_HANDLER_POLL_SECONDS", "0.05")
    server = server_process("--in-memory", "--handlers", str(config))
    ddb, sqs = client(server.endpoint_url, "dynamodb"), client(server.endpoint_url, "sqs")
    ddb.create_table(TableName="orders", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
                     StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    for n in range(7):
        ddb.put_item(TableName="orders", Item={"pk": {"S": f"order-{n}"}})
    queue = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="fine")
    sqs.send_message(QueueUrl=queue, MessageBody="bad")

    def settled() -> bool:
        found = {entry["name"]: entry["metrics"] for entry in admin_answer(server.endpoint_url, "handlers")["handlers"]}
        return found.get("orders-read-model", {}).get("records") == 7 and found.get("jobs-worker", {}).get("errors", 0) >= 1

    wait_for(settled)

    console = page_on(server.endpoint_url)
    page = console.open("#/handlers")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Handlers")).to_be_visible()
    expect(nav.get_by_role("link", name="Cells")).to_be_hidden()  # not a server of cells
    expect(nav.get_by_role("link", name="Cache")).to_be_hidden()  # not served with --cache
    mappings = page.get_by_role("table", name="Handlers")
    orders = mappings.locator("tr[data-name=orders-read-model]")
    expect(orders.get_by_test_id("records")).to_have_text("7")
    expect(orders.get_by_test_id("state")).to_have_text("running")
    expect(orders).to_contain_text("table orders")
    expect(orders).to_contain_text("console_handlers:on_orders")
    expect(orders.get_by_test_id("iterator-age")).to_have_text(re.compile(r"^\d+(\.\d)? (ms|s|min|h)$"))
    jobs = mappings.locator("tr[data-name=jobs-worker]")
    expect(jobs).to_contain_text("queue jobs")
    expect(jobs.get_by_test_id("iterator-age")).to_have_text("–")  # a stream's measure only
    expect(jobs.get_by_test_id("errors")).not_to_have_text("0")
    failures = page.get_by_role("table", name="Failures")
    expect(failures).to_contain_text("jobs-worker")
    expect(failures).to_contain_text("cannot handle job 'bad'")
    expect(failures).not_to_contain_text("orders-read-model")
    # What the page shows is the server's answer: the same lease holder as GET /_cellstore/handlers names.
    owner = next(e["owner"] for e in admin_answer(server.endpoint_url, "handlers")["handlers"] if e["name"] == "jobs-worker")
    expect(jobs).to_contain_text(owner)
    console.shot("handlers")


def test_handlers_page_without_handlers_says_how_to_add_them(page_on: Any, server_process: Any) -> None:
    server = server_process("--in-memory")
    page = page_on(server.endpoint_url).open("#/handlers")
    expect(page.get_by_role("status")).to_contain_text("--handlers handlers.toml")


def make_table(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")


def test_cells_page_shows_the_map_health_tenants_and_a_move(page_on: Any, server_process: Any, tmp_path: Path) -> None:
    from cellstore.cells.cellmap import MapTable
    from cellstore.cells.config import load
    from cellstore.engine.wiring import open_database
    from cellstore.storage import open_store

    cells_file = tmp_path / "cells.toml"
    cells_file.write_text('[cells.a]\nstorage = "a"\nzone = "east"\n[cells.b]\nstorage = "b"\nzone = "west"\n')
    server = server_process("--cells", str(cells_file), "--auth", "none", "--workers", "1")
    accounts = ["111111111111", "222222222222", "333333333333"]
    for account in accounts:
        ddb = client(server.endpoint_url, "dynamodb", account)
        make_table(ddb, "orders")
        ddb.put_item(TableName="orders", Item={"pk": {"S": account}})
    answer = admin_answer(server.endpoint_url, "cells")
    placed = {cell["name"]: cell["tenants"] for cell in answer["cells"]}
    assert sum(placed.values()) == 3

    # A move as its mover records it before copying (and as a killed mover leaves it): the page follows it.
    map_db = open_database(open_store(load(cells_file).map_location()), background=False)
    try:
        table = MapTable(map_db)
        mover = next(account for account, cell in table.read().tenants.items() if cell == "a") \
            if placed["a"] else next(iter(table.read().tenants))
        source = table.read().tenants[mover]
        target = "b" if source == "a" else "a"
        table.record_move(mover, source, target, "copying")
    finally:
        map_db.close()

    console = page_on(server.endpoint_url)
    page = console.open("#/cells")
    nav = page.get_by_role("navigation", name="Pages")
    expect(nav.get_by_role("link", name="Cells")).to_be_visible()
    expect(nav.get_by_role("link", name="Handlers")).to_be_hidden()  # a server of cells runs no handlers
    cells = page.get_by_role("table", name="Cells")
    for name, zone in (("a", "east"), ("b", "west")):
        row = cells.locator(f"tr[data-cell={name}]")
        expect(row.get_by_test_id("health")).to_have_text("healthy")
        expect(row).to_contain_text(zone)
        expect(row.locator("td").nth(3)).to_have_text(str(placed[name]))
    move = page.get_by_role("table", name="Moves").locator(f"tr[data-account='{mover}']")
    expect(move.get_by_test_id("phase")).to_have_text("copying")  # within the router's map refresh (2 s)
    expect(move).to_contain_text("step 1 of 4")
    console.shot("cells")

    # The real mover resumes that move and finishes it: the page shows the tenant in its new cell, no move.
    moved = subprocess.run([sys.executable, "-m", "cellstore", "cells", "move", mover, "--to", target,
                            "--cells", str(cells_file)], capture_output=True, text=True, timeout=60, check=False)
    assert moved.returncode == 0, moved.stderr
    expect(page.get_by_text("None. Move a tenant with")).to_be_visible()
    expect(cells.locator(f"tr[data-cell={target}]").locator("td").nth(3)).to_have_text(str(placed[target] + 1))
    assert client(server.endpoint_url, "dynamodb", mover).get_item(
        TableName="orders", Key={"pk": {"S": mover}})["Item"]["pk"]["S"] == mover

    # A move called off (`cells move --abort`) whose aborter was killed: shown as being called off, not as a step;
    # running the abort again ends it and the tenant stays where it was.
    map_db = open_database(open_store(load(cells_file).map_location()), background=False)
    try:
        table = MapTable(map_db)
        other = next(account for account in accounts if account != mover)
        home = table.read().tenants[other]
        table.record_move(other, home, "b" if home == "a" else "a", "aborting")
    finally:
        map_db.close()
    called_off = page.get_by_role("table", name="Moves").locator(f"tr[data-account='{other}']")
    expect(called_off.get_by_test_id("phase")).to_have_text("aborting")
    expect(called_off).to_contain_text("being called off")
    aborted = subprocess.run([sys.executable, "-m", "cellstore", "cells", "move", other, "--abort",
                              "--cells", str(cells_file)], capture_output=True, text=True, timeout=60, check=False)
    assert aborted.returncode == 0, aborted.stderr
    expect(page.get_by_text("None. Move a tenant with")).to_be_visible()
    assert client(server.endpoint_url, "dynamodb", other).get_item(
        TableName="orders", Key={"pk": {"S": other}})["Item"]["pk"]["S"] == other


def test_cache_page_shows_hit_rates_per_zone(
    page_on: Any, server_process: Any, memcached_binary: str, tmp_path: Path
) -> None:
    from memcached_cluster import Memcached

    zones = {name: Memcached(memcached_binary).start() for name in ("a", "b")}
    try:
        config = tmp_path / "cache.toml"
        config.write_text("".join(f'[zones.{name}]\nservers = ["{node.address}"]\n' for name, node in zones.items())
                          + "[tables.users]\nttl = 60\n[item_cache]\nhold = 1\n")
        server = server_process("--in-memory", "--workers", "1", "--cache", str(config), "--zone", "a")
        ddb = client(server.endpoint_url, "dynamodb")
        make_table(ddb, "users")
        ddb.put_item(TableName="users", Item={"pk": {"S": "ada"}, "name": {"S": "Ada"}})
        time.sleep(1.1)  # the write's tombstone refuses fills for `hold` (1 s)
        for _ in range(5):
            assert ddb.get_item(TableName="users", Key={"pk": {"S": "ada"}})["Item"]["name"]["S"] == "Ada"
        ddb.get_item(TableName="users", Key={"pk": {"S": "nobody"}})
        answer = admin_answer(server.endpoint_url, "cache")
        zone_a = answer["zones"]["a"]
        assert zone_a["hits"] >= 3 and zone_a["misses"] >= 1 and answer["zone"] == "a"

        console = page_on(server.endpoint_url)
        page = console.open("#/cache")
        expect(page.get_by_role("navigation", name="Pages").get_by_role("link", name="Cache")).to_be_visible()
        expect(page.get_by_test_id("own-zone")).to_have_text("a")
        expect(page.get_by_text("users")).to_be_visible()
        row = page.get_by_role("table", name="Zones").locator("tr[data-zone=a]")
        expect(row).to_contain_text("read first")
        # No request is served between the answer above and the page's: its numbers are the same.
        hits, misses = zone_a["hits"], zone_a["misses"]
        expect(row.locator("td").nth(2)).to_have_text(str(hits))
        expect(row.locator("td").nth(3)).to_have_text(str(misses))
        expect(row.get_by_test_id("hit-rate")).to_have_text(f"{100 * hits / (hits + misses):.1f}%")
        expect(page.get_by_role("table", name="Nodes")).to_contain_text(zones["a"].address)
        console.shot("cache")
    finally:
        for node in zones.values():
            node.kill()
