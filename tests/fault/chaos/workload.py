"""Eight concurrent writers of five kinds, each recording what it tried and what the server acknowledged.

The kinds are the writes whose loss or duplication a crash could hide:

- ``put``: PutItem of a key never used before (``p<writer>-<seq>``);
- ``add``: UpdateItem ``ADD n :one`` on the writer's counter ``c<writer>``;
- ``txn``: TransactWriteItems putting ``t<writer>-<seq>-a`` and ``-b`` and
  adding one to ``tc<writer>``, so a half-applied transaction shows as one
  item without the other, or a counter that disagrees with the pairs;
- ``send``: SendMessage of a body never used before (``m<writer>-<seq>``);
- ``receive``: ReceiveMessage then DeleteMessageBatch; a received body whose
  delete was acknowledged earlier is a resurrected message.  A delete cut by
  the kill is unsure like any other write: it may have committed, so its
  bodies may be gone without ever being lost (``Ledger.deletes_unsure``).

A call that returned is *acknowledged*; one that raised for any other reason
than an HTTP answer (the server was killed under it) is *unsure*: it may or
may not have been applied, and the invariant checker allows both.  Every
HTTP 5xx answer is recorded as such: the suite's promise is that there are
none, even during faults.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .clients import client, status_of

TABLE = "chaos"
QUEUE = "chaos"
#: Seconds a message received by the workload stays invisible; after a kill
#: the checker waits this long for in-flight messages to come back.
VISIBILITY_SECONDS = 2
KINDS = ("put", "add", "txn", "send", "receive", "put", "txn", "send")
ONE = {":one": {"N": "1"}}


@dataclass
class Ledger:
    """Everything the writers tried and everything the server acknowledged, across restarts."""

    puts_tried: set[str] = field(default_factory=set)
    puts_acked: set[str] = field(default_factory=set)
    adds_acked: Counter[str] = field(default_factory=Counter)
    adds_unsure: Counter[str] = field(default_factory=Counter)
    txns_tried: set[str] = field(default_factory=set)
    txns_acked: set[str] = field(default_factory=set)
    sends_tried: set[str] = field(default_factory=set)
    sends_acked: set[str] = field(default_factory=set)
    #: bodies consumed for good: a delete the server acknowledged (the workload's or the checker's)
    deleted: set[str] = field(default_factory=set)
    #: received bodies whose DeleteMessageBatch got no answer (or a 5xx): consumed or not, the check settles which
    deletes_unsure: set[str] = field(default_factory=set)
    resurrected: set[str] = field(default_factory=set)
    #: half-applied transactions already reported (they stay so; the checker reports each once)
    reported: set[str] = field(default_factory=set)
    acknowledged: int = 0
    unsure: int = 0
    five_xx: list[str] = field(default_factory=list)
    #: other HTTP errors, by operation and AWS code (the workload expects none)
    rejected: Counter[str] = field(default_factory=Counter)
    _seq: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_seq(self, writer: int) -> int:
        """The writer's next sequence number: keys stay unique across every server the run starts."""
        with self.lock:
            self._seq[writer] += 1
            return self._seq[writer]

    def failed(self, operation: str, error: BaseException) -> None:
        """Count a call that raised: a 5xx, another HTTP error, or no answer at all (unsure)."""
        status = status_of(error)
        with self.lock:
            if status is None:
                self.unsure += 1
            elif status >= 500:
                self.five_xx.append(f"{operation}: {status} {error}")
            else:
                code = getattr(error, "response", {}).get("Error", {}).get("Code", "?")
                self.rejected[f"{operation} {code}"] += 1


def create_resources(endpoint_url: str) -> None:
    """The table and queue the writers use (idempotent: CreateQueue is, and the table is made once)."""
    ddb = client("dynamodb", endpoint_url)
    if TABLE not in ddb.list_tables()["TableNames"]:
        ddb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    client("sqs", endpoint_url).create_queue(QueueName=QUEUE)


