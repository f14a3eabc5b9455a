"""The queue keyspace: everything SQS stores lives under the 0x03 prefix (``engine/keyspace.py``).

    0x03 0x00                                   last queue id issued (decimal text)
    0x03 0x01 <name>                            queue record (JSON)
    0x03 0x02 <qid:8> "c"                       last message sequence number (decimal text)
    0x03 0x02 <qid:8> "m" <seq:8>               message record (JSON)
    0x03 0x02 <qid:8> "w" <visible-at:8> <seq:8>  when-visible index, every message;
                                                value b"d" never received, b"f" received
    0x03 0x02 <qid:8> "r" <expires-at:8> <seq:8>  retention index
    0x03 0x02 <qid:8> "g" <group> 0x00 <seq:8>  FIFO: a group's messages in order; value: visible-at as sent
    0x03 0x02 <qid:8> "G" <group>               FIFO: the group record (JSON: ready-at, received prefix)
    0x03 0x02 <qid:8> "v" <ready-at:8> <group>  FIFO: groups by when they can be served
    0x03 0x02 <qid:8> "d" <dedup key>           deduplication record (JSON)
    0x03 0x02 <qid:8> "e" <expires-at:8> <dedup key>  deduplication expiry index
    0x03 0x02 <qid:8> "a" <attempt id>          FIFO ReceiveRequestAttemptId record (JSON)
    0x03 0x03 <task handle>                     message move task (JSON)

Times are epoch milliseconds, big-endian, so byte order is time order: a
standard queue's receive is one range read of "w" up to now, a FIFO queue's
one range read of "v" up to now.  Queue ids are never reused, so deleting a
queue and creating it again starts from an empty "m"/"w"/... range.
Group ids and deduplication ids are printable ASCII (SQS allows 33–126), so
0x00 terminates a group id unambiguously.
"""

from __future__ import annotations

from cellstore.engine.keyspace import MOVE_TASKS as MOVE_TASKS
from cellstore.engine.keyspace import QUEUE_DATA as QUEUE_DATA
from cellstore.engine.keyspace import QUEUE_RECORDS as QUEUE_RECORDS
from cellstore.engine.keyspace import QUEUE_SEQ as QUEUE_SEQ
from cellstore.engine.keyspace import QUEUES as QUEUES
from cellstore.storage.base import prefix_end

QUEUE_RECORDS_END = prefix_end(QUEUE_RECORDS)
MOVE_TASKS_END = prefix_end(MOVE_TASKS)


def u64(value: int) -> bytes:
    return max(value, 0).to_bytes(8, "big")


def read_u64(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def queue_record(name: str) -> bytes:
    return QUEUE_RECORDS + name.encode("utf-8")


def data(qid: int) -> bytes:
    return QUEUE_DATA + u64(qid)


def counter(qid: int) -> bytes:
    return data(qid) + b"c"


def message(qid: int, seq: int) -> bytes:
    return data(qid) + b"m" + u64(seq)


def messages(qid: int) -> tuple[bytes, bytes]:
    start = data(qid) + b"m"
    return start, prefix_end(start)


def visible(qid: int, at_ms: int, seq: int) -> bytes:
    return data(qid) + b"w" + u64(at_ms) + u64(seq)


def visible_range(qid: int, until_ms: int | None = None) -> tuple[bytes, bytes]:
    """The when-visible index up to and including ``until_ms`` (all of it if None)."""
    start = data(qid) + b"w"
    end = prefix_end(start) if until_ms is None else start + u64(until_ms + 1)
    return start, end


def retention(qid: int, expires_ms: int, seq: int) -> bytes:
    return data(qid) + b"r" + u64(expires_ms) + u64(seq)


def retention_range(qid: int, until_ms: int) -> tuple[bytes, bytes]:
    start = data(qid) + b"r"
    return start, start + u64(until_ms + 1)


def group_prefix(qid: int, group: str) -> bytes:
    return data(qid) + b"g" + group.encode("utf-8") + b"\x00"


def group_member(qid: int, group: str, seq: int) -> bytes:
    return group_prefix(qid, group) + u64(seq)


def group_state(qid: int, group: str) -> bytes:
    return data(qid) + b"G" + group.encode("utf-8")


def ready(qid: int, at_ms: int, group: str) -> bytes:
    return data(qid) + b"v" + u64(at_ms) + group.encode("utf-8")


def ready_range(qid: int, until_ms: int) -> tuple[bytes, bytes]:
    start = data(qid) + b"v"
    return start, start + u64(until_ms + 1)


def dedup(qid: int, key: str) -> bytes:
    return data(qid) + b"d" + key.encode("utf-8")


def dedup_expiry(qid: int, expires_ms: int, key: str) -> bytes:
    return data(qid) + b"e" + u64(expires_ms) + key.encode("utf-8")


def dedup_expiry_range(qid: int, until_ms: int) -> tuple[bytes, bytes]:
    start = data(qid) + b"e"
    return start, start + u64(until_ms + 1)


def attempt(qid: int, attempt_id: str) -> bytes:
    return data(qid) + b"a" + attempt_id.encode("utf-8")


def move_task(handle: str) -> bytes:
    return MOVE_TASKS + handle.encode("utf-8")
