"""What every SQS handler gets and may return: ``Context`` in, ``Result`` out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cellstore.engine.queues import Queues
from cellstore.waiting import Wait

Result = dict[str, Any] | Wait


@dataclass(frozen=True, slots=True)
class Context:
    """What every SQS handler gets: the queue engine and the endpoint the client called."""

    queues: Queues
    endpoint: str

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint}/{self.queues.db.account}/{name}"


Handler = Callable[[Context, dict[str, Any]], Result]
