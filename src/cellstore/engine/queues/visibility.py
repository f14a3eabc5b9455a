"""DeleteMessage and ChangeMessageVisibility, by receipt handle (single or batch).

A receipt handle names a message and one receive of it.  After the message
is received again the old handle is stale: deleting with it succeeds but
deletes nothing (SQS's documented behaviour), and changing visibility with
it is refused.  Each batch is one storage transaction; entries fail alone.
"""

from __future__ import annotations

from cellstore.engine.queues import Queues, catalog, store
from cellstore.engine.queues.model import Queue, Receipt
from cellstore.errors import CellstoreError, InvalidParameterValue, MessageNotInflight, ReceiptHandleIsInvalid
from cellstore.storage.base import Txn


def delete_messages(queues: Queues, name: str, handles: list[str]) -> list[CellstoreError | None]:
    now_ms = queues.now_ms()
    results: list[CellstoreError | None] = []
    unblocked = False
    with queues.db.store.transaction(write=True) as txn:
        queue = catalog.load(txn, name)
        for handle in handles:
            try:
                unblocked |= _delete(txn, queue, handle, now_ms)
                results.append(None)
            except CellstoreError as err:
                results.append(err)
    if unblocked:
        queues.wakeups.notify(queue.id)
    return results


def _receipt(queue: Queue, handle: str) -> Receipt:
    receipt = Receipt.decode(handle)
    if receipt.queue_id != queue.id:
        raise ReceiptHandleIsInvalid(f'The input receipt handle "{handle}" is not a valid receipt handle.')
    return receipt


def _delete(txn: Txn, queue: Queue, handle: str, now_ms: int) -> bool:
    receipt = _receipt(queue, handle)
    message = store.load(txn, queue, receipt.seq)
    if message is None or message.token != receipt.token:
        return False  # already deleted, or a stale receipt: success that deletes nothing
    store.remove(txn, queue, message, now_ms)
    return queue.fifo


def change_visibility(
    queues: Queues, name: str, changes: list[tuple[str, int]]
) -> list[CellstoreError | None]:
    now_ms = queues.now_ms()
    results: list[CellstoreError | None] = []
    wake = False
    with queues.db.store.transaction(write=True) as txn:
        queue = catalog.load(txn, name)
        for handle, timeout_s in changes:
            try:
                wake |= _change(txn, queue, handle, timeout_s, now_ms)
                results.append(None)
            except CellstoreError as err:
                results.append(err)
    if wake:
        queues.wakeups.notify(queue.id)
    return results


def _change(txn: Txn, queue: Queue, handle: str, timeout_s: int, now_ms: int) -> bool:
    receipt = _receipt(queue, handle)
    message = store.load(txn, queue, receipt.seq)
    if message is None or message.token != receipt.token:
        raise InvalidParameterValue(
            f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist "
            "or is not available for visibility timeout change."
        )
    if not message.in_flight(now_ms):
        raise MessageNotInflight()
    previous = message.visible_ms
    message.visible_ms = now_ms + timeout_s * 1000
    store.save(txn, queue, message, previous)
    return timeout_s == 0
