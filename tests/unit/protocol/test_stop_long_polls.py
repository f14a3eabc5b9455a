"""A server that stops answers its long polls at once, in their own protocol, with nothing received.

Before, a stop left a waiting ReceiveMessage unanswered until the grace
period ran out and its connection was dropped: the SDK retried against a
server that was gone.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import orjson
import pytest

from cellstore.engine.database import Database
from cellstore.engine.wiring import open_database
from cellstore.protocol.server import BackgroundServer, build_app
from cellstore.storage import open_store

AUTH = "AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=x"
NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


@pytest.fixture
def db() -> Iterator[Database]:
    database = open_database(open_store(None), background=False)
    yield database
    database.close()


def call(port: int, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/", body=body, headers={"Authorization": AUTH, "X-Amz-Date": "20240101T000000Z", **headers})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def json_call(port: int, operation: str, payload: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    headers = {"X-Amz-Target": f"AmazonSQS.{operation}", "Content-Type": "application/x-amz-json-1.0"}
    return call(port, orjson.dumps(payload), headers)


def query_call(port: int, **form: str) -> tuple[int, dict[str, str], bytes]:
    body = urllib.parse.urlencode({"Version": "2012-11-05", **form}).encode()
    return call(port, body, {"Content-Type": "application/x-www-form-urlencoded"})


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_stop_answers_a_waiting_receive_with_no_messages(db: Database, protocol: str) -> None:
    server = BackgroundServer(build_app(db)).start()
    status, _, body = json_call(server.port, "CreateQueue", {"QueueName": "jobs"})
    url = orjson.loads(body)["QueueUrl"]
    answers: list[tuple[int, dict[str, str], bytes]] = []

    def receive() -> None:
        if protocol == "json":
            answers.append(json_call(server.port, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20}))
        else:
            answers.append(query_call(server.port, Action="ReceiveMessage", QueueUrl=url, WaitTimeSeconds="20"))

    waiting = threading.Thread(target=receive)
    waiting.start()
    time.sleep(0.3)
    assert not answers  # still waiting
    stopped = time.monotonic()
    server.stop()
    waiting.join(5)
    assert time.monotonic() - stopped < 1.0
    [(status, headers, body)] = answers
    assert status == 200 and headers["connection"] == "close"
    if protocol == "json":
        assert orjson.loads(body) == {}
    else:
        root = ET.fromstring(body)
        assert root.tag == f"{NS}ReceiveMessageResponse"
        assert root.find(f"{NS}ReceiveMessageResult") is not None
        assert root.findall(f".//{NS}Message") == []


def test_a_stop_ends_only_that_servers_polls(db: Database) -> None:
    """A new server on the same database long-polls as usual: the stop belonged to the old app."""
    server = BackgroundServer(build_app(db)).start()
    _, _, body = json_call(server.port, "CreateQueue", {"QueueName": "kept"})
    url = orjson.loads(body)["QueueUrl"]
    answers: list[bytes] = []
    waiting = threading.Thread(
        target=lambda: answers.append(json_call(server.port, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20})[2])
    )
    waiting.start()
    time.sleep(0.3)
    server.stop()
    waiting.join(5)
    assert answers == [b"{}"]
    again = BackgroundServer(build_app(db)).start()
    try:
        started = time.monotonic()
        _, _, body = json_call(again.port, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 1})
        assert orjson.loads(body) == {} and time.monotonic() - started >= 0.9  # waited its second out
    finally:
        again.stop()
