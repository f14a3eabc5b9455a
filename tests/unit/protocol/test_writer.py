"""The hand-off between workers and the writer process (``protocol/writer.py``), in one process.

The writer serves on a thread over a real Unix socket; the worker's side is
a ``WriterClient`` used without an event loop (``Wait.block``), the way
``wire.handle`` waits.  The services are stand-ins over a real SQLite store,
so group commit, its rollback and the errors that cross are the real ones.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cellstore.errors import (
    CellstoreError,
    ConditionalCheckFailedException,
    InternalServerError,
    ServiceUnavailable,
    SqsServiceUnavailable,
    ValidationException,
)
from cellstore.protocol import wire
from cellstore.protocol.app import App
from cellstore.protocol.http import HttpResponse
from cellstore.protocol.writer import ANSWER, ERROR, OK, REQUEST, WRITES, Writer, error_body, is_write, listen
from cellstore.protocol.writer_client import WriterClient
from cellstore.storage.sqlite import SqliteStore
from cellstore.waiting import Wait


class Counters:
    """A stand-in DynamoDB service: PutItem sets, UpdateItem adds, each in its own write transaction."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def dispatch(self, operation: str, payload: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(operation)
        key = payload["key"].encode()
        with self.store.transaction(write=True) as txn:
            if operation == "PutItem":
                if payload.get("if_absent") and txn.get(key) is not None:
                    raise ConditionalCheckFailedException()
                txn.put(key, str(payload["value"]).encode())
                return {}
            if operation == "UpdateItem":
                old = int(txn.get(key) or b"0")
                txn.put(key, str(old + 1).encode())
                return {"Attributes": {"n": old + 1}}
            if operation == "DeleteItem":  # a failure after a write: spoils a group
                txn.put(key, b"half-done")
                raise ValidationException("refused after writing", Detail="x")
        raise AssertionError(operation)

    def read(self, key: str) -> bytes | None:
        with self.store.transaction(write=False) as txn:
            return txn.get(key.encode())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    backend = SqliteStore(tmp_path / "db.sqlite")
    yield backend
    backend.close()


class Running:
    def __init__(self, store: SqliteStore) -> None:
        self.service = Counters(store)
        self.listener = listen()
        services = {"dynamodb": wire.Service(self.service.dispatch, {"PutItem", "UpdateItem", "DeleteItem"})}
        self.writer = Writer(lambda account: services, self.listener, group=store.group)
        self.thread = threading.Thread(target=self.writer.serve, daemon=True)
        self.client = WriterClient(self.listener.getsockname())
        self.wrapped = self.client.wrap(services, "000000000000")

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.writer.stop()
        self.thread.join(10)
        self.listener.close()


@pytest.fixture
def running(store: SqliteStore) -> Iterator[Running]:
    handle = Running(store)
    yield handle
    handle.client.close()
    if handle.thread.is_alive():
        handle.stop()


def settle(wait: Any) -> Any:
    """The answer, as the server would take it: waited for until the ``Wait``'s deadline, never longer."""
    assert isinstance(wait, Wait)
    while wait.wakeups.generation(wait.queue_id) == wait.generation and wait.remaining() > 0:
        wait.block()
    return wait.retry()


def test_only_write_operations_are_handed_off() -> None:
    assert {"PutItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem"} <= WRITES["dynamodb"]
    assert not {"GetItem", "Query", "Scan", "TransactGetItems"} & WRITES["dynamodb"]
    assert {"SendMessage", "ReceiveMessage", "DeleteMessage"} <= WRITES["sqs"]
    local: list[str] = []
    client = WriterClient(b"\0nobody-listens-here")
    services = client.wrap(
        {"dynamodb": wire.Service(lambda op, payload: local.append(op) or {"Item": {}}, {"GetItem"})}, "000000000000"
    )
    assert services["dynamodb"].dispatch("GetItem", {}) == {"Item": {}}  # a read never leaves the worker
    assert local == ["GetItem"]