class Workload:
    """The writers against one server; ``start`` then ``stop`` (after killing the server, or not)."""

    def __init__(self, endpoint_url: str, ledger: Ledger, kinds: tuple[str, ...] = KINDS, pause: float = 0.0) -> None:
        self.endpoint_url = endpoint_url
        self.ledger = ledger
        self.kinds = kinds
        self.pause = pause  # seconds between a writer's calls: 0 is flat out, a soak uses more
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queue_url = client("sqs", endpoint_url).get_queue_url(QueueName=QUEUE)["QueueUrl"]

    def start(self) -> Workload:
        for writer, kind in enumerate(self.kinds):
            thread = threading.Thread(target=self._run, args=(writer, kind), name=f"chaos-{kind}-{writer}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        if any(thread.is_alive() for thread in self._threads):
            raise RuntimeError("a chaos writer did not stop")

    def _run(self, writer: int, kind: str) -> None:
        service = "sqs" if kind in ("send", "receive") else "dynamodb"
        own = client(service, self.endpoint_url)
        step = getattr(self, f"_{kind}")
        while not self._stop.is_set():
            try:
                step(own, writer)
            except Exception as error:  # noqa: BLE001 - classified by the ledger; the loop goes on
                self.ledger.failed(kind, error)
                if status_of(error) is None:
                    self._stop.wait(0.05)  # the server is gone: do not spin on refused connections
            if self.pause:
                self._stop.wait(self.pause)

    def _acked(self) -> None:
        with self.ledger.lock:
            self.ledger.acknowledged += 1

    def _put(self, ddb: Any, writer: int) -> None:
        key = f"p{writer}-{self.ledger.next_seq(writer)}"
        with self.ledger.lock:
            self.ledger.puts_tried.add(key)
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": key}, "pad": {"S": key * 8}})
        with self.ledger.lock:
            self.ledger.puts_acked.add(key)
        self._acked()

    def _add(self, ddb: Any, writer: int) -> None:
        key = f"c{writer}"
        try:
            ddb.update_item(TableName=TABLE, Key={"pk": {"S": key}}, UpdateExpression="ADD n :one",
                            ExpressionAttributeValues=ONE)
        except Exception as error:
            status = status_of(error)
            if status is None or status >= 500:  # no answer, or a 500 cut during COMMIT: maybe applied
                with self.ledger.lock:
                    self.ledger.adds_unsure[key] += 1
            raise
        with self.ledger.lock:
            self.ledger.adds_acked[key] += 1
        self._acked()

    def _txn(self, ddb: Any, writer: int) -> None:
        name = f"t{writer}-{self.ledger.next_seq(writer)}"
        with self.ledger.lock:
            self.ledger.txns_tried.add(name)
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"{name}-a"}}}},
            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": f"{name}-b"}}}},
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": f"tc{writer}"}}, "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": ONE}},
        ])
        with self.ledger.lock:
            self.ledger.txns_acked.add(name)
        self._acked()

    def _send(self, sqs: Any, writer: int) -> None:
        body = f"m{writer}-{self.ledger.next_seq(writer)}"
        with self.ledger.lock:
            self.ledger.sends_tried.add(body)
        sqs.send_message(QueueUrl=self._queue_url, MessageBody=body)
        with self.ledger.lock:
            self.ledger.sends_acked.add(body)
        self._acked()

    def _receive(self, sqs: Any, writer: int) -> None:
        got = sqs.receive_message(QueueUrl=self._queue_url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=VISIBILITY_SECONDS, WaitTimeSeconds=1).get("Messages", [])
        if not got:
            return
        with self.ledger.lock:
            self.ledger.resurrected.update(m["Body"] for m in got if m["Body"] in self.ledger.deleted)
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        try:
            answer = sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except Exception as error:
            status = status_of(error)
            if status is None or status >= 500:  # cut after its COMMIT, perhaps: these bodies may be consumed
                with self.ledger.lock:
                    self.ledger.deletes_unsure.update(m["Body"] for m in got)
            raise
        with self.ledger.lock:
            for entry in answer.get("Successful", []):
                self.ledger.deleted.add(got[int(entry["Id"])]["Body"])
            for entry in answer.get("Failed", []):
                self.ledger.rejected[f"delete {entry.get('Code')}"] += 1
            self.ledger.acknowledged += len(answer.get("Successful", []))
