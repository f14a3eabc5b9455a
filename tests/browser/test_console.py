"""The web console in headless Chromium: what a user does, checked through the API as well as on the page.

Each flow is driven only through the page (clicks, typing, dialogs) and its
effect is then read back with boto3, so a page that merely looks right but
sent the wrong request fails.  Screenshots of each page go to
``test-artifacts/console/``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tests.browser.conftest import Console

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def put_from_editor(page: Any, item: dict[str, Any]) -> None:
    page.get_by_role("button", name="New item").click()
    page.get_by_label("Item JSON").fill(json.dumps(item))
    page.get_by_role("button", name="Put item").click()


def test_table_items_query_edit_delete(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    page = console.open()
    expect(page.get_by_text("No tables yet")).to_be_visible()

    # Create a table with a composite key and a stream.
    page.get_by_role("button", name="Create table").click()
    form = page.get_by_role("form", name="Create table")
    form.get_by_label("Table name").fill("orders")
    form.get_by_label("Partition key name").fill("customer")
    form.get_by_label("Sort key name").fill("order")
    form.locator("select[name=sortType]").select_option("N")
    form.get_by_label("Stream").select_option("NEW_AND_OLD_IMAGES")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="orders", exact=True)).to_be_visible()
    table = ddb.describe_table(TableName="orders")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["customer", "order"]
    assert table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"

    # Items: put three from the editor (plain JSON), and one the API refuses, whose message shows inline.
    page.get_by_role("link", name="Browse items").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"0 items"))
    put_from_editor(page, {"customer": "alice", "order": 1, "total": 25.5, "status": "open"})
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"1 item "))
    put_from_editor(page, {"customer": "alice", "order": 2, "total": 12, "status": "open", "tags": ["gift"]})
    put_from_editor(page, {"customer": "bob", "order": 1, "total": 7, "status": "shipped"})
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"3 items"))
    put_from_editor(page, {"customer": "carol", "total": 1})
    editor = page.get_by_role("region", name="New item")
    expect(editor.get_by_role("alert")).to_contain_text("ValidationException")
    expect(editor.get_by_role("alert")).to_contain_text("Missing the key order in the item")
    put_from_editor(page, {"customer": "bob", "order": 1})  # exists: the editor refuses to overwrite it
    expect(page.get_by_role("region", name="New item").get_by_role("alert")).to_contain_text("already exists")
    page.get_by_role("region", name="New item").get_by_role("button", name="Close").click()
    assert ddb.scan(TableName="orders", Select="COUNT")["Count"] == 3

    # Query alice's orders, newest first; the builder shows the same request for boto3 and the AWS CLI.
    builder = page.get_by_role("form", name="Query or scan")
    builder.get_by_label("Operation").select_option("Query")
    builder.locator("input[name=partition]").fill("alice")
    builder.get_by_label("Sort order").select_option("desc")
    builder.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"2 items \(2 scanned\)"))
    rows = page.get_by_role("table", name="Items").locator("tbody tr")
    expect(rows.first).to_contain_text("alice")
    expect(rows.first.locator("td").nth(1)).to_have_text("2")
    boto3_code = page.get_by_test_id("boto3").inner_text()
    assert "client.query(" in boto3_code and 'KeyConditionExpression="#pk = :pk"' in boto3_code
    assert "ScanIndexForward=False" in boto3_code
    cli = page.get_by_test_id("cli").inner_text()
    assert cli.startswith("aws dynamodb query") and "--no-scan-index-forward" in cli
    assert '\'{":pk":{"S":"alice"}}\'' in cli
    console.shot("items")

    # Edit order 2 as DynamoDB JSON and save it.
    rows.first.click()
    item_editor = page.get_by_role("region", name="Item")
    item_editor.get_by_label("Format").select_option("dynamodb")
    text = item_editor.get_by_label("Item JSON")
    dynamodb_json = json.loads(text.input_value())
    assert dynamodb_json["tags"] == {"L": [{"S": "gift"}]} and dynamodb_json["total"] == {"N": "12"}
    dynamodb_json["status"] = {"S": "shipped"}
    dynamodb_json["tags"] = {"SS": ["gift", "rush"]}
    text.fill(json.dumps(dynamodb_json, indent=2))
    console.shot("item-editor")
    item_editor.get_by_role("button", name="Save").click()
    expect(page.get_by_role("region", name="Item")).to_have_count(0)
    expect(rows.first).to_contain_text("shipped")
    saved = ddb.get_item(TableName="orders", Key={"customer": {"S": "alice"}, "order": {"N": "2"}})["Item"]
    assert saved["status"] == {"S": "shipped"} and saved["tags"] == {"SS": ["gift", "rush"]}

    # A set in plain JSON: the editor says what plain JSON cannot show.
    rows.first.click()
    expect(page.get_by_role("region", name="Item")).to_contain_text("SS set is shown as a list")

    # Delete it, confirming in the dialog.
    page.get_by_role("region", name="Item").get_by_role("button", name="Delete item").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"1 item "))
    assert "Item" not in ddb.get_item(TableName="orders", Key={"customer": {"S": "alice"}, "order": {"N": "2"}})


def test_paging_and_filter(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    ddb.create_table(
        TableName="readings",
        KeySchema=[{"AttributeName": "sensor", "KeyType": "HASH"}, {"AttributeName": "at", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "sensor", "AttributeType": "S"}, {"AttributeName": "at", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for at in range(7):
        ddb.put_item(TableName="readings", Item={"sensor": {"S": "s1"}, "at": {"N": str(at)}, "celsius": {"N": str(18 + at)}})
    page = console.open("#/tables/readings/items")
    builder = page.get_by_role("form", name="Query or scan")
    builder.get_by_label("Operation").select_option("Query")
    builder.locator("input[name=partition]").fill("s1")
    builder.get_by_label("Page size").fill("3")
    builder.get_by_role("button", name="Run").click()
    count = page.get_by_test_id("count")
    first_column = page.get_by_role("table", name="Items").locator("tbody tr td:nth-child(2)")
    expect(count).to_have_text("Page 1: 3 items (3 scanned)")
    expect(first_column).to_have_text(["0", "1", "2"])
    page.get_by_role("button", name="Next").click()
    expect(count).to_have_text("Page 2: 3 items (3 scanned)")
    expect(first_column).to_have_text(["3", "4", "5"])
    assert "ExclusiveStartKey=" in page.get_by_test_id("boto3").inner_text()
    page.get_by_role("button", name="Next").click()
    expect(count).to_have_text("Page 3: 1 item (1 scanned)")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    page.get_by_role("button", name="Previous").click()
    expect(first_column).to_have_text(["3", "4", "5"])

    # A sort-key range and a filter with its values in plain JSON.
    builder.get_by_label("Sort key").select_option("between")
    builder.locator("input[name=sort]").fill("1")
    builder.locator("input[name=sort2]").fill("5")
    builder.get_by_label("Filter expression").fill("celsius >= :warm")
    builder.get_by_label("Filter values (plain JSON)").fill('{":warm": 21}')
    builder.get_by_label("Page size").fill("")
    builder.get_by_role("button", name="Run").click()
    expect(count).to_have_text("Page 1: 3 items (5 scanned)")
    expect(first_column).to_have_text(["3", "4", "5"])
    cli = page.get_by_test_id("cli").inner_text()
    assert "'#pk = :pk AND #sk BETWEEN :sk AND :sk2'" in cli and "--filter-expression 'celsius >= :warm'" in cli

    # A filter value that is not JSON is caught before anything is sent.
    builder.get_by_label("Filter values (plain JSON)").fill("{:warm 21}")
    builder.get_by_role("button", name="Run").click()
    expect(page.get_by_role("alert").first).to_contain_text("Filter values: not valid JSON")


def test_table_page_index_and_delete(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    ddb.create_table(
        TableName="customers",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(30):
        ddb.put_item(TableName="customers", Item={"id": {"S": f"c{number}"}, "city": {"S": ["Oslo", "Lima"][number % 2]}})
    page = console.open("#/tables")
    expect(page.get_by_role("table", name="Tables")).to_contain_text("customers")
    console.shot("tables")

    # Add a global secondary index; the page follows its backfill until it is ACTIVE.
    page.get_by_role("link", name="customers").click()
    form = page.get_by_role("form", name="Add global secondary index")
    form.get_by_label("Index name").fill("by-city")
    form.get_by_label("Partition key name").fill("city")
    form.get_by_role("button", name="Add index").click()
    indexes = page.get_by_role("table", name="Indexes")
    expect(indexes).to_contain_text("by-city")
    expect(indexes.locator("tr", has_text="by-city")).to_contain_text("ACTIVE")
    expect(indexes.locator("tr", has_text="by-city").locator("td").nth(5)).to_have_text("30")
    console.shot("table")
    answer = ddb.query(
        TableName="customers", IndexName="by-city", KeyConditionExpression="city = :c",
        ExpressionAttributeValues={":c": {"S": "Oslo"}},
    )
    assert answer["Count"] == 15

    # Remove it again (confirmed), then delete the table: the dialog wants its name typed.
    page.get_by_role("button", name="Remove index by-city").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("No secondary indexes.")).to_be_visible()
    page.get_by_role("button", name="Delete table").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Delete")).to_be_disabled()
    dialog.get_by_role("textbox").fill("customers")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Tables")).to_be_visible()
    assert "customers" not in ddb.list_tables()["TableNames"]


def test_backfill_progress_is_followed_until_active(console: Console, console_server: Any) -> None:
    """While DescribeTable says an index is backfilling, the page shows how far and re-reads it until ACTIVE.

    A real backfill of a test-sized table ends within milliseconds, before a
    page could show it, so the browser's view of DescribeTable is rewritten:
    the first answers say the index has 12 of the table's 30 items and is
    backfilling, later ones are the server's own.
    """
    ddb = console_server.client("dynamodb")
    ddb.create_table(
        TableName="visits",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}, {"AttributeName": "day", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-day", "KeySchema": [{"AttributeName": "day", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    for number in range(30):
        ddb.put_item(
            TableName="visits", Item={"id": {"S": f"v{number}"}, "day": {"S": f"d{number % 3}"}, "page": {"S": "/home"}}
        )
    rewritten = []

    def still_backfilling(route: Any) -> None:
        if route.request.headers.get("x-amz-target") != "DynamoDB_20120810.DescribeTable" or len(rewritten) >= 3:
            route.fallback()
            return
        answer = route.fetch()
        body = answer.json()
        body["Table"]["GlobalSecondaryIndexes"][0].update(IndexStatus="CREATING", Backfilling=True, ItemCount=12)
        rewritten.append(body)
        route.fulfill(response=answer, json=body)

    page = console.page
    page.route("**/", still_backfilling)
    console.open("#/tables/visits")
    indexes = page.get_by_role("table", name="Indexes")
    expect(indexes.locator("progress")).to_have_attribute("value", "12")
    expect(indexes).to_contain_text("backfilling: 12 of 30 items")
    expect(indexes.locator("tr", has_text="by-day")).to_contain_text("CREATING")
    console.shot("backfill")
    # The server's own answers from the fourth on: the page, still polling, turns the index ACTIVE.
    expect(indexes.locator("tr", has_text="by-day")).to_contain_text("ACTIVE")
    expect(indexes.locator("progress")).to_have_count(0)
    assert len(rewritten) == 3

    # The index projects keys only; an item opened from its results is the table's whole item, not the projection.
    page.get_by_role("link", name="Browse items").click()
    builder = page.get_by_role("form", name="Query or scan")
    builder.get_by_label("Operation").select_option("Query")
    builder.get_by_label("Index").select_option("by-day")
    builder.locator("input[name=partition]").fill("d1")
    builder.get_by_role("button", name="Run").click()
    expect(page.get_by_test_id("count")).to_have_text(re.compile(r"10 items"))
    results = page.get_by_role("table", name="Items")
    expect(results.locator("th")).to_have_text(["id", "day"])
    results.locator("tbody tr").first.click()
    expect(page.get_by_role("region", name="Item").get_by_label("Item JSON")).to_have_value(re.compile('"page": "/home"'))


def test_queue_send_peek_purge(console: Console, console_server: Any) -> None:
    sqs = console_server.client("sqs")
    sqs.create_queue(QueueName="jobs-dlq")
    page = console.open("#/queues")
    page.get_by_role("button", name="Create queue").click()
    form = page.get_by_role("form", name="Create queue")
    form.get_by_label("Queue name").fill("jobs")
    form.get_by_label("Dead-letter queue").select_option("jobs-dlq")
    form.get_by_role("button", name="Create").click()
    expect(page.get_by_role("heading", name="jobs", exact=True)).to_be_visible()
    url = sqs.get_queue_url(QueueName="jobs")["QueueUrl"]

    # Send two messages from the page.
    send = page.get_by_role("form", name="Send message")
    for body in ("resize photo 1", '{"task": "email", "to": "bob"}'):
        send.get_by_label("Message body").fill(body)
        send.get_by_role("button", name="Send").click()
        expect(send.get_by_role("status")).to_contain_text("Sent message")
    expect(page.get_by_test_id("available")).to_have_text("2")

    # Peek: both shown, neither taken (still available, none in flight).
    page.get_by_role("button", name="Peek at messages").click()
    peeked = page.get_by_role("table", name="Peeked messages")
    expect(peeked.locator("tbody tr")).to_have_count(2)
    expect(peeked).to_contain_text("resize photo 1")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "2"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]) == 2
    console.shot("queue")

    # Purge, typing the queue's name to confirm.
    page.get_by_role("button", name="Purge").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("textbox").fill("jobs")
    dialog.get_by_role("button", name="Purge").click()
    expect(page.get_by_test_id("available")).to_have_text("0")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"] == {
        "ApproximateNumberOfMessages": "0"
    }

    page.get_by_role("link", name="Queues").first.click()
    queues = page.get_by_role("table", name="Queues")
    expect(queues.get_by_role("row", name="jobs-dlq standard 0 0 0 –")).to_be_visible()
    expect(queues.get_by_role("row", name="jobs standard 0 0 0 jobs-dlq")).to_be_visible()
    console.shot("queues")


def test_redrive_from_a_dead_letter_queue(console: Console, console_server: Any) -> None:
    sqs = console_server.client("sqs")
    dlq_url = sqs.create_queue(QueueName="mail-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="mail",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})},
    )["QueueUrl"]
    for number in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"letter {number}")
    # Received once each and not deleted: the next receive moves them to the dead-letter queue.
    assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]) == 3
    assert "Messages" not in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    page = console.open("#/queues/mail-dlq")
    expect(page.get_by_test_id("available")).to_have_text("3")
    page.get_by_role("button", name="Redrive to source queues").click()
    tasks = page.get_by_role("table", name="Move tasks")
    expect(tasks.locator("tbody tr").first).to_contain_text("COMPLETED")
    expect(page.get_by_test_id("available")).to_have_text("0")
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"


def test_the_account_chosen_in_the_header_is_the_one_shown(console: Console, console_server: Any) -> None:
    """Without --auth sigv4 a 12-digit access key names the account; the console signs with the one chosen."""
    import boto3

    other = boto3.client(
        "dynamodb", endpoint_url=console_server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="111111111111", aws_secret_access_key="any",
    )
    other.create_table(
        TableName="ledger",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    page = console.open("#/tables")
    account = page.get_by_role("textbox", name="Account")
    expect(account).to_have_value("000000000000")
    expect(page.get_by_role("link", name="ledger")).to_have_count(0)
    expect(page.get_by_role("heading", name="Tables")).to_be_visible()
    account.fill("1111")
    account.press("Enter")
    assert account.evaluate("input => input.validationMessage") == "An account id is 12 digits."
    account.fill("111111111111")
    account.press("Enter")
    expect(page.get_by_role("table", name="Tables")).to_contain_text("ledger")
    expect(page.get_by_role("table", name="Tables").locator("tbody tr")).to_have_count(1)
    page.reload()  # the choice lasts as long as the tab
    expect(page.get_by_role("link", name="ledger")).to_be_visible()
    assert "ledger" not in console_server.client("dynamodb").list_tables()["TableNames"]


def test_stream_tail_shows_changes(console: Console, console_server: Any) -> None:
    ddb = console_server.client("dynamodb")
    ddb.create_table(
        TableName="profiles",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    page = console.open("#/streams/profiles")
    expect(page.get_by_role("status")).to_contain_text("Tailing")
    ddb.put_item(TableName="profiles", Item={"id": {"S": "u1"}, "name": {"S": "Ada"}, "plan": {"S": "free"}})
    ddb.update_item(
        TableName="profiles", Key={"id": {"S": "u1"}}, UpdateExpression="SET #p = :p, seats = :s",
        ExpressionAttributeNames={"#p": "plan"}, ExpressionAttributeValues={":p": {"S": "team"}, ":s": {"N": "5"}},
    )
    records = page.locator("article.record")
    expect(records).to_have_count(2)
    newest = records.first
    expect(newest).to_contain_text("MODIFY")
    expect(newest.locator("tr.changed")).to_contain_text("plan")
    expect(newest.locator("tr.added")).to_contain_text("seats")
    expect(records.nth(1)).to_contain_text("INSERT")
    console.shot("stream")
