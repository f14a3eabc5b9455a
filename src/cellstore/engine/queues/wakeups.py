"""Waking long-polling receivers the moment a message can be received.

One ``Wakeups`` per database per process.  Each queue has a *generation*
that ``notify`` bumps after any commit that may have made a message
receivable (a send, a visibility change to 0, a FIFO group unblocked).  A
receiver that found nothing records the generation it saw *before* its
attempt, and waits until the generation moves or its deadline passes — so a
send that lands between the empty attempt and the wait is never missed.

Two kinds of waiter share the hub:

* threads (in-process mode) block on a ``threading.Condition``;
* the server's event loop subscribes a callback that resolves an asyncio
  future via ``call_soon_threadsafe`` (see ``protocol/app.py``).

Things a notify cannot see — a send by another ``serve --workers`` process,
an in-flight message whose visibility timeout ran out, a delay that ended —
are caught by one poller thread per hub.  It runs only while someone waits,
and every ``POLL_INTERVAL`` seconds peeks each waited-on queue (one short
range read: is anything visible now?) and notifies the ones that answer yes.
Same-process sends therefore wake receivers at once; everything else within
``POLL_INTERVAL`` plus a receive.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from cellstore.waiting import Wait as Wait

log = logging.getLogger("cellstore.queues")

POLL_INTERVAL = 0.05

Callback = Callable[[], None]


class Wakeups:
    def __init__(self, peek: Callable[[int], bool]) -> None:
        self._peek = peek
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._generations: dict[int, int] = {}
        self._waiting: dict[int, int] = {}  # queue id -> number of waiters
        self._callbacks: dict[int, dict[int, Callback]] = {}
        self._ids = itertools.count()
        self._poller: threading.Thread | None = None

    def generation(self, queue_id: int) -> int:
        with self._lock:
            return self._generations.get(queue_id, 0)

    def notify(self, queue_id: int) -> None:
        with self._lock:
            self._generations[queue_id] = self._generations.get(queue_id, 0) + 1
            callbacks = list(self._callbacks.get(queue_id, {}).values())
            self._changed.notify_all()
        for callback in callbacks:
            callback()

    # --- threads -------------------------------------------------------

    def block(self, queue_id: int, generation: int, deadline: float) -> None:
        """Return when ``queue_id``'s generation is no longer ``generation``, or at ``deadline``."""
        with self._lock:
            self._enter(queue_id)
            try:
                while self._generations.get(queue_id, 0) == generation:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return
                    self._changed.wait(remaining)
            finally:
                self._leave(queue_id)

    # --- event loops ---------------------------------------------------

    def subscribe(self, queue_id: int, callback: Callback) -> int:
        """Call ``callback`` (from any thread) on every notify of ``queue_id`` until unsubscribed."""
        with self._lock:
            token = next(self._ids)
            self._callbacks.setdefault(queue_id, {})[token] = callback
            self._enter(queue_id)
            return token

    def unsubscribe(self, queue_id: int, token: int) -> None:
        with self._lock:
            callbacks = self._callbacks.get(queue_id, {})
            if callbacks.pop(token, None) is not None:
                if not callbacks:
                    del self._callbacks[queue_id]
                self._leave(queue_id)

    # --- the poller ----------------------------------------------------

    def _enter(self, queue_id: int) -> None:
        self._waiting[queue_id] = self._waiting.get(queue_id, 0) + 1
        if self._poller is None:
            self._poller = threading.Thread(target=self._poll, name="cellstore-queue-poller", daemon=True)
            self._poller.start()

    def _leave(self, queue_id: int) -> None:
        left = self._waiting[queue_id] - 1
        if left:
            self._waiting[queue_id] = left
        else:
            del self._waiting[queue_id]

    def _poll(self) -> None:
        while True:
            time.sleep(POLL_INTERVAL)
            with self._lock:
                queue_ids = list(self._waiting)
                if not queue_ids:
                    self._poller = None
                    return
            for queue_id in queue_ids:
                try:
                    ready = self._peek(queue_id)
                except Exception:  # a closed store at shutdown, a deleted queue
                    log.debug("queue peek failed", exc_info=True)
                    ready = False
                if ready:
                    self.notify(queue_id)
