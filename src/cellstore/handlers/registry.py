"""The ``Handlers`` of one database: registering mappings, finding them, their status.

``handlers_for(db)`` returns the one ``Handlers`` per ``Database`` in this
process (like ``queues_for``); the embedded instances expose it as
``.handlers``.  A source is named as Lambda names it — a stream ARN, or an
SQS queue ARN — or by a table ARN, which means "the table's latest stream"
(and survives the stream being disabled and enabled again).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from cellstore.engine.database import Database
from cellstore.handlers import invoke, state
from cellstore.handlers.runner import Mapping
from cellstore.handlers.settings import QUEUE, STREAM, HandlerConfigError, parse
from cellstore.handlers.sqs import QueueMapping
from cellstore.handlers.streams import StreamMapping


class Handlers:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._mappings: dict[str, Mapping] = {}
        self._lock = threading.Lock()

    def register(self, source_arn: str, function: invoke.Function, **settings: Any) -> Mapping:
        """Start delivering ``source_arn``'s records to ``function``; settings are Lambda's (docs/HANDLERS.md)."""
        kind = source_kind(self.db, source_arn)
        parsed = parse(kind, settings)
        path = function_path(function)
        name = parsed.name or f"{source_arn.rsplit(':', 1)[-1].rsplit('/', 1)[-1]}--{path}"
        mapping_class = StreamMapping if kind == STREAM else QueueMapping
        mapping = mapping_class(self.db, name, source_arn, function, parsed, path)
        with self._lock:
            if name in self._mappings:
                raise HandlerConfigError(f"a mapping named {name!r} is already registered")
            self._mappings[name] = mapping
        mapping.start()
        return mapping

    def __getitem__(self, name: str) -> Mapping:
        return self._mappings[name]

    def __iter__(self) -> Iterator[Mapping]:
        return iter(list(self._mappings.values()))

    def __len__(self) -> int:
        return len(self._mappings)

    def stop(self, name: str) -> None:
        self._mappings[name].stop()

    def status(self) -> list[dict[str, Any]]:
        """This process's mappings, with live metrics."""
        return [mapping.status() for mapping in self]


def source_kind(db: Database, arn: str) -> str:
    """STREAM or QUEUE for an ARN of this database's region and account; else ``HandlerConfigError``."""
    sqs_prefix = f"arn:aws:sqs:{db.region}:{db.account}:"
    if arn.startswith(sqs_prefix) and len(arn) > len(sqs_prefix):
        return QUEUE
    table_prefix = db.table_arn("")
    if arn.startswith(table_prefix) and len(arn) > len(table_prefix):
        rest = arn[len(table_prefix):]
        if "/" not in rest or rest.count("/stream/") == 1:
            return STREAM
    raise HandlerConfigError(
        f"{arn!r} is not a DynamoDB table or stream ARN, nor an SQS queue ARN, of {db.region}/{db.account}"
    )


def function_path(function: invoke.Function) -> str:
    module = getattr(function, "__module__", None) or "?"
    qualname = getattr(function, "__qualname__", None) or type(function).__qualname__
    return f"{module}:{qualname}"


_registries: weakref.WeakKeyDictionary[Database, Handlers] = weakref.WeakKeyDictionary()
_registries_lock = threading.Lock()


def handlers_for(db: Database) -> Handlers:
    with _registries_lock:
        found = _registries.get(db)
        if found is None:
            found = _registries[db] = Handlers(db)
        return found


def stored_status(db: Database) -> list[dict[str, Any]]:
    """Every mapping ever run on ``db``'s data (any process), from the keyspace."""
    return state.status(db)
