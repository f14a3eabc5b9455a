"""ReceiveMessage: a short range read of what is visible now, then claim it.

Standard queues read the when-visible index "w" up to now; FIFO queues read
the ready-groups index "v" up to now and take each group's messages from
its front (``fifo.py``), reading only the group record and the messages
they take.  Claiming a message gives it a fresh receipt nonce
(older receipt handles go stale), bumps its receive count and moves its
"w" entry to now + visibility timeout — all in the one write transaction
that also removes expired messages and moves messages received too often
to the dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from cellstore.engine.queues import Queues, catalog, fifo, keys, redrive, store, visible
from cellstore.engine.queues.model import Message, Queue, Receipt, new_token
from cellstore.storage.base import Txn

ATTEMPT_WINDOW_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Received:
    message: Message
    receipt: str


def receive(
    queues: Queues,
    name: str,
    max_messages: int,
    visibility_s: int | None = None,
    attempt_id: str | None = None,
) -> list[Received]:
    now_ms = queues.now_ms()
    moved_to: set[int] = set()
    if attempt_id is None and not queues.db.store.grouping():
        # An empty poll takes no write lock; inside a group commit (the writer process) the lock is held
        # already and the peek would only read the queue record and the index twice.
        with queues.db.store.transaction(write=False) as txn:
            if not visible.anything_due(txn, catalog.load(txn, name), now_ms):
                return []
    with queues.db.store.transaction(write=True) as txn:
        queue = catalog.load(txn, name)
        timeout_ms = (queue.visibility_timeout_s if visibility_s is None else visibility_s) * 1000
        if attempt_id is not None and queue.fifo:
            again = _repeat_attempt(txn, queue, attempt_id, now_ms)
            if again:
                return again
        store.expire(txn, queue, now_ms)
        claim = _Claim(queues, txn, queue, now_ms, timeout_ms, moved_to)
        if queue.fifo:
            _receive_fifo(claim, max_messages)
        else:
            _receive_standard(claim, max_messages)
        if attempt_id is not None and queue.fifo and claim.received:
            _remember_attempt(txn, queue, attempt_id, now_ms, claim.received)
    for queue_id in moved_to:
        queues.wakeups.notify(queue_id)
    return claim.received


class _Claim:
    """One receive's state: where it is, what it has taken so far."""

    def __init__(self, queues: Queues, txn: Txn, queue: Queue, now_ms: int, timeout_ms: int, moved_to: set[int]) -> None:
        self.queues = queues
        self.txn = txn
        self.queue = queue
        self.now_ms = now_ms
        self.timeout_ms = timeout_ms
        self.redrive = queue.redrive
        self.moved_to = moved_to
        self.received: list[Received] = []

    def take(self, message: Message, group: fifo.Group | None = None) -> bool:
        """Claim ``message`` if it is still deliverable; False if it went elsewhere.

        ``group`` is the FIFO group record being served; the caller saves it.
        """
        if message.expires_ms <= self.now_ms:
            store.remove(self.txn, self.queue, message, self.now_ms, group)
            return False
        if self.redrive is not None and message.receive_count >= self.redrive[1]:
            target = redrive.dead_letter(self.txn, self.queues, self.queue, message, self.now_ms, group)
            if target is not None:
                self.moved_to.add(target)
                return False
        previous = message.visible_ms
        message.receive_count += 1
        if message.first_receive_ms is None:
            message.first_receive_ms = self.now_ms
        message.token = new_token()
        message.visible_ms = self.now_ms + self.timeout_ms
        store.save(self.txn, self.queue, message, previous, group)
        receipt = Receipt(self.queue.id, message.seq, message.token).encode()
        self.received.append(Received(message, receipt))
        return True


def _receive_standard(claim: _Claim, wanted: int) -> None:
    queue, txn = claim.queue, claim.txn
    start, end = keys.visible_range(queue.id, claim.now_ms)
    limit = wanted * 2
    while len(claim.received) < wanted:
        batch = [key for key, _ in txn.range(start, end, limit=limit)]
        for key in batch:
            message = store.load(txn, queue, keys.read_u64(key[-8:]))
            if message is None or message.visible_ms > claim.now_ms:
                txn.delete(key)  # an index entry its message no longer agrees with
                continue
            claim.take(message)
            if len(claim.received) == wanted:
                return
        if len(batch) < limit:
            return


def _receive_fifo(claim: _Claim, wanted: int) -> None:
    """As many messages of one group as possible, then the next group, oldest first."""
    queue, txn = claim.queue, claim.txn
    tried: set[str] = set()
    while len(claim.received) < wanted:
        groups = [g for g in fifo.ready_groups(txn, queue, claim.now_ms, wanted + len(tried)) if g not in tried]
        if not groups:
            return
        for name in groups:
            tried.add(name)
            group = fifo.load(txn, queue, name)
            _take_from_group(claim, group, wanted)
            fifo.save(txn, queue, group)
            if len(claim.received) == wanted:
                return


def _take_from_group(claim: _Claim, group: fifo.Group, wanted: int) -> None:
    """From the group's front: its received prefix (visible again) first, then the messages after it."""
    txn, queue, now_ms = claim.txn, claim.queue, claim.now_ms
    after = max(group.prefix) if group.prefix else None  # the prefix is the front: nothing before it
    for seq in list(group.prefix):
        if len(claim.received) == wanted:
            return
        message = store.load(txn, queue, seq)
        if message is None:
            group.removed(seq)
            continue
        if message.visible_ms > now_ms:
            return  # still in flight: the group is blocked after all
        claim.take(message, group)
    for seq, value in fifo.upcoming(txn, queue, group.name, after, max(wanted - len(claim.received), 1)):
        if len(claim.received) == wanted:
            return
        if keys.read_u64(value) > now_ms:
            return  # delayed: order forbids skipping it
        message = store.load(txn, queue, seq)
        if message is None:
            continue
        if message.visible_ms > now_ms:
            return  # in flight or delayed: order forbids skipping it
        claim.take(message, group)


def _repeat_attempt(txn: Txn, queue: Queue, attempt_id: str, now_ms: int) -> list[Received]:
    raw = txn.get(keys.attempt(queue.id, attempt_id))
    if raw is None:
        return []
    record = orjson.loads(raw)
    if record["expires_ms"] <= now_ms:
        txn.delete(keys.attempt(queue.id, attempt_id))
        return []
    again = []
    for seq, token in record["claims"]:
        message = store.load(txn, queue, seq)
        if message is not None and message.token == token and message.in_flight(now_ms):
            again.append(Received(message, Receipt(queue.id, seq, token).encode()))
    return again


def _remember_attempt(txn: Txn, queue: Queue, attempt_id: str, now_ms: int, received: list[Received]) -> None:
    record = {
        "expires_ms": now_ms + ATTEMPT_WINDOW_MS,
        "claims": [[r.message.seq, r.message.token] for r in received],
    }
    txn.put(keys.attempt(queue.id, attempt_id), orjson.dumps(record))
