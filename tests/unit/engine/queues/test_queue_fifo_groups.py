"""FIFO group records: receive, delete and visibility changes read O(1) records, and stay exact.

The group record under "G" (ready-at + received prefix) replaces a scan of
the whole group on every change; these tests check it against that scan
after random operations, that the work per message does not grow with the
group, and that data stored in the old layout keeps working.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from cellstore.engine import keyspace, migrations
from cellstore.engine.queues import Queues, catalog, keys, receive, send, store, visibility
from cellstore.engine.queues.clock import ManualClock
from cellstore.engine.queues.model import Message
from cellstore.engine.queues.send import Outgoing
from cellstore.errors import CellstoreError


def make(queues: Queues, name: str = "q.fifo", **attributes: str) -> str:
    catalog.create(queues, name, {"FifoQueue": "true", **attributes}, {})
    return name


def put(queues: Queues, body: str, group: str = "g", name: str = "q.fifo") -> None:
    send.send(queues, name, Outgoing(body, group=group, dedup_id=body), "me")


def bodies(received: list[receive.Received]) -> list[str]:
    return [r.message.body for r in received]


def scanned(queues: Queues, name: str = "q.fifo") -> tuple[dict[str, int], dict[str, int]]:
    """(ready-at per group as the old full scan computes it, ready-at per group as stored in "v")."""
    with queues.db.store.transaction(write=False) as txn:
        queue = catalog.load(txn, name)
        base = keys.data(queue.id)
        groups: dict[str, list[Message]] = {}
        for key, _ in txn.range(base + b"g", base + b"h"):
            group = key[len(base) + 1:-9].decode()
            message = store.load(txn, queue, keys.read_u64(key[-8:]))
            assert message is not None, "a group entry without its message"
            groups.setdefault(group, []).append(message)
        expected = {}
        for group, messages in groups.items():
            received = [m.visible_ms for m in messages if m.receive_count]
            front = [m.receive_count > 0 for m in messages]
            assert front == sorted(front, reverse=True), "received messages are not a prefix"
            expected[group] = max(received) if received else messages[0].visible_ms
        stored = {}
        for key, _ in txn.range(base + b"v", base + b"w"):
            group = key[len(base) + 9:].decode()
            assert group not in stored, "two ready entries for one group"
            stored[group] = keys.read_u64(key[len(base) + 1:len(base) + 9])
            record = orjson.loads(txn.get(keys.group_state(queue.id, group)))
            assert record["r"] == stored[group]
            assert [seq for seq, _ in record["p"]] == [m.seq for m in groups[group] if m.receive_count]
        assert sum(1 for _ in txn.range(base + b"G", base + b"H")) == len(stored)
    return expected, stored


def test_group_records_match_a_full_scan_through_random_operations(queues: Queues, clock: ManualClock) -> None:
    dlq = make(queues, "dead.fifo")
    make(queues, VisibilityTimeout="5", MessageRetentionPeriod="60",
         RedrivePolicy=f'{{"deadLetterTargetArn": "{queues.arn(dlq)}", "maxReceiveCount": 3}}')
    rng = random.Random(7)
    held: list[receive.Received] = []
    sent: dict[str, list[str]] = {}
    for step in range(600):
        op = rng.random()
        if op < 0.3:
            group = f"g{rng.randrange(6)}"
            body = f"{group}-{step}"
            put(queues, body, group)
            sent.setdefault(group, []).append(body)
        elif op < 0.55:
            got = receive.receive(queues, "q.fifo", rng.randint(1, 10), visibility_s=rng.choice([None, 0, 2]))
            held.extend(got)
        elif op < 0.75 and held:
            chosen = rng.sample(held, min(len(held), rng.randint(1, 4)))
            results = visibility.delete_messages(queues, "q.fifo", [r.receipt for r in chosen])
            assert results == [None] * len(chosen)
            for r in chosen:
                held.remove(r)
        elif op < 0.85 and held:
            r = rng.choice(held)
            result = visibility.change_visibility(queues, "q.fifo", [(r.receipt, rng.choice([0, 1, 20]))])[0]
            assert result is None or isinstance(result, CellstoreError)
        else:
            clock.advance(rng.choice([1, 3, 6]))
        expected, stored = scanned(queues)
        assert stored == expected, f"step {step}"
    clock.advance(120)  # everything expires
    receive.receive(queues, "q.fifo", 10)
    assert scanned(queues) == ({}, {})


def test_received_messages_of_a_group_come_in_send_order(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="5")
    for n in range(30):
        put(queues, f"a{n}", "a")
        put(queues, f"b{n}", "b")
    seen: dict[str, list[str]] = {"a": [], "b": []}
    while True:
        got = receive.receive(queues, "q.fifo", 7)
        if not got:
            break
        other = receive.receive(queues, "q.fifo", 10)
        assert not {r.message.group for r in got} & {r.message.group for r in other}  # in flight: blocked
        for r in got + other:
            seen[r.message.group or ""].append(r.message.body)
        visibility.delete_messages(queues, "q.fifo", [r.receipt for r in got + other])
    assert seen == {"a": [f"a{n}" for n in range(30)], "b": [f"b{n}" for n in range(30)]}


def test_deleting_part_of_the_received_prefix_keeps_the_group_blocked(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="10")
    for body in ("1", "2", "3", "4"):
        put(queues, body)
    got = receive.receive(queues, "q.fifo", 3)
    visibility.delete_messages(queues, "q.fifo", [got[1].receipt])  # out of order
    assert receive.receive(queues, "q.fifo", 10) == []
    visibility.change_visibility(queues, "q.fifo", [(got[0].receipt, 0)])
    assert receive.receive(queues, "q.fifo", 10) == []  # "3" still in flight
    visibility.change_visibility(queues, "q.fifo", [(got[2].receipt, 30)])
    clock.advance(10)
    assert receive.receive(queues, "q.fifo", 10) == []  # "3" was extended to 30 s
    clock.advance(20)
    again = receive.receive(queues, "q.fifo", 10)
    assert bodies(again) == ["1", "3", "4"]
    assert [r.message.receive_count for r in again] == [2, 2, 1]


class Counting:
    """Counts the reads of every transaction of a store."""

    def __init__(self, queues: Queues) -> None:
        self.reads = 0
        self.rows = 0
        self._inner = queues.db.store.transaction
        queues.db.store.transaction = self.transaction  # type: ignore[method-assign]

    @contextmanager
    def transaction(self, *, write: bool) -> Iterator[Any]:
        with self._inner(write=write) as txn:
            yield _CountingTxn(txn, self)


class _CountingTxn:
    def __init__(self, txn: Any, counter: Counting) -> None:
        self._txn, self._counter = txn, counter

    def get(self, key: bytes) -> bytes | None:
        self._counter.reads += 1
        self._counter.rows += 1
        return self._txn.get(key)

    def range(self, *args: Any, **kwargs: Any) -> Iterator[tuple[bytes, bytes]]:
        self._counter.reads += 1
        for row in self._txn.range(*args, **kwargs):
            self._counter.rows += 1
            yield row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)


def test_receive_and_delete_read_the_same_whatever_the_group_size(queues: Queues, clock: ManualClock) -> None:
    make(queues, "small.fifo")
    make(queues, "large.fifo")
    for n in range(5):
        put(queues, f"s{n}", name="small.fifo")
    for n in range(2000):
        put(queues, f"l{n}", name="large.fifo")
    counter = Counting(queues)
    cost = {}
    for name in ("small.fifo", "large.fifo"):
        counter.reads = counter.rows = 0
        for _ in range(3):
            got = receive.receive(queues, name, 1)
            visibility.change_visibility(queues, name, [(got[0].receipt, 5)])
            visibility.delete_messages(queues, name, [got[0].receipt])
        cost[name] = (counter.reads, counter.rows)
    assert cost["small.fifo"] == cost["large.fifo"]
    assert cost["large.fifo"][1] < 60  # rows read for 3 × (receive, change visibility, delete)


def test_groups_stored_in_the_old_layout_are_migrated_and_keep_working(queues: Queues, clock: ManualClock) -> None:
    make(queues, VisibilityTimeout="10")
    for body in ("1", "2", "3"):
        put(queues, body)
    put(queues, "x", "other")
    first = receive.receive(queues, "q.fifo", 2)
    assert bodies(first) == ["1", "2"]
    with queues.db.store.transaction(write=True) as txn:  # back to the old layout
        queue = catalog.load(txn, "q.fifo")
        base = keys.data(queue.id)
        for key, _ in list(txn.range(base + b"g", base + b"h")):
            txn.put(key, b"")
        for key, raw in list(txn.range(base + b"G", base + b"H")):
            txn.put(key, keys.u64(orjson.loads(raw)["r"]))
        txn.put(keyspace.DATA_FORMAT, b"1")  # as a cellstore from before data migration 2 left it
    assert migrations.migrate(queues.db.store) == 1  # what opening the database does
    with queues.db.store.transaction(write=False) as txn:
        assert all(len(value) == 8 for _, value in txn.range(base + b"g", base + b"h"))
        assert all(raw[:1] == b"{" for _, raw in txn.range(base + b"G", base + b"H"))
    assert bodies(receive.receive(queues, "q.fifo", 10)) == ["x"]  # the group is still blocked
    visibility.delete_messages(queues, "q.fifo", [first[0].receipt])
    assert receive.receive(queues, "q.fifo", 10) == []
    visibility.delete_messages(queues, "q.fifo", [first[1].receipt])
    assert bodies(receive.receive(queues, "q.fifo", 10)) == ["3"]
    expected, stored = scanned(queues)
    assert stored == expected
