"""The console's PartiQL editor and Backups page in headless Chromium, each effect read back with boto3.

A user creates a table in the console, runs INSERT and SELECT with ``?``
parameters (plain and DynamoDB JSON), pages with NextToken and sees AWS's
error for a bad statement; then backs a table up, writes more, restores the
backup to a new name and browses the restored table's items.  The last test
does both under ``--auth sigv4``, signed in the browser.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.browser.conftest import Console, open_console

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def create_table_in_console(page: Any, name: str, partition: str, sort: str | None = None) -> None:
    page.goto(page.url.split("#")[0] + "#/tables")
    page.get_by_role("button", name="Create table").click()
    form = page.get_by_role("form", name="Create table")
    form.get_by_label("Table name").fill(name)
    form.get_by_label("Partition key name").fill(partition)
    if sort:
        form.get_by_label("Sort key name").fill(sort)
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()


def run_statement(page: Any, statement: str, parameters: list[Any] | None = None, *, typed: bool = False) -> None:
    form = page.get_by_role("form", name="PartiQL statement")
    form.get_by_label("Statement").fill(statement)
    form.locator("input[name=parameters]").fill(json.dumps(parameters) if parameters is not None else "")
    form.get_by_label("Parameters are").select_option("dynamodb" if typed else "plain")
    form.get_by_role("button", name="Run").click()


def test_partiql_insert_select_page_and_errors(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    page = console.open()
    create_table_in_console(page, "songs", "artist", "title")

    # From the table's page to the editor, which starts with a SELECT of that table.
    page.get_by_role("link", name="PartiQL").last.click()
    statement = page.get_by_role("form", name="PartiQL statement").get_by_label("Statement")
    expect(statement).to_have_value('SELECT * FROM "songs"')
    expect(page.locator("nav a.current")).to_have_text("PartiQL")

    # INSERT with plain parameters, then with typed (DynamoDB JSON) ones.
    insert = "INSERT INTO \"songs\" VALUE {'artist': ?, 'title': ?, 'plays': ?}"
    run_statement(page, insert, ["Acme Band", "Hello", 3])
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"0 items"))
    run_statement(page, insert, [{"S": "Acme Band"}, {"S": "World"}, {"N": "5"}], typed=True)
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"0 items"))
    run_statement(page, insert, ["Other", "Solo", 1])
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"0 items"))
    world = ddb.get_item(TableName="songs", Key={"artist": {"S": "Acme Band"}, "title": {"S": "World"}})["Item"]
    assert world["plays"] == {"N": "5"}
    assert ddb.scan(TableName="songs", Select="COUNT")["Count"] == 3

    # SELECT with a parameter: a Query of one artist, shown as the items table shows items.
    run_statement(page, 'SELECT * FROM "songs" WHERE artist = ?', ["Acme Band"])
    expect(page.get_by_test_id("count")).to_have_text("Page 1: 2 items")
    rows = page.get_by_role("table", name="Items").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Hello")
    expect(rows.nth(1)).to_contain_text("World")
    boto3_code = page.get_by_test_id("boto3").inner_text()
    assert "client.execute_statement(" in boto3_code
    assert 'Statement="SELECT * FROM \\"songs\\" WHERE artist = ?"' in boto3_code
    assert '"S": "Acme Band"' in boto3_code
    cli = page.get_by_test_id("cli").inner_text()
    assert cli.startswith("aws dynamodb execute-statement")
    assert "--parameters '[{\"S\":\"Acme Band\"}]'" in cli
    console.shot("partiql")

    # Pages of one item: Next follows NextToken, Previous goes back.
    form = page.get_by_role("form", name="PartiQL statement")
    form.get_by_label("Page size").fill("1")
    form.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("count")).to_have_text("Page 1: 1 item (more follow)")
    expect(rows.first).to_contain_text("Hello")
    assert "NextToken" not in page.get_by_test_id("boto3").inner_text()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"^Page 2: 1 item"))
    expect(rows.first).to_contain_text("World")
    assert "NextToken=" in page.get_by_test_id("boto3").inner_text()
    page.get_by_role("button", name="Previous").click()
    expect(page.get_by_test_id("count")).to_have_text("Page 1: 1 item (more follow)")
    expect(rows.first).to_contain_text("Hello")
    form.get_by_label("Page size").fill("")

    # A statement the server cannot read: AWS's error type and message, no results.
    alert = page.get_by_role("alert").first
    run_statement(page, 'SELEC * FROM "songs"')
    expect(alert).to_contain_text("ValidationException")
    expect(alert).to_contain_text("Statement wasn't well formed")
    expect(page.get_by_test_id("count")).to_be_hidden()
    # An INSERT of an existing key, and a wrong number of parameters: the API's words.
    run_statement(page, insert, ["Acme Band", "Hello", 9])
    expect(alert).to_contain_text("DuplicateItemException")
    run_statement(page, 'SELECT * FROM "songs" WHERE artist = ?', ["Acme Band", "extra"])
    expect(alert).to_contain_text("ValidationException")
    expect(alert).to_contain_text("Number of parameters in request and statement don't match")
    # Parameters that are not JSON, or not DynamoDB JSON when said to be: refused before anything is sent.
    form.locator("input[name=parameters]").fill("[nope")
    form.get_by_role("button", name="Run").click()
    expect(alert).to_contain_text("Parameters: not valid JSON")
    run_statement(page, 'SELECT * FROM "songs" WHERE artist = ?', ["Acme Band"], typed=True)
    expect(alert).to_contain_text("value 1 is not DynamoDB JSON")
    assert ddb.get_item(TableName="songs", Key={"artist": {"S": "Acme Band"}, "title": {"S": "Hello"}})["Item"]["plays"] == {"N": "3"}

    # The editor is also reachable from the items page.
    page.goto(page.url.split("#")[0] + "#/tables/songs/items")
    page.get_by_role("link", name="PartiQL editor").click()
    expect(statement).to_have_value('SELECT * FROM "songs"')


def test_backup_write_more_restore_and_delete(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    page = console.open()
    create_table_in_console(page, "ledger", "id")
    for n in range(3):
        ddb.put_item(TableName="ledger", Item={"id": {"S": f"entry-{n}"}, "amount": {"N": str(10 * n)}})

    # From the table's page to its backups; a name the API refuses shows its message.
    page.get_by_role("link", name="Backups").last.click()
    expect(page.get_by_role("heading", name="Backups of ledger")).to_be_visible()
    expect(page.get_by_text("No backups of ledger yet.")).to_be_visible()
    create = page.get_by_role("form", name="Create backup")
    expect(create.get_by_label("Table")).to_have_value("ledger")
    create.get_by_label("Backup name").fill("x!")
    create.get_by_role("button", name="Create backup").click()
    expect(create.get_by_role("alert")).to_contain_text("ValidationException")
    create.get_by_label("Backup name").fill("before-more")
    create.get_by_role("button", name="Create backup").click()
    card = page.get_by_role("region", name="Backup before-more")
    expect(card).to_contain_text("AVAILABLE")
    expect(card.locator("dd").nth(6)).to_have_text("3")  # Items
    listed = ddb.list_backups(TableName="ledger")["BackupSummaries"]
    assert [b["BackupName"] for b in listed] == ["before-more"]
    arn = listed[0]["BackupArn"]
    expect(page.get_by_role("table", name="Backups").locator("tbody tr")).to_have_count(1)

    # More writes after the backup: the restore must not have them.
    for n in range(3, 5):
        ddb.put_item(TableName="ledger", Item={"id": {"S": f"entry-{n}"}, "amount": {"N": str(10 * n)}})

    # Restore to a new name, from the list's Restore button; the status is followed until ACTIVE.
    page.get_by_role("button", name="Restore before-more").click()
    restore = page.get_by_role("form", name="Restore backup")
    expect(restore.get_by_label("New table name")).to_be_focused()
    restore.get_by_label("New table name").fill("ledger")
    restore.get_by_role("button", name="Restore").click()
    expect(restore.get_by_role("alert")).to_contain_text("TableAlreadyExistsException")
    restore.get_by_label("New table name").fill("ledger-restored")
    restore.get_by_role("button", name="Restore").click()
    status = page.get_by_test_id("restore-status")
    expect(status).to_contain_text(re.compile(r"CREATING → .*ACTIVE"), timeout=20_000)
    expect(status).to_contain_text("ledger-restored")
    restored = ddb.describe_table(TableName="ledger-restored")["Table"]
    assert restored["TableStatus"] == "ACTIVE"
    assert restored["RestoreSummary"]["SourceBackupArn"] == arn
    console.shot("backups")

    # The restored table's items: the three from before the backup, not the two written after.
    page.get_by_role("link", name="Browse ledger-restored's items").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"3 items"))
    cells = page.get_by_role("table", name="Items").locator("tbody tr td:first-child")
    assert sorted(cells.all_inner_texts()) == ["entry-0", "entry-1", "entry-2"]
    assert ddb.scan(TableName="ledger", Select="COUNT")["Count"] == 5

    # Delete the backup after the confirmation (Cancel first: nothing happens).
    page.goto(page.url.split("#")[0] + "#/backups")
    expect(page.get_by_role("table", name="Backups").locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Delete before-more").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert len(ddb.list_backups(TableName="ledger")["BackupSummaries"]) == 1
    page.get_by_role("button", name="Delete before-more").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_text("No backups yet.")).to_be_visible()
    assert ddb.list_backups(TableName="ledger")["BackupSummaries"] == []


ADMIN = ("AKIACONSOLEPARTIQL", "admin-secret-for-partiql")
READER = ("AKIACONSOLEPQREAD", "reader-secret-for-partiql")


@pytest.mark.server
def test_partiql_and_backups_signed_in_with_sigv4(
    browser: Any, server_process: Callable[..., Any], tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials.json"
    credentials.write_text(json.dumps({
        "keys": {ADMIN[0]: {"secret": ADMIN[1], "principal": "admin"},
                 READER[0]: {"secret": READER[1], "principal": "reader"}},
        "principals": {
            "admin": {"policies": [{"Version": "2012-10-17",
                                    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}]},
            "reader": {"policies": [{"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["dynamodb:ListTables", "dynamodb:DescribeTable"], "Resource": "*"}]}]},
        },
    }))
    server = server_process("--in-memory", "--auth", "sigv4", "--credentials", str(credentials))
    ddb = boto3.client("dynamodb", endpoint_url=server.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1])
    ddb.create_table(TableName="notes", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")

    for (key, secret), allowed in ((ADMIN, True), (READER, False)):
        for console in open_console(browser, server.endpoint_url):
            page = console.open("#/partiql/notes")
            form = page.get_by_role("form", name="Sign in")
            form.get_by_label("Access key ID").fill(key)
            form.get_by_label("Secret access key").fill(secret)
            form.get_by_role("button", name="Sign in").click()
            expect(page.get_by_role("heading", name="PartiQL")).to_be_visible()
            if not allowed:
                # The reader's policy has no dynamodb:PartiQLSelect: the API's AccessDenied, where it was tried.
                run_statement(page, 'SELECT * FROM "notes" WHERE id = ?', ["a"])
                expect(page.get_by_role("alert").first).to_contain_text("AccessDeniedException")
                expect(page.get_by_role("alert").first).to_contain_text("dynamodb:PartiQLSelect")
                continue
            run_statement(page, "INSERT INTO \"notes\" VALUE {'id': ?, 'text': ?}", ["a", "signed in the browser"])
            expect(page.get_by_test_id("count")).to_have_text(re.compile(r"0 items"))
            run_statement(page, 'SELECT * FROM "notes" WHERE id = ?', ["a"])
            expect(page.get_by_role("table", name="Items")).to_contain_text("signed in the browser")
            # A backup, made and listed with signed calls.
            page.get_by_role("link", name="Backups", exact=True).click()
            create = page.get_by_role("form", name="Create backup")
            create.get_by_label("Backup name").fill("signed")
            create.get_by_role("button", name="Create backup").click()
            expect(page.get_by_role("region", name="Backup signed")).to_contain_text("AVAILABLE")
    assert ddb.get_item(TableName="notes", Key={"id": {"S": "a"}})["Item"]["text"] == {"S": "signed in the browser"}
    assert [b["BackupName"] for b in ddb.list_backups(TableName="notes")["BackupSummaries"]] == ["signed"]
