"""A connection lost at COMMIT: the store learns the outcome instead of guessing.

A small TCP proxy sits between the store and PostgreSQL and reads the
frontend protocol; armed, it acts on the next ``COMMIT`` query — forwarding it
and swallowing the answer (the server committed, the client never hears), or
never forwarding it — and then cuts the client's connection.  So each branch
of ``PostgresStore._settle_commit`` runs deterministically.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

pytest.importorskip("psycopg")

import psycopg

from cellstore.errors import CommitOutcomeUnknown, StorageUnavailable
from cellstore.storage.postgres import PostgresStore, PostgresTxn

_COMMIT = b"COMMIT\x00"


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


class _Link:
    """One client connection through the proxy and its upstream connection."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.statements: dict[bytes, bytes] = {}  # statement name → SQL, from Parse messages
        self.wrote = False  # the current transaction ran a write on kv
        self.commit: bytes | None = None  # an extended-protocol COMMIT being gathered up to its Sync
        self.swallow = False  # server → client bytes are dropped, not forwarded
        self.answered = threading.Event()  # a ReadyForQuery was swallowed

    def close_client(self) -> None:
        try:
            self.client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.client.close()

    def close_upstream(self) -> None:
        try:
            self.upstream.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.upstream.close()


class CommitCutter:
    """A loopback proxy to PostgreSQL that cuts a connection at the next COMMIT when armed.

    Actions: ``"after"`` forwards the COMMIT, waits for the server's answer,
    drops it and cuts both sides (the transaction committed); ``"before"`` cuts
    both sides without forwarding it (the server aborts when it sees the
    client gone); ``"orphan"`` cuts only the client and keeps the server's
    side open, so the transaction stays "in progress" until someone ends it.
    ``before_cut`` runs just before the client is cut.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.action: str | None = None
        self.writes_only = False  # act only on the COMMIT of a transaction that wrote to kv
        self.before_cut: Callable[[], None] = lambda: None
        self.refuse = False  # new connections are closed at once (the server "is down")
        self.cut = threading.Event()
        self._links: list[_Link] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self, action: str, before_cut: Callable[[], None] = lambda: None, *, writes_only: bool = False) -> None:
        self.cut.clear()
        self.before_cut = before_cut
        self.writes_only = writes_only
        self.action = action

    def close(self) -> None:
        self.listener.close()
        for link in self._links:
            link.close_client()
            link.close_upstream()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refuse:
                client.close()
                continue
            link = _Link(client, socket.create_connection(("127.0.0.1", self.upstream_port)))
            self._links.append(link)
            threading.Thread(target=self._client_to_server, args=(link,), daemon=True).start()
            threading.Thread(target=self._server_to_client, args=(link,), daemon=True).start()

    def _client_to_server(self, link: _Link) -> None:
        try:
            (length,) = struct.unpack("!i", _read_exactly(link.client, 4))  # the startup message
            link.upstream.sendall(struct.pack("!i", length) + _read_exactly(link.client, length - 4))
            while True:
                header = _read_exactly(link.client, 5)
                body = _read_exactly(link.client, struct.unpack("!i", header[1:])[0] - 4)
                commit = self._commit_message(link, header[:1], body)
                if commit is None:
                    link.upstream.sendall(header + body)
                    continue
                if not commit:  # part of a COMMIT still being gathered
                    continue
                action = self.action
                if action is not None and (link.wrote or not self.writes_only):
                    self.action = None
                    self._cut(link, action, commit)
                    return
                link.upstream.sendall(commit)
        except OSError:
            link.close_upstream()

    @staticmethod
    def _commit_message(link: _Link, kind: bytes, body: bytes) -> bytes | None:
        """The whole COMMIT once complete; b"" while one is being gathered; None for anything else.

        psycopg sends ``COMMIT`` as a simple query at first and, once it has
        run it often enough on a connection, as a prepared statement: Bind,
        Describe, Execute, Sync.  Notes writes on kv on the way.
        """
        message = kind + struct.pack("!i", len(body) + 4) + body
        if link.commit is not None:
            link.commit += message
            if kind != b"S":
                return b""
            commit, link.commit = link.commit, None
            return commit
        if kind == b"P":
            name, query = body.split(b"\x00", 2)[:2]
            link.statements[name] = query
            return None
        if kind == b"Q":
            query = body.rstrip(b"\x00")
        elif kind == b"B":
            query = link.statements.get(body.split(b"\x00", 2)[1], b"")
        else:
            return None
        if query.startswith(b"BEGIN"):
            link.wrote = False
        link.wrote |= query.startswith((b"INSERT INTO kv", b"DELETE FROM kv", b"WITH w AS (DELETE"))
        if query != b"COMMIT":
            return None
        if kind == b"Q":
            return message
        link.commit = message
        return b""

    def _cut(self, link: _Link, action: str, commit: bytes) -> None:
        link.swallow = True
        if action == "after":
            link.upstream.sendall(commit)
            if not link.answered.wait(10):
                raise RuntimeError("PostgreSQL did not answer the COMMIT")
        self.before_cut()
        self.cut.set()  # before the client can notice the cut
        link.close_client()
        if action != "orphan":
            link.close_upstream()

    def _server_to_client(self, link: _Link) -> None:
        try:
            while True:
                header = _read_exactly(link.upstream, 5)
                body = _read_exactly(link.upstream, struct.unpack("!i", header[1:])[0] - 4)
                if link.swallow:
                    if header[:1] == b"Z":
                        link.answered.set()
                    continue
                link.client.sendall(header + body)
        except OSError:
            if not link.swallow:
                link.close_client()


@pytest.fixture
def cutter(postgres_dsn: str) -> Iterator[CommitCutter]:
    proxy = CommitCutter(urlsplit(postgres_dsn).port or 5432)
    yield proxy
    proxy.close()


def _through(dsn: str, proxy: CommitCutter) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}@127.0.0.1:{proxy.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "sslmode=disable&gssencmode=disable", ""))


@pytest.fixture
def store(postgres_dsn: str, cutter: CommitCutter) -> Iterator[PostgresStore]:
    backend = PostgresStore(_through(postgres_dsn, cutter), commit_check_timeout=10.0)
    with backend.transaction(write=True) as txn:
        txn.put(b"k", b"1")
    yield backend
    backend.close()


def _value(dsn: str, key: bytes = b"k") -> bytes | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT v FROM kv WHERE k = %s", (key,)).fetchone()
    return None if row is None else bytes(row[0])


def _idle_in_transaction(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
        ).fetchone()
    return 0 if row is None else int(row[0])


def test_a_commit_that_happened_is_reported_committed(
    store: PostgresStore, cutter: CommitCutter, postgres_dsn: str
) -> None:
    cutter.arm("after")
    with store.transaction(write=True) as txn:
        txn.put(b"k", b"2")
    assert cutter.cut.is_set(), "the proxy never saw the COMMIT"
    assert _value(postgres_dsn) == b"2"


def test_a_commit_that_never_arrived_is_a_retryable_500(
    store: PostgresStore, cutter: CommitCutter, postgres_dsn: str
) -> None:
    cutter.arm("before")
    with pytest.raises(StorageUnavailable) as caught, store.transaction(write=True) as txn:
        txn.put(b"k", b"2")
    assert cutter.cut.is_set()
    assert caught.value.status == 500 and caught.value.code == "InternalServerError"
    assert _value(postgres_dsn) == b"1"
    with store.transaction(write=True) as txn:  # the retry
        txn.put(b"k", b"2")
    assert _value(postgres_dsn) == b"2"


def test_an_orphaned_transaction_is_ended_then_reported_not_committed(
    store: PostgresStore, cutter: CommitCutter, postgres_dsn: str
) -> None:
    """The server side outlives the client: the check ends it, which also frees the write lock."""
    cutter.arm("orphan")
    with pytest.raises(StorageUnavailable), store.transaction(write=True) as txn:
        txn.put(b"k", b"2")
    assert cutter.cut.is_set()
    assert _idle_in_transaction(postgres_dsn) == 0
    assert _value(postgres_dsn) == b"1"
    with store.transaction(write=True) as txn:  # the write lock is free again
        txn.put(b"k", b"3")
    assert _value(postgres_dsn) == b"3"


def test_an_outcome_that_cannot_be_learned_is_a_distinct_500(postgres_dsn: str, cutter: CommitCutter) -> None:
    backend = PostgresStore(_through(postgres_dsn, cutter), commit_check_timeout=0.5)
    try:
        cutter.arm("after", before_cut=lambda: setattr(cutter, "refuse", True))
        started = time.monotonic()
        with pytest.raises(CommitOutcomeUnknown) as caught, backend.transaction(write=True) as txn:
            txn.put(b"k", b"2")
        assert time.monotonic() - started < 10
        assert caught.value.status == 500 and caught.value.code == "InternalServerError"
        assert "outcome is unknown" in caught.value.message
        assert _value(postgres_dsn) == b"2"  # it had in fact committed
    finally:
        cutter.refuse = False
        backend.close()


def test_a_write_transaction_that_wrote_nothing_is_retryable_without_a_check(
    store: PostgresStore, cutter: CommitCutter
) -> None:
    cutter.arm("after", before_cut=lambda: setattr(cutter, "refuse", True))
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable), store.transaction(write=True) as txn:
            assert txn.get(b"k") == b"1"
        assert time.monotonic() - started < 1  # no connection was attempted
    finally:
        cutter.refuse = False


def test_a_read_does_not_wait_for_its_commit_and_the_next_one_survives_the_cut(
    store: PostgresStore, cutter: CommitCutter
) -> None:
    """A read's COMMIT (of nothing) is sent without waiting: its answer is what it read in its snapshot.

    The connection cut after that COMMIT is found by the connection's next
    user, whose first round trip then goes to a fresh connection.
    """
    cutter.arm("after")
    with store.transaction(write=False) as txn:
        assert txn.get(b"k") == b"1"
    with store.transaction(write=False) as txn:
        assert txn.get(b"k") == b"1"


@pytest.fixture
def lone_cluster(postgres_cluster: Any) -> Iterator[Any]:
    """A cluster of its own: on the session's, other tests' servers (TTL sweeps, backfills) take ids too."""
    from pg_cluster import Cluster

    cluster = Cluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow
def test_a_crash_that_lost_the_transaction_id_is_not_mistaken_for_its_reuse(lone_cluster: Any) -> None:
    """After a crash PostgreSQL hands an id that never reached the WAL to the next transaction.

    The COMMIT is never forwarded; PostgreSQL crashes (``-m immediate``) and,
    once up, another transaction commits — under the very same id.  Asked
    naively, ``pg_xact_status`` now says "committed"; the store must not
    believe it.  The cluster is this test's alone, so no other client can
    take the lost id first.
    """
    postgres_dsn = lone_cluster.create_database("lone")
    postgres_cluster = lone_cluster
    cutter = CommitCutter(urlsplit(postgres_dsn).port or 5432)
    store = PostgresStore(_through(postgres_dsn, cutter), commit_check_timeout=10.0)
    with store.transaction(write=True) as txn:
        txn.put(b"k", b"1")
    try:
        _crash_and_reuse(store, cutter, postgres_dsn, postgres_cluster)
    finally:
        store.close()
        cutter.close()


def _crash_and_reuse(store: PostgresStore, cutter: CommitCutter, postgres_dsn: str, postgres_cluster: Any) -> None:
    noted: dict[str, Any] = {}

    def crash_then_reuse() -> None:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            noted["lost"] = conn.execute(
                "SELECT backend_xid::text FROM pg_stat_activity WHERE state LIKE 'idle in transaction%'"
            ).fetchall()
        postgres_cluster.restart(mode="immediate")
        with psycopg.connect(postgres_dsn) as conn:
            noted["reused"] = conn.execute("SELECT pg_current_xact_id()::text").fetchone()
            conn.execute("INSERT INTO kv (k, v) VALUES ('other', 'x')")

    cutter.arm("orphan", before_cut=crash_then_reuse)
    with pytest.raises(StorageUnavailable), store.transaction(write=True) as txn:
        txn.put(b"k", b"2")
    assert cutter.cut.is_set()
    ((lost,),) = noted["lost"]
    (reused,) = noted["reused"]
    assert int(reused) & 0xFFFFFFFF == int(lost), "the crash did not hand the lost id out again"
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute("SELECT pg_xact_status(%s::text::xid8)", (reused,)).fetchone()
    assert row == ("committed",)  # what a naive check would have believed
    assert _value(postgres_dsn) == b"1"
    assert _value(postgres_dsn, b"other") == b"x"


def test_a_write_learns_its_transaction_id_with_the_lock_and_a_write_of_nothing_needs_no_check(
    store: PostgresStore, postgres_dsn: str
) -> None:
    with store.transaction(write=True) as txn:
        assert isinstance(txn, PostgresTxn)
        assert txn.delete_range(b"x", b"y") == 0
        assert txn.xid is not None and not txn.wrote  # nothing written: a lost COMMIT needs no check
        with psycopg.connect(postgres_dsn) as conn:
            row = conn.execute("SELECT backend_xid::text FROM pg_stat_activity WHERE pid = %s", (txn.backend_pid,))
            assert (int(txn.xid) & 0xFFFFFFFF,) == tuple(int(v) for v in row.fetchone() or ())
        txn.put(b"a", b"1")
        assert txn.wrote
    with store.transaction(write=True) as txn:
        assert isinstance(txn, PostgresTxn)
        assert txn.delete_range(b"a", b"l") == 2  # "a" and "k"
        assert txn.wrote


def test_through_boto3_a_lost_commit_is_settled(
    postgres_dsn: str, cutter: CommitCutter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a client sees, on the full HTTP handling path: success, a safe retry, or a 500 saying so."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from cellstore.embedded import in_process
    from cellstore.storage import postgres

    monkeypatch.setattr(postgres, "COMMIT_CHECK_TIMEOUT", 0.5)
    with in_process(fast=False, storage=_through(postgres_dsn, cutter)) as cellstore:
        ddb = cellstore.client()  # botocore's default retries
        ddb.create_table(
            TableName="counter",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        add = {
            "TableName": "counter",
            "Key": {"pk": {"S": "c"}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }

        def counter() -> str:
            item = ddb.get_item(TableName="counter", Key={"pk": {"S": "c"}}, ConsistentRead=True)["Item"]
            return str(item["n"]["N"])

        for _ in range(6):  # enough COMMITs for psycopg to prepare it: the proxy must see both forms
            ddb.update_item(**add)
        assert counter() == "6"

        cutter.arm("after", writes_only=True)  # committed, answer lost: success, applied once
        assert ddb.update_item(**add)["ResponseMetadata"]["RetryAttempts"] == 0
        assert cutter.cut.is_set() and counter() == "7"

        cutter.arm("before", writes_only=True)  # never committed: a 500 the SDK retries once
        assert ddb.update_item(**add)["ResponseMetadata"]["RetryAttempts"] == 1
        assert cutter.cut.is_set() and counter() == "8"

        once = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1").client(
            "dynamodb", endpoint_url=cellstore.endpoint_url, config=Config(retries={"total_max_attempts": 1})
        )
        cutter.arm("after", lambda: setattr(cutter, "refuse", True), writes_only=True)
        with pytest.raises(ClientError) as caught:
            once.update_item(**add)
        cutter.refuse = False
        assert cutter.cut.is_set()
        error = caught.value.response
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert error["Error"]["Code"] == "InternalServerError"
        assert "outcome is unknown: the request may or may not have been applied" in error["Error"]["Message"]
        assert counter() == "9"  # it had been applied