@pytest.mark.parametrize(("operation", "payload", "write"), [
    ("ExecuteStatement", {"Statement": "SELECT * FROM t"}, False),
    ("ExecuteStatement", {"Statement": " \n\tselect\n* FROM t"}, False),
    ("ExecuteStatement", {"Statement": 'SELECT"pk" FROM t'}, False),  # a quoted name may follow without a space
    ("ExecuteStatement", {"Statement": "INSERT INTO t VALUE {'pk': 'a'}"}, True),
    ("ExecuteStatement", {"Statement": "SELECTED * FROM t"}, True),  # not the word SELECT: the writer answers
    ("ExecuteStatement", {"Statement": "select_me FROM t"}, True),
    ("ExecuteStatement", {"Statement": "\u017felect * FROM t"}, True),  # upper-cases to SELECT, yet no such word
    ("ExecuteStatement", {"Statement": 7}, True),  # malformed: the writer answers with the error
    ("ExecuteStatement", {}, True),
    ("BatchExecuteStatement", {"Statements": [{"Statement": "SELECT * FROM t"}] * 3}, False),
    ("BatchExecuteStatement", {"Statements": [{"Statement": "SELECT * FROM t"}, {"Statement": "DELETE FROM t"}]}, True),
    ("BatchExecuteStatement", {"Statements": []}, True),
    ("BatchExecuteStatement", {"Statements": ["SELECT * FROM t"]}, True),
    ("ExecuteTransaction", {"TransactStatements": [{"Statement": "SELECT * FROM t"}]}, False),
    ("ExecuteTransaction", {"TransactStatements": [{"Statement": "EXISTS(SELECT * FROM t)"}]}, True),
    ("ExecuteTransaction", {"TransactStatements": {"Statement": "SELECT * FROM t"}}, True),
    ("PutItem", {"Statement": "SELECT * FROM t"}, True),  # only PartiQL is judged by its payload
    ("GetItem", {}, False),
])
def test_partiql_goes_to_the_writer_unless_every_statement_is_a_select(
    operation: str, payload: dict[str, Any], write: bool
) -> None:
    assert is_write(WRITES["dynamodb"], operation, payload) is write
    local: list[str] = []
    sent: list[str] = []
    client = WriterClient(b"\0nobody-listens-here")
    client.send = lambda service, op, *rest: sent.append(op)  # type: ignore[method-assign,assignment,return-value]
    services = client.wrap({"dynamodb": wire.Service(lambda op, payload: local.append(op), {operation})}, "000000000000")
    services["dynamodb"].dispatch(operation, payload)
    assert (sent, local) == (([operation], []) if write else ([], [operation]))


def test_a_round_of_requests_shares_one_commit(running: Running) -> None:
    dispatch = running.wrapped["dynamodb"].dispatch
    # Sent before the writer runs: it reads them all in its first round.
    waits = [dispatch("UpdateItem", {"key": "hits"}) for _ in range(10)]
    waits.append(dispatch("PutItem", {"key": "hits", "value": 0, "if_absent": True}))
    waits.append(dispatch("PutItem", {"key": "other", "value": 7}))
    running.start()
    answers = []
    for wait in waits[:10]:
        answers.append(settle(wait)["Attributes"]["n"])
    assert answers == list(range(1, 11))  # in order, each seeing the one before
    with pytest.raises(ConditionalCheckFailedException) as refused:  # the same class as a local failure
        settle(waits[10])
    assert refused.value.message == "The conditional request failed"
    assert settle(waits[11]) == {}
    assert running.writer.rounds == 1 and running.writer.requests == 12
    assert running.service.read("hits") == b"10"
    assert running.service.read("other") == b"7"


