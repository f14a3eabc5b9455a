"""Handlers: Python functions fed from DynamoDB streams and SQS queues, as Lambda's event-source mappings.

    from cellstore import handlers

    def on_orders(event, context):
        for record in event["Records"]:
            ...

    handlers.register(db, db.table_arn("orders"), on_orders, BatchSize=50,
                      StartingPosition="TRIM_HORIZON")

A mapping runs on background threads of its ``Database`` (stopped by
``close``) and consumes its source only through the engine's own
operations — the Streams operations, the queue's receive/delete — never
storage.  Its checkpoint, lease and metrics live in the keyspace (prefix
0x08, ``state.py``), so delivery resumes after a restart and only one
``serve --workers`` process runs a given mapping.  docs/HANDLERS.md has the
settings, event shapes and guarantees.

Modules: ``settings`` (Lambda's parameters, checked), ``filters`` (filter
patterns), ``invoke`` (calling the function, partial batch responses),
``runner`` (the shared loop: lease, retries, metrics), ``streams`` and
``sqs`` (the two sources), ``destinations`` (on-failure), ``state`` (the
keyspace records), ``registry`` (``Handlers``), ``config`` (TOML files).
"""

from __future__ import annotations

from typing import Any

from cellstore.engine.database import Database
from cellstore.handlers.invoke import Context, Function
from cellstore.handlers.registry import Handlers, handlers_for, stored_status
from cellstore.handlers.runner import SETTINGS, Mapping, Metrics
from cellstore.handlers.settings import HandlerConfigError


def register(db: Database, source_arn: str, function: Function, **settings: Any) -> Mapping:
    """Deliver ``source_arn``'s records (stream, table or queue ARN) to ``function`` from now on."""
    return handlers_for(db).register(source_arn, function, **settings)


__all__ = [
    "SETTINGS",
    "Context",
    "HandlerConfigError",
    "Handlers",
    "Mapping",
    "Metrics",
    "handlers_for",
    "register",
    "stored_status",
]
