"""The SQS api door: one module per operation family, registered by name.

``dispatch`` is what the protocol layer calls for both SQS protocols (AWS
JSON 1.0 and the form-encoded query protocol, which ``protocol/query.py``
turns into the same JSON-shaped payload).  It takes the endpoint the client
used (``http://host:port``) because queue URLs in responses are built from
it, and it returns either the JSON-ready answer or — for a ReceiveMessage
that must wait — an ``engine.queues.wakeups.Wait`` whose ``retry`` the
caller invokes once woken.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cellstore.engine.database import Database
from cellstore.engine.queues import Queues, queues_for
from cellstore.api.registry import Registry
from cellstore.engine.queues.wakeups import Wait
from cellstore.errors import InvalidAction

Result = dict[str, Any] | Wait


@dataclass(frozen=True, slots=True)
class Context:
    """What every SQS handler gets: the queue engine and the endpoint the client called."""

    queues: Queues
    endpoint: str

    def queue_url(self, name: str) -> str:
        return f"{self.endpoint}/{self.queues.db.account}/{name}"


Handler = Callable[[Context, dict[str, Any]], Result]

REGISTRY: Registry[Handler] = Registry(lambda name: InvalidAction(f"The action {name} is not valid for this endpoint."))
OPERATIONS = REGISTRY.handlers
operation = REGISTRY.operation


def dispatch(db: Database, name: str, payload: dict[str, Any], endpoint: str) -> Result:
    return REGISTRY.handler(name)(Context(queues_for(db), endpoint), payload)


from cellstore.api.sqs import permissions, queues, receive, redrive, send, tags, visibility  # noqa: E402,F401