def test_a_failure_after_a_write_rolls_the_group_back_and_runs_each_alone(running: Running) -> None:
    dispatch = running.wrapped["dynamodb"].dispatch
    before = [dispatch("UpdateItem", {"key": "n"}) for _ in range(3)]
    failing = dispatch("DeleteItem", {"key": "spoiler"})
    after = [dispatch("UpdateItem", {"key": "n"}) for _ in range(3)]
    running.start()
    assert [settle(wait)["Attributes"]["n"] for wait in before + after] == [1, 2, 3, 4, 5, 6]
    with pytest.raises(ValidationException) as refused:
        settle(failing)
    assert refused.value.message == "refused after writing"
    assert refused.value.fields == {"Detail": "x"}
    # Every increment applied exactly once although the group ran twice in part.
    assert running.service.read("n") == b"6"
    assert running.service.read("spoiler") is None  # the failed operation's write is gone
    assert running.service.calls.count("UpdateItem") == 3 + 6  # the group got to 3, then all 6 alone


def test_writes_in_flight_when_the_writer_goes_away_fail_retryably(running: Running) -> None:
    dispatch = running.wrapped["dynamodb"].dispatch
    client = running.client
    sqs_wait = client.send("sqs", "SendMessage", {"key": "q"}, "http://localhost", "000000000000")
    dynamo_wait = client.send("dynamodb", "UpdateItem", {"key": "lost"}, None, "000000000000")
    client._received(b"")  # the writer's end of the socket closed (what kill -9 of it looks like)
    with pytest.raises(SqsServiceUnavailable):
        settle(sqs_wait)
    with pytest.raises(ServiceUnavailable):
        settle(dynamo_wait)
    # The next write reconnects; a writer accepting on the same listening socket answers it.
    running.start()
    assert settle(dispatch("UpdateItem", {"key": "n"}))["Attributes"]["n"] == 1


def test_an_unanswered_wait_past_its_deadline_is_a_retryable_error(running: Running) -> None:
    wait = running.wrapped["dynamodb"].dispatch("UpdateItem", {"key": "n"})  # the writer is not serving yet
    running.client.unsubscribe(wait.queue_id, 0)  # the server gave up waiting (deadline or client gone)
    with pytest.raises(ServiceUnavailable):
        wait.retry()
    running.start()
    # The late answer is dropped, not delivered to anybody else.
    assert settle(running.wrapped["dynamodb"].dispatch("UpdateItem", {"key": "n"}))["Attributes"]["n"] == 2


def test_an_error_class_the_worker_cannot_name_becomes_a_500() -> None:
    from cellstore.protocol.writer import error_from

    err = error_from(["cellstore.nowhere", "Gone", "m", {}])
    assert isinstance(err, InternalServerError)
    rebuilt = error_from(["cellstore.errors", "ConditionalCheckFailedException", "m", {"Item": {"a": {"S": "b"}}}])
    assert isinstance(rebuilt, CellstoreError) and rebuilt.fields == {"Item": {"a": {"S": "b"}}}


def test_the_listening_socket_is_not_in_the_file_system() -> None:
    sock = listen()
    try:
        name = sock.getsockname()
        assert isinstance(name, (str, bytes)) and name[:1] in ("\0", b"\0")
    finally:
        sock.close()
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        probe.connect(name)  # closed with the supervisor: nobody can connect to a stale writer
    probe.close()


