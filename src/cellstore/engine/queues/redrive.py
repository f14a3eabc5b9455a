"""Dead-letter queues: moving a message there, and moving messages back.

A message received more than maxReceiveCount times is moved, on the receive
that would exceed the count, into the queue its RedrivePolicy names; it
keeps its id, body, attributes and SentTimestamp and records where it came
from (DeadLetterQueueSourceArn).

Message move tasks (StartMessageMoveTask) run to completion inside the
call, in transactions of ``MOVE_CHUNK`` messages: cellstore has no
background workers, and a task that is already finished cannot be
cancelled (CancelMessageMoveTask answers ResourceNotFoundException).
"""

from __future__ import annotations

import base64
import os
import uuid
from dataclasses import asdict, dataclass

import orjson

from cellstore.engine.queues import Queues, catalog, fifo, keys, store
from cellstore.engine.queues.model import Message, Queue
from cellstore.engine.queues.send import SEQUENCE_BASE
from cellstore.errors import InvalidParameterValue, SqsResourceNotFound
from cellstore.storage.base import Txn

MOVE_CHUNK = 500


def dead_letter(
    txn: Txn, queues: Queues, source: Queue, message: Message, now_ms: int, group: fifo.Group | None = None
) -> int | None:
    """Move ``message`` to ``source``'s dead-letter queue; its id, or None if that queue is gone.

    ``group`` is the FIFO group record a receive holds (it saves it afterwards).
    """
    policy = source.redrive
    if policy is None:
        return None
    target = catalog.find(txn, catalog.name_of_arn(policy[0]))
    if target is None:
        return None
    store.remove(txn, source, message, now_ms, group)
    transfer(txn, target, message, now_ms, source_arn=queues.arn(source.name))
    return target.id


def transfer(txn: Txn, target: Queue, message: Message, now_ms: int, *, source_arn: str | None) -> None:
    """Insert a copy of ``message`` into ``target`` as a fresh, visible message."""
    moved = Message(**asdict(message))
    moved.seq = store.next_seq(txn, target)
    moved.receive_count = 0
    moved.first_receive_ms = None
    moved.token = None
    moved.visible_ms = now_ms
    moved.source_arn = source_arn
    start = message.sent_ms if not target.fifo else now_ms
    moved.expires_ms = start + target.retention_s * 1000
    if target.fifo:
        moved.sequence_number = str(SEQUENCE_BASE + moved.seq)
    store.insert(txn, target, moved)


@dataclass(slots=True)
class MoveTask:
    handle: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    started_ms: int
    status: str = "COMPLETED"
    moved: int = 0
    to_move: int = 0
    failure: str | None = None


def start_move(queues: Queues, source_arn: str, destination_arn: str | None, rate: int | None) -> MoveTask:
    now_ms = queues.now_ms()
    with queues.db.store.transaction(write=False) as txn:
        source = catalog.by_arn(txn, queues, source_arn)
        if not any(
            (q := catalog.find(txn, name)) is not None and q.redrive is not None and q.redrive[0] == source_arn
            for name in _all_names(txn)
        ):
            raise InvalidParameterValue("Source queue must be configured as a Dead Letter Queue.")
        if destination_arn is not None:
            destination = catalog.find(txn, catalog.name_of_arn(destination_arn))
            if destination is None or queues.arn(destination.name) != destination_arn:
                raise SqsResourceNotFound("The resource that you specified for the DestinationArn parameter doesn't exist.")
        visible, _, _ = store.counts(txn, source, now_ms)
    task = MoveTask(_new_handle(source_arn), source_arn, destination_arn, rate, now_ms, to_move=visible)
    touched: set[int] = set()
    while True:
        with queues.db.store.transaction(write=True) as txn:
            source = catalog.load(txn, source.name)
            start, end = keys.visible_range(source.id, now_ms)
            seqs = [keys.read_u64(k[-8:]) for k, _ in txn.range(start, end, limit=MOVE_CHUNK)]
            moved_here = 0
            for seq in seqs:
                message = store.load(txn, source, seq)
                if message is None or message.in_flight(now_ms):
                    continue
                target_arn = destination_arn or message.source_arn
                target = None if target_arn is None else catalog.find(txn, catalog.name_of_arn(target_arn))
                if target is None:
                    task.failure = "The destination queue of a message does not exist."
                    continue
                store.remove(txn, source, message, now_ms)
                transfer(txn, target, message, now_ms, source_arn=None)
                touched.add(target.id)
                moved_here += 1
            task.moved += moved_here
        if moved_here == 0 or len(seqs) < MOVE_CHUNK:
            break
    task.status = "FAILED" if task.failure and task.moved < task.to_move else "COMPLETED"
    with queues.db.store.transaction(write=True) as txn:
        txn.put(keys.move_task(task.handle), orjson.dumps(task))
    for queue_id in touched:
        queues.wakeups.notify(queue_id)
    return task


