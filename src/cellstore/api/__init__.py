"""The api door: one module per operation family, each registering its actions.

``dispatch`` is all the protocol layer (and the in-process botocore hook) calls:
an operation name and the decoded JSON payload in, a JSON-ready dict out, or a
``CellstoreError`` raised.  AWS's PascalCase parameter names stop here; the
engine below receives typed requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellstore.engine.database import Database
from cellstore.errors import UnknownOperationException

Handler = Callable[[Database, dict[str, Any]], dict[str, Any]]

OPERATIONS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register ``name`` (e.g. ``"PutItem"``) so the protocol layer can route to it."""

    def register(handler: Handler) -> Handler:
        OPERATIONS[name] = handler
        return handler

    return register


def dispatch(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    handler = OPERATIONS.get(name)
    if handler is None:
        raise UnknownOperationException()
    return handler(db, payload)


# Importing the families registers their operations.
from cellstore.api import batch, items, reads, tables, tags, transactions  # noqa: E402,F401
from cellstore.api import ttl  # noqa: E402,F401
