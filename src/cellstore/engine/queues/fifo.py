"""Message groups: a FIFO queue serves a group's messages strictly in order.

A group can be served when none of its messages is in flight and its first
message is visible.  Messages are received from the front of a group, so
the in-flight ones are always a prefix of its order; the group's *ready-at*
is therefore:

* the latest visibility time among the received prefix, if there is one
  (the group is blocked until every one of them is deleted or visible again);
* otherwise its first message's visibility time (a queue delay).

Each group has its ready-at under "G" and one entry in the "v" index keyed
by it, so a FIFO receive is one range read of "v" up to now: the groups
that can be served, oldest first.  ``refresh`` recomputes a group's entry
after anything at its front changed.
"""

from __future__ import annotations

from collections.abc import Callable

from cellstore.engine.queues import keys
from cellstore.engine.queues.model import Message, Queue
from cellstore.storage.base import Txn

Loader = Callable[[int], "Message | None"]


def appended(txn: Txn, queue: Queue, group: str, visible_ms: int) -> None:
    """A message joined ``group``; a group that was empty becomes ready at its visibility."""
    if txn.get(keys.group_state(queue.id, group)) is None:
        _set(txn, queue, group, None, visible_ms)


def refresh(txn: Txn, queue: Queue, group: str, load: Loader) -> None:
    raw = txn.get(keys.group_state(queue.id, group))
    old = None if raw is None else keys.read_u64(raw)
    _set(txn, queue, group, old, ready_at(txn, queue, group, load))


def ready_at(txn: Txn, queue: Queue, group: str, load: Loader) -> int | None:
    prefix = keys.group_prefix(queue.id, group)
    received_until: int | None = None
    for key, _ in txn.range(prefix, prefix + b"\xff" * 9):
        message = load(keys.read_u64(key[-8:]))
        if message is None:
            continue
        if message.receive_count:
            received_until = max(received_until or 0, message.visible_ms)
            continue
        return message.visible_ms if received_until is None else received_until
    return received_until


def members(txn: Txn, queue: Queue, group: str) -> list[int]:
    prefix = keys.group_prefix(queue.id, group)
    return [keys.read_u64(key[-8:]) for key, _ in txn.range(prefix, prefix + b"\xff" * 9)]


def ready_groups(txn: Txn, queue: Queue, now_ms: int, limit: int) -> list[str]:
    start, end = keys.ready_range(queue.id, now_ms)
    skip = len(start) + 8
    return [key[skip:].decode("utf-8") for key, _ in txn.range(start, end, limit=limit)]


def _set(txn: Txn, queue: Queue, group: str, old: int | None, new: int | None) -> None:
    if old == new:
        return
    if old is not None:
        txn.delete(keys.ready(queue.id, old, group))
    if new is None:
        txn.delete(keys.group_state(queue.id, group))
        return
    txn.put(keys.ready(queue.id, new, group), b"")
    txn.put(keys.group_state(queue.id, group), keys.u64(new))