class FailingCommit:
    """A group whose COMMIT fails (say, a full disk): nothing of the round happened."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    def __call__(self) -> Any:
        return self

    def __enter__(self) -> Any:
        self.inner = self.store.group()
        return self.inner.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.inner.__exit__(RuntimeError, RuntimeError("disk I/O error"), None)  # roll back, as SQLite would
        raise OSError("disk I/O error")


def test_a_failed_commit_answers_every_request_of_the_round_with_an_error(store: SqliteStore) -> None:
    handle = Running(store)
    services = {"dynamodb": wire.Service(handle.service.dispatch, {"UpdateItem"})}
    handle.writer = Writer(lambda account: services, handle.listener, group=FailingCommit(store))
    handle.thread = threading.Thread(target=handle.writer.serve, daemon=True)
    try:
        waits = [handle.wrapped["dynamodb"].dispatch("UpdateItem", {"key": "n"}) for _ in range(3)]
        handle.start()
        for wait in waits:
            with pytest.raises(InternalServerError):  # never a success for a write that did not commit
                settle(wait)
        assert handle.service.read("n") is None
    finally:
        handle.client.close()
        handle.stop()


AUTHORIZATION = b"AWS4-HMAC-SHA256 Credential=a/20240101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
WRITE_HEADERS = [
    (b"x-amz-target", b"DynamoDB_20120810.PutItem"),
    (b"content-type", b"application/x-amz-json-1.0"),
    (b"authorization", AUTHORIZATION),
    (b"x-amz-date", b"20240101T000000Z"),
]


def test_a_stopping_worker_waits_for_the_writers_own_answer_to_a_write_in_flight() -> None:
    """A stop ends a long poll at once with nothing found; a handed-off write gets what the writer says.

    The stop used to end every wait alike, so a PutItem in flight answered
    ``{}`` — a success — whatever the writer then found (here: its condition
    failed).
    """

    def local(operation: str, payload: dict[str, Any]) -> Any:
        raise AssertionError("a write must go to the writer")

    listener = listen()
    client = WriterClient(listener.getsockname())
    app = App(client.wrap({"dynamodb": wire.Service(local, {"PutItem"})}, "000000000000"))

    async def scenario() -> HttpResponse:
        answer = app.respond("POST", "/", "/", b"", WRITE_HEADERS, b'{"TableName":"tbl","Item":{}}')
        assert not isinstance(answer, HttpResponse)
        settled = asyncio.ensure_future(answer)
        await asyncio.sleep(0.05)  # a loop turn: the frame goes out
        writer_end, _ = listener.accept()  # the worker connected when it handed the write off
        with writer_end:
            writer_end.settimeout(5)
            frame = writer_end.recv(1 << 16)
            _, request_id = REQUEST.unpack_from(frame)
            app.stop_waiting()  # SIGTERM reached the worker
            await asyncio.sleep(0.05)
            assert not settled.done()  # still waiting for the writer
            body = error_body(ConditionalCheckFailedException())
            writer_end.sendall(ANSWER.pack(len(body), request_id, ERROR) + body)
            return await asyncio.wait_for(settled, 5)

    try:
        response = asyncio.run(scenario())
    finally:
        client.close()
        listener.close()
    assert response.status == 400 and b"ConditionalCheckFailedException" in response.body


def test_a_hand_off_whose_client_went_away_keeps_nothing_and_the_next_one_is_answered() -> None:
    """A cancelled hand-off (the connection closed) drops the writer's late answer; nothing stays pending."""

    def local(operation: str, payload: dict[str, Any]) -> Any:
        raise AssertionError("a write must go to the writer")

    listener = listen()
    client = WriterClient(listener.getsockname())
    app = App(client.wrap({"dynamodb": wire.Service(local, {"PutItem"})}, "000000000000"))

    def answer(writer_end: socket.socket, request_id: int) -> None:
        writer_end.sendall(ANSWER.pack(2, request_id, OK) + b"{}")

    async def scenario() -> HttpResponse:
        gone = app.respond("POST", "/", "/", b"", WRITE_HEADERS, b'{"TableName":"tbl","Item":{}}')
        assert isinstance(gone, asyncio.Future)  # a hand-off is a future, not a Task
        await asyncio.sleep(0.05)
        writer_end, _ = listener.accept()
        with writer_end:
            writer_end.settimeout(5)
            _, first = REQUEST.unpack_from(writer_end.recv(1 << 16))
            gone.cancel()  # the client's connection closed
            await asyncio.sleep(0)
            answer(writer_end, first)  # the writer's answer comes anyway
            await asyncio.sleep(0.05)
            assert client._pending == {}
            kept = app.respond("POST", "/", "/", b"", WRITE_HEADERS, b'{"TableName":"tbl","Item":{}}')
            assert isinstance(kept, asyncio.Future)
            await asyncio.sleep(0.05)
            _, second = REQUEST.unpack_from(writer_end.recv(1 << 16))
            answer(writer_end, second)
            return await asyncio.wait_for(kept, 5)

    try:
        response = asyncio.run(scenario())
    finally:
        client.close()
        listener.close()
    assert response.status == 200 and response.body == b"{}"
    assert client._pending == {}
