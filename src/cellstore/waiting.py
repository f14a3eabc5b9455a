"""The one type that crosses every layer: ``Wait``, an answer that is not ready yet.

A long-polling SQS ReceiveMessage that finds nothing answers with a ``Wait``
instead of a reply.  The engine makes it (``engine/queues/receive.py``), the
api passes it through, and the protocol (or the in-process client) waits it
out and retries.  It lives here, beside ``errors``, so no layer has to
import another layer's internals to name it; ``Hub`` is what a ``Wait``
needs of the engine's wake-up hub (``engine/queues/wakeups.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Hub(Protocol):
    """Per-queue generations that move on every notify, with thread and callback waiters."""

    def generation(self, queue_id: int) -> int: ...

    def block(self, queue_id: int, generation: int, deadline: float) -> None: ...

    def subscribe(self, queue_id: int, callback: Callable[[], None]) -> int: ...

    def unsubscribe(self, queue_id: int, token: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Wait:
    """An answer that is not ready yet: a long-polling receive that found nothing.

    Whoever holds it waits — ``block()`` in a thread, or ``subscribe`` on an
    event loop — until the queue's generation moves or ``deadline``
    (``time.monotonic``) passes, then calls ``retry()``, which returns the
    answer or another ``Wait``.  A retry at or after the deadline always
    returns the answer.
    """

    wakeups: Hub
    queue_id: int
    generation: int
    deadline: float
    retry: Callable[[], Any]
    #: A stopping server may end the wait as if it found nothing (a long poll).  False for a write
    #: handed to the writer process (``protocol/writer.py``): only the writer's answer says what happened.
    ends_on_stop: bool = True

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def stale(self) -> bool:
        """True when a notify already happened since the attempt: retry at once."""
        return self.wakeups.generation(self.queue_id) != self.generation

    def block(self) -> None:
        self.wakeups.block(self.queue_id, self.generation, self.deadline)
