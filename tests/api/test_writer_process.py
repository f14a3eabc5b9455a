"""Requests answered by the writer process (``serve --workers 2`` on SQLite) read exactly like local ones.

The writer runs every write (the default with several workers on SQLite);
its results and errors cross a socket back to the worker that took the
request.  These check what crosses: error classes with their extra fields,
both SQS protocols, a long poll woken by a send that arrived through the
other worker, and that ``--no-writer`` still serves the old way.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from sqs_query_client import QueryClient, text

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.fixture(scope="module")
def server(module_server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    process = module_server_process("--workers", "2", "--data-dir", str(tmp_path_factory.mktemp("writer")))
    log = process.log_path.read_text()
    assert "writer process" in log and "; writes: one writer process; " in log  # the default, and the banner says so
    yield process
    assert process.terminate() == 0


def client(server: Any, service: str) -> Any:
    return boto3.client(
        service, endpoint_url=server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}),
    )


def test_a_failed_condition_comes_back_with_its_item(server: Any) -> None:
    ddb = client(server, "dynamodb")
    ddb.create_table(
        TableName="relayed", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="relayed", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
    with pytest.raises(ClientError) as refused:
        ddb.put_item(
            TableName="relayed", Item={"pk": {"S": "a"}}, ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert refused.value.response["Item"] == {"pk": {"S": "a"}, "n": {"N": "1"}}  # an error field crossed
    with pytest.raises(ClientError) as cancelled:
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": {"TableName": "relayed", "Key": {"pk": {"S": "a"}},
                                "ConditionExpression": "n = :two", "ExpressionAttributeValues": {":two": {"N": "2"}}}},
            {"Put": {"TableName": "relayed", "Item": {"pk": {"S": "b"}}}},
        ])
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    assert "Item" not in ddb.get_item(TableName="relayed", Key={"pk": {"S": "b"}}, ConsistentRead=True)
    updated = ddb.update_item(TableName="relayed", Key={"pk": {"S": "a"}}, UpdateExpression="ADD n :one",
                              ExpressionAttributeValues={":one": {"N": "1"}}, ReturnValues="UPDATED_NEW")
    assert updated["Attributes"] == {"n": {"N": "2"}}


def test_the_query_protocol_goes_through_the_writer(server: Any) -> None:
    query = QueryClient(server.endpoint_url)
    status, created = query.call("CreateQueue", QueueName="formed")
    assert status == 200
    url = text(created, "CreateQueueResult/QueueUrl")
    assert url is not None
    status, sent = query.call("SendMessage", QueueUrl=url, MessageBody="hello")
    assert status == 200 and text(sent, "SendMessageResult/MessageId")
    status, received = query.call("ReceiveMessage", QueueUrl=url, WaitTimeSeconds=1)
    assert status == 200 and text(received, "ReceiveMessageResult/Message/Body") == "hello"
    status, error = query.call("SendMessage", QueueUrl=url.rsplit("/", 1)[0] + "/missing", MessageBody="x")
    assert status == 400
    assert text(error, "Error/Code") == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_long_poll_wakes_for_a_send_through_the_other_worker(server: Any) -> None:
    url = client(server, "sqs").create_queue(QueueName="woken")["QueueUrl"]
    got: list[Any] = []

    def poll() -> None:
        started = time.monotonic()
        messages = client(server, "sqs").receive_message(QueueUrl=url, WaitTimeSeconds=10).get("Messages", [])
        got.append(([m["Body"] for m in messages], time.monotonic() - started))

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    # Fresh clients: fresh connections, which the kernel spreads over both workers.
    for n in range(4):
        client(server, "sqs").send_message(QueueUrl=url, MessageBody=f"m{n}")
    poller.join(15)
    bodies, waited = got[0]
    assert bodies and waited < 3  # woken by a send, not by the 10 s deadline


def test_no_writer_serves_the_old_way(
    server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    process = server_process("--workers", "2", "--no-writer", "--data-dir", str(tmp_path_factory.mktemp("flock")))
    log = process.log_path.read_text()
    assert "writer process" not in log and "; writes: every worker on the lock (--no-writer); " in log
    ddb = process.client()
    ddb.create_table(
        TableName="plain", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="plain", Item={"pk": {"S": "a"}})
    assert ddb.get_item(TableName="plain", Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"] == {"pk": {"S": "a"}}
    assert process.terminate() == 0


def test_partiql_selects_are_read_in_the_workers_and_other_statements_go_to_the_writer(
    server_process: Callable[..., Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The writer counts the requests it ran: a request of SELECTs only never reaches it, one that may write does."""
    process = server_process("--workers", "2", "--data-dir", str(tmp_path_factory.mktemp("partiql")))
    ddb = client(process, "dynamodb")
    ddb.create_table(  # 1
        TableName="stmts", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
    )
    ddb.execute_statement(Statement="INSERT INTO stmts VALUE {'pk': 'a', 'n': 1}")  # 2
    ddb.batch_execute_statement(Statements=[{"Statement": "INSERT INTO stmts VALUE {'pk': 'b', 'n': 2}"}])  # 3
    ddb.execute_transaction(TransactStatements=[  # 4
        {"Statement": "EXISTS(SELECT * FROM stmts WHERE pk = 'a' AND n = 1)"},
        {"Statement": "UPDATE stmts SET n = 3 WHERE pk = 'b'"},
    ])
    writes = 4
    for _ in range(10):  # each read on a worker's snapshot sees every write acknowledged before it
        got = ddb.execute_statement(Statement="select n FROM stmts WHERE pk = ?", Parameters=[{"S": "b"}])
        assert got["Items"] == [{"n": {"N": "3"}}]
    batch = ddb.batch_execute_statement(Statements=[
        {"Statement": "SELECT * FROM stmts WHERE pk = 'a'"}, {"Statement": "  SELECT n FROM stmts WHERE pk = 'b'"},
    ])
    assert [r["Item"] for r in batch["Responses"]] == [{"pk": {"S": "a"}, "n": {"N": "1"}}, {"n": {"N": "3"}}]
    read = ddb.execute_transaction(TransactStatements=[
        {"Statement": "SELECT * FROM stmts WHERE pk = 'a'"}, {"Statement": "SELECT * FROM stmts WHERE pk = 'b'"},
    ])
    assert [r["Item"]["n"] for r in read["Responses"]] == [{"N": "1"}, {"N": "3"}]
    with pytest.raises(ClientError) as mixed:  # a write among them: the whole request goes, refused there
        ddb.batch_execute_statement(Statements=[
            {"Statement": "SELECT * FROM stmts WHERE pk = 'a'"}, {"Statement": "DELETE FROM stmts WHERE pk = 'a'"},
        ])
    with pytest.raises(ClientError) as malformed:  # not a SELECT by its first word: the writer answers, as it would
        ddb.execute_statement(Statement="SELECTED * FROM stmts")
    writes += 2
    assert mixed.value.response["Error"]["Code"] == malformed.value.response["Error"]["Code"] == "ValidationException"
    assert process.terminate() == 0
    served = re.findall(r"writer \d+ stopped: (\d+) requests", process.log_path.read_text())
    assert served == [str(writes)]
