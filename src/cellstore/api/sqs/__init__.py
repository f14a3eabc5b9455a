"""The SQS api door: one module per operation family, declared here in one list.

``dispatch`` is what the protocol layer calls for both SQS protocols (AWS
JSON 1.0 and the form-encoded query protocol, which ``protocol/query.py``
turns into the same JSON-shaped payload).  It takes the endpoint the client
used (``http://host:port``) because queue URLs in responses are built from
it, and it returns either the JSON-ready answer or — for a ReceiveMessage
that must wait — a ``cellstore.waiting.Wait`` whose ``retry`` the caller
invokes once woken.

``FAMILIES`` lists the modules whose ``@operation`` handlers make up the
service (see ``api/registry.py``).
"""

from __future__ import annotations

from typing import Any

from cellstore.api.registry import Registry
from cellstore.api.sqs import permissions, queues, receive, redrive, send, tags, visibility
from cellstore.api.sqs.context import Context as Context
from cellstore.api.sqs.context import Handler as Handler
from cellstore.api.sqs.context import Result as Result
from cellstore.engine.database import Database
from cellstore.engine.queues import queues_for
from cellstore.errors import InvalidAction

FAMILIES = (queues, permissions, send, receive, visibility, redrive, tags)

REGISTRY: Registry[Handler] = Registry.of_families(
    lambda name: InvalidAction(f"The action {name} is not valid for this endpoint."), FAMILIES
)
OPERATIONS = REGISTRY.handlers


def dispatch(db: Database, name: str, payload: dict[str, Any], endpoint: str) -> Result:
    return REGISTRY.handler(name)(Context(queues_for(db), endpoint), payload)
