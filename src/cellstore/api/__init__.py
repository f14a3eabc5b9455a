"""The api door: one module per operation family, each registering its actions.

``dispatch`` is all the protocol layer (and the in-process botocore hook) calls:
an operation name and the decoded JSON payload in, a JSON-ready dict out, or a
``CellstoreError`` raised.  AWS's PascalCase parameter names stop here; the
engine below receives typed requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cellstore.api.registry import Registry
from cellstore.engine.database import Database
from cellstore.errors import UnknownOperationException

Handler = Callable[[Database, dict[str, Any]], dict[str, Any]]

REGISTRY: Registry[Handler] = Registry(lambda name: UnknownOperationException())
OPERATIONS = REGISTRY.handlers
operation = REGISTRY.operation


def dispatch(db: Database, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return REGISTRY.handler(name)(db, payload)


# Importing the families registers their operations.
from cellstore.api import batch, items, reads, tables, tags, transactions  # noqa: E402,F401
from cellstore.api import ttl  # noqa: E402,F401
