"""Message groups: a FIFO queue serves a group's messages strictly in order.

A group can be served when none of its messages is in flight and its first
message is visible.  Messages are received from the front of a group, so
the received ones are always a prefix of its order (at most one receive's
worth: a receive takes the prefix again before anything after it); the
group's *ready-at* is therefore:

* the latest visibility time among the received prefix, if there is one
  (the group is blocked until every one of them is deleted or visible again);
* otherwise its first message's visibility time (a queue delay).

Each group has one record under "G" — its ready-at and its received prefix
as ``[seq, visible-at]`` pairs — and one entry in the "v" index keyed by the
ready-at, so a FIFO receive is one range read of "v" up to now: the groups
that can be served, oldest first.  A group's "g" entries carry each
message's visible-at as sent, so the head of a group is known from one
``limit=1`` range read without loading the message.  Every receive, delete
and visibility change therefore reads the group record (and at most the
head entry) instead of the whole group, and rewrites the record in the
same write transaction as the message.

Records written before this layout (an 8-byte ready-at, empty "g" values)
were rewritten by data migration 2 (``engine/migrations.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from cellstore.engine.queues import keys
from cellstore.engine.queues.model import Message, Queue
from cellstore.storage.base import Txn


class Group:
    """One group's record, loaded for a change and written back by ``save``."""

    __slots__ = ("_raw", "name", "prefix", "ready")

    def __init__(self, name: str, ready: int | None, prefix: dict[int, int], raw: bytes | None) -> None:
        self.name = name
        self.ready = ready  # the ready-at its "v" entry is stored under (None: no entry)
        self.prefix = prefix  # received messages: seq -> visible-at, in group order
        self._raw = raw

    def received(self, message: Message) -> None:
        self.prefix[message.seq] = message.visible_ms
        if len(self.prefix) > 1 and message.seq < max(self.prefix):
            self.prefix = dict(sorted(self.prefix.items()))

    def removed(self, seq: int) -> None:
        self.prefix.pop(seq, None)


def load(txn: Txn, queue: Queue, name: str) -> Group:
    raw = txn.get(keys.group_state(queue.id, name))
    if raw is None:
        return Group(name, None, {}, None)
    record = orjson.loads(raw)
    return Group(name, record["r"], {seq: at for seq, at in record["p"]}, raw)


def save(txn: Txn, queue: Queue, group: Group) -> None:
    """Store ``group``'s record and move its "v" entry to its ready-at (or drop both if it is empty)."""
    if group.prefix:
        ready: int | None = max(group.prefix.values())
    else:
        head = next(upcoming(txn, queue, group.name, None, 1), None)
        ready = None if head is None else keys.read_u64(head[1])  # its visible-at as sent
    if ready != group.ready:
        if group.ready is not None:
            txn.delete(keys.ready(queue.id, group.ready, group.name))
        if ready is not None:
            txn.put(keys.ready(queue.id, ready, group.name), b"")
        group.ready = ready
    if ready is None:
        if group._raw is not None:
            txn.delete(keys.group_state(queue.id, group.name))
            group._raw = None
        return
    raw = orjson.dumps({"r": ready, "p": [[seq, at] for seq, at in group.prefix.items()]})
    if raw != group._raw:
        txn.put(keys.group_state(queue.id, group.name), raw)
        group._raw = raw


def appended(txn: Txn, queue: Queue, message: Message) -> None:
    """``message`` joined the back of its group; a group that was empty becomes ready at its visibility."""
    assert message.group is not None
    txn.put(keys.group_member(queue.id, message.group, message.seq), keys.u64(message.visible_ms))
    if txn.get(keys.group_state(queue.id, message.group)) is None:
        save(txn, queue, Group(message.group, None, {}, None))


def upcoming(txn: Txn, queue: Queue, name: str, after: int | None, page: int) -> Iterator[tuple[int, bytes]]:
    """The group's members after seq ``after`` (all if None), in order, as (seq, "g" value); read ``page`` at a time."""
    prefix = keys.group_prefix(queue.id, name)
    start = prefix if after is None else prefix + keys.u64(after + 1)
    end = prefix + b"\xff" * 9
    while True:
        batch = list(txn.range(start, end, limit=page))
        for key, value in batch:
            yield keys.read_u64(key[-8:]), value
        if len(batch) < page:
            return
        start = batch[-1][0][:-8] + keys.u64(keys.read_u64(batch[-1][0][-8:]) + 1)


def ready_groups(txn: Txn, queue: Queue, now_ms: int, limit: int) -> list[str]:
    start, end = keys.ready_range(queue.id, now_ms)
    skip = len(start) + 8
    return [key[skip:].decode("utf-8") for key, _ in txn.range(start, end, limit=limit)]