def list_moves(queues: Queues, source_arn: str, limit: int) -> list[MoveTask]:
    with queues.db.store.transaction(write=False) as txn:
        catalog.by_arn(txn, queues, source_arn)
        tasks = [MoveTask(**orjson.loads(raw)) for _, raw in txn.range(keys.MOVE_TASKS, keys.MOVE_TASKS_END)]
    mine = sorted((t for t in tasks if t.source_arn == source_arn), key=lambda t: t.started_ms, reverse=True)
    return mine[:limit]


def cancel_move(queues: Queues, handle: str) -> MoveTask:
    with queues.db.store.transaction(write=False) as txn:
        raw = txn.get(keys.move_task(handle))
    if raw is None or MoveTask(**orjson.loads(raw)).status != "RUNNING":
        raise SqsResourceNotFound("Task does not exist.")
    return MoveTask(**orjson.loads(raw))  # pragma: no cover - tasks never stay running


def task_source(queues: Queues, handle: str) -> str | None:
    """The source queue ARN of the stored move task ``handle``, if there is one.

    Authorization reads it before CancelMessageMoveTask runs, so a principal
    is checked against the queue the task really moves from.
    """
    with queues.db.store.transaction(write=False) as txn:
        raw = txn.get(keys.move_task(handle))
    source = orjson.loads(raw).get("source_arn") if raw is not None else None
    return source if isinstance(source, str) else None


def possible_destinations(queues: Queues, source_arn: str) -> set[str]:
    """Every queue a move task without DestinationArn may write to.

    Each message goes back to the queue it was dead-lettered from (its
    DeadLetterQueueSourceArn), so those are read from the messages themselves,
    together with the queues whose RedrivePolicy names the source now.  Empty
    when the source does not exist (the handler then answers that).
    """
    found: set[str] = set()
    with queues.db.store.transaction(write=False) as txn:
        source = catalog.find(txn, catalog.name_of_arn(source_arn))
        if source is None or queues.arn(source.name) != source_arn:
            return found
        for _, raw in txn.range(keys.QUEUE_RECORDS, keys.QUEUE_RECORDS_END):
            queue = Queue.from_json(raw)
            if queue.redrive is not None and queue.redrive[0] == source_arn:
                found.add(queues.arn(queue.name))
        start, end = keys.messages(source.id)
        for _, raw in txn.range(start, end):
            origin = Message.from_json(raw).source_arn
            if origin is not None:
                found.add(origin)
    return found


def _new_handle(source_arn: str) -> str:
    raw = orjson.dumps({"taskId": str(uuid.uuid4()), "sourceArn": source_arn, "n": os.urandom(4).hex()})
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _all_names(txn: Txn) -> list[str]:
    return [k[len(keys.QUEUE_RECORDS):].decode("utf-8") for k, _ in txn.range(keys.QUEUE_RECORDS, keys.QUEUE_RECORDS_END)]
